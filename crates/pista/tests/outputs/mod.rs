//! The o2s outputs end to end: device objects (`_map`), watcher lines (`_look`), geofence alerts
//! (`_alerts`), fence objects, operator names, addresses and the live stream, through the
//! embedded broker and the real Mosquitto, with exact payloads (the seed vectors where the
//! original defined them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fences;
mod greenwich;
mod jobs;
mod limits;
pub(crate) mod listen;
mod monitor;
mod seed;
