//! Tours: the share links the OwnTracks apps ask the server for. A device sends a `request`
//! message (`"request":"tour"` with a label and a time window, `"tours"` for its own list,
//! `"untour"` with a tour's uuid) and gets a `cmd` message of action `response` back. This
//! module reads what was asked and checks it (the window in the forms `from`/`to` take
//! everywhere, see [`crate::time::parse_bound`]), makes tour ids, and writes the answers.
//! Keeping tours and delivering the answers is the job of the store and of ingest.

use serde_json::{Map, Value, json};

use crate::shorten;
use crate::time::{TimeError, parse_bound};

/// The longest label a tour may have, in characters.
pub const MAX_LABEL: usize = 200;

/// The longest `from` or `to` text, in bytes.
pub const MAX_BOUND: usize = 64;

/// A tour's id: a random (version 4) UUID in lower case. Whoever has it may see the tour, so it
/// is only ever made from the system's random generator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TourId(String);

impl TourId {
    /// A new random id.
    pub fn random() -> Result<Self, RequestError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|error| RequestError::NoRandom(error.to_string()))?;
        let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
        Ok(Self(uuid.hyphenated().to_string()))
    }

    /// Reads an id in any of the usual UUID forms (8-4-4-4-12 hex, upper or lower case); it is
    /// kept in the lower-case hyphenated form.
    pub fn parse(text: &str) -> Result<Self, RequestError> {
        let uuid =
            uuid::Uuid::try_parse(text.trim()).map_err(|_| RequestError::BadUuid(shorten(text)))?;
        Ok(Self(uuid.hyphenated().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TourId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tour: a label and a window of one device's track. `from` and `to` are kept as the device
/// wrote them (answers give them back so) beside the UNIX seconds they mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tour {
    pub uuid: TourId,
    pub label: String,
    pub from: String,
    pub to: String,
    pub from_tst: i64,
    pub to_tst: i64,
}

/// A tour as asked for, before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTour {
    pub label: String,
    pub from: String,
    pub to: String,
    pub from_tst: i64,
    pub to_tst: i64,
}

impl NewTour {
    /// The tour with its id.
    pub fn with_id(&self, uuid: TourId) -> Tour {
        let NewTour { label, from, to, from_tst, to_tst } = self.clone();
        Tour { uuid, label, from, to, from_tst, to_tst }
    }
}

/// What a `request` message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// A new tour.
    Tour(NewTour),
    /// The device's tours.
    Tours,
    /// Deleting one of the device's tours.
    Untour(TourId),
}

/// Why a request cannot be done; the answer's `error` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("unknown request {0:?}; known: tour, tours, untour")]
    Unknown(String),
    #[error("a tour request needs a tour object with label, from and to")]
    NoTour,
    #[error("tour label is missing or not text")]
    NoLabel,
    #[error("tour label {label:?} is {problem}")]
    BadLabel { label: String, problem: &'static str },
    #[error("tour {field} is missing or not text")]
    NoTime { field: &'static str },
    #[error("tour {field}: {source}")]
    BadTime { field: &'static str, source: TimeError },
    #[error("tour from {from:?} is after to {to:?}")]
    Reversed { from: String, to: String },
    #[error("untour needs the uuid of a tour")]
    NoUuid,
    #[error("{0:?} is not a tour uuid")]
    BadUuid(String),
    #[error("no random tour id could be made: {0}")]
    NoRandom(String),
}

/// A `request` message as ingest hands it to storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The `request` member as sent (`tour`, `tours`, `untour`, ...).
    pub name: String,
    pub asked: Result<Asked, RequestError>,
    /// Set by ingest for requests it answers (never for imported history).
    pub answer: Option<Answering>,
}

/// What the server adds before a request is stored and answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answering {
    /// The id a new tour gets (tour requests only).
    pub uuid: Option<TourId>,
    /// The public base URL of the server; a tour's link is `<base>/view/<uuid>`.
    pub base_url: String,
}

/// Reads a typed `request` message (its `request` member is text, see `message`).
pub fn read_request(json: &Map<String, Value>) -> Request {
    let name = json.get("request").and_then(Value::as_str).unwrap_or_default().to_owned();
    let asked = match name.as_str() {
        "tour" => read_tour(json.get("tour")).map(Asked::Tour),
        "tours" => Ok(Asked::Tours),
        "untour" => match json.get("uuid").and_then(Value::as_str) {
            Some(uuid) => TourId::parse(uuid).map(Asked::Untour),
            None => Err(RequestError::NoUuid),
        },
        other => Err(RequestError::Unknown(shorten(other))),
    };
    Request { name, asked, answer: None }
}

fn read_tour(tour: Option<&Value>) -> Result<NewTour, RequestError> {
    let Some(Value::Object(tour)) = tour else { return Err(RequestError::NoTour) };
    let label = match tour.get("label") {
        Some(Value::String(label)) => label.trim().to_owned(),
        _ => return Err(RequestError::NoLabel),
    };
    let problem = if label.is_empty() {
        Some("empty")
    } else if label.chars().count() > MAX_LABEL {
        Some("longer than 200 characters")
    } else if label.chars().any(char::is_control) {
        Some("holding control characters")
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(RequestError::BadLabel { label: shorten(&label), problem });
    }
    let (from, from_tst) = read_time(tour, "from")?;
    let (to, to_tst) = read_time(tour, "to")?;
    if from_tst > to_tst {
        return Err(RequestError::Reversed { from, to });
    }
    Ok(NewTour { label, from, to, from_tst, to_tst })
}

/// A window bound as sent (text, or epoch seconds as a number) and the seconds it means.
fn read_time(
    tour: &Map<String, Value>,
    field: &'static str,
) -> Result<(String, i64), RequestError> {
    let text = match tour.get(field) {
        Some(Value::String(text)) => text.trim().to_owned(),
        Some(Value::Number(number)) => number.to_string(),
        _ => return Err(RequestError::NoTime { field }),
    };
    let bad = |source| RequestError::BadTime { field, source };
    // No time form is longer; the text is kept as sent, so its length is bounded.
    if text.len() > MAX_BOUND {
        return Err(bad(TimeError { value: shorten(&text) }));
    }
    let seconds = parse_bound(&text).map_err(bad)?;
    Ok((text, seconds))
}

/// A tour's link.
pub fn tour_url(base_url: &str, uuid: &TourId) -> String {
    format!("{}/view/{uuid}", base_url.trim_end_matches('/'))
}

/// A tour as answers show it.
pub fn tour_object(tour: &Tour, base_url: &str) -> Value {
    json!({
        "label": tour.label,
        "from": tour.from,
        "to": tour.to,
        "uuid": tour.uuid.as_str(),
        "url": tour_url(base_url, &tour.uuid),
    })
}

fn response(request: &str) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("_type".to_owned(), json!("cmd"));
    object.insert("action".to_owned(), json!("response"));
    object.insert("request".to_owned(), json!(request));
    object
}

/// The answer to a tour that was made.
pub fn created(tour: &Tour, base_url: &str) -> Value {
    let mut object = response("tour");
    object.insert("status".to_owned(), json!(200));
    object.insert("tour".to_owned(), tour_object(tour, base_url));
    Value::Object(object)
}

/// The answer listing a device's tours.
pub fn listed(tours: &[Tour], base_url: &str) -> Value {
    let mut object = response("tours");
    let list: Vec<Value> = tours.iter().map(|tour| tour_object(tour, base_url)).collect();
    object.insert("tours".to_owned(), Value::Array(list));
    object.insert("ntours".to_owned(), json!(tours.len()));
    Value::Object(object)
}

/// The answer to a tour that was deleted.
pub fn removed(uuid: &TourId) -> Value {
    let mut object = response("untour");
    object.insert("status".to_owned(), json!(200));
    object.insert("uuid".to_owned(), json!(uuid.as_str()));
    Value::Object(object)
}

/// The answer to a request that was not done: `status` as in HTTP (400 for a bad request,
/// 404 for a tour the device does not have) and the reason in words.
pub fn refused(request: &str, status: u16, error: &str) -> Value {
    let mut object = response(request);
    object.insert("status".to_owned(), json!(status));
    object.insert("error".to_owned(), json!(error));
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(value: Value) -> Result<Asked, String> {
        let Value::Object(object) = value else { panic!("objects only") };
        read_request(&object).asked.map_err(|error| error.to_string())
    }

    #[test]
    fn tour_requests_are_read_and_checked() {
        let tour = |from: Value, to: Value, label: Value| {
            asked(json!({"_type":"request","request":"tour",
                "tour":{"label":label,"from":from,"to":to}}))
        };
        assert_eq!(
            tour(json!("2023-11-14T22:13:20Z"), json!("2023-11-15"), json!(" Ride ")),
            Ok(Asked::Tour(NewTour {
                label: "Ride".into(),
                from: "2023-11-14T22:13:20Z".into(),
                to: "2023-11-15".into(),
                from_tst: 1_700_000_000,
                to_tst: 1_700_006_400,
            }))
        );
        assert_eq!(tour(json!(1_700_000_000), json!("1700000001"), json!("x")).map(|_| ()), Ok(()));
        let cases = [
            (
                tour(json!("yesterday"), json!("2023-11-15"), json!("x")),
                concat!(
                    r#"tour from: "yesterday" is not a time; use YYYY-MM-DDTHH:MM:SS (UTC), "#,
                    "YYYY-MM-DD, YYYY-MM, an RFC 3339 time with offset, or epoch seconds"
                ),
            ),
            (tour(json!("2023-11-15"), json!(null), json!("x")), "tour to is missing or not text"),
            (
                tour(json!("2023-11-16"), json!("2023-11-15"), json!("x")),
                r#"tour from "2023-11-16" is after to "2023-11-15""#,
            ),
            (
                tour(json!("2023-11-15"), json!("2023-11-16"), json!(" ")),
                r#"tour label "" is empty"#,
            ),
            (
                tour(json!("2023-11-15"), json!("2023-11-16"), json!(7)),
                "tour label is missing or not text",
            ),
            (
                tour(json!("2023-11-15"), json!("2023-11-16"), json!("a\u{7}b")),
                "tour label \"a\\u{7}b\" is holding control characters",
            ),
            (
                asked(json!({"_type":"request","request":"tour","tour":"x"})),
                "a tour request needs a tour object with label, from and to",
            ),
            (asked(json!({"request":"untour"})), "untour needs the uuid of a tour"),
            (asked(json!({"request":"untour","uuid":"../x"})), r#""../x" is not a tour uuid"#),
            (
                asked(json!({"request":"dance"})),
                r#"unknown request "dance"; known: tour, tours, untour"#,
            ),
        ];
        for (index, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, Err(want.to_owned()), "case {index}");
        }
        let long = "é".repeat(201);
        assert_eq!(
            tour(json!("2023-11-15"), json!("2023-11-16"), json!(long)),
            Err(format!("tour label \"{}…\" is longer than 200 characters", "é".repeat(79)))
        );
        // A long unknown request or uuid is cut in the answer too.
        let asked = asked(json!({"_type":"request","request":"x".repeat(100_000)}));
        assert_eq!(
            asked,
            Err(format!("unknown request \"{}…\"; known: tour, tours, untour", "x".repeat(79)))
        );
    }

    #[test]
    fn ids_are_random_version_4_uuids() {
        let id = TourId::random().unwrap();
        assert_eq!(TourId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id.as_str().len(), 36);
        assert_eq!(&id.as_str()[14..15], "4");
        assert_ne!(TourId::random().unwrap(), id);
        assert_eq!(
            TourId::parse("0F8FAD5B-D9CB-469F-A165-70867728950E").unwrap().as_str(),
            "0f8fad5b-d9cb-469f-a165-70867728950e"
        );
        assert!(TourId::parse("0f8fad5b-d9cb-469f-a165-70867728950").is_err());
        assert!(TourId::parse("0f8fad5b-d9cb-469f-a165-70867728950g").is_err());
    }

    #[test]
    fn answers_have_the_recorders_shape() {
        let uuid = TourId::parse("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap();
        let tour = Tour {
            uuid: uuid.clone(),
            label: "Ride".into(),
            from: "2023-11-14".into(),
            to: "2023-11-15".into(),
            from_tst: 1_699_920_000,
            to_tst: 1_700_006_400,
        };
        let base = "https://pista.example.org/";
        assert_eq!(
            created(&tour, base).to_string(),
            r#"{"_type":"cmd","action":"response","request":"tour","status":200,"tour":{"label":"Ride","from":"2023-11-14","to":"2023-11-15","uuid":"0f8fad5b-d9cb-469f-a165-70867728950e","url":"https://pista.example.org/view/0f8fad5b-d9cb-469f-a165-70867728950e"}}"#
        );
        assert_eq!(
            listed(&[], base).to_string(),
            r#"{"_type":"cmd","action":"response","request":"tours","tours":[],"ntours":0}"#
        );
        assert_eq!(
            removed(&uuid).to_string(),
            r#"{"_type":"cmd","action":"response","request":"untour","status":200,"uuid":"0f8fad5b-d9cb-469f-a165-70867728950e"}"#
        );
        assert_eq!(
            refused("tour", 400, "tour label is missing or not text").to_string(),
            r#"{"_type":"cmd","action":"response","request":"tour","status":400,"error":"tour label is missing or not text"}"#
        );
    }
}
