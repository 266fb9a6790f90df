//! The pipeline handle: decoding happens in the caller's task, then the messages queue for the
//! writer (see `writer`), and the caller gets a [`Ticket`] that resolves once they are committed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use pista_core::crypto::{self, Secret};
use pista_core::time::TimeRule;
use pista_core::{
    Context, Decoded, Detail, DeviceKey, Inbound, Location, Replay, TopicParts, decode,
};
use pista_store::{NewBody, NewMessage, Storage, WriteOutcome};
use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::writer::{Job, run_writer};

/// Why a message was not committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    #[error("storage is unavailable")]
    Store,
    #[error("ingest is shutting down")]
    Closed,
}

/// What the pipeline did with one inbound message (one outcome per stored record).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receipt {
    pub outcomes: Vec<WriteOutcome>,
    /// Why messages were quarantined, in order.
    pub problems: Vec<Problem>,
    /// Whether the message arrived encrypted and was opened (HTTP mode answers in kind).
    pub decrypted: bool,
}

/// Why a message was quarantined: a reason code and the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub reason: &'static str,
    pub text: String,
}

impl Problem {
    /// Whether the problem is an envelope that could not be opened.
    pub fn is_encryption(&self) -> bool {
        matches!(self.reason, "no_key" | "bad_key" | "bad_base64")
    }
}

/// A committed new location, published to in-process listeners.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub key: DeviceKey,
    pub topic: String,
    pub id: i64,
    /// Whether it became the device's last position.
    pub newest: bool,
    pub json: Map<String, Value>,
}

/// Counters of what went through the pipeline since start.
#[derive(Debug, Default)]
pub struct Stats {
    pub locations: AtomicU64,
    pub duplicates: AtomicU64,
    /// Messages of other types stored.
    pub messages: AtomicU64,
    pub quarantined: AtomicU64,
    /// Messages deliberately not stored (unknown subtopics, `t_ignore`, `skip_retained`).
    pub ignored: AtomicU64,
    pub failed_batches: AtomicU64,
}

/// Tuning of the writer and the ingest switches.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Most messages written in one transaction.
    pub max_batch: usize,
    /// Jobs that may wait for the writer before submitters wait too.
    pub queue: usize,
    /// The plausibility rule for fix times.
    pub time: TimeRule,
    /// Triggers (`t`) of locations that are not stored.
    pub t_ignore: Vec<String>,
    /// Whether a broker's retained copies are skipped instead of read.
    pub skip_retained: bool,
    /// Whether every message is also kept as it came off the wire (`rawdata`).
    pub rawdata: bool,
    /// Tracker ids by device topic (`owntracks/jane/phone`), overriding what devices send.
    pub tid_map: HashMap<String, String>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            max_batch: 1000,
            queue: 10_000,
            time: TimeRule::default(),
            t_ignore: Vec::new(),
            skip_retained: false,
            rawdata: false,
            tid_map: HashMap::new(),
        }
    }
}

/// Resolves when the messages of one submission are committed (or could not be).
pub struct Ticket {
    done: oneshot::Receiver<Result<Receipt, IngestError>>,
}

impl Ticket {
    pub async fn wait(self) -> Result<Receipt, IngestError> {
        self.done.await.unwrap_or(Err(IngestError::Closed))
    }
}

/// A cheap-to-clone handle on the running pipeline.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    /// Queue to the writer task; closed when the last handle is dropped.
    jobs: mpsc::Sender<Job>,
    /// For reading device secrets while decoding.
    store: Arc<dyn Storage>,
    options: PipelineOptions,
    /// Committed locations for live listeners (websocket, webhooks in later stages).
    events: broadcast::Sender<Arc<StoredEvent>>,
    stats: Arc<Stats>,
}

impl Pipeline {
    /// Starts the writer on `store`. The writer ends when every handle is dropped and its queue
    /// is drained; await the returned task to know everything queued was written.
    pub fn start(store: Arc<dyn Storage>, options: PipelineOptions) -> (Self, JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel(options.queue);
        let (events, _) = broadcast::channel(1024);
        let stats = Arc::new(Stats::default());
        let writer = tokio::spawn(run_writer(
            store.clone(),
            queue,
            events.clone(),
            stats.clone(),
            options.max_batch,
        ));
        (Self { inner: Arc::new(Inner { jobs, store, options, events, stats }) }, writer)
    }

    /// Decodes `inbound` and queues it for the writer. Waits only if the queue is full.
    pub async fn submit(&self, inbound: Inbound) -> Ticket {
        let (done, wait) = oneshot::channel();
        let prepared = match prepare(&inbound, &self.inner).await {
            Ok(prepared) => prepared,
            Err(error) => {
                let _ = done.send(Err(error));
                return Ticket { done: wait };
            }
        };
        let job = Job {
            messages: prepared.messages,
            problems: prepared.problems,
            decrypted: prepared.decrypted,
            done,
        };
        if let Err(error) = self.inner.jobs.send(job).await {
            let _ = error.0.done.send(Err(IngestError::Closed));
        }
        Ticket { done: wait }
    }

    /// The options the pipeline runs with.
    pub fn options(&self) -> &PipelineOptions {
        &self.inner.options
    }

    /// Submits and waits for the commit.
    pub async fn ingest(&self, inbound: Inbound) -> Result<Receipt, IngestError> {
        self.submit(inbound).await.wait().await
    }

    /// Listens to committed new locations.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.inner.events.subscribe()
    }

    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }
}

/// What [`prepare`] made of one inbound message.
struct Prepared {
    messages: Vec<NewMessage>,
    problems: Vec<Problem>,
    decrypted: bool,
}

/// Decodes one inbound message into the records to store, decrypting envelopes with the
/// device's secret and logging what cannot be used.
async fn prepare(inbound: &Inbound, inner: &Inner) -> Result<Prepared, IngestError> {
    let options = &inner.options;
    let stats = &inner.stats;
    let mut prepared = Prepared { messages: Vec::new(), problems: Vec::new(), decrypted: false };
    let record = |key: Option<DeviceKey>, subtopic: Option<String>, body: NewBody| NewMessage {
        key,
        topic: inbound.topic.clone(),
        subtopic,
        source: inbound.source,
        retained: inbound.retained,
        replay: inbound.replay,
        received_at: inbound.received_at,
        body,
    };
    if options.rawdata {
        let body = NewBody::Wire { payload: inbound.payload.clone() };
        prepared.messages.push(record(None, None, body));
    }
    if options.skip_retained && inbound.replay == Replay::Retained {
        stats.ignored.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(topic = ?inbound.topic, "retained message skipped (skip_retained)");
        return Ok(prepared);
    }

    let (key, subtopic) = match &inbound.identity {
        Some(key) => (key.clone(), None),
        None => match TopicParts::parse(&inbound.topic) {
            Ok(parts) => (parts.key, parts.subtopic),
            Err(error) => {
                let problem = Problem { reason: "no_device", text: error.to_string() };
                log_quarantined(inbound, None, &problem, stats);
                let body = NewBody::Quarantine {
                    msg_type: None,
                    reason: problem.reason.to_owned(),
                    problem: problem.text.clone(),
                    payload: inbound.payload.clone(),
                };
                prepared.problems.push(problem);
                prepared.messages.push(record(None, None, body));
                return Ok(prepared);
            }
        },
    };
    let base_topic = inbound.topic.trim_start_matches('/');
    let base_topic = match &subtopic {
        Some(sub) => {
            base_topic.strip_suffix(sub.as_str()).map_or(base_topic, |b| b.trim_end_matches('/'))
        }
        None => base_topic,
    };
    let context = Context {
        device: &key.device,
        subtopic: subtopic.as_deref(),
        received_at: inbound.received_at,
        time: options.time,
    };

    let mut queue: Vec<(Decoded, bool)> =
        decode(&inbound.payload, &context).into_iter().map(|d| (d, false)).collect();
    queue.reverse();
    while let Some((decoded, was_encrypted)) = queue.pop() {
        let body = match decoded {
            Decoded::Message { message, raw }
                if matches!(message.detail, Detail::Encrypted { .. }) =>
            {
                let Detail::Encrypted { data } = &message.detail else { continue };
                match open_envelope(inner, &key, data, was_encrypted).await? {
                    Ok(plain) => {
                        prepared.decrypted = true;
                        let inner_messages = decode(&Bytes::from(plain), &context);
                        queue.extend(inner_messages.into_iter().rev().map(|d| (d, true)));
                        continue;
                    }
                    Err(problem) => {
                        log_quarantined(inbound, Some(&key), &problem, stats);
                        let body = NewBody::Quarantine {
                            msg_type: Some("encrypted".to_owned()),
                            reason: problem.reason.to_owned(),
                            problem: problem.text.clone(),
                            payload: raw,
                        };
                        prepared.problems.push(problem);
                        body
                    }
                }
            }
            Decoded::Location { mut location, raw } => {
                if let Some(trigger) = &location.trigger
                    && options.t_ignore.iter().any(|t| t == trigger)
                {
                    stats.ignored.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(device = %key, trigger, "location not stored (t_ignore)");
                    continue;
                }
                if let Some(tid) = options.tid_map.get(base_topic)
                    && *tid != location.tid
                {
                    location.repairs.push(format!("tid: {:?} set by the tid map", location.tid));
                    location.tid = tid.clone();
                    location.json.insert("tid".to_owned(), Value::String(tid.clone()));
                }
                if was_encrypted {
                    location.json.insert("_decrypted".to_owned(), Value::Bool(true));
                }
                location_body(location, raw, inbound)
            }
            Decoded::Message { mut message, raw } => {
                stats.messages.fetch_add(1, Ordering::Relaxed);
                if was_encrypted {
                    message.json.insert("_decrypted".to_owned(), Value::Bool(true));
                }
                let payload = serde_json::to_string(&message.json).unwrap_or_default();
                let original = (payload.as_bytes() != raw.as_ref()).then_some(raw);
                NewBody::Message { message, payload, original }
            }
            Decoded::Empty { raw } => {
                stats.messages.fetch_add(1, Ordering::Relaxed);
                NewBody::Empty { payload: raw }
            }
            Decoded::Ignored { problem } => {
                stats.ignored.fetch_add(1, Ordering::Relaxed);
                tracing::info!(topic = ?inbound.topic, problem, "message ignored");
                continue;
            }
            Decoded::Quarantined { msg_type, reason, problem, raw } => {
                let problem = Problem { reason, text: problem };
                log_quarantined(inbound, Some(&key), &problem, stats);
                let body = NewBody::Quarantine {
                    msg_type,
                    reason: reason.to_owned(),
                    problem: problem.text.clone(),
                    payload: raw,
                };
                prepared.problems.push(problem);
                body
            }
        };
        prepared.messages.push(record(Some(key.clone()), subtopic.clone(), body));
    }
    Ok(prepared)
}

/// Decrypts an envelope with the device's secret. The outer `Err` is a storage failure; the
/// inner one says why the envelope stays closed.
async fn open_envelope(
    inner: &Inner,
    key: &DeviceKey,
    data: &str,
    nested: bool,
) -> Result<Result<Vec<u8>, Problem>, IngestError> {
    if nested {
        let text = "an encrypted message inside an encrypted message".to_owned();
        return Ok(Err(Problem { reason: "bad_key", text }));
    }
    let secret = inner.store.secret(key).await.map_err(|error| {
        tracing::error!(%error, device = %key, "could not read the device's secret");
        IngestError::Store
    })?;
    let Some(secret) = secret else {
        let text = format!("no encryption secret is set for {key}");
        return Ok(Err(Problem { reason: "no_key", text }));
    };
    let opened = Secret::new(&secret).and_then(|secret| crypto::open(&secret, data));
    Ok(opened.map_err(|error| Problem { reason: error.reason(), text: error.to_string() }))
}

/// The stored form of a location. The client's bytes are kept beside the normalised JSON
/// whenever they differ from it (repaired fields, a Greenwich CSV line, other spacing).
fn location_body(location: Box<Location>, raw: Bytes, inbound: &Inbound) -> NewBody {
    if !location.repairs.is_empty() {
        let repairs = &location.repairs;
        tracing::debug!(topic = ?inbound.topic, ?repairs, "location repaired");
    }
    let payload = serde_json::to_string(&location.json).unwrap_or_default();
    let original = (payload.as_bytes() != raw.as_ref()).then_some(raw);
    NewBody::Location { location, payload, original }
}

fn log_quarantined(inbound: &Inbound, key: Option<&DeviceKey>, problem: &Problem, stats: &Stats) {
    stats.quarantined.fetch_add(1, Ordering::Relaxed);
    let device = key.map(ToString::to_string).unwrap_or_default();
    tracing::warn!(
        source = inbound.source.as_str(),
        topic = ?inbound.topic,
        %device,
        reason = problem.reason,
        problem = problem.text,
        "message quarantined"
    );
}
