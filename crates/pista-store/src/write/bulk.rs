//! Locations many rows per statement. A batch's consecutive locations are gathered and inserted
//! with one multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING` per chunk; the returned fix
//! keys tell which rows are new (the first of two equal fixes in one batch wins, as one at a
//! time would), then every device's last position moves once and each new fix learns whether
//! it was the newest so far, exactly as inserting them one by one would have told it. MySQL
//! and MariaDB have no `RETURNING` for this, so there the rows go one at a time (see `dialect`).

use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend};

use super::{
    DeviceChange, FIX_KEY, LOCATION_COLUMNS, Stored, fix_key, location_row, shows_alive,
    update_devices,
};
use crate::error::StoreError;
use crate::records::{NewBody, NewMessage, WriteOutcome};

/// Rows per statement: 35 values each stays far below SQLite's 32,766 and PostgreSQL's 65,535
/// bound parameters.
const CHUNK: usize = 400;

/// Locations gathered for one multi-row insert.
pub(crate) struct Fixes<'a> {
    enabled: bool,
    /// Position in the batch, device id, message.
    rows: Vec<(usize, i64, &'a NewMessage)>,
}

impl<'a> Fixes<'a> {
    pub fn new(backend: DbBackend) -> Self {
        Self { enabled: backend != DbBackend::MySql, rows: Vec::new() }
    }

    /// Whether locations are gathered at all on this database.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn push(&mut self, index: usize, device_id: i64, message: &'a NewMessage) {
        self.rows.push((index, device_id, message));
    }

    /// Inserts the gathered locations and writes their outcomes at their batch positions.
    pub async fn flush(
        &mut self,
        txn: &DatabaseTransaction,
        outcomes: &mut [WriteOutcome],
    ) -> Result<(), StoreError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let mut new_ids = HashMap::with_capacity(rows.len());
        for chunk in rows.chunks(CHUNK) {
            insert_chunk(txn, chunk, &mut new_ids).await?;
        }

        let devices: Vec<i64> = {
            let mut ids: Vec<i64> = rows.iter().map(|(_, device, _)| *device).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let mut newest = last_tsts(txn, &devices).await?;
        // The newest new fix of each device, and the first fresh arrival of each device.
        let mut last: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        let mut alive: BTreeMap<i64, i64> = BTreeMap::new();
        for (index, device, message) in &rows {
            let NewBody::Location { location, .. } = &message.body else { continue };
            if shows_alive(message) {
                alive.entry(*device).or_insert(message.received_at);
            }
            let Some(id) = new_ids.remove(&fix_key(*device, location)) else {
                continue;
            };
            let known = newest.entry(*device).or_insert(None);
            let is_newest = known.is_none_or(|tst| location.tst > tst);
            if is_newest {
                *known = Some(location.tst);
                last.insert(*device, (id, location.tst));
            }
            outcomes[*index] = WriteOutcome::Location { id, newest: is_newest };
        }
        // In id order, many devices per statement.
        let mut changes: BTreeMap<i64, DeviceChange> = BTreeMap::new();
        for (device, fix) in last {
            changes.entry(device).or_default().fix = Some(fix);
        }
        for (device, at) in alive {
            changes.entry(device).or_default().alive = Some(at);
        }
        update_devices(txn, &changes).await
    }
}

type FixKey = (i64, i64, i64, i64);

async fn insert_chunk(
    txn: &DatabaseTransaction,
    chunk: &[(usize, i64, &NewMessage)],
    new_ids: &mut HashMap<FixKey, i64>,
) -> Result<(), StoreError> {
    let mut insert = Query::insert();
    insert.into_table("locations").columns(LOCATION_COLUMNS);
    for (_, device, message) in chunk {
        let NewBody::Location { location, payload, original } = &message.body else { continue };
        let stored = Stored { location, payload, original: original.as_ref() };
        insert.values_panic(location_row(*device, message, stored));
    }
    insert
        .on_conflict(OnConflict::columns(FIX_KEY).do_nothing().to_owned())
        .returning(Query::returning().columns(["id", "device_id", "tst", "lat_e7", "lon_e7"]));
    let returned = txn.query_all(&insert).await.map_err(StoreError::query("insert locations"))?;
    for row in returned {
        let read = |i| row.try_get_by_index::<i64>(i).map_err(StoreError::query("read fix key"));
        new_ids.insert((read(1)?, read(2)?, read(3)?, read(4)?), read(0)?);
    }
    Ok(())
}

/// The time of each device's last position (`None` for a device without one).
async fn last_tsts(
    txn: &DatabaseTransaction,
    devices: &[i64],
) -> Result<HashMap<i64, Option<i64>>, StoreError> {
    let select = Query::select()
        .columns(["id", "last_tst"])
        .from("devices")
        .and_where(Expr::col("id").is_in(devices.iter().copied()))
        .to_owned();
    let rows = txn.query_all(&select).await.map_err(StoreError::query("read last positions"))?;
    let mut last = HashMap::with_capacity(rows.len());
    for row in rows {
        let id = row.try_get_by_index::<i64>(0).map_err(StoreError::query("read device id"))?;
        let tst = row
            .try_get_by_index::<Option<i64>>(1)
            .map_err(StoreError::query("read last position time"))?;
        last.insert(id, tst);
    }
    Ok(last)
}
