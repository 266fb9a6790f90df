//! The webhook delivery log on the SQL backend (`webhook_deliveries`): one row per POST of an
//! alert to a webhook, and one per delivery dropped before any POST; and the queue of
//! deliveries not ended yet (`webhook_queue`), written with the alert and emptied as each
//! delivery ends. The trait methods in `sql` call these.

use sea_orm::sea_query::{Expr, ExprTrait, JoinType, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult};

use super::{NewDelivery, QueuedDelivery, StoredDelivery};
use crate::dialect::insert_id;
use crate::error::StoreError;
use crate::read::get;
use crate::sql::SqlStore;

const COLUMNS: [&str; 7] = ["alert_id", "url", "attempt", "status", "error", "delivered", "at"];

impl SqlStore {
    /// Queues the alert's deliveries inside the transaction that records it.
    pub(super) async fn queue_deliveries(
        &self,
        txn: &DatabaseTransaction,
        alert_id: i64,
        urls: &[String],
        at: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let mut queued = Vec::with_capacity(urls.len());
        for url in urls {
            let insert = Query::insert()
                .into_table("webhook_queue")
                .columns(["alert_id", "url", "created_at"])
                .values_panic([Expr::val(alert_id), Expr::val(url.clone()), Expr::val(at)])
                .to_owned();
            let id = insert_id(txn, insert).await.map_err(StoreError::query("queue delivery"))?;
            queued.push((id, url.clone()));
        }
        Ok(queued)
    }

    pub(super) async fn select_queued(&self) -> Result<Vec<QueuedDelivery>, StoreError> {
        let select = Query::select()
            .columns([("q", "id"), ("q", "alert_id"), ("q", "url"), ("a", "payload")])
            .from_as("webhook_queue", "q")
            .join_as(
                JoinType::InnerJoin,
                "alerts",
                "a",
                Expr::col(("a", "id")).equals(("q", "alert_id")),
            )
            .order_by(("q", "id"), Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read queue"))?;
        rows.iter()
            .map(|row| {
                Ok(QueuedDelivery {
                    id: get(row, 0)?,
                    alert_id: get(row, 1)?,
                    url: get(row, 2)?,
                    payload: get(row, 3)?,
                })
            })
            .collect()
    }

    pub(super) async fn delete_queued(&self, id: i64) -> Result<(), StoreError> {
        let delete = Query::delete()
            .from_table("webhook_queue")
            .and_where(Expr::col("id").eq(id))
            .to_owned();
        self.db.execute(&delete).await.map_err(StoreError::query("finish delivery"))?;
        Ok(())
    }

    pub(super) async fn insert_delivery(&self, delivery: &NewDelivery) -> Result<i64, StoreError> {
        let insert = Query::insert()
            .into_table("webhook_deliveries")
            .columns(COLUMNS)
            .values_panic([
                Expr::val(delivery.alert_id),
                Expr::val(delivery.url.clone()),
                Expr::val(small(delivery.attempt)),
                Expr::val(delivery.status.map(small)),
                Expr::val(delivery.error.clone()),
                Expr::val(i16::from(delivery.delivered)),
                Expr::val(delivery.at),
            ])
            .to_owned();
        insert_id(&self.db, insert).await.map_err(StoreError::query("write delivery"))
    }

    pub(super) async fn select_deliveries(
        &self,
        alert_id: Option<i64>,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        let mut select = Query::select()
            .column("id")
            .columns(COLUMNS)
            .from("webhook_deliveries")
            .order_by("id", Order::Asc)
            .to_owned();
        if let Some(alert_id) = alert_id {
            select.and_where(Expr::col("alert_id").eq(alert_id));
        }
        let rows =
            self.db.query_all(&select).await.map_err(StoreError::query("read deliveries"))?;
        rows.iter().map(delivery).collect()
    }
}

fn delivery(row: &QueryResult) -> Result<StoredDelivery, StoreError> {
    let status: Option<i16> = get(row, 4)?;
    let delivered: i16 = get(row, 6)?;
    Ok(StoredDelivery {
        id: get(row, 0)?,
        alert_id: get(row, 1)?,
        url: get(row, 2)?,
        attempt: unsigned(get(row, 3)?)?,
        status: status.map(unsigned).transpose()?,
        error: get(row, 5)?,
        delivered: delivered != 0,
        at: get(row, 7)?,
    })
}

/// Attempts and HTTP statuses are small; the column is a signed 16-bit integer.
fn small(value: u16) -> i16 {
    i16::try_from(value).unwrap_or(i16::MAX)
}

fn unsigned(value: i16) -> Result<u16, StoreError> {
    u16::try_from(value).map_err(|_| StoreError::Corrupt {
        what: "webhook delivery",
        detail: format!("negative attempt or status {value}"),
    })
}
