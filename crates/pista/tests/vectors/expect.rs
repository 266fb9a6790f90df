//! The independent reading of the published rules that every vector is checked against: what
//! storing one payload on one topic should give (a location, a stored message of a type, a
//! quarantine reason, an empty message, or nothing because the topic is ignored), by `_type`
//! first and subtopic second, with the one time rule, Greenwich text and CSV, and topics
//! outside `owntracks/#` left alone. It shares no code with the server.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// 2008-01-01T00:00:00Z: no fix of an OwnTracks client is older.
const FLOOR: i64 = 1_199_145_600;
/// How far after its arrival a fix may lie.
pub const AHEAD: i64 = 86_400;

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Location {
        lat: f64,
        lon: f64,
        tst: i64,
        tid: String,
        batt: Option<f64>,
    },
    /// A stored message of this type (`_type`, or a `gw-` kind for Greenwich text).
    Message(String),
    Quarantined(String),
    Empty,
    Ignored,
}

impl Outcome {
    pub fn rank(&self) -> usize {
        match self {
            Outcome::Location { .. } => 0,
            Outcome::Message(_) => 1,
            Outcome::Quarantined(_) => 2,
            Outcome::Empty => 3,
            Outcome::Ignored => 4,
        }
    }
}

/// Outcome kinds in `rank` order, for the totals.
pub const KINDS: [&str; 5] = ["locations", "messages", "quarantined", "empty", "ignored"];

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn text(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::String(_) | Value::Number(_)))
}

/// The time rule: whole seconds, milliseconds divided, RFC 3339 with a zone converted.
fn read_time(value: Option<&Value>) -> Result<i64, &'static str> {
    let value = value.ok_or("tst_missing")?;
    let seconds = match value {
        Value::Number(n) => n.as_f64().ok_or("tst_unreadable")?,
        Value::String(s)
            if !s.trim().is_empty() && s.trim().chars().all(|c| c.is_ascii_digit() || c == '.') =>
        {
            s.trim().parse::<f64>().map_err(|_| "tst_unreadable")?
        }
        Value::String(s) => {
            let time =
                chrono::DateTime::parse_from_rfc3339(s.trim()).map_err(|_| "tst_unreadable")?;
            time.timestamp() as f64
        }
        _ => return Err("tst_unreadable"),
    };
    let seconds = seconds.floor();
    if seconds <= 0.0 {
        return Err("tst_zero");
    }
    if seconds >= 1e11 { Ok((seconds / 1000.0).floor() as i64) } else { Ok(seconds as i64) }
}

fn plausible(tst: i64, now: i64) -> Result<i64, &'static str> {
    if tst < FLOOR {
        Err("tst_too_old")
    } else if tst > now + AHEAD {
        Err("tst_in_future")
    } else {
        Ok(tst)
    }
}

pub fn quarantined(reason: &str) -> Outcome {
    Outcome::Quarantined(reason.to_owned())
}

fn expect_location(
    object: &Map<String, Value>,
    device: &str,
    now: i64,
) -> Result<Outcome, &'static str> {
    let coordinate = |name: &str, max: f64| {
        object.get(name).and_then(number).filter(|v| v.abs() <= max).ok_or("invalid_message")
    };
    let lat = coordinate("lat", 90.0)?;
    let lon = coordinate("lon", 180.0)?;
    let tst = plausible(read_time(object.get("tst"))?, now)?;
    let tid = match object.get("tid") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            let chars: Vec<char> = device.chars().collect();
            chars[chars.len().saturating_sub(2)..].iter().collect()
        }
    };
    let batt = object.get("batt").and_then(number);
    Ok(Outcome::Location { lat, lon, tst, tid, batt })
}

fn expect_object(
    object: &Map<String, Value>,
    device: &str,
    subtopic: Option<&str>,
    now: i64,
) -> Outcome {
    let Some(Value::String(msg_type)) = object.get("_type") else {
        return quarantined("not_a_message");
    };
    let get = |name: &str| object.get(name);
    let invalid = quarantined("invalid_message");
    match msg_type.as_str() {
        "location" => match expect_location(object, device, now) {
            Ok(_) if subtopic == Some("alarm") => Outcome::Message("alarm".to_owned()),
            Ok(location) => location,
            // An alarm is not a track point, so its time is not held to the plausibility rule.
            Err("tst_too_old" | "tst_in_future") if subtopic == Some("alarm") => {
                Outcome::Message("alarm".to_owned())
            }
            Err(reason) => quarantined(reason),
        },
        "transition" => {
            let event =
                matches!(get("event"), Some(Value::String(e)) if e == "enter" || e == "leave");
            match (event, read_time(get("tst"))) {
                (true, Ok(tst)) => match plausible(tst, now) {
                    Ok(_) => Outcome::Message(msg_type.clone()),
                    Err(reason) => quarantined(reason),
                },
                _ => invalid,
            }
        }
        "waypoint" if !text(get("desc")) || read_time(get("tst")).is_err() => invalid,
        "waypoints" if !matches!(get("waypoints"), Some(Value::Array(_))) => invalid,
        "cmd" if !text(get("action")) => invalid,
        "request" if !text(get("request")) => invalid,
        "encrypted" if !text(get("data")) => invalid,
        // No secret is set in this test, so no envelope can be opened.
        "encrypted" => quarantined("no_key"),
        _ => Outcome::Message(msg_type.clone()),
    }
}

/// The kind and validity of Greenwich text on `subtopic`; `None` when it is not a Greenwich
/// subtopic.
fn greenwich(subtopic: &str, text: &str) -> Option<Result<&'static str, ()>> {
    let levels: Vec<&str> = subtopic.split('/').collect();
    let byte = |s: &str| s.parse::<u8>().is_ok() && s.chars().all(|c| c.is_ascii_digit());
    let float = |s: &str| s.parse::<f64>().is_ok_and(f64::is_finite);
    let plmn = |s: &str| matches!(s.len(), 5 | 6) && s.chars().all(|c| c.is_ascii_digit());
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let check = |kind: &'static str, ok: bool| {
        Some(if ok && !text.is_empty() { Ok(kind) } else { Err(()) })
    };
    match levels.as_slice() {
        ["status"] => check("gw-status", matches!(text, "1" | "0" | "-1")),
        ["info"] => check("gw-info", true),
        ["start"] => check("gw-start", text.split_whitespace().count() >= 3),
        ["voltage", "batt" | "ext"] => check("gw-voltage", float(text)),
        ["temperature", sensor] => check("gw-temperature", byte(sensor) && float(text)),
        ["gpio", pin] => check("gw-gpio", byte(pin) && matches!(text, "0" | "1")),
        ["cellinfo"] => check(
            "gw-cellinfo",
            text.split_whitespace().count() == 4
                && text.split_whitespace().all(|f| f.chars().all(|c| c.is_ascii_digit())),
        ),
        ["operators"] => check(
            "gw-operators",
            text.split_whitespace().all(|t| plmn(t.trim_start_matches(['+', '-', '?']))),
        ),
        ["operators", code] => check("gw-operator-name", plmn(code)),
        ["cmd"] => check("gw-cmd", true),
        ["cmd", "out"] => check("gw-cmd-out", true),
        ["obd2", canid, _mode, ..] => {
            check("gw-obd2", canid.chars().all(|c| c.is_ascii_hexdigit()))
        }
        ["fms", "data", _] | ["fms", _] => check("gw-fms", true),
        ["raw"] => check("gw-raw", true),
        ["log", "E" | "W" | "I" | "D"] => check("gw-log", true),
        // An Activo job box through the serial proxy; other proxy topics are not read.
        ["proxy", "jobs", "active"] => check("gw-job", digits(text)),
        ["proxy", "jobs", "currentjob", tst] => check(
            "gw-job",
            digits(tst)
                && text.split_whitespace().count() == 4
                && text.split_whitespace().all(digits),
        ),
        ["proxy", "jobs", id] if digits(id) => check("gw-job", true),
        ["proxy", "jobs", "job" | "place" | "machine", id] => check("gw-job", digits(id)),
        ["proxy", "jobs", "job", id, task] => check("gw-job", digits(id) && digits(task)),
        _ => None,
    }
}

fn greenwich_csv(line: &str, device: &str, now: i64) -> Outcome {
    let f: Vec<&str> = line.split(',').collect();
    let parsed = (|| {
        let lat = f[3].parse::<f64>().ok()? / 1e6;
        let lon = f[4].parse::<f64>().ok()? / 1e6;
        let tst = i64::from_str_radix(f[1], 16).ok()?;
        Some((lat, lon, tst))
    })();
    let Some((lat, lon, tst)) = parsed else { return quarantined("invalid_greenwich") };
    let mut object = Map::new();
    object.insert("_type".into(), "location".into());
    object.insert("lat".into(), lat.into());
    object.insert("lon".into(), lon.into());
    object.insert("tst".into(), tst.into());
    object.insert("tid".into(), f[0].into());
    expect_object(&object, device, None, now)
}

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

/// What storing `payload` published on `topic` should give.
pub fn expect(topic: &str, payload: &str, now: i64) -> Vec<Outcome> {
    let trimmed_topic = topic.strip_prefix('/').unwrap_or(topic);
    if !trimmed_topic.starts_with("owntracks/") {
        return Vec::new();
    }
    let levels: Vec<&str> = trimmed_topic.splitn(4, '/').collect();
    let device = levels[2].to_lowercase();
    let subtopic = levels.get(3).copied().filter(|s| !s.is_empty());
    let text = payload.trim_end();
    let app = subtopic.is_some_and(|s| APP_SUBTOPICS.contains(&s));
    let gw = subtopic.and_then(|s| greenwich(s, text));
    match subtopic {
        None | Some("pico") => {}
        Some(s) if gw.is_none() && (s == "proxy" || s.starts_with("proxy/")) => {
            return vec![Outcome::Ignored];
        }
        Some(_) if !app && gw.is_none() => return vec![Outcome::Ignored],
        Some(_) => {}
    }
    if text.is_empty() {
        return vec![Outcome::Empty];
    }
    let on_base = matches!(subtopic, None | Some("pico"));
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => vec![expect_object(&object, &device, subtopic, now)],
        Ok(Value::Array(items)) if items.is_empty() => vec![Outcome::Empty],
        Ok(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Object(o) => expect_object(o, &device, subtopic, now),
                _ => quarantined("not_a_message"),
            })
            .collect(),
        Ok(_) if on_base => vec![quarantined("not_a_message")],
        Err(_) if text.starts_with(['{', '[']) => vec![quarantined("invalid_json")],
        _ if on_base => {
            if text.split(',').count() == 10 {
                vec![greenwich_csv(text, &device, now)]
            } else {
                vec![quarantined("invalid_json")]
            }
        }
        _ => vec![match gw {
            Some(Ok(kind)) => Outcome::Message(kind.to_owned()),
            Some(Err(())) => quarantined("invalid_greenwich"),
            None => quarantined("invalid_json"),
        }],
    }
}

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}
