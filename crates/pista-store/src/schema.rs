//! The database schema as migrations, embedded in the binary and applied at start-up. Released
//! migrations are never edited: a change is a new migration appended to [`Migrator`].
//!
//! Tables: `devices` (one row per user and device: its newest location, liveness, Greenwich
//! state), `locations` (validated fixes, unique per device, time and coordinates so redelivered
//! messages are stored once), `messages` (every other message, typed JSON beside the client's
//! bytes), `quarantine` (what could not be used, with the reason), `transitions`, `waypoints`,
//! `cards`, `inventory` (Greenwich devices by IMEI), `secrets` (encryption secrets per device),
//! `friends` (who sees whom in HTTP mode), `commands` (sent to devices, with delivery),
//! `rawdata` (every message off the wire, when switched on), and what ingest derives: `geo_cells`
//! (addresses by geohash cell), `fences` (from the apps' regions, the config and the API),
//! `fence_states` (inside or outside, per device and fence), `alerts` (enter and leave events)
//! `webhook_deliveries` (each POST of an alert to a webhook), `webhook_queue` (deliveries not
//! ended yet, so a restart resumes them), `job_names` (what an Activo
//! job box calls its jobs, tasks, places and machines, per device) and `jobs` (job history).
//! Later migrations: `retention` (retention rules and the deletion log), `accounts` (users with
//! their password hashes, and their ACLs), `revisions` (a counter per shared definition, so
//! ingest workers see each other's fence changes), `sharing` (groups, shares, API tokens and
//! browser sessions), `tours` (the share links devices asked for), `odometer` (the devices'
//! odometer base, `devices.odo`), `hot_columns` (SQLite's `locations` with the columns history
//! reads take first).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_pk_auto, blob, blob_null, double, double_null,
    small_integer, small_integer_null, string_len, string_len_null, text, text_null,
};

/// Longest user or device name in bytes; matches the limit in `pista_core`.
const NAME_LEN: u32 = 190;

mod accounts;
mod hot_columns;

pub(crate) use accounts::{DIGEST_LEN, HASH_LEN, TOPIC_LEN};
mod odometer;
mod retention;
pub(crate) mod revisions;
mod tours;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Initial),
            Box::new(retention::Retention),
            Box::new(accounts::Accounts),
            Box::new(revisions::Revisions),
            Box::new(revisions::AnswerRevisions),
            Box::new(MessageTypes),
            Box::new(accounts::Sharing),
            Box::new(tours::Tours),
            Box::new(odometer::Odometer),
            Box::new(hot_columns::HotColumns),
        ]
    }
}

#[derive(DeriveMigrationName)]
struct Initial;

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(devices_table()).await?;
        index(manager, "devices_user_device", "devices", &["user_name", "device_name"], true)
            .await?;

        manager.create_table(locations_table()).await?;
        let fix = ["device_id", "tst", "lat_e7", "lon_e7"];
        index(manager, "locations_fix", "locations", &fix, true).await?;

        manager.create_table(messages_table()).await?;
        index(manager, "messages_device_time", "messages", &["device_id", "received_at"], false)
            .await?;
        // Finding copies of messages (see `copies`).
        let topic = ["device_id", "topic_hash", "id"];
        index(manager, "messages_topic", "messages", &topic, false).await?;
        let copy = ["device_id", "topic_hash", "payload_hash"];
        index(manager, "messages_copy", "messages", &copy, false).await?;

        manager.create_table(quarantine_table()).await?;
        index(manager, "quarantine_device", "quarantine", &["device_id", "id"], false).await?;
        let copy = ["device_id", "topic_hash", "payload_hash"];
        index(manager, "quarantine_copy", "quarantine", &copy, false).await?;

        manager.create_table(transitions_table()).await?;
        let event = ["device_id", "tst", "event", "region"];
        index(manager, "transitions_event", "transitions", &event, true).await?;

        manager.create_table(waypoints_table()).await?;
        index(manager, "waypoints_region", "waypoints", &["device_id", "tst"], true).await?;

        manager.create_table(cards_table()).await?;
        index(manager, "cards_owner", "cards", &["user_name", "device_name"], true).await?;

        manager.create_table(inventory_table()).await?;
        index(manager, "inventory_imei", "inventory", &["imei"], true).await?;

        manager.create_table(secrets_table()).await?;
        index(manager, "secrets_device", "secrets", &["user_name", "device_name"], true).await?;

        manager.create_table(friends_table()).await?;
        let friend = ["user_name", "friend_user", "friend_device"];
        index(manager, "friends_pair", "friends", &friend, true).await?;

        manager.create_table(commands_table()).await?;
        let pending = ["user_name", "device_name", "http_at"];
        index(manager, "commands_pending", "commands", &pending, false).await?;

        manager.create_table(rawdata_table()).await?;
        index(manager, "rawdata_time", "rawdata", &["received_at"], false).await?;

        index(manager, "locations_geo", "locations", &["geo_at", "id"], false).await?;
        manager.create_table(geo_cells_table()).await?;
        index(manager, "geo_cells_cell", "geo_cells", &["cell"], true).await?;
        manager.create_table(fences_table()).await?;
        index(manager, "fences_region", "fences", &["device_id", "wtst"], true).await?;
        manager.create_table(fence_states_table()).await?;
        let pair = ["device_id", "fence_id"];
        index(manager, "fence_states_pair", "fence_states", &pair, true).await?;
        manager.create_table(alerts_table()).await?;
        index(manager, "alerts_device", "alerts", &["device_id", "id"], false).await?;
        manager.create_table(webhook_deliveries_table()).await?;
        let alert = ["alert_id", "id"];
        index(manager, "webhook_deliveries_alert", "webhook_deliveries", &alert, false).await?;
        manager.create_table(webhook_queue_table()).await?;
        index(manager, "webhook_queue_alert", "webhook_queue", &["alert_id"], false).await?;
        manager.create_table(job_names_table()).await?;
        let entry = ["device_id", "kind", "job", "number"];
        index(manager, "job_names_entry", "job_names", &entry, true).await?;
        manager.create_table(jobs_table()).await?;
        index(manager, "jobs_device", "jobs", &["device_id", "started_at"], false).await?;
        Ok(())
    }
}

/// Indexes messages by device, type and time, so that a device's messages of one type are read
/// without reading its others (`Storage::device_messages`).
struct MessageTypes;

impl MigrationName for MessageTypes {
    fn name(&self) -> &str {
        "m20261207_000001_message_types"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for MessageTypes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = ["device_id", "msg_type", "tst"];
        index(manager, "messages_device_type", "messages", &columns, false).await
    }
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: &str,
    columns: &[&str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table.to_owned());
    for column in columns {
        index.col(ToString::to_string(column));
    }
    if unique {
        index.unique();
    }
    manager.create_index(index.to_owned()).await
}

fn devices_table() -> TableCreateStatement {
    Table::create()
        .table("devices")
        .col(big_pk_auto("id"))
        .col(string_len("user_name", NAME_LEN))
        .col(string_len("device_name", NAME_LEN))
        .col(big_integer("first_seen"))
        .col(big_integer("last_seen"))
        .col(big_integer_null("last_location_id"))
        .col(big_integer_null("last_tst"))
        // 1 connected, 0 connection lost (a last will), -1 left on purpose (Greenwich).
        .col(small_integer_null("online"))
        .col(big_integer_null("online_at"))
        .col(text_null("info"))
        .col(text_null("imei"))
        .col(double_null("vbatt"))
        .col(double_null("vext"))
        .to_owned()
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
        .col(double_null("vac"))
        .col(double_null("vel"))
        .col(double_null("cog"))
        .col(double_null("batt"))
        .col(small_integer_null("bs"))
        .col(text_null("conn"))
        .col(small_integer_null("mode"))
        .col(double_null("pressure"))
        .col(text_null("ssid"))
        .col(text_null("bssid"))
        .col(big_integer_null("created_at"))
        .col(text_null("provider"))
        .col(text_null("poi"))
        .col(text_null("tag"))
        .col(text_null("imagename"))
        // JSON arrays of text.
        .col(text_null("inregions"))
        .col(text_null("inrids"))
        .col(text_null("client_id"))
        .col(text("topic"))
        .col(string_len("source", 16))
        .col(small_integer("retained"))
        .col(big_integer("received_at"))
        .col(text("payload"))
        .col(blob_null("original"))
        // What was changed in what the client sent, as a JSON array of notes.
        .col(text_null("repairs"))
        // The address found for the fix, and when it was looked up (null: not yet).
        .col(text_null("addr"))
        .col(string_len_null("cc", 8))
        .col(big_integer_null("geo_at"))
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
        .col(big_integer_null("tst"))
        .col(text_null("client_id"))
        .col(string_len("source", 16))
        .col(small_integer("retained"))
        .col(big_integer("received_at"))
        // The typed message as JSON text; empty for a zero-length payload.
        .col(text("payload"))
        // The client's bytes, when they differ from `payload`.
        .col(blob_null("original"))
        .col(text_null("repairs"))
        .col(big_integer("topic_hash"))
        .col(big_integer("payload_hash"))
        .to_owned()
}

fn quarantine_table() -> TableCreateStatement {
    Table::create()
        .table("quarantine")
        .col(big_pk_auto("id"))
        .col(big_integer_null("device_id"))
        .col(text("topic"))
        .col(text_null("subtopic"))
        .col(string_len_null("msg_type", 64))
        .col(string_len("source", 16))
        .col(small_integer("retained"))
        .col(big_integer("received_at"))
        .col(string_len("reason", 32))
        .col(text("problem"))
        .col(blob("payload"))
        .col(big_integer("topic_hash"))
        .col(big_integer("payload_hash"))
        // Set when the message was taken out again (replayed after a fix, such as a new secret).
        .col(big_integer_null("released_at"))
        .to_owned()
}

fn transitions_table() -> TableCreateStatement {
    Table::create()
        .table("transitions")
        .col(big_pk_auto("id"))
        .col(big_integer("device_id"))
        .col(big_integer("message_id"))
        .col(big_integer("tst"))
        .col(big_integer_null("wtst"))
        .col(string_len("event", 8))
        // The region's id, else its name, else empty: part of the uniqueness key.
        .col(text("region"))
        .col(text_null("descr"))
        .col(double_null("lat"))
        .col(double_null("lon"))
        .col(double_null("acc"))
        .col(text_null("trig"))
        .col(text_null("rid"))
        .col(big_integer("received_at"))
        .to_owned()
}

fn waypoints_table() -> TableCreateStatement {
    Table::create()
        .table("waypoints")
        .col(big_pk_auto("id"))
        .col(big_integer("device_id"))
        .col(big_integer("tst"))
        .col(text("descr"))
        .col(double_null("lat"))
        .col(double_null("lon"))
        .col(double_null("rad"))
        .col(text_null("rid"))
        .col(text("payload"))
        .col(big_integer("updated_at"))
        .to_owned()
}

fn cards_table() -> TableCreateStatement {
    Table::create()
        .table("cards")
        .col(big_pk_auto("id"))
        .col(string_len("user_name", NAME_LEN))
        // Empty for the card of the user as a whole.
        .col(string_len("device_name", NAME_LEN))
        .col(text_null("name"))
        .col(text_null("face"))
        .col(text_null("tid"))
        .col(big_integer("updated_at"))
        .to_owned()
}

fn inventory_table() -> TableCreateStatement {
    Table::create()
        .table("inventory")
        .col(big_pk_auto("id"))
        .col(string_len("imei", 32))
        .col(big_integer("device_id"))
        .col(text("version"))
        .col(big_integer_null("startup"))
        .col(text_null("tid"))
        .col(double_null("vbatt"))
        .col(double_null("vext"))
        .col(big_integer("updated_at"))
        .to_owned()
}

fn secrets_table() -> TableCreateStatement {
    Table::create()
        .table("secrets")
        .col(big_pk_auto("id"))
        .col(string_len("user_name", NAME_LEN))
        .col(string_len("device_name", NAME_LEN))
        .col(text("secret"))
        .col(big_integer("updated_at"))
        .to_owned()
}

fn friends_table() -> TableCreateStatement {
    Table::create()
        .table("friends")
        .col(big_pk_auto("id"))
        .col(string_len("user_name", NAME_LEN))
        .col(string_len("friend_user", NAME_LEN))
        // Empty for every device of the friend.
        .col(string_len("friend_device", NAME_LEN))
        .to_owned()
}

fn commands_table() -> TableCreateStatement {
    Table::create()
        .table("commands")
        .col(big_pk_auto("id"))
        .col(string_len("user_name", NAME_LEN))
        .col(string_len("device_name", NAME_LEN))
        .col(string_len("action", 64))
        .col(text("payload"))
        .col(big_integer("created_at"))
        .col(big_integer_null("mqtt_at"))
        .col(text_null("mqtt_error"))
        .col(big_integer_null("http_at"))
        .to_owned()
}

fn rawdata_table() -> TableCreateStatement {
    Table::create()
        .table("rawdata")
        .col(big_pk_auto("id"))
        .col(text("topic"))
        .col(string_len("source", 16))
        .col(small_integer("retained"))
        .col(big_integer("received_at"))
        .col(blob("payload"))
        .to_owned()
}

fn geo_cells_table() -> TableCreateStatement {
    Table::create()
        .table("geo_cells")
        .col(big_pk_auto("id"))
        .col(string_len("cell", 16))
        .col(string_len_null("cc", 8))
        // Null when the provider knew no address there.
        .col(text_null("addr"))
        .col(string_len("provider", 32))
        .col(big_integer("created_at"))
        .to_owned()
}

fn fences_table() -> TableCreateStatement {
    Table::create()
        .table("fences")
        .col(big_pk_auto("id"))
        // A region from an app: its device and creation time. Null for other fences.
        .col(big_integer_null("device_id"))
        .col(big_integer_null("wtst"))
        // Whose devices a fence from the API or config applies to; null for everyone's.
        .col(string_len_null("user_name", NAME_LEN))
        .col(string_len("source", 16))
        .col(text("name"))
        .col(double("lat"))
        .col(double("lon"))
        // A circle's radius in metres, or a polygon's corners as a JSON array of [lat, lon].
        .col(double_null("radius"))
        .col(text_null("polygon"))
        .col(text_null("webhook"))
        .col(big_integer("updated_at"))
        .to_owned()
}

fn fence_states_table() -> TableCreateStatement {
    Table::create()
        .table("fence_states")
        .col(big_pk_auto("id"))
        .col(big_integer("device_id"))
        .col(big_integer("fence_id"))
        .col(small_integer("inside"))
        .col(big_integer("since"))
        .col(big_integer_null("pending"))
        .col(big_integer("last_tst"))
        .to_owned()
}

fn alerts_table() -> TableCreateStatement {
    Table::create()
        .table("alerts")
        .col(big_pk_auto("id"))
        .col(big_integer("device_id"))
        .col(big_integer("fence_id"))
        .col(string_len("event", 8))
        .col(big_integer("tst"))
        .col(double("meters"))
        // The alert as published.
        .col(text("payload"))
        .col(big_integer("created_at"))
        .to_owned()
}

fn webhook_deliveries_table() -> TableCreateStatement {
    Table::create()
        .table("webhook_deliveries")
        .col(big_pk_auto("id"))
        .col(big_integer("alert_id"))
        // The webhook with any password masked.
        .col(text("url"))
        // 1 for the first POST; 0 for a delivery dropped before any (the queue was full).
        .col(small_integer("attempt"))
        // The receiver's HTTP status; null when it did not answer.
        .col(small_integer_null("status"))
        .col(text_null("error"))
        .col(small_integer("delivered"))
        .col(big_integer("at"))
        .to_owned()
}

fn webhook_queue_table() -> TableCreateStatement {
    Table::create()
        .table("webhook_queue")
        .col(big_pk_auto("id"))
        .col(big_integer("alert_id"))
        // In full, as it is POSTed to (like a fence's webhook); removed when the delivery ends.
        .col(text("url"))
        .col(big_integer("created_at"))
        .to_owned()
}

fn job_names_table() -> TableCreateStatement {
    Table::create()
        .table("job_names")
        .col(big_pk_auto("id"))
        .col(big_integer("device_id"))
        // job, task, place or machine.
        .col(string_len("kind", 8))
        // A task's job; 0 for the other kinds.
        .col(big_integer("job"))
        .col(big_integer("number"))
        .col(text("name"))
        .col(big_integer("updated_at"))
        .to_owned()
}

fn jobs_table() -> TableCreateStatement {
    Table::create()
        .table("jobs")
        .col(big_pk_auto("id"))
        .col(big_integer("device_id"))
        .col(string_len("tid", NAME_LEN))
        // The job number, or job/task/place/machine for the current-job form.
        .col(string_len("job", 100))
        .col(text("jobname"))
        .col(big_integer("started_at"))
        // Null while the job runs.
        .col(big_integer_null("ended_at"))
        .col(big_integer_null("duration"))
        .to_owned()
}
