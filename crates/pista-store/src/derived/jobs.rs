//! Activo job tracking on the SQL backend: `job_names` (one row per device, kind and number,
//! replaced when the box renames it) and `jobs` (one row per job a device ran; a device has at
//! most one running, because starting a job ends every running one in the same transaction).
//! The trait methods in `sql` call these.

use pista_core::DeviceKey;
use sea_orm::sea_query::{Expr, ExprTrait, JoinType, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult};

use super::{JobName, NewJob, StoredJob};
use crate::dialect::insert_id;
use crate::error::StoreError;
use crate::read::{get, name, parse};
use crate::sql::SqlStore;

const JOB_COLUMNS: [&str; 7] =
    ["id", "tid", "job", "jobname", "started_at", "ended_at", "duration"];

impl SqlStore {
    pub(super) async fn select_job_names(&self) -> Result<Vec<JobName>, StoreError> {
        let select = Query::select()
            .columns(["kind", "job", "number", "name"].map(|c| ("n", c)))
            .columns([("d", "user_name"), ("d", "device_name")])
            .from_as("job_names", "n")
            .join_as(
                JoinType::InnerJoin,
                "devices",
                "d",
                Expr::col(("d", "id")).equals(("n", "device_id")),
            )
            .order_by(("n", "id"), Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read job names"))?;
        rows.iter()
            .map(|row| {
                Ok(JobName {
                    key: parse(DeviceKey::parse(&name(row, 4)?, &name(row, 5)?))?,
                    kind: get(row, 0)?,
                    job: get(row, 1)?,
                    number: get(row, 2)?,
                    name: get(row, 3)?,
                })
            })
            .collect()
    }

    pub(super) async fn upsert_job_names(
        &self,
        names: &[JobName],
        at: i64,
    ) -> Result<(), StoreError> {
        let mut devices = Vec::with_capacity(names.len());
        for entry in names {
            devices.push(self.device_id(&entry.key).await?);
        }
        let txn = self.begin_write().await?;
        for (entry, device) in names.iter().zip(devices) {
            let insert = Query::insert()
                .into_table("job_names")
                .columns(["device_id", "kind", "job", "number", "name", "updated_at"])
                .values_panic([
                    Expr::val(device),
                    Expr::val(entry.kind.clone()),
                    Expr::val(entry.job),
                    Expr::val(entry.number),
                    Expr::val(entry.name.clone()),
                    Expr::val(at),
                ])
                .on_conflict(
                    OnConflict::columns(["device_id", "kind", "job", "number"])
                        .update_columns(["name", "updated_at"])
                        .to_owned(),
                )
                .to_owned();
            txn.execute(&insert).await.map_err(StoreError::query("write job name"))?;
        }
        txn.commit().await.map_err(StoreError::query("commit"))?;
        Ok(())
    }

    pub(super) async fn end_and_start_job(
        &self,
        key: &DeviceKey,
        at: i64,
        start: Option<&NewJob>,
    ) -> Result<Vec<StoredJob>, StoreError> {
        let device = self.device_id(key).await?;
        let txn = self.begin_write().await?;
        let running = Query::select()
            .columns(JOB_COLUMNS)
            .from("jobs")
            .and_where(Expr::col("device_id").eq(device))
            .and_where(Expr::col("ended_at").is_null())
            .order_by("id", Order::Asc)
            .to_owned();
        let rows = txn.query_all(&running).await.map_err(StoreError::query("read running jobs"))?;
        let mut jobs = Vec::with_capacity(rows.len() + 1);
        for row in &rows {
            let mut job = stored_job(row, key.clone())?;
            let duration = Ord::max(at - job.started_at, 0);
            let update = Query::update()
                .table("jobs")
                .value("ended_at", at)
                .value("duration", duration)
                .and_where(Expr::col("id").eq(job.id))
                .to_owned();
            txn.execute(&update).await.map_err(StoreError::query("end job"))?;
            job.ended_at = Some(at);
            job.duration = Some(duration);
            jobs.push(job);
        }
        if let Some(start) = start {
            let insert = Query::insert()
                .into_table("jobs")
                .columns(["device_id", "tid", "job", "jobname", "started_at"])
                .values_panic([
                    Expr::val(device),
                    Expr::val(start.tid.clone()),
                    Expr::val(start.job.clone()),
                    Expr::val(start.jobname.clone()),
                    Expr::val(start.started_at),
                ])
                .to_owned();
            let id = insert_id(&txn, insert).await.map_err(StoreError::query("start job"))?;
            jobs.push(StoredJob {
                id,
                key: key.clone(),
                tid: start.tid.clone(),
                job: start.job.clone(),
                jobname: start.jobname.clone(),
                started_at: start.started_at,
                ended_at: None,
                duration: None,
            });
        }
        txn.commit().await.map_err(StoreError::query("commit"))?;
        Ok(jobs)
    }

    pub(super) async fn select_jobs(
        &self,
        key: Option<&DeviceKey>,
        running: bool,
    ) -> Result<Vec<StoredJob>, StoreError> {
        let mut select = Query::select()
            .columns(JOB_COLUMNS.map(|c| ("j", c)))
            .columns([("d", "user_name"), ("d", "device_name")])
            .from_as("jobs", "j")
            .join_as(
                JoinType::InnerJoin,
                "devices",
                "d",
                Expr::col(("d", "id")).equals(("j", "device_id")),
            )
            .order_by(("j", "started_at"), Order::Asc)
            .order_by(("j", "id"), Order::Asc)
            .to_owned();
        if let Some(key) = key {
            select
                .and_where(Expr::col(("d", "user_name")).eq(key.user.as_str()))
                .and_where(Expr::col(("d", "device_name")).eq(key.device.as_str()));
        }
        if running {
            select.and_where(Expr::col(("j", "ended_at")).is_null());
        }
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read jobs"))?;
        rows.iter()
            .map(|row| {
                let key = parse(DeviceKey::parse(&name(row, 7)?, &name(row, 8)?))?;
                stored_job(row, key)
            })
            .collect()
    }
}

/// A `jobs` row read with [`JOB_COLUMNS`] first.
fn stored_job(row: &QueryResult, key: DeviceKey) -> Result<StoredJob, StoreError> {
    Ok(StoredJob {
        id: get(row, 0)?,
        key,
        tid: get(row, 1)?,
        job: get(row, 2)?,
        jobname: get(row, 3)?,
        started_at: get(row, 4)?,
        ended_at: get(row, 5)?,
        duration: get(row, 6)?,
    })
}
