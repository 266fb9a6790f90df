//! The geofence side of the outputs stage: the alert of each enter or leave, recorded with the
//! batch's fence states in one transaction before it is published (`_alerts`, a watcher line,
//! the live stream) and queued for webhooks; and the retained fence objects under `_map`,
//! cleared when a fence goes away or moves.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use pista_core::DeviceKey;
use pista_derive::alert::{FenceFacts, alert_object};
use pista_derive::{look, wire};
use pista_store::{FenceRecord, LocationQuery, NewAlert, RecordedAlert};
use serde_json::Value;

use super::devices::stored_fix;
use super::fences::{LiveFence, entered};
use super::{LiveEvent, LiveKind, Outputs, Publication};

impl Outputs {
    /// Builds the alert of one transition (recorded, then published, by `record`).
    pub(super) fn alert(
        &self,
        key: &DeviceKey,
        device_topic: &str,
        keys: &serde_json::Map<String, Value>,
        transition: &pista_derive::fence::Transition,
        fence: &LiveFence,
    ) -> PendingAlert {
        let (lat, lon) = fence.fence.shape.centre();
        let facts =
            FenceFacts { name: &fence.stored.name, lat, lon, owner_topic: &fence.owner_topic };
        let entered = entered(transition);
        let object = alert_object(
            keys,
            self.options.alert_keys.as_deref(),
            entered,
            transition.meters,
            &facts,
        );
        let line = look::alert_text(
            keys.get("tid").and_then(Value::as_str).unwrap_or_default(),
            transition.event.as_str(),
            &fence.stored.name,
            &pista_derive::map::tstamp(transition.tst),
            transition.meters.max(0.0).trunc() as i64,
        );
        PendingAlert {
            alert: NewAlert {
                key: key.clone(),
                fence_id: fence.stored.id,
                entered,
                tst: transition.tst,
                meters: transition.meters,
                payload: wire::spaced(&object),
                at: crate::now(),
                webhooks: self
                    .options
                    .webhooks
                    .as_ref()
                    .map(|webhooks| webhooks.targets(fence.stored.webhook.as_deref()))
                    .unwrap_or_default(),
            },
            device_topic: device_topic.to_owned(),
            line,
        }
    }

    pub(super) async fn reload_fences(&mut self) {
        match self.fences.reload(self.derived.as_ref()).await {
            Ok(gone) => self.publish_fences(gone),
            Err(error) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, "fences not reloaded");
            }
        }
    }

    /// Publishes the fence objects that are new or changed, and clears the retained objects
    /// of fences that went away or moved. An app's region is retained under its owner's topic
    /// and the original's hash of owner and centre; a fence made on the server under
    /// `pista/fences/<id>`, so that two fences with the same centre keep apart.
    pub(super) fn publish_fences(&mut self, gone: Vec<LiveFence>) {
        for fence in gone {
            if let Some((topic, _)) = self.fence_topics.remove(&fence.stored.id) {
                self.sinks.mqtt_only(Publication::new(topic, Bytes::new(), true));
            }
        }
        for fence in &self.fences.fences {
            let leaf = match fence.stored.owner {
                Some(_) => fence.fence.topic_hash(&fence.owner_topic),
                None => fence.stored.id.to_string(),
            };
            let topic = format!("{}/{}/{leaf}", self.options.map_topic, fence.owner_topic);
            let object = fence.fence.object();
            let published = (topic.clone(), object.clone());
            let previous = self.fence_topics.insert(fence.stored.id, published.clone());
            match previous {
                Some(previous) if previous == published => continue,
                Some((previous, _)) if previous != topic => {
                    self.sinks.mqtt_only(Publication::new(previous, Bytes::new(), true));
                }
                _ => {}
            }
            self.sinks.mqtt_only(Publication::new(topic, object, true));
        }
        self.announce_fences();
    }

    /// Tells live listeners which fences were created, replaced or deleted since the last
    /// reload. Each event carries the fence's owner or user, so the web server shows it to
    /// those who may see the fence only (before a deletion, as it was). Changes between two
    /// reloads are seen as one: a fence replaced twice gives one `replaced`, and one created and
    /// deleted again before the stage reloaded gives no event here: the API's deletion announces
    /// it ([`Outputs::announce_unseen_deletion`]), so a page that read the list in that moment
    /// drops it.
    /// One fence event for live listeners; each carries the fence's owner or user, so the web
    /// server shows it to those who may see the fence only.
    fn announce_fence(&mut self, change: &str, fence: &pista_store::StoredFence) {
        let topic = self.fence_topics.get(&fence.id).map(|(topic, _)| topic.clone());
        let user = if fence.owner.is_some() { None } else { fence.user.clone() };
        self.sinks.live_event(LiveEvent {
            kind: LiveKind::Fence,
            device: fence.owner.clone(),
            user,
            topic: topic.unwrap_or_default(),
            text: serde_json::json!({"change": change, "id": fence.id}).to_string(),
        });
    }

    /// Announces the deletion of a fence live listeners never heard of (created and deleted
    /// again between two reloads): a page that read the fence list in that moment drops it.
    pub(super) fn announce_unseen_deletion(&mut self, fence: pista_store::StoredFence) {
        if self.fence_seen.contains_key(&fence.id) {
            return;
        }
        tracing::debug!(fence = fence.id, "deletion of a fence never announced");
        self.announce_fence("deleted", &fence);
    }

    fn announce_fences(&mut self) {
        let mut changes = Vec::new();
        for fence in &self.fences.fences {
            let stored = &fence.stored;
            match self.fence_seen.get(&stored.id) {
                None => changes.push(("created", stored.clone())),
                Some(seen) if seen != stored => changes.push(("replaced", stored.clone())),
                Some(_) => {}
            }
        }
        let ids: std::collections::HashSet<i64> =
            self.fences.fences.iter().map(|f| f.stored.id).collect();
        let gone = self.fence_seen.values().filter(|seen| !ids.contains(&seen.id));
        changes.extend(gone.map(|seen| ("deleted", seen.clone())));
        changes.sort_by_key(|(_, fence)| fence.id);

        for (change, fence) in changes {
            tracing::debug!(fence = fence.id, change, "fence change for live listeners");
            self.announce_fence(change, &fence);
            match change {
                "deleted" => self.fence_seen.remove(&fence.id),
                _ => self.fence_seen.insert(fence.id, fence),
            };
        }
    }

    /// Evaluates the batch's fixes against the fences, saves the changed states and the
    /// alerts in one transaction, then publishes the alerts and queues them for webhooks: an
    /// alert is only sent once it is recorded (with its id). When another worker changed a
    /// device's side meanwhile, nothing is saved: the stored sides are read again and the
    /// batch evaluated anew, so every fix is judged against the true side exactly once.
    pub(super) async fn record(&mut self, events: FenceEvents) {
        for attempt in 1..=ATTEMPTS {
            let mut states = Vec::new();
            let mut pending = Vec::new();
            let checks = match self.options.shared {
                true => self.stored_checks(&events.checks).await,
                false => None,
            };
            for check in checks.as_ref().unwrap_or(&events.checks) {
                let (transitions, changed) =
                    self.fences.check(&check.key, check.lat, check.lon, check.tst);
                for (transition, fence) in transitions {
                    let (topic, keys) = (&check.device_topic, &check.keys);
                    pending.push(self.alert(&check.key, topic, keys, &transition, &fence));
                }
                states.extend(changed);
            }
            if states.is_empty() && pending.is_empty() {
                return;
            }
            let alerts: Vec<NewAlert> = pending.iter().map(|a| a.alert.clone()).collect();
            let stale = match self.derived.record_fence_events(&states, &alerts).await {
                Ok(FenceRecord::Recorded(recorded)) => {
                    self.publish_alerts(pending, &recorded);
                    return;
                }
                Ok(FenceRecord::Stale) => {
                    self.stats.fence_retries.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(attempt, "fence states changed by another worker; reading them");
                    true
                }
                Err(error) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(%error, alerts = alerts.len(), "fence events not recorded");
                    false
                }
            };
            // Either way our sides may now differ from the stored ones: the stored are true.
            if let Err(error) = self.fences.reload_states(self.derived.as_ref()).await {
                tracing::error!(%error, "fence states not read again");
                return;
            }
            if !stale {
                return;
            }
        }
        tracing::error!(attempts = ATTEMPTS, "fence events not recorded: states kept changing");
    }

    /// With a shared subscription: each device's stored fixes from the newest one its sides were
    /// judged at up to its newest fix in the batch, oldest first. Another worker may hold an
    /// earlier fix of the device that it has not judged yet; judging the stored sequence, and
    /// not only this worker's share of it, keeps every crossing (the other worker's later turn
    /// then finds its fix judged already). At most [`CATCH_UP`] fixes per device; `None` (judge
    /// the batch's own checks) when the store cannot be read.
    async fn stored_checks(&mut self, checks: &[FenceCheck]) -> Option<Vec<FenceCheck>> {
        let mut newest: Vec<&FenceCheck> = Vec::new();
        for check in checks {
            match newest.iter_mut().find(|seen| seen.key == check.key) {
                Some(seen) if seen.tst < check.tst => *seen = check,
                Some(_) => {}
                None => newest.push(check),
            }
        }
        let mut stored = Vec::new();
        for check in newest {
            let query = LocationQuery {
                key: check.key.clone(),
                from: self.fences.judged_until(&check.key).map(|tst| tst + 1),
                to: Some(check.tst),
                limit: Some(CATCH_UP),
            };
            let fixes = match self.store.locations(&query).await {
                Ok(fixes) => fixes,
                Err(error) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(device = %check.key, %error, "stored fixes not read for fences");
                    return None;
                }
            };
            for point in fixes {
                let fix = stored_fix(&point);
                stored.push(FenceCheck {
                    key: check.key.clone(),
                    keys: fix.keys(&check.device_topic),
                    device_topic: check.device_topic.clone(),
                    lat: fix.lat,
                    lon: fix.lon,
                    tst: fix.tst,
                });
            }
        }
        Some(stored)
    }

    /// Publishes recorded alerts (`_alerts`, a watcher line, the live stream) and queues their
    /// webhooks; `recorded` holds each alert's id and queued deliveries, in order (none for a
    /// device deleted meanwhile: its alert is dropped).
    fn publish_alerts(&mut self, pending: Vec<PendingAlert>, recorded: &[Option<RecordedAlert>]) {
        for (index, pending) in pending.into_iter().enumerate() {
            let Some(Some(recorded)) = recorded.get(index) else {
                tracing::debug!(device = %pending.alert.key, "alert of a deleted device dropped");
                continue;
            };
            self.stats.alerts.fetch_add(1, Ordering::Relaxed);
            let key = &pending.alert.key;
            let topic = self.options.alert_topic.clone();
            let alert = Publication::new(topic, pending.alert.payload.clone(), false);
            self.sinks.send(LiveKind::Alert, Some(key), alert);
            self.look(key, &pending.device_topic, Some("_alert"), pending.line);
            // Queued, never awaited: a slow receiver must not hold up the outputs.
            if let Some(webhooks) = &self.options.webhooks {
                let targets: Vec<(Option<i64>, String)> =
                    recorded.queued.iter().map(|(id, url)| (Some(*id), url.clone())).collect();
                webhooks.deliver(recorded.id, &pending.alert.payload, &targets);
            }
        }
    }
}

/// How often one batch is evaluated again when other workers keep changing its devices' sides.
const ATTEMPTS: u32 = 5;

/// Most stored fixes of one device judged in one batch with a shared subscription (the newest).
const CATCH_UP: u64 = 50;

/// One device's newest fix, to check against the fences once the batch is read.
pub(super) struct FenceCheck {
    pub key: DeviceKey,
    pub keys: serde_json::Map<String, Value>,
    pub device_topic: String,
    pub lat: f64,
    pub lon: f64,
    pub tst: i64,
}

/// What one batch asks of the fences.
#[derive(Default)]
pub(super) struct FenceEvents {
    pub checks: Vec<FenceCheck>,
}

pub(super) struct PendingAlert {
    alert: NewAlert,
    device_topic: String,
    line: String,
}
