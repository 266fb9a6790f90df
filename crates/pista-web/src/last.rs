//! The newest location of every device, kept in memory for `/api/0/last` and the live socket's
//! `LAST`. The store is read once and then at most once per [`MAX_AGE`] while callers ask; in
//! between, every location this process commits replaces its device's entry at once (from the
//! pipeline's events), so a caller sees a new point the moment it is stored. What other
//! processes change (another ingest worker on the same database, the CLI), addresses the
//! geocoder adds later, and cards show within [`MAX_AGE`]; a deletion through this server
//! ([`LastLocations::forget`]) shows at once. Concurrent callers share one store read.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pista_core::{DeviceKey, DeviceName, UserName};
use pista_ingest::{Pipeline, StoredEvent};
use pista_store::{LastLocation, Storage, StoreError, StoredLocation};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::sync::broadcast::{Receiver, error::TryRecvError};

/// How old the store's copy may get before a caller's read refreshes it.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// A device's newest location with what `last` shows beside it.
#[derive(Debug, Clone)]
pub struct LastEntry {
    pub last: LastLocation,
    /// The device's card, else its user's: `name` and `face` when they are usable.
    pub name: Option<String>,
    pub face: Option<String>,
}

/// The in-memory copy of every device's newest location.
pub struct LastLocations {
    inner: Mutex<Inner>,
}

struct Inner {
    /// Where stored locations are announced; subscribed to on the first ask (until then
    /// nobody needs the pipeline to announce them), `None` once it has closed.
    pipeline: Option<Pipeline>,
    /// Locations this process stores, once subscribed.
    events: Option<Receiver<Arc<StoredEvent>>>,
    loaded: Option<Loaded>,
}

struct Loaded {
    at: Instant,
    entries: Arc<BTreeMap<DeviceKey, LastEntry>>,
}

impl LastLocations {
    /// A copy that follows what `pipeline` stores; the store is first read on the first ask.
    pub fn new(pipeline: &Pipeline) -> Self {
        let inner = Inner { pipeline: Some(pipeline.clone()), events: None, loaded: None };
        Self { inner: Mutex::new(inner) }
    }

    /// Every device's entry, in user and device order: from memory, with the store read again
    /// when the copy is older than [`MAX_AGE`] or was forgotten.
    pub async fn entries(
        &self,
        store: &dyn Storage,
    ) -> Result<Arc<BTreeMap<DeviceKey, LastEntry>>, StoreError> {
        let mut inner = self.inner.lock().await;
        if inner.events.is_none()
            && let Some(pipeline) = &inner.pipeline
        {
            // Before the first read, so no location stored after it is missed.
            inner.events = Some(pipeline.subscribe());
        }
        inner.apply_events();
        if let Some(loaded) = inner.loaded.as_ref().filter(|l| l.at.elapsed() < MAX_AGE) {
            return Ok(loaded.entries.clone());
        }
        // Events from here on are newer than what the read below returns, or the same: they
        // are applied on the next ask.
        let at = Instant::now();
        let entries = Arc::new(load(store, None, None).await?);
        inner.loaded = Some(Loaded { at, entries: entries.clone() });
        tracing::debug!(devices = entries.len(), "last locations read from the store");
        Ok(entries)
    }

    /// Drops the copy: the next ask reads the store (after a deletion).
    pub async fn forget(&self) {
        self.inner.lock().await.loaded = None;
    }
}

impl Inner {
    /// Puts every location stored since the last ask into the copy.
    fn apply_events(&mut self) {
        let Some(events) = self.events.as_mut() else {
            self.loaded = None;
            return;
        };
        loop {
            match events.try_recv() {
                Ok(event) => {
                    if let Some(loaded) = self.loaded.as_mut().filter(|_| event.newest) {
                        patch(Arc::make_mut(&mut loaded.entries), &event);
                    }
                }
                Err(TryRecvError::Empty) => return,
                // Missed some: only the store knows now.
                Err(TryRecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "last locations behind the pipeline; rereading");
                    self.loaded = None;
                }
                Err(TryRecvError::Closed) => {
                    self.pipeline = None;
                    self.events = None;
                    self.loaded = None;
                    return;
                }
            }
        }
    }
}

/// Makes `event`'s location its device's entry. Its address is not known yet (the geocoder
/// comes after the store): the next read of the store brings it.
fn patch(entries: &mut BTreeMap<DeviceKey, LastEntry>, event: &StoredEvent) {
    let number = |name: &str| event.json.get(name).and_then(serde_json::Value::as_f64);
    let location = StoredLocation {
        id: event.id,
        tst: event.json.get("tst").and_then(serde_json::Value::as_i64).unwrap_or_default(),
        lat: number("lat").unwrap_or_default(),
        lon: number("lon").unwrap_or_default(),
        received_at: event.received_at,
        topic: event.topic.clone(),
        json: event.json.clone(),
        repairs: Vec::new(),
        addr: None,
        cc: None,
    };
    match entries.get_mut(&event.key) {
        // Already read from the store with this very point (and maybe its address).
        Some(entry) if entry.last.location.id == event.id => {}
        Some(entry) => entry.last.location = location,
        None => {
            let last = LastLocation { key: event.key.clone(), location };
            entries.insert(event.key.clone(), LastEntry { last, name: None, face: None });
        }
    }
}

/// A device's entry as `last` shows it: the stored message with `topic`, `username`, `device`
/// and the times ([`crate::live_item`]), then the geohash cell at `precision` (`ghash`) and,
/// where the message has none, the card's `name` and `face` and the address (`cc`, `addr`).
pub fn item(entry: &LastEntry, precision: usize) -> Value {
    let (key, location) = (&entry.last.key, &entry.last.location);
    let mut item =
        crate::live_item(location.json.clone(), &location.topic, key, location.received_at);
    let ghash = pista_geo::cell(location.lat, location.lon, precision).ok();
    let added = [
        ("ghash", ghash.as_deref()),
        ("name", entry.name.as_deref()),
        ("face", entry.face.as_deref()),
        ("cc", location.cc.as_deref()),
        ("addr", location.addr.as_deref()),
    ];
    if let Value::Object(map) = &mut item {
        for (name, value) in added.into_iter().filter_map(|(n, v)| Some((n, v?))) {
            map.entry(name).or_insert_with(|| value.into());
        }
    }
    item
}

/// The newest location of every device (of `user`, of `device`) with its card, straight from
/// the store (what `ocat --last` shows; the server asks through [`LastLocations`]).
pub async fn load(
    store: &dyn Storage,
    user: Option<&UserName>,
    device: Option<&DeviceName>,
) -> Result<BTreeMap<DeviceKey, LastEntry>, StoreError> {
    let cards = store.cards(user).await?;
    let last = store.last(user, device).await?;
    Ok(last
        .into_iter()
        .map(|last| {
            let (name, face) = crate::answer::card_of(&cards, &last.key)
                .map(|(name, face)| (name.cloned(), face.cloned()))
                .unwrap_or_default();
            (last.key.clone(), LastEntry { last, name, face })
        })
        .collect())
}
