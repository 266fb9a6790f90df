//! The records that cross the storage interface: what the pipeline asks to store, what a write
//! reports back, and what queries return.

use bytes::Bytes;
use pista_core::tour::Tour;
use pista_core::{DeviceKey, Location, Message, Replay, Source};
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
    /// Any other typed message, stored the same way; its region events, regions, card and
    /// Greenwich values also update their own tables.
    Message { message: Box<Message>, payload: String, original: Option<Bytes> },
    /// A zero-length payload (or an empty array): the apps' "forget this contact".
    Empty { payload: Bytes },
    /// A message that cannot be used, kept aside with its reason code and the reason in words.
    Quarantine { msg_type: Option<String>, reason: String, problem: String, payload: Bytes },
    /// A copy of the message as it came off the wire (the `rawdata` switch).
    Wire { payload: Bytes },
}

/// What happened to one message of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// A new location; `newest` when it became the device's last position.
    Location { id: i64, newest: bool },
    /// The same device already had this (same fix, same region event, or the same message on
    /// the same topic): nothing was added, but the device was seen.
    Duplicate,
    /// A message stored in `messages`.
    Message { id: i64 },
    /// A request stored in `messages` and answered: the answer is command `command`, queued
    /// for the device (see `tours`).
    Answered { id: i64, command: i64 },
    /// A message put in quarantine.
    Quarantined { id: i64 },
    /// A wire copy stored in `rawdata`.
    Wire { id: i64 },
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
    /// What was changed in what the client sent (a time read from text, a field dropped).
    pub repairs: Vec<String>,
    /// The address and country code found for it, once the geocoder has run.
    pub addr: Option<String>,
    pub cc: Option<String>,
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

/// A stored message other than a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: i64,
    pub key: Option<DeviceKey>,
    pub topic: String,
    pub subtopic: Option<String>,
    pub msg_type: Option<String>,
    /// The message's own time, when it has one.
    pub tst: Option<i64>,
    pub source: Source,
    pub retained: bool,
    pub received_at: i64,
    /// The typed message as JSON text (empty for a zero-length payload).
    pub payload: String,
    /// The client's bytes when they differ from `payload`.
    pub original: Option<Vec<u8>>,
    /// What was changed in what the client sent.
    pub repairs: Vec<String>,
}

/// A message in quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub id: i64,
    pub key: Option<DeviceKey>,
    pub topic: String,
    pub subtopic: Option<String>,
    pub msg_type: Option<String>,
    pub source: Source,
    pub retained: bool,
    pub received_at: i64,
    /// Reason code: `invalid_json`, `tst_too_old`, `no_key`, ...
    pub reason: String,
    pub problem: String,
    pub payload: Vec<u8>,
    /// When it was taken out again for a replay.
    pub released_at: Option<i64>,
}

/// A region event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTransition {
    pub id: i64,
    pub tst: i64,
    pub wtst: Option<i64>,
    /// `enter` or `leave`.
    pub event: String,
    pub desc: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub acc: Option<f64>,
    pub trigger: Option<String>,
    pub rid: Option<String>,
    pub received_at: i64,
}

/// A device's region as stored (the newest version of each, keyed by its creation time).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWaypoint {
    pub tst: i64,
    pub desc: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub rad: Option<f64>,
    pub rid: Option<String>,
    pub updated_at: i64,
}

/// A card: of one device, or of a user as a whole (`device` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCard {
    pub user: String,
    pub device: Option<String>,
    pub name: Option<String>,
    pub face: Option<String>,
    pub tid: Option<String>,
    pub updated_at: i64,
}

/// What Pista knows about a device besides its positions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeviceState {
    pub first_seen: i64,
    /// Last time any message of the device arrived (pings that repeat a fix included).
    pub last_seen: i64,
    /// 1 connected, 0 connection lost (a last will or Greenwich `0`), -1 left on purpose.
    pub online: Option<i64>,
    pub online_at: Option<i64>,
    /// Greenwich `info` text.
    pub info: Option<String>,
    pub imei: Option<String>,
    pub vbatt: Option<f64>,
    pub vext: Option<f64>,
    /// Odometer base in km, set by hand ([`crate::Storage::set_odometer`]).
    pub odo: Option<f64>,
}

/// A Greenwich device as its start-up message describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryItem {
    pub imei: String,
    pub key: DeviceKey,
    pub version: String,
    pub startup: Option<i64>,
    pub vbatt: Option<f64>,
    pub vext: Option<f64>,
    pub updated_at: i64,
    /// The odometer base of the device it belongs to now (kept per device, not per IMEI).
    pub odo: Option<f64>,
}

/// A command for a device, with its delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCommand {
    pub id: i64,
    pub key: DeviceKey,
    pub action: String,
    /// The whole `cmd` message as JSON text.
    pub payload: String,
    pub created_at: i64,
    /// When the broker accepted it for the device's `cmd` topic, or why it did not.
    pub mqtt_at: Option<i64>,
    pub mqtt_error: Option<String>,
    /// When it was handed to the device in an HTTP-mode answer.
    pub http_at: Option<i64>,
}

/// Which of a device's messages [`crate::Storage::device_messages`] reads. Bounds are inclusive
/// UNIX seconds of the message's own time (`tst`), or of its arrival when it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageQuery {
    pub key: DeviceKey,
    /// Only messages of this `_type` (`card`, `transition`, `gw-voltage`, ...).
    pub msg_type: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// A tour with its owner device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTour {
    pub key: DeviceKey,
    pub tour: Tour,
    pub created_at: i64,
}
