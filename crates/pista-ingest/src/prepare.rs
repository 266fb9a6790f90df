//! The first half of ingest, in the submitter's task: who sent a message (the HTTP identity or
//! the topic), what it means (`pista_core::decode`), envelopes opened with the device's secret
//! and decoded again as if they had arrived in plain text, and the switches (`rawdata`,
//! `skip_retained`, `t_ignore`, `tid_map`) applied. The result is the records to store and the
//! problems to report back to the input.

use bytes::Bytes;
use pista_core::crypto::{self, Secret};
use pista_core::tour::{Answering, Asked, Request, TourId};
use pista_core::{
    Context, Decoded, Detail, DeviceKey, Inbound, Location, Replay, Source, TopicParts, decode,
};
use pista_store::{NewBody, NewMessage};
use serde_json::Value;
use std::sync::atomic::Ordering;

use crate::pipeline::{IngestError, Inner, Problem};

/// What [`prepare`] made of one inbound message.
#[derive(Default)]
pub(crate) struct Prepared {
    pub messages: Vec<NewMessage>,
    pub problems: Vec<Problem>,
    /// Whether an envelope was opened (HTTP mode then answers sealed).
    pub decrypted: bool,
}

/// Where one inbound message is being prepared.
struct Scope<'a> {
    inbound: &'a Inbound,
    inner: &'a Inner,
    key: Option<DeviceKey>,
    subtopic: Option<String>,
}

impl Scope<'_> {
    fn record(&self, body: NewBody) -> NewMessage {
        let inbound = self.inbound;
        NewMessage {
            key: self.key.clone(),
            topic: inbound.topic.clone(),
            subtopic: self.subtopic.clone(),
            source: inbound.source,
            retained: inbound.retained,
            replay: inbound.replay,
            received_at: inbound.received_at,
            body,
        }
    }

    /// The device topic without subtopic and leading `/`, as `tid_map` names it.
    fn base_topic(&self) -> &str {
        let topic = self.inbound.topic.trim_start_matches('/');
        match &self.subtopic {
            Some(sub) => {
                topic.strip_suffix(sub.as_str()).map_or(topic, |b| b.trim_end_matches('/'))
            }
            None => topic,
        }
    }

    fn count(&self, counter: fn(&crate::Stats) -> &std::sync::atomic::AtomicU64) {
        counter(&self.inner.stats).fetch_add(1, Ordering::Relaxed);
    }
}

/// Decodes one inbound message into the records to store, decrypting envelopes with the
/// device's secret and logging what cannot be used. Fails only when storage cannot be read.
pub(crate) async fn prepare(inbound: &Inbound, inner: &Inner) -> Result<Prepared, IngestError> {
    let mut prepared = Prepared::default();
    let mut scope = Scope { inbound, inner, key: None, subtopic: None };
    if inner.options.rawdata {
        prepared.messages.push(scope.record(NewBody::Wire { payload: inbound.payload.clone() }));
    }
    if inner.options.skip_retained && inbound.replay == Replay::Retained {
        scope.count(|s| &s.ignored);
        tracing::debug!(topic = ?inbound.topic, "retained message skipped (skip_retained)");
        return Ok(prepared);
    }

    match &inbound.identity {
        Some(key) => scope.key = Some(key.clone()),
        None => match TopicParts::parse(&inbound.topic) {
            Ok(parts) => (scope.key, scope.subtopic) = (Some(parts.key), parts.subtopic),
            Err(error) => {
                let unplaced = Decoded::Quarantined {
                    msg_type: None,
                    reason: "no_device",
                    problem: error.to_string(),
                    raw: inbound.payload.clone(),
                };
                if let Some(body) = body(&scope, unplaced, false, &mut prepared.problems) {
                    prepared.messages.push(scope.record(body));
                }
                return Ok(prepared);
            }
        },
    }
    let Some(key) = scope.key.clone() else { return Ok(prepared) };
    let context = Context {
        device: &key.device,
        subtopic: scope.subtopic.as_deref(),
        received_at: inbound.received_at,
        time: inner.options.time,
    };

    // Messages still to handle, next last; `true` marks those that came out of an envelope.
    let mut queue: Vec<(Decoded, bool)> =
        decode(&inbound.payload, &context).into_iter().rev().map(|d| (d, false)).collect();
    while let Some((decoded, sealed)) = queue.pop() {
        let decoded = match envelope_data(&decoded) {
            Some(data) => match open_envelope(inner, &key, data, sealed).await? {
                // Opened, but empty: unusable like any message that makes no sense.
                Ok(plain) if plain.iter().all(u8::is_ascii_whitespace) => {
                    prepared.decrypted = true;
                    let nothing = Decoded::Quarantined {
                        msg_type: None,
                        reason: "invalid_message",
                        problem: "the envelope opened to nothing".to_owned(),
                        raw: Bytes::new(),
                    };
                    queue.push((nothing, true));
                    continue;
                }
                Ok(plain) => {
                    prepared.decrypted = true;
                    let opened = decode(&Bytes::from(plain), &context);
                    queue.extend(opened.into_iter().rev().map(|d| (d, true)));
                    continue;
                }
                // An envelope found inside one is kept as the client sent it: the outer one.
                Err(problem) if sealed => closed_envelope(decoded, problem, Some(&inbound.payload)),
                Err(problem) => closed_envelope(decoded, problem, None),
            },
            None => decoded,
        };
        if let Some(body) = body(&scope, decoded, sealed, &mut prepared.problems) {
            prepared.messages.push(scope.record(body));
        }
    }
    Ok(prepared)
}

fn envelope_data(decoded: &Decoded) -> Option<&str> {
    match decoded {
        Decoded::Message { message, .. } => match &message.detail {
            Detail::Encrypted { data } => Some(data),
            _ => None,
        },
        _ => None,
    }
}

/// The quarantine record of an envelope that stays shut.
fn closed_envelope(decoded: Decoded, problem: Problem, outer: Option<&Bytes>) -> Decoded {
    let raw = match (outer, decoded) {
        (Some(outer), _) => outer.clone(),
        (None, Decoded::Message { raw, .. }) => raw,
        (None, _) => Bytes::new(),
    };
    Decoded::Quarantined {
        msg_type: Some("encrypted".to_owned()),
        reason: problem.reason,
        problem: problem.text,
        raw,
    }
}

/// What to store for one decoded message, if anything; counts and logs it.
fn body(
    scope: &Scope<'_>,
    decoded: Decoded,
    sealed: bool,
    problems: &mut Vec<Problem>,
) -> Option<NewBody> {
    match decoded {
        Decoded::Location { location, raw } => location_body(scope, location, raw, sealed),
        Decoded::Message { mut message, raw } => {
            scope.count(|s| &s.messages);
            if let Detail::Request(request) = &mut message.detail {
                mark_answered(scope, request);
            }
            if sealed {
                message.json.insert("_decrypted".to_owned(), Value::Bool(true));
            }
            let payload = serde_json::to_string(&message.json).unwrap_or_default();
            // Bytes holding a masked secret are not kept.
            let original = (!message.masked && payload.as_bytes() != raw.as_ref()).then_some(raw);
            Some(NewBody::Message { message, payload, original })
        }
        Decoded::Empty { raw } => {
            scope.count(|s| &s.messages);
            Some(NewBody::Empty { payload: raw })
        }
        Decoded::Ignored { problem } => {
            scope.count(|s| &s.ignored);
            tracing::info!(topic = ?scope.inbound.topic, problem, "message ignored");
            None
        }
        Decoded::Quarantined { msg_type, reason, problem, raw } => {
            // What came out of an envelope is kept sealed, as the client sent it; anything else
            // with its credentials masked.
            let envelope = msg_type.as_deref() == Some("encrypted");
            let payload = match sealed {
                true => scope.inbound.payload.clone(),
                false => pista_core::secrets::mask_text(&raw).map_or(raw, Bytes::from),
            };
            let problem = Problem { reason, text: problem, envelope, sealed };
            log_quarantined(scope, &problem);
            let body = NewBody::Quarantine {
                msg_type,
                reason: reason.to_owned(),
                problem: problem.text.clone(),
                payload,
            };
            problems.push(problem);
            Some(body)
        }
    }
}

/// Marks a request to be answered, with the id a new tour gets: requests from devices are, as
/// long as the server knows its public address; imported history never is.
fn mark_answered(scope: &Scope<'_>, request: &mut Request) {
    let Some(base_url) = &scope.inner.options.public_url else { return };
    if scope.inbound.source == Source::Import {
        return;
    }
    let device = scope.key.as_ref().map(ToString::to_string).unwrap_or_default();
    let uuid = match &request.asked {
        Ok(Asked::Tour(_)) => match TourId::random() {
            Ok(uuid) => Some(uuid),
            Err(error) => {
                tracing::error!(%device, %error, "no tour id could be made");
                request.asked = Err(error);
                None
            }
        },
        _ => None,
    };
    match &request.asked {
        Ok(_) => tracing::debug!(%device, request = request.name, "request to answer"),
        Err(error) => {
            tracing::warn!(%device, request = request.name, %error, "request refused")
        }
    }
    request.answer = Some(Answering { uuid, base_url: base_url.clone() });
}

/// The stored form of a location, after `t_ignore` and `tid_map`. The client's bytes are kept
/// beside the normalised JSON whenever they differ from it (repaired fields, a Greenwich CSV
/// line, other spacing).
fn location_body(
    scope: &Scope<'_>,
    mut location: Box<Location>,
    raw: Bytes,
    sealed: bool,
) -> Option<NewBody> {
    let options = &scope.inner.options;
    if let Some(trigger) = &location.trigger
        && options.t_ignore.iter().any(|t| t == trigger)
    {
        scope.count(|s| &s.ignored);
        tracing::debug!(topic = ?scope.inbound.topic, trigger, "location not stored (t_ignore)");
        return None;
    }
    if let Some(tid) = options.tid_map.get(scope.base_topic())
        && *tid != location.tid
    {
        location.repairs.push(format!("tid: {:?} set by the tid map", location.tid));
        location.tid = tid.clone();
        location.json.insert("tid".to_owned(), Value::String(tid.clone()));
    }
    if sealed {
        location.json.insert("_decrypted".to_owned(), Value::Bool(true));
    }
    if !location.repairs.is_empty() {
        let repairs = &location.repairs;
        tracing::debug!(topic = ?scope.inbound.topic, ?repairs, "location repaired");
    }
    let payload = serde_json::to_string(&location.json).unwrap_or_default();
    let original = (!location.masked && payload.as_bytes() != raw.as_ref()).then_some(raw);
    Some(NewBody::Location { location, payload, original })
}

/// Decrypts an envelope with the device's secret. The outer `Err` is a storage failure; the
/// inner one says why the envelope stays shut.
async fn open_envelope(
    inner: &Inner,
    key: &DeviceKey,
    data: &str,
    nested: bool,
) -> Result<Result<Vec<u8>, Problem>, IngestError> {
    if nested {
        let text = "an encrypted message inside an encrypted message".to_owned();
        return Ok(Err(Problem { reason: "bad_key", text, envelope: true, sealed: true }));
    }
    let secret = inner.store.secret(key).await.map_err(|error| {
        tracing::error!(%error, device = %key, "could not read the device's secret");
        IngestError::Store
    })?;
    let Some(secret) = secret else {
        let text = format!("no encryption secret is set for {key}");
        return Ok(Err(Problem { reason: "no_key", text, envelope: true, sealed: false }));
    };
    let opened = Secret::new(&secret).and_then(|secret| crypto::open(&secret, data));
    Ok(opened.map_err(|error| Problem {
        reason: error.reason(),
        text: error.to_string(),
        envelope: true,
        sealed: false,
    }))
}

fn log_quarantined(scope: &Scope<'_>, problem: &Problem) {
    scope.count(|s| &s.quarantined);
    let device = scope.key.as_ref().map(ToString::to_string).unwrap_or_default();
    // An import lists what it refused in its summary; one warning a record would flood stderr.
    if scope.inbound.source == Source::Import {
        tracing::debug!(
            topic = ?scope.inbound.topic,
            %device,
            reason = problem.reason,
            problem = problem.text,
            "imported message quarantined"
        );
        return;
    }
    tracing::warn!(
        source = scope.inbound.source.as_str(),
        topic = ?scope.inbound.topic,
        %device,
        reason = problem.reason,
        problem = problem.text,
        "message quarantined"
    );
}
