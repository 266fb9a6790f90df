//! The accounts migration: `users` (login name, password hash as given, superuser flag, creation
//! time) and `acls` (which MQTT topic filters a user may read, or read and write). The hash is
//! kept exactly as it came, a `PBKDF2$sha256$...` string or the plain text the original back end
//! also allowed; the auth issue verifies both forms at login. A migration of its own so that
//! databases created before it gain the tables.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_pk_auto, integer_null, small_integer, small_integer_null,
    string_len, string_len_null, text_null,
};

use super::{NAME_LEN, index};

/// Longest ACL topic filter in bytes. With a 190-byte user name the unique key stays within
/// MySQL's index limit in utf8mb4.
pub(crate) const TOPIC_LEN: u32 = 255;

/// Longest stored password hash (or plain-text password) in bytes.
pub(crate) const HASH_LEN: u32 = 255;

/// Adds `users` and `acls`.
pub(super) struct Accounts;

impl MigrationName for Accounts {
    // Named by hand: the derived name is the file's stem, which would not order or date it.
    fn name(&self) -> &str {
        "m20261205_000001_accounts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Accounts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(users_table()).await?;
        index(manager, "users_name", "users", &["name"], true).await?;
        manager.create_table(acls_table()).await?;
        index(manager, "acls_user_topic", "acls", &["user_name", "topic"], true).await?;
        Ok(())
    }
}

fn users_table() -> TableCreateStatement {
    Table::create()
        .table("users")
        .col(big_pk_auto("id"))
        .col(string_len("name", NAME_LEN))
        .col(string_len("password_hash", HASH_LEN))
        // 1 for a user who sees every device.
        .col(small_integer("superuser"))
        .col(big_integer("created_at"))
        .to_owned()
}

fn acls_table() -> TableCreateStatement {
    Table::create()
        .table("acls")
        .col(big_pk_auto("id"))
        .col(string_len("user_name", NAME_LEN))
        // An MQTT filter; `+`, `#`, `%u` and `%c` keep the meaning mosquitto-auth-plug gives them.
        .col(string_len("topic", TOPIC_LEN))
        // 1 read, 2 read and write.
        .col(small_integer("rw"))
        .to_owned()
}

/// Adds `group_members` (which users are in which group; a group exists while it has
/// members), `shares` (an owner's device, or all of them, shown to a user or a group, possibly
/// until a time), `tokens` (API tokens and browser sessions, kept as SHA-256 digests only) and
/// `ctrl_settings` (what ctrld tells OwnTracksCTRL, for everyone or per user).
pub(super) struct Sharing;

impl MigrationName for Sharing {
    fn name(&self) -> &str {
        "m20261208_000001_sharing"
    }
}

/// Length of a token digest: SHA-256 in hex.
pub(crate) const DIGEST_LEN: u32 = 64;

#[async_trait::async_trait]
impl MigrationTrait for Sharing {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let members = Table::create()
            .table("group_members")
            .col(big_pk_auto("id"))
            .col(string_len("group_name", NAME_LEN))
            .col(string_len("user_name", NAME_LEN))
            .to_owned();
        manager.create_table(members).await?;
        index(
            manager,
            "group_members_group_user",
            "group_members",
            &["group_name", "user_name"],
            true,
        )
        .await?;
        let shares = Table::create()
            .table("shares")
            .col(big_pk_auto("id"))
            .col(string_len("owner", NAME_LEN))
            // NULL shares every device of the owner.
            .col(string_len_null("device_name", NAME_LEN))
            // Exactly one of the two is set.
            .col(string_len_null("to_user", NAME_LEN))
            .col(string_len_null("to_group", NAME_LEN))
            .col(big_integer_null("until"))
            .col(big_integer("created_at"))
            .to_owned();
        manager.create_table(shares).await?;
        index(manager, "shares_owner", "shares", &["owner"], false).await?;
        let tokens = Table::create()
            .table("tokens")
            .col(big_pk_auto("id"))
            .col(string_len("user_name", NAME_LEN))
            // "api" for tokens a user made, "session" for browser logins.
            .col(string_len("kind", 16))
            .col(string_len("label", 100))
            .col(string_len("digest", DIGEST_LEN))
            .col(big_integer("created_at"))
            .col(big_integer_null("expires_at"))
            .to_owned();
        manager.create_table(tokens).await?;
        index(manager, "tokens_digest", "tokens", &["digest"], true).await?;
        index(manager, "tokens_user", "tokens", &["user_name"], false).await?;
        let ctrl = Table::create()
            .table("ctrl_settings")
            .col(big_pk_auto("id"))
            // "" for everyone's.
            .col(string_len("user_name", NAME_LEN))
            .col(string_len_null("host", 255))
            .col(integer_null("port"))
            .col(small_integer_null("tls"))
            .col(small_integer_null("auth"))
            .col(text_null("certurl"))
            .col(text_null("trackurl"))
            .to_owned();
        manager.create_table(ctrl).await?;
        index(manager, "ctrl_settings_user", "ctrl_settings", &["user_name"], true).await?;
        Ok(())
    }
}
