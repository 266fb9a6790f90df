//! History export formats: the OwnTracks Recorder's `.rec` lines, GPX 1.1, GeoJSON, CSV, KML,
//! JSON and the original back end's fixed-width TXT. Writers are pure and work page by page: an [`Exporter`] turns the start of a document,
//! each page of points and its end into bytes, so a whole year streams in constant memory, and
//! [`stream`] drives one over a store's history pages. An error ends the stream without the
//! document's end, so whoever sends it can abort the transfer instead of passing off a cut file
//! as complete. The `pista export` command, `GET /api/0/export` and the Recorder-compatible
//! `format=` answers share these writers.
//!
//! It must not know about HTTP or how the pages are read.

mod geojson;
mod gpx;
pub mod json;
mod kml;
mod rec;
pub mod recorder;
mod table;
mod time;
pub mod track;
mod txt;
mod xml;

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use pista_core::{DeviceName, UserName};
use pista_store::{History, HistoryColumns, HistoryPages, HistoryPoint, MessageWriter, StoreError};

pub use recorder::{RecorderFormat, UnknownRecorderFormat};
pub use txt::Zone;

/// An export format, by its name in `--format` and `format=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rec,
    Gpx,
    GeoJson,
    Csv,
    Kml,
    Json,
    /// The original back end's fixed-width text, times in a named zone ([`Zone`]).
    Txt,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Rec,
        Format::Gpx,
        Format::GeoJson,
        Format::Csv,
        Format::Kml,
        Format::Json,
        Format::Txt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Rec => "rec",
            Format::Gpx => "gpx",
            Format::GeoJson => "geojson",
            Format::Csv => "csv",
            Format::Kml => "kml",
            Format::Json => "json",
            Format::Txt => "txt",
        }
    }

    /// The columns of a history the format writes: JSON and `.rec` write the stored message,
    /// the others its typed columns. Reading no more than that is what makes a long export fast.
    pub fn columns(self) -> HistoryColumns {
        match self {
            Format::Rec | Format::Json => HistoryColumns::Message,
            Format::Gpx | Format::GeoJson | Format::Csv | Format::Kml | Format::Txt => {
                HistoryColumns::All
            }
        }
    }

    /// The media type of the document.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Rec | Format::Txt => "text/plain; charset=utf-8",
            Format::Gpx => "application/gpx+xml",
            Format::GeoJson => "application/geo+json",
            Format::Csv => "text/csv; charset=utf-8; header=present",
            Format::Kml => "application/vnd.google-earth.kml+xml",
            Format::Json => "application/json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = ExportError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|format| format.name().eq_ignore_ascii_case(value))
            .ok_or_else(|| ExportError::UnknownFormat { value: value.to_owned() })
    }
}

/// Why an export could not be made or was cut short.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("unknown format {value:?}; known: rec, gpx, geojson, csv, kml, json, txt")]
    UnknownFormat { value: String },
    #[error("unknown time zone {value:?}; use an IANA name such as Europe/Berlin or UTC")]
    UnknownZone { value: String },
    /// A `.rec` file is one device's history; a user's devices would be mixed up in it.
    #[error("format rec holds one device's history; name a device of user {user:?}")]
    RecNeedsDevice { user: String },
    #[error("reading the history failed")]
    Store(#[from] StoreError),
    #[error("writing {format} failed")]
    Write { format: &'static str, source: std::io::Error },
}

/// Whose history is exported: it names the document and, for a user, the tracks inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub user: UserName,
    pub device: Option<DeviceName>,
}

impl Subject {
    /// `user/device`, or `user`: the document's name inside it.
    pub fn label(&self) -> String {
        match &self.device {
            Some(device) => format!("{}/{device}", self.user),
            None => self.user.to_string(),
        }
    }

    /// A file name for the export: `user-device.gpx`, with everything but ASCII letters,
    /// digits, `.`, `_` and `-` replaced by `_` (names may hold quotes, spaces or non-ASCII).
    pub fn file_name(&self, format: Format) -> String {
        let stem = match &self.device {
            Some(device) => format!("{}-{device}", self.user),
            None => self.user.to_string(),
        };
        let safe: String = stem
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
            .collect();
        format!("{safe}.{}", format.name())
    }
}

/// One format's writer of whole points: the document's start, its points and its end, each
/// appended to `out`.
trait Encoder: Send {
    fn begin(&mut self, out: &mut Vec<u8>) -> std::io::Result<()>;
    fn point(&mut self, out: &mut Vec<u8>, point: &HistoryPoint) -> std::io::Result<()>;
    fn end(&mut self, out: &mut Vec<u8>) -> std::io::Result<()>;
}

/// A format's writer. The formats that write the stored message (JSON, `.rec`, `ocat`'s
/// payloads) need no more of a point than its message and times, so a history can run them
/// where it reads the rows ([`History::written`]); the others take whole points.
enum Writer {
    Messages(Box<dyn MessageWriter>),
    Points(Box<dyn Encoder>),
}

/// Writes one export document piece by piece.
pub struct Exporter {
    /// The format's name, for errors.
    name: &'static str,
    columns: HistoryColumns,
    encoder: Writer,
    /// The size of the last page's bytes: the next page's buffer starts that large, so a page
    /// is written without growing (and copying) its buffer on the way.
    page_bytes: usize,
}

impl Exporter {
    /// A writer of `format` for `subject`'s history; `.rec` needs a device.
    pub fn new(format: Format, subject: &Subject) -> Result<Self, ExportError> {
        let label = subject.label();
        let encoder = match format {
            Format::Rec if subject.device.is_none() => {
                return Err(ExportError::RecNeedsDevice { user: subject.user.to_string() });
            }
            Format::Rec => Writer::Messages(Box::new(rec::Rec)),
            Format::Gpx => Writer::Points(Box::new(gpx::Gpx::new(label))),
            Format::GeoJson => Writer::Points(Box::new(geojson::GeoJson::default())),
            Format::Csv => Writer::Points(Box::new(table::Table)),
            Format::Kml => Writer::Points(Box::new(kml::Kml::new(label))),
            Format::Json => Writer::Messages(Box::new(json::Array::default())),
            Format::Txt => Writer::Points(Box::new(txt::Txt::new(Zone::utc()))),
        };
        Ok(Self { name: format.name(), columns: format.columns(), encoder, page_bytes: 0 })
    }

    /// A TXT writer with times in `zone` (UTC with [`Exporter::new`]).
    pub fn txt(zone: Zone) -> Self {
        let (name, columns) = (Format::Txt.name(), Format::Txt.columns());
        let encoder = Writer::Points(Box::new(txt::Txt::new(zone)));
        Self { name, columns, encoder, page_bytes: 0 }
    }

    /// The Recorder's `/api/0/locations` answer in `format`: for JSON the envelope
    /// `{"count":N,"data":[...],"status":200,"version":...}`; `fields` keeps those members of
    /// each point in JSON, CSV and XML.
    pub fn recorder(
        format: RecorderFormat,
        count: u64,
        version: &str,
        fields: Option<Vec<String>>,
    ) -> Self {
        let encoder = recorder::encoder(format, count, Some(version), fields);
        Self { name: format.name(), columns: format.columns(), encoder, page_bytes: 0 }
    }

    /// `ocat`'s answer in `format`: as [`Exporter::recorder`], but JSON is
    /// `{"count":N,"locations":[...]}`.
    pub fn ocat(format: RecorderFormat, count: u64, fields: Option<Vec<String>>) -> Self {
        let encoder = recorder::encoder(format, count, None, fields);
        Self { name: format.name(), columns: format.columns(), encoder, page_bytes: 0 }
    }

    /// `ocat`'s `payload`: each stored message on a line of its own.
    pub fn payloads() -> Self {
        let encoder = Writer::Messages(Box::new(recorder::Payloads));
        Self { name: "payload", columns: HistoryColumns::Message, encoder, page_bytes: 0 }
    }

    /// The history columns the document needs: read no more.
    pub fn columns(&self) -> HistoryColumns {
        self.columns
    }

    /// The start of the document.
    pub fn begin(&mut self) -> Result<Vec<u8>, ExportError> {
        let mut out = Vec::new();
        let begun = match &mut self.encoder {
            Writer::Messages(writer) => writer.begin(&mut out),
            Writer::Points(encoder) => encoder.begin(&mut out),
        };
        begun.map_err(self.failed())?;
        Ok(out)
    }

    /// The points of one page.
    pub fn page(&mut self, points: &[HistoryPoint]) -> Result<Vec<u8>, ExportError> {
        let mut out = Vec::with_capacity((points.len() * 256).max(self.page_bytes));
        let written = match &mut self.encoder {
            Writer::Messages(writer) => {
                points.iter().try_for_each(|point| writer.message(&mut out, &point.message()))
            }
            Writer::Points(encoder) => {
                points.iter().try_for_each(|point| encoder.point(&mut out, point))
            }
        };
        written.map_err(self.failed())?;
        self.page_bytes = out.len() + out.len() / 16;
        Ok(out)
    }

    /// The end of the document.
    pub fn end(&mut self) -> Result<Vec<u8>, ExportError> {
        let mut out = Vec::new();
        let ended = match &mut self.encoder {
            Writer::Messages(writer) => writer.end(&mut out),
            Writer::Points(encoder) => encoder.end(&mut out),
        };
        ended.map_err(self.failed())?;
        Ok(out)
    }

    /// The document of `history` as chunks, like [`stream`] of its pages; a format that writes
    /// stored messages is run by the history where it reads them ([`History::written`]).
    pub fn written(self, history: History) -> BoxStream<'static, Result<Bytes, ExportError>> {
        match self.encoder {
            Writer::Messages(writer) => {
                let format = self.name;
                let failed = move |error| match error {
                    StoreError::Write { source } => ExportError::Write { format, source },
                    error => ExportError::Store(error),
                };
                history.written(writer).map(move |chunk| chunk.map_err(failed)).boxed()
            }
            Writer::Points(_) => stream(self, history.pages),
        }
    }

    /// A whole document of `points` at once (tests, small answers).
    pub fn document(mut self, points: &[HistoryPoint]) -> Result<Vec<u8>, ExportError> {
        let mut out = self.begin()?;
        out.extend(self.page(points)?);
        out.extend(self.end()?);
        Ok(out)
    }

    fn failed(&self) -> impl FnOnce(std::io::Error) -> ExportError + use<> {
        let format = self.name;
        move |source| ExportError::Write { format, source }
    }
}

/// Where [`stream`] is in the document.
enum Phase {
    Begin,
    Pages,
    Done,
}

/// The document of `pages` as chunks: its start, one chunk per page, its end. An error (of the
/// store or of the writer) is the last item: the end of the document is then never sent.
pub fn stream(
    exporter: Exporter,
    pages: HistoryPages,
) -> BoxStream<'static, Result<Bytes, ExportError>> {
    let state = (exporter, pages, Phase::Begin);
    stream::unfold(state, |(mut exporter, mut pages, phase)| async move {
        let (chunk, next) = match phase {
            Phase::Begin => (exporter.begin(), Phase::Pages),
            Phase::Pages => match pages.next().await {
                Some(Ok(page)) => (exporter.page(&page), Phase::Pages),
                Some(Err(error)) => (Err(error.into()), Phase::Done),
                None => (exporter.end(), Phase::Done),
            },
            Phase::Done => return None,
        };
        let next = if chunk.is_err() { Phase::Done } else { next };
        Some((chunk.map(Bytes::from), (exporter, pages, next)))
    })
    .boxed()
}
