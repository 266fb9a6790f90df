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

use futures::stream::{self, StreamExt};
use rusqlite::{Connection, OpenFlags, Row};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::merge::{Cursor, Merge, Step};
use super::{Columns, HistoryColumns, HistoryPages, HistoryPoint, PAGE_ROWS, Range};
use crate::error::StoreError;

/// How long a read waits for a lock (WAL recovery, a checkpoint's reset), as the pool does.
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// Statements each connection keeps prepared: a page query per column set and start kind.
const STATEMENTS: usize = 8;

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
        let reader = Reader { reads: &reads, range, merge, columns };
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
                    let rows = read_page(connection, &self.range, cursor, self.columns).map_err(
                        |source| StoreError::Sqlite {
                            operation: "read history page",
                            path: self.reads.path(),
                            source,
                        },
                    )?;
                    self.merge.fill(index, rows);
                }
                Step::Page(page) => return Ok(page),
            }
        }
    }
}

/// Reads one device's next page: the rows of `range` after the cursor's last one (or from the
/// range's start), in the order of the unique fix index.
fn read_page(
    connection: &Connection,
    range: &Range,
    cursor: &Cursor,
    columns: HistoryColumns,
) -> rusqlite::Result<Vec<HistoryPoint>> {
    let start = match (cursor.after, range.start) {
        (Some(after), _) => Some((after, ">")),
        (None, Some(start)) => Some((start, ">=")),
        (None, None) => None,
    };
    let statement = page_sql(columns, start.map(|(_, op)| op));
    let mut statement = connection.prepare_cached(&statement)?;
    let mut values = vec![
        cursor.device_id,
        range.until_id,
        range.from.unwrap_or(i64::MIN),
        range.to.unwrap_or(i64::MAX),
    ];
    if let Some(((tst, lat, lon), _)) = start {
        values.extend([tst, lat, lon]);
    }

    let mut rows = statement.query(rusqlite::params_from_iter(values))?;
    let mut points = Vec::with_capacity(PAGE_ROWS as usize);
    while let Some(row) = rows.next()? {
        points.push(super::point(row, &cursor.key, columns)?);
    }
    Ok(points)
}

/// The page query; `start` is the comparison of the last column of the fix order with the
/// start's (`>` after a fix, `>=` at it), or `None` from the range's beginning.
fn page_sql(columns: HistoryColumns, start: Option<&str>) -> String {
    let keyset = match start {
        // As in `super::after`: the plain `tst >= ?5` starts the index range.
        Some(op) => format!(
            " AND tst >= ?5 AND (tst > ?5 OR (tst = ?5 AND \
             (lat_e7 > ?6 OR (lat_e7 = ?6 AND lon_e7 {op} ?7))))"
        ),
        None => String::new(),
    };
    format!(
        "SELECT {} FROM locations \
         WHERE device_id = ?1 AND id <= ?2 AND tst >= ?3 AND tst <= ?4{keyset} \
         ORDER BY tst, lat_e7, lon_e7 LIMIT {PAGE_ROWS}",
        columns.names().join(", ")
    )
}

impl Columns for Row<'_> {
    type Error = rusqlite::Error;

    fn int(&self, index: usize) -> rusqlite::Result<i64> {
        self.get(index)
    }

    fn real(&self, index: usize) -> rusqlite::Result<f64> {
        self.get(index)
    }

    fn text(&self, index: usize) -> rusqlite::Result<String> {
        self.get(index)
    }

    fn real_or_null(&self, index: usize) -> rusqlite::Result<Option<f64>> {
        self.get(index)
    }

    fn text_or_null(&self, index: usize) -> rusqlite::Result<Option<String>> {
        self.get(index)
    }
}
