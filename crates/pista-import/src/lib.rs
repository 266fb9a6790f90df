//! History import: each format is a source that reads its input incrementally and hands over
//! [`Entry`] values (a record to ingest, or a skipped one with the reason) through a bounded
//! channel, and [`run`] feeds the records to the same ingest [`pista_ingest::Pipeline`] that MQTT
//! and HTTP use, so imported points get the same validation, duplicate handling and storage.
//! What went where is counted in a [`Summary`].
//!
//! Sources: `rec` (the OwnTracks Recorder's store), `gpx`, `geojson`, `takeout` (Google's
//! Records.json and the on-device Timeline export) and `o2s` (the original back end's database,
//! which also brings users, ACLs and the address cache, written through the account and derived
//! stores because they are not messages). Nothing here prints or draws: the command line shows
//! [`Progress`] and the summary.

mod entry;
mod geojson;
mod gpx;
mod json_stream;
mod o2s;
mod rec;
mod run;
mod summary;
mod takeout;
mod values;

pub use entry::{Entry, Progress, Record, Sink, Skip};
pub use o2s::{O2sError, import_o2s};
pub use run::{ImportError, run};
pub use summary::{Summary, TableCount};

use std::path::{Path, PathBuf};

use pista_core::DeviceKey;

/// The file formats `pista import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A Recorder store directory, a `rec/` tree or one `.rec` file.
    Recorder,
    Gpx,
    GeoJson,
    /// Google Takeout's Records.json or the on-device Timeline export.
    Takeout,
}

impl Format {
    /// The name `pista import` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Recorder => "recorder",
            Format::Gpx => "gpx",
            Format::GeoJson => "geojson",
            Format::Takeout => "takeout",
        }
    }

    /// Whether the format names its own users and devices (the others need `--user`/`--device`).
    pub fn carries_identity(self) -> bool {
        self == Format::Recorder
    }
}

/// Why a file import could not start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{} files do not say whose they are; pass --user and --device", format.as_str())]
    NoDevice { format: Format },
    #[error("cannot tell the user and device of {path}; pass --user and --device")]
    RecDevice { path: PathBuf },
    #[error("{path} is a directory, not a {} file", format.as_str())]
    Directory { path: PathBuf, format: Format },
    #[error(
        "--user and --device apply to one device's directory or one .rec file, not to {path}, \
         which holds several devices"
    )]
    Override { path: PathBuf },
    #[error("{path} holds no .rec files and no device directories")]
    NoRecFiles { path: PathBuf },
}

/// Starts reading `path` as `format` on a blocking thread; the entries arrive on the returned
/// channel, which holds at most a few hundred at a time so memory stays flat.
pub fn read_file(
    format: Format,
    path: &Path,
    device: Option<DeviceKey>,
) -> Result<(tokio::sync::mpsc::Receiver<Entry>, std::sync::Arc<Progress>), SourceError> {
    match format {
        Format::Recorder => rec::start(path, device),
        other => {
            let device = device.ok_or(SourceError::NoDevice { format: other })?;
            if path.is_dir() {
                return Err(SourceError::Directory { path: path.to_owned(), format: other });
            }
            let file = entry::open(path)?;
            let topic = format!("owntracks/{}/{}", device.user, device.device);
            Ok(entry::spawn(file.progress(), move |sink| match other {
                Format::Gpx => gpx::read(file, &topic, sink),
                Format::GeoJson => geojson::read(file, &topic, sink),
                _ => takeout::read(file, &topic, sink),
            }))
        }
    }
}
