//! [`DerivedStore`] on the SQL backend: short statements on `geo_cells`, `fences`,
//! `fence_states`, `alerts` and the address columns of `locations` (the webhook delivery log is
//! in `deliveries`).

use std::collections::HashMap;

use async_trait::async_trait;
use pista_core::{DeviceKey, UserName};
use sea_orm::sea_query::{Expr, ExprTrait, JoinType, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult};

use super::{
    AlertQuery, DerivedStore, FenceRecord, FenceSource, FenceStateChange, FenceStateRow, GeoCell,
    JobName, NewAlert, NewDelivery, NewFence, NewJob, QueuedDelivery, RecordedAlert, StoredAlert,
    StoredDelivery, StoredFence, StoredJob, Ungeocoded,
};
use crate::dialect::{insert_id, insert_new};
use crate::error::StoreError;
use crate::read::{get, name, parse};
use crate::revision;
use crate::sql::SqlStore;

/// Writes one changed side of a fence if the stored side is still the one the change started
/// from; returns whether it was.
async fn write_side(
    txn: &DatabaseTransaction,
    device: i64,
    change: &FenceStateChange,
) -> Result<bool, StoreError> {
    let new = change.state.side();
    let Some(was) = change.was else {
        let insert = Query::insert()
            .into_table("fence_states")
            .columns(["device_id", "fence_id", "inside", "since", "pending", "last_tst"])
            .values_panic([
                Expr::val(device),
                Expr::val(change.state.fence_id),
                Expr::val(i16::from(new.inside)),
                Expr::val(new.since),
                Expr::val(new.pending),
                Expr::val(new.last_tst),
            ])
            .to_owned();
        let inserted = insert_new(txn, insert, &["device_id", "fence_id"])
            .await
            .map_err(StoreError::query("write fence state"))?;
        return Ok(inserted.is_some());
    };
    let pending = match was.pending {
        Some(pending) => Expr::col("pending").eq(pending),
        None => Expr::col("pending").is_null(),
    };
    let update = Query::update()
        .table("fence_states")
        .value("inside", i16::from(new.inside))
        .value("since", new.since)
        .value("pending", new.pending)
        .value("last_tst", new.last_tst)
        .and_where(Expr::col("device_id").eq(device))
        .and_where(Expr::col("fence_id").eq(change.state.fence_id))
        .and_where(Expr::col("inside").eq(i16::from(was.inside)))
        .and_where(Expr::col("since").eq(was.since))
        .and_where(pending)
        .and_where(Expr::col("last_tst").eq(was.last_tst))
        .to_owned();
    let result = txn.execute(&update).await.map_err(StoreError::query("write fence state"))?;
    Ok(result.rows_affected() == 1)
}

#[async_trait]
impl DerivedStore for SqlStore {
    async fn geo_cell(&self, cell: &str) -> Result<Option<GeoCell>, StoreError> {
        let select = Query::select()
            .columns(["cc", "addr", "provider"])
            .from("geo_cells")
            .and_where(Expr::col("cell").eq(cell))
            .to_owned();
        let row = self.db.query_one(&select).await.map_err(StoreError::query("read geo cell"))?;
        row.map(|row| {
            Ok(GeoCell { cc: get(&row, 0)?, addr: get(&row, 1)?, provider: get(&row, 2)? })
        })
        .transpose()
    }

    async fn record_addresses(
        &self,
        cells: &[(String, GeoCell)],
        fixes: &[(i64, Option<String>, Option<String>)],
        at: i64,
    ) -> Result<(), StoreError> {
        let _write = self.writes.lock().await;
        let txn = self.begin_write().await?;
        for (cell, value) in cells {
            txn.execute(&geo_cell_upsert(cell, value, at))
                .await
                .map_err(StoreError::query("write geo cell"))?;
        }
        for (id, cc, addr) in fixes {
            let update = Query::update()
                .table("locations")
                .value("cc", cc.clone())
                .value("addr", addr.clone())
                .value("geo_at", at)
                .and_where(Expr::col("id").eq(*id))
                .to_owned();
            txn.execute(&update).await.map_err(StoreError::query("write addresses"))?;
        }
        txn.commit().await.map_err(StoreError::query("commit"))?;
        Ok(())
    }

    async fn ungeocoded(
        &self,
        after: i64,
        before: i64,
        limit: u64,
    ) -> Result<Vec<Ungeocoded>, StoreError> {
        let select = Query::select()
            .columns([("l", "id"), ("l", "lat"), ("l", "lon")])
            .columns([("d", "user_name"), ("d", "device_name")])
            .from_as("locations", "l")
            .join_as(
                JoinType::InnerJoin,
                "devices",
                "d",
                Expr::col(("d", "id")).equals(("l", "device_id")),
            )
            .and_where(Expr::col(("l", "geo_at")).is_null())
            .and_where(Expr::col(("l", "id")).gt(after))
            .and_where(Expr::col(("l", "received_at")).lt(before))
            .order_by(("l", "id"), Order::Asc)
            .limit(limit)
            .to_owned();
        let rows =
            self.db.query_all(&select).await.map_err(StoreError::query("read ungeocoded"))?;
        rows.iter()
            .map(|row| {
                let key = parse(DeviceKey::parse(&name(row, 3)?, &name(row, 4)?))?;
                Ok(Ungeocoded { id: get(row, 0)?, key, lat: get(row, 1)?, lon: get(row, 2)? })
            })
            .collect()
    }

    async fn fences(&self) -> Result<Vec<StoredFence>, StoreError> {
        let select = Query::select()
            .columns(
                [
                    "id",
                    "source",
                    "wtst",
                    "user_name",
                    "name",
                    "lat",
                    "lon",
                    "radius",
                    "polygon",
                    "webhook",
                    "updated_at",
                ]
                .map(|c| ("f", c)),
            )
            .columns([("d", "user_name"), ("d", "device_name")])
            .from_as("fences", "f")
            .join_as(
                JoinType::LeftJoin,
                "devices",
                "d",
                Expr::col(("d", "id")).equals(("f", "device_id")),
            )
            .order_by(("f", "id"), Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read fences"))?;
        rows.iter().map(fence).collect()
    }

    async fn add_fence(&self, fence: &NewFence, at: i64) -> Result<i64, StoreError> {
        let _write = self.writes.lock().await;
        let values = fence_values(fence, at)?;
        let insert = Query::insert()
            .into_table("fences")
            .columns(FENCE_COLUMNS)
            .values_panic(values.map(Expr::val))
            .to_owned();
        let txn = self.begin_write().await?;
        let id = insert_id(&txn, insert).await.map_err(StoreError::query("add fence"))?;
        bump_fences(&txn).await?;
        txn.commit().await.map_err(StoreError::query("commit"))?;
        Ok(id)
    }

    async fn update_fence(&self, id: i64, fence: &NewFence, at: i64) -> Result<bool, StoreError> {
        let _write = self.writes.lock().await;
        let values = fence_values(fence, at)?;
        let new_polygon = match &values[6] {
            sea_orm::Value::String(Some(text)) => Some(text.as_str().to_owned()),
            _ => None,
        };
        let mut update = Query::update();
        update.table("fences").and_where(Expr::col("id").eq(id));
        update.and_where(Expr::col("source").ne(FenceSource::App.as_str()));
        for (column, value) in FENCE_COLUMNS.into_iter().zip(values) {
            update.value(column, value);
        }
        // The devices' sides of an old shape say nothing about a new one: the next fix of
        // each device records its side again instead of firing an enter or leave. A new name
        // or webhook keeps them.
        let shape = Query::select()
            .columns(["lat", "lon", "radius", "polygon"])
            .from("fences")
            .and_where(Expr::col("id").eq(id))
            .to_owned();
        let states = Query::delete()
            .from_table("fence_states")
            .and_where(Expr::col("fence_id").eq(id))
            .to_owned();
        let txn = self.begin_write().await?;
        let old = txn.query_one(&shape).await.map_err(StoreError::query("read fence"))?;
        let old: Option<(f64, f64, Option<f64>, Option<String>)> = old
            .map(|row| {
                Ok::<_, StoreError>((get(&row, 0)?, get(&row, 1)?, get(&row, 2)?, get(&row, 3)?))
            })
            .transpose()?;
        let moved = old.is_some_and(|(lat, lon, radius, polygon)| {
            (lat, lon, radius, polygon) != (fence.lat, fence.lon, fence.radius, new_polygon)
        });
        let result = txn.execute(&update).await.map_err(StoreError::query("update fence"))?;
        if result.rows_affected() > 0 && moved {
            txn.execute(&states).await.map_err(StoreError::query("delete fence states"))?;
        }
        if result.rows_affected() > 0 {
            bump_fences(&txn).await?;
        }
        txn.commit().await.map_err(StoreError::query("commit"))?;
        Ok(result.rows_affected() > 0)
    }

    async fn remove_fence(&self, id: i64) -> Result<bool, StoreError> {
        let _write = self.writes.lock().await;
        let txn = self.begin_write().await?;
        let states = Query::delete()
            .from_table("fence_states")
            .and_where(Expr::col("fence_id").eq(id))
            .to_owned();
        txn.execute(&states).await.map_err(StoreError::query("delete fence states"))?;
        let fence =
            Query::delete().from_table("fences").and_where(Expr::col("id").eq(id)).to_owned();
        let result = txn.execute(&fence).await.map_err(StoreError::query("delete fence"))?;
        if result.rows_affected() > 0 {
            bump_fences(&txn).await?;
        }
        txn.commit().await.map_err(StoreError::query("commit"))?;
        Ok(result.rows_affected() > 0)
    }

    async fn fence_revision(&self) -> Result<i64, StoreError> {
        revision::read(&self.db, revision::FENCES).await
    }

    async fn deletion_revision(&self) -> Result<i64, StoreError> {
        revision::read(&self.db, revision::DELETIONS).await
    }

    fn batch_revisions(&self) -> Option<(i64, i64)> {
        self.answers().seen.map(|seen| (seen.fences, seen.deletions))
    }

    async fn fence_states(&self) -> Result<Vec<FenceStateRow>, StoreError> {
        let select = Query::select()
            .columns(["fence_id", "inside", "since", "pending", "last_tst"].map(|c| ("s", c)))
            .columns([("d", "user_name"), ("d", "device_name")])
            .from_as("fence_states", "s")
            .join_as(
                JoinType::InnerJoin,
                "devices",
                "d",
                Expr::col(("d", "id")).equals(("s", "device_id")),
            )
            .order_by(("s", "id"), Order::Asc)
            .to_owned();
        let rows =
            self.db.query_all(&select).await.map_err(StoreError::query("read fence states"))?;
        rows.iter()
            .map(|row| {
                let inside: i16 = get(row, 1)?;
                Ok(FenceStateRow {
                    key: parse(DeviceKey::parse(&name(row, 5)?, &name(row, 6)?))?,
                    fence_id: get(row, 0)?,
                    inside: inside != 0,
                    since: get(row, 2)?,
                    pending: get(row, 3)?,
                    last_tst: get(row, 4)?,
                })
            })
            .collect()
    }

    async fn record_fence_events(
        &self,
        states: &[FenceStateChange],
        alerts: &[NewAlert],
    ) -> Result<FenceRecord, StoreError> {
        let _write = self.writes.lock().await;
        let txn = self.begin_write().await?;
        // Held shared until the commit: a deletion in another process either committed before
        // (its device is not found below, and what it raised goes with it) or waits for this.
        revision::read_shared(&txn).await?;
        let mut found = HashMap::new();
        let mut state_devices = Vec::with_capacity(states.len());
        for change in states {
            state_devices.push(known_device(&txn, &mut found, &change.state.key).await?);
        }
        let mut alert_devices = Vec::with_capacity(alerts.len());
        for alert in alerts {
            alert_devices.push(known_device(&txn, &mut found, &alert.key).await?);
        }
        for (change, device) in states.iter().zip(state_devices) {
            let Some(device) = device else { continue };
            if !write_side(&txn, device, change).await? {
                txn.rollback().await.map_err(StoreError::query("rollback"))?;
                tracing::debug!(device = %change.state.key, fence = change.state.fence_id,
                    "fence state changed meanwhile; evaluating again");
                return Ok(FenceRecord::Stale);
            }
        }
        let mut ids = Vec::with_capacity(alerts.len());
        for (alert, device) in alerts.iter().zip(alert_devices) {
            let Some(device) = device else {
                ids.push(None);
                continue;
            };
            let insert = Query::insert()
                .into_table("alerts")
                .columns([
                    "device_id",
                    "fence_id",
                    "event",
                    "tst",
                    "meters",
                    "payload",
                    "created_at",
                ])
                .values_panic([
                    Expr::val(device),
                    Expr::val(alert.fence_id),
                    Expr::val(if alert.entered { "enter" } else { "leave" }),
                    Expr::val(alert.tst),
                    Expr::val(alert.meters),
                    Expr::val(alert.payload.clone()),
                    Expr::val(alert.at),
                ])
                .to_owned();
            let id = insert_id(&txn, insert).await.map_err(StoreError::query("write alert"))?;
            let queued = self.queue_deliveries(&txn, id, &alert.webhooks, alert.at).await?;
            ids.push(Some(RecordedAlert { id, queued }));
        }
        txn.commit().await.map_err(StoreError::query("commit"))?;
        Ok(FenceRecord::Recorded(ids))
    }

    async fn alerts(&self, key: Option<&DeviceKey>) -> Result<Vec<StoredAlert>, StoreError> {
        let mut select = alert_select();
        select.order_by(("a", "id"), Order::Asc);
        if let Some(key) = key {
            select
                .and_where(Expr::col(("d", "user_name")).eq(key.user.as_str()))
                .and_where(Expr::col(("d", "device_name")).eq(key.device.as_str()));
        }
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read alerts"))?;
        rows.iter().map(alert_row).collect()
    }

    async fn alert_page(&self, query: &AlertQuery) -> Result<Vec<StoredAlert>, StoreError> {
        let mut select = alert_select();
        select.order_by(("a", "id"), Order::Desc).limit(query.limit);
        if let Some(key) = &query.key {
            select
                .and_where(Expr::col(("d", "user_name")).eq(key.user.as_str()))
                .and_where(Expr::col(("d", "device_name")).eq(key.device.as_str()));
        }
        if let Some(from) = query.from {
            select.and_where(Expr::col(("a", "tst")).gte(from));
        }
        if let Some(to) = query.to {
            select.and_where(Expr::col(("a", "tst")).lte(to));
        }
        if let Some(after) = query.after {
            select.and_where(Expr::col(("a", "id")).gt(after));
        }
        if let Some(before) = query.before {
            select.and_where(Expr::col(("a", "id")).lt(before));
        }
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read alerts"))?;
        rows.iter().map(alert_row).collect()
    }

    async fn record_delivery(&self, delivery: &NewDelivery) -> Result<i64, StoreError> {
        let _write = self.writes.lock().await;
        self.insert_delivery(delivery).await
    }

    async fn deliveries(&self, alert_id: Option<i64>) -> Result<Vec<StoredDelivery>, StoreError> {
        self.select_deliveries(alert_id).await
    }

    async fn queued_deliveries(&self) -> Result<Vec<QueuedDelivery>, StoreError> {
        self.select_queued().await
    }

    async fn finish_delivery(&self, id: i64) -> Result<(), StoreError> {
        let _write = self.writes.lock().await;
        self.delete_queued(id).await
    }

    async fn job_names(&self) -> Result<Vec<JobName>, StoreError> {
        self.select_job_names().await
    }

    async fn put_job_names(&self, names: &[JobName], at: i64) -> Result<(), StoreError> {
        let _write = self.writes.lock().await;
        self.upsert_job_names(names, at).await
    }

    async fn record_job(
        &self,
        key: &DeviceKey,
        at: i64,
        start: Option<&NewJob>,
    ) -> Result<Vec<StoredJob>, StoreError> {
        let _write = self.writes.lock().await;
        self.end_and_start_job(key, at, start).await
    }

    async fn jobs(
        &self,
        key: Option<&DeviceKey>,
        running: bool,
    ) -> Result<Vec<StoredJob>, StoreError> {
        self.select_jobs(key, running).await
    }
}

fn geo_cell_upsert(cell: &str, value: &GeoCell, at: i64) -> sea_orm::sea_query::InsertStatement {
    Query::insert()
        .into_table("geo_cells")
        .columns(["cell", "cc", "addr", "provider", "created_at"])
        .values_panic([
            Expr::val(cell),
            Expr::val(value.cc.clone()),
            Expr::val(value.addr.clone()),
            Expr::val(value.provider.clone()),
            Expr::val(at),
        ])
        .on_conflict(
            OnConflict::column("cell")
                .update_columns(["cc", "addr", "provider", "created_at"])
                .to_owned(),
        )
        .to_owned()
}

const FENCE_COLUMNS: [&str; 9] =
    ["source", "user_name", "name", "lat", "lon", "radius", "polygon", "webhook", "updated_at"];

fn fence_values(fence: &NewFence, at: i64) -> Result<[sea_orm::Value; 9], StoreError> {
    let polygon = match &fence.polygon {
        Some(points) => Some(
            serde_json::to_string(
                &points.iter().map(|(lat, lon)| [*lat, *lon]).collect::<Vec<_>>(),
            )
            .map_err(|e| StoreError::Corrupt { what: "fence polygon", detail: e.to_string() })?,
        ),
        None => None,
    };
    Ok([
        fence.source.as_str().into(),
        fence.user.as_ref().map(|user| user.as_str().to_owned()).into(),
        fence.name.clone().into(),
        fence.lat.into(),
        fence.lon.into(),
        fence.radius.into(),
        polygon.into(),
        fence.webhook.clone().into(),
        at.into(),
    ])
}

fn fence(row: &QueryResult) -> Result<StoredFence, StoreError> {
    let polygon: Option<String> = get(row, 8)?;
    let polygon = polygon
        .map(|text| {
            serde_json::from_str::<Vec<[f64; 2]>>(&text)
                .map(|points| points.into_iter().map(|[lat, lon]| (lat, lon)).collect())
                .map_err(|e| StoreError::Corrupt { what: "fence polygon", detail: e.to_string() })
        })
        .transpose()?;
    let owner_user: Option<String> = get(row, 11)?;
    let owner_device: Option<String> = get(row, 12)?;
    let owner = match (owner_user, owner_device) {
        (Some(user), Some(device)) => Some(parse(DeviceKey::parse(&user, &device))?),
        _ => None,
    };
    let user: Option<String> = get(row, 3)?;
    let user = match (&owner, user) {
        (Some(owner), _) => Some(owner.user.clone()),
        (None, Some(user)) => Some(parse(UserName::parse(&user))?),
        (None, None) => None,
    };
    let source: String = get(row, 1)?;
    Ok(StoredFence {
        id: get(row, 0)?,
        source: FenceSource::parse(&source),
        owner,
        wtst: get(row, 2)?,
        user,
        name: get(row, 4)?,
        lat: get(row, 5)?,
        lon: get(row, 6)?,
        radius: get(row, 7)?,
        polygon,
        webhook: get(row, 9)?,
        updated_at: get(row, 10)?,
    })
}

impl SqlStore {
    pub(super) async fn device_id(&self, key: &DeviceKey) -> Result<i64, StoreError> {
        self.find_device(key).await?.ok_or_else(|| StoreError::Corrupt {
            what: "device",
            detail: format!("{key} has no row"),
        })
    }
}

/// Counts a change of the fence list (see `schema/revisions`) in the change's transaction, so
/// every ingest worker reads the list again before its next batch.
pub(crate) async fn bump_fences(conn: &impl ConnectionTrait) -> Result<(), StoreError> {
    revision::bump(conn, revision::FENCES).await
}

/// `key`'s device id as `txn` sees it, each key looked up once; `None` when it has no row (it
/// was deleted after the fix was stored).
async fn known_device(
    txn: &DatabaseTransaction,
    found: &mut HashMap<DeviceKey, Option<i64>>,
    key: &DeviceKey,
) -> Result<Option<i64>, StoreError> {
    if let Some(id) = found.get(key) {
        return Ok(*id);
    }
    let id = crate::read::find_device_on(txn, key).await?;
    if id.is_none() {
        tracing::debug!(device = %key, "device deleted meanwhile; its fence events are dropped");
    }
    found.insert(key.clone(), id);
    Ok(id)
}

/// The columns [`alert_row`] reads, from `alerts` joined to their devices.
fn alert_select() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .columns(
            ["id", "fence_id", "event", "tst", "meters", "payload", "created_at"].map(|c| ("a", c)),
        )
        .columns([("d", "user_name"), ("d", "device_name")])
        .from_as("alerts", "a")
        .join_as(
            JoinType::InnerJoin,
            "devices",
            "d",
            Expr::col(("d", "id")).equals(("a", "device_id")),
        )
        .to_owned()
}

fn alert_row(row: &QueryResult) -> Result<StoredAlert, StoreError> {
    Ok(StoredAlert {
        id: get(row, 0)?,
        key: parse(DeviceKey::parse(&name(row, 7)?, &name(row, 8)?))?,
        fence_id: get(row, 1)?,
        event: get(row, 2)?,
        tst: get(row, 3)?,
        meters: get(row, 4)?,
        payload: get(row, 5)?,
        created_at: get(row, 6)?,
    })
}
