//! The ingest cases of the bug corpus (`testdata/vectors/bug-cases.jsonl`, read at compile time)
//! run against a real in-process server: each case's `input` (topic, payload, path, headers,
//! body) is taken from the corpus and sent as it is over MQTT to the embedded broker (or the
//! shared Mosquitto for the restart case) or over HTTP mode, and what the server stored,
//! quarantined, ignored or answered is compared with exact values against the behaviour the
//! case's `expected` describes, in the variant the README documents. Each case also sends one or
//! two more inputs of the same kind of fault. Where the product does not (yet) behave as
//! documented, the check is listed in `KNOWN_GAPS`, and the test insists that it still fails so
//! the list cannot go stale.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use common::{
    FlakyStore, TestServer, eventually, forget_session, publish_mosquitto, publish_v311, unique,
    use_mosquitto,
};
use pista_core::DeviceKey;
use pista_core::crypto::{self, Secret};
use pista_store::Storage;
use serde_json::{Value, json};

const CORPUS: &str = include_str!("../../../testdata/vectors/bug-cases.jsonl");

/// Checks (named by case id, with a suffix for a part of a case) where Pista does not behave as
/// the README documents. Each must still fail; remove an entry once its check passes.
const KNOWN_GAPS: &[(&str, &str)] = &[];

/// Every check, in corpus order.
const CHECKS: &[&str] = &[
    "B01",
    "B02",
    "B04",
    "B05",
    "B07",
    "B08",
    "B11",
    "B13",
    "B14",
    "B14-transition-tst",
    "B16",
    "B17",
    "B19",
    "B20",
    "B25",
    "B26",
    "B28",
    "B29",
    "B31",
    "B32",
    "B35",
    "B37",
    "B46",
    "B56",
    "B58",
    "B59",
    "B65",
];

type Check = Result<(), String>;

/// Fails the check with both values when they differ.
macro_rules! ensure_eq {
    ($got:expr, $want:expr $(,)?) => {
        ensure_eq!($got, $want, "values differ")
    };
    ($got:expr, $want:expr, $($what:tt)+) => {
        // A match keeps temporaries alive for the comparison.
        match (&$got, &$want) {
            (got, want) => {
                if got != want {
                    return Err(format!(
                        "line {}: {}\n   got: {:?}\n  want: {:?}",
                        line!(),
                        format!($($what)+),
                        got,
                        want
                    ));
                }
            }
        }
    };
}

/// Fails the check when the condition does not hold.
macro_rules! ensure {
    ($cond:expr, $($what:tt)+) => {
        if !$cond {
            return Err(format!("line {}: {}", line!(), format!($($what)+)));
        }
    };
}

// ---------------------------------------------------------------------------------------------
// The corpus

fn corpus() -> Vec<Value> {
    CORPUS
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("corpus line is JSON"))
        .collect()
}

fn case(id: &str) -> Value {
    corpus()
        .into_iter()
        .find(|case| case["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not in the corpus"))
}

/// The `input` of a case.
fn input(id: &str) -> Value {
    case(id)["input"].clone()
}

/// The bytes an input sends: `raw_payload`/`raw_body` as written, `payload`/`body` as JSON.
fn bytes_of(input: &Value) -> Vec<u8> {
    for raw in ["raw_payload", "raw_body"] {
        if let Some(Value::String(text)) = input.get(raw) {
            return text.as_bytes().to_vec();
        }
    }
    for json in ["payload", "body"] {
        if let Some(value) = input.get(json) {
            return json_bytes(value);
        }
    }
    panic!("input without a payload or body: {input}")
}

fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// The `headers` of an input, with a `Basic base64(user:password)` placeholder encoded.
fn headers_of(input: &Value) -> Vec<(String, String)> {
    let real = |value: &str| match value.strip_prefix("Basic base64(") {
        Some(rest) => {
            let credentials = rest.strip_suffix(')').expect("a closed placeholder");
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
        }
        None => value.to_owned(),
    };
    input
        .get("headers")
        .and_then(Value::as_object)
        .map(|headers| {
            headers.iter().map(|(k, v)| (k.clone(), real(v.as_str().unwrap()))).collect()
        })
        .unwrap_or_default()
}

fn text(input: &Value, name: &str) -> String {
    input[name].as_str().unwrap_or_else(|| panic!("input has no {name}: {input}")).to_owned()
}

/// An object of the corpus with some members replaced.
fn with(value: &Value, changes: Value) -> Value {
    let mut value = value.clone();
    for (name, member) in changes.as_object().unwrap() {
        value[name] = member.clone();
    }
    value
}

// ---------------------------------------------------------------------------------------------
// Talking to the server

fn key(user: &str, device: &str) -> DeviceKey {
    DeviceKey::parse(user, device).unwrap()
}

/// An HTTP answer, read whole.
#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: String,
    retry_after: Option<String>,
    allow: Option<String>,
    text: String,
}

impl Reply {
    async fn read(response: reqwest::Response) -> Self {
        let header = |name: &str| {
            response.headers().get(name).map(|v| v.to_str().unwrap_or("<not text>").to_owned())
        };
        let (content_type, retry_after, allow) =
            (header("content-type").unwrap_or_default(), header("retry-after"), header("allow"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        Self { status, content_type, retry_after, allow, text }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// Status, content type and body, for comparing with what HTTP mode must answer.
    fn summary(&self) -> (u16, &str, &str) {
        (self.status, self.content_type.as_str(), self.text.as_str())
    }
}

/// The answer the apps must get for anything they may forget: `200`, a JSON array.
const EMPTY_ANSWER: (u16, &str, &str) = (200, "application/json", "[]");

async fn post(server: &TestServer, path: &str, headers: &[(String, String)], body: &[u8]) -> Reply {
    let headers: Vec<(&str, &str)> =
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Reply::read(server.post(path, &headers, body.to_vec()).await).await
}

async fn publish(server: &TestServer, topic: &str, payload: &[u8]) {
    publish_v311(server.broker_port(), &[(topic, payload, false)]).await;
}

/// Publishes one message larger than the MQTT client's default packet limit (10 KiB).
async fn publish_large(server: &TestServer, topic: &str, payload: &[u8]) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut options = MqttOptions::new(unique("large"), "127.0.0.1", server.broker_port());
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(options, 10);
    client.publish(topic, QoS::AtLeastOnce, false, payload.to_vec()).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => break,
            Ok(Ok(_)) => {}
            other => panic!("large publish failed: {other:?}"),
        }
    }
    let _ = client.disconnect().await;
}

fn store(server: &TestServer) -> &Arc<dyn Storage> {
    &server.server.store
}

/// Quarantined messages as (reason, problem, type, payload) of one device (`None`: all).
async fn quarantine(
    server: &TestServer,
    key: Option<&DeviceKey>,
) -> Vec<(String, String, Option<String>, Vec<u8>)> {
    store(server)
        .quarantined(key)
        .await
        .unwrap()
        .into_iter()
        .map(|q| (q.reason, q.problem, q.msg_type, q.payload))
        .collect()
}

async fn tsts(server: &TestServer, user: &str, device: &str) -> Vec<i64> {
    server.points(user, device).await.iter().map(|p| p.tst).collect()
}

fn stat(
    server: &TestServer,
    pick: fn(&pista_ingest::Stats) -> &std::sync::atomic::AtomicU64,
) -> u64 {
    pick(server.server.pipeline.stats()).load(Ordering::Relaxed)
}

/// The problem text serde_json gives for bytes that are not JSON, as Pista words it.
fn json_error(bytes: &[u8]) -> String {
    format!("invalid JSON: {}", serde_json::from_slice::<Value>(bytes).unwrap_err())
}

// ---------------------------------------------------------------------------------------------
// The checks

async fn check(name: &str) -> Check {
    match name {
        "B01" => b01().await,
        "B02" => b02().await,
        "B04" => b04().await,
        "B05" => b05().await,
        "B07" => b07().await,
        "B08" => b08().await,
        "B11" => b11().await,
        "B13" => b13().await,
        "B14" => b14().await,
        "B14-transition-tst" => b14_transition_tst().await,
        "B16" => b16().await,
        "B17" => b17().await,
        "B19" => b19().await,
        "B20" => b20().await,
        "B25" => b25().await,
        "B26" => b26().await,
        "B28" => b28().await,
        "B29" => b29().await,
        "B31" => b31().await,
        "B32" => b32().await,
        "B35" => b35().await,
        "B37" => b37().await,
        "B46" => b46().await,
        "B56" => b56().await,
        "B58" => b58().await,
        "B59" => b59().await,
        "B65" => b65().await,
        other => panic!("no check named {other}"),
    }
}

/// B01: an RFC 3339 `tst` is converted to seconds (never a truncated number or 1970), the same
/// over MQTT and HTTP; a time without a zone is not guessed.
async fn b01() -> Check {
    let input = input("B01");
    let server = TestServer::start(|_| {}).await;
    let payload = bytes_of(&input);
    publish(&server, &text(&input, "topic"), &payload).await;
    let points = server.points("alice", "phone").await;
    ensure_eq!(points.len(), 1, "one point over MQTT");
    ensure_eq!((points[0].tst, points[0].lat, points[0].lon), (1616411463, 66.8421, 25.5685));
    ensure_eq!(points[0].json["tst"], json!(1616411463), "tst is stored as seconds");
    ensure_eq!((&points[0].json["acc"], &points[0].json["tid"]), (&json!(42), &json!("al")));
    ensure_eq!(
        points[0].repairs,
        ["tst: \"2021-03-22T11:11:03.690Z\" read as RFC 3339 time"],
        "the stored point says its time came from text"
    );

    // The same rule over HTTP, and for an offset other than Z.
    let reply = post(&server, "/pub?u=alice&d=web", &[], &payload).await;
    ensure_eq!(reply.summary(), EMPTY_ANSWER);
    let offset = with(&input["payload"], json!({"tst": "2021-03-22T13:11:03+02:00"}));
    post(&server, "/pub?u=alice&d=offset", &[], &json_bytes(&offset)).await;
    ensure_eq!(tsts(&server, "alice", "web").await, [1616411463]);
    ensure_eq!(tsts(&server, "alice", "offset").await, [1616411463]);

    // A date without a zone, or text that only starts with digits, is quarantined.
    let zoneless = with(&input["payload"], json!({"tst": "2021-03-22T11:11:03"}));
    let digits = with(&input["payload"], json!({"tst": "2011 or so"}));
    for (device, body) in [("zoneless", &zoneless), ("digits", &digits)] {
        let reply =
            post(&server, &format!("/pub?u=alice&d={device}"), &[], &json_bytes(body)).await;
        ensure_eq!(reply.summary(), EMPTY_ANSWER, "{device}");
        ensure_eq!(tsts(&server, "alice", device).await, [] as [i64; 0], "{device}");
    }
    let reasons: Vec<(String, String)> =
        quarantine(&server, None).await.into_iter().map(|(r, p, _, _)| (r, p)).collect();
    ensure_eq!(
        reasons,
        [
            (
                "tst_unreadable".to_owned(),
                "location tst \"2021-03-22T11:11:03\" has no time zone, so its instant is \
                 ambiguous"
                    .to_owned()
            ),
            (
                "tst_unreadable".to_owned(),
                "location tst \"2011 or so\" is not a time in seconds".to_owned()
            ),
        ]
    );
    server.stop().await;
    Ok(())
}

/// B02: a location without `tst` is answered `200 []` and quarantined as `tst_missing` (the
/// README's rule; nothing is invented); the next message goes through.
async fn b02() -> Check {
    let input = input("B02");
    let server = TestServer::start(|_| {}).await;
    let body = bytes_of(&input);
    let reply = post(&server, &text(&input, "path"), &headers_of(&input), &body).await;
    ensure_eq!(reply.summary(), EMPTY_ANSWER);
    ensure_eq!(tsts(&server, "alice", "phone").await, [] as [i64; 0]);
    ensure_eq!(
        quarantine(&server, Some(&key("alice", "phone"))).await,
        [(
            "tst_missing".to_owned(),
            "location tst is missing".to_owned(),
            Some("location".to_owned()),
            body.clone()
        )]
    );

    // Other unusable times of the same kind, then a good message.
    let null = with(&input["body"], json!({"tst": null}));
    let zero = with(&input["body"], json!({"tst": 0}));
    let good = with(&input["body"], json!({"tst": 1700000000}));
    for body in [&null, &zero, &good] {
        let reply =
            post(&server, &text(&input, "path"), &headers_of(&input), &json_bytes(body)).await;
        ensure_eq!(reply.summary(), EMPTY_ANSWER, "{body}");
    }
    let reasons: Vec<(String, String)> =
        quarantine(&server, None).await.into_iter().map(|(r, p, _, _)| (r, p)).collect();
    ensure_eq!(
        reasons[1..],
        [
            ("tst_unreadable".to_owned(), "location tst null is not a time in seconds".to_owned()),
            ("tst_zero".to_owned(), "location tst 0 is not after 1970".to_owned()),
        ]
    );
    ensure_eq!(tsts(&server, "alice", "phone").await, [1700000000]);
    ensure_eq!(stat(&server, |s| &s.quarantined), 3);
    server.stop().await;
    Ok(())
}

/// B04: a `tst` in milliseconds is divided by 1000, and the reply is still `200 []`; a value
/// in microseconds is no date at all and is quarantined, never stored far in the future.
async fn b04() -> Check {
    let input = input("B04");
    let server = TestServer::start(|_| {}).await;
    let headers = headers_of(&input);
    let reply = post(&server, &text(&input, "path"), &headers, &bytes_of(&input)).await;
    ensure_eq!(reply.summary(), EMPTY_ANSWER);
    let points = server.points("alice", "phone").await;
    ensure_eq!(
        points.iter().map(|p| (p.tst, p.lat, p.lon)).collect::<Vec<_>>(),
        [(1700000000, 52.52, 13.405)]
    );
    ensure_eq!(points[0].json["tst"], json!(1700000000));
    ensure_eq!(
        points[0].repairs,
        ["tst: 1700000000000 milliseconds turned into seconds"],
        "the stored point says it was scaled"
    );

    // Milliseconds as text, then microseconds.
    let text_ms = with(&input["body"], json!({"tst": "1700000060000", "lat": 1}));
    let micros = with(&input["body"], json!({"tst": 1700000000000000_i64, "lat": 2}));
    for body in [&text_ms, &micros] {
        let reply = post(&server, &text(&input, "path"), &headers, &json_bytes(body)).await;
        ensure_eq!(reply.summary(), EMPTY_ANSWER, "{body}");
    }
    ensure_eq!(tsts(&server, "alice", "phone").await, [1700000000, 1700000060]);
    let kept = store(&server).quarantined(None).await.unwrap();
    ensure_eq!(kept.len(), 1);
    let problem = format!(
        "location tst 1700000000000000 (1700000000000000) is more than 86400 s after it arrived \
         ({})",
        pista_core::time::iso(kept[0].received_at)
    );
    ensure_eq!(
        (kept[0].reason.as_str(), kept[0].problem.as_str()),
        ("tst_in_future", problem.as_str())
    );
    let (_, last) = server.get("/api/0/last?user=alice").await;
    ensure_eq!(last[0]["tst"], json!(1700000060), "the last position is the plausible one");
    server.stop().await;
    Ok(())
}

/// B05: a fix counted from 2001 (before the 2008 floor) is answered `200 []`, quarantined as
/// `tst_too_old`, and is never in the track or the last position.
async fn b05() -> Check {
    let input = input("B05");
    let server = TestServer::start(|_| {}).await;
    let (path, headers, body) = (text(&input, "path"), headers_of(&input), bytes_of(&input));
    let reply = post(&server, &path, &headers, &body).await;
    ensure_eq!(reply.summary(), EMPTY_ANSWER);
    ensure_eq!(tsts(&server, "alice", "overland").await, [] as [i64; 0]);
    let (_, last) = server.get("/api/0/last?user=alice").await;
    ensure_eq!(last, json!([]));
    let too_old = (
        "tst_too_old".to_owned(),
        "location tst 806434679 (1995-07-22T17:37:59Z) is before the floor 2008-01-01T00:00:00Z"
            .to_owned(),
        Some("location".to_owned()),
        body.clone(),
    );
    let kept = quarantine(&server, None).await;
    ensure_eq!(kept.len(), 1);
    ensure_eq!(kept[0], too_old);

    // Around the floor, and the same fix again after a good one: kept once, never the last.
    let good = with(&input["body"], json!({"tst": 1700000000}));
    let floor = with(&input["body"], json!({"tst": 1199145600, "lat": 1}));
    let below = with(&input["body"], json!({"tst": 1199145599, "lat": 2}));
    for body in [json_bytes(&good), json_bytes(&floor), json_bytes(&below), body.clone()] {
        ensure_eq!(post(&server, &path, &headers, &body).await.summary(), EMPTY_ANSWER);
    }
    ensure_eq!(tsts(&server, "alice", "overland").await, [1199145600, 1700000000]);
    let (_, last) = server.get("/api/0/last?user=alice").await;
    ensure_eq!(last[0]["tst"], json!(1700000000));
    let kept = quarantine(&server, None).await;
    ensure_eq!(kept.len(), 2, "{kept:?}");
    ensure_eq!(kept[0], too_old);
    ensure_eq!(
        (kept[1].0.as_str(), kept[1].1.as_str()),
        (
            "tst_too_old",
            "location tst 1199145599 (2007-12-31T23:59:59Z) is before the floor \
             2008-01-01T00:00:00Z"
        )
    );
    server.stop().await;
    Ok(())
}

/// B07: the transition is kept; its `wtst` below 10^9 is kept in the message but not used, the
/// unknown trigger `l` is kept, and a float `acc` is accepted.
async fn b07() -> Check {
    let input = input("B07");
    let server = TestServer::start(|_| {}).await;
    let topic = text(&input, "topic");
    publish(&server, &topic, &bytes_of(&input)).await;
    let alice = key("alice", "phone");
    let transitions = store(&server).transitions(&alice).await.unwrap();
    ensure_eq!(transitions.len(), 1);
    let t = &transitions[0];
    ensure_eq!(
        (t.tst, t.wtst, t.event.as_str(), t.desc.as_deref(), t.trigger.as_deref(), t.acc),
        (1544358288, None, "enter", Some("Home"), Some("l"), Some(16.0))
    );
    ensure_eq!((t.lat, t.lon), (Some(52.52), Some(13.405)));
    let messages = store(&server).messages(Some(&alice)).await.unwrap();
    ensure_eq!(messages.len(), 1);
    let stored: Value = serde_json::from_str(&messages[0].payload).unwrap();
    ensure_eq!((&stored["wtst"], &stored["t"]), (&json!(1544357), &json!("l")), "kept as sent");
    ensure_eq!(messages[0].tst, Some(1544358288));

    // Another implausible wtst does not make it another region event; another unknown
    // trigger and acc as text are accepted too.
    let again = with(&input["payload"], json!({"wtst": 999_999_999}));
    let other = with(
        &input["payload"],
        json!({"tst": 1544358300, "t": "z", "acc": "7.5", "event": "leave"}),
    );
    publish(&server, &topic, &json_bytes(&again)).await;
    publish(&server, &topic, &json_bytes(&other)).await;
    let transitions = store(&server).transitions(&alice).await.unwrap();
    ensure_eq!(
        transitions
            .iter()
            .map(|t| (t.tst, t.wtst, t.event.clone(), t.trigger.clone(), t.acc))
            .collect::<Vec<_>>(),
        [
            (1544358288, None, "enter".to_owned(), Some("l".to_owned()), Some(16.0)),
            (1544358300, None, "leave".to_owned(), Some("z".to_owned()), Some(7.5)),
        ]
    );
    ensure!(quarantine(&server, None).await.is_empty(), "nothing quarantined");
    server.stop().await;
    Ok(())
}

/// B08: a point posted long after its fix is filed by its `tst`, and its arrival time is kept
/// apart (`isorcv`).
async fn b08() -> Check {
    let input = input("B08");
    let server = TestServer::start(|_| {}).await;
    let (path, headers) = (text(&input, "path"), headers_of(&input));
    ensure_eq!(post(&server, &path, &headers, &bytes_of(&input)).await.summary(), EMPTY_ANSWER);
    let earlier = with(&input["body"], json!({"tst": 1471593600 + 3600}));
    ensure_eq!(post(&server, &path, &headers, &json_bytes(&earlier)).await.summary(), EMPTY_ANSWER);

    let query = |from: &str, to: &str| {
        format!("/api/0/locations?user=alice&device=logger&from={from}&to={to}")
    };
    let (status, day) = server.get(&query("2016-08-20", "2016-08-20T23:59:59")).await;
    ensure_eq!(status, 200);
    ensure_eq!(day["count"], json!(1), "{day}");
    let item = &day["data"][0];
    ensure_eq!(
        (&item["tst"], &item["isotst"], &item["disptst"]),
        (&json!(1471680000), &json!("2016-08-20T08:00:00Z"), &json!("2016-08-20 08:00:00"))
    );
    let (_, before) = server.get(&query("2016-08-19", "2016-08-19T23:59:59")).await;
    ensure_eq!(before["data"][0]["tst"], json!(1471597200), "{before}");
    ensure_eq!(before["count"], json!(1));

    let now = pista_ingest::now();
    let today = &pista_core::time::iso(now)[..10];
    let (_, arrival_day) = server.get(&query(today, &format!("{today}T23:59:59"))).await;
    ensure_eq!(arrival_day["count"], json!(0), "nothing is filed under the upload day");
    let points = server.points("alice", "logger").await;
    ensure!(
        points.iter().all(|p| (now - 60..=now).contains(&p.received_at)),
        "arrival times kept apart: {points:?}"
    );
    ensure_eq!(item["isorcv"], json!(pista_core::time::iso(points[1].received_at)));
    server.stop().await;
    Ok(())
}

/// B11: pretty-printed JSON is accepted, and what is stored and read back does not depend on
/// white space.
async fn b11() -> Check {
    let input = input("B11");
    let server = TestServer::start(|_| {}).await;
    let pretty = bytes_of(&input);
    ensure_eq!(post(&server, &text(&input, "path"), &[], &pretty).await.summary(), EMPTY_ANSWER);
    let compact = json_bytes(&serde_json::from_slice::<Value>(&pretty).unwrap());
    let tabs = String::from_utf8(pretty.clone()).unwrap().replace('\n', "\r\n\t");
    ensure_eq!(post(&server, "/pub?u=test2&d=compact", &[], &compact).await.status, 200);
    ensure_eq!(post(&server, "/pub?u=test2&d=tabs", &[], tabs.as_bytes()).await.status, 200);

    let (status, body) =
        server.get("/api/0/locations?user=test2&device=phone2&from=2022-01-08&to=2022-01-09").await;
    ensure_eq!(status, 200);
    ensure_eq!(body["count"], json!(1));
    let item = common::without_isorcv(&body["data"][0]);
    ensure_eq!(
        item,
        json!({"_type":"location","acc":0,"lat":51.5178,"lon":-0.184,"tid":"t2","tst":1641660323,
            "isotst":"2022-01-08T16:45:23Z","disptst":"2022-01-08 16:45:23"})
    );
    let stored = server.points("test2", "phone2").await;
    for device in ["compact", "tabs"] {
        let other = server.points("test2", device).await;
        ensure_eq!(other.len(), 1, "{device}");
        ensure_eq!(other[0].json, stored[0].json, "{device}");
    }
    server.stop().await;
    Ok(())
}

/// B13: a payload cut off mid-key is quarantined as `invalid_json`, nothing of it is stored,
/// and large payloads are read whole.
async fn b13() -> Check {
    let input = input("B13");
    let server = TestServer::start(|_| {}).await;
    let topic = text(&input, "topic");
    let cut = bytes_of(&input);
    publish(&server, &topic, &cut).await;
    let cut_value = br#"{"_type":"location","lat":47.7,"lon":9.2,"tst":14948"#;
    let cut_array = br#"[{"_type":"location","lat":47.7,"lon":9.2,"tst":1494851972},{"_ty"#;
    publish(&server, &topic, cut_value).await;
    let reply = post(&server, "/pub?u=alice&d=phone", &[], cut_array).await;
    ensure_eq!(reply.summary(), EMPTY_ANSWER);
    let want: Vec<_> = [&cut[..], cut_value, cut_array]
        .iter()
        .map(|bytes| ("invalid_json".to_owned(), json_error(bytes), None, bytes.to_vec()))
        .collect();
    ensure_eq!(quarantine(&server, Some(&key("alice", "phone"))).await, want);
    ensure_eq!(tsts(&server, "alice", "phone").await, [] as [i64; 0]);
    ensure!(store(&server).messages(None).await.unwrap().is_empty(), "nothing stored");

    // 300 KiB arrive whole.
    let note = "x".repeat(300 * 1024);
    let big = json!({"_type":"location","lat":47.7233,"lon":9.2279,"tst":1494851972,"note":note});
    publish_large(&server, &topic, &json_bytes(&big)).await;
    let points = server.points("alice", "phone").await;
    ensure_eq!(points.len(), 1);
    ensure_eq!(points[0].json["note"].as_str().map(str::len), Some(300 * 1024));
    server.stop().await;
    Ok(())
}

/// B14: a transition whose `event` is a number is quarantined with the reason in words, the
/// server goes on; an optional field of the wrong type is dropped, a required one refuses
/// the message.
async fn b14() -> Check {
    let input = input("B14");
    let server = TestServer::start(|_| {}).await;
    let topic = text(&input, "topic");
    let payload = bytes_of(&input);
    publish(&server, &topic, &payload).await;
    let alice = key("alice", "phone");
    ensure_eq!(
        quarantine(&server, Some(&alice)).await,
        [(
            "invalid_message".to_owned(),
            "transition event is 1, expected one of enter, leave".to_owned(),
            Some("transition".to_owned()),
            payload.clone()
        )]
    );
    ensure!(store(&server).transitions(&alice).await.unwrap().is_empty(), "no region event");

    // More required fields of the wrong type.
    let event_list = with(&input["payload"], json!({"event": ["enter"]}));
    let event_word = with(&input["payload"], json!({"event": "inside"}));
    for body in [&event_list, &event_word] {
        publish(&server, &topic, &json_bytes(body)).await;
    }
    let problems: Vec<String> =
        quarantine(&server, Some(&alice)).await.into_iter().map(|(_, p, _, _)| p).collect();
    ensure_eq!(
        problems[1..],
        [
            "transition event is an array, expected one of enter, leave",
            "transition event is \"inside\", expected one of enter, leave",
        ]
    );

    // Optional fields of the wrong type (desc an object, tid an array) are dropped, and the
    // next message is handled.
    let odd = with(&input["payload"], json!({"event": "enter", "desc": {"x": 1}, "tid": ["a"]}));
    publish(&server, &topic, &json_bytes(&odd)).await;
    let transitions = store(&server).transitions(&alice).await.unwrap();
    ensure_eq!(
        transitions.iter().map(|t| (t.tst, t.event.as_str(), t.desc.clone())).collect::<Vec<_>>(),
        [(1708968445, "enter", None)]
    );
    let messages = store(&server).messages(Some(&alice)).await.unwrap();
    let stored: Value = serde_json::from_str(&messages[0].payload).unwrap();
    ensure_eq!((stored.get("desc"), stored.get("tid")), (None, None), "dropped: {stored}");
    ensure_eq!(messages[0].original.as_deref(), Some(&json_bytes(&odd)[..]));
    server.stop().await;
    Ok(())
}

/// B14, the time part of a transition: the README's one time rule gives the time codes.
async fn b14_transition_tst() -> Check {
    let input = input("B14");
    let server = TestServer::start(|_| {}).await;
    let topic = text(&input, "topic");
    let base = with(&input["payload"], json!({"event": "enter"}));
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("tst");
    let zero = with(&base, json!({"tst": 0}));
    let object = with(&base, json!({"tst": {"s": 1}}));
    for body in [&missing, &zero, &object] {
        publish(&server, &topic, &json_bytes(body)).await;
    }
    let reasons: Vec<String> = quarantine(&server, Some(&key("alice", "phone")))
        .await
        .into_iter()
        .map(|(reason, _, _, _)| reason)
        .collect();
    ensure_eq!(reasons, ["tst_missing", "tst_zero", "tst_unreadable"]);
    server.stop().await;
    Ok(())
}

/// B16: the body is read as JSON whatever the content type says.
async fn b16() -> Check {
    let input = input("B16");
    let server = TestServer::start(|_| {}).await;
    let body = bytes_of(&input);
    let mut variants = vec![("form", headers_of(&input))];
    for (device, content_type) in [
        ("plain", Some("text/plain")),
        ("octets", Some("application/octet-stream")),
        ("none", None),
    ] {
        let headers = content_type.map(|t| vec![("Content-Type".to_owned(), t.to_owned())]);
        variants.push((device, headers.unwrap_or_default()));
    }
    for (device, headers) in variants {
        // Pista's HTTP-mode path is /pub; the case's path belongs to another server.
        let reply = post(&server, &format!("/pub?u=ne&d={device}"), &headers, &body).await;
        ensure_eq!(reply.summary(), EMPTY_ANSWER, "{device}");
        let points = server.points("ne", device).await;
        ensure_eq!(
            points.iter().map(|p| (p.tst, p.lat, p.lon)).collect::<Vec<_>>(),
            [(1732559897, 37.33, -122.03)],
            "{device}"
        );
        ensure_eq!((&points[0].json["tid"], &points[0].json["acc"]), (&json!("NE"), &json!(4)));
    }
    ensure!(quarantine(&server, None).await.is_empty(), "nothing quarantined");
    server.stop().await;
    Ok(())
}

/// B17: a message on a subtopic Pista does not read is ignored and counted and makes up no
/// device; the transition is stored for alice/phone.
async fn b17() -> Check {
    let input = input("B17");
    let server = TestServer::start(|_| {}).await;
    for message in input["messages"].as_array().unwrap() {
        publish(&server, &text(message, "topic"), &bytes_of(message)).await;
    }
    ensure_eq!(stat(&server, |s| &s.ignored), 1);
    let alice = key("alice", "phone");
    let transitions = store(&server).transitions(&alice).await.unwrap();
    ensure_eq!(
        transitions
            .iter()
            .map(|t| (
                t.tst,
                t.wtst,
                t.event.as_str(),
                t.desc.as_deref(),
                t.acc,
                t.trigger.as_deref()
            ))
            .collect::<Vec<_>>(),
        [(1700000000, Some(1690000000), "leave", Some("Work"), Some(12.0), Some("c"))]
    );

    // Other levels below a device and unknown subtopics, JSON or not.
    let location = br#"{"_type":"location","lat":1,"lon":1,"tst":1700000000}"#;
    publish(&server, "owntracks/wemos/gps/$fw", b"1.0.2").await;
    publish(&server, "owntracks/alice/phone/homie/$state", location).await;
    ensure_eq!(stat(&server, |s| &s.ignored), 3);
    ensure_eq!(server.get("/api/0/list").await, (200, json!({"results": ["alice"]})));
    ensure_eq!(server.get("/api/0/list?user=alice").await.1, json!({"results": ["phone"]}));
    ensure_eq!(store(&server).device_state(&key("wemos", "gps")).await.unwrap(), None);
    ensure_eq!(tsts(&server, "alice", "phone").await, [] as [i64; 0]);
    ensure_eq!(store(&server).messages(None).await.unwrap().len(), 1);
    ensure!(quarantine(&server, None).await.is_empty(), "nothing quarantined");
    server.stop().await;
    Ok(())
}

/// B19: names match without case (the topic is kept as sent), and `a-b/c` and `a/b-c` are two
/// devices.
async fn b19() -> Check {
    let input = input("B19");
    let server = TestServer::start(|_| {}).await;
    for message in input["messages"].as_array().unwrap() {
        publish(&server, &text(message, "topic"), &bytes_of(message)).await;
    }
    let same = br#"{"_type":"location","tst":1700000100,"lat":1.5,"lon":1.5}"#;
    publish(&server, "owntracks/alice/phone", same).await;
    publish(&server, "owntracks/ALICE/PHONE", &same.to_ascii_lowercase()[..]).await;
    let points = server.points("alice", "phone").await;
    ensure_eq!(
        points.iter().map(|p| (p.tst, p.topic.as_str())).collect::<Vec<_>>(),
        [(1700000000, "owntracks/Alice/Phone"), (1700000100, "owntracks/alice/phone")]
    );
    ensure_eq!(tsts(&server, "a-b", "c").await, [1700000001]);
    ensure_eq!(tsts(&server, "a", "b-c").await, [1700000002]);

    // Other joining characters and non-ASCII letters stay apart too.
    publish(
        &server,
        "owntracks/a.b/c",
        br#"{"_type":"location","tst":1700000003,"lat":4,"lon":4}"#,
    )
    .await;
    publish(
        &server,
        "owntracks/Jürgen/Handy",
        br#"{"_type":"location","tst":1700000004,"lat":5,"lon":5}"#,
    )
    .await;
    publish(
        &server,
        "owntracks/jürgen/handy",
        br#"{"_type":"location","tst":1700000005,"lat":6,"lon":6}"#,
    )
    .await;
    ensure_eq!(
        server.get("/api/0/list").await.1,
        json!({"results": ["a", "a-b", "a.b", "alice", "jürgen"]})
    );
    ensure_eq!(server.get("/api/0/list?user=a").await.1, json!({"results": ["b-c"]}));
    ensure_eq!(tsts(&server, "JÜRGEN", "HANDY").await, [1700000004, 1700000005]);
    server.stop().await;
    Ok(())
}

/// B20 (identity only; there are no logins yet): an e-mail address is a user name, from the
/// `X-Limit-U` header or from the Basic user.
async fn b20() -> Check {
    let input = input("B20");
    let server = TestServer::start(|_| {}).await;
    let headers = headers_of(&input);
    let basic = base64::engine::general_purpose::STANDARD.encode("jane@example.org:pw");
    ensure_eq!(headers[0], ("Authorization".to_owned(), format!("Basic {basic}")));
    let reply = post(&server, &text(&input, "path"), &headers, &bytes_of(&input)).await;
    ensure_eq!(reply.summary(), EMPTY_ANSWER);
    let points = server.points("jane@example.org", "iphone").await;
    ensure_eq!(points.len(), 1);
    ensure_eq!((points[0].tst, points[0].lat, points[0].lon), (1758260278, 52.1, 5.1));
    ensure_eq!(points[0].json["tid"], json!("JD"));
    ensure_eq!(points[0].topic, "owntracks/jane@example.org/iphone");

    // The Basic user alone, with dots and dashes; `+` is an MQTT wildcard and refused.
    let basic = base64::engine::general_purpose::STANDARD.encode("jane.doe-x@example.org:p:w");
    let body = json_bytes(&with(&input["body"], json!({"tst": 1758260300})));
    let headers = vec![("Authorization".to_owned(), format!("Basic {basic}"))];
    let reply = post(&server, "/pub?d=iphone", &headers, &body).await;
    ensure_eq!(reply.summary(), EMPTY_ANSWER);
    ensure_eq!(tsts(&server, "jane.doe-x@example.org", "iphone").await, [1758260300]);
    let plus = vec![("X-Limit-U".to_owned(), "jane+tag@example.org".to_owned())];
    let reply = post(&server, "/pub", &plus, &body).await;
    ensure_eq!(
        (reply.status, reply.json()),
        (
            400,
            json!({"error": "user name \"jane+tag@example.org\" contains '+', which is not allowed in names", "status": 400})
        )
    );
    server.stop().await;
    Ok(())
}

/// B25: `trigger` is read as `t`, and the region name with a space is kept.
async fn b25() -> Check {
    let input = input("B25");
    let server = TestServer::start(|_| {}).await;
    let payload = bytes_of(&input);
    publish(&server, &text(&input, "topic"), &payload).await;
    let alice = key("alice", "phone");
    let transitions = store(&server).transitions(&alice).await.unwrap();
    ensure_eq!(transitions.len(), 1);
    let t = &transitions[0];
    ensure_eq!(
        (t.tst, t.wtst, t.event.as_str(), t.desc.as_deref(), t.trigger.as_deref(), t.acc),
        (1462535360, Some(1462534036), "enter", Some("my waypoint"), Some("c"), Some(18.349))
    );
    let messages = store(&server).messages(Some(&alice)).await.unwrap();
    let stored: Value = serde_json::from_str(&messages[0].payload).unwrap();
    ensure_eq!((stored.get("t"), stored.get("trigger")), (Some(&json!("c")), None));
    ensure_eq!(messages[0].original.as_deref(), Some(&payload[..]), "the client's bytes kept");

    // The same misspelling on a location.
    let location =
        br#"{"_type":"location","lat":11.11,"lon":22.22,"tst":1462535360,"trigger":"u"}"#;
    publish(&server, "owntracks/alice/phone", location).await;
    let points = server.points("alice", "phone").await;
    ensure_eq!(points.len(), 1);
    ensure_eq!((points[0].json.get("t"), points[0].json.get("trigger")), (Some(&json!("u")), None));
    server.stop().await;
    Ok(())
}

/// B26 (storage part): a beacon's leave event with `acc` 0 is stored, with acc 0.
async fn b26() -> Check {
    let input = input("B26");
    let server = TestServer::start(|_| {}).await;
    let topic = text(&input, "topic");
    publish(&server, &topic, &bytes_of(&input)).await;
    let ming = key("ming", "redmi");
    let leave = with(&input["payload"], json!({"tst": 1525241100, "acc": "0"}));
    publish(&server, &topic, &json_bytes(&leave)).await;
    let transitions = store(&server).transitions(&ming).await.unwrap();
    ensure_eq!(
        transitions
            .iter()
            .map(|t| (t.tst, t.event.as_str(), t.desc.as_deref(), t.acc, t.trigger.as_deref()))
            .collect::<Vec<_>>(),
        [
            (1525241000, "leave", Some("MR"), Some(0.0), Some("b")),
            (1525241100, "leave", Some("MR"), Some(0.0), Some("b")),
        ]
    );
    // A position with acc 0 is not filtered either.
    publish(
        &server,
        "owntracks/ming/redmi",
        br#"{"_type":"location","lat":22.5,"lon":114,"tst":1525241000,"acc":0}"#,
    )
    .await;
    let points = server.points("ming", "redmi").await;
    ensure_eq!(points.iter().map(|p| &p.json["acc"]).collect::<Vec<_>>(), [&json!(0)]);
    server.stop().await;
    Ok(())
}

/// The plaintext of `BASE64(secretbox of {...})`, or `None` for other placeholders.
fn sealed_plaintext(placeholder: &str) -> Option<&str> {
    placeholder.strip_prefix("BASE64(secretbox of ")?.strip_suffix(')')
}

/// B28: an encrypted post without topic or `X-Limit` headers: the identity is the Basic user
/// (device `phone`), the answer is sealed with that device's secret, the point stored there.
async fn b28() -> Check {
    let input = input("B28");
    let server = TestServer::start(|_| {}).await;
    let placeholder = input["body"]["data"].as_str().unwrap();
    let plain = sealed_plaintext(placeholder).expect("a secretbox placeholder");
    let secret_text = "b28 secret";
    let secret = Secret::new(secret_text).unwrap();
    store(&server).set_secret(&key("alice", "phone"), Some(secret_text), 1).await.unwrap();
    let body = with(&input["body"], json!({"data": crypto::seal(&secret, plain.as_bytes())}));
    let headers = headers_of(&input);
    let reply = post(&server, &text(&input, "path"), &headers, &json_bytes(&body)).await;
    ensure_eq!((reply.status, reply.content_type.as_str()), (200, "application/json"));
    let answer = reply.json();
    ensure_eq!(answer["_type"], json!("encrypted"), "{answer}");
    let opened = crypto::open(&secret, answer["data"].as_str().unwrap_or_default());
    ensure_eq!(opened, Ok(b"[]".to_vec()));
    let points = server.points("alice", "phone").await;
    ensure_eq!(points.len(), 1);
    ensure_eq!((points[0].tst, points[0].lat, points[0].lon), (1710236829, 52.52, 13.405));
    ensure_eq!(points[0].json["_decrypted"], json!(true));

    // Another user with no secret: 403 and the envelope kept, never an answer as if it worked.
    let bob = base64::engine::general_purpose::STANDARD.encode("bob:pw");
    let headers = vec![("Authorization".to_owned(), format!("Basic {bob}"))];
    let reply = post(&server, "/pub", &headers, &json_bytes(&body)).await;
    ensure_eq!(
        (reply.status, reply.json()),
        (
            403,
            json!({"error": "no encryption secret is set for bob/phone (kept in quarantine as no_key)", "status": 403})
        )
    );
    let kept = quarantine(&server, Some(&key("bob", "phone"))).await;
    ensure_eq!(kept.len(), 1);
    ensure_eq!((kept[0].0.as_str(), &kept[0].3), ("no_key", &json_bytes(&body)));
    server.stop().await;
    Ok(())
}

/// B29: an envelope for a device without a secret is quarantined as `no_key` and counted; once
/// the secret is set, a replay stores what was waiting. A wrong secret is `bad_key`.
async fn b29() -> Check {
    let input = input("B29");
    let server = TestServer::start(|_| {}).await;
    let topic = text(&input, "topic");
    let secret = Secret::new("b29 secret").unwrap();
    let seal = |tst: i64| {
        let plain = json!({"_type":"location","tst":tst,"lat":52.52,"lon":13.405});
        json_bytes(&with(
            &input["payload"],
            json!({"data": crypto::seal(&secret, &json_bytes(&plain))}),
        ))
    };
    let (later, earlier) = (seal(1700000600), seal(1700000000));
    publish(&server, &topic, &later).await;
    publish(&server, &topic, &earlier).await;
    let alice = key("alice", "phone");
    let no_key = |payload: &Vec<u8>| {
        (
            "no_key".to_owned(),
            "no encryption secret is set for alice/phone".to_owned(),
            Some("encrypted".to_owned()),
            payload.clone(),
        )
    };
    ensure_eq!(quarantine(&server, Some(&alice)).await, [no_key(&later), no_key(&earlier)]);
    ensure_eq!(stat(&server, |s| &s.quarantined), 2);
    ensure_eq!(tsts(&server, "alice", "phone").await, [] as [i64; 0]);

    // A device whose secret differs.
    store(&server).set_secret(&key("alice", "tablet"), Some("another"), 1).await.unwrap();
    publish(&server, "owntracks/alice/tablet", &later).await;
    let kept = quarantine(&server, Some(&key("alice", "tablet"))).await;
    ensure_eq!(
        kept.iter().map(|(r, p, _, _)| (r.as_str(), p.as_str())).collect::<Vec<_>>(),
        [("bad_key", "data does not authenticate: wrong secret or altered data")]
    );

    store(&server).set_secret(&alice, Some("b29 secret"), 2).await.unwrap();
    let reply = post(
        &server,
        "/api/0/quarantine/replay",
        &[("Content-Type".to_owned(), "application/json".to_owned())],
        br#"{"user":"alice","device":"phone"}"#,
    )
    .await;
    ensure_eq!(reply.status, 200, "{}", reply.text);
    ensure_eq!(reply.json()["replayed"].as_array().map(Vec::len), Some(2), "{}", reply.text);
    ensure_eq!(tsts(&server, "alice", "phone").await, [1700000000, 1700000600]);
    let released = store(&server).quarantined(Some(&alice)).await.unwrap();
    ensure!(released.iter().all(|q| q.released_at.is_some()), "released: {released:?}");
    server.stop().await;
    Ok(())
}

/// B31: an encrypted location and a plain last will from a device with a secret are both
/// handled; the last will marks the device offline.
async fn b31() -> Check {
    let input = input("B31");
    let server = TestServer::start(|_| {}).await;
    let topic = text(&input, "topic");
    let secret_text = "b31 secret";
    let secret = Secret::new(secret_text).unwrap();
    let alice = key("alice", "phone");
    store(&server).set_secret(&alice, Some(secret_text), 1).await.unwrap();
    let sequence = input["sequence"].as_array().unwrap();
    let plain = json!({"_type":"location","tst":1702568500,"lat":52.52,"lon":13.405,"tid":"al"});
    let envelope = with(&sequence[0], json!({"data": crypto::seal(&secret, &json_bytes(&plain))}));
    publish(&server, &topic, &json_bytes(&envelope)).await;
    publish(&server, &topic, &json_bytes(&sequence[1])).await;

    let points = server.points("alice", "phone").await;
    ensure_eq!(points.iter().map(|p| p.tst).collect::<Vec<_>>(), [1702568500]);
    ensure_eq!(points[0].json["_decrypted"], json!(true));
    let messages = store(&server).messages(Some(&alice)).await.unwrap();
    ensure_eq!(
        messages.iter().map(|m| (m.msg_type.as_deref(), m.tst)).collect::<Vec<_>>(),
        [(Some("lwt"), Some(1702568586))]
    );
    let state = store(&server).device_state(&alice).await.unwrap().unwrap_or_default();
    ensure_eq!(state.online, Some(0));

    // A plain location and an encrypted last will work the same way.
    let plain_location = json!({"_type":"location","tst":1702568600,"lat":52.5,"lon":13.4});
    let lwt = json!({"_type":"lwt","tst":1702568700});
    let sealed_lwt = with(&sequence[0], json!({"data": crypto::seal(&secret, &json_bytes(&lwt))}));
    publish(&server, &topic, &json_bytes(&plain_location)).await;
    publish(&server, &topic, &json_bytes(&sealed_lwt)).await;
    ensure_eq!(tsts(&server, "alice", "phone").await, [1702568500, 1702568600]);
    let messages = store(&server).messages(Some(&alice)).await.unwrap();
    ensure_eq!(messages.len(), 2);
    let stored: Value = serde_json::from_str(&messages[1].payload).unwrap();
    ensure_eq!(stored, json!({"_type":"lwt","tst":1702568700,"_decrypted":true}));
    ensure!(quarantine(&server, None).await.is_empty(), "nothing quarantined");
    server.stop().await;
    Ok(())
}

/// B32: a fix posted again with other extras is stored once (the first copy), and both posts
/// get `200 []`.
async fn b32() -> Check {
    let input = input("B32");
    let server = TestServer::start(|_| {}).await;
    let (path, headers) = (text(&input, "path"), headers_of(&input));
    for body in input["sequence"].as_array().unwrap() {
        ensure_eq!(post(&server, &path, &headers, &json_bytes(body)).await.summary(), EMPTY_ANSWER);
    }
    let points = server.points("mkay", "phone").await;
    ensure_eq!(points.len(), 1);
    ensure_eq!((&points[0].json["p"], points[0].json.get("created_at")), (&json!(100.694), None));
    ensure_eq!(stat(&server, |s| &s.duplicates), 1);

    // Within 1e-7° it is the same fix; 2e-7° away it is another one. Over MQTT too.
    let first = &input["sequence"][0];
    let near = with(first, json!({"lat": 48.10000004}));
    let apart = with(first, json!({"lat": 48.1000002}));
    for body in [&near, &apart] {
        ensure_eq!(post(&server, &path, &headers, &json_bytes(body)).await.summary(), EMPTY_ANSWER);
    }
    publish(&server, "owntracks/mkay/phone", &json_bytes(&input["sequence"][1])).await;
    let points = server.points("mkay", "phone").await;
    ensure_eq!(points.iter().map(|p| p.lat).collect::<Vec<_>>(), [48.1, 48.1000002]);
    ensure_eq!(stat(&server, |s| &s.duplicates), 3);
    server.stop().await;
    Ok(())
}

/// B35: after a restart, the broker's retained fix newer than the stored last becomes the last
/// position; copies already stored are not added again; an older retained fix never replaces
/// the last one. Needs the shared Mosquitto (retained messages survive only there).
async fn b35() -> Check {
    let input = input("B35");
    let t: i64 = 1_700_000_000;
    let retained = with(&input["retained_payload"], json!({"tst": t}));
    let user = unique("bug35");
    let topic = format!("owntracks/{user}/phone");
    let client_id = unique("pista-test-");
    let topics = [format!("owntracks/{user}/#")];
    let dir = tempfile::tempdir().unwrap();
    let db = FlakyStore::open(dir.path()).await;

    let server =
        TestServer::start_with(|s| use_mosquitto(s, &client_id, &topics), Some(db.clone())).await;
    let stale = with(&retained, json!({"tst": t - 86400, "lat": 52.0}));
    eventually("the subscription to mosquitto", || async {
        publish_mosquitto(&[(&topic, &json_bytes(&stale), false)]).await;
        (!server.points(&user, "phone").await.is_empty()).then_some(())
    })
    .await;
    server.stop().await;

    // While Pista is down the broker takes a retained fix.
    publish_mosquitto(&[(&topic, &json_bytes(&retained), true)]).await;
    let server =
        TestServer::start_with(|s| use_mosquitto(s, &client_id, &topics), Some(db.clone())).await;
    let points = server.wait_points(&user, "phone", 2).await;
    let result: Check = async {
        ensure_eq!(points.iter().map(|p| p.tst).collect::<Vec<_>>(), [t - 86400, t]);
        ensure_eq!(last_tst(&server, &user).await, json!(t));

        // An older retained fix is stored in its place in time, not as the last position.
        let older = with(&retained, json!({"tst": t - 3600, "lat": 52.1}));
        publish_mosquitto(&[(&topic, &json_bytes(&older), true)]).await;
        server.wait_points(&user, "phone", 3).await;
        ensure_eq!(tsts(&server, &user, "phone").await, [t - 86400, t - 3600, t]);
        ensure_eq!(last_tst(&server, &user).await, json!(t));
        Ok(())
    }
    .await;
    server.stop().await;
    result?;

    // Restarted again, the retained copy is a duplicate.
    let server =
        TestServer::start_with(|s| use_mosquitto(s, &client_id, &topics), Some(db.clone())).await;
    let stats = server.server.pipeline.stats();
    eventually("the retained copy after the restart", || async {
        (stats.duplicates.load(Ordering::Relaxed) >= 1).then_some(())
    })
    .await;
    let result: Check = async {
        ensure_eq!(tsts(&server, &user, "phone").await, [t - 86400, t - 3600, t]);
        ensure_eq!(last_tst(&server, &user).await, json!(t));
        Ok(())
    }
    .await;
    server.stop().await;
    publish_mosquitto(&[(&topic, b"", true)]).await;
    forget_session(&client_id).await;
    result
}

/// The `tst` of a user's newest point, as `/api/0/last` shows it.
async fn last_tst(server: &TestServer, user: &str) -> Value {
    server.get(&format!("/api/0/last?user={user}")).await.1[0]["tst"].clone()
}

/// B37: `/api/0/locations` returns points in `tst` order whatever the arrival order.
async fn b37() -> Check {
    let input = input("B37");
    let server = TestServer::start(|_| {}).await;
    let topic = text(&input, "topic");
    for payload in input["sequence"].as_array().unwrap() {
        publish(&server, &topic, &json_bytes(payload)).await;
    }
    let path = "/api/0/locations?user=alice&device=phone&from=2021-11-01&to=2021-11-02";
    let (status, body) = server.get(path).await;
    ensure_eq!(status, 200);
    let order = |body: &Value| -> Vec<(Value, Value)> {
        body["data"]
            .as_array()
            .map(|items| items.iter().map(|i| (i["tst"].clone(), i["lon"].clone())).collect())
            .unwrap_or_default()
    };
    ensure_eq!(
        order(&body),
        [
            (json!(1635796800), json!(-110.0)),
            (json!(1635797100), json!(-110.01)),
            (json!(1635797400), json!(-110.02)),
        ]
    );
    // With a limit: the newest two, still oldest first; the late point is not the last one.
    let (_, limited) = server.get(&format!("{path}&limit=2")).await;
    ensure_eq!(
        order(&limited),
        [(json!(1635797100), json!(-110.01)), (json!(1635797400), json!(-110.02))]
    );
    ensure_eq!(server.get("/api/0/last").await.1[0]["tst"], json!(1635797400));
    server.stop().await;
    Ok(())
}

/// B46: the poles and ±180° are accepted; anything outside the ranges is quarantined as
/// `invalid_message` with the range, and no NaN or infinity reaches the API.
async fn b46() -> Check {
    let input = input("B46");
    let server = TestServer::start(|_| {}).await;
    let (path, headers) = (text(&input, "path"), headers_of(&input));
    let mut bodies: Vec<Vec<u8>> =
        input["sequence"].as_array().unwrap().iter().map(json_bytes).collect();
    bodies.push(br#"{"_type":"location","tst":1700000240,"lat":"NaN","lon":0}"#.to_vec());
    bodies.push(br#"{"_type":"location","tst":1700000300,"lat":1,"lon":"-Infinity"}"#.to_vec());
    bodies.push(br#"{"_type":"location","tst":1700000360,"lat":1,"lon":180.0000001}"#.to_vec());
    for body in &bodies {
        ensure_eq!(post(&server, &path, &headers, body).await.summary(), EMPTY_ANSWER);
    }
    let (status, answer) =
        server.get("/api/0/locations?user=alice&device=phone&from=2023-11-14&to=2023-11-15").await;
    ensure_eq!(status, 200);
    let coordinates: Vec<(Value, Value)> = answer["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (item["lat"].clone(), item["lon"].clone()))
        .collect();
    ensure_eq!(coordinates, [(json!(90.0), json!(0.0)), (json!(-90.0), json!(180.0))]);
    let kept = quarantine(&server, None).await;
    ensure_eq!(
        kept.iter().map(|(r, p, _, _)| (r.as_str(), p.as_str())).collect::<Vec<_>>(),
        [
            ("invalid_message", "location lat 90.000001 is out of range -90..=90"),
            ("invalid_message", "location lon -180.5 is out of range -180..=180"),
            ("invalid_message", "location lat is \"NaN\", expected a number"),
            ("invalid_message", "location lon is \"-Infinity\", expected a number"),
            ("invalid_message", "location lon 180.0000001 is out of range -180..=180"),
        ]
    );
    server.stop().await;
    Ok(())
}

/// B56: HTTP mode always answers a JSON array with the JSON content type: for locations,
/// duplicates, types it only keeps, and bodies it quarantines.
async fn b56() -> Check {
    let input = input("B56");
    let server = TestServer::start(|_| {}).await;
    let (path, headers) = (text(&input, "path"), headers_of(&input));
    let location = bytes_of(&input);
    let bodies: [&[u8]; 7] = [
        &location,
        &location,
        br#"{"_type":"lwt","tst":1778400001}"#,
        br#"{"_type":"steps","tst":1778400002,"steps":12}"#,
        br#"{"_type":"status","iOS":{"locationManager":{}}}"#,
        br#"{"_type":"waypoints","waypoints":[]}"#,
        b"not json",
    ];
    for body in bodies {
        let reply = post(&server, &path, &headers, body).await;
        ensure_eq!(reply.summary(), EMPTY_ANSWER, "{}", String::from_utf8_lossy(body));
    }
    ensure_eq!(tsts(&server, "alice", "phone").await, [1778400000]);
    ensure_eq!(stat(&server, |s| &s.duplicates), 1);
    ensure_eq!(store(&server).messages(None).await.unwrap().len(), 4);
    ensure_eq!(quarantine(&server, None).await.len(), 1);
    server.stop().await;
    Ok(())
}

/// B58: a body Pista cannot use is answered `200 []` on `/pub` (the README's rule, so the apps
/// do not resend it) but kept in quarantine with the reason, never dropped; the case's own path
/// is no ingest path here and answers a JSON `404`.
async fn b58() -> Check {
    let input = input("B58");
    let server = TestServer::start(|_| {}).await;
    let (headers, body) = (headers_of(&input), bytes_of(&input));
    let reply = post(&server, "/pub?u=alice&d=phone", &headers, &body).await;
    ensure_eq!(reply.summary(), EMPTY_ANSWER);
    let array = br#"[{"unexpected":"other shape"},17]"#;
    ensure_eq!(
        post(&server, "/pub?u=alice&d=phone", &headers, array).await.summary(),
        EMPTY_ANSWER
    );
    ensure_eq!(
        quarantine(&server, Some(&key("alice", "phone"))).await,
        [
            ("not_a_message".to_owned(), "message has no _type".to_owned(), None, body.clone()),
            (
                "not_a_message".to_owned(),
                "message has no _type".to_owned(),
                None,
                br#"{"unexpected":"other shape"}"#.to_vec()
            ),
            (
                "not_a_message".to_owned(),
                "array element 1 is JSON a number, not an object".to_owned(),
                None,
                b"17".to_vec()
            ),
        ]
    );
    let path = text(&input, "path");
    let reply = post(&server, &path, &headers, &body).await;
    ensure_eq!(
        (reply.status, reply.content_type.as_str(), reply.json()),
        (404, "application/json", json!({"error": format!("nothing here: {path}"), "status": 404}))
    );
    server.stop().await;
    Ok(())
}

/// B59: with storage down, `/pub` answers `503` with `Retry-After` and the embedded broker
/// sends no PUBACK; after recovery every point is stored exactly once.
async fn b59() -> Check {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let input = input("B59");
    let dir = tempfile::tempdir().unwrap();
    let db = FlakyStore::open(dir.path()).await;
    db.down.store(true, Ordering::SeqCst);
    let server = TestServer::start_with(|_| {}, Some(db.clone())).await;
    let http = &input["http"];
    let (path, body) = (text(http, "path"), json_bytes(&http["body"]));
    let reply = post(&server, &path, &[], &body).await;
    ensure_eq!(
        (reply.status, reply.retry_after.as_deref(), reply.json()),
        (503, Some("5"), json!({"error": "storage is unavailable, retry later", "status": 503}))
    );

    let topic = text(&input["mqtt"], "topic");
    let (client, mut events) =
        AsyncClient::new(MqttOptions::new(unique("b59"), "127.0.0.1", server.broker_port()), 10);
    client.publish(&topic, QoS::AtLeastOnce, false, body.clone()).await.unwrap();
    let acked = loop {
        match tokio::time::timeout(Duration::from_secs(10), events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => break true,
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => break false,
        }
    };
    ensure!(!acked, "a PUBACK was sent while storage was down");
    ensure_eq!(tsts(&server, "owntracks", "phone").await, [] as [i64; 0]);
    ensure_eq!(tsts(&server, "alice", "phone").await, [] as [i64; 0]);

    // Recovery: the clients send again (twice, as a retry after a lost answer would).
    db.down.store(false, Ordering::SeqCst);
    for _ in 0..2 {
        ensure_eq!(post(&server, &path, &[], &body).await.summary(), EMPTY_ANSWER);
        publish(&server, &topic, &body).await;
    }
    ensure_eq!(tsts(&server, "owntracks", "phone").await, [1397030000]);
    ensure_eq!(tsts(&server, "alice", "phone").await, [1397030000]);
    ensure_eq!(stat(&server, |s| &s.duplicates), 2);
    ensure!(quarantine(&server, None).await.is_empty(), "nothing quarantined");
    server.stop().await;
    Ok(())
}

/// B65: probing `/pub` with other methods gets a JSON `405` naming `POST` (HEAD: no body),
/// never a `500` or HTML.
async fn b65() -> Check {
    let input = input("B65");
    let server = TestServer::start(|_| {}).await;
    let client = reqwest::Client::new();
    let mut requests: Vec<String> = input["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    requests.extend(["PUT /pub".to_owned(), "DELETE /pub".to_owned()]);
    for request in requests {
        let (method, path) = request.split_once(' ').unwrap();
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response =
            client.request(method.clone(), format!("{}{path}", server.http)).send().await.unwrap();
        let reply = Reply::read(response).await;
        ensure_eq!((reply.status, reply.allow.as_deref()), (405, Some("POST")), "{request}");
        ensure_eq!(reply.content_type, "application/json", "{request}");
        let want = if method == reqwest::Method::HEAD {
            String::new()
        } else {
            let error = format!("method {method} is not allowed on /pub; allowed: POST");
            json!({"error": error, "status": 405}).to_string()
        };
        ensure_eq!(reply.text, want, "{request}");
    }
    server.stop().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The tests

/// Runs every check at once, each on a server of its own, and reports all failures together.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ingest_bug_cases_behave_as_documented() {
    let mut running = tokio::task::JoinSet::new();
    for name in CHECKS {
        running.spawn(async move {
            let result = tokio::time::timeout(Duration::from_secs(50), check(name)).await;
            (*name, result.unwrap_or_else(|_| Err("timed out after 50 s".to_owned())))
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = running.join_next().await {
        let (name, result) = match joined {
            Ok(done) => done,
            Err(error) => {
                failures.push(format!("a check panicked: {error}"));
                continue;
            }
        };
        let gap = KNOWN_GAPS.iter().find(|(id, _)| *id == name);
        match (gap, result) {
            (None, Ok(())) | (Some(_), Err(_)) => {}
            (None, Err(error)) => failures.push(format!("{name}: {error}")),
            (Some((_, why)), Ok(())) => failures.push(format!(
                "{name} now behaves as documented; remove it from KNOWN_GAPS ({why})"
            )),
        }
    }
    failures.sort();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The table names real corpus cases, each once, and every known gap is one of its checks.
#[test]
fn the_table_follows_the_corpus() {
    let ids: Vec<String> =
        corpus().iter().map(|case| case["id"].as_str().unwrap().to_owned()).collect();
    for name in CHECKS {
        let id = name.split('-').next().unwrap();
        assert!(ids.iter().any(|known| known == id), "{name} is not a case of the corpus");
        assert_eq!(CHECKS.iter().filter(|n| *n == name).count(), 1, "{name} twice");
        let transport = case(id)["input"]["transport"].as_str().map(str::to_owned);
        assert!(
            !matches!(
                transport.as_deref(),
                Some("osmand" | "traccar" | "gpslogger" | "import" | "api")
            ),
            "{name} is not an ingest case ({transport:?})"
        );
    }
    for (name, why) in KNOWN_GAPS {
        assert!(CHECKS.contains(name), "known gap {name} is no check");
        assert!(why.starts_with("FIXME(#"), "{name}: say which issue tracks it");
    }
}
