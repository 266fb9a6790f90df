//! The records that cross the storage interface: what the pipeline asks to store, what a write
//! reports back, and what queries return.

use bytes::Bytes;
use pista_core::{DeviceKey, Location, Replay, Source};
use serde_json::{Map, Value};

/// One decoded message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The device it belongs to; `None` when its topic named no device.
    pub key: Option<DeviceKey>,
    pub topic: String,
    pub subtopic: Option<String>,
    pub source: Source,
    pub retained: bool,
    /// Whether the broker may be sending this again (see `pista_core::Replay`).
    pub replay: Replay,
    /// Arrival time, UNIX seconds.
    pub received_at: i64,
    pub body: NewBody,
}

/// What a message holds.
#[derive(Debug, Clone)]
pub enum NewBody {
    /// A valid location: `payload` is its normalised JSON as stored, and `original` keeps the
    /// client's bytes when they differ from it (repaired fields, a Greenwich CSV line).
    Location { location: Box<Location>, payload: String, original: Option<Bytes> },
    /// Anything else, kept byte for byte; `problem` says why it could not be understood.
    Raw { msg_type: Option<String>, problem: Option<String>, payload: Bytes },
}

/// What happened to one message of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// A new location; `newest` when it became the device's last position.
    Location { id: i64, newest: bool },
    /// The same device already had this fix (same time and coordinates), or the message is a
    /// broker's copy of a message already stored on its topic: nothing was added.
    Duplicate,
    /// A message kept raw.
    Message { id: i64 },
}

/// A stored location as the API serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLocation {
    pub id: i64,
    pub tst: i64,
    pub lat: f64,
    pub lon: f64,
    pub received_at: i64,
    pub topic: String,
    /// The normalised message as stored.
    pub json: Map<String, Value>,
}

/// A device's newest location.
#[derive(Debug, Clone, PartialEq)]
pub struct LastLocation {
    pub key: DeviceKey,
    pub location: StoredLocation,
}

/// Which locations to read. Bounds are inclusive UNIX seconds. With `limit`, the newest
/// `limit` points of the range are returned, still in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationQuery {
    pub key: DeviceKey,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub limit: Option<u64>,
}

/// A message kept raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: i64,
    pub key: Option<DeviceKey>,
    pub topic: String,
    pub subtopic: Option<String>,
    pub msg_type: Option<String>,
    pub source: Source,
    pub retained: bool,
    pub received_at: i64,
    pub payload: Vec<u8>,
    pub problem: Option<String>,
}
