//! Every entry of the protocol vector corpus (`testdata/vectors/protocol-payloads.jsonl`) is
//! published to the embedded broker, one at a time, and what was stored is compared with what a
//! small independent reading of the OwnTracks rules expects: locations are stored with their
//! values, other messages are kept raw with their type, and what cannot be understood is kept
//! with the reason. Nothing panics and nothing is lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;

use common::{TestServer, publish_v311};
use pista_core::DeviceKey;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Location { lat: f64, lon: f64, tst: i64, tid: String, batt: Option<f64> },
    Kept(Option<String>),
    Rejected,
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            s.trim().parse::<f64>().ok().filter(|f| f.is_finite() && !s.trim().is_empty())
        }
        _ => None,
    }
}

fn expect_object(object: &Map<String, Value>, device: &str) -> Expect {
    match object.get("_type") {
        Some(Value::String(t)) if t == "location" => {
            let lat = object.get("lat").and_then(number).filter(|v| v.abs() <= 90.0);
            let lon = object.get("lon").and_then(number).filter(|v| v.abs() <= 180.0);
            let tst = object.get("tst").and_then(number).filter(|t| *t > 0.0 && t.fract() == 0.0);
            let tid = match object.get("tid") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => device.chars().rev().take(2).collect::<Vec<_>>().into_iter().rev().collect(),
            };
            match (lat, lon, tst) {
                (Some(lat), Some(lon), Some(tst)) => Expect::Location {
                    lat,
                    lon,
                    tst: tst as i64,
                    tid,
                    batt: object.get("batt").and_then(number),
                },
                _ => Expect::Rejected,
            }
        }
        Some(Value::String(t)) => Expect::Kept(Some(t.clone())),
        _ => Expect::Rejected,
    }
}

fn greenwich_csv(line: &str) -> Option<Expect> {
    let f: Vec<&str> = line.split(',').collect();
    if f.len() != 10 {
        return None;
    }
    Some(Expect::Location {
        lat: f[3].parse::<f64>().ok()? / 1e6,
        lon: f[4].parse::<f64>().ok()? / 1e6,
        tst: i64::from_str_radix(f[1], 16).ok()?,
        tid: f[0].to_owned(),
        batt: None,
    })
}

fn expect(payload: &str, device: &str, subtopic: bool) -> Vec<Expect> {
    let text = payload.trim_end();
    if text.is_empty() {
        return vec![Expect::Kept(None)];
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => vec![expect_object(&object, device)],
        Ok(Value::Array(items)) if items.is_empty() => vec![Expect::Kept(None)],
        Ok(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_object().map_or(Expect::Rejected, |o| expect_object(o, device)))
            .collect(),
        Ok(_) if subtopic => vec![Expect::Kept(None)],
        Ok(_) => vec![Expect::Rejected],
        Err(_) if text.starts_with(['{', '[']) => vec![Expect::Rejected],
        Err(_) if subtopic => vec![Expect::Kept(None)],
        Err(_) => vec![greenwich_csv(text).unwrap_or(Expect::Rejected)],
    }
}

/// What the corpus's own labels promise, whatever the reading above says.
fn check_kind(kind: &str, got: &[Expect]) {
    let all = |ok: &dyn Fn(&Expect) -> bool| got.iter().all(ok);
    let ok = match kind {
        "location" | "gw-csv" => all(&|e| matches!(e, Expect::Location { .. })),
        "malformed-json" | "malformed-no-type" | "malformed-non-object" => {
            all(&|e| *e == Expect::Rejected)
        }
        "empty" => all(&|e| *e == Expect::Kept(None)),
        k if k.starts_with("gw-") => all(&|e| *e == Expect::Kept(None)),
        k if !k.contains("location")
            && !k.starts_with("http-response")
            && !k.starts_with("doc-") =>
        {
            let ty = k.trim_start_matches("malformed-").trim_start_matches("legacy-");
            all(&|e| *e == Expect::Kept(Some(ty.to_owned())))
        }
        _ => true,
    };
    assert!(ok, "kind {kind} stored as {got:?}");
}

#[tokio::test]
async fn every_protocol_vector_is_stored_as_the_rules_say() {
    let corpus = include_str!("../../../testdata/vectors/protocol-payloads.jsonl");
    let server = TestServer::start(|_| {}).await;
    let store = server.server.store.clone();
    let mut totals = [0usize; 3];

    for (index, line) in corpus.lines().enumerate() {
        let vector: Value = serde_json::from_str(line).unwrap();
        let kind = vector["kind"].as_str().unwrap();
        let payload = vector["payload"].as_str().unwrap();
        let topic = vector["topic"]
            .as_str()
            .map_or_else(|| format!("owntracks/vectors/v{index}"), str::to_owned);
        let levels: Vec<&str> = topic.split('/').collect();
        let key = DeviceKey::parse(levels[1], levels[2]).unwrap();
        let want = expect(payload, key.device.as_str(), levels.len() > 3);
        check_kind(kind, &want);

        let before_points: Vec<i64> =
            server.points(levels[1], levels[2]).await.iter().map(|p| p.id).collect();
        let before_messages = store.messages(Some(&key)).await.unwrap().len();
        publish_v311(server.broker_port(), &[(&topic, payload.as_bytes(), false)]).await;
        let new_points: Vec<_> = server
            .points(levels[1], levels[2])
            .await
            .into_iter()
            .filter(|p| !before_points.contains(&p.id))
            .collect();
        let new_messages: Vec<_> =
            store.messages(Some(&key)).await.unwrap().into_iter().skip(before_messages).collect();

        let mut points = new_points.iter();
        let mut messages = new_messages.iter();
        for expected in &want {
            match expected {
                Expect::Location { lat, lon, tst, tid, batt } => {
                    let point = points
                        .next()
                        .unwrap_or_else(|| panic!("vector {index} ({kind}): location not stored"));
                    assert_eq!(
                        (point.lat, point.lon, point.tst),
                        (*lat, *lon, *tst),
                        "vector {index}"
                    );
                    assert_eq!(point.json["tid"], Value::from(tid.as_str()), "vector {index}");
                    assert_eq!(
                        point.json.get("batt").and_then(Value::as_f64),
                        *batt,
                        "vector {index} batt"
                    );
                    totals[0] += 1;
                }
                Expect::Kept(msg_type) => {
                    let message = messages
                        .next()
                        .unwrap_or_else(|| panic!("vector {index} ({kind}): not kept"));
                    assert_eq!(
                        (&message.msg_type, &message.problem),
                        (msg_type, &None),
                        "vector {index} ({kind})"
                    );
                    totals[1] += 1;
                }
                Expect::Rejected => {
                    let message = messages
                        .next()
                        .unwrap_or_else(|| panic!("vector {index} ({kind}): not kept"));
                    let problem = message.problem.as_deref().unwrap_or_default();
                    assert!(!problem.is_empty(), "vector {index} ({kind}) kept without a reason");
                    totals[2] += 1;
                }
            }
        }
        assert!(
            points.next().is_none() && messages.next().is_none(),
            "vector {index} ({kind}) stored more than expected"
        );
        if want.len() == 1 && want[0] != Expect::Rejected && payload.trim_end().starts_with('{') {
            // A single JSON message is kept byte for byte (apart from trailing white space).
            if let Some(message) = new_messages.first() {
                assert_eq!(message.payload, payload.trim_end().as_bytes(), "vector {index}");
            }
        }
    }

    let stats = server.server.pipeline.stats();
    assert_eq!(
        stats.rejected.load(Ordering::Relaxed),
        totals[2] as u64,
        "every rejection was counted and logged"
    );
    assert_eq!(stats.kept.load(Ordering::Relaxed), totals[1] as u64);
    // The corpus has 211 entries (214 messages, arrays counted per element); these totals were
    // checked against a separate reading of the rules in Python.
    assert_eq!(totals, [45, 152, 17], "locations, kept, rejected");
    server.stop().await;
}
