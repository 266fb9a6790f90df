//! Batches of locations into a SQLite file through rusqlite, on the calling thread. Through the
//! pool every statement is a round trip to sqlx's worker thread and a SQL text built (and, with
//! a different row count, prepared) again; here the whole transaction runs at once with
//! statements prepared once per connection, so a small batch costs little more than its
//! commit. That is what bounds HTTP mode, where 50 waiting clients make batches of a few posts.
//!
//! Only batches made of locations with a device come here (nearly all traffic); any other
//! message takes the pool's path, which knows every table. Both write the same rows: a device is
//! created as the pool creates it, a fix already stored is skipped by the same unique key, and
//! the device's last fix, liveness and `last_seen` move under the same conditions (see
//! `super::update_devices`). The connection is the store's second writer on the file; the
//! store's write turn keeps it and the pool from writing at once, and its transactions take the
//! file's write lock when they begin (as the pool's do), so a writer in another process waits
//! its turn instead of failing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{LOCATION_COLUMNS, Names, e7, shows_alive, text_list};
use crate::error::StoreError;
use crate::records::{NewBody, NewMessage, WriteOutcome};
use crate::revision::Revisions;

/// How long a write waits for another process's write, as the pool does.
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// What a lean batch did, for the store's caches once it committed.
pub(crate) struct Written {
    pub outcomes: Vec<WriteOutcome>,
    pub revisions: Revisions,
    /// Ids of devices this batch looked up or created.
    pub fresh_ids: HashMap<Names, i64>,
    /// Each device's `last_seen` as this batch left it.
    pub touched: Vec<(i64, i64)>,
}

/// What the store knows before a lean batch.
pub(crate) struct Known {
    /// Each message's device from the cache (`None`: not cached): its id and the `last_seen` it
    /// has at least.
    pub devices: Vec<Option<(i64, Option<i64>)>>,
    /// The revisions the last batch read; what is cached holds only while `deletions` has not
    /// moved.
    pub seen: Option<Revisions>,
}

/// The store's rusqlite connection for lean batches, opened on first use.
pub(crate) struct LeanWrites {
    path: PathBuf,
    /// The URL's parameter that opens the file read-only (`mode=ro`), if any: every write
    /// then fails by that name (rusqlite would open the file for writing whatever the URL says).
    read_only: Option<String>,
    connection: Mutex<Option<Connection>>,
    /// Set by [`LeanWrites::close`]: writes fail from then on, like the pool's.
    closed: AtomicBool,
}

/// Whether `batch` can be written by [`LeanWrites`]: locations of a device only.
pub(crate) fn is_lean(batch: &[NewMessage]) -> bool {
    !batch.is_empty()
        && batch.iter().all(|message| {
            message.key.is_some() && matches!(message.body, NewBody::Location { .. })
        })
}

const REVISIONS: &str = "SELECT name, value FROM revisions";
const NEW_DEVICE: &str = "INSERT INTO devices (user_name, device_name, first_seen, last_seen) \
                          VALUES (?1, ?2, ?3, ?3) ON CONFLICT (user_name, device_name) DO NOTHING";
const DEVICE_ID: &str = "SELECT id FROM devices WHERE user_name = ?1 AND device_name = ?2";
const LAST_TST: &str = "SELECT last_tst FROM devices WHERE id = ?1";
const ADVANCE: &str = "UPDATE devices SET last_location_id = ?2, last_tst = ?3 \
                       WHERE id = ?1 AND (last_tst IS NULL OR last_tst < ?3)";
const ONLINE: &str = "UPDATE devices SET online = 1, online_at = ?2 WHERE id = ?1 AND online <> 1 AND online_at <= ?2";
const SEEN: &str = "UPDATE devices SET last_seen = ?2 WHERE id = ?1 AND last_seen < ?2";

/// One location; its id, or no row when the device has the fix already.
static INSERT_LOCATION: LazyLock<String> = LazyLock::new(|| {
    let columns = LOCATION_COLUMNS.join(", ");
    let values: Vec<String> = (1..=LOCATION_COLUMNS.len()).map(|n| format!("?{n}")).collect();
    format!(
        "INSERT INTO locations ({columns}) VALUES ({}) \
         ON CONFLICT (device_id, tst, lat_e7, lon_e7) DO NOTHING RETURNING id",
        values.join(", ")
    )
});

impl LeanWrites {
    /// Writes to the file at `path`; none at all when `read_only` names the URL's parameter
    /// that opens it read-only.
    pub(crate) fn new(path: &Path, read_only: Option<String>) -> Self {
        Self {
            path: path.to_owned(),
            read_only,
            connection: Mutex::new(None),
            closed: AtomicBool::new(false),
        }
    }

    /// A write that changes nothing, rolled back: fails as any write would (see
    /// [`crate::SqlStore::check_writable`]).
    pub(crate) fn check_writable(&self) -> Result<(), StoreError> {
        self.with_connection(|connection| {
            let txn = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(self.fail("check writing"))?;
            txn.execute("DELETE FROM revisions WHERE 0", []).map_err(self.fail("check writing"))?;
            txn.rollback().map_err(self.fail("check writing"))
        })
    }

    /// Closes the connection and fails every write from now on.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.connection.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(super) fn fail(
        &self,
        operation: &'static str,
    ) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            operation,
            path: self.path.display().to_string(),
            source,
        }
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let connection = Connection::open(&self.path).map_err(self.fail("open writer"))?;
        connection.busy_timeout(BUSY_WAIT).map_err(self.fail("open writer"))?;
        // As the pool's connections: a commit is on disk before it is acknowledged.
        connection
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(self.fail("open writer"))?;
        tracing::debug!(path = %self.path.display(), "batch writer opened");
        Ok(connection)
    }

    /// Writes `batch` (see [`is_lean`]) in one transaction and commits it.
    pub(crate) fn write(&self, batch: &[NewMessage], known: Known) -> Result<Written, StoreError> {
        self.with_connection(|connection| self.write_on(connection, batch, known))
    }

    /// Runs `work` on the connection (opened if need be), which no other work uses meanwhile.
    pub(super) fn with_connection<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut slot = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed { path: self.path.display().to_string() });
        }
        if let Some(parameter) = &self.read_only {
            let path = self.path.display().to_string();
            return Err(StoreError::ReadOnly { path, parameter: parameter.clone() });
        }
        let connection = match slot.as_mut() {
            Some(connection) => connection,
            None => slot.insert(self.open()?),
        };
        let result = work(connection);
        if result.is_err() {
            // A connection left in a failed state is not reused.
            *slot = None;
        }
        result
    }

    fn write_on(
        &self,
        connection: &mut Connection,
        batch: &[NewMessage],
        known: Known,
    ) -> Result<Written, StoreError> {
        // Immediate: the write lock is taken now, not when the first insert finds a reader's
        // snapshot in the way.
        let txn = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.fail("begin"))?;
        let revisions = read_revisions(&txn).map_err(self.fail("read revisions"))?;
        let ids_hold = known.seen.is_some_and(|seen| seen.deletions == revisions.deletions);

        let mut fresh_ids: HashMap<Names, i64> = HashMap::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        // Per device: its last fix's time as stored (then as this batch moves it), the batch's
        // newest new fix, its first fresh arrival, its newest arrival.
        let mut devices: BTreeMap<i64, DeviceState> = BTreeMap::new();
        {
            let mut insert =
                txn.prepare_cached(&INSERT_LOCATION).map_err(self.fail("prepare insert"))?;
            for (message, cached) in batch.iter().zip(known.devices) {
                let (Some(key), NewBody::Location { location, payload, original }) =
                    (&message.key, &message.body)
                else {
                    return Err(StoreError::Corrupt {
                        what: "batch",
                        detail: format!("{} is not a location of a device", message.topic),
                    });
                };
                let cached = cached.filter(|_| ids_hold);
                let device = match cached {
                    Some((id, _)) => id,
                    None => {
                        let names = (key.user.as_str().to_owned(), key.device.as_str().to_owned());
                        match fresh_ids.get(&names) {
                            Some(id) => *id,
                            None => {
                                let id = device_id(&txn, &names, message.received_at)
                                    .map_err(self.fail("find device"))?;
                                fresh_ids.insert(names, id);
                                id
                            }
                        }
                    }
                };
                let state = match devices.entry(device) {
                    std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                    std::collections::btree_map::Entry::Vacant(entry) => {
                        let last_tst = txn
                            .prepare_cached(LAST_TST)
                            .and_then(|mut select| select.query_row([device], |row| row.get(0)))
                            .map_err(self.fail("read last position"))?;
                        let known_seen = cached.and_then(|(_, seen)| seen);
                        entry.insert(DeviceState::new(last_tst, known_seen, message.received_at))
                    }
                };
                state.seen = state.seen.max(message.received_at);
                if shows_alive(message) && state.alive.is_none() {
                    state.alive = Some(message.received_at);
                }
                let inserted: Option<i64> = insert
                    .query_row(
                        params![
                            device,
                            location.tst,
                            e7(location.lat),
                            e7(location.lon),
                            location.lat,
                            location.lon,
                            location.tid,
                            location.trigger,
                            location.acc,
                            location.alt,
                            location.vel,
                            location.cog,
                            location.batt,
                            location.vac,
                            location.bs,
                            location.conn,
                            location.mode,
                            location.pressure,
                            location.ssid,
                            location.bssid,
                            location.created_at,
                            location.provider,
                            location.poi,
                            location.tag,
                            location.imagename,
                            text_list(&location.inregions),
                            text_list(&location.inrids),
                            location.client_id,
                            message.topic,
                            message.source.as_str(),
                            i64::from(message.retained),
                            message.received_at,
                            payload,
                            original.as_deref(),
                            text_list(&location.repairs),
                        ],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(self.fail("insert location"))?;
                let outcome = match inserted {
                    None => WriteOutcome::Duplicate,
                    Some(id) => {
                        let newest = state.last_tst.is_none_or(|tst| location.tst > tst);
                        if newest {
                            state.last_tst = Some(location.tst);
                            state.fix = Some((id, location.tst));
                        }
                        WriteOutcome::Location { id, newest }
                    }
                };
                outcomes.push(outcome);
            }
        }

        let mut touched = Vec::new();
        for (device, state) in &devices {
            if let Some((id, tst)) = state.fix {
                txn.prepare_cached(ADVANCE)
                    .and_then(|mut update| update.execute(params![device, id, tst]))
                    .map_err(self.fail("update last location"))?;
            }
            if let Some(at) = state.alive {
                txn.prepare_cached(ONLINE)
                    .and_then(|mut update| update.execute(params![device, at]))
                    .map_err(self.fail("update device online"))?;
            }
            if state.known_seen.is_none_or(|known| known < state.seen) {
                txn.prepare_cached(SEEN)
                    .and_then(|mut update| update.execute(params![device, state.seen]))
                    .map_err(self.fail("update device seen"))?;
                touched.push((*device, state.seen));
            }
        }
        txn.commit().map_err(self.fail("commit"))?;
        Ok(Written { outcomes, revisions, fresh_ids, touched })
    }
}

/// One device as a lean batch changes it.
struct DeviceState {
    last_tst: Option<i64>,
    fix: Option<(i64, i64)>,
    alive: Option<i64>,
    /// The `last_seen` the store knew of, and the newest arrival in the batch.
    known_seen: Option<i64>,
    seen: i64,
}

impl DeviceState {
    fn new(last_tst: Option<i64>, known_seen: Option<i64>, seen: i64) -> Self {
        Self { last_tst, fix: None, alive: None, known_seen, seen }
    }
}

fn read_revisions(connection: &Connection) -> rusqlite::Result<Revisions> {
    let mut select = connection.prepare_cached(REVISIONS)?;
    let mut rows = select.query([])?;
    let mut revisions = Revisions::default();
    while let Some(row) = rows.next()? {
        revisions.set(row.get_ref(0)?.as_str().unwrap_or_default(), row.get(1)?);
    }
    Ok(revisions)
}

/// The id of the device `names`, created (first and last seen `now`) if it is new.
fn device_id(connection: &Connection, names: &Names, now: i64) -> rusqlite::Result<i64> {
    connection.prepare_cached(NEW_DEVICE)?.execute(params![names.0, names.1, now])?;
    connection.prepare_cached(DEVICE_ID)?.query_row(params![names.0, names.1], |row| row.get(0))
}
