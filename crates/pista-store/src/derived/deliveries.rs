//! The webhook delivery log on the SQL backend (`webhook_deliveries`): one row per POST of an
//! alert to a webhook, and one per delivery dropped before any POST. The trait methods in `sql`
//! call these.

use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult};

use super::{NewDelivery, StoredDelivery};
use crate::error::StoreError;
use crate::read::get;
use crate::sql::SqlStore;

const COLUMNS: [&str; 7] = ["alert_id", "url", "attempt", "status", "error", "delivered", "at"];

impl SqlStore {
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
            .returning_col("id")
            .to_owned();
        let row = self.db.query_one(&insert).await.map_err(StoreError::query("write delivery"))?;
        row.map(|row| get::<i64>(&row, 0)).transpose()?.ok_or(StoreError::Corrupt {
            what: "webhook delivery",
            detail: "no id returned".into(),
        })
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
