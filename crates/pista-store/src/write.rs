//! Writing a batch: one transaction that resolves device ids, inserts locations (skipping fixes
//! the device already has), moves each device's last position forward only when a newer fix
//! arrives (late points never replace it), and keeps every other message raw.

use std::collections::HashMap;

use bytes::Bytes;
use pista_core::{DeviceKey, Location};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};

use crate::copies::{digest, is_copy};
use crate::error::StoreError;
use crate::records::{NewBody, NewMessage, WriteOutcome};
use crate::sql::SqlStore;

/// Coordinates are compared at 1e-7 degrees (about 1 cm) to decide whether a fix is a duplicate.
fn e7(degrees: f64) -> i64 {
    (degrees * 1e7).round() as i64
}

impl SqlStore {
    pub(crate) async fn write_batch(
        &self,
        batch: &[NewMessage],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let txn = self.db.begin().await.map_err(StoreError::query("begin"))?;
        let mut ids = self.device_ids.lock().await;
        let mut fresh_ids = HashMap::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut seen: HashMap<i64, i64> = HashMap::new();

        for message in batch {
            let device_id = match &message.key {
                Some(key) => {
                    let id =
                        device_id(&txn, &ids, &mut fresh_ids, key, message.received_at).await?;
                    let latest = seen.entry(id).or_insert(message.received_at);
                    *latest = Ord::max(*latest, message.received_at);
                    Some(id)
                }
                None => None,
            };
            let outcome = match (&message.body, device_id) {
                (NewBody::Location { location, payload, original }, Some(id)) => {
                    let stored = Stored { location, payload, original: original.as_ref() };
                    insert_location(&txn, id, message, stored).await?
                }
                (NewBody::Raw { payload, .. }, Some(id))
                    if is_copy(&txn, id, &message.topic, payload, message.replay).await? =>
                {
                    WriteOutcome::Duplicate
                }
                _ => insert_message(&txn, device_id, message).await?,
            };
            outcomes.push(outcome);
        }
        for (id, last_seen) in seen {
            touch_device(&txn, id, last_seen).await?;
        }
        txn.commit().await.map_err(StoreError::query("commit"))?;

        // Ids become visible to later batches only once their rows are committed.
        ids.extend(fresh_ids);
        Ok(outcomes)
    }
}

type Names = (String, String);

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
        .on_conflict(OnConflict::columns(["user_name", "device_name"]).do_nothing().to_owned())
        .to_owned();
    txn.execute(&insert).await.map_err(StoreError::query("insert device"))?;

    let select = Query::select()
        .column("id")
        .from("devices")
        .and_where(Expr::col("user_name").eq(names.0.clone()))
        .and_where(Expr::col("device_name").eq(names.1.clone()))
        .to_owned();

    let row = txn.query_one(&select).await.map_err(StoreError::query("select device"))?;
    let id = row
        .ok_or_else(|| StoreError::Corrupt { what: "device", detail: format!("{key} vanished") })?
        .try_get_by_index::<i64>(0)
        .map_err(StoreError::query("read device id"))?;
    fresh.insert(names, id);
    Ok(id)
}

async fn insert_location(
    txn: &DatabaseTransaction,
    device_id: i64,
    message: &NewMessage,
    stored: Stored<'_>,
) -> Result<WriteOutcome, StoreError> {
    let Stored { location, payload, original } = stored;
    let insert = Query::insert()
        .into_table("locations")
        .columns([
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
            "topic",
            "source",
            "retained",
            "received_at",
            "payload",
            "original",
        ])
        .values_panic([
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
            Expr::val(message.topic.clone()),
            Expr::val(message.source.as_str()),
            Expr::val(i16::from(message.retained)),
            Expr::val(message.received_at),
            Expr::val(payload.clone()),
            Expr::val(original.map(|b| b.to_vec())),
        ])
        .on_conflict(
            OnConflict::columns(["device_id", "tst", "lat_e7", "lon_e7"]).do_nothing().to_owned(),
        )
        .returning_col("id")
        .to_owned();

    let row = txn.query_one(&insert).await.map_err(StoreError::query("insert location"))?;
    let Some(row) = row else {
        return Ok(WriteOutcome::Duplicate);
    };
    let id = row.try_get_by_index::<i64>(0).map_err(StoreError::query("read location id"))?;

    let update = Query::update()
        .table("devices")
        .value("last_location_id", id)
        .value("last_tst", location.tst)
        .and_where(Expr::col("id").eq(device_id))
        .and_where(Expr::col("last_tst").is_null().or(Expr::col("last_tst").lt(location.tst)))
        .to_owned();
    let result = txn.execute(&update).await.map_err(StoreError::query("update last location"))?;
    Ok(WriteOutcome::Location { id, newest: result.rows_affected() == 1 })
}

/// A location with its stored forms.
struct Stored<'a> {
    location: &'a Location,
    payload: &'a String,
    original: Option<&'a Bytes>,
}

async fn insert_message(
    txn: &DatabaseTransaction,
    device_id: Option<i64>,
    message: &NewMessage,
) -> Result<WriteOutcome, StoreError> {
    let (msg_type, problem, payload) = match &message.body {
        NewBody::Raw { msg_type, problem, payload } => {
            (msg_type.clone(), problem.clone(), payload.to_vec())
        }
        NewBody::Location { payload, .. } => (
            Some("location".to_owned()),
            Some("location without a device".to_owned()),
            payload.clone().into_bytes(),
        ),
    };

    let insert = Query::insert()
        .into_table("messages")
        .columns([
            "device_id",
            "topic",
            "subtopic",
            "msg_type",
            "source",
            "retained",
            "received_at",
            "payload",
            "problem",
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
            Expr::val(payload.clone()),
            Expr::val(problem),
            Expr::val(digest(message.topic.as_bytes())),
            Expr::val(digest(&payload)),
        ])
        .returning_col("id")
        .to_owned();

    let row = txn.query_one(&insert).await.map_err(StoreError::query("insert message"))?;
    let id = row
        .ok_or_else(|| StoreError::Corrupt { what: "message", detail: "no id returned".into() })?
        .try_get_by_index::<i64>(0)
        .map_err(StoreError::query("read message id"))?;
    Ok(WriteOutcome::Message { id })
}

async fn touch_device(
    txn: &DatabaseTransaction,
    device_id: i64,
    seen: i64,
) -> Result<(), StoreError> {
    let update = Query::update()
        .table("devices")
        .value("last_seen", seen)
        .and_where(Expr::col("id").eq(device_id))
        .and_where(Expr::col("last_seen").lt(seen))
        .to_owned();
    txn.execute(&update).await.map_err(StoreError::query("update device last seen"))?;
    Ok(())
}
