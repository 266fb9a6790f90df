//! Geofence alerts POSTed to webhooks: retries until a receiver accepts, answers that end a
//! delivery, global and per-fence webhooks, unreachable receivers, a slow receiver beside ingest,
//! the delivery log over HTTP, and the webhook settings; and the alarm hook (its command and
//! its webhooks).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alarm;
#[path = "../common/mod.rs"]
mod common;
mod delivery;
#[allow(dead_code)]
#[path = "../outputs/listen.rs"]
mod listen;
mod receiver;
mod settings;
