//! History pages of a SQLite file through rusqlite: the page query is a prepared statement kept
//! by each connection, only the columns asked for are read, and values are copied straight into
//! the points (sqlx copies every column into an allocation of its own on its worker thread). A
//! stream's pages are read on a blocking thread of their own, one page ahead of the consumer,
//! so reading and encoding overlap and memory stays at a few pages whatever the length.
//!
//! The connections are read-only and share the file with the store's pool, whose writer keeps
//! the database in WAL mode: a reader never blocks ingest, and each page is its own read, so no
//! snapshot is held between pages (the history's snapshot is its `until_id`). Idle connections
//! are kept for the next stream, up to [`HEAVY_READS`](crate::HEAVY_READS): the heavy-read
//! semaphore bounds how many are in use, and a kept connection keeps its statements prepared.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytestring::ByteString;
use futures::stream::{self, StreamExt};
use pista_core::DeviceKey;
use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, Row};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::merge::{Cursor, Merge, Step};
use super::{FixOrder, HistoryColumns, HistoryPages, HistoryPoint, PAGE_ROWS, Range};
use crate::error::StoreError;

/// How long a read waits for a lock (WAL recovery, a checkpoint's reset), as the pool does.
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// Statements each connection keeps prepared: per column set, the page query and the rest of a
/// second after and at a fix.
const STATEMENTS: usize = 12;

/// Read-only connections to one SQLite file, shared by the store's history reads.
pub(crate) struct LeanReads {
    path: PathBuf,
    /// Connections no stream uses now.
    idle: Mutex<Vec<Connection>>,
    /// Set by [`LeanReads::close`]: reads fail from then on, like the pool's.
    closed: AtomicBool,
}

impl LeanReads {
    pub(crate) fn new(path: &Path) -> Self {
        Self { path: path.to_owned(), idle: Mutex::default(), closed: AtomicBool::new(false) }
    }

    /// Fails every read from now on and closes the idle connections.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn path(&self) -> String {
        self.path.display().to_string()
    }

    /// An idle connection, or a new one.
    fn take(&self) -> Result<Connection, StoreError> {
        self.check_open()?;
        if let Some(connection) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(connection);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&self.path, flags)
            .and_then(|connection| {
                connection.busy_timeout(BUSY_WAIT)?;
                connection.set_prepared_statement_cache_capacity(STATEMENTS);
                Ok(connection)
            })
            .map_err(|source| StoreError::Sqlite {
                operation: "open history reader",
                path: self.path(),
                source,
            })?;
        tracing::debug!(path = %self.path.display(), "history reader opened");
        Ok(connection)
    }

    /// Keeps `connection` for the next stream, unless enough are kept or the store closed.
    fn give_back(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if !self.closed.load(Ordering::SeqCst) && idle.len() < crate::HEAVY_READS {
            idle.push(connection);
        }
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed { path: self.path() });
        }
        Ok(())
    }
}

/// The pages of `merge`'s devices in `range`, read ahead on a blocking thread; `permit` is held
/// until the stream is dropped. Dropping the stream stops the thread at its next page.
pub(super) fn pages(
    reads: Arc<LeanReads>,
    range: Range,
    merge: Merge,
    columns: HistoryColumns,
    permit: OwnedSemaphorePermit,
) -> HistoryPages {
    // One page waits in the channel while the thread reads the next: two pages ahead at most.
    let (pages, received) = mpsc::channel(1);
    tokio::task::spawn_blocking(move || {
        let ids = merge.merges();
        let reader = Reader { reads: &reads, range, merge, columns, ids };
        reader.run(&pages);
    });
    stream::unfold((received, permit), |(mut received, permit)| async move {
        let page = received.recv().await?;
        Some((page, (received, permit)))
    })
    .boxed()
}

/// The state of a stream's reading thread.
struct Reader<'a> {
    reads: &'a LeanReads,
    range: Range,
    merge: Merge,
    columns: HistoryColumns,
    /// Whether points need their ids (to merge several devices by them).
    ids: bool,
}

type Page = Result<Vec<HistoryPoint>, StoreError>;

impl Reader<'_> {
    /// Sends pages until the end, an error (sent as the last item) or a dropped receiver.
    fn run(mut self, pages: &mpsc::Sender<Page>) {
        let connection = match self.reads.take() {
            Ok(connection) => connection,
            Err(error) => {
                let _ = pages.blocking_send(Err(error));
                return;
            }
        };
        loop {
            match self.next_page(&connection) {
                Ok(page) if page.is_empty() => break,
                Ok(page) => {
                    if pages.blocking_send(Ok(page)).is_err() {
                        break;
                    }
                }
                Err(error) => {
                    let _ = pages.blocking_send(Err(error));
                    break;
                }
            }
        }
        self.reads.give_back(connection);
    }

    /// The next page in fix order; empty at the end.
    fn next_page(&mut self, connection: &Connection) -> Page {
        loop {
            match self.merge.step() {
                Step::Read(index) => {
                    self.reads.check_open()?;
                    let cursor = self.merge.cursor(index);
                    let page = PageBuilder::new(&cursor.key, self.columns, self.ids);
                    let (rows, after) =
                        read_page(connection, &self.range, cursor, page).map_err(|source| {
                            StoreError::Sqlite {
                                operation: "read history page",
                                path: self.reads.path(),
                                source,
                            }
                        })?;
                    self.merge.fill(index, rows, after);
                }
                Step::Page(page) => return Ok(page),
            }
        }
    }
}

/// Reads one device's next page into `page`: the rows of `range` after the cursor's last one
/// (or from the range's start), in the order of the unique fix index; with the place of its
/// last row when the page is full (and so may have a next one).
///
/// A page resumes in two reads, so that neither tests a keyset on every row: the rest of the
/// fixes sharing the last one's `tst` (a later place; almost always none), then the range from
/// the next second on, whose start SQLite seeks to like any range start. A keyset condition
/// (`tst > ? OR (tst = ? AND ...)`, or a row value) is tested on each row of the index range
/// instead.
fn read_page(
    connection: &Connection,
    range: &Range,
    cursor: &Cursor,
    mut page: PageBuilder<'_>,
) -> rusqlite::Result<(Vec<HistoryPoint>, Option<FixOrder>)> {
    let from = match (cursor.after, range.start) {
        (Some(after), _) => next_second(connection, range, cursor, after, ">", &mut page)?,
        (None, Some(start)) => next_second(connection, range, cursor, start, ">=", &mut page)?,
        (None, None) => Some(range.from.unwrap_or(i64::MIN)),
    };
    let wanted = PAGE_ROWS - page.len() as u64;
    let Some(from) = from.filter(|from| wanted > 0 && range.to.is_none_or(|to| *from <= to)) else {
        return Ok(page.finish());
    };
    let sql = format!(
        "SELECT {} FROM locations \
         WHERE device_id = ?1 AND id <= ?2 AND tst >= ?3 AND tst <= ?4 \
         ORDER BY tst, lat_e7, lon_e7 LIMIT ?5",
        page.select()
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let to = range.to.unwrap_or(i64::MAX);
    let wanted = i64::try_from(wanted).unwrap_or(i64::MAX);
    page.read(statement.query([cursor.device_id, range.until_id, from, to, wanted])?)?;
    Ok(page.finish())
}

/// Reads the fixes at `place`'s second that come after it in the fix order (`op` `>`; `>=`:
/// from it on) into `page`, and answers where the rest of the range starts: the next second,
/// or `None` after the last second there is.
fn next_second(
    connection: &Connection,
    range: &Range,
    cursor: &Cursor,
    (tst, lat, lon): FixOrder,
    op: &str,
    page: &mut PageBuilder<'_>,
) -> rusqlite::Result<Option<i64>> {
    let sql = format!(
        "SELECT {} FROM locations \
         WHERE device_id = ?1 AND id <= ?2 AND tst = ?3 AND lat_e7 >= ?4 \
         AND (lat_e7 > ?4 OR lon_e7 {op} ?5) \
         ORDER BY tst, lat_e7, lon_e7 LIMIT {PAGE_ROWS}",
        page.select()
    );
    let mut statement = connection.prepare_cached(&sql)?;
    page.read(statement.query([cursor.device_id, range.until_id, tst, lat, lon])?)?;
    Ok(tst.checked_add(1))
}

/// The columns a page query selects, by index: the fix order and the message's, then the
/// address, then the typed columns.
const SELECT: [&str; 17] = [
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

/// A page as it is read: its points, and their messages and addresses in one buffer that
/// becomes theirs when the page is done.
///
/// What makes a month's read fast is reading no more than needed: each column taken from a row
/// costs about a tenth of the read, and so does an allocation per point. So a page allocates
/// its text once, takes only the columns its [`HistoryColumns`] needs (a point's id only when
/// several devices are merged by it), and takes the fix order (`lat_e7`, `lon_e7`) from its
/// last row only.
struct PageBuilder<'a> {
    key: &'a Arc<DeviceKey>,
    columns: HistoryColumns,
    ids: bool,
    points: Vec<(HistoryPoint, TextRange, Option<TextRange>)>,
    text: String,
    /// The place of the page's last row, once the page is full.
    after: Option<FixOrder>,
}

type TextRange = std::ops::Range<usize>;

impl<'a> PageBuilder<'a> {
    fn new(key: &'a Arc<DeviceKey>, columns: HistoryColumns, ids: bool) -> Self {
        // About a message and a half per point; the buffer grows if that is short.
        let text = String::with_capacity(PAGE_ROWS as usize * 192);
        let points = Vec::with_capacity(PAGE_ROWS as usize);
        Self { key, columns, ids, points, text, after: None }
    }

    fn len(&self) -> usize {
        self.points.len()
    }

    /// The select list of the page's queries.
    fn select(&self) -> String {
        let count = match self.columns {
            HistoryColumns::Message => 6,
            HistoryColumns::MessageAndAddress => 7,
            HistoryColumns::All => SELECT.len(),
        };
        SELECT[..count].join(", ")
    }

    /// Adds the rows of a page query, whose columns are [`SELECT`]'s.
    fn read(&mut self, mut rows: rusqlite::Rows<'_>) -> rusqlite::Result<()> {
        while let Some(row) = rows.next()? {
            let payload = self.append(text(row, 5)?.unwrap_or_default());
            let addr = match self.columns {
                HistoryColumns::Message => None,
                _ => text(row, 6)?.map(|addr| self.append(addr)),
            };
            let mut point = HistoryPoint {
                key: Arc::clone(self.key),
                id: if self.ids || self.columns == HistoryColumns::All { row.get(0)? } else { 0 },
                tst: row.get(1)?,
                lat: 0.0,
                lon: 0.0,
                received_at: row.get(4)?,
                payload: ByteString::new(),
                addr: None,
                tid: String::new(),
                trigger: None,
                acc: None,
                alt: None,
                vel: None,
                cog: None,
                batt: None,
                conn: None,
            };
            if self.columns == HistoryColumns::All {
                point.tid = row.get(7)?;
                point.trigger = row.get(8)?;
                point.acc = row.get(9)?;
                point.alt = row.get(10)?;
                point.vel = row.get(11)?;
                point.cog = row.get(12)?;
                point.batt = row.get(13)?;
                point.conn = row.get(14)?;
                point.lat = row.get(15)?;
                point.lon = row.get(16)?;
            }
            if self.points.len() + 1 == PAGE_ROWS as usize {
                self.after = Some((point.tst, row.get(2)?, row.get(3)?));
            }
            self.points.push((point, payload, addr));
        }
        Ok(())
    }

    fn append(&mut self, value: &str) -> TextRange {
        let start = self.text.len();
        self.text.push_str(value);
        start..self.text.len()
    }

    /// The points, each with its slices of the page's text, and the place of the last one
    /// when the page is full.
    fn finish(self) -> (Vec<HistoryPoint>, Option<FixOrder>) {
        let text = ByteString::from(self.text);
        let slice = |range: TextRange| text.slice_ref(&text[range]);
        let points = self
            .points
            .into_iter()
            .map(|(mut point, payload, addr)| {
                point.payload = slice(payload);
                point.addr = addr.map(slice);
                point
            })
            .collect();
        (points, self.after)
    }
}

/// The text (or NULL) of column `index`, borrowed from the row.
fn text<'r>(row: &'r Row<'_>, index: usize) -> rusqlite::Result<Option<&'r str>> {
    row.get_ref(index)?.as_str_or_null().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(error))
    })
}
