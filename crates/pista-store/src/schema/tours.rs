//! The `tours` table: the share links devices asked for (`request: tour`), each a label and a
//! window of the owner device's track, found by its random uuid. The owner is named like in
//! `commands` (user and device names), so a tour outlives nothing the device does not.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_pk_auto, string_len};

use super::{NAME_LEN, index};

/// Longest `from`/`to` text kept as the device sent it.
const BOUND_LEN: u32 = pista_core::tour::MAX_BOUND as u32;

pub(crate) struct Tours;

impl MigrationName for Tours {
    fn name(&self) -> &str {
        "m20261209_000001_tours"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Tours {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Table::create()
            .table("tours")
            .col(big_pk_auto("id"))
            .col(string_len("uuid", 36))
            .col(string_len("user_name", NAME_LEN))
            .col(string_len("device_name", NAME_LEN))
            // Characters, at most `pista_core::tour::MAX_LABEL`.
            .col(string_len("label", pista_core::tour::MAX_LABEL as u32))
            .col(string_len("from_text", BOUND_LEN))
            .col(string_len("to_text", BOUND_LEN))
            .col(big_integer("from_tst"))
            .col(big_integer("to_tst"))
            .col(big_integer("created_at"))
            .to_owned();
        manager.create_table(table).await?;
        index(manager, "tours_uuid", "tours", &["uuid"], true).await?;
        index(manager, "tours_owner", "tours", &["user_name", "device_name"], false).await
    }
}
