//! Turning the bytes of one inbound message into what Pista stores. A payload is JSON (one
//! object, or an array of objects, each handled on its own), a Greenwich CSV location on a
//! device's base topic, or Greenwich text on a subtopic (status, voltages, command output, ...).
//! Messages are routed by `_type` first and by subtopic second; each is typed, and anything that
//! cannot be used is quarantined with a reason code and the reason in words, so that nothing that
//! arrives is lost. Messages on subtopics Pista does not read are ignored, not filed under a
//! made-up device.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::fields::json_kind;
use crate::greenwich::{csv_fields, parse_csv_location};
use crate::greenwich_text::{is_text_subtopic, parse_text};
use crate::ids::DeviceName;
use crate::location::Location;
use crate::message::{Detail, Message};
use crate::time::{TimeRule, read_epoch};

/// The meaning of one message (one element of an array payload counts as one message).
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A valid location fix with a plausible time.
    Location { location: Box<Location>, raw: Bytes },
    /// Any other typed message (app JSON or Greenwich text).
    Message { message: Box<Message>, raw: Bytes },
    /// A zero-length payload or an empty array: the apps' "forget this contact" signal.
    Empty { raw: Bytes },
    /// A message on a subtopic Pista does not read; nothing is stored.
    Ignored { problem: String },
    /// A message that cannot be used, kept aside with a reason code (`invalid_json`,
    /// `tst_too_old`, ...) and the reason in words.
    Quarantined { msg_type: Option<String>, reason: &'static str, problem: String, raw: Bytes },
}

/// Where and when a payload arrived.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub device: &'a DeviceName,
    /// The topic levels after the device, if any (`event`, `voltage/ext`, ...).
    pub subtopic: Option<&'a str>,
    /// Arrival time, UNIX seconds.
    pub received_at: i64,
    pub time: TimeRule,
}

/// Most messages one payload may carry as a JSON array; a larger array is quarantined whole, so
/// one request cannot flood storage and logs with a million records.
pub const MAX_ARRAY: usize = 1000;

/// Subtopics the OwnTracks apps publish JSON to (and legacy ones still accepted).
const APP_SUBTOPICS: &[&str] = &[
    "event",
    "info",
    "waypoint",
    "waypoints",
    "cmd",
    "status",
    "dump",
    "step",
    "steps",
    "beacon",
    "request",
    "msg",
    "deviceToken",
    "alarm",
];

/// Where a subtopic sends a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// The device's own topic (also the legacy `pico`).
    Base,
    /// A subtopic the apps publish JSON to; Greenwich text may share it (`status`, `info`).
    App,
    /// A Greenwich text subtopic (`voltage/ext`, `obd2/...`).
    Greenwich,
    /// Commands to a Greenwich device's serial port; not ours to read.
    Proxy,
    Unknown,
}

fn route(subtopic: Option<&str>) -> Route {
    match subtopic {
        None | Some("pico") => Route::Base,
        Some(s) if APP_SUBTOPICS.contains(&s) => Route::App,
        // Before the proxy: an Activo job box talks through it (`proxy/jobs/...`).
        Some(s) if is_text_subtopic(s) => Route::Greenwich,
        Some(s) if s == "proxy" || s.starts_with("proxy/") => Route::Proxy,
        Some(_) => Route::Unknown,
    }
}

/// Decodes `payload` as it arrived in `context`.
pub fn decode(payload: &Bytes, context: &Context<'_>) -> Vec<Decoded> {
    let route = route(context.subtopic);
    let subtopic = context.subtopic.unwrap_or_default();
    match route {
        Route::Unknown => {
            let problem = format!("subtopic {subtopic:?} is not one Pista reads");
            return vec![Decoded::Ignored { problem }];
        }
        Route::Proxy => {
            let problem = format!("subtopic {subtopic:?} carries commands to a device");
            return vec![Decoded::Ignored { problem }];
        }
        _ => {}
    }
    let trimmed = trim(payload);
    if trimmed.is_empty() {
        return vec![Decoded::Empty { raw: payload.clone() }];
    }
    match serde_json::from_slice::<Value>(&trimmed) {
        Ok(Value::Object(object)) => vec![decode_object(object, context, trimmed)],
        Ok(Value::Array(items)) if items.len() > MAX_ARRAY => {
            let problem =
                format!("array of {} messages; at most {MAX_ARRAY} are read", items.len());
            vec![quarantined(None, "too_many_messages", problem, trimmed)]
        }
        Ok(Value::Array(items)) if items.is_empty() => vec![Decoded::Empty { raw: trimmed }],
        Ok(Value::Array(items)) => decode_array(items, context),
        Ok(other) if route == Route::Base => {
            let problem = format!("payload is JSON {}, not an object", json_kind(&other));
            vec![quarantined(None, "not_a_message", problem, trimmed)]
        }
        Ok(_) => vec![decode_text(trimmed, context, None)],
        Err(error) => vec![decode_text(trimmed, context, Some(error))],
    }
}

fn decode_array(items: Vec<Value>, context: &Context<'_>) -> Vec<Decoded> {
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let raw = Bytes::from(serde_json::to_vec(&item).unwrap_or_default());
            match item {
                Value::Object(object) => decode_object(object, context, raw),
                other => {
                    let problem = format!(
                        "array element {index} is JSON {}, not an object",
                        json_kind(&other)
                    );
                    quarantined(None, "not_a_message", problem, raw)
                }
            }
        })
        .collect()
}

fn decode_object(object: Map<String, Value>, context: &Context<'_>, raw: Bytes) -> Decoded {
    let msg_type = match object.get("_type") {
        Some(Value::String(t)) => t.clone(),
        Some(other) => {
            let problem = format!("_type is JSON {}, not text", json_kind(other));
            return quarantined(None, "not_a_message", problem, raw);
        }
        None => {
            return quarantined(None, "not_a_message", "message has no _type".to_owned(), raw);
        }
    };
    let device = context.device;
    if msg_type == "location" {
        let located = Location::from_json(object, || device.default_tid());
        return match located {
            // A Greenwich alarm is where a parked vehicle was moved, not a point of its track.
            Ok(location) if context.subtopic == Some("alarm") => {
                let message = Message {
                    msg_type: "alarm".to_owned(),
                    tst: Some(location.tst),
                    detail: Detail::None,
                    json: location.json,
                    repairs: location.repairs,
                    masked: location.masked,
                };
                Decoded::Message { message: Box::new(message), raw }
            }
            Ok(location) => match context.time.check(location.tst, context.received_at) {
                Ok(()) => Decoded::Location { location: Box::new(location), raw },
                Err(implausible) => quarantined(
                    Some(msg_type),
                    implausible.reason(),
                    format!("location {implausible}"),
                    raw,
                ),
            },
            Err(error) => quarantined(Some(msg_type), error.reason(), error.to_string(), raw),
        };
    }
    // A region event follows the time rule of fixes, with its reason codes.
    let time = (msg_type == "transition").then(|| read_epoch("tst", object.get("tst")));
    let typed = Message::from_json(&msg_type, object);
    let time_problem = match (&typed, time) {
        (Err(error), _) if !error.is_about("tst") => None,
        (_, Some(Err(error))) => Some(error),
        _ => None,
    };
    if let Some(error) = time_problem {
        return quarantined(Some(msg_type), error.reason(), format!("transition {error}"), raw);
    }
    match typed {
        Ok(message) => {
            if let Detail::Transition(transition) = &message.detail
                && let Err(implausible) = context.time.check(transition.tst, context.received_at)
            {
                let problem = format!("transition {implausible}");
                return quarantined(Some(msg_type), implausible.reason(), problem, raw);
            }
            Decoded::Message { message: Box::new(message), raw }
        }
        Err(error) => quarantined(Some(msg_type), "invalid_message", error.to_string(), raw),
    }
}

/// A payload that is not a JSON object or array: Greenwich text on a subtopic, a Greenwich CSV
/// location on the base topic, or broken JSON.
fn decode_text(
    raw: Bytes,
    context: &Context<'_>,
    json_error: Option<serde_json::Error>,
) -> Decoded {
    let looks_like_json = matches!(raw.first(), Some(b'{' | b'['));
    if let (true, Some(error)) = (looks_like_json, &json_error) {
        return quarantined(None, "invalid_json", format!("invalid JSON: {error}"), raw);
    }
    // A Greenwich reports an alarm in the same CSV form as its locations.
    let csv_line = std::str::from_utf8(&raw).ok().filter(|line| csv_fields(line).is_some());
    if let (Some("alarm"), Some(line)) = (context.subtopic, csv_line) {
        return match parse_csv_location(line) {
            Ok(object) => decode_object(object, context, raw),
            Err(error) => quarantined(None, "invalid_greenwich", error.to_string(), raw),
        };
    }
    if let Some(subtopic) = context.subtopic.filter(|s| *s != "pico") {
        return match parse_text(subtopic, &raw) {
            Ok(Some(text)) => {
                // A job time from the topic passes the same rule as a fix time.
                let job_tst = text.value.get("tst").and_then(Value::as_i64);
                if let (true, Some(tst)) = (text.kind == "gw-job", job_tst)
                    && let Err(implausible) = context.time.check(tst, context.received_at)
                {
                    let problem = format!("job time {implausible}");
                    let kind = Some("gw-job".to_owned());
                    return quarantined(kind, implausible.reason(), problem, raw);
                }
                // A command's password was masked by the parser: the client's bytes are not kept.
                let masked = text.masked;
                let message = Message {
                    msg_type: text.kind.to_owned(),
                    tst: None,
                    detail: Detail::None,
                    json: text.value,
                    repairs: Vec::new(),
                    masked,
                };
                Decoded::Message { message: Box::new(message), raw }
            }
            Ok(None) => {
                let problem = match json_error {
                    Some(error) => format!("invalid JSON: {error}"),
                    None => format!("{subtopic} payload is not a JSON object"),
                };
                quarantined(None, "invalid_json", problem, raw)
            }
            Err(error) => quarantined(None, "invalid_greenwich", error.to_string(), raw),
        };
    }

    match std::str::from_utf8(&raw).ok().filter(|line| csv_fields(line).is_some()) {
        Some(line) => match parse_csv_location(line) {
            Ok(object) => {
                let context = Context { subtopic: None, ..*context };
                decode_object(object, &context, raw)
            }
            Err(error) => quarantined(None, "invalid_greenwich", error.to_string(), raw),
        },
        None => {
            let problem = "payload is neither JSON nor a Greenwich CSV location".to_owned();
            quarantined(None, "invalid_json", problem, raw)
        }
    }
}

fn quarantined(
    msg_type: Option<String>,
    reason: &'static str,
    problem: String,
    raw: Bytes,
) -> Decoded {
    Decoded::Quarantined { msg_type, reason, problem, raw }
}

/// The payload without trailing white space (the apps and scripts often end lines with one) and
/// without a UTF-8 byte-order mark (some editors and scripts write one).
fn trim(payload: &Bytes) -> Bytes {
    let start = if payload.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let end = payload.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    payload.slice(start.min(end)..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn run(payload: &str, subtopic: Option<&str>) -> Vec<Decoded> {
        run_bytes(Bytes::from(payload.to_owned()), subtopic)
    }

    fn run_bytes(payload: Bytes, subtopic: Option<&str>) -> Vec<Decoded> {
        let device = DeviceName::parse("jjolie").unwrap();
        let context =
            Context { device: &device, subtopic, received_at: NOW, time: TimeRule::default() };
        decode(&payload, &context)
    }

    fn summary(decoded: &[Decoded]) -> Vec<String> {
        decoded
            .iter()
            .map(|d| match d {
                Decoded::Location { location, .. } => {
                    format!(
                        "location {} {} {} {}",
                        location.tid, location.tst, location.lat, location.lon
                    )
                }
                Decoded::Message { message, .. } => {
                    format!("{} {}", message.msg_type, Value::Object(message.json.clone()))
                }
                Decoded::Empty { .. } => "empty".to_owned(),
                Decoded::Ignored { problem } => format!("ignored: {problem}"),
                Decoded::Quarantined { reason, problem, .. } => format!("{reason}: {problem}"),
            })
            .collect()
    }

    #[test]
    fn payloads_decode_by_type_then_subtopic() {
        let cases: &[(&str, Option<&str>, &[&str])] = &[
            (
                r#"{"_type":"location","lat":1,"lon":2,"tst":1600000000}"#,
                None,
                &["location ie 1600000000 1 2"],
            ),
            (
                "K2,542A46AA,k,40365854,4575769,26,4,7,5,8",
                None,
                &["location K2 1412056746 40.365854 4.575769"],
            ),
            (r#"{"_type":"lwt"}"#, None, &[r#"lwt {"_type":"lwt"}"#]),
            (
                r#"{"_type":"transition","event":"enter","tst":"1600000000"}"#,
                Some("event"),
                &[r#"transition {"_type":"transition","event":"enter","tst":1600000000}"#],
            ),
            ("12.2", Some("voltage/ext"), &[r#"gw-voltage {"supply":"ext","volts":12.2}"#]),
            ("1", Some("status"), &[r#"gw-status {"status":1}"#]),
            ("", None, &["empty"]),
            ("\n\n", None, &["empty"]),
            ("[]", None, &["empty"]),
            (
                r#"[{"_type":"location","lat":8,"lon":9,"tst":1600000000},{"_type":"lwt","tst":1600000000}, 7]"#,
                None,
                &[
                    "location ie 1600000000 8 9",
                    r#"lwt {"_type":"lwt","tst":1600000000}"#,
                    "not_a_message: array element 2 is JSON a number, not an object",
                ],
            ),
            ("null", None, &["not_a_message: payload is JSON null, not an object"]),
            ("{}", None, &["not_a_message: message has no _type"]),
            (r#"{"_type":null}"#, None, &["not_a_message: _type is JSON null, not text"]),
            (r#"{"_type":"location","lat":1}"#, None, &["invalid_message: location has no lon"]),
            (
                r#"{"_type":"location","lat":1,"lon":1}"#,
                None,
                &["tst_missing: location tst is missing"],
            ),
            (
                r#"{"_type":"location","lat":1,"lon":1,"tst":0}"#,
                None,
                &["tst_zero: location tst 0 is not after 1970"],
            ),
            (
                r#"{"_type":"location","lat":52.52,"lon":13.405,"tst":806434679}"#,
                None,
                &["tst_too_old: location tst 806434679 (1995-07-22T17:37:59Z) is before the \
                   floor 2008-01-01T00:00:00Z"],
            ),
            (
                r#"{"_type":"location","lat":1,"lon":1,"tst":1700086401}"#,
                None,
                &["tst_in_future: location tst 1700086401 (2023-11-15T22:13:21Z) is more than \
                   86400 s after it arrived (2023-11-14T22:13:20Z)"],
            ),
            (
                r#"{"_type":"location","tid":"al","lat":52.52,"lon":13.405,"tst":1699999999000}"#,
                None,
                &["location al 1699999999 52.52 13.405"],
            ),
            (
                "hello",
                None,
                &["invalid_json: payload is neither JSON nor a Greenwich CSV location"],
            ),
            ("\u{feff}{\"_type\":\"lwt\"}", None, &[r#"lwt {"_type":"lwt"}"#]),
            (
                r#"{"cog":136,"_type":"location","tid"#,
                None,
                &["invalid_json: invalid JSON: EOF while parsing a string at line 1 column 34"],
            ),
            (
                "K2,XYZ,k,1,1,1,1,1,1,1",
                None,
                &["invalid_greenwich: greenwich csv field tst \"XYZ\" is not hexadecimal seconds"],
            ),
            (
                "uptime=123",
                Some("gps/$stats"),
                &[r#"ignored: subtopic "gps/$stats" is not one Pista reads"#],
            ),
            (
                "x",
                Some("proxy/serial"),
                &[r#"ignored: subtopic "proxy/serial" carries commands to a device"#],
            ),
            (
                r#"{"_type":"transition","event":"enter"}"#,
                Some("event"),
                &["tst_missing: transition tst is missing"],
            ),
            (
                r#"{"_type":"transition","event":"enter","tst":0}"#,
                Some("event"),
                &["tst_zero: transition tst 0 is not after 1970"],
            ),
            (
                r#"{"_type":"transition","event":"inside","tst":0}"#,
                Some("event"),
                &["invalid_message: transition event is \"inside\", expected one of enter, leave"],
            ),
            (
                "garbage",
                Some("event"),
                &["invalid_json: invalid JSON: expected value at line 1 column 1"],
            ),
            (
                r#"{"_type":"location","t":"a","lat":1,"lon":2,"tst":1600000000}"#,
                Some("alarm"),
                &[
                    r#"alarm {"_type":"location","t":"a","lat":1,"lon":2,"tst":1600000000,"tid":"ie"}"#,
                ],
            ),
            (
                "3 0 0 0",
                Some("proxy/jobs/currentjob/0"),
                &[concat!(
                    "tst_too_old: job time tst 0 (1970-01-01T00:00:00Z) is before the floor ",
                    "2008-01-01T00:00:00Z"
                )],
            ),
            (
                "3 0 0 0",
                Some("proxy/jobs/currentjob/9000000000"),
                &[concat!(
                    "tst_in_future: job time tst 9000000000 (2255-03-14T16:00:00Z) is more than ",
                    "86400 s after it arrived (2023-11-14T22:13:20Z)"
                )],
            ),
            (
                "K2,542A46AA,a,40365854,4575769,26,4,7,5,872",
                Some("alarm"),
                &[concat!(
                    r#"alarm {"_type":"location","tid":"K2","tst":1412056746,"t":"a","#,
                    r#""lat":40.365854,"lon":4.575769,"cog":260,"vel":4,"alt":70,"dist":5,"#,
                    r#""trip":872000,"csv":true}"#
                )],
            ),
        ];
        for (payload, subtopic, want) in cases {
            assert_eq!(summary(&run(payload, *subtopic)), *want, "{payload}");
        }
    }

    #[test]
    fn huge_arrays_are_quarantined_whole_with_the_reason() {
        let payload = format!("[{}{{}}]", "{},".repeat(MAX_ARRAY));
        let decoded = run(&payload, None);
        assert_eq!(
            summary(&decoded),
            ["too_many_messages: array of 1001 messages; at most 1000 are read"]
        );
    }

    #[test]
    fn array_elements_keep_their_own_bytes() {
        let decoded = run(r#"[ {"_type":"lwt", "tst": 1600000000} ]"#, None);
        let Decoded::Message { raw, .. } = &decoded[0] else { panic!("{decoded:?}") };
        assert_eq!(raw.as_ref(), br#"{"_type":"lwt","tst":1600000000}"#);
    }

    #[test]
    fn non_utf8_text_is_quarantined_with_the_reason() {
        let payload = Bytes::from_static(&[0xff, 0xfe, 0x41]);
        assert_eq!(
            summary(&run_bytes(payload.clone(), Some("info"))),
            [r#"invalid_greenwich: greenwich info payload "��A" is not UTF-8"#]
        );
        assert_eq!(
            summary(&run_bytes(payload, None)),
            ["invalid_json: payload is neither JSON nor a Greenwich CSV location"]
        );
    }
}
