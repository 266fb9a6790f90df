//! Deletion and retention as the server runs them: [`Retention::delete`] deletes through the
//! store, logs the result and tells the outputs stage, so the device objects and their retained
//! `_map` objects follow; [`Retention::pass`] applies every device's age limit (its device rule,
//! else its user's rule, else `retention.days`); [`Retention::spawn`] runs a pass at start and
//! then every interval. Ages count from the fix's own time (`tst`), so data uploaded late is
//! kept as long as data of its day (bug case B08).

use std::sync::Arc;
use std::time::Duration;

use pista_core::DeviceKey;
use pista_store::{Deleted, DeletedBy, RetentionStore, Selector, Span, StoreError, effective_days};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::outputs::OutputsHandle;

/// Seconds in a retention day.
const DAY: i64 = 86_400;

/// How retention runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionOptions {
    /// Days of history kept where no rule says otherwise; 0 keeps everything.
    pub default_days: u64,
    /// Time between retention passes.
    pub interval: Duration,
    /// Most rows of one table deleted per transaction.
    pub chunk: u64,
}

impl Default for RetentionOptions {
    fn default() -> Self {
        Self { default_days: 0, interval: Duration::from_secs(3600), chunk: 1000 }
    }
}

/// Deletes and applies retention; cheap to clone.
#[derive(Clone)]
pub struct Retention {
    pub store: Arc<dyn RetentionStore>,
    /// Told about every deletion; `None` when no outputs stage runs (the CLI).
    pub outputs: Option<OutputsHandle>,
    pub options: RetentionOptions,
}

impl Retention {
    /// Deletes what `selector` names on behalf of `by`, logs it, and lets the outputs stage
    /// read the devices again when rows went (also after a failure part way, since chunks
    /// were committed).
    pub async fn delete(&self, selector: &Selector, by: DeletedBy) -> Result<Deleted, StoreError> {
        let result = self.store.delete(selector, by, crate::now(), self.options.chunk).await;
        let changed = result.as_ref().map_or(true, |deleted| deleted.total() > 0);
        if let (true, Some(outputs)) = (changed, &self.outputs) {
            outputs.deleted(&selector.user, selector.device.as_ref());
        }
        match &result {
            Ok(deleted) => tracing::info!(
                by = by.as_str(),
                selector = %selector,
                rows = deleted.total(),
                counts = ?deleted.counts,
                removed = deleted.removed.len(),
                log = ?deleted.log_id,
                "deleted"
            ),
            Err(error) => tracing::error!(
                by = by.as_str(),
                selector = %selector,
                %error,
                cause = ?std::error::Error::source(error),
                "deletion failed; chunks committed before the failure stay deleted"
            ),
        }
        result
    }

    /// Applies every device's age limit once, at `now`; returns what went, per device that
    /// lost rows. A device whose deletion fails is logged and skipped.
    pub async fn pass(&self, now: i64) -> Result<Vec<(DeviceKey, Deleted)>, StoreError> {
        let rules = self.store.retention_rules().await?;
        let mut done = Vec::new();
        for key in self.store.known_devices().await? {
            let days = effective_days(&rules, &key, self.options.default_days);
            if days == 0 {
                continue;
            }
            let age = i64::try_from(days).unwrap_or(i64::MAX / DAY).saturating_mul(DAY);
            let to = now.saturating_sub(age).saturating_sub(1);
            let selector = Selector {
                user: key.user.clone(),
                device: Some(key.device.clone()),
                span: Span::Range { from: None, to: Some(to) },
            };
            match self.delete(&selector, DeletedBy::Retention).await {
                Ok(deleted) if deleted.total() > 0 => done.push((key, deleted)),
                Ok(_) | Err(_) => {}
            }
        }
        Ok(done)
    }

    /// Runs a pass now and then every interval until `stop` turns true.
    pub fn spawn(self, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let options = self.options;
            tracing::info!(days = options.default_days, interval = ?options.interval,
                "retention runs");
            loop {
                match self.pass(crate::now()).await {
                    Ok(done) if !done.is_empty() => {
                        let rows: u64 = done.iter().map(|(_, d)| d.total()).sum();
                        tracing::info!(devices = done.len(), rows, "retention pass deleted");
                    }
                    Ok(_) => tracing::debug!("retention pass found nothing to delete"),
                    Err(error) => tracing::error!(%error, "retention pass failed"),
                }
                tokio::select! {
                    () = tokio::time::sleep(options.interval) => {}
                    _ = stop.wait_for(|stop| *stop) => return,
                }
            }
        })
    }
}
