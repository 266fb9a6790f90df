//! The retention rules and the deletion log in SQL, and [`RetentionStore`] for [`SqlStore`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use pista_core::{DeviceKey, DeviceName, UserName};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult};

use super::{Deleted, DeletedBy, RetentionRule, RetentionStore, Selector, Span, StoredDeletion};
use crate::error::StoreError;
use crate::read::{get, name, parse};
use crate::sql::SqlStore;

/// The columns of a logged deletion besides its id, in the order they are written and read.
const DELETION_COLUMNS: [&str; 10] = [
    "at",
    "by_whom",
    "user_name",
    "device_name",
    "everything",
    "range_from",
    "range_to",
    "counts",
    "total",
    "error",
];

#[async_trait]
impl RetentionStore for SqlStore {
    async fn delete(
        &self,
        selector: &Selector,
        by: DeletedBy,
        at: i64,
        chunk: u64,
    ) -> Result<Deleted, StoreError> {
        self.delete_selected(selector, by, at, chunk).await
    }

    async fn deletions(&self, limit: u64) -> Result<Vec<StoredDeletion>, StoreError> {
        let select = Query::select()
            .column("id")
            .columns(DELETION_COLUMNS)
            .from("deletions")
            .order_by("at", Order::Desc)
            .order_by("id", Order::Desc)
            .limit(limit)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read deletions"))?;
        rows.iter().map(deletion).collect()
    }

    async fn retention_rules(&self) -> Result<Vec<RetentionRule>, StoreError> {
        let select = Query::select()
            .columns(["user_name", "device_name", "days", "updated_at"])
            .from("retention_rules")
            .order_by("user_name", Order::Asc)
            .order_by("device_name", Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read rules"))?;
        rows.iter()
            .map(|row| {
                let device = name(row, 1)?;
                let days: i64 = get(row, 2)?;
                Ok(RetentionRule {
                    user: parse(UserName::parse(&name(row, 0)?))?,
                    device: match device.as_str() {
                        "" => None,
                        text => Some(parse(DeviceName::parse(text))?),
                    },
                    days: u64::try_from(days).map_err(|_| StoreError::Corrupt {
                        what: "retention rule",
                        detail: format!("{days} days"),
                    })?,
                    updated_at: get(row, 3)?,
                })
            })
            .collect()
    }

    async fn set_retention_rule(
        &self,
        user: &UserName,
        device: Option<&DeviceName>,
        days: u64,
        at: i64,
    ) -> Result<bool, StoreError> {
        let days = i64::try_from(days).unwrap_or(i64::MAX);
        let device = device.map_or("", DeviceName::as_str);
        let _write = self.writes.lock().await;
        let txn = self.begin_write().await?;
        let delete = Query::delete()
            .from_table("retention_rules")
            .and_where(Expr::col("user_name").eq(user.as_str()))
            .and_where(Expr::col("device_name").eq(device))
            .to_owned();
        let result = txn.execute(&delete).await.map_err(StoreError::query("replace rule"))?;
        let insert = Query::insert()
            .into_table("retention_rules")
            .columns(["user_name", "device_name", "days", "updated_at"])
            .values_panic([
                Expr::val(user.as_str().to_owned()),
                Expr::val(device.to_owned()),
                Expr::val(days),
                Expr::val(at),
            ])
            .to_owned();
        txn.execute(&insert).await.map_err(StoreError::query("insert rule"))?;
        txn.commit().await.map_err(StoreError::query("commit"))?;
        Ok(result.rows_affected() > 0)
    }

    async fn remove_retention_rule(
        &self,
        user: &UserName,
        device: Option<&DeviceName>,
    ) -> Result<bool, StoreError> {
        let delete = Query::delete()
            .from_table("retention_rules")
            .and_where(Expr::col("user_name").eq(user.as_str()))
            .and_where(Expr::col("device_name").eq(device.map_or("", DeviceName::as_str)))
            .to_owned();
        let result = self.db.execute(&delete).await.map_err(StoreError::query("remove rule"))?;
        Ok(result.rows_affected() > 0)
    }

    async fn known_devices(&self) -> Result<Vec<DeviceKey>, StoreError> {
        let select = Query::select()
            .columns(["user_name", "device_name"])
            .from("devices")
            .order_by("user_name", Order::Asc)
            .order_by("device_name", Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("list devices"))?;
        rows.iter().map(|row| parse(DeviceKey::parse(&name(row, 0)?, &name(row, 1)?))).collect()
    }
}

impl SqlStore {
    /// Appends a deletion to the log; returns its id.
    pub(super) async fn log_deletion(
        &self,
        selector: &Selector,
        by: DeletedBy,
        at: i64,
        deleted: &Deleted,
        error: Option<String>,
    ) -> Result<i64, StoreError> {
        let (from, to) = match selector.span {
            Span::All => (None, None),
            Span::Range { from, to } => (from, to),
        };
        let counts = serde_json::to_string(&deleted.counts)
            .map_err(|e| StoreError::Corrupt { what: "deletion counts", detail: e.to_string() })?;
        let total = i64::try_from(deleted.total()).unwrap_or(i64::MAX);
        let insert = Query::insert()
            .into_table("deletions")
            .columns(DELETION_COLUMNS)
            .values_panic([
                Expr::val(at),
                Expr::val(by.as_str()),
                Expr::val(selector.user.as_str().to_owned()),
                Expr::val(selector.device.as_ref().map_or("", DeviceName::as_str).to_owned()),
                Expr::val(i16::from(selector.span == Span::All)),
                Expr::val(from),
                Expr::val(to),
                Expr::val(counts),
                Expr::val(total),
                Expr::val(error),
            ])
            .to_owned();
        crate::dialect::insert_id(&self.db, insert).await.map_err(StoreError::query("log deletion"))
    }
}

fn deletion(row: &QueryResult) -> Result<StoredDeletion, StoreError> {
    let device: String = get(row, 4)?;
    let everything: i16 = get(row, 5)?;
    let counts: String = get(row, 8)?;
    let counts: BTreeMap<String, u64> = serde_json::from_str(&counts).map_err(|e| {
        StoreError::Corrupt { what: "deletion counts", detail: format!("{counts:?}: {e}") }
    })?;
    let total: i64 = get(row, 9)?;
    Ok(StoredDeletion {
        id: get(row, 0)?,
        at: get(row, 1)?,
        by: DeletedBy::parse(&get::<String>(row, 2)?)?,
        user: get(row, 3)?,
        device: (!device.is_empty()).then_some(device),
        everything: everything != 0,
        from: get(row, 6)?,
        to: get(row, 7)?,
        counts,
        total: total.unsigned_abs(),
        error: get(row, 10)?,
    })
}
