//! Addresses for stored fixes, found beside ingest so that a slow provider never slows it: the
//! outputs stage queues a request per stored fix (dropping it when the queue is full), and one
//! worker answers from the in-memory cell cache, then the database's `geo_cells`, and only then
//! asks the geocoder, caching its answer by geohash cell. It writes addresses onto the fixes and
//! new cells into the cache in batches (one transaction per [`FLUSH_SIZE`] results or
//! [`FLUSH_EVERY`]), so that its writes take turns with ingest's commits instead of adding one
//! commit per fix, then tells the outputs stage, which republishes the device objects. A
//! backfill pass at start and every few minutes finds fixes still without an address (dropped
//! requests, provider outages). It leaves alone fixes whose requests may still be queued: at
//! start it takes those stored before the worker started, later those older than
//! [`QUEUED_GRACE`], so no fix is looked up twice because the backfill read it first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pista_core::DeviceKey;
use pista_geo::Geocoder;
use pista_store::{DerivedStore, GeoCell};
use tokio::sync::mpsc;

use crate::outputs::Control;

/// Most cells kept in memory; the cache starts over when it is full.
const MEMORY_CELLS: usize = 100_000;
/// How long a fix's request may wait in the queue; the backfill looks up older fixes only.
const QUEUED_GRACE: i64 = 60;
/// Fixes read per backfill query.
const BACKFILL_PAGE: u64 = 500;
/// Results written in one transaction, at most.
pub const FLUSH_SIZE: usize = 200;
/// Longest a result waits to be written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// How addresses are looked up.
#[derive(Clone)]
pub struct Geocoding {
    pub geocoder: Arc<dyn Geocoder>,
    /// Geohash characters per cache cell (7 is about 150 m × 150 m).
    pub precision: usize,
    /// Requests that may wait before new ones are dropped (the backfill finds them later).
    pub queue: usize,
    pub backfill_every: Duration,
}

/// Counters of the geocoder since start.
#[derive(Debug, Default)]
pub struct GeocodeStats {
    /// Answered from the memory or database cache.
    pub hits: AtomicU64,
    /// Asked of the provider.
    pub misses: AtomicU64,
    pub failures: AtomicU64,
    /// Requests dropped because the queue was full.
    pub dropped: AtomicU64,
}

/// One stored fix to find the address of.
#[derive(Debug, Clone, PartialEq)]
pub struct GeocodeRequest {
    pub id: i64,
    pub key: DeviceKey,
    pub lat: f64,
    pub lon: f64,
}

/// An address as cached.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub cc: Option<String>,
    pub addr: Option<String>,
}

/// The queue to the worker; requests never wait.
#[derive(Clone)]
pub struct GeocodeQueue {
    requests: mpsc::Sender<GeocodeRequest>,
    pub(crate) stats: Arc<GeocodeStats>,
}

impl GeocodeQueue {
    pub fn request(&self, request: GeocodeRequest) {
        if self.requests.try_send(request).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Addresses of recently seen cells, shared by the worker and the outputs stage.
#[derive(Clone)]
pub struct GeoCache {
    cells: Arc<Mutex<HashMap<String, Found>>>,
    precision: usize,
}

impl GeoCache {
    /// The cached address at a position, if its cell was looked up.
    pub fn get(&self, lat: f64, lon: f64) -> Option<Found> {
        let cell = pista_geo::cell(lat, lon, self.precision).ok()?;
        self.cells.lock().ok()?.get(&cell).cloned()
    }

    fn get_cell(&self, cell: &str) -> Option<Found> {
        self.cells.lock().ok()?.get(cell).cloned()
    }

    fn put(&self, cell: String, found: Found) {
        if let Ok(mut cells) = self.cells.lock() {
            if cells.len() >= MEMORY_CELLS {
                cells.clear();
            }
            cells.insert(cell, found);
        }
    }
}

/// Starts the worker; it reports addresses to `control` and ends when the queue closes.
pub(crate) fn spawn(
    geocoding: Geocoding,
    derived: Arc<dyn DerivedStore>,
    control: mpsc::UnboundedSender<Control>,
) -> (GeocodeQueue, GeoCache) {
    let (requests, queue) = mpsc::channel(geocoding.queue.max(1));
    let stats = Arc::new(GeocodeStats::default());
    let cache = GeoCache { cells: Arc::default(), precision: geocoding.precision };
    let started_at = crate::now();
    let worker = Worker {
        geocoding,
        derived,
        control,
        cache: cache.clone(),
        stats: stats.clone(),
        started_at,
    };
    tokio::spawn(worker.run(queue));
    (GeocodeQueue { requests, stats }, cache)
}

struct Worker {
    geocoding: Geocoding,
    derived: Arc<dyn DerivedStore>,
    control: mpsc::UnboundedSender<Control>,
    cache: GeoCache,
    stats: Arc<GeocodeStats>,
    /// When this worker started: every fix that arrived since had a request queued.
    started_at: i64,
}

/// Results not written yet.
#[derive(Default)]
struct Batch {
    /// Cells the geocoder answered, for the cache table.
    cells: Vec<(String, GeoCell)>,
    fixes: Vec<(GeocodeRequest, Found)>,
}

impl Worker {
    async fn run(self, mut queue: mpsc::Receiver<GeocodeRequest>) {
        let mut backfill = tokio::time::interval(self.geocoding.backfill_every);
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Batch::default();
        loop {
            tokio::select! {
                request = queue.recv() => match request {
                    Some(request) => {
                        self.answer(&request, &mut batch).await;
                        if batch.fixes.len() >= FLUSH_SIZE {
                            self.flush(&mut batch).await;
                        }
                    }
                    None => break,
                },
                _ = flush.tick() => self.flush(&mut batch).await,
                _ = backfill.tick() => self.backfill(&mut batch).await,
            }
        }
        self.flush(&mut batch).await;
    }

    /// Writes the batch in one transaction and tells the outputs stage; on failure the fixes
    /// stay without an address for the backfill to find.
    async fn flush(&self, batch: &mut Batch) {
        if batch.fixes.is_empty() && batch.cells.is_empty() {
            return;
        }
        let Batch { cells, fixes } = std::mem::take(batch);
        let rows: Vec<(i64, Option<String>, Option<String>)> = fixes
            .iter()
            .map(|(request, found)| (request.id, found.cc.clone(), found.addr.clone()))
            .collect();
        if let Err(error) = self.derived.record_addresses(&cells, &rows, crate::now()).await {
            tracing::warn!(fixes = rows.len(), %error, "addresses not stored");
            return;
        }
        for (request, found) in fixes {
            let _ = self.control.send(Control::Address {
                key: request.key,
                ids: vec![request.id],
                cc: found.cc,
                addr: found.addr,
            });
        }
    }

    async fn backfill(&self, batch: &mut Batch) {
        // Fixes put in device order have ids below zero (see `pista_store::Compacted`).
        let mut after = i64::MIN;
        let before = Ord::max(self.started_at, crate::now() - QUEUED_GRACE);
        loop {
            let page = match self.derived.ungeocoded(after, before, BACKFILL_PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "geocoding backfill stopped");
                    return;
                }
            };
            let Some(last) = page.last() else { return };
            after = last.id;
            for fix in &page {
                let request =
                    GeocodeRequest { id: fix.id, key: fix.key.clone(), lat: fix.lat, lon: fix.lon };
                self.answer(&request, batch).await;
                if batch.fixes.len() >= FLUSH_SIZE {
                    self.flush(batch).await;
                }
            }
            self.flush(batch).await;
        }
    }

    /// Finds the address of one fix and adds it to the batch; a failure leaves the fix for the
    /// next backfill.
    async fn answer(&self, request: &GeocodeRequest, batch: &mut Batch) {
        let cell = match pista_geo::cell(request.lat, request.lon, self.geocoding.precision) {
            Ok(cell) => cell,
            Err(error) => {
                tracing::debug!(id = request.id, %error, "no geohash cell");
                return;
            }
        };
        let Some(found) = self.lookup(&cell, request, batch).await else { return };
        batch.fixes.push((request.clone(), found));
    }

    async fn lookup(
        &self,
        cell: &str,
        request: &GeocodeRequest,
        batch: &mut Batch,
    ) -> Option<Found> {
        if let Some(found) = self.cache.get_cell(cell) {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Some(found);
        }
        match self.derived.geo_cell(cell).await {
            Ok(Some(stored)) => {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                let found = Found { cc: stored.cc, addr: stored.addr };
                self.cache.put(cell.to_owned(), found.clone());
                return Some(found);
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%cell, %error, "geo cache not read");
                return None;
            }
        }

        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        let geocoder = self.geocoding.geocoder.as_ref();
        let address = match geocoder.reverse(request.lat, request.lon).await {
            Ok(address) => address,
            Err(error) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(provider = geocoder.name(), %cell, %error, "geocoding failed");
                return None;
            }
        };
        let found = Found {
            cc: address.as_ref().and_then(|a| a.cc.clone()),
            addr: address.map(|a| a.addr),
        };
        let value = GeoCell {
            cc: found.cc.clone(),
            addr: found.addr.clone(),
            provider: geocoder.name().into(),
        };
        batch.cells.push((cell.to_owned(), value));
        self.cache.put(cell.to_owned(), found.clone());
        Some(found)
    }
}
