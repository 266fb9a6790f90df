//! Where Pista keeps what arrives: the [`Storage`] interface every backend implements, the
//! records that cross it, and the SQL backend built on sea-orm. Schema changes are migrations
//! embedded in the binary and run at start-up. Writes come in batches, one transaction each, so
//! the ingest pipeline can acknowledge a batch of messages with a single commit.

mod accounts;
mod answers;
mod apply;
mod copies;
mod derived;
mod dialect;
mod error;
mod history;
mod read;
mod records;
mod retention;
mod revision;
mod rows;
mod schema;
mod sql;
mod tours;
mod write;

use async_trait::async_trait;
use pista_core::tour::TourId;
use pista_core::{Card, DeviceKey, DeviceName, UserName};

pub use accounts::{
    Access, Account, AccountError, AccountStore, Acl, CtrlSettings, PasswordHash, Token, TokenKind,
};
pub use bytestring::ByteString;
pub use derived::{
    AlertQuery, DerivedStore, FenceRecord, FenceSide, FenceSource, FenceStateChange, FenceStateRow,
    GeoCell, JobName, NewAlert, NewDelivery, NewFence, NewJob, QueuedDelivery, RecordedAlert,
    StoredAlert, StoredDelivery, StoredFence, StoredJob, Ungeocoded,
};
pub use error::StoreError;
pub use history::{
    History, HistoryColumns, HistoryPages, HistoryPoint, HistoryQuery, MessageWriter, PAGE_ROWS,
    PointMessage, WrittenHistory,
};
pub use records::{
    DeviceState, InventoryItem, LastLocation, LocationQuery, MessageQuery, NewBody, NewMessage,
    Quarantined, StoredCard, StoredCommand, StoredLocation, StoredMessage, StoredTour,
    StoredTransition, StoredWaypoint, WriteOutcome,
};
pub use retention::{
    Deleted, DeletedBy, RetentionRule, RetentionStore, Selector, Span, StoredDeletion,
    effective_days,
};
pub use sql::{HEAVY_READ_WAIT, HEAVY_READS, SqlStore, sqlite_file};
pub use write::{
    AGE_SECONDS as COMPACT_AGE_SECONDS, CHUNK as COMPACT_CHUNK, Compacted,
    SETTLE_SECONDS as COMPACT_SETTLE_SECONDS,
};

/// The storage interface. Implementations must make a batch durable before `write` returns.
#[async_trait]
pub trait Storage: Send + Sync {
    /// Stores `batch` in one transaction and returns one outcome per message, in order.
    async fn write(&self, batch: &[NewMessage]) -> Result<Vec<WriteOutcome>, StoreError>;

    /// All users that have at least one device, sorted.
    async fn users(&self) -> Result<Vec<UserName>, StoreError>;

    /// The devices of `user`, sorted.
    async fn devices(&self, user: &UserName) -> Result<Vec<DeviceName>, StoreError>;

    /// The newest location of each device, optionally only of one user and/or device name,
    /// sorted by user and device.
    async fn last(
        &self,
        user: Option<&UserName>,
        device: Option<&DeviceName>,
    ) -> Result<Vec<LastLocation>, StoreError>;

    /// Locations of one device in a time range, in time order.
    async fn locations(&self, query: &LocationQuery) -> Result<Vec<StoredLocation>, StoreError>;

    /// A history to stream: one device's fixes, or all of a user's devices' merged, in the
    /// query's range of fix times, ordered by `tst` then id, read in pages so nothing holds the
    /// whole result. Fails at once for an unknown user or device, and with
    /// [`StoreError::Busy`] when too many history reads run already.
    async fn history(&self, query: &HistoryQuery) -> Result<History, StoreError>;

    /// Stored messages other than locations, oldest first; with `key` only that device's.
    async fn messages(&self, key: Option<&DeviceKey>) -> Result<Vec<StoredMessage>, StoreError>;

    /// One device's messages other than locations that `query` asks for, in the order of their
    /// own time (their arrival when they have none), then of storing; none for an unknown
    /// device. Read through the index on device, type and time.
    async fn device_messages(&self, query: &MessageQuery)
    -> Result<Vec<StoredMessage>, StoreError>;

    /// Quarantined messages (released ones included), oldest first; with `key` only that
    /// device's.
    async fn quarantined(&self, key: Option<&DeviceKey>) -> Result<Vec<Quarantined>, StoreError>;

    /// Marks quarantined messages as taken out (after a successful replay).
    async fn release(&self, ids: &[i64], at: i64) -> Result<(), StoreError>;

    /// A device's region events in time order.
    async fn transitions(&self, key: &DeviceKey) -> Result<Vec<StoredTransition>, StoreError>;

    /// A device's regions, by creation time.
    async fn waypoints(&self, key: &DeviceKey) -> Result<Vec<StoredWaypoint>, StoreError>;

    /// Cards, of one user or of everyone, sorted by user and device (user cards first).
    async fn cards(&self, user: Option<&UserName>) -> Result<Vec<StoredCard>, StoreError>;

    /// Sets the card of a device, or of a user as a whole when `device` is `None`.
    async fn set_card(
        &self,
        user: &UserName,
        device: Option<&DeviceName>,
        card: &Card,
        at: i64,
    ) -> Result<(), StoreError>;

    /// Removes the card of a device, or of a user when `device` is `None`; returns whether there
    /// was one.
    async fn remove_card(
        &self,
        user: &UserName,
        device: Option<&DeviceName>,
    ) -> Result<bool, StoreError>;

    /// Liveness and Greenwich state of a device; `None` if it never sent anything.
    async fn device_state(&self, key: &DeviceKey) -> Result<Option<DeviceState>, StoreError>;

    /// Greenwich devices by IMEI.
    async fn inventory(&self) -> Result<Vec<InventoryItem>, StoreError>;

    /// Sets (`Some`, km) or clears (`None`) a device's odometer base; returns `false` when the
    /// device never sent anything (it has no row to hold it).
    async fn set_odometer(&self, key: &DeviceKey, odo: Option<f64>) -> Result<bool, StoreError>;

    /// The encryption secret of a device.
    async fn secret(&self, key: &DeviceKey) -> Result<Option<String>, StoreError>;

    /// Sets (`Some`) or removes (`None`) a device's secret; returns whether one existed before.
    async fn set_secret(
        &self,
        key: &DeviceKey,
        secret: Option<&str>,
        at: i64,
    ) -> Result<bool, StoreError>;

    /// Devices that have a secret (never the secrets themselves), sorted.
    async fn secrets(&self) -> Result<Vec<DeviceKey>, StoreError>;

    /// Lets `user` see `friend`'s device (or all of `friend`'s devices when `device` is `None`)
    /// in HTTP-mode answers. Returns `false` if that was already so.
    async fn add_friend(
        &self,
        user: &UserName,
        friend: &UserName,
        device: Option<&DeviceName>,
    ) -> Result<bool, StoreError>;

    /// Undoes [`Storage::add_friend`]; returns whether there was such an entry.
    async fn remove_friend(
        &self,
        user: &UserName,
        friend: &UserName,
        device: Option<&DeviceName>,
    ) -> Result<bool, StoreError>;

    /// Whom `user` sees, sorted.
    async fn friends(
        &self,
        user: &UserName,
    ) -> Result<Vec<(UserName, Option<DeviceName>)>, StoreError>;

    /// Whom `user` sees, as HTTP-mode answers read it: as of the last batch write at least
    /// (changes committed before it began are in), so it may be served from memory.
    async fn answer_friends(
        &self,
        user: &UserName,
    ) -> Result<Vec<(UserName, Option<DeviceName>)>, StoreError> {
        self.friends(user).await
    }

    /// Records a command for a device; returns its id.
    async fn queue_command(
        &self,
        key: &DeviceKey,
        action: &str,
        payload: &str,
        at: i64,
    ) -> Result<i64, StoreError>;

    /// Records how publishing a command over MQTT went.
    async fn command_published(
        &self,
        id: i64,
        result: Result<(), String>,
        at: i64,
    ) -> Result<(), StoreError>;

    /// Commands of one device (or all), oldest first.
    async fn commands(&self, key: Option<&DeviceKey>) -> Result<Vec<StoredCommand>, StoreError>;

    /// Takes the commands a device has not yet received over HTTP, marking them delivered at
    /// `at`, oldest first.
    async fn take_http_commands(
        &self,
        key: &DeviceKey,
        at: i64,
    ) -> Result<Vec<StoredCommand>, StoreError>;

    /// The tour `uuid` with its owner, if it exists (tours are made and deleted by the
    /// devices' `request` messages, see [`WriteOutcome::Answered`]).
    async fn tour(&self, uuid: &TourId) -> Result<Option<StoredTour>, StoreError>;

    /// The tours of one device, oldest first.
    async fn tours(&self, key: &DeviceKey) -> Result<Vec<StoredTour>, StoreError>;

    /// Wire copies (`rawdata`) as (topic, received_at, payload), oldest first.
    async fn rawdata(&self) -> Result<Vec<(String, i64, Vec<u8>)>, StoreError>;

    /// Deletes wire copies received before `before`; returns how many.
    async fn prune_rawdata(&self, before: i64) -> Result<u64, StoreError>;

    /// Moves the next chunk of settled locations into device order as of `now` (a SQLite file
    /// only; see [`Compacted`]).
    async fn compact(&self, now: i64) -> Result<Compacted, StoreError> {
        let _ = now;
        Ok(Compacted::Unsupported)
    }
}
