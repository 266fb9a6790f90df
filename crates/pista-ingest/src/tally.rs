//! Counters that need a label: stored messages by type, quarantined messages by reason, and when
//! each device last had something stored. The writer updates them once per stored message (a
//! lock and a map lookup; a new label or device is the only allocation), and `/metrics` reads
//! them. Message types come from clients, so a [`Tally`] keeps a bounded number of labels and
//! counts the rest under [`OTHER`], which keeps a client from growing the scrape without end.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use pista_core::DeviceKey;
use pista_store::{NewBody, NewMessage, WriteOutcome};

use crate::pipeline::Stats;

/// The label of counts beyond a tally's limit.
pub const OTHER: &str = "other";

/// Most distinct labels a tally keeps before counting under [`OTHER`].
const MAX_LABELS: usize = 100;

/// Counts by a text label, sorted when read.
#[derive(Debug, Default)]
pub struct Tally {
    counts: Mutex<HashMap<Box<str>, u64>>,
}

impl Tally {
    /// Adds one to `label`'s count.
    pub fn add(&self, label: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(label) {
            *count += 1;
            return;
        }
        let label = if counts.len() < MAX_LABELS { label } else { OTHER };
        *counts.entry(label.into()).or_default() += 1;
    }

    /// Every label with its count, sorted by label.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let counts = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut pairs: Vec<(String, u64)> =
            counts.iter().map(|(label, count)| (label.to_string(), *count)).collect();
        pairs.sort_unstable();
        pairs
    }
}

/// When each device last had a message stored (arrival time, UNIX seconds).
#[derive(Debug, Default)]
pub struct LastSeen {
    times: Mutex<HashMap<DeviceKey, i64>>,
    /// Whether the times of devices quiet since start were read from storage.
    seeded: AtomicBool,
}

impl LastSeen {
    /// Records that `key` was seen at `at`; an earlier time never replaces a later one, so
    /// seeding from storage and live updates may come in any order.
    pub fn saw(&self, key: &DeviceKey, at: i64) {
        let mut times = self.times.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match times.get_mut(key) {
            Some(time) => *time = (*time).max(at),
            None => {
                times.insert(key.clone(), at);
            }
        }
    }

    /// Whether [`LastSeen::seed`] ran.
    pub fn is_seeded(&self) -> bool {
        self.seeded.load(Ordering::Acquire)
    }

    /// Adds the times storage knows (of devices that may have been quiet since start).
    pub fn seed(&self, times: impl IntoIterator<Item = (DeviceKey, i64)>) {
        for (key, at) in times {
            self.saw(&key, at);
        }
        self.seeded.store(true, Ordering::Release);
    }

    /// Every device with its time, sorted by user and device.
    pub fn snapshot(&self) -> Vec<(DeviceKey, i64)> {
        let times = self.times.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut pairs: Vec<(DeviceKey, i64)> =
            times.iter().map(|(key, at)| (key.clone(), *at)).collect();
        pairs.sort_unstable();
        pairs
    }
}

/// Counts one stored message under its type or quarantine reason, and marks its device seen.
pub(crate) fn count_stored(stats: &Stats, message: &NewMessage, outcome: &WriteOutcome) {
    let stored = match (outcome, &message.body) {
        (WriteOutcome::Location { .. }, _) => true,
        (
            WriteOutcome::Message { .. } | WriteOutcome::Answered { .. },
            NewBody::Message { message, .. },
        ) => {
            stats.by_type.add(&message.msg_type);
            true
        }
        (WriteOutcome::Message { .. } | WriteOutcome::Answered { .. }, _) => {
            stats.by_type.add("empty");
            true
        }
        (WriteOutcome::Quarantined { .. }, NewBody::Quarantine { reason, .. }) => {
            stats.by_reason.add(reason);
            false
        }
        // Anything else a device sends lands in quarantine for want of a device.
        (WriteOutcome::Quarantined { .. }, _) => {
            stats.by_reason.add("no_device");
            false
        }
        (WriteOutcome::Duplicate | WriteOutcome::Wire { .. }, _) => false,
    };
    if let (true, Some(key)) = (stored, &message.key) {
        stats.last_seen.saw(key, message.received_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_beyond_the_limit_count_as_other() {
        let tally = Tally::default();
        for index in 0..MAX_LABELS + 3 {
            tally.add(&format!("t{index:03}"));
        }
        tally.add("t000");
        let snapshot = tally.snapshot();
        assert_eq!(snapshot.len(), MAX_LABELS + 1);
        assert_eq!(snapshot[0], ("other".to_owned(), 3));
        assert_eq!(snapshot[1], ("t000".to_owned(), 2));
        assert_eq!(snapshot[MAX_LABELS], (format!("t{:03}", MAX_LABELS - 1), 1));
    }

    #[test]
    fn last_seen_keeps_the_latest_time() {
        let seen = LastSeen::default();
        let jane = DeviceKey::parse("jane", "phone").unwrap();
        let bob = DeviceKey::parse("bob", "car").unwrap();
        seen.saw(&jane, 20);
        seen.saw(&jane, 10);
        seen.saw(&bob, 5);
        assert!(!seen.is_seeded());
        seen.seed([(jane.clone(), 15), (bob.clone(), 7)]);
        assert!(seen.is_seeded());
        assert_eq!(seen.snapshot(), vec![(bob, 7), (jane, 20)]);
    }
}
