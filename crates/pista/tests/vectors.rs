//! Every entry of the vector corpora (`testdata/vectors/protocol-payloads.jsonl` and
//! `testdata/vectors/seed-payloads.jsonl`) is published, one at a time, to the embedded broker of
//! a real in-process server, and what was stored, quarantined or ignored is compared, with exact
//! values, with what a small independent reading of the published rules expects: routing by
//! `_type` first and subtopic second, the one time rule (seconds, milliseconds divided, RFC 3339
//! converted, 2008-01-01 floor, at most a day ahead of arrival), Greenwich text and CSV, and
//! topics outside `owntracks/#` left alone. Server outputs in the seed corpus are fed too, on
//! their own topics. The totals per outcome are pinned and cross-checked with the pipeline's
//! counters, and the corpus's own labels are checked against the expectations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{TestServer, publish_v311};
use pista_core::DeviceKey;
use serde_json::{Map, Value};

/// 2008-01-01T00:00:00Z: no fix of an OwnTracks client is older.
const FLOOR: i64 = 1_199_145_600;
/// How far after its arrival a fix may lie.
const AHEAD: i64 = 86_400;

/// Where the server and the reading below disagree and the server is wrong by the spec. Each
/// entry is (file, vector index). The test checks that they still differ, so the list cannot go
/// stale once the product is fixed.
const KNOWN_WRONG: &[(&str, usize)] = &[];

/// Entries whose label the spec overrules; checked to still disagree with the label.
const LABEL_OVERRULED: &[(&str, usize)] = &[
    // `{"_type":"waypoint"}` (json-schema test/w.json) is labelled `waypoint`, but protocol.md
    // §4.3 makes `desc` and `tst` required, so it is quarantined as invalid_message.
    ("protocol", 57),
];

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
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
    fn rank(&self) -> usize {
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
const KINDS: [&str; 5] = ["locations", "messages", "quarantined", "empty", "ignored"];

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

fn quarantined(reason: &str) -> Outcome {
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
fn expect(topic: &str, payload: &str, now: i64) -> Vec<Outcome> {
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
        Some(s) if s == "proxy" || s.starts_with("proxy/") => return vec![Outcome::Ignored],
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

/// What the corpus's own label promises for one entry.
fn check_label(kind: &str, payload: &str, want: &[Outcome]) -> bool {
    let all = |ok: &dyn Fn(&Outcome) -> bool| !want.is_empty() && want.iter().all(ok);
    let time_refused = |o: &Outcome| matches!(o, Outcome::Quarantined(r) if r.starts_with("tst_"));
    let has_type = payload.contains("\"_type\"");
    match kind {
        "location" | "gw-csv" => all(&|o| matches!(o, Outcome::Location { .. }) || time_refused(o)),
        "malformed-json" | "malformed-no-type" | "malformed-non-object" => {
            all(&|o| matches!(o, Outcome::Quarantined(_)))
        }
        "empty" => want == [Outcome::Empty],
        "encrypted" => want == [quarantined("no_key")],
        // Without a key the envelope is never opened, so a broken one waits in quarantine too.
        "malformed-encrypted" => all(&|o| matches!(o, Outcome::Quarantined(_))),
        k if k.starts_with("gw-") => {
            all(&|o| matches!(o, Outcome::Message(t) if t.starts_with("gw-")))
        }
        k if k.starts_with("http-response") || k.starts_with("doc-") => true,
        // An object without `_type` names no type, whatever the label says.
        _ if !has_type => want == [quarantined("not_a_message")],
        k => {
            let ty = k.trim_start_matches("malformed-").trim_start_matches("legacy-");
            let malformed = k.starts_with("malformed-");
            all(&|o| match o {
                Outcome::Message(t) => t == ty,
                Outcome::Location { .. } => ty == "location",
                Outcome::Quarantined(r) => {
                    (malformed && r == "invalid_message")
                        || time_refused(o)
                        || (ty == "location" && r == "invalid_message")
                }
                _ => false,
            })
        }
    }
}

/// What a seed entry's label promises: Greenwich text kinds on device subtopics, and server
/// outputs outside `owntracks/#` left alone.
fn check_seed_label(index: usize, entry: &Value, topic: &str, want: &[Outcome]) {
    let kind = entry["kind"].as_str().unwrap();
    let direction = entry["direction"].as_str().unwrap();
    let ours = topic.trim_start_matches('/').starts_with("owntracks/");
    if !ours {
        assert!(want.is_empty(), "seed vector {index}: {direction} on {topic} gives {want:?}");
        return;
    }
    let word = kind.split([' ', '(']).next().unwrap().split('/').next().unwrap();
    let gw_word = [
        "status",
        "start",
        "voltage",
        "temperature",
        "gpio",
        "operators",
        "cellinfo",
        "cmd",
        "obd2",
        "info",
    ];
    if gw_word.contains(&word) && !topic.ends_with("/proxy") {
        assert!(
            want.iter().all(|o| matches!(o, Outcome::Message(t) if t.starts_with("gw-"))
                || *o == quarantined("invalid_greenwich")),
            "seed vector {index}: {kind} gives {want:?}"
        );
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Publishes every entry of `corpus` and returns the totals per outcome kind.
async fn run_corpus(file: &str, corpus: &str) -> [usize; 5] {
    let server = TestServer::start(|_| {}).await;
    let store = server.server.store.clone();
    let stats = server.server.pipeline.stats();
    let mut totals = [0usize; 5];
    let mut wrong = Vec::new();
    let mut labels = Vec::new();

    for (index, line) in corpus.lines().enumerate() {
        let entry: Value = serde_json::from_str(line).unwrap();
        let kind = entry["kind"].as_str().unwrap();
        let payload = entry["payload"].as_str().unwrap();
        let topic = entry["topic"]
            .as_str()
            .map_or_else(|| format!("owntracks/vectors/v{index}"), str::to_owned);
        let want = expect(&topic, payload, now());
        if entry.get("direction").is_some() {
            check_seed_label(index, &entry, &topic, &want);
        } else {
            let overruled = LABEL_OVERRULED.contains(&(file, index));
            if check_label(kind, payload, &want) == overruled {
                labels.push(format!(
                    "{file} vector {index}: label {kind} but the rules give {want:?}"
                ));
            }
        }

        let levels: Vec<&str> = topic.trim_start_matches('/').splitn(4, '/').collect();
        let key =
            (levels.len() >= 3).then(|| DeviceKey::parse(levels[1], levels[2]).ok()).flatten();
        let points_before: Vec<i64> = match &key {
            Some(k) => server
                .points(k.user.as_str(), k.device.as_str())
                .await
                .iter()
                .map(|p| p.id)
                .collect(),
            None => Vec::new(),
        };
        let messages_before = store.messages(None).await.unwrap().len();
        let quarantined_before = store.quarantined(None).await.unwrap().len();
        let ignored_before = stats.ignored.load(Ordering::SeqCst);
        let locations_before = stats.locations.load(Ordering::SeqCst);

        publish_v311(server.broker_port(), &[(&topic, payload.as_bytes(), false)]).await;

        let mut got = Vec::new();
        let new_points: Vec<_> = match &key {
            Some(k) => server
                .points(k.user.as_str(), k.device.as_str())
                .await
                .into_iter()
                .filter(|p| !points_before.contains(&p.id))
                .collect(),
            None => Vec::new(),
        };
        assert_eq!(
            stats.locations.load(Ordering::SeqCst) - locations_before,
            new_points.len() as u64,
            "{file} vector {index}: every stored location is on the topic's device"
        );
        for point in &new_points {
            assert_eq!(point.topic, topic, "{file} vector {index}");
            got.push(Outcome::Location {
                lat: point.lat,
                lon: point.lon,
                tst: point.tst,
                tid: point.json["tid"].as_str().unwrap_or_default().to_owned(),
                batt: point.json.get("batt").and_then(Value::as_f64),
            });
        }
        let new_messages: Vec<_> =
            store.messages(None).await.unwrap().into_iter().skip(messages_before).collect();
        for message in &new_messages {
            assert_eq!(message.topic, topic, "{file} vector {index}");
            got.push(match &message.msg_type {
                Some(t) => {
                    // The typed message is a JSON object; JSON input keeps its `_type`.
                    let typed: Value = serde_json::from_str(&message.payload).unwrap();
                    let object = typed.as_object().expect("typed message is an object");
                    if !t.starts_with("gw-") && t != "alarm" {
                        assert_eq!(
                            object["_type"],
                            Value::from(t.as_str()),
                            "{file} vector {index}"
                        );
                    }
                    Outcome::Message(t.clone())
                }
                None => {
                    assert_eq!(message.payload, "", "{file} vector {index}: empty message");
                    Outcome::Empty
                }
            });
        }
        let new_quarantined: Vec<_> =
            store.quarantined(None).await.unwrap().into_iter().skip(quarantined_before).collect();
        for item in &new_quarantined {
            assert_eq!(item.topic, topic, "{file} vector {index}");
            assert!(!item.problem.is_empty(), "{file} vector {index}: quarantined without words");
            if want.len() == 1 {
                // A single message is kept as it came, apart from trailing white space.
                assert_eq!(item.payload, payload.trim_end().as_bytes(), "{file} vector {index}");
            }
            got.push(Outcome::Quarantined(item.reason.clone()));
        }
        for _ in ignored_before..stats.ignored.load(Ordering::SeqCst) {
            got.push(Outcome::Ignored);
        }

        let mut want_sorted = want.clone();
        want_sorted.sort_by_key(Outcome::rank);
        got.sort_by_key(Outcome::rank);
        if KNOWN_WRONG.contains(&(file, index)) {
            assert_ne!(
                got, want_sorted,
                "{file} vector {index} is fixed: drop it from KNOWN_WRONG"
            );
        } else if got != want_sorted {
            wrong.push(format!(
                "{file} vector {index} ({kind}) on {topic}: payload {payload:?}\n  expected {want_sorted:?}\n  got      {got:?}"
            ));
        }
        for outcome in &want {
            totals[outcome.rank()] += 1;
        }
    }
    assert!(
        labels.is_empty() && wrong.is_empty(),
        "{} label mismatches:\n{}\n{} disagreements with the server:\n{}",
        labels.len(),
        labels.join("\n"),
        wrong.len(),
        wrong.join("\n")
    );

    // The pipeline counted exactly what was stored (empty payloads are counted as messages).
    let counted = [
        stats.locations.load(Ordering::SeqCst),
        stats.messages.load(Ordering::SeqCst),
        stats.quarantined.load(Ordering::SeqCst),
        stats.ignored.load(Ordering::SeqCst),
        stats.duplicates.load(Ordering::SeqCst),
    ];
    let expected = [totals[0], totals[1] + totals[3], totals[2], totals[4], 0].map(|n| n as u64);
    assert_eq!(counted, expected, "{file}: locations, messages, quarantined, ignored, duplicates");
    server.stop().await;
    totals
}

#[tokio::test]
async fn every_protocol_vector_is_stored_as_the_rules_say() {
    let corpus = include_str!("../../../testdata/vectors/protocol-payloads.jsonl");
    let totals = run_corpus("protocol", corpus).await;
    // 211 entries, 214 messages (array elements count one by one).
    assert_eq!(totals, [41, 141, 29, 3, 0], "protocol totals {KINDS:?}");
}

#[tokio::test]
async fn every_seed_vector_is_stored_as_the_rules_say() {
    let corpus = include_str!("../../../testdata/vectors/seed-payloads.jsonl");
    let totals = run_corpus("seed", corpus).await;
    // 129 entries; the 35 published outside `owntracks/#` (server outputs, operator commands to
    // o2s, `tt/...` simulator topics, abbreviated `../` and `<base>/` topics) give nothing.
    assert_eq!(totals, [5, 78, 9, 0, 2], "seed totals {KINDS:?}");
}
