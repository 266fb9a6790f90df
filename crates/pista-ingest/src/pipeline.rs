//! The pipeline handle: decoding happens in the caller's task, then the messages queue for the
//! writer (see `writer`), and the caller gets a [`Ticket`] that resolves once they are committed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use pista_core::time::TimeRule;
use pista_core::{DeviceKey, Inbound};
use pista_store::{Storage, WriteOutcome};
use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::outputs::OutputsHandle;
use crate::prepare::prepare;
use crate::tally::{LastSeen, Tally};
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
    /// Whether the message was an encrypted envelope (one that stays shut, or a malformed one).
    pub envelope: bool,
    /// Whether the message came out of an envelope that was opened.
    pub sealed: bool,
}

impl Problem {
    /// Whether the problem is an envelope that could not be opened: never answered over HTTP as
    /// if it had worked.
    pub fn is_encryption(&self) -> bool {
        self.envelope || matches!(self.reason, "no_key" | "bad_key" | "bad_base64")
    }

    /// Whether the embedded broker must not pass the message on: other clients would take an
    /// envelope they cannot use for a deletion.
    pub fn withhold(&self) -> bool {
        self.is_encryption() || self.sealed
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
    /// Arrival time, UNIX seconds.
    pub received_at: i64,
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
    /// Stored messages other than locations, by type (`empty` for zero-length payloads).
    pub by_type: Tally,
    /// Messages stored in quarantine, by reason code.
    pub by_reason: Tally,
    /// When each device last had a location or message stored.
    pub last_seen: LastSeen,
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
    /// The server's public base URL, which tour links start with; `None` leaves the devices'
    /// requests (tours) stored but unanswered.
    pub public_url: Option<String>,
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
            public_url: None,
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

pub(crate) struct Inner {
    /// Queue to the writer task; closed when the last handle is dropped.
    jobs: mpsc::Sender<Job>,
    /// For reading device secrets while decoding.
    pub(crate) store: Arc<dyn Storage>,
    pub(crate) options: PipelineOptions,
    /// Committed locations for live listeners (websocket, webhooks in later stages).
    events: broadcast::Sender<Arc<StoredEvent>>,
    pub(crate) stats: Arc<Stats>,
}

impl Pipeline {
    /// Starts the writer on `store`. The writer ends when every handle is dropped and its queue
    /// is drained; await the returned task to know everything queued was written.
    pub fn start(store: Arc<dyn Storage>, options: PipelineOptions) -> (Self, JoinHandle<()>) {
        Self::start_with_outputs(store, options, None)
    }

    /// Like [`Pipeline::start`], handing every committed batch to the outputs stage.
    pub fn start_with_outputs(
        store: Arc<dyn Storage>,
        options: PipelineOptions,
        outputs: Option<&OutputsHandle>,
    ) -> (Self, JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel(options.queue);
        let (events, _) = broadcast::channel(1024);
        let stats = Arc::new(Stats::default());
        let writer = tokio::spawn(run_writer(
            store.clone(),
            queue,
            events.clone(),
            stats.clone(),
            options.max_batch,
            outputs.map(|outputs| outputs.committed.clone()),
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
