//! The OwnTracks domain of Pista, with no I/O: who sent a message (user and device names taken
//! from MQTT topics or HTTP requests), what arrived (an [`Inbound`] message with its source and
//! time), and what it means (a typed [`Location`], another message kept raw, or a rejection with
//! its reason). Every input of the server hands its bytes to [`decode`], so the rules written here
//! hold the same for MQTT, the embedded broker, HTTP mode and replays.

mod decode;
mod greenwich;
mod ids;
mod inbound;
mod location;
pub mod time;
mod topic;

pub use decode::{Decoded, decode};
pub use greenwich::{CsvError, parse_csv_location};
pub use ids::{DeviceKey, DeviceName, NameError, UserName};
pub use inbound::{Inbound, Replay, Source};
pub use location::{Location, LocationError, OPTIONAL_NUMBERS};
pub use topic::{TopicError, TopicParts, topic_matches};
