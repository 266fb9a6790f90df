//! The counters of `revisions` (see `schema/revisions`): `bump` moves one inside the transaction
//! of the change it counts, `read` tells a worker whether something it keeps in memory (the
//! fence list, device ids) was changed by another worker or process since it last looked.

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};

use crate::error::StoreError;
use crate::read::get;
pub(crate) use crate::schema::revisions::{DELETIONS, FENCES};

/// The counter `name`; 0 when the row is missing.
pub(crate) async fn read(conn: &impl ConnectionTrait, name: &str) -> Result<i64, StoreError> {
    let select = Query::select()
        .column("value")
        .from("revisions")
        .and_where(Expr::col("name").eq(name))
        .to_owned();
    let row = conn.query_one(&select).await.map_err(StoreError::query("read revision"))?;
    row.map_or(Ok(0), |row| get(&row, 0))
}

/// Moves the counter `name` on by one.
pub(crate) async fn bump(conn: &impl ConnectionTrait, name: &str) -> Result<(), StoreError> {
    let update = Query::update()
        .table("revisions")
        .value("value", Expr::col("value").add(1))
        .and_where(Expr::col("name").eq(name))
        .to_owned();
    conn.execute(&update).await.map_err(StoreError::query("move a revision"))?;
    Ok(())
}
