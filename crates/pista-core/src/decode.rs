//! Turning the bytes of one inbound message into what Pista stores. A payload is JSON (one
//! object, or an array of objects, each handled on its own), a Greenwich CSV location on a
//! device's base topic, or plain text on a subtopic (Greenwich status, voltages, command output).
//! Locations are validated; every other message is kept as it came with its type, and anything
//! that cannot be understood is kept too, with the reason, so that nothing that arrives is lost.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::greenwich::{csv_fields, parse_csv_location};
use crate::ids::DeviceName;
use crate::location::Location;

/// The meaning of one message (one element of an array payload counts as one message).
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A valid location fix.
    Location { location: Box<Location>, raw: Bytes },
    /// A message kept as it came: another `_type` (typed by later stages), a plain-text
    /// subtopic value, or an empty payload.
    Kept { msg_type: Option<String>, raw: Bytes },
    /// A message that cannot be understood, kept with the reason.
    Rejected { msg_type: Option<String>, problem: String, raw: Bytes },
}

/// Most messages one payload may carry as a JSON array; a larger array is kept whole, raw, with
/// that reason, so one request cannot flood storage and logs with a million rejections.
pub const MAX_ARRAY: usize = 1000;

/// Decodes `payload`, received on a topic of `device` with the given subtopic.
pub fn decode(payload: &Bytes, device: &DeviceName, subtopic: Option<&str>) -> Vec<Decoded> {
    let trimmed = trim(payload);
    if trimmed.is_empty() {
        return vec![Decoded::Kept { msg_type: None, raw: payload.clone() }];
    }
    match serde_json::from_slice::<Value>(&trimmed) {
        Ok(Value::Object(object)) => vec![decode_object(object, device, trimmed)],
        Ok(Value::Array(items)) if items.len() > MAX_ARRAY => {
            let problem =
                format!("array of {} messages; at most {MAX_ARRAY} are read", items.len());
            vec![rejected(None, problem, trimmed)]
        }
        Ok(Value::Array(items)) => decode_array(items, device),
        // Plain values on subtopics are Greenwich text (`1`, `12.2`), not JSON messages.
        Ok(_) if subtopic.is_some() => vec![Decoded::Kept { msg_type: None, raw: trimmed }],
        Ok(other) => {
            let problem = format!("payload is JSON {}, not an object", json_kind(&other));
            vec![rejected(None, problem, trimmed)]
        }
        Err(error) => vec![decode_text(trimmed, device, subtopic, error)],
    }
}

fn decode_array(items: Vec<Value>, device: &DeviceName) -> Vec<Decoded> {
    if items.is_empty() {
        return vec![Decoded::Kept { msg_type: None, raw: Bytes::from_static(b"[]") }];
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let raw = Bytes::from(serde_json::to_vec(&item).unwrap_or_default());
            match item {
                Value::Object(object) => decode_object(object, device, raw),
                other => {
                    let problem = format!(
                        "array element {index} is JSON {}, not an object",
                        json_kind(&other)
                    );
                    rejected(None, problem, raw)
                }
            }
        })
        .collect()
}

fn decode_object(object: Map<String, Value>, device: &DeviceName, raw: Bytes) -> Decoded {
    let msg_type = match object.get("_type") {
        Some(Value::String(t)) => t.clone(),
        Some(other) => {
            let problem = format!("_type is JSON {}, not text", json_kind(other));
            return rejected(None, problem, raw);
        }
        None => return rejected(None, "message has no _type".to_owned(), raw),
    };
    if msg_type != "location" {
        return Decoded::Kept { msg_type: Some(msg_type), raw };
    }
    match Location::from_json(object, || device.default_tid()) {
        Ok(location) => Decoded::Location { location: Box::new(location), raw },
        Err(error) => rejected(Some(msg_type), error.to_string(), raw),
    }
}

/// A payload that is not JSON: a Greenwich CSV location on the base topic, plain text on a
/// subtopic, or broken JSON.
fn decode_text(
    raw: Bytes,
    device: &DeviceName,
    subtopic: Option<&str>,
    json_error: serde_json::Error,
) -> Decoded {
    let text = std::str::from_utf8(&raw).ok();

    let looks_like_json = matches!(raw.first(), Some(b'{' | b'['));
    if looks_like_json {
        return rejected(None, format!("invalid JSON: {json_error}"), raw);
    }
    if subtopic.is_some() {
        return Decoded::Kept { msg_type: None, raw };
    }

    match text.filter(|line| csv_fields(line).is_some()) {
        Some(line) => match parse_csv_location(line) {
            Ok(object) => match Location::from_json(object, || device.default_tid()) {
                Ok(location) => Decoded::Location { location: Box::new(location), raw },
                Err(error) => rejected(Some("location".to_owned()), error.to_string(), raw),
            },
            Err(error) => rejected(None, error.to_string(), raw),
        },
        None => {
            rejected(None, "payload is neither JSON nor a Greenwich CSV location".to_owned(), raw)
        }
    }
}

fn rejected(msg_type: Option<String>, problem: String, raw: Bytes) -> Decoded {
    Decoded::Rejected { msg_type, problem, raw }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
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

    fn run(payload: &str, subtopic: Option<&str>) -> Vec<Decoded> {
        decode(&Bytes::from(payload.to_owned()), &DeviceName::parse("jjolie").unwrap(), subtopic)
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
                Decoded::Kept { msg_type, .. } => format!("kept {msg_type:?}"),
                Decoded::Rejected { problem, .. } => format!("rejected: {problem}"),
            })
            .collect()
    }

    #[test]
    fn payloads_decode_by_shape() {
        let cases: &[(&str, Option<&str>, &[&str])] = &[
            (r#"{"_type":"location","lat":1,"lon":2,"tst":3}"#, None, &["location ie 3 1 2"]),
            (
                "K2,542A46AA,k,40365854,4575769,26,4,7,5,8",
                None,
                &["location K2 1412056746 40.365854 4.575769"],
            ),
            (r#"{"_type":"lwt"}"#, None, &["kept Some(\"lwt\")"]),
            (
                r#"{"_type":"transition","event":"enter"}"#,
                Some("event"),
                &["kept Some(\"transition\")"],
            ),
            ("12.2", Some("voltage/ext"), &["kept None"]),
            ("", None, &["kept None"]),
            ("\n\n", None, &["kept None"]),
            ("[]", None, &["kept None"]),
            (
                r#"[{"_type":"location","lat":8,"lon":9,"tst":1000},{"_type":"lwt","tst":1000}, 7]"#,
                None,
                &[
                    "location ie 1000 8 9",
                    "kept Some(\"lwt\")",
                    "rejected: array element 2 is JSON a number, not an object",
                ],
            ),
            ("null", None, &["rejected: payload is JSON null, not an object"]),
            ("{}", None, &["rejected: message has no _type"]),
            (r#"{"_type":null}"#, None, &["rejected: _type is JSON null, not text"]),
            (r#"{"_type":"location","lat":1}"#, None, &["rejected: location has no lon"]),
            ("hello", None, &["rejected: payload is neither JSON nor a Greenwich CSV location"]),
            ("\u{feff}{\"_type\":\"lwt\"}", None, &["kept Some(\"lwt\")"]),
            (
                r#"{"cog":136,"_type":"location","tid"#,
                None,
                &["rejected: invalid JSON: EOF while parsing a string at line 1 column 34"],
            ),
            (
                "K2,XYZ,k,1,1,1,1,1,1,1",
                None,
                &["rejected: greenwich csv field tst \"XYZ\" is not hexadecimal seconds"],
            ),
        ];
        for (payload, subtopic, want) in cases {
            assert_eq!(summary(&run(payload, *subtopic)), *want, "{payload}");
        }
    }

    #[test]
    fn huge_arrays_are_kept_whole_with_the_reason() {
        let payload = format!("[{}{{}}]", "{},".repeat(MAX_ARRAY));
        let decoded = run(&payload, None);
        assert_eq!(summary(&decoded), ["rejected: array of 1001 messages; at most 1000 are read"]);
    }

    #[test]
    fn array_elements_keep_their_own_bytes() {
        let decoded = run(r#"[ {"_type":"lwt", "tst": 1} ]"#, None);
        let Decoded::Kept { raw, .. } = &decoded[0] else { panic!("{decoded:?}") };
        assert_eq!(raw.as_ref(), br#"{"_type":"lwt","tst":1}"#);
    }

    #[test]
    fn non_utf8_text_is_kept_on_subtopics_and_rejected_on_the_base_topic() {
        let payload = Bytes::from_static(&[0xff, 0xfe, 0x41]);
        let device = DeviceName::parse("k2").unwrap();
        assert!(matches!(
            &decode(&payload, &device, Some("raw"))[0],
            Decoded::Kept { msg_type: None, .. }
        ));
        assert!(matches!(&decode(&payload, &device, None)[0], Decoded::Rejected { .. }));
    }
}
