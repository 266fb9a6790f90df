//! The pipeline handle: decoding happens in the caller's task, then the messages queue for the
//! writer (see `writer`), and the caller gets a [`Ticket`] that resolves once they are committed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use pista_core::time::iso;
use pista_core::{Decoded, DeviceKey, Inbound, Location, TopicParts, decode};
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

/// What the pipeline did with one inbound message (one outcome per decoded message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub outcomes: Vec<WriteOutcome>,
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
    pub kept: AtomicU64,
    pub rejected: AtomicU64,
    pub failed_batches: AtomicU64,
}

/// Tuning of the writer.
#[derive(Debug, Clone, Copy)]
pub struct PipelineOptions {
    /// Most messages written in one transaction.
    pub max_batch: usize,
    /// Jobs that may wait for the writer before submitters wait too.
    pub queue: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self { max_batch: 1000, queue: 10_000 }
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
            store,
            queue,
            events.clone(),
            stats.clone(),
            options.max_batch,
        ));
        (Self { inner: Arc::new(Inner { jobs, events, stats }) }, writer)
    }

    /// Decodes `inbound` and queues it for the writer. Waits only if the queue is full.
    pub async fn submit(&self, inbound: Inbound) -> Ticket {
        let messages = prepare(&inbound, &self.inner.stats);
        let (done, wait) = oneshot::channel();
        if let Err(error) = self.inner.jobs.send(Job { messages, done }).await {
            let _ = error.0.done.send(Err(IngestError::Closed));
        }
        Ticket { done: wait }
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

/// Decodes one inbound message into the records to store, logging what cannot be understood.
fn prepare(inbound: &Inbound, stats: &Stats) -> Vec<NewMessage> {
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

    let (key, subtopic) = match &inbound.identity {
        Some(key) => (key.clone(), None),
        None => match TopicParts::parse(&inbound.topic) {
            Ok(parts) => (parts.key, parts.subtopic),
            Err(error) => {
                let problem = error.to_string();
                log_rejected(inbound, None, &problem, stats);
                let body = NewBody::Raw {
                    msg_type: None,
                    problem: Some(problem),
                    payload: inbound.payload.clone(),
                };
                return vec![record(None, None, body)];
            }
        },
    };

    decode(&inbound.payload, &key.device, subtopic.as_deref())
        .into_iter()
        .map(|decoded| {
            let body = match decoded {
                Decoded::Location { location, raw } => match check_time(&location, inbound) {
                    Ok(()) => location_body(location, raw, inbound),
                    Err(problem) => {
                        log_rejected(inbound, Some(&key), &problem, stats);
                        let msg_type = Some("location".to_owned());
                        NewBody::Raw { msg_type, problem: Some(problem), payload: raw }
                    }
                },
                Decoded::Kept { msg_type, raw } => {
                    stats.kept.fetch_add(1, Ordering::Relaxed);
                    NewBody::Raw { msg_type, problem: None, payload: raw }
                }
                Decoded::Rejected { msg_type, problem, raw } => {
                    log_rejected(inbound, Some(&key), &problem, stats);
                    NewBody::Raw { msg_type, problem: Some(problem), payload: raw }
                }
            };
            record(Some(key.clone()), subtopic.clone(), body)
        })
        .collect()
}

/// A fix more than this far after its arrival cannot be right (a clock in milliseconds, a wrong
/// year) and would hold the device's last position forever.
const MAX_FUTURE: i64 = 86_400;

// FIXME(#3): quarantine implausible times (and repair milliseconds) instead of keeping them raw.
fn check_time(location: &Location, inbound: &Inbound) -> Result<(), String> {
    if location.tst <= inbound.received_at + MAX_FUTURE {
        return Ok(());
    }
    Err(format!(
        "location tst {} ({}) is more than a day after it arrived ({})",
        location.tst,
        iso(location.tst),
        iso(inbound.received_at)
    ))
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

fn log_rejected(inbound: &Inbound, key: Option<&DeviceKey>, problem: &str, stats: &Stats) {
    stats.rejected.fetch_add(1, Ordering::Relaxed);
    let device = key.map(ToString::to_string).unwrap_or_default();
    tracing::warn!(
        source = inbound.source.as_str(),
        topic = ?inbound.topic,
        %device,
        problem,
        "message not understood, kept raw"
    );
}
