//! History pages of a SQLite file through rusqlite: the page query is a prepared statement kept
//! by each connection, only the columns asked for are read, and values are copied straight into
//! the points (sqlx copies every column into an allocation of its own on its worker thread). A
//! stream's pages are read on a blocking thread of their own, one page ahead of the consumer,
//! so reading and encoding overlap and memory stays at a few pages whatever the length.
//!
//! The connections are read-only and share the file with the store's pool, whose writer keeps
//! the database in WAL mode: a reader never blocks ingest, and each page is its own read, so no
//! snapshot is held between pages (the history's snapshot is its `until_id`). Each maps the
//! file ([`MAP_BYTES`]) instead of copying its pages out. Idle connections
//! are kept for the next stream, up to [`HEAVY_READS`](crate::HEAVY_READS): the heavy-read
//! semaphore bounds how many are in use, and a kept connection keeps its statements prepared.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use futures::stream::{self, StreamExt};
use pista_core::DeviceKey;
use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, Row};
use tokio::sync::mpsc;

use super::merge::{Merge, Step};
use super::{
    FixOrder, HistoryColumns, HistoryPages, HistoryPoint, MessageWriter, PAGE_ROWS, PointMessage,
    Range, WrittenHistory,
};
use crate::error::StoreError;
use crate::sql::OpenRead;

/// How long a read waits for a lock (WAL recovery, a checkpoint's reset), as the pool does.
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// How much of the file a reader maps (SQLite caps it at its own limit) instead of copying each
/// page out of the OS's cache with `pread`, which took a seventh of a burst of month reads. The
/// readers are kept, so the mapping stays between streams. SQLite's documented price: an I/O
/// error while reading the mapped file ends the process (a signal) instead of failing the read.
const MAP_BYTES: i64 = 1 << 40;

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
                connection.pragma_update(None, "mmap_size", MAP_BYTES)?;
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

/// The pages of `merge`'s devices in `range`, read ahead on a blocking thread that starts when
/// the first page is asked for; `permit` is held until the stream is dropped. Dropping the
/// stream stops the thread at its next page.
pub(super) fn pages(
    reads: Arc<LeanReads>,
    range: Range,
    merge: Merge,
    columns: HistoryColumns,
    permit: Arc<OpenRead>,
) -> HistoryPages {
    let start = move || {
        // One page waits in the channel while the thread reads the next: two pages ahead at
        // most.
        let (pages, received) = mpsc::channel(1);
        tokio::task::spawn_blocking(move || {
            let ids = merge.merges();
            let reader = Reader { reads: &reads, range, merge, columns, ids };
            reader.run(&pages);
        });
        received
    };
    stream::unfold((Some(start), None, permit), |(mut start, mut received, permit)| async move {
        if let Some(start) = start.take() {
            received = Some(start());
        }
        let page = received.as_mut()?.recv().await?;
        Some((page, (start, received, permit)))
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
                    let mut page = PageBuilder::new(&cursor.key, self.columns, self.ids);
                    let (device, after) = (cursor.device_id, cursor.after);
                    let after = read_page(connection, &self.range, device, after, &mut page)
                        .map_err(|error| error.into_store(self.reads))?;
                    self.merge.fill(index, page.finish(), after);
                }
                Step::Page(page) => return Ok(page),
            }
        }
    }
}

/// One device's history read straight into a [`MessageWriter`] on a thread of its own; see
/// [`super::History::written`].
pub(super) struct Direct {
    reads: Arc<LeanReads>,
    range: Range,
    key: Arc<DeviceKey>,
    columns: HistoryColumns,
    permit: Arc<OpenRead>,
}

impl Direct {
    pub(super) fn new(
        reads: Arc<LeanReads>,
        range: Range,
        key: Arc<DeviceKey>,
        columns: HistoryColumns,
        permit: Arc<OpenRead>,
    ) -> Self {
        Self { reads, range, key, columns, permit }
    }

    /// Writes the document, sending a chunk per page (the start goes with the first, the end
    /// with the last), until the end, an error (sent as the last item) or a dropped receiver.
    fn run(self, writer: Box<dyn MessageWriter>, chunks: &mpsc::Sender<Chunk>) {
        let connection = match self.reads.take() {
            Ok(connection) => connection,
            Err(error) => {
                let _ = chunks.blocking_send(Err(error));
                return;
            }
        };
        let mut sink = WriterSink {
            writer,
            key: &self.key,
            columns: self.columns,
            out: BUFFERS.take(0),
            rows: 0,
        };
        if let Err(error) = self.write(&connection, &mut sink, chunks) {
            let _ = chunks.blocking_send(Err(error));
        }
        self.reads.give_back(connection);
    }

    fn write(
        &self,
        connection: &Connection,
        sink: &mut WriterSink<'_>,
        chunks: &mpsc::Sender<Chunk>,
    ) -> Result<(), StoreError> {
        let device = self.range.devices.first().copied().unwrap_or_default();
        let written = |source| StoreError::Write { source };
        sink.writer.begin(&mut sink.out).map_err(written)?;
        let mut after = None;
        loop {
            self.reads.check_open()?;
            sink.rows = 0;
            after = read_page(connection, &self.range, device, after, sink)
                .map_err(|error| error.into_store(&self.reads))?;
            if after.is_none() {
                break;
            }
            let size = sink.out.len();
            let chunk = BUFFERS.chunk(std::mem::replace(&mut sink.out, BUFFERS.take(size)));
            if chunks.blocking_send(Ok(chunk)).is_err() {
                return Ok(());
            }
        }
        sink.writer.end(&mut sink.out).map_err(written)?;
        let _ = chunks.blocking_send(Ok(BUFFERS.chunk(std::mem::take(&mut sink.out))));
        Ok(())
    }
}

type Chunk = Result<Bytes, StoreError>;

/// The chunks `writer` makes of `direct`'s history, written on a blocking thread a page ahead
/// of the consumer; the heavy-read permit is held until the stream is dropped, and dropping it
/// stops the thread at its next page.
pub(super) fn written(direct: Direct, writer: Box<dyn MessageWriter>) -> WrittenHistory {
    let (chunks, received) = mpsc::channel(1);
    let permit = Arc::clone(&direct.permit);
    tokio::task::spawn_blocking(move || direct.run(writer, &chunks));
    stream::unfold((received, permit), |(mut received, permit)| async move {
        let chunk = received.recv().await?;
        Some((chunk, (received, permit)))
    })
    .boxed()
}

/// The buffers of sent chunks, kept for the next pages: a chunk's buffer comes back when the
/// server has written it out. A page's text is about half a megabyte; each new buffer of that
/// size is memory the allocator takes fresh from the kernel, which zeroes it page by page as it
/// is first written (a twentieth of the server's CPU in a burst of month reads).
static BUFFERS: Buffers = Buffers::new();

/// How many buffers [`BUFFERS`] keeps: three per heavy read (one being written, one waiting in
/// the channel, one being sent).
const KEPT_BUFFERS: usize = 3 * crate::HEAVY_READS;

/// The largest buffer kept (a page of very long messages is not held on to).
const KEPT_BUFFER_BYTES: usize = 4 << 20;

/// Empty buffers for chunks, up to [`KEPT_BUFFERS`] of them.
struct Buffers {
    kept: Mutex<Vec<Vec<u8>>>,
}

impl Buffers {
    const fn new() -> Self {
        Self { kept: Mutex::new(Vec::new()) }
    }

    /// An empty buffer for about `size` bytes: a kept one, or a new one with room to spare.
    fn take(&self, size: usize) -> Vec<u8> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut buffer = kept.unwrap_or_default();
        buffer.reserve(size + size / 16);
        buffer
    }

    /// `bytes` as a chunk whose buffer comes back here when the chunk is dropped.
    fn chunk(&'static self, bytes: Vec<u8>) -> Bytes {
        Bytes::from_owner(Buffer { bytes, home: self })
    }
}

/// A chunk's buffer, given back to its [`Buffers`] when the chunk is dropped.
struct Buffer {
    bytes: Vec<u8>,
    home: &'static Buffers,
}

impl AsRef<[u8]> for Buffer {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let mut buffer = std::mem::take(&mut self.bytes);
        if buffer.capacity() > KEPT_BUFFER_BYTES {
            return;
        }
        buffer.clear();
        let mut kept = self.home.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < KEPT_BUFFERS {
            kept.push(buffer);
        }
    }
}

/// Why reading a page into a sink failed.
enum PageError {
    Sqlite(rusqlite::Error),
    /// The sink's writer failed.
    Write(std::io::Error),
}

impl From<rusqlite::Error> for PageError {
    fn from(error: rusqlite::Error) -> Self {
        PageError::Sqlite(error)
    }
}

impl PageError {
    fn into_store(self, reads: &LeanReads) -> StoreError {
        match self {
            PageError::Sqlite(source) => {
                StoreError::Sqlite { operation: "read history page", path: reads.path(), source }
            }
            PageError::Write(source) => StoreError::Write { source },
        }
    }
}

/// What a page's rows go into: points ([`PageBuilder`]) or a writer's bytes ([`WriterSink`]).
trait RowSink {
    /// The columns the page's queries select.
    fn columns(&self) -> HistoryColumns;
    /// Takes one row of those columns.
    fn take(&mut self, row: &Row<'_>) -> Result<(), PageError>;
    /// The rows taken for the page so far.
    fn len(&self) -> usize;
}

/// Reads the device's next page into `sink`: the rows of `range` after `after` (or from the
/// range's start), in the order of the unique fix index. Answers the place of the page's last
/// row when the page is full (and so may have a next one).
///
/// A page resumes in two reads, so that neither tests a keyset on every row: the rest of the
/// fixes sharing the last one's `tst` (a later place; almost always none), then the range from
/// the next second on, whose start SQLite seeks to like any range start. A keyset condition
/// (`tst > ? OR (tst = ? AND ...)`, or a row value) is tested on each row of the index range
/// instead.
fn read_page(
    connection: &Connection,
    range: &Range,
    device: i64,
    after: Option<FixOrder>,
    sink: &mut impl RowSink,
) -> Result<Option<FixOrder>, PageError> {
    let mut last = None;
    let from = match (after, range.start) {
        (Some(after), _) => next_second(connection, range, device, after, ">", sink, &mut last)?,
        (None, Some(start)) => {
            next_second(connection, range, device, start, ">=", sink, &mut last)?
        }
        (None, None) => Some(range.from.unwrap_or(i64::MIN)),
    };
    let wanted = PAGE_ROWS - sink.len() as u64;
    let Some(from) = from.filter(|from| wanted > 0 && range.to.is_none_or(|to| *from <= to)) else {
        return Ok(last);
    };
    let sql = format!(
        "SELECT {} FROM locations \
         WHERE device_id = ?1 AND id <= ?2 AND tst >= ?3 AND tst <= ?4 \
         ORDER BY tst, lat_e7, lon_e7 LIMIT ?5",
        sink.columns().names().join(", ")
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let to = range.to.unwrap_or(i64::MAX);
    let wanted = i64::try_from(wanted).unwrap_or(i64::MAX);
    let rows = statement.query([device, range.until_id, from, to, wanted])?;
    take_rows(rows, sink, &mut last)?;
    Ok(last)
}

/// Reads the fixes at `place`'s second that come after it in the fix order (`op` `>`; `>=`:
/// from it on) into `sink`, and answers where the rest of the range starts: the next second,
/// or `None` after the last second there is.
fn next_second(
    connection: &Connection,
    range: &Range,
    device: i64,
    (tst, lat, lon): FixOrder,
    op: &str,
    sink: &mut impl RowSink,
    last: &mut Option<FixOrder>,
) -> Result<Option<i64>, PageError> {
    let sql = format!(
        "SELECT {} FROM locations \
         WHERE device_id = ?1 AND id <= ?2 AND tst = ?3 AND lat_e7 >= ?4 \
         AND (lat_e7 > ?4 OR lon_e7 {op} ?5) \
         ORDER BY tst, lat_e7, lon_e7 LIMIT {PAGE_ROWS}",
        sink.columns().names().join(", ")
    );
    let mut statement = connection.prepare_cached(&sql)?;
    take_rows(statement.query([device, range.until_id, tst, lat, lon])?, sink, last)?;
    Ok(tst.checked_add(1))
}

/// Hands the rows to `sink`; the row that fills the page leaves its place in `last`.
fn take_rows(
    mut rows: rusqlite::Rows<'_>,
    sink: &mut impl RowSink,
    last: &mut Option<FixOrder>,
) -> Result<(), PageError> {
    while let Some(row) = rows.next()? {
        sink.take(row)?;
        if sink.len() == PAGE_ROWS as usize {
            *last = Some((row.get(1)?, row.get(2)?, row.get(3)?));
        }
    }
    Ok(())
}

/// A page as it is read: its points, and their messages and addresses in one buffer that
/// becomes theirs when the page is done.
///
/// What makes a month's read fast is reading no more than needed: each column taken from a row
/// costs about a tenth of the read, and so does an allocation per point. So a page allocates
/// its text once, and takes only the columns its [`HistoryColumns`] needs (a point's id only
/// when several devices are merged by it; the fix order from the page's last row only).
struct PageBuilder<'a> {
    key: &'a Arc<DeviceKey>,
    columns: HistoryColumns,
    ids: bool,
    points: Vec<(HistoryPoint, TextRange, Option<TextRange>)>,
    text: String,
}

type TextRange = std::ops::Range<usize>;

impl<'a> PageBuilder<'a> {
    fn new(key: &'a Arc<DeviceKey>, columns: HistoryColumns, ids: bool) -> Self {
        // About a message and a half per point; the buffer grows if that is short.
        let text = String::with_capacity(PAGE_ROWS as usize * 192);
        let points = Vec::with_capacity(PAGE_ROWS as usize);
        Self { key, columns, ids, points, text }
    }

    fn append(&mut self, value: &str) -> TextRange {
        let start = self.text.len();
        self.text.push_str(value);
        start..self.text.len()
    }

    /// The points, each with its slices of the page's text.
    fn finish(self) -> Vec<HistoryPoint> {
        let text = ByteString::from(self.text);
        let slice = |range: TextRange| text.slice_ref(&text[range]);
        self.points
            .into_iter()
            .map(|(mut point, payload, addr)| {
                point.payload = slice(payload);
                point.addr = addr.map(slice);
                point
            })
            .collect()
    }
}

impl RowSink for PageBuilder<'_> {
    fn columns(&self) -> HistoryColumns {
        self.columns
    }

    fn take(&mut self, row: &Row<'_>) -> Result<(), PageError> {
        let payload = self.append(text(row, 5)?.unwrap_or_default());
        let addr = match self.columns {
            HistoryColumns::Message => None,
            _ => text(row, 6)?.map(|addr| self.append(addr)),
        };
        let all = self.columns == HistoryColumns::All;
        let key = Arc::clone(self.key);
        let mut point = HistoryPoint::of_message(key, row.get(1)?, row.get(4)?, ByteString::new());
        if self.ids || all {
            point.id = row.get(0)?;
        }
        if all {
            super::typed_columns(row, &mut point)?;
            (point.lat, point.lon) = (row.get(15)?, row.get(16)?);
        }
        self.points.push((point, payload, addr));
        Ok(())
    }

    fn len(&self) -> usize {
        self.points.len()
    }
}

/// A page written straight from the rows: each row's message, borrowed from SQLite's row, goes
/// to the writer.
struct WriterSink<'a> {
    writer: Box<dyn MessageWriter>,
    key: &'a DeviceKey,
    columns: HistoryColumns,
    out: Vec<u8>,
    /// The rows written for the page.
    rows: usize,
}

impl RowSink for WriterSink<'_> {
    fn columns(&self) -> HistoryColumns {
        match self.columns {
            HistoryColumns::Message => HistoryColumns::Message,
            _ => HistoryColumns::MessageAndAddress,
        }
    }

    fn take(&mut self, row: &Row<'_>) -> Result<(), PageError> {
        let message = PointMessage {
            key: self.key,
            tst: row.get(1)?,
            received_at: row.get(4)?,
            payload: text(row, 5)?.unwrap_or_default(),
            addr: match self.columns {
                HistoryColumns::Message => None,
                _ => text(row, 6)?,
            },
        };
        self.writer.message(&mut self.out, &message).map_err(PageError::Write)?;
        self.rows += 1;
        Ok(())
    }

    fn len(&self) -> usize {
        self.rows
    }
}

/// The text (or NULL) of column `index`, borrowed from the row.
fn text<'r>(row: &'r Row<'_>, index: usize) -> rusqlite::Result<Option<&'r str>> {
    row.get_ref(index)?.as_str_or_null().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(error))
    })
}

impl super::Columns for Row<'_> {
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

#[cfg(test)]
mod tests {
    use super::{Buffers, KEPT_BUFFER_BYTES, KEPT_BUFFERS};

    #[test]
    fn a_sent_chunks_buffer_is_kept_for_the_next_page() {
        let buffers: &'static Buffers = Box::leak(Box::new(Buffers::new()));
        let mut page = buffers.take(1000);
        assert_eq!((page.len(), page.capacity()), (0, 1062));
        page.extend_from_slice(b"{\"tst\":1}");
        let at = page.as_ptr();
        let chunk = buffers.chunk(page);
        assert_eq!(&chunk[..], b"{\"tst\":1}");
        let copy = chunk.clone();
        drop(chunk);
        // Kept only once the last handle to the chunk is gone.
        assert_eq!(buffers.kept.lock().unwrap().len(), 0);
        drop(copy);
        let again = buffers.take(500);
        assert_eq!((again.as_ptr(), again.len(), again.capacity()), (at, 0, 1062));

        // No more than KEPT_BUFFERS, and none larger than KEPT_BUFFER_BYTES.
        let chunks: Vec<_> =
            (0..KEPT_BUFFERS + 2).map(|_| buffers.chunk(Vec::with_capacity(64))).collect();
        drop(chunks);
        assert_eq!(buffers.kept.lock().unwrap().len(), KEPT_BUFFERS);
        let mut emptied = buffers.kept.lock().unwrap();
        emptied.clear();
        drop(emptied);
        drop(buffers.chunk(Vec::with_capacity(KEPT_BUFFER_BYTES + 1)));
        assert_eq!(buffers.kept.lock().unwrap().len(), 0);
    }
}
