//! How a vector reaches the server: published to the embedded broker, published to the shared
//! test Mosquitto (followed by a probe location, since Mosquitto acknowledges on receipt), or
//! posted to `/pub` in HTTP mode; where each vector goes on each transport, and what `/pub` must
//! answer.

use std::cell::Cell;

use pista_core::{DeviceKey, Source, TopicParts};
use pista_store::StoredLocation;
use serde_json::Value;

use super::expect::{AHEAD, Outcome, now};
use crate::common::{
    TestServer, eventually, forget_session, publish_mosquitto, publish_v311, unique, use_mosquitto,
};

/// How a payload reaches the server. The expectations do not depend on it: one rule for every
/// input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Published (QoS 1, not retained) to the server's embedded broker, which acknowledges only
    /// after the commit.
    Embedded,
    /// Published (QoS 1, not retained) to the shared test Mosquitto, to which the server
    /// subscribes under a root of its own; the root replaces `owntracks`.
    Mosquitto,
    /// Posted to `/pub` (HTTP mode) as the topic's user and device; only device base topics.
    Http,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Embedded => "embedded",
            Transport::Mosquitto => "mosquitto",
            Transport::Http => "http",
        }
    }

    pub fn source(self) -> Source {
        match self {
            Transport::Embedded => Source::Broker,
            Transport::Mosquitto => Source::Mqtt,
            Transport::Http => Source::Http,
        }
    }
}

/// The user and device of the probe location that follows each message through Mosquitto.
const PROBE_USER: &str = "pista-probe";
const PROBE_DEVICE: &str = "probe";

/// Where one vector goes and what the server should store it under.
pub struct Target {
    /// The topic published to (MQTT), or the HTTP identity as a `/pub` query.
    pub address: String,
    /// The topic the stored rows carry.
    pub stored_topic: String,
    /// The device whose points to look at.
    pub key: Option<DeviceKey>,
}

/// A server fed one way.
pub struct Feed {
    pub transport: Transport,
    pub server: TestServer,
    /// Mosquitto: the root replacing `owntracks`, the server's client id, and the probes sent.
    root: String,
    client_id: String,
    probes: Cell<i64>,
    probe_base: i64,
}

impl Feed {
    pub async fn start(transport: Transport) -> Self {
        let root = unique("vectors");
        let client_id = unique("pista-vectors-");
        let server = match transport {
            Transport::Mosquitto => {
                let topics = [format!("{root}/#"), format!("/{root}/#")];
                TestServer::start(|s| use_mosquitto(s, &client_id, &topics)).await
            }
            Transport::Embedded | Transport::Http => TestServer::start(|_| {}).await,
        };
        let feed = Self {
            transport,
            server,
            root,
            client_id,
            probes: Cell::new(0),
            // A day back: plausible, and clear of the corpus's own fixes.
            probe_base: now() - AHEAD,
        };
        if transport == Transport::Mosquitto {
            // Probes published before the subscription is in place are lost; once one is
            // stored, every later publish reaches the server, in order.
            crate::common::eventually_within(
                std::time::Duration::from_secs(30),
                "the subscription to mosquitto",
                || async {
                    let tst = feed.next_probe();
                    publish_mosquitto(&[(
                        &feed.probe_topic(),
                        feed.probe_payload(tst).as_bytes(),
                        false,
                    )])
                    .await;
                    feed.probe_stored(tst).await.then_some(())
                },
            )
            .await;
        }
        feed
    }

    pub async fn stop(self) {
        self.server.stop().await;
        if self.transport == Transport::Mosquitto {
            forget_session(&self.client_id).await;
        }
    }

    /// Where a vector published on `topic` goes; `None` when this transport cannot carry it
    /// (HTTP mode has no subtopics, and no topics outside `owntracks/#`).
    pub fn target(&self, topic: &str) -> Option<Target> {
        let key_of = |topic: &str| {
            let levels: Vec<&str> = topic.trim_start_matches('/').splitn(4, '/').collect();
            (levels.len() >= 3).then(|| DeviceKey::parse(levels[1], levels[2]).ok()).flatten()
        };
        match self.transport {
            Transport::Embedded => Some(Target {
                address: topic.to_owned(),
                stored_topic: topic.to_owned(),
                key: key_of(topic),
            }),
            Transport::Mosquitto => {
                // Only the root changes, so user, device and subtopic (and the expectations)
                // stay; a topic outside `owntracks/#` stays outside the server's base topics.
                let root = &self.root;
                let address = if let Some(rest) = topic.strip_prefix("owntracks/") {
                    format!("{root}/{rest}")
                } else if let Some(rest) = topic.strip_prefix("/owntracks/") {
                    format!("/{root}/{rest}")
                } else {
                    format!("{root}-outside/{topic}")
                };
                Some(Target { stored_topic: address.clone(), key: key_of(&address), address })
            }
            Transport::Http => {
                if !topic.trim_start_matches('/').starts_with("owntracks/") {
                    return None;
                }
                let parts = TopicParts::parse(topic).ok()?;
                if parts.subtopic.is_some() {
                    return None;
                }
                let key = parts.key;
                let address = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("u", key.user.as_str())
                    .append_pair("d", key.device.as_str())
                    .finish();
                Some(Target {
                    address: format!("/pub?{address}"),
                    stored_topic: format!("owntracks/{}/{}", key.user, key.device),
                    key: Some(key),
                })
            }
        }
    }

    fn probe_topic(&self) -> String {
        format!("{}/{PROBE_USER}/{PROBE_DEVICE}", self.root)
    }

    fn next_probe(&self) -> i64 {
        self.probes.set(self.probes.get() + 1);
        self.probe_base + self.probes.get()
    }

    fn probe_payload(&self, tst: i64) -> String {
        format!(r#"{{"_type":"location","lat":1.5,"lon":2.5,"tst":{tst},"tid":"pp"}}"#)
    }

    async fn probe_stored(&self, tst: i64) -> bool {
        self.server.points(PROBE_USER, PROBE_DEVICE).await.iter().any(|p| p.tst == tst)
    }

    /// The stored locations of the target's device; none for a target without one.
    pub async fn points(&self, target: &Target) -> Vec<StoredLocation> {
        match &target.key {
            Some(k) => self.server.points(k.user.as_str(), k.device.as_str()).await,
            None => Vec::new(),
        }
    }

    /// Probe locations the server stored.
    pub async fn probe_count(&self) -> usize {
        match self.transport {
            Transport::Mosquitto => self.server.points(PROBE_USER, PROBE_DEVICE).await.len(),
            Transport::Embedded | Transport::Http => 0,
        }
    }

    /// Delivers `payload` and returns once the server has handled it: for HTTP, the answer's
    /// status and JSON body.
    pub async fn deliver(&self, target: &Target, payload: &str) -> Option<(u16, Value)> {
        match self.transport {
            Transport::Embedded => {
                // The PUBACK comes after the commit.
                let port = self.server.broker_port();
                publish_v311(port, &[(&target.address, payload.as_bytes(), false)]).await;
                None
            }
            Transport::Mosquitto => {
                // Mosquitto acknowledges on receipt, so a probe location follows on the same
                // connection: Mosquitto delivers both in order, the server submits them in
                // arrival order and commits in submission order, so once the probe is stored
                // the vector has been handled.
                let tst = self.next_probe();
                let probe = self.probe_payload(tst);
                publish_mosquitto(&[
                    (&target.address, payload.as_bytes(), false),
                    (&self.probe_topic(), probe.as_bytes(), false),
                ])
                .await;
                let what = format!("the probe after {:?} on {}", payload, target.address);
                eventually(&what, || async { self.probe_stored(tst).await.then_some(()) }).await;
                None
            }
            Transport::Http => {
                // The answer comes after the commit.
                let response = self.server.post(&target.address, &[], payload.to_owned()).await;
                let status = response.status().as_u16();
                let text = response.text().await.unwrap();
                let body = serde_json::from_str(&text)
                    .unwrap_or_else(|_| Value::String(format!("not JSON: {text}")));
                Some((status, body))
            }
        }
    }
}

/// Whether the payload holds an encrypted envelope (`_type: encrypted`, alone or in an array).
fn has_envelope(payload: &str) -> bool {
    let is_envelope = |v: &Value| v.get("_type").and_then(Value::as_str) == Some("encrypted");
    match serde_json::from_str::<Value>(payload.trim_end()) {
        Ok(Value::Array(items)) => items.iter().any(is_envelope),
        Ok(value) => is_envelope(&value),
        Err(_) => false,
    }
}

/// What `/pub` should answer when storing the body gives `want`: `403` when an envelope cannot
/// be opened (no secret, wrong secret, not base64, or no usable `data` at all), else `200` with
/// no friends and no commands.
fn expected_answer<'a>(want: &'a [Outcome], payload: &str) -> (u16, Option<&'a str>) {
    let envelope = has_envelope(payload);
    let encryption = want.iter().find_map(|o| match o {
        Outcome::Quarantined(r) if matches!(r.as_str(), "no_key" | "bad_key" | "bad_base64") => {
            Some(r.as_str())
        }
        Outcome::Quarantined(r) if envelope => Some(r.as_str()),
        _ => None,
    });
    match encryption {
        Some(reason) => (403, Some(reason)),
        None => (200, None),
    }
}

/// Whether `body` is the one answer a stored `request` gets (see `tours`): a `cmd` response to
/// the same request; a new tour with the label and window asked for and a link to its uuid, an
/// empty list (every vector has a device of its own), 404 for a well-formed uuid no tour has,
/// and 400 for anything else.
fn answers_request(payload: &str, body: &Value) -> bool {
    let asked: Value = serde_json::from_str(payload).unwrap_or_default();
    let Some([answer]) = body.as_array().map(Vec::as_slice) else { return false };
    let name = asked["request"].as_str().unwrap_or_default();
    let head =
        answer["_type"] == "cmd" && answer["action"] == "response" && answer["request"] == name;
    let uuid_like = |text: &str| {
        let groups: Vec<usize> = text.split('-').map(str::len).collect();
        groups == [8, 4, 4, 4, 12] && text.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
    };
    let fits = match name {
        "tours" => {
            answer.as_object().map(|o| o.len()) == Some(5)
                && answer["tours"] == serde_json::json!([])
                && answer["ntours"] == 0
        }
        "tour" if answer["status"] == 200 => {
            let (tour, want) = (&answer["tour"], &asked["tour"]);
            let uuid = tour["uuid"].as_str().unwrap_or_default();
            ["label", "from", "to"].iter().all(|k| tour[*k] == want[*k])
                && uuid_like(uuid)
                && tour["url"].as_str().is_some_and(|url| url.ends_with(&format!("/view/{uuid}")))
        }
        "untour" if uuid_like(asked["uuid"].as_str().unwrap_or_default()) => {
            answer["status"] == 404
        }
        _ => answer["status"] == 400 && answer["error"].is_string(),
    };
    head && fits
}

/// Whether the answer of `/pub` is the one expected; a description of the difference if not.
pub fn check_answer(
    want: &[Outcome],
    payload: &str,
    status: u16,
    body: &Value,
) -> Result<(), String> {
    let (expected, reason) = expected_answer(want, payload);
    let request = matches!(want, [Outcome::Message(kind)] if kind == "request");
    let ok = match reason {
        None if request => status == 200 && answers_request(payload, body),
        None => status == 200 && body.as_array().is_some_and(Vec::is_empty),
        Some(reason) => {
            // `{"error": "<why> (kept in quarantine as <reason>)", "status": 403}`
            let tail = format!(" (kept in quarantine as {reason})");
            let error = body["error"].as_str().unwrap_or_default();
            status == expected
                && body["status"].as_u64() == Some(u64::from(expected))
                && body.as_object().is_some_and(|o| o.len() == 2)
                && error.len() > tail.len()
                && error.ends_with(&tail)
        }
    };
    match ok {
        true => Ok(()),
        false => Err(format!("answer {status} {body}, expected {expected} ({reason:?})")),
    }
}
