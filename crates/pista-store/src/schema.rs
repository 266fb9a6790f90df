//! The database schema as migrations, embedded in the binary and applied at start-up. Released
//! migrations are never edited: a change is a new migration appended to [`Migrator`].
//!
//! Tables: `devices` (one row per user and device, with the id of its newest location),
//! `locations` (validated fixes, unique per device, time and coordinates so redelivered messages
//! are stored once) and `messages` (everything else, byte for byte, with a problem text when it
//! could not be understood).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_pk_auto, blob, blob_null, double, double_null,
    small_integer, string_len, string_len_null, text, text_null,
};

/// Longest user or device name in bytes; matches the limit in `pista_core`.
const NAME_LEN: u32 = 190;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Initial)]
    }
}

#[derive(DeriveMigrationName)]
struct Initial;

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("devices")
                    .col(big_pk_auto("id"))
                    .col(string_len("user_name", NAME_LEN))
                    .col(string_len("device_name", NAME_LEN))
                    .col(big_integer("first_seen"))
                    .col(big_integer("last_seen"))
                    .col(big_integer_null("last_location_id"))
                    .col(big_integer_null("last_tst"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("devices_user_device")
                    .table("devices")
                    .col("user_name")
                    .col("device_name")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager.create_table(locations_table()).await?;
        manager
            .create_index(
                Index::create()
                    .name("locations_fix")
                    .table("locations")
                    .col("device_id")
                    .col("tst")
                    .col("lat_e7")
                    .col("lon_e7")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager.create_table(messages_table()).await?;
        manager
            .create_index(
                Index::create()
                    .name("messages_device_time")
                    .table("messages")
                    .col("device_id")
                    .col("received_at")
                    .to_owned(),
            )
            .await?;
        // Finding the broker's copies of raw messages (see `copies`).
        for (name, last) in [("messages_topic", "id"), ("messages_copy", "payload_hash")] {
            let index = Index::create()
                .name(name)
                .table("messages")
                .col("device_id")
                .col("topic_hash")
                .col(last)
                .to_owned();
            manager.create_index(index).await?;
        }
        Ok(())
    }
}

fn locations_table() -> TableCreateStatement {
    Table::create()
        .table("locations")
        .col(big_pk_auto("id"))
        .col(big_integer("device_id"))
        .col(big_integer("tst"))
        .col(big_integer("lat_e7"))
        .col(big_integer("lon_e7"))
        .col(double("lat"))
        .col(double("lon"))
        .col(text("tid"))
        .col(text_null("trig"))
        .col(double_null("acc"))
        .col(double_null("alt"))
        .col(double_null("vel"))
        .col(double_null("cog"))
        .col(double_null("batt"))
        .col(text("topic"))
        .col(string_len("source", 16))
        .col(small_integer("retained"))
        .col(big_integer("received_at"))
        .col(text("payload"))
        .col(blob_null("original"))
        .to_owned()
}

fn messages_table() -> TableCreateStatement {
    Table::create()
        .table("messages")
        .col(big_pk_auto("id"))
        .col(big_integer_null("device_id"))
        .col(text("topic"))
        .col(text_null("subtopic"))
        .col(string_len_null("msg_type", 64))
        .col(string_len("source", 16))
        .col(small_integer("retained"))
        .col(big_integer("received_at"))
        .col(blob("payload"))
        .col(text_null("problem"))
        .col(big_integer("topic_hash"))
        .col(big_integer("payload_hash"))
        .to_owned()
}
