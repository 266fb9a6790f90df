//! Writing a batch: one transaction that resolves device ids, inserts locations (skipping fixes
//! the device already has), moves each device's last position forward only when a newer fix
//! arrives (late points never replace it), and keeps every other message raw. On a SQLite file a
//! batch of locations only goes to `lean` (the store's own rusqlite connection) instead of the
//! pool; both write the same rows.

mod bulk;
mod compact;
mod lean;

pub use compact::{AGE_SECONDS, CHUNK, Compacted, SETTLE_SECONDS};
pub(crate) use lean::LeanWrites;

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use pista_core::{Detail, DeviceKey, Location, Message, Replay, Transition};
use sea_orm::sea_query::{Expr, ExprTrait, InsertStatement, Query, UpdateStatement};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde_json::Value;

use crate::apply;
use crate::copies::{digest, is_copy};
use crate::error::StoreError;
use crate::records::{NewBody, NewMessage, WriteOutcome};
use crate::sql::SqlStore;

/// Coordinates are compared at 1e-7 degrees (about 1 cm) to decide whether a fix is a duplicate.
pub(crate) fn e7(degrees: f64) -> i64 {
    (degrees * 1e7).round() as i64
}

impl SqlStore {
    pub(crate) async fn write_batch(
        &self,
        batch: &[NewMessage],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        // A closed store fails on the pool's path, as on every backend.
        if let Some(lean) = &self.lean_writes
            && !lean.is_closed()
            && lean::is_lean(batch)
        {
            return self.write_lean(lean, batch).await;
        }
        let txn = self.begin_write().await?;
        let mut ids = self.device_ids.lock().await;
        // A device deleted meanwhile (by any process) must not keep its cached id. The shared
        // lock orders this batch with a deletion in another process: one commits first (see
        // `retention::delete`).
        let revisions = crate::revision::read_shared(&txn).await?;
        let seen = self.answers().seen.replace(revisions);
        if seen.is_none_or(|seen| seen.deletions != revisions.deletions) {
            ids.clear();
            self.last_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        }
        let mut fresh_ids = HashMap::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut seen: HashMap<i64, i64> = HashMap::new();

        // Locations are gathered and inserted many rows per statement (see `bulk`); any other
        // message first flushes the gathered ones, so the batch is applied in its order.
        let mut pending = bulk::Fixes::new(self.db.get_database_backend());
        for (index, message) in batch.iter().enumerate() {
            let device_id = match (&message.key, &message.body) {
                (_, NewBody::Wire { .. }) | (None, _) => None,
                (Some(key), _) => {
                    let id =
                        device_id(&txn, &ids, &mut fresh_ids, key, message.received_at).await?;
                    let latest = seen.entry(id).or_insert(message.received_at);
                    *latest = Ord::max(*latest, message.received_at);
                    Some(id)
                }
            };
            if let (NewBody::Location { .. }, Some(id)) = (&message.body, device_id)
                && pending.enabled()
            {
                pending.push(index, id, message);
                outcomes.push(WriteOutcome::Duplicate);
                continue;
            }
            pending.flush(&txn, &mut outcomes).await?;
            let outcome = match (&message.body, device_id) {
                (NewBody::Location { location, payload, original }, Some(id)) => {
                    let stored = Stored { location, payload, original: original.as_ref() };
                    insert_location(&txn, id, message, stored).await?
                }
                (NewBody::Message { message: typed, payload, original }, Some(id)) => {
                    let stored = StoredText { payload, original: original.as_ref() };
                    write_message(&txn, id, message, typed, stored).await?
                }
                (NewBody::Empty { payload }, Some(id)) => {
                    // `[]` is kept as sent; a zero-length payload has nothing to keep.
                    let original = (!payload.is_empty()).then_some(payload);
                    let stored = StoredText { payload: &String::new(), original };
                    if is_copy(&txn, "messages", id, &message.topic, b"", copy_rule(message, false))
                        .await?
                    {
                        WriteOutcome::Duplicate
                    } else {
                        insert_message(&txn, id, message, Meta::default(), stored).await?
                    }
                }
                (NewBody::Wire { payload }, _) => insert_wire(&txn, message, payload).await?,
                (NewBody::Quarantine { .. }, _) | (_, None) => {
                    quarantine(&txn, device_id, message).await?
                }
            };
            if let Some(id) = device_id
                && shows_alive(message)
            {
                mark_online(&txn, id, message.received_at).await?;
            }
            outcomes.push(outcome);
        }
        pending.flush(&txn, &mut outcomes).await?;
        // Devices in id order, a few per statement. Two writers on one server database can
        // still wait on each other in opposite orders (this is the batch's second pass over its
        // devices, and PostgreSQL locks one statement's rows in its plan's order); the database
        // then aborts one of them, whose batch is not acknowledged and comes again.
        let mut seen: Vec<(i64, i64)> = seen.into_iter().collect();
        seen.sort_unstable();
        let touched = {
            let known = self.last_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            seen.retain(|(id, at)| known.get(id).is_none_or(|known| known < at));
            seen
        };
        let seen_changes = touched
            .iter()
            .map(|(id, at)| (*id, DeviceChange { seen: Some(*at), ..DeviceChange::default() }))
            .collect();
        update_devices(&txn, &seen_changes).await?;
        txn.commit().await.map_err(StoreError::query("commit"))?;

        // Ids become visible to later batches only once their rows are committed.
        ids.extend(fresh_ids);
        for (message, outcome) in batch.iter().zip(&outcomes) {
            if let (WriteOutcome::Answered { .. }, Some(key)) = (outcome, &message.key) {
                self.answers().queued(key);
            }
        }
        let mut known = self.last_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        known.extend(touched);
        Ok(outcomes)
    }
}

impl SqlStore {
    /// Writes a batch of locations through `lean` (see `write::lean`), keeping the same caches
    /// as [`SqlStore::write_batch`].
    async fn write_lean(
        &self,
        lean: &LeanWrites,
        batch: &[NewMessage],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let mut ids = self.device_ids.lock().await;
        let seen = self.answers().seen;
        let devices = {
            let last_seen =
                self.last_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            batch
                .iter()
                .map(|message| {
                    let key = message.key.as_ref()?;
                    let names = (key.user.as_str().to_owned(), key.device.as_str().to_owned());
                    let id = *ids.get(&names)?;
                    Some((id, last_seen.get(&id).copied()))
                })
                .collect()
        };
        let known = lean::Known { devices, seen };
        let written = run_blocking(|| lean.write(batch, known))?;

        let mut last_seen =
            self.last_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.is_none_or(|seen| seen.deletions != written.revisions.deletions) {
            ids.clear();
            last_seen.clear();
        }
        self.answers().seen = Some(written.revisions);
        ids.extend(written.fresh_ids);
        last_seen.extend(written.touched);
        Ok(written.outcomes)
    }
}

/// Runs `work`, which blocks on file I/O, where it does not hold up other tasks: on a blocking
/// turn of a multi-threaded runtime's worker (the server and every command), else directly (a
/// single-threaded runtime, as in tests, waits for it). Either way the calling task waits, and
/// with it whatever else that task polls (`join!`): it must not hold another connection's
/// write transaction on the same file, or both wait out the busy timeout.
pub(crate) fn run_blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// How a message may repeat one already stored. Broker copies are recognised by their flags;
/// a message with its own time (or id) that a client sends again is recognised too, since the
/// same time and content mean the same message.
fn copy_rule(message: &NewMessage, has_identity: bool) -> Replay {
    match message.replay {
        Replay::Fresh if has_identity => Replay::Redelivered,
        other => other,
    }
}

/// A device's user and device names, as the id cache keys them.
pub(super) type Names = (String, String);

async fn device_id(
    txn: &DatabaseTransaction,
    known: &HashMap<Names, i64>,
    fresh: &mut HashMap<Names, i64>,
    key: &DeviceKey,
    now: i64,
) -> Result<i64, StoreError> {
    let names = (key.user.as_str().to_owned(), key.device.as_str().to_owned());
    if let Some(id) = known.get(&names).or_else(|| fresh.get(&names)) {
        return Ok(*id);
    }

    let insert = Query::insert()
        .into_table("devices")
        .columns(["user_name", "device_name", "first_seen", "last_seen"])
        .values_panic([
            Expr::val(names.0.clone()),
            Expr::val(names.1.clone()),
            Expr::val(now),
            Expr::val(now),
        ])
        .to_owned();
    crate::dialect::insert_new(txn, insert, &["user_name", "device_name"])
        .await
        .map_err(StoreError::query("insert device"))?;

    let id = crate::read::find_device_on(txn, key)
        .await?
        .ok_or_else(|| StoreError::Corrupt { what: "device", detail: format!("{key} vanished") })?;
    fresh.insert(names, id);
    Ok(id)
}

/// The columns of a stored location, in the order of [`location_row`].
pub(crate) const LOCATION_COLUMNS: [&str; 35] = [
    "device_id",
    "tst",
    "lat_e7",
    "lon_e7",
    "lat",
    "lon",
    "tid",
    "trig",
    "acc",
    "alt",
    "vel",
    "cog",
    "batt",
    "vac",
    "bs",
    "conn",
    "mode",
    "pressure",
    "ssid",
    "bssid",
    "created_at",
    "provider",
    "poi",
    "tag",
    "imagename",
    "inregions",
    "inrids",
    "client_id",
    "topic",
    "source",
    "retained",
    "received_at",
    "payload",
    "original",
    "repairs",
];

/// The columns that identify a fix: a device has one fix per time and place.
pub(crate) const FIX_KEY: [&str; 4] = ["device_id", "tst", "lat_e7", "lon_e7"];

/// A location's values for [`LOCATION_COLUMNS`].
pub(crate) fn location_row(device_id: i64, message: &NewMessage, stored: Stored<'_>) -> [Expr; 35] {
    let Stored { location, payload, original } = stored;
    [
        Expr::val(device_id),
        Expr::val(location.tst),
        Expr::val(e7(location.lat)),
        Expr::val(e7(location.lon)),
        Expr::val(location.lat),
        Expr::val(location.lon),
        Expr::val(location.tid.clone()),
        Expr::val(location.trigger.clone()),
        Expr::val(location.acc),
        Expr::val(location.alt),
        Expr::val(location.vel),
        Expr::val(location.cog),
        Expr::val(location.batt),
        Expr::val(location.vac),
        Expr::val(location.bs),
        Expr::val(location.conn.clone()),
        Expr::val(location.mode),
        Expr::val(location.pressure),
        Expr::val(location.ssid.clone()),
        Expr::val(location.bssid.clone()),
        Expr::val(location.created_at),
        Expr::val(location.provider.clone()),
        Expr::val(location.poi.clone()),
        Expr::val(location.tag.clone()),
        Expr::val(location.imagename.clone()),
        Expr::val(text_list(&location.inregions)),
        Expr::val(text_list(&location.inrids)),
        Expr::val(location.client_id.clone()),
        Expr::val(message.topic.clone()),
        Expr::val(message.source.as_str()),
        Expr::val(i16::from(message.retained)),
        Expr::val(message.received_at),
        Expr::val(payload.clone()),
        Expr::val(original.map(|b| b.to_vec())),
        Expr::val(text_list(&location.repairs)),
    ]
}

/// The fix key of a location, as [`FIX_KEY`] stores it.
pub(crate) fn fix_key(device_id: i64, location: &Location) -> (i64, i64, i64, i64) {
    (device_id, location.tst, e7(location.lat), e7(location.lon))
}

async fn insert_location(
    txn: &DatabaseTransaction,
    device_id: i64,
    message: &NewMessage,
    stored: Stored<'_>,
) -> Result<WriteOutcome, StoreError> {
    let tst = stored.location.tst;
    let insert = Query::insert()
        .into_table("locations")
        .columns(LOCATION_COLUMNS)
        .values_panic(location_row(device_id, message, stored))
        .to_owned();

    let inserted = crate::dialect::insert_new(txn, insert, &FIX_KEY)
        .await
        .map_err(StoreError::query("insert location"))?;
    let Some(id) = inserted else {
        return Ok(WriteOutcome::Duplicate);
    };

    let newest = advance_last(txn, device_id, id, tst).await?;
    Ok(WriteOutcome::Location { id, newest })
}

/// Makes fix `id` the device's last position if it is newer than the one it has; returns
/// whether it did.
pub(crate) async fn advance_last(
    txn: &DatabaseTransaction,
    device_id: i64,
    id: i64,
    tst: i64,
) -> Result<bool, StoreError> {
    let update = Query::update()
        .table("devices")
        .value("last_location_id", id)
        .value("last_tst", tst)
        .and_where(Expr::col("id").eq(device_id))
        .and_where(Expr::col("last_tst").is_null().or(Expr::col("last_tst").lt(tst)))
        .to_owned();
    let result = txn.execute(&update).await.map_err(StoreError::query("update last location"))?;
    Ok(result.rows_affected() == 1)
}

/// A location with its stored forms.
#[derive(Clone, Copy)]
pub(crate) struct Stored<'a> {
    pub location: &'a Location,
    pub payload: &'a String,
    pub original: Option<&'a Bytes>,
}

/// A message's stored forms.
struct StoredText<'a> {
    payload: &'a String,
    original: Option<&'a Bytes>,
}

pub(crate) fn text_list(items: &[String]) -> Option<String> {
    (!items.is_empty()).then(|| serde_json::to_string(items).unwrap_or_default())
}

/// Stores a typed message and applies it to the tables it updates.
async fn write_message(
    txn: &DatabaseTransaction,
    device_id: i64,
    message: &NewMessage,
    typed: &Message,
    stored: StoredText<'_>,
) -> Result<WriteOutcome, StoreError> {
    let has_identity = typed.tst.is_some() || typed.json.contains_key("_id");
    let rule = copy_rule(message, has_identity);
    if is_copy(txn, "messages", device_id, &message.topic, stored.payload.as_bytes(), rule).await? {
        return Ok(WriteOutcome::Duplicate);
    }
    if let Detail::Transition(transition) = &typed.detail
        && transition_exists(txn, device_id, transition).await?
    {
        return Ok(WriteOutcome::Duplicate);
    }
    let meta = Meta {
        msg_type: Some(typed.msg_type.clone()),
        tst: typed.tst,
        client_id: typed.json.get("_id").and_then(Value::as_str).map(str::to_owned),
        repairs: text_list(&typed.repairs),
    };
    let outcome = insert_message(txn, device_id, message, meta, stored).await?;
    let WriteOutcome::Message { id } = outcome else { return Ok(outcome) };
    if let (Detail::Request(request), Some(key)) = (&typed.detail, &message.key)
        && let Some(command) = crate::tours::answer(txn, key, request, message.received_at).await?
    {
        return Ok(WriteOutcome::Answered { id, command });
    }
    apply::apply(txn, device_id, id, message, typed).await?;
    Ok(outcome)
}

/// The indexed facts of a stored message.
#[derive(Default)]
struct Meta {
    msg_type: Option<String>,
    tst: Option<i64>,
    client_id: Option<String>,
    repairs: Option<String>,
}

async fn insert_message(
    txn: &DatabaseTransaction,
    device_id: i64,
    message: &NewMessage,
    meta: Meta,
    stored: StoredText<'_>,
) -> Result<WriteOutcome, StoreError> {
    let StoredText { payload, original } = stored;
    let insert = Query::insert()
        .into_table("messages")
        .columns([
            "device_id",
            "topic",
            "subtopic",
            "msg_type",
            "tst",
            "client_id",
            "source",
            "retained",
            "received_at",
            "payload",
            "original",
            "repairs",
            "topic_hash",
            "payload_hash",
        ])
        .values_panic([
            Expr::val(device_id),
            Expr::val(message.topic.clone()),
            Expr::val(message.subtopic.clone()),
            Expr::val(meta.msg_type),
            Expr::val(meta.tst),
            Expr::val(meta.client_id),
            Expr::val(message.source.as_str()),
            Expr::val(i16::from(message.retained)),
            Expr::val(message.received_at),
            Expr::val(payload.clone()),
            Expr::val(original.map(|b| b.to_vec())),
            Expr::val(meta.repairs),
            Expr::val(digest(message.topic.as_bytes())),
            Expr::val(digest(payload.as_bytes())),
        ])
        .to_owned();
    let id = returned_id(txn, insert, "insert message").await?;
    Ok(WriteOutcome::Message { id })
}

async fn quarantine(
    txn: &DatabaseTransaction,
    device_id: Option<i64>,
    message: &NewMessage,
) -> Result<WriteOutcome, StoreError> {
    let (msg_type, reason, problem, payload) = match &message.body {
        NewBody::Quarantine { msg_type, reason, problem, payload } => {
            (msg_type.clone(), reason.clone(), problem.clone(), payload.to_vec())
        }
        other => (
            None,
            "no_device".to_owned(),
            "the topic names no device".to_owned(),
            body_bytes(other),
        ),
    };
    // A client retrying what it cannot get accepted (an envelope without a key, say) is kept
    // once while it waits.
    if let Some(id) = device_id
        && is_copy(txn, "quarantine", id, &message.topic, &payload, Replay::Redelivered).await?
    {
        return Ok(WriteOutcome::Duplicate);
    }
    let insert = Query::insert()
        .into_table("quarantine")
        .columns([
            "device_id",
            "topic",
            "subtopic",
            "msg_type",
            "source",
            "retained",
            "received_at",
            "reason",
            "problem",
            "payload",
            "topic_hash",
            "payload_hash",
        ])
        .values_panic([
            Expr::val(device_id),
            Expr::val(message.topic.clone()),
            Expr::val(message.subtopic.clone()),
            Expr::val(msg_type),
            Expr::val(message.source.as_str()),
            Expr::val(i16::from(message.retained)),
            Expr::val(message.received_at),
            Expr::val(reason),
            Expr::val(problem),
            Expr::val(payload.clone()),
            Expr::val(digest(message.topic.as_bytes())),
            Expr::val(digest(&payload)),
        ])
        .to_owned();
    let id = returned_id(txn, insert, "insert quarantine").await?;
    Ok(WriteOutcome::Quarantined { id })
}

fn body_bytes(body: &NewBody) -> Vec<u8> {
    match body {
        NewBody::Location { original: Some(bytes), .. }
        | NewBody::Message { original: Some(bytes), .. } => bytes.to_vec(),
        NewBody::Location { payload, .. } | NewBody::Message { payload, .. } => {
            payload.clone().into_bytes()
        }
        NewBody::Empty { payload }
        | NewBody::Wire { payload }
        | NewBody::Quarantine { payload, .. } => payload.to_vec(),
    }
}

async fn insert_wire(
    txn: &DatabaseTransaction,
    message: &NewMessage,
    payload: &Bytes,
) -> Result<WriteOutcome, StoreError> {
    let insert = Query::insert()
        .into_table("rawdata")
        .columns(["topic", "source", "retained", "received_at", "payload"])
        .values_panic([
            Expr::val(message.topic.clone()),
            Expr::val(message.source.as_str()),
            Expr::val(i16::from(message.retained)),
            Expr::val(message.received_at),
            Expr::val(payload.to_vec()),
        ])
        .to_owned();
    let id = returned_id(txn, insert, "insert rawdata").await?;
    Ok(WriteOutcome::Wire { id })
}

pub(crate) async fn returned_id(
    txn: &DatabaseTransaction,
    insert: InsertStatement,
    what: &'static str,
) -> Result<i64, StoreError> {
    crate::dialect::insert_id(txn, insert).await.map_err(StoreError::query(what))
}

async fn transition_exists(
    txn: &DatabaseTransaction,
    device_id: i64,
    transition: &Transition,
) -> Result<bool, StoreError> {
    let select = Query::select()
        .column("id")
        .from("transitions")
        .and_where(Expr::col("device_id").eq(device_id))
        .and_where(Expr::col("tst").eq(transition.tst))
        .and_where(Expr::col("event").eq(event_name(transition)))
        .and_where(Expr::col("region").eq(region(transition)))
        .to_owned();
    let row = txn.query_one(&select).await.map_err(StoreError::query("find transition"))?;
    Ok(row.is_some())
}

pub(crate) fn event_name(transition: &Transition) -> &'static str {
    if transition.enter { "enter" } else { "leave" }
}

/// The region of a transition for its uniqueness key: its id, else its name.
pub(crate) fn region(transition: &Transition) -> String {
    transition.rid.clone().or_else(|| transition.desc.clone()).unwrap_or_default()
}

/// Message types only the device itself sends while it runs: after a last will (or a Greenwich
/// `0`/`-1`), one of these means it is back. Broker copies prove nothing and do not count.
const FROM_A_RUNNING_DEVICE: &[&str] =
    &["transition", "waypoint", "waypoints", "steps", "beacon", "status", "request"];

pub(crate) fn shows_alive(message: &NewMessage) -> bool {
    if message.replay != Replay::Fresh {
        return false;
    }
    match &message.body {
        NewBody::Location { .. } => true,
        NewBody::Message { message, .. } => {
            FROM_A_RUNNING_DEVICE.contains(&message.msg_type.as_str())
        }
        _ => false,
    }
}

/// Devices changed by one `UPDATE` (see [`update_devices`]): each brings a few bound values to
/// every `CASE`, and SQLite compares each bound value with every one before it while it
/// prepares the statement, so a chunk stays small. Through Mosquitto (100,000 fixes, 200
/// devices) one device per statement stored 11,300-12,700/s, 8 per statement 13,100-15,800/s,
/// 64 per statement 13,800-15,000/s.
const DEVICES_PER_UPDATE: usize = 8;

/// What a batch changes of one device: its new last fix (id, tst), its first fresh arrival
/// (marks it online), its newest arrival (`last_seen`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct DeviceChange {
    pub fix: Option<(i64, i64)>,
    pub alive: Option<i64>,
    pub seen: Option<i64>,
}

/// Applies `changes` (device id to change), in id order, one statement per
/// [`DEVICES_PER_UPDATE`] devices instead of one per device. Each column is a `CASE` with a
/// branch per device that changes it, and each branch applies only where its own condition
/// holds, exactly as [`advance_last`], [`mark_online`] and one device's `last_seen` update apart.
pub(crate) async fn update_devices(
    txn: &DatabaseTransaction,
    changes: &BTreeMap<i64, DeviceChange>,
) -> Result<(), StoreError> {
    let changes: Vec<(i64, DeviceChange)> = changes.iter().map(|(id, c)| (*id, *c)).collect();
    for chunk in changes.chunks(DEVICES_PER_UPDATE) {
        if let Some(update) = devices_update(chunk) {
            txn.execute(&update).await.map_err(StoreError::query("update devices"))?;
        }
    }
    Ok(())
}

/// The statement for one chunk; `None` when it changes nothing.
fn devices_update(chunk: &[(i64, DeviceChange)]) -> Option<UpdateStatement> {
    type Branches = Vec<(Expr, Expr)>;
    let (mut last_id, mut last_tst, mut online_at, mut online, mut seen) =
        (Branches::new(), Branches::new(), Branches::new(), Branches::new(), Branches::new());
    for (device, change) in chunk {
        let this = || Expr::col("id").eq(*device);
        if let Some((id, tst)) = change.fix {
            let newer =
                || this().and(Expr::col("last_tst").is_null().or(Expr::col("last_tst").lt(tst)));
            last_id.push((newer(), Expr::val(id)));
            last_tst.push((newer(), Expr::val(tst)));
        }
        if let Some(at) = change.alive {
            let wake = || this().and(Expr::col("online").ne(1)).and(Expr::col("online_at").lte(at));
            online_at.push((wake(), Expr::val(at)));
            online.push((wake(), Expr::val(1)));
        }
        if let Some(at) = change.seen {
            seen.push((this().and(Expr::col("last_seen").lt(at)), Expr::val(at)));
        }
    }
    let mut update = Query::update();
    update
        .table("devices")
        .and_where(Expr::col("id").is_in(chunk.iter().map(|(device, _)| *device)));
    // MySQL assigns left to right, a later expression seeing the earlier new values: each
    // column a condition reads is assigned after the column that depends on it.
    let columns = [
        ("last_location_id", last_id),
        ("last_tst", last_tst),
        ("online_at", online_at),
        ("online", online),
        ("last_seen", seen),
    ];
    let mut changed = false;
    for (column, branches) in columns {
        let mut branches = branches.into_iter();
        let Some((cond, then)) = branches.next() else { continue };
        let case =
            branches.fold(Expr::case(cond, then), |case, (cond, then)| case.case(cond, then));
        update.value(column, case.finally(Expr::col(column)));
        changed = true;
    }
    changed.then_some(update)
}

pub(crate) async fn mark_online(
    txn: &DatabaseTransaction,
    device_id: i64,
    at: i64,
) -> Result<(), StoreError> {
    let update = Query::update()
        .table("devices")
        .value("online", 1)
        .value("online_at", at)
        .and_where(Expr::col("id").eq(device_id))
        .and_where(Expr::col("online").ne(1))
        .and_where(Expr::col("online_at").lte(at))
        .to_owned();
    txn.execute(&update).await.map_err(StoreError::query("update device online"))?;
    Ok(())
}
