//! The counters of `revisions` (see `schema/revisions`): `bump` moves one inside the transaction
//! of the change it counts, `read` tells a worker whether something it keeps in memory (the
//! fence list, device ids) was changed by another worker or process since it last looked.

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};

use crate::error::StoreError;
use crate::read::get;
pub(crate) use crate::schema::revisions::{COMMANDS, DELETIONS, FENCES, FRIENDS};

/// Every counter at once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Revisions {
    pub fences: i64,
    pub deletions: i64,
    pub friends: i64,
    pub commands: i64,
}

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

/// Every counter, read with a shared lock held until the transaction ends (PostgreSQL
/// `FOR SHARE`, MySQL `LOCK IN SHARE MODE`; SQLite writers take turns anyway): a change that
/// moves one waits for the reader to commit, and a reader waits for such a change to commit
/// and then sees it.
pub(crate) async fn read_shared(txn: &impl ConnectionTrait) -> Result<Revisions, StoreError> {
    let select =
        Query::select().columns(["name", "value"]).from("revisions").lock_shared().to_owned();
    let rows = txn.query_all(&select).await.map_err(StoreError::query("read revisions"))?;
    let mut revisions = Revisions::default();
    for row in rows {
        revisions.set(&get::<String>(&row, 0)?, get(&row, 1)?);
    }
    Ok(revisions)
}

impl Revisions {
    /// Takes the value of the counter `name` (unknown names are for later versions).
    pub(crate) fn set(&mut self, name: &str, value: i64) {
        match name {
            FENCES => self.fences = value,
            DELETIONS => self.deletions = value,
            FRIENDS => self.friends = value,
            COMMANDS => self.commands = value,
            _ => {}
        }
    }
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
