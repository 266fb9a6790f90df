//! Where Pista keeps what arrives: the [`Storage`] interface every backend implements, the
//! records that cross it, and the SQL backend built on sea-orm. Schema changes are migrations
//! embedded in the binary and run at start-up. Writes come in batches, one transaction each, so
//! the ingest pipeline can acknowledge a batch of messages with a single commit.

mod copies;
mod error;
mod read;
mod records;
mod schema;
mod sql;
mod write;

use async_trait::async_trait;
use pista_core::{DeviceKey, DeviceName, UserName};

pub use error::StoreError;
pub use records::{
    LastLocation, LocationQuery, NewBody, NewMessage, StoredLocation, StoredMessage, WriteOutcome,
};
pub use sql::SqlStore;

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

    /// Messages kept as they came (every type but valid locations), oldest first; with `key`
    /// only that device's.
    async fn messages(&self, key: Option<&DeviceKey>) -> Result<Vec<StoredMessage>, StoreError>;
}
