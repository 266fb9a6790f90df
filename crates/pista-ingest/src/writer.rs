//! The writer task: takes queued jobs in arrival order, writes as many as are waiting (up to the
//! batch limit) in one transaction, answers every job, and publishes the new locations. Group
//! commit keeps throughput high without acknowledging anything before it is durable.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use pista_store::{NewBody, NewMessage, Storage, WriteOutcome};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::outputs::Committed;
use crate::pipeline::{IngestError, Problem, Receipt, Stats, StoredEvent};
use crate::tally::count_stored;

/// The decoded messages of one submission and where to report their fate.
pub(crate) struct Job {
    pub messages: Vec<NewMessage>,
    pub problems: Vec<Problem>,
    pub decrypted: bool,
    pub done: oneshot::Sender<Result<Receipt, IngestError>>,
}

pub(crate) async fn run_writer(
    store: Arc<dyn Storage>,
    mut queue: mpsc::Receiver<Job>,
    events: broadcast::Sender<Arc<StoredEvent>>,
    stats: Arc<Stats>,
    max_batch: usize,
    outputs: Option<mpsc::Sender<Committed>>,
) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        let mut count = jobs[0].messages.len();
        while count < max_batch {
            match queue.try_recv() {
                Ok(job) => {
                    count += job.messages.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }

        let committed = write_jobs(store.as_ref(), jobs, count, &events, &stats).await;
        // Outputs come after every submitter has its answer; a slow outputs stage holds the
        // writer here, so the queue fills and inputs wait rather than anything being lost.
        if let (Some(outputs), Some(committed)) = (&outputs, committed) {
            let _ = outputs.send(committed).await;
        }
    }
    tracing::debug!("ingest writer stopped");
}

async fn write_jobs(
    store: &dyn Storage,
    jobs: Vec<Job>,
    count: usize,
    events: &broadcast::Sender<Arc<StoredEvent>>,
    stats: &Stats,
) -> Option<Committed> {
    let mut batch = Vec::with_capacity(count);
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs {
        answers.push((job.messages.len(), job.problems, job.decrypted, job.done));
        batch.extend(job.messages);
    }

    match store.write(&batch).await {
        Ok(outcomes) => {
            publish(&batch, &outcomes, events, stats);

            let mut remaining = outcomes.iter().copied();
            for (len, problems, decrypted, done) in answers {
                let outcomes = remaining.by_ref().take(len).collect();
                let _ = done.send(Ok(Receipt { outcomes, problems, decrypted }));
            }
            Some(Committed { batch, outcomes })
        }
        Err(error) => {
            stats.failed_batches.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                %error,
                cause = ?std::error::Error::source(&error),
                messages = count,
                "storage write failed; nothing acknowledged"
            );
            for (_, _, _, done) in answers {
                let _ = done.send(Err(IngestError::Store));
            }
            None
        }
    }
}

fn publish(
    batch: &[NewMessage],
    outcomes: &[WriteOutcome],
    events: &broadcast::Sender<Arc<StoredEvent>>,
    stats: &Stats,
) {
    for (message, outcome) in batch.iter().zip(outcomes) {
        count_stored(stats, message, outcome);
        match (outcome, &message.body, &message.key) {
            (
                WriteOutcome::Location { id, newest },
                NewBody::Location { location, .. },
                Some(key),
            ) => {
                stats.locations.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(device = %key, tst = location.tst, id, "location stored");
                // Nobody watching live: skip building the event (it copies the message).
                if events.receiver_count() == 0 {
                    continue;
                }
                let event = StoredEvent {
                    key: key.clone(),
                    topic: message.topic.clone(),
                    id: *id,
                    newest: *newest,
                    received_at: message.received_at,
                    json: location.json.clone(),
                };
                // A listener may leave between the check and the send; that is fine.
                let _ = events.send(Arc::new(event));
            }
            (WriteOutcome::Duplicate, _, key) => {
                stats.duplicates.fetch_add(1, Ordering::Relaxed);
                let device = key.as_ref().map(ToString::to_string).unwrap_or_default();
                tracing::debug!(%device, topic = ?message.topic, "duplicate ignored");
            }
            _ => {}
        }
    }
}
