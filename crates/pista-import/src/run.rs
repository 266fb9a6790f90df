//! The one way imported records reach storage: each becomes an [`Inbound`] from
//! [`Source::Import`] and goes through [`Pipeline::submit`], like a message off MQTT or HTTP.
//! Submissions are not awaited one by one: up to [`WINDOW`] are in flight, so the pipeline's
//! writer commits them in batches of up to its `max_batch` per transaction.
//!
//! The pipeline an import runs on has no outputs stage, so old history publishes no `_map`
//! objects, fires no fence alerts and calls no webhooks; storage still moves a device's last
//! position only to a newer fix, so the newest fix wins whatever the order of the input.

use std::collections::VecDeque;

use pista_core::{Inbound, Replay, Source};
use pista_ingest::{IngestError, Pipeline, Ticket};
use pista_store::WriteOutcome;
use tokio::sync::mpsc;

use crate::entry::{Entry, Record};
use crate::summary::Summary;

/// Submissions in flight before the oldest is awaited.
// Memory stays flat with the input: what grew on SQLite was sqlx's per-connection statement
// cache (see `SQLITE_STATEMENT_CACHE` in pista-store).
const WINDOW: usize = 2000;

/// Why an import stopped before the end of its input.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("storage failed at {at}: {source}")]
    Ingest { at: String, source: IngestError },
}

/// Feeds every record of `entries` through `pipeline` and counts what happened. Returns when
/// the source is done and every record is committed; `summary` holds what was done so far
/// when it fails.
pub async fn run(
    pipeline: &Pipeline,
    mut entries: mpsc::Receiver<Entry>,
    summary: &mut Summary,
) -> Result<(), ImportError> {
    let mut pending: VecDeque<(String, Ticket)> = VecDeque::new();
    while let Some(entry) = entries.recv().await {
        match entry {
            Entry::Record(record) => {
                summary.read += 1;
                let at = record.at.clone();
                pending.push_back((at, pipeline.submit(inbound(record)).await));
                if pending.len() >= WINDOW {
                    settle(pending.pop_front(), summary).await?;
                }
            }
            Entry::Skip(skip) => {
                summary.read += 1;
                summary.skip(skip.reason, &skip.at, &skip.detail);
            }
            Entry::Note(note) => summary.notes.push(note),
            Entry::Stopped(note) => summary.stop(note),
            Entry::Repaired(what) => *summary.repaired.entry(what.to_owned()).or_default() += 1,
        }
    }
    while !pending.is_empty() {
        settle(pending.pop_front(), summary).await?;
    }
    tracing::info!(
        read = summary.read,
        stored = summary.stored,
        duplicates = summary.duplicates,
        skipped = summary.skipped_total(),
        "import done"
    );
    Ok(())
}

fn inbound(record: Record) -> Inbound {
    // A time the source recorded counts as the arrival, but never one after now: the time rule
    // measures a message's own time against its arrival, and must still catch a file's future.
    let now = now();
    Inbound {
        source: Source::Import,
        topic: record.topic,
        identity: None,
        payload: record.payload,
        retained: false,
        // An import may run again over the same input: like a broker's redelivery, a copy of
        // any message already stored on its topic (a card, which has no time of its own) is
        // not stored again. Fixes are matched by their fix key whatever this says.
        replay: Replay::Redelivered,
        received_at: record.received_at.map_or(now, |at| at.min(now)),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Waits for one submission's commit and counts its outcomes.
async fn settle(item: Option<(String, Ticket)>, summary: &mut Summary) -> Result<(), ImportError> {
    let Some((at, ticket)) = item else { return Ok(()) };
    let receipt =
        ticket.wait().await.map_err(|source| ImportError::Ingest { at: at.clone(), source })?;
    let mut problems = receipt.problems.iter();
    let quarantined =
        receipt.outcomes.iter().filter(|o| matches!(o, WriteOutcome::Quarantined { .. })).count();
    // A refused message whose copy is already in quarantine (an earlier run) comes back as a
    // duplicate, but with its problem: it is skipped again, not "already present".
    let mut in_quarantine = receipt.problems.len().saturating_sub(quarantined);
    let mut counted = false;
    for outcome in &receipt.outcomes {
        match outcome {
            WriteOutcome::Location { .. }
            | WriteOutcome::Message { .. }
            | WriteOutcome::Answered { .. } => summary.stored += 1,
            WriteOutcome::Duplicate if in_quarantine > 0 => {
                in_quarantine -= 1;
                match receipt.problems.last() {
                    Some(problem) => {
                        let detail = format!("{} (already in quarantine)", problem.text);
                        summary.skip(problem.reason, &at, &detail);
                    }
                    None => summary.duplicates += 1,
                }
            }
            WriteOutcome::Duplicate => summary.duplicates += 1,
            WriteOutcome::Quarantined { .. } => match problems.next() {
                Some(problem) => summary.skip(problem.reason, &at, &problem.text),
                None => summary.skip("quarantined", &at, "refused by ingest"),
            },
            WriteOutcome::Wire { .. } => continue,
        }
        counted = true;
    }
    if !counted {
        summary.skip("ignored by ingest", &at, "a subtopic Pista does not read");
    }
    Ok(())
}
