//! The retention migration: `retention_rules` (how many days of a user's or a device's history
//! are kept; they override the `retention.days` setting) and `deletions` (the audit log of every
//! deletion: when, of what, asked by whom, and how many rows left each table). It is a migration
//! of its own, appended after the initial one, so databases created before it gain the tables.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_pk_auto, small_integer, string_len, text, text_null,
};

use super::{NAME_LEN, index};

/// Adds `retention_rules` and `deletions`.
pub(super) struct Retention;

impl MigrationName for Retention {
    // Named by hand: the derived name is the file's stem, which would not say what this is.
    fn name(&self) -> &str {
        "m0002_retention"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Retention {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(rules_table()).await?;
        let owner = ["user_name", "device_name"];
        index(manager, "retention_rules_owner", "retention_rules", &owner, true).await?;
        manager.create_table(deletions_table()).await?;
        index(manager, "deletions_at", "deletions", &["at", "id"], false).await?;
        Ok(())
    }
}

fn rules_table() -> TableCreateStatement {
    Table::create()
        .table("retention_rules")
        .col(big_pk_auto("id"))
        .col(string_len("user_name", NAME_LEN))
        // Empty for the rule of the user as a whole.
        .col(string_len("device_name", NAME_LEN))
        // 0 keeps everything.
        .col(big_integer("days"))
        .col(big_integer("updated_at"))
        .to_owned()
}

fn deletions_table() -> TableCreateStatement {
    Table::create()
        .table("deletions")
        .col(big_pk_auto("id"))
        .col(big_integer("at"))
        // cli, api or retention.
        .col(string_len("by_whom", 16))
        .col(string_len("user_name", NAME_LEN))
        // Empty when every device of the user was meant.
        .col(string_len("device_name", NAME_LEN))
        // 1 when everything of the user or device went (rows, device registry and all).
        .col(small_integer("everything"))
        // The time range (fix times, inclusive); null for an open end.
        .col(big_integer_null("range_from"))
        .col(big_integer_null("range_to"))
        // Rows deleted per table, as a JSON object.
        .col(text("counts"))
        .col(big_integer("total"))
        // Set when the deletion stopped part way (what was deleted until then is counted).
        .col(text_null("error"))
        .to_owned()
}
