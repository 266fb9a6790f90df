//! The revisions migrations: `revisions`, one counter per kind of change that ingest workers must
//! hear of from each other: `fences` (every change of the fence list), `deletions` (every
//! device deleted with all its data), and, added by the second migration, `friends` (every
//! change of who sees whom) and `commands` (every command queued or taken over HTTP). A change moves its counter in its own transaction, so a
//! worker that reads the counters once per batch knows when another worker, or another process
//! such as `pista delete`, changed what it keeps in memory.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string_len};

/// Adds `revisions` with a `fences` and a `deletions` row at 0.
pub(super) struct Revisions;

impl MigrationName for Revisions {
    // Named by hand: the derived name is the file's stem, which would not say what this is.
    fn name(&self) -> &str {
        "m20261205_000003_revisions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Revisions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("revisions")
                    .col(string_len("name", 32).primary_key())
                    .col(big_integer("value"))
                    .to_owned(),
            )
            .await?;
        let rows = Query::insert()
            .into_table("revisions")
            .columns(["name", "value"])
            .values_panic([Expr::val(FENCES), Expr::val(0_i64)])
            .values_panic([Expr::val(DELETIONS), Expr::val(0_i64)])
            .to_owned();
        manager.exec_stmt(rows).await
    }
}

/// Adds the `friends` and `commands` rows at 0.
pub(super) struct AnswerRevisions;

impl MigrationName for AnswerRevisions {
    fn name(&self) -> &str {
        "m20261206_000001_answer_revisions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AnswerRevisions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let rows = Query::insert()
            .into_table("revisions")
            .columns(["name", "value"])
            .values_panic([Expr::val(FRIENDS), Expr::val(0_i64)])
            .values_panic([Expr::val(COMMANDS), Expr::val(0_i64)])
            .to_owned();
        manager.exec_stmt(rows).await
    }
}

/// The revision row of the fence list.
pub(crate) const FENCES: &str = "fences";

/// The revision row of devices deleted with everything they had.
pub(crate) const DELETIONS: &str = "deletions";

/// The revision row of the friend lists.
pub(crate) const FRIENDS: &str = "friends";

/// The revision row of commands waiting for HTTP delivery.
pub(crate) const COMMANDS: &str = "commands";
