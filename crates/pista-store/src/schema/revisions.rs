//! The revisions migration: `revisions`, one counter per kind of shared definition that ingest
//! workers keep in memory (for now `fences`). Every change of a fence bumps the counter in the
//! change's own transaction, so a worker that reads the counter once per batch knows when
//! another worker (or the API of another process) changed the fence list.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string_len};

/// Adds `revisions` with a `fences` row at 0.
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
        let first = Query::insert()
            .into_table("revisions")
            .columns(["name", "value"])
            .values_panic([Expr::val(FENCES), Expr::val(0_i64)])
            .to_owned();
        manager.exec_stmt(first).await
    }
}

/// The revision row of the fence list.
pub(crate) const FENCES: &str = "fences";
