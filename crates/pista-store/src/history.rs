//! Streaming reads of history, for exports and long location answers: one device's fixes, or
//! all of a user's devices' merged, in a range of fix times, ordered by `tst`, then position
//! (never by arrival). Nothing buffers the whole result: each device is read in keyset pages over
//! the unique fix index `(device_id, tst, lat_e7, lon_e7)` (a fix's key is its place in the
//! order, so no second index on `locations` slows ingest), and a user's devices are merged page
//! by page. A connection is
//! held only while a page is read, so a slow client never pins one; what bounds the work is the
//! heavy-read semaphore, whose permit a stream holds until it is dropped.
//!
//! A history shows what was stored when it was opened: rows added later (higher ids) are left
//! out, so the optional count matches the rows unless a deletion runs meanwhile.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt};
use pista_core::{DeviceKey, DeviceName, UserName};
use sea_orm::sea_query::{Cond, Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryResult};
use tokio::sync::OwnedSemaphorePermit;

use crate::error::StoreError;
use crate::read::{get, name, parse};
use crate::sql::SqlStore;

/// Rows read per query. Large enough that the per-query cost disappears in a month, small
/// enough that one page of a slow export is a few hundred kilobytes in memory.
pub const PAGE_ROWS: u64 = 2000;

/// Which history to read. Bounds are inclusive UNIX seconds of the fix time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    pub user: UserName,
    /// One device, or every device of the user when `None`.
    pub device: Option<DeviceName>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Only the newest `limit` points of the range (still oldest first).
    pub limit: Option<u64>,
    /// Count the points before streaming them (one more query); see [`History::count`].
    pub count: bool,
}

impl HistoryQuery {
    /// All of one device's (or user's) history, uncounted.
    pub fn new(user: UserName, device: Option<DeviceName>) -> Self {
        Self { user, device, from: None, to: None, limit: None, count: false }
    }
}

/// One stored fix as exports need it: the typed columns, and the stored message as compact JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPoint {
    /// The device; shared by all points of that device.
    pub key: Arc<DeviceKey>,
    pub id: i64,
    pub tst: i64,
    pub lat: f64,
    pub lon: f64,
    pub received_at: i64,
    pub tid: String,
    /// The trigger (`t`).
    pub trigger: Option<String>,
    pub acc: Option<f64>,
    pub alt: Option<f64>,
    pub vel: Option<f64>,
    pub cog: Option<f64>,
    pub batt: Option<f64>,
    pub conn: Option<String>,
    /// The normalised message as stored: one line of compact JSON.
    pub payload: String,
    /// The address found for the fix, once the geocoder has run.
    pub addr: Option<String>,
}

/// Pages of points in fix order (`tst`, then position); an error ends the stream.
pub type HistoryPages = BoxStream<'static, Result<Vec<HistoryPoint>, StoreError>>;

/// An opened history read.
pub struct History {
    /// How many points the pages hold, when the query asked for a count.
    pub count: Option<u64>,
    pub pages: HistoryPages,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").field("count", &self.count).finish_non_exhaustive()
    }
}

const COLUMNS: [&str; 15] = [
    "id",
    "tst",
    "lat",
    "lon",
    "received_at",
    "tid",
    "trig",
    "acc",
    "alt",
    "vel",
    "cog",
    "batt",
    "conn",
    "payload",
    "addr",
];

/// What every query of one history shares: the devices, the range and the snapshot.
#[derive(Clone)]
struct Range {
    devices: Vec<i64>,
    from: Option<i64>,
    to: Option<i64>,
    /// The newest id when the history was opened.
    until_id: i64,
    /// The first fix of a `limit` read.
    start: Option<FixOrder>,
}

impl Range {
    /// The rows of `devices` in the range, from `start` on.
    fn filter(&self, devices: &[i64]) -> Cond {
        let mut cond = Cond::all()
            .add(Expr::col("device_id").is_in(devices.iter().copied()))
            .add(Expr::col("id").lte(self.until_id));
        if let Some(from) = self.from {
            cond = cond.add(Expr::col("tst").gte(from));
        }
        if let Some(to) = self.to {
            cond = cond.add(Expr::col("tst").lte(to));
        }
        if let Some(start) = self.start {
            cond = cond.add(after(start, true));
        }
        cond
    }
}

/// A fix's place in the order: `tst`, latitude and longitude in 1e-7 degrees, as in the unique
/// fix index.
type FixOrder = (i64, i64, i64);

/// Rows after `(tst, lat_e7, lon_e7)` in that order (`at`: or at it). The plain `tst >= ...` is
/// there so that every database can start its index range at it instead of relying on the
/// planner to read a range out of the `OR`.
fn after((tst, lat, lon): FixOrder, at: bool) -> Cond {
    let lon_after = if at { Expr::col("lon_e7").gte(lon) } else { Expr::col("lon_e7").gt(lon) };
    let same_lat = Cond::all().add(Expr::col("lat_e7").eq(lat)).add(lon_after);
    let later_place = Cond::any().add(Expr::col("lat_e7").gt(lat)).add(same_lat);
    let same_time = Cond::all().add(Expr::col("tst").eq(tst)).add(later_place);
    let later = Cond::any().add(Expr::col("tst").gt(tst)).add(same_time);
    Cond::all().add(Expr::col("tst").gte(tst)).add(later)
}

/// A point's place in the order.
fn order_of(point: &HistoryPoint) -> FixOrder {
    (point.tst, crate::write::e7(point.lat), crate::write::e7(point.lon))
}

impl SqlStore {
    /// Opens a history read; see [`crate::Storage::history`].
    pub(crate) async fn open_history(&self, query: &HistoryQuery) -> Result<History, StoreError> {
        let permit = self.heavy_read_permit().await?;
        let devices = self.history_devices(query).await?;
        let ids: Vec<i64> = devices.iter().map(|(id, _)| *id).collect();
        let mut range = Range {
            devices: ids,
            from: query.from,
            to: query.to,
            until_id: self.newest_location_id().await?,
            start: None,
        };
        if query.limit == Some(0) {
            let count = query.count.then_some(0);
            return Ok(History { count, pages: stream::empty().boxed() });
        }
        if let Some(limit) = query.limit {
            range.start = self.limit_start(&range, limit).await?;
        }

        let count = if query.count { Some(self.count_range(&range).await?) } else { None };
        let cursors = devices
            .into_iter()
            .map(|(id, key)| Cursor { device_id: id, key, after: None, rows: VecDeque::new() })
            .collect();
        let reader = Reader { db: self.db.clone(), range, cursors, _permit: permit };
        let pages = stream::try_unfold(reader, |mut reader| async move {
            let page = reader.next_page().await?;
            Ok(if page.is_empty() { None } else { Some((page, reader)) })
        });
        tracing::debug!(user = %query.user, device = ?query.device, ?count, "history opened");
        Ok(History { count, pages: pages.boxed() })
    }

    /// The device ids of the query, with their keys; an unknown user or device is an error.
    async fn history_devices(
        &self,
        query: &HistoryQuery,
    ) -> Result<Vec<(i64, Arc<DeviceKey>)>, StoreError> {
        let mut select = Query::select()
            .columns(["id", "user_name", "device_name"])
            .from("devices")
            .and_where(Expr::col("user_name").eq(query.user.as_str()))
            .order_by("device_name", Order::Asc)
            .to_owned();
        if let Some(device) = &query.device {
            select.and_where(Expr::col("device_name").eq(device.as_str()));
        }
        let rows =
            self.db.query_all(&select).await.map_err(StoreError::query("find history devices"))?;
        if rows.is_empty() {
            return Err(match &query.device {
                Some(device) => StoreError::UnknownDevice {
                    user: query.user.to_string(),
                    device: device.to_string(),
                },
                None => StoreError::UnknownUser { user: query.user.to_string() },
            });
        }
        rows.iter()
            .map(|row| {
                let key = parse(DeviceKey::parse(&name(row, 1)?, &name(row, 2)?))?;
                Ok((get::<i64>(row, 0)?, Arc::new(key)))
            })
            .collect()
    }

    async fn newest_location_id(&self) -> Result<i64, StoreError> {
        let select = Query::select().expr(Expr::col("id").max()).from("locations").to_owned();
        let row = self.db.query_one(&select).await.map_err(StoreError::query("newest location"))?;
        Ok(row.map(|row| get::<Option<i64>>(&row, 0)).transpose()?.flatten().unwrap_or(0))
    }

    /// The place of the `limit`th newest point, or `None` when there are fewer.
    async fn limit_start(&self, range: &Range, limit: u64) -> Result<Option<FixOrder>, StoreError> {
        let select = Query::select()
            .columns(["tst", "lat_e7", "lon_e7"])
            .from("locations")
            .cond_where(range.filter(&range.devices))
            .order_by("tst", Order::Desc)
            .order_by("lat_e7", Order::Desc)
            .order_by("lon_e7", Order::Desc)
            .limit(1)
            .offset(limit - 1)
            .to_owned();
        let row =
            self.db.query_one(&select).await.map_err(StoreError::query("find limit start"))?;
        row.map(|row| Ok((get(&row, 0)?, get(&row, 1)?, get(&row, 2)?))).transpose()
    }

    async fn count_range(&self, range: &Range) -> Result<u64, StoreError> {
        let select = Query::select()
            .expr(Expr::col("id").count())
            .from("locations")
            .cond_where(range.filter(&range.devices))
            .to_owned();
        let row = self.db.query_one(&select).await.map_err(StoreError::query("count history"))?;
        let count = row.map(|row| get::<i64>(&row, 0)).transpose()?.unwrap_or(0);
        Ok(count.unsigned_abs())
    }
}

/// One device's place in a history read.
struct Cursor {
    device_id: i64,
    key: Arc<DeviceKey>,
    /// The place of the last fix read; `None` before the first page.
    after: Option<FixOrder>,
    /// Rows read but not handed out yet (merges only).
    rows: VecDeque<HistoryPoint>,
}

/// The state of an open history stream.
struct Reader {
    db: DatabaseConnection,
    range: Range,
    /// Devices with rows left; a device is removed when its last page came back short.
    cursors: Vec<Cursor>,
    /// Held while the stream lives: the heavy-read bound.
    _permit: OwnedSemaphorePermit,
}

impl Reader {
    /// The next page in fix order; empty at the end.
    async fn next_page(&mut self) -> Result<Vec<HistoryPoint>, StoreError> {
        // One device left with nothing buffered: its pages are the history's pages.
        if let [cursor] = self.cursors.as_mut_slice()
            && cursor.rows.is_empty()
        {
            let page = read_page(&self.db, &self.range, cursor).await?;
            if (page.len() as u64) < PAGE_ROWS {
                self.cursors.clear();
            }
            return Ok(page);
        }
        self.merged_page().await
    }

    /// Merges the devices' pages: always hands out the earliest of all heads (by `tst`, then
    /// id between devices).
    async fn merged_page(&mut self) -> Result<Vec<HistoryPoint>, StoreError> {
        let mut page = Vec::with_capacity(PAGE_ROWS as usize);
        while (page.len() as u64) < PAGE_ROWS {
            let mut index = 0;
            while index < self.cursors.len() {
                let cursor = &mut self.cursors[index];
                if cursor.rows.is_empty() {
                    let rows = read_page(&self.db, &self.range, cursor).await?;
                    if rows.is_empty() {
                        self.cursors.swap_remove(index);
                        continue;
                    }
                    cursor.rows.extend(rows);
                }
                index += 1;
            }
            let next = (0..self.cursors.len())
                .filter_map(|i| self.cursors[i].rows.front().map(|p| ((p.tst, p.id), i)))
                .min_by_key(|(order, _)| *order);
            match next.and_then(|(_, i)| self.cursors[i].rows.pop_front()) {
                Some(point) => page.push(point),
                None => break,
            }
        }
        Ok(page)
    }
}

/// Reads one device's next page and moves its cursor past it.
async fn read_page(
    db: &DatabaseConnection,
    range: &Range,
    cursor: &mut Cursor,
) -> Result<Vec<HistoryPoint>, StoreError> {
    let mut cond = range.filter(&[cursor.device_id]);
    if let Some(last) = cursor.after {
        cond = cond.add(after(last, false));
    }
    let select = page_select(cond);
    let rows = db.query_all(&select).await.map_err(StoreError::query("read history page"))?;
    let points = rows.iter().map(|row| point(row, &cursor.key)).collect::<Result<Vec<_>, _>>()?;
    if let Some(last) = points.last() {
        cursor.after = Some(order_of(last));
    }
    Ok(points)
}

fn page_select(cond: Cond) -> SelectStatement {
    Query::select()
        .columns(COLUMNS)
        .from("locations")
        .cond_where(cond)
        .order_by("tst", Order::Asc)
        .order_by("lat_e7", Order::Asc)
        .order_by("lon_e7", Order::Asc)
        .limit(PAGE_ROWS)
        .to_owned()
}

fn point(row: &QueryResult, key: &Arc<DeviceKey>) -> Result<HistoryPoint, StoreError> {
    Ok(HistoryPoint {
        key: Arc::clone(key),
        id: get(row, 0)?,
        tst: get(row, 1)?,
        lat: get(row, 2)?,
        lon: get(row, 3)?,
        received_at: get(row, 4)?,
        tid: get(row, 5)?,
        trigger: get(row, 6)?,
        acc: get(row, 7)?,
        alt: get(row, 8)?,
        vel: get(row, 9)?,
        cog: get(row, 10)?,
        batt: get(row, 11)?,
        conn: get(row, 12)?,
        payload: get(row, 13)?,
        addr: get(row, 14)?,
    })
}
