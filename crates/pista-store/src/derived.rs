//! Storage of what ingest derives after a commit: addresses (a cache by geohash cell, and the
//! address of each fix), geofences with each device's side of them, the alerts they fired, and
//! the log of webhook deliveries of those alerts, and Activo job names and job history. It is a
//! trait of its own, beside
//! [`crate::Storage`], because only the outputs stage and the fence API use it.

mod deliveries;
mod jobs;
mod sql;

pub(crate) use sql::bump_fences;

use async_trait::async_trait;
use pista_core::{DeviceKey, UserName};

use crate::error::StoreError;

/// An address found for a geohash cell. `addr` is `None` when the provider knew nothing there,
/// which is remembered too so the cell is not asked again.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoCell {
    pub cc: Option<String>,
    pub addr: Option<String>,
    pub provider: String,
}

/// A stored fix still waiting for its address.
#[derive(Debug, Clone, PartialEq)]
pub struct Ungeocoded {
    pub id: i64,
    pub key: DeviceKey,
    pub lat: f64,
    pub lon: f64,
}

/// Where a fence came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceSource {
    /// A region an app sent (`waypoint`/`waypoints` with a radius).
    App,
    /// The `[[fences]]` of the configuration file.
    Config,
    /// Created through the API.
    Api,
}

impl FenceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::Config => "config",
            Self::Api => "api",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "app" => Self::App,
            "config" => Self::Config,
            _ => Self::Api,
        }
    }
}

/// A fence as stored: a circle (`radius`) or a polygon (`polygon`, with `lat`/`lon` its first
/// corner).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFence {
    pub id: i64,
    pub source: FenceSource,
    /// For an app's region: the device that sent it and the region's creation time.
    pub owner: Option<DeviceKey>,
    pub wtst: Option<i64>,
    /// Whose devices it applies to: the owner's user for an app's region; for other fences the
    /// user set, or everyone (`None`).
    pub user: Option<UserName>,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    pub radius: Option<f64>,
    pub polygon: Option<Vec<(f64, f64)>>,
    /// Where its alerts are also POSTed.
    pub webhook: Option<String>,
    pub updated_at: i64,
}

/// A fence to create or replace (through the API or from the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct NewFence {
    pub source: FenceSource,
    pub user: Option<UserName>,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    pub radius: Option<f64>,
    pub polygon: Option<Vec<(f64, f64)>>,
    pub webhook: Option<String>,
}

/// One device's side of one fence.
#[derive(Debug, Clone, PartialEq)]
pub struct FenceStateRow {
    pub key: DeviceKey,
    pub fence_id: i64,
    pub inside: bool,
    pub since: i64,
    pub pending: Option<i64>,
    pub last_tst: i64,
}

/// A changed side of a fence, with the side it was computed from (`None`: the device had no
/// side of that fence yet). Several ingest workers on one database may evaluate one device;
/// a change is written only if the stored side is still the one it started from.
#[derive(Debug, Clone, PartialEq)]
pub struct FenceStateChange {
    pub state: FenceStateRow,
    pub was: Option<FenceSide>,
}

/// The values of a device's side of a fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FenceSide {
    pub inside: bool,
    pub since: i64,
    pub pending: Option<i64>,
    pub last_tst: i64,
}

impl FenceStateRow {
    /// The side this row records.
    pub fn side(&self) -> FenceSide {
        FenceSide {
            inside: self.inside,
            since: self.since,
            pending: self.pending,
            last_tst: self.last_tst,
        }
    }
}

/// What [`DerivedStore::record_fence_events`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum FenceRecord {
    /// Everything was written: each alert's id and queued deliveries, in order; `None` for an
    /// alert (and nothing for a side) of a device deleted meanwhile, which is not recorded.
    Recorded(Vec<Option<RecordedAlert>>),
    /// Nothing was written: a stored side was not the one a change started from (another
    /// worker moved it). Read the states again and evaluate anew.
    Stale,
}

/// An enter or leave event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub key: DeviceKey,
    pub fence_id: i64,
    pub entered: bool,
    pub tst: i64,
    pub meters: f64,
    /// The alert object as published.
    pub payload: String,
    pub at: i64,
    /// The webhooks it is to be POSTed to; each is queued with the alert, in its transaction,
    /// and stays queued until its delivery ends.
    pub webhooks: Vec<String>,
}

/// A recorded alert: its id and its queued webhook deliveries (queue id, URL).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedAlert {
    pub id: i64,
    pub queued: Vec<(i64, String)>,
}

/// A webhook delivery that has not ended yet (queued, or between retries).
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedDelivery {
    pub id: i64,
    pub alert_id: i64,
    pub url: String,
    /// The alert object as published.
    pub payload: String,
}

/// A recorded enter or leave event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub id: i64,
    pub key: DeviceKey,
    pub fence_id: i64,
    /// `enter` or `leave`.
    pub event: String,
    pub tst: i64,
    pub meters: f64,
    pub payload: String,
    pub created_at: i64,
}

/// Which alerts to read, newest first (highest id first): one device's or all, with a fix time
/// (`tst`) from `from` to `to` inclusive, an id above `after` and below `before` (the pages
/// after and before one read), at most `limit`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertQuery {
    pub key: Option<DeviceKey>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub after: Option<i64>,
    pub before: Option<i64>,
    pub limit: u64,
}

/// One POST of an alert to a webhook, or a delivery dropped before any POST.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub alert_id: i64,
    /// The webhook's URL with any password masked.
    pub url: String,
    /// 1 for the first POST, 2 for the first retry, ...; 0 for a delivery dropped because the
    /// queue was full.
    pub attempt: u16,
    /// The receiver's HTTP status; `None` when no answer came.
    pub status: Option<u16>,
    /// Why the attempt failed, in words; `None` when the receiver took the alert.
    pub error: Option<String>,
    pub delivered: bool,
    pub at: i64,
}

/// A logged webhook delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDelivery {
    pub id: i64,
    pub alert_id: i64,
    pub url: String,
    pub attempt: u16,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub delivered: bool,
    pub at: i64,
}

/// A name an Activo job box gave a job, task, place or machine of one device.
#[derive(Debug, Clone, PartialEq)]
pub struct JobName {
    pub key: DeviceKey,
    /// `job`, `task`, `place` or `machine`.
    pub kind: String,
    /// A task's job; 0 for the other kinds.
    pub job: i64,
    pub number: i64,
    pub name: String,
}

/// A job a device started.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub tid: String,
    /// The job number, or `job/task/place/machine`.
    pub job: String,
    pub jobname: String,
    pub started_at: i64,
}

/// A recorded job: running while `ended_at` is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredJob {
    pub id: i64,
    pub key: DeviceKey,
    pub tid: String,
    pub job: String,
    pub jobname: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// Seconds from start to end (never negative).
    pub duration: Option<i64>,
}

/// Storage of derived data; see the module documentation.
#[async_trait]
pub trait DerivedStore: Send + Sync {
    /// The cached address of a geohash cell.
    async fn geo_cell(&self, cell: &str) -> Result<Option<GeoCell>, StoreError>;

    /// In one transaction, caches the addresses of new cells (replacing older answers) and sets
    /// the addresses of fixes (`(id, cc, addr)`; `None`: looked up, nothing known): the geocoder's results, written in batches so that its writes take
    /// turns with ingest's commits rather than one commit each.
    async fn record_addresses(
        &self,
        cells: &[(String, GeoCell)],
        fixes: &[(i64, Option<String>, Option<String>)],
        at: i64,
    ) -> Result<(), StoreError>;

    /// Fixes not yet looked up that arrived before `before`, with ids above `after`, oldest
    /// first.
    async fn ungeocoded(
        &self,
        after: i64,
        before: i64,
        limit: u64,
    ) -> Result<Vec<Ungeocoded>, StoreError>;

    /// Every fence, by id.
    async fn fences(&self) -> Result<Vec<StoredFence>, StoreError>;

    /// Creates a fence; returns its id.
    async fn add_fence(&self, fence: &NewFence, at: i64) -> Result<i64, StoreError>;

    /// Replaces fence `id` (not an app's region); returns whether it existed.
    async fn update_fence(&self, id: i64, fence: &NewFence, at: i64) -> Result<bool, StoreError>;

    /// Deletes fence `id` with every device's state of it; returns whether it existed.
    async fn remove_fence(&self, id: i64) -> Result<bool, StoreError>;

    /// How many times the fence list changed: read before each batch, so a worker sees the
    /// changes another worker or process made.
    async fn fence_revision(&self) -> Result<i64, StoreError>;

    /// How many times a device was deleted with everything it had: read before each batch, so
    /// a worker reads its device objects again after another worker or process deleted some.
    async fn deletion_revision(&self) -> Result<i64, StoreError>;

    /// The fence and deletion revisions the last batch write of this store read (`None`
    /// before the first), so the outputs stage, which runs after the batch, follows them
    /// without a query.
    fn batch_revisions(&self) -> Option<(i64, i64)> {
        None
    }

    /// Every device's side of every fence.
    async fn fence_states(&self) -> Result<Vec<FenceStateRow>, StoreError>;

    /// Saves changed fence states, the alerts they fired and the alerts' webhook deliveries
    /// (queued) in one transaction; returns each alert's id and queued deliveries, or
    /// [`FenceRecord::Stale`] (having written nothing) when a stored side changed meanwhile.
    async fn record_fence_events(
        &self,
        states: &[FenceStateChange],
        alerts: &[NewAlert],
    ) -> Result<FenceRecord, StoreError>;

    /// Webhook deliveries still queued, oldest first (to resume them after a restart).
    async fn queued_deliveries(&self) -> Result<Vec<QueuedDelivery>, StoreError>;

    /// Takes a delivery off the queue: it was delivered, given up or dropped.
    async fn finish_delivery(&self, id: i64) -> Result<(), StoreError>;

    /// Recorded alerts, oldest first; with `key` only that device's.
    async fn alerts(&self, key: Option<&DeviceKey>) -> Result<Vec<StoredAlert>, StoreError>;

    /// A page of recorded alerts, newest first (see [`AlertQuery`]).
    async fn alert_page(&self, query: &AlertQuery) -> Result<Vec<StoredAlert>, StoreError>;

    /// Logs one webhook delivery attempt (or a dropped delivery); returns its id.
    async fn record_delivery(&self, delivery: &NewDelivery) -> Result<i64, StoreError>;

    /// Logged webhook delivery attempts, oldest first; with `alert_id` only that alert's.
    async fn deliveries(&self, alert_id: Option<i64>) -> Result<Vec<StoredDelivery>, StoreError>;

    /// Every device's job, task, place and machine names.
    async fn job_names(&self) -> Result<Vec<JobName>, StoreError>;

    /// Saves names, replacing older ones of the same device, kind and number.
    async fn put_job_names(&self, names: &[JobName], at: i64) -> Result<(), StoreError>;

    /// In one transaction, ends every running job of the device at `at`, then starts `start`
    /// if given; returns the jobs ended, then the one started.
    async fn record_job(
        &self,
        key: &DeviceKey,
        at: i64,
        start: Option<&NewJob>,
    ) -> Result<Vec<StoredJob>, StoreError>;

    /// Recorded jobs, oldest start first; with `key` only that device's, with `running` only
    /// those not ended.
    async fn jobs(
        &self,
        key: Option<&DeviceKey>,
        running: bool,
    ) -> Result<Vec<StoredJob>, StoreError>;
}
