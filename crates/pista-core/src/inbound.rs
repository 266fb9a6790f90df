//! What every input hands to the ingest pipeline: the raw bytes of one message with the topic
//! they arrived on, where they came from and when. Inputs never interpret payloads themselves.

use bytes::Bytes;

use crate::ids::DeviceKey;

/// The input a message came through; stored with it so an operator can tell paths apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A subscription on an external broker.
    Mqtt,
    /// A client of the embedded broker.
    Broker,
    /// HTTP mode (`POST /pub`).
    Http,
    /// `pista import`: history from a file or another back end's database.
    Import,
}

impl Source {
    /// The stable lower-case name stored in the database and used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Mqtt => "mqtt",
            Source::Broker => "broker",
            Source::Http => "http",
            Source::Import => "import",
        }
    }

    /// Parses the name written by [`Source::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "mqtt" => Some(Source::Mqtt),
            "broker" => Some(Source::Broker),
            "http" => Some(Source::Http),
            "import" => Some(Source::Import),
            _ => None,
        }
    }
}

/// How a message may repeat one Pista already has, as its input knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Replay {
    /// A message as the sender sent it.
    #[default]
    Fresh,
    /// The broker's stored (retained) copy, sent again on every (re)subscription: a copy of
    /// the last message on its topic is not stored again.
    Retained,
    /// A redelivery after an acknowledgement was lost: a copy of any message on its topic is
    /// not stored again.
    Redelivered,
}

/// One message as it arrived.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub source: Source,
    /// The MQTT topic, or for HTTP mode the topic the device would have used
    /// (`owntracks/<user>/<device>`).
    pub topic: String,
    /// The identity HTTP mode resolved from headers, query or login; `None` means "take it from
    /// the topic".
    pub identity: Option<DeviceKey>,
    pub payload: Bytes,
    pub retained: bool,
    /// Whether the broker may be sending this again.
    pub replay: Replay,
    /// Arrival time, UNIX seconds.
    pub received_at: i64,
}
