//! History pages through the sea-orm connection pool: PostgreSQL, MySQL/MariaDB and in-memory
//! SQLite. A pooled connection is taken only while a page is read, so a slow client never pins
//! one.

use futures::stream::{self, StreamExt};
use sea_orm::sea_query::{Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryResult};
use tokio::sync::OwnedSemaphorePermit;

use super::merge::{Cursor, Merge, Step};
use super::{Columns, FixOrder, HistoryColumns, HistoryPages, HistoryPoint, PAGE_ROWS, Range};
use crate::error::StoreError;
use crate::read::get;

/// The pages of `merge`'s devices in `range`, read on `db`; `permit` is held until the stream
/// is dropped.
pub(super) fn pages(
    db: DatabaseConnection,
    range: Range,
    merge: Merge,
    columns: HistoryColumns,
    permit: OwnedSemaphorePermit,
) -> HistoryPages {
    let reader = Reader { db, range, merge, columns, _permit: permit };
    stream::try_unfold(reader, |mut reader| async move {
        let page = reader.next_page().await?;
        Ok(if page.is_empty() { None } else { Some((page, reader)) })
    })
    .boxed()
}

/// The state of an open history stream.
struct Reader {
    db: DatabaseConnection,
    range: Range,
    merge: Merge,
    columns: HistoryColumns,
    /// Held while the stream lives: the heavy-read bound.
    _permit: OwnedSemaphorePermit,
}

impl Reader {
    /// The next page in fix order; empty at the end.
    async fn next_page(&mut self) -> Result<Vec<HistoryPoint>, StoreError> {
        loop {
            match self.merge.step() {
                Step::Read(index) => {
                    let cursor = self.merge.cursor(index);
                    let (rows, after) =
                        read_page(&self.db, &self.range, cursor, self.columns).await?;
                    self.merge.fill(index, rows, after);
                }
                Step::Page(page) => return Ok(page),
            }
        }
    }
}

/// Reads one device's next page.
async fn read_page(
    db: &DatabaseConnection,
    range: &Range,
    cursor: &Cursor,
    columns: HistoryColumns,
) -> Result<(Vec<HistoryPoint>, Option<FixOrder>), StoreError> {
    let mut cond = range.filter(&[cursor.device_id]);
    if let Some(last) = cursor.after {
        cond = cond.add(super::after(last, false));
    }
    let select = Query::select()
        .columns(columns.names().iter().copied())
        .from("locations")
        .cond_where(cond)
        .order_by("tst", Order::Asc)
        .order_by("lat_e7", Order::Asc)
        .order_by("lon_e7", Order::Asc)
        .limit(PAGE_ROWS)
        .to_owned();
    let rows = db.query_all(&select).await.map_err(StoreError::query("read history page"))?;
    let after = rows.last().map(super::order_of).transpose()?;
    let points: Result<Vec<_>, _> =
        rows.iter().map(|row| super::point(row, &cursor.key, columns)).collect();
    Ok((points?, after))
}

impl Columns for QueryResult {
    type Error = StoreError;

    fn int(&self, index: usize) -> Result<i64, StoreError> {
        get(self, index)
    }

    fn real(&self, index: usize) -> Result<f64, StoreError> {
        get(self, index)
    }

    fn text(&self, index: usize) -> Result<String, StoreError> {
        get(self, index)
    }

    fn real_or_null(&self, index: usize) -> Result<Option<f64>, StoreError> {
        get(self, index)
    }

    fn text_or_null(&self, index: usize) -> Result<Option<String>, StoreError> {
        get(self, index)
    }
}
