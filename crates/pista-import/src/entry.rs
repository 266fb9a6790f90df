//! What a source hands over: [`Entry`] values through a bounded channel, via a [`Sink`] that
//! also keeps the [`Progress`] the command line draws. Files are read through a counting reader,
//! so progress is the share of bytes read.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::SourceError;

/// Entries that may wait between a source and the pipeline.
const CHANNEL: usize = 512;

/// One message to ingest, as the device would have published it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub topic: String,
    pub payload: Bytes,
    /// Where it came from, for messages about it (`line 12 of 2024-08.rec`).
    pub at: String,
    /// When the system it comes from received it (a `.rec` line's leading time), if it says;
    /// otherwise the import's own time counts as its arrival.
    pub received_at: Option<i64>,
}

/// A record of the input that is not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The reason as a short phrase, the key the summary counts by (`no timestamp`).
    pub reason: &'static str,
    pub at: String,
    /// The bad value or the parser's words.
    pub detail: String,
}

/// What a source reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Record(Record),
    Skip(Skip),
    /// Something about the input as a whole, not a record.
    Note(String),
    /// Part of the input was not read (the reading stopped early, the file is not in the
    /// format, it is cut off): said in the summary, and the import does not count as complete.
    Stopped(String),
    /// The next record's numbers needed this unambiguous repair (`decimal comma`).
    Repaired(&'static str),
}

/// How far a source is: bytes of files, or rows of a database.
#[derive(Debug, Default)]
pub struct Progress {
    pub done: AtomicU64,
    /// 0 while unknown.
    pub total: AtomicU64,
}

impl Progress {
    pub fn with_total(total: u64) -> Arc<Self> {
        Arc::new(Self { done: AtomicU64::new(0), total: AtomicU64::new(total) })
    }

    pub fn advance(&self, by: u64) {
        self.done.fetch_add(by, Ordering::Relaxed);
    }
}

/// Where a source puts its entries. Sending waits while the channel is full, which is what
/// keeps a large file from being read ahead of the database.
pub struct Sink {
    out: mpsc::Sender<Entry>,
    /// Set once the receiving side is gone: the source should stop reading.
    closed: bool,
}

impl Sink {
    pub fn new(out: mpsc::Sender<Entry>) -> Self {
        Self { out, closed: false }
    }

    /// Hands over an entry from a blocking thread; returns `false` when nobody listens any more.
    pub fn send(&mut self, entry: Entry) -> bool {
        if !self.closed && self.out.blocking_send(entry).is_err() {
            self.closed = true;
        }
        !self.closed
    }

    /// Like [`Sink::send`], from async code.
    pub async fn send_async(&mut self, entry: Entry) -> bool {
        if !self.closed && self.out.send(entry).await.is_err() {
            self.closed = true;
        }
        !self.closed
    }

    /// A JSON message for `topic`.
    pub fn record(&mut self, topic: &str, json: &Value, at: String) -> bool {
        let payload = Bytes::from(json.to_string());
        self.send(Entry::Record(Record { topic: topic.to_owned(), payload, at, received_at: None }))
    }

    pub fn skip(&mut self, reason: &'static str, at: String, detail: impl Into<String>) -> bool {
        self.send(Entry::Skip(Skip { reason, at, detail: detail.into() }))
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Says that part of the input was not read; see [`Entry::Stopped`].
    pub fn stopped(&mut self, note: String) -> bool {
        self.send(Entry::Stopped(note))
    }
}

/// A reader that counts what passes through it into a [`Progress`].
pub struct Counted<R> {
    inner: R,
    progress: Arc<Progress>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

impl<R> Counted<R> {
    pub fn new(inner: R, progress: Arc<Progress>) -> Self {
        Self { inner, progress }
    }
}

/// An input file opened for buffered, counted reading.
pub struct InputFile {
    pub reader: BufReader<Counted<File>>,
    /// The file name, for messages.
    pub name: String,
    progress: Arc<Progress>,
}

impl InputFile {
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }
}

/// Opens `path`, with a progress whose total is the file's size.
pub fn open(path: &Path) -> Result<InputFile, SourceError> {
    let error = |source| SourceError::Open { path: path.to_owned(), source };
    let file = File::open(path).map_err(error)?;
    let size = file.metadata().map_err(error)?.len();
    Ok(open_counted(file, path, Progress::with_total(size)))
}

/// Wraps an open file so that it counts into `progress`.
pub fn open_counted(file: File, path: &Path, progress: Arc<Progress>) -> InputFile {
    let name = path
        .file_name()
        .map_or_else(|| path.display().to_string(), |name| name.to_string_lossy().into_owned());
    let reader = BufReader::with_capacity(64 * 1024, Counted::new(file, progress.clone()));
    InputFile { reader, name, progress }
}

/// Runs `read` on a blocking thread with a sink on a new channel; returns the channel.
pub fn spawn(
    progress: Arc<Progress>,
    read: impl FnOnce(&mut Sink) + Send + 'static,
) -> (mpsc::Receiver<Entry>, Arc<Progress>) {
    let (out, entries) = mpsc::channel(CHANNEL);
    tokio::task::spawn_blocking(move || read(&mut Sink::new(out)));
    (entries, progress)
}
