//! Streaming reads of history, for exports and long location answers: one device's fixes, or
//! all of a user's devices' merged, in a range of fix times, ordered by `tst`, then position
//! (never by arrival). Nothing buffers the whole result: each device is read in keyset pages over
//! the unique fix index `(device_id, tst, lat_e7, lon_e7)` (a fix's key is its place in the
//! order, so no second index on `locations` slows ingest), and a user's devices are merged page
//! by page (`merge`). A query names the columns it needs ([`HistoryColumns`]), and only those
//! are read. The pages of a SQLite file come through `lean` (rusqlite on a blocking thread,
//! a page read ahead); PostgreSQL, MariaDB and in-memory SQLite through `pool` (sea-orm, a
//! pooled connection held only while a page is read). What bounds the work is the heavy-read
//! semaphore, whose permit a stream holds until it is dropped.
//!
//! A history shows what was stored when it was opened: rows added later (higher ids) are left
//! out, so the optional count matches the rows unless a deletion runs meanwhile.

mod lean;
mod merge;
mod pool;

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use futures::stream::{self, BoxStream, StreamExt};
use pista_core::{DeviceKey, DeviceName, UserName};
use sea_orm::ConnectionTrait;
use sea_orm::DbBackend;
use sea_orm::sea_query::{
    Asterisk, CommonTableExpression, Cond, Expr, ExprTrait, Order, Query, QueryStatementBuilder,
    WithClause, WithQuery,
};

use crate::error::StoreError;
use crate::read::{get, name, parse};
use crate::sql::{OpenRead, SqlStore};

pub(crate) use lean::LeanReads;

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
    /// Which columns the points carry.
    pub columns: HistoryColumns,
}

impl HistoryQuery {
    /// All of one device's (or user's) history, uncounted, with every column.
    pub fn new(user: UserName, device: Option<DeviceName>) -> Self {
        let columns = HistoryColumns::All;
        Self { user, device, from: None, to: None, limit: None, count: false, columns }
    }
}

/// Which columns a history read fills in. Reading fewer is most of what makes a long read fast:
/// every column of every row is a value to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryColumns {
    /// Every field of [`HistoryPoint`].
    #[default]
    All,
    /// The stored message and its times only (what JSON and `.rec` write): `tst`,
    /// `received_at` and `payload`. The rest may be left empty: `tid` is `""`, `id`, `lat` and
    /// `lon` may be 0, the others are `None`. (Each column read costs about a tenth of a
    /// month's read from SQLite.)
    Message,
    /// [`HistoryColumns::Message`] and the address (the Recorder's JSON answers).
    MessageAndAddress,
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
    /// The normalised message as stored: one line of compact JSON. A page read from a SQLite
    /// file holds the text of all its points in one buffer, and this is a slice of it.
    pub payload: ByteString,
    /// The address found for the fix, once the geocoder has run.
    pub addr: Option<ByteString>,
}

impl HistoryPoint {
    /// A stored location as a history point with every column (`payload` its message as
    /// compact JSON), for writers that take points, such as `ocat --last`.
    pub fn of_location(key: Arc<DeviceKey>, location: &crate::StoredLocation) -> Self {
        let json = &location.json;
        let number = |name: &str| json.get(name).and_then(serde_json::Value::as_f64);
        let text = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        HistoryPoint {
            key,
            id: location.id,
            tst: location.tst,
            lat: location.lat,
            lon: location.lon,
            received_at: location.received_at,
            tid: text("tid").unwrap_or_default(),
            trigger: text("t"),
            acc: number("acc"),
            alt: number("alt"),
            vel: number("vel"),
            cog: number("cog"),
            batt: number("batt"),
            conn: text("conn"),
            payload: serde_json::Value::Object(json.clone()).to_string().into(),
            addr: location.addr.as_deref().map(ByteString::from),
        }
    }
}

impl HistoryPoint {
    /// A point of its message and times only: `tid` empty, `id`, `lat` and `lon` 0, the other
    /// typed fields and the address `None` (what [`HistoryColumns::Message`] reads; readers set
    /// the rest as they read it).
    pub fn of_message(
        key: Arc<DeviceKey>,
        tst: i64,
        received_at: i64,
        payload: ByteString,
    ) -> Self {
        HistoryPoint {
            key,
            id: 0,
            tst,
            lat: 0.0,
            lon: 0.0,
            received_at,
            payload,
            addr: None,
            tid: String::new(),
            trigger: None,
            acc: None,
            alt: None,
            vel: None,
            cog: None,
            batt: None,
            conn: None,
        }
    }

    /// The point's stored message and its times, as a [`MessageWriter`] takes them.
    pub fn message(&self) -> PointMessage<'_> {
        PointMessage {
            key: &self.key,
            tst: self.tst,
            received_at: self.received_at,
            payload: &self.payload,
            addr: self.addr.as_deref(),
        }
    }
}

/// Pages of points in fix order (`tst`, then position); an error ends the stream.
pub type HistoryPages = BoxStream<'static, Result<Vec<HistoryPoint>, StoreError>>;

/// A fix's stored message with its times and address, borrowed from where it was read: what
/// the formats that write the message (JSON, `.rec`) need of a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointMessage<'a> {
    pub key: &'a DeviceKey,
    pub tst: i64,
    pub received_at: i64,
    /// The normalised message: one line of compact JSON.
    pub payload: &'a str,
    /// The address, when the history's columns include it and the geocoder found one.
    pub addr: Option<&'a str>,
}

/// Writes a history of stored messages as bytes: the document's start, each message, its end.
/// See [`History::written`].
pub trait MessageWriter: Send + 'static {
    fn begin(&mut self, out: &mut Vec<u8>) -> std::io::Result<()>;
    fn message(&mut self, out: &mut Vec<u8>, message: &PointMessage<'_>) -> std::io::Result<()>;
    fn end(&mut self, out: &mut Vec<u8>) -> std::io::Result<()>;
}

/// The written document in chunks (its start, a chunk per page, its end); an error is the last
/// item, and the end is then never sent.
pub type WrittenHistory = BoxStream<'static, Result<Bytes, StoreError>>;

/// An opened history read.
pub struct History {
    /// How many points the pages hold, when the query asked for a count.
    pub count: Option<u64>,
    pub pages: HistoryPages,
    /// The same read straight into a writer, where the store can do that (see
    /// [`History::written`]).
    direct: Option<lean::Direct>,
}

impl History {
    /// A history of `pages` (stores that wrap another one, tests).
    pub fn new(count: Option<u64>, pages: HistoryPages) -> Self {
        Self { count, pages, direct: None }
    }

    /// The history's messages written by `writer`, in chunks.
    ///
    /// One device's history in a SQLite file is written on the thread that reads it, straight
    /// from SQLite's rows: no point is built, and only the bytes cross to the task that sends
    /// them. Handing pages of points across threads, each point with its shared key and text,
    /// was about a sixth of the server's work for a month's JSON. Other histories are written
    /// from their pages.
    pub fn written(self, writer: Box<dyn MessageWriter>) -> WrittenHistory {
        match self.direct {
            Some(direct) => lean::written(direct, writer),
            None => written_from_pages(self.pages, writer),
        }
    }
}

/// Where [`written_from_pages`] is in the document.
enum Phase {
    Begin,
    Pages,
    Done,
}

/// [`History::written`] from pages of points.
fn written_from_pages(pages: HistoryPages, writer: Box<dyn MessageWriter>) -> WrittenHistory {
    let write = |writer: &mut Box<dyn MessageWriter>, page: Option<&[HistoryPoint]>| {
        let mut out = Vec::new();
        let written = match page {
            None => writer.begin(&mut out),
            Some(points) => points.iter().try_for_each(|p| writer.message(&mut out, &p.message())),
        };
        written.map(|()| Bytes::from(out)).map_err(|source| StoreError::Write { source })
    };
    stream::unfold(
        (writer, pages, Phase::Begin),
        move |(mut writer, mut pages, phase)| async move {
            let (chunk, next) = match phase {
                Phase::Begin => (write(&mut writer, None), Phase::Pages),
                Phase::Pages => match pages.next().await {
                    Some(Ok(page)) => (write(&mut writer, Some(&page)), Phase::Pages),
                    Some(Err(error)) => (Err(error), Phase::Done),
                    None => {
                        let mut out = Vec::new();
                        let end = writer.end(&mut out).map(|()| Bytes::from(out));
                        (end.map_err(|source| StoreError::Write { source }), Phase::Done)
                    }
                },
                Phase::Done => return None,
            };
            let next = if chunk.is_err() { Phase::Done } else { next };
            Some((chunk, (writer, pages, next)))
        },
    )
    .boxed()
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").field("count", &self.count).finish_non_exhaustive()
    }
}

/// The columns read, in this order, by both readers: the fix's place and its message, the
/// address, then the typed columns. [`HistoryColumns::Message`] reads the first
/// [`MESSAGE_COLUMNS`], [`HistoryColumns::MessageAndAddress`] one more. A page's last row gives
/// the fix order its next page starts after (`tst`, `lat_e7`, `lon_e7`).
const COLUMNS: [&str; 17] = [
    "id",
    "tst",
    "lat_e7",
    "lon_e7",
    "received_at",
    "payload",
    "addr",
    "tid",
    "trig",
    "acc",
    "alt",
    "vel",
    "cog",
    "batt",
    "conn",
    "lat",
    "lon",
];

const MESSAGE_COLUMNS: usize = 6;

impl HistoryColumns {
    /// The names of the columns read.
    pub(crate) fn names(self) -> &'static [&'static str] {
        match self {
            HistoryColumns::All => &COLUMNS,
            HistoryColumns::Message => &COLUMNS[..MESSAGE_COLUMNS],
            HistoryColumns::MessageAndAddress => &COLUMNS[..=MESSAGE_COLUMNS],
        }
    }
}

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
    /// The rows of `devices` in the range, from `start` on, stored when the history opened.
    fn filter(&self, devices: &[i64]) -> Cond {
        self.window(devices).add(Expr::col("id").lte(self.until_id))
    }

    /// The rows of `devices` in the range, from `start` on, whenever they were stored.
    fn window(&self, devices: &[i64]) -> Cond {
        let mut cond = Cond::all().add(Expr::col("device_id").is_in(devices.iter().copied()));
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

    /// Counts [`Range::filter`]'s rows as the window's rows less those of them stored after
    /// `until_id`; the latter are read by id (a materialized table expression keeps the planner
    /// from reading them through the fix index).
    fn count_by_window(&self) -> WithQuery {
        let count = || Expr::col(Asterisk).count();
        let window = Query::select()
            .expr(count())
            .from("locations")
            .cond_where(self.window(&self.devices))
            .to_owned();
        let stored_later = Query::select()
            .columns(["device_id", "tst", "lat_e7", "lon_e7"])
            .from("locations")
            .and_where(Expr::col("id").gt(self.until_id))
            .to_owned();
        let later_in_window = Query::select()
            .expr(count())
            .from("stored_later")
            .cond_where(self.window(&self.devices))
            .to_owned();
        let stored_later = CommonTableExpression::new()
            .query(stored_later)
            .table_name("stored_later")
            .materialized(true)
            .to_owned();
        let difference = Expr::SubQuery(None, Box::new(window.into_sub_query_statement()))
            .sub(Expr::SubQuery(None, Box::new(later_in_window.into_sub_query_statement())));
        Query::select()
            .expr(difference)
            .to_owned()
            .with(WithClause::new().cte(stored_later).to_owned())
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

/// The fix order of a row of [`COLUMNS`].
fn order_of<R: Columns>(row: &R) -> Result<FixOrder, R::Error> {
    Ok((row.int(1)?, row.int(2)?, row.int(3)?))
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
            return Ok(History::new(count, stream::empty().boxed()));
        }
        if let Some(limit) = query.limit {
            // Databases count rows in signed 64 bits: more than that is all of them.
            let limit = Ord::min(limit, i64::MAX.unsigned_abs());
            range.start = self.limit_start(&range, limit).await?;
        }

        let count = if query.count { Some(self.count_range(&range).await?) } else { None };
        let mut direct = None;
        let pages = match &self.lean {
            Some(lean) => {
                let permit = Arc::new(OpenRead::new(permit, &self.snapshots, range.until_id));
                if let [(_, key)] = devices.as_slice() {
                    let columns = query.columns;
                    let (lean, range, permit) = (Arc::clone(lean), range.clone(), permit.clone());
                    direct = Some(lean::Direct::new(lean, range, Arc::clone(key), columns, permit));
                }
                let merge = merge::Merge::new(devices);
                lean::pages(Arc::clone(lean), range, merge, query.columns, permit)
            }
            None => {
                let merge = merge::Merge::new(devices);
                pool::pages(self.db.clone(), range, merge, query.columns, permit)
            }
        };
        let lean = self.lean.is_some();
        tracing::debug!(
            user = %query.user, device = ?query.device, ?count, columns = ?query.columns, lean,
            "history opened"
        );
        Ok(History { count, pages, direct })
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

    /// The rows [`Range::filter`] selects. On SQLite and PostgreSQL the fix index alone counts
    /// the window, and the rows stored after the snapshot are taken away, found by their ids (in
    /// one statement, so both parts see the same rows): testing every row's id against the
    /// snapshot made the count read each row's id, which on SQLite took twice as long. MariaDB's
    /// fix index holds the id, so the plain count is as fast there.
    async fn count_range(&self, range: &Range) -> Result<u64, StoreError> {
        let row = if self.db.get_database_backend() == DbBackend::MySql {
            let select = Query::select()
                .expr(Expr::col("id").count())
                .from("locations")
                .cond_where(range.filter(&range.devices))
                .to_owned();
            self.db.query_one(&select).await
        } else {
            self.db.query_one(&range.count_by_window()).await
        }
        .map_err(StoreError::query("count history"))?;
        let count = row.map(|row| get::<i64>(&row, 0)).transpose()?.unwrap_or(0);
        Ok(count.unsigned_abs())
    }
}

/// A row of either driver, read by column index in the order of [`COLUMNS`].
trait Columns {
    type Error;
    fn int(&self, index: usize) -> Result<i64, Self::Error>;
    fn real(&self, index: usize) -> Result<f64, Self::Error>;
    fn text(&self, index: usize) -> Result<String, Self::Error>;
    fn real_or_null(&self, index: usize) -> Result<Option<f64>, Self::Error>;
    fn text_or_null(&self, index: usize) -> Result<Option<String>, Self::Error>;
}

/// The point of a row that holds `columns`.
fn point<R: Columns>(
    row: &R,
    key: &Arc<DeviceKey>,
    columns: HistoryColumns,
) -> Result<HistoryPoint, R::Error> {
    let payload = row.text(5)?.into();
    let mut point = HistoryPoint::of_message(Arc::clone(key), row.int(1)?, row.int(4)?, payload);
    point.id = row.int(0)?;
    if columns != HistoryColumns::Message {
        point.addr = row.text_or_null(6)?.map(ByteString::from);
    }
    if columns == HistoryColumns::All {
        typed_columns(row, &mut point)?;
        (point.lat, point.lon) = (row.real(15)?, row.real(16)?);
    }
    Ok(point)
}

/// Sets the typed columns of `point` from `row`, where both readers have them: `tid`, `trig`,
/// `acc`, `alt`, `vel`, `cog`, `batt` and `conn` at 7 to 14.
fn typed_columns<R: Columns>(row: &R, point: &mut HistoryPoint) -> Result<(), R::Error> {
    point.tid = row.text(7)?;
    point.trigger = row.text_or_null(8)?;
    point.acc = row.real_or_null(9)?;
    point.alt = row.real_or_null(10)?;
    point.vel = row.real_or_null(11)?;
    point.cog = row.real_or_null(12)?;
    point.batt = row.real_or_null(13)?;
    point.conn = row.text_or_null(14)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use sea_orm::Database;

    use super::*;

    /// Five fixes of one device (ids and times in the same order), counted as a history opened
    /// after the third was stored would count them.
    async fn counts_leave_out_what_came_after_the_snapshot(store: &SqlStore) {
        let key = DeviceKey::parse("cora", "phone").unwrap();
        let insert = "INSERT INTO devices (user_name, device_name, first_seen, last_seen) \
                      VALUES ('cora', 'phone', 0, 0)";
        store.db.execute_unprepared(insert).await.unwrap();
        for tst in [100, 200, 300, 400, 500] {
            let insert = format!(
                "INSERT INTO locations (device_id, tst, lat_e7, lon_e7, lat, lon, tid, topic, \
                 source, retained, received_at, payload) SELECT id, {tst}, 481000000, \
                 115000000, 48.1, 11.5, 'ne', 'owntracks/cora/phone', 'http', 0, {tst}, '{{}}' \
                 FROM devices"
            );
            store.db.execute_unprepared(&insert).await.unwrap();
        }
        let ids =
            Query::select().column("id").from("locations").order_by("id", Order::Asc).to_owned();
        let ids = store.db.query_all(&ids).await.unwrap();
        let ids: Vec<i64> = ids.iter().map(|row| get(row, 0).unwrap()).collect();
        let device = store
            .history_devices(&HistoryQuery::new(key.user.clone(), Some(key.device.clone())))
            .await
            .unwrap();
        let range = |from, start| Range {
            devices: vec![device[0].0],
            from,
            to: None,
            until_id: ids[2],
            start,
        };
        let count = async |range: Range| store.count_range(&range).await.unwrap();
        assert_eq!(count(range(None, None)).await, 3);
        assert_eq!(count(range(Some(200), None)).await, 2);
        let third = (300, 481_000_000, 115_000_000);
        assert_eq!(count(range(None, Some(third))).await, 1);
        assert_eq!(count(Range { until_id: ids[4], ..range(None, None) }).await, 5);
    }

    #[tokio::test]
    async fn counts_leave_out_what_came_after_the_snapshot_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqlStore::open(&format!("sqlite://{}/pista.db", dir.path().display())).await.unwrap();
        counts_leave_out_what_came_after_the_snapshot(&store).await;
    }

    #[tokio::test]
    async fn counts_leave_out_what_came_after_the_snapshot_on_postgres() {
        let admin_url = std::env::var("PISTA_TEST_PG_URL")
            .ok()
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("pista_count_{}", std::process::id());
        let admin = Database::connect(admin_url.as_str()).await.unwrap();
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        let store = SqlStore::open(&format!("{base}/{name}")).await.unwrap();
        counts_leave_out_what_came_after_the_snapshot(&store).await;
        store.close().await;
        admin.execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)")).await.unwrap();
    }
}
