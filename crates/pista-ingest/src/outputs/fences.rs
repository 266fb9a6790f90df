//! Geofences in the outputs stage: the fence list (reloaded from storage whenever a region, the
//! API or the configuration changes it, and before a batch when the stored list's revision shows
//! that another worker or process changed it), every device's side of every fence (loaded at start,
//! saved after each change only if the stored side is still the one evaluated from, read again
//! when it is not), evaluation of each device's newest fix, and the retained fence objects under
//! `_map` (published at start and on change, removed when a fence goes).

use std::collections::{HashMap, HashSet};

use pista_core::DeviceKey;
use pista_derive::fence::{Event, Fence, FenceState, Rules, Shape, Transition, evaluate};
use pista_store::{
    DerivedStore, FenceSide, FenceStateChange, FenceStateRow, StoreError, StoredFence,
};

/// The owner topic of fences set up on the server (API or configuration) rather than by an app.
pub const SERVER_FENCE_OWNER: &str = "pista/fences";

/// A usable fence with what the outputs need to know about it.
#[derive(Debug, Clone)]
pub(crate) struct LiveFence {
    pub stored: StoredFence,
    pub fence: Fence,
    /// The topic alerts name as `wptopic`, and under which the fence object is retained.
    pub owner_topic: String,
}

/// The fences and every device's side of them.
#[derive(Debug, Default)]
pub(crate) struct FenceBook {
    pub fences: Vec<LiveFence>,
    states: HashMap<DeviceKey, HashMap<i64, FenceState>>,
    pub rules: Rules,
    /// The stored fence list's revision when it was read.
    revision: i64,
}

impl FenceBook {
    pub async fn load(store: &dyn DerivedStore, rules: Rules) -> Result<Self, StoreError> {
        let mut book = Self { rules, ..Self::default() };
        book.reload(store).await?;
        book.reload_states(store).await?;
        Ok(book)
    }

    /// Reads every device's side of every fence again: the stored sides are the truth when
    /// another ingest worker (or a failed write) made ours stale.
    pub async fn reload_states(&mut self, store: &dyn DerivedStore) -> Result<(), StoreError> {
        let rows = store.fence_states().await?;
        self.states.clear();
        for row in rows {
            let state = FenceState {
                inside: row.inside,
                since: row.since,
                pending: row.pending,
                last_tst: row.last_tst,
            };
            self.states.entry(row.key).or_default().insert(row.fence_id, state);
        }
        Ok(())
    }

    /// The newest fix time any of the device's sides was judged at; `None` when it has none.
    pub fn judged_until(&self, key: &DeviceKey) -> Option<i64> {
        self.states.get(key)?.values().map(|state| state.last_tst).max()
    }

    /// Forgets a device's side of every fence (the device was deleted).
    pub fn forget(&mut self, key: &DeviceKey) {
        self.states.remove(key);
    }

    /// Reads the fence list again; returns the fences that went away. Every device's side of a
    /// fence whose shape changed is forgotten, so the next fix records it instead of firing.
    pub async fn reload(&mut self, store: &dyn DerivedStore) -> Result<Vec<LiveFence>, StoreError> {
        // Read first: a change made between the two reads shows as a newer revision later.
        let revision = store.fence_revision().await?;
        let fresh: Vec<LiveFence> = store.fences().await?.into_iter().filter_map(usable).collect();
        let kept: HashSet<i64> = fresh
            .iter()
            .filter(|new| {
                let old = self.fences.iter().find(|old| old.stored.id == new.stored.id);
                old.is_none_or(|old| old.fence.shape == new.fence.shape)
            })
            .map(|f| f.stored.id)
            .collect();
        let ids: HashSet<i64> = fresh.iter().map(|f| f.stored.id).collect();
        let gone = self.fences.drain(..).filter(|f| !ids.contains(&f.stored.id)).collect();
        self.fences = fresh;
        self.revision = revision;
        for states in self.states.values_mut() {
            states.retain(|id, _| kept.contains(id));
        }
        Ok(gone)
    }

    /// Whether the stored fence list changed since it was read (its revision is now
    /// `revision`), here or by another ingest worker or process on the same database.
    pub fn stale(&self, revision: i64) -> bool {
        revision != self.revision
    }

    /// Evaluates a device's newest fix against the fences that apply to it. Returns the
    /// transitions and the states that changed.
    pub fn check(
        &mut self,
        key: &DeviceKey,
        lat: f64,
        lon: f64,
        tst: i64,
    ) -> (Vec<(Transition, LiveFence)>, Vec<FenceStateChange>) {
        let applicable: Vec<Fence> = self
            .fences
            .iter()
            .filter(|f| f.stored.user.as_ref().is_none_or(|user| *user == key.user))
            .map(|f| f.fence.clone())
            .collect();
        if applicable.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let states = self.states.entry(key.clone()).or_default();
        let before = states.clone();
        let transitions = evaluate(&applicable, states, &self.rules, lat, lon, tst);

        let changed = states
            .iter()
            .filter(|(id, state)| before.get(id) != Some(state))
            .map(|(id, state)| FenceStateChange {
                state: FenceStateRow {
                    key: key.clone(),
                    fence_id: *id,
                    inside: state.inside,
                    since: state.since,
                    pending: state.pending,
                    last_tst: state.last_tst,
                },
                was: before.get(id).map(|was| FenceSide {
                    inside: was.inside,
                    since: was.since,
                    pending: was.pending,
                    last_tst: was.last_tst,
                }),
            })
            .collect();
        let fired = transitions
            .into_iter()
            .filter_map(|t| {
                let fence = self.fences.iter().find(|f| f.stored.id == t.fence_id)?;
                Some((t, fence.clone()))
            })
            .collect();
        (fired, changed)
    }
}

/// Whether an event is an enter.
pub(crate) fn entered(transition: &Transition) -> bool {
    transition.event == Event::Enter
}

/// The engine's view of a stored fence; `None` (with a warning) for one it cannot use.
fn usable(stored: StoredFence) -> Option<LiveFence> {
    let shape = match (&stored.polygon, stored.radius) {
        (Some(points), _) => Shape::Polygon { points: points.clone() },
        (None, Some(radius)) => Shape::Circle { lat: stored.lat, lon: stored.lon, radius },
        (None, None) => return None,
    };
    if let Err(error) = shape.validate() {
        tracing::warn!(fence = stored.id, name = %stored.name, %error, "fence not used");
        return None;
    }
    let owner_topic = match &stored.owner {
        Some(owner) => format!("owntracks/{}/{}", owner.user, owner.device),
        None => SERVER_FENCE_OWNER.to_owned(),
    };
    let fence = Fence { id: stored.id, name: stored.name.clone(), shape };
    Some(LiveFence { stored, fence, owner_topic })
}

/// What [`sync_configured`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FenceSync {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
}

/// Makes the stored configuration fences those of the configuration file, matched by name: a
/// kept fence keeps its id, and with it every device's side of it (so a restart fires no new
/// enter); a changed one is updated, a new one added, one no longer configured removed.
pub async fn sync_configured(
    store: &dyn DerivedStore,
    wanted: &[pista_store::NewFence],
    at: i64,
) -> Result<FenceSync, StoreError> {
    let stored: Vec<StoredFence> = store
        .fences()
        .await?
        .into_iter()
        .filter(|fence| fence.source == pista_store::FenceSource::Config)
        .collect();
    let mut sync = FenceSync::default();
    for fence in wanted {
        match stored.iter().find(|old| old.name == fence.name) {
            Some(old) if same(old, fence) => {}
            Some(old) => {
                store.update_fence(old.id, fence, at).await?;
                sync.updated += 1;
            }
            None => {
                store.add_fence(fence, at).await?;
                sync.added += 1;
            }
        }
    }
    for old in stored.iter().filter(|old| wanted.iter().all(|fence| fence.name != old.name)) {
        store.remove_fence(old.id).await?;
        tracing::warn!(fence = old.id, name = %old.name,
            "configured fence removed: it is no longer in the configuration file");
        sync.removed += 1;
    }
    Ok(sync)
}

fn same(old: &StoredFence, new: &pista_store::NewFence) -> bool {
    (old.user.as_ref(), old.lat, old.lon, old.radius, old.polygon.as_ref(), old.webhook.as_ref())
        == (
            new.user.as_ref(),
            new.lat,
            new.lon,
            new.radius,
            new.polygon.as_ref(),
            new.webhook.as_ref(),
        )
}
