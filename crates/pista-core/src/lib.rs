//! The OwnTracks domain of Pista, with no I/O: who sent a message (user and device names taken
//! from MQTT topics or HTTP requests), what arrived (an [`Inbound`] message with its source and
//! time), and what it means (a typed [`Location`], another message kept raw, or a rejection with
//! its reason). Every input of the server hands its bytes to [`decode`], so the rules written here
//! hold the same for MQTT, the embedded broker, HTTP mode and replays.

pub mod access;
pub mod crypto;
mod decode;
mod fields;
mod greenwich;
pub mod greenwich_text;
mod ids;
mod inbound;
mod location;
mod message;
pub mod password;
pub mod secrets;
pub mod time;
mod topic;
pub mod tour;

pub use decode::{Context, Decoded, MAX_ARRAY, decode};
pub use fields::FieldError;
pub use greenwich::{CsvError, parse_csv_location};
pub use ids::{DeviceKey, DeviceName, GroupName, NameError, UserName};
pub use inbound::{Inbound, Replay, Source};
pub use location::{Location, LocationError};
pub use message::{Card, Detail, Message, Transition, Waypoint};
pub use topic::{TopicError, TopicParts, acl_matches, filter_problem, topic_matches};

/// Longest text of a bad input an error repeats, in characters: enough to recognise it, and a
/// device that sends a megabyte does not get (or fill a log with) a megabyte back.
const SHOWN_CHARS: usize = 80;

/// `text` for an error message: at most [`SHOWN_CHARS`] characters, the last one `…` when it was
/// cut.
pub(crate) fn shorten(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some(_) => text.chars().take(SHOWN_CHARS - 1).chain(['…']).collect(),
        None => text.to_owned(),
    }
}
