//! What the bug-case checks share: reading the corpus and the parts of a case's input, sending
//! to the server over HTTP and MQTT, and reading back what it stored, quarantined and counted.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use pista_core::DeviceKey;
use pista_core::crypto::{self, Secret};
use pista_store::{Storage, StoredMessage, StoredTransition};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::{Value, json};

use super::CORPUS;
use crate::common::{TestServer, publish_v311, unique};

// ---------------------------------------------------------------------------------------------
// The corpus

pub fn corpus() -> Vec<Value> {
    CORPUS
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("corpus line is JSON"))
        .collect()
}

pub fn case(id: &str) -> Value {
    corpus()
        .into_iter()
        .find(|case| case["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not in the corpus"))
}

/// The `input` of a case.
pub fn input(id: &str) -> Value {
    case(id)["input"].clone()
}

/// The bytes an input sends: `raw_payload`/`raw_body` as written, `payload`/`body` as JSON.
pub fn bytes_of(input: &Value) -> Vec<u8> {
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

pub fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// The `headers` of an input, with a `Basic base64(user:password)` placeholder encoded.
pub fn headers_of(input: &Value) -> Vec<(String, String)> {
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

pub fn text(input: &Value, name: &str) -> String {
    input[name].as_str().unwrap_or_else(|| panic!("input has no {name}: {input}")).to_owned()
}

/// An object of the corpus with some members replaced.
pub fn with(value: &Value, changes: Value) -> Value {
    let mut value = value.clone();
    for (name, member) in changes.as_object().unwrap() {
        value[name] = member.clone();
    }
    value
}

/// An `Authorization` header for HTTP Basic with `user:password`.
pub fn basic_auth(credentials: &str) -> (String, String) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    ("Authorization".to_owned(), format!("Basic {encoded}"))
}

/// An encrypted message like `template`, with `plain` sealed with `secret` as its `data`.
pub fn envelope(template: &Value, secret: &Secret, plain: &[u8]) -> Value {
    with(template, json!({"data": crypto::seal(secret, plain)}))
}

// ---------------------------------------------------------------------------------------------
// Talking to the server

pub fn key(user: &str, device: &str) -> DeviceKey {
    DeviceKey::parse(user, device).unwrap()
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub allow: Option<String>,
    pub text: String,
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Self {
        let header = |name: &str| {
            response.headers().get(name).map(|v| v.to_str().unwrap_or("<not text>").to_owned())
        };
        let (content_type, retry_after, allow) =
            (header("content-type").unwrap_or_default(), header("retry-after"), header("allow"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        Self { status, content_type, retry_after, allow, text }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// Status, content type and body, for comparing with what HTTP mode must answer.
    pub fn summary(&self) -> (u16, &str, &str) {
        (self.status, self.content_type.as_str(), self.text.as_str())
    }
}

/// The answer the apps must get for anything they may forget: `200`, a JSON array.
pub const EMPTY_ANSWER: (u16, &str, &str) = (200, "application/json", "[]");

/// No stored fix times at all.
pub const NO_TSTS: [i64; 0] = [];

pub async fn post(
    server: &TestServer,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Reply {
    let headers: Vec<(&str, &str)> =
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Reply::read(server.post(path, &headers, body.to_vec()).await).await
}

/// Posts `body` the way the case's input is posted: to its `path`, with its `headers`.
pub async fn post_like(server: &TestServer, input: &Value, body: &[u8]) -> Reply {
    post(server, &text(input, "path"), &headers_of(input), body).await
}

pub async fn publish(server: &TestServer, topic: &str, payload: &[u8]) {
    publish_v311(server.broker_port(), &[(topic, payload, false)]).await;
}

/// Publishes each of the input's `messages` on its own topic.
pub async fn publish_messages(server: &TestServer, input: &Value) {
    for message in input["messages"].as_array().unwrap() {
        publish(server, &text(message, "topic"), &bytes_of(message)).await;
    }
}

/// Publishes one message larger than the MQTT client's default packet limit (10 KiB).
pub async fn publish_large(server: &TestServer, topic: &str, payload: &[u8]) {
    let mut options = MqttOptions::new(unique("large"), "127.0.0.1", server.broker_port());
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(options, 10);
    client.publish(topic, QoS::AtLeastOnce, false, payload.to_vec()).await.unwrap();
    if let Err(other) = puback(&mut events).await {
        panic!("large publish failed: {other}");
    }
    let _ = client.disconnect().await;
}

/// Polls the client until the broker acknowledges a publish; what came instead when it fails
/// or stays silent for 10 s.
pub async fn puback(events: &mut EventLoop) -> Result<(), String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => return Ok(()),
            Ok(Ok(_)) => {}
            other => return Err(format!("{other:?}")),
        }
    }
}

pub fn store(server: &TestServer) -> &Arc<dyn Storage> {
    &server.server.store
}

/// A message held in quarantine, as (reason, problem, type, payload).
pub type Held = (String, String, Option<String>, Vec<u8>);

/// A message held in quarantine, as `quarantine` lists it.
pub fn held(reason: &str, problem: &str, msg_type: Option<&str>, payload: &[u8]) -> Held {
    (reason.to_owned(), problem.to_owned(), msg_type.map(str::to_owned), payload.to_vec())
}

/// Quarantined messages of one device (`None`: all).
pub async fn quarantine(server: &TestServer, key: Option<&DeviceKey>) -> Vec<Held> {
    store(server)
        .quarantined(key)
        .await
        .unwrap()
        .into_iter()
        .map(|q| (q.reason, q.problem, q.msg_type, q.payload))
        .collect()
}

/// Reason and problem of each quarantined message of one device (`None`: all).
pub async fn reasons(server: &TestServer, key: Option<&DeviceKey>) -> Vec<[String; 2]> {
    quarantine(server, key).await.into_iter().map(|(r, p, _, _)| [r, p]).collect()
}

pub async fn tsts(server: &TestServer, user: &str, device: &str) -> Vec<i64> {
    server.points(user, device).await.iter().map(|p| p.tst).collect()
}

pub async fn messages(server: &TestServer, key: Option<&DeviceKey>) -> Vec<StoredMessage> {
    store(server).messages(key).await.unwrap()
}

/// The typed message stored, as JSON.
pub fn stored_json(message: &StoredMessage) -> Value {
    serde_json::from_str(&message.payload).unwrap()
}

pub async fn transitions(server: &TestServer, key: &DeviceKey) -> Vec<StoredTransition> {
    store(server).transitions(key).await.unwrap()
}

/// A region event's time, region time, event, region, trigger and accuracy.
pub type Fields<'a> = (i64, Option<i64>, &'a str, Option<&'a str>, Option<&'a str>, Option<f64>);

/// The `Fields` of a stored region event.
pub fn fields(t: &StoredTransition) -> Fields<'_> {
    (t.tst, t.wtst, t.event.as_str(), t.desc.as_deref(), t.trigger.as_deref(), t.acc)
}

/// Sets a device's secret, as of `at`, and returns it.
pub async fn set_secret(server: &TestServer, key: &DeviceKey, text: &str, at: i64) -> Secret {
    store(server).set_secret(key, Some(text), at).await.unwrap();
    Secret::new(text).unwrap()
}

pub fn stat(
    server: &TestServer,
    pick: fn(&pista_ingest::Stats) -> &std::sync::atomic::AtomicU64,
) -> u64 {
    pick(server.server.pipeline.stats()).load(Ordering::Relaxed)
}

/// The problem text serde_json gives for bytes that are not JSON, as Pista words it.
pub fn json_error(bytes: &[u8]) -> String {
    format!("invalid JSON: {}", serde_json::from_slice::<Value>(bytes).unwrap_err())
}
