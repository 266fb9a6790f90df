//! The index behind history reads and exports: `locations (device_id, tst, id)`. The unique fix
//! index (`device_id, tst, lat_e7, lon_e7`) finds a time range too, but it cannot hand rows out
//! in `(tst, id)` order, which keyset pages and equal fix times need; with this index a page is
//! one seek and a scan of the page's own rows, whatever the size of the history.

use sea_orm_migration::prelude::*;

use super::index;

/// Adds `locations_by_time`.
pub(super) struct LocationsByTime;

impl MigrationName for LocationsByTime {
    // Named by hand, after the file, so that it stays unique among migrations added in parallel.
    fn name(&self) -> &str {
        "m20261205_000002_locations_by_time"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for LocationsByTime {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = ["device_id", "tst", "id"];
        index(manager, "locations_by_time", "locations", &columns, false).await
    }
}
