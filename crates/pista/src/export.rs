//! `pista export`: a user's or device's history in a range of fix times, as `.rec`, GPX,
//! GeoJSON, CSV, KML or JSON, streamed page by page to standard output or to a file. A file is
//! written under a temporary name beside it and renamed only when the document is complete, so
//! a failed export never leaves a cut file under the name asked for. A whole user's `.rec`
//! export is the OwnTracks Recorder's tree, `OUT/rec/USER/DEVICE/YYYY-MM.rec` (UTC months of the
//! fix time), which `pista import recorder` and the Recorder read back; it is written under
//! `OUT/.pista-export-USER.partial` and renamed into place when every file is complete. Like
//! `pista delete` it reads the database directly and needs no running server.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use chrono::Datelike;
use clap::ArgMatches;
use futures::StreamExt;
use pista_core::time::{iso, parse_bound};
use pista_core::{DeviceName, UserName};
use pista_export::{Exporter, Format, Subject, Zone};
use pista_store::{HistoryQuery, Storage};

use crate::admin::open;

/// Runs `pista export`; returns what to print when the export went to a file.
pub async fn export(args: &ArgMatches) -> anyhow::Result<String> {
    let (query, format) = request(args)?;
    let subject = Subject { user: query.user.clone(), device: query.device.clone() };
    let out = args.get_one::<String>("out").map(PathBuf::from);
    if format == Format::Rec && subject.device.is_none() {
        let Some(out) = out else {
            bail!(
                "format rec of a whole user is a tree of files (rec/USER/DEVICE/YYYY-MM.rec): \
                 give --out DIRECTORY, or name a --device of user {:?}",
                subject.user.as_str()
            );
        };
        let (_settings, store) = open(args).await?;
        let tree = export_tree(&store, &query, &out).await?;
        return Ok(tree.summary(&subject.label()));
    }
    let exporter = match (format, args.get_one::<String>("tz")) {
        // TXT writes local times, of the zone asked for (as `/api/0/export`'s `tz=`).
        (Format::Txt, Some(zone)) => Exporter::txt(Zone::named(zone).context("--tz")?),
        (_, Some(zone)) => bail!("--tz {zone:?} is for --format txt (the others write UTC)"),
        (_, None) => Exporter::new(format, &subject)?,
    };

    let (_settings, store) = open(args).await?;
    let history = store.history(&query).await?;
    let chunks = exporter.written(history);
    match out {
        None => {
            let written = write_stdout(chunks).await?;
            tracing::debug!(written, "export written to standard output");
            Ok(String::new())
        }
        Some(path) => {
            let written = write_file(chunks, &path).await?;
            Ok(format!(
                "exported {} as {format} to {} ({written} bytes)\n",
                subject.label(),
                path.display()
            ))
        }
    }
}

/// `--user`, `--device`, `--from`, `--to` and `--format`, each error naming the bad value.
fn request(args: &ArgMatches) -> anyhow::Result<(HistoryQuery, Format)> {
    let text = |name: &str| args.get_one::<String>(name).map(String::as_str);
    let format = text("format").unwrap_or_default().parse::<Format>().context("--format")?;
    let user = UserName::parse(text("user").unwrap_or_default()).context("--user")?;
    let device = text("device").map(DeviceName::parse).transpose().context("--device")?;
    let bound = |name: &str| -> anyhow::Result<Option<i64>> {
        text(name).map(|t| parse_bound(t).map_err(|e| anyhow!("--{name}: {e}"))).transpose()
    };
    let (from, to) = (bound("from")?, bound("to")?);
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        bail!("impossible range: --from {} is after --to {}", iso(from), iso(to));
    }
    let columns = format.columns();
    Ok((HistoryQuery { from, to, columns, ..HistoryQuery::new(user, device) }, format))
}

type Chunks = futures::stream::BoxStream<'static, Result<bytes::Bytes, pista_export::ExportError>>;

/// Writes every chunk to `out`; returns the bytes written.
pub(crate) async fn write_all(mut chunks: Chunks, out: &mut impl Write) -> anyhow::Result<u64> {
    let mut written = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.context("the export stopped part way")?;
        out.write_all(&chunk).context("cannot write the export")?;
        written += chunk.len() as u64;
    }
    out.flush().context("cannot write the export")?;
    Ok(written)
}

/// Writes the export to standard output and answers how much was written. A reader that stops
/// early (`pista ocat | head`) ends it quietly, as it ends any Unix filter.
pub(crate) async fn write_stdout(chunks: Chunks) -> anyhow::Result<u64> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match write_all(chunks, &mut out).await {
        Err(error) if broken_pipe(&error) => {
            tracing::debug!("standard output closed by its reader");
            // Nothing more can reach the reader; dropping the buffer must not try again.
            let (_, _) = out.into_parts();
            Ok(0)
        }
        written => written,
    }
}

/// Whether writing failed because the reading end of a pipe was closed.
fn broken_pipe(error: &anyhow::Error) -> bool {
    let kind = |e: &(dyn std::error::Error + 'static)| {
        e.downcast_ref::<std::io::Error>().map(std::io::Error::kind)
    };
    error.chain().any(|e| kind(e) == Some(std::io::ErrorKind::BrokenPipe))
}

/// Writes the export to `FILE.partial`, then renames it to `path`; removes it on failure.
async fn write_file(chunks: Chunks, path: &Path) -> anyhow::Result<u64> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut file = std::io::BufWriter::new(file);
    let result = write_all(chunks, &mut file).await;
    drop(file);
    match result {
        Ok(written) => {
            std::fs::rename(&partial, path).with_context(|| {
                format!("cannot rename {} to {}", partial.display(), path.display())
            })?;
            Ok(written)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error.context(format!("nothing was written to {}", path.display())))
        }
    }
}

/// What [`export_tree`] wrote.
struct Tree {
    /// `OUT/rec/USER`.
    root: PathBuf,
    points: u64,
    devices: usize,
    files: usize,
    bytes: u64,
    /// Devices whose names cannot be directories, left out.
    skipped: Vec<DeviceName>,
}

impl Tree {
    /// What `pista export` prints about the tree of `label`.
    fn summary(&self, label: &str) -> String {
        let mut said = if self.files == 0 {
            format!("nothing to export: {label} has no points in the range\n")
        } else {
            format!(
                "exported {label} as rec to {}: {} points of {} devices in {} files ({} bytes)\n",
                self.root.display(),
                self.points,
                self.devices,
                self.files,
                self.bytes
            )
        };
        for device in &self.skipped {
            said.push_str(&format!(
                "  left out device {:?}: its name cannot be a directory (export it with \
                 --device {:?} --out FILE)\n",
                device.as_str(),
                device.as_str()
            ));
        }
        said
    }
}

/// Writes every device of `query`'s user (in its range) as `OUT/rec/USER/DEVICE/YYYY-MM.rec`.
/// An existing `OUT/rec/USER` is never touched: the export refuses to start.
async fn export_tree(
    store: &dyn Storage,
    query: &HistoryQuery,
    out: &Path,
) -> anyhow::Result<Tree> {
    let user = &query.user;
    let devices = store.devices(user).await?;
    if devices.is_empty() {
        bail!("unknown user {:?}", user.as_str());
    }
    if !is_path_name(user.as_str()) {
        bail!("user name {:?} cannot be a directory of the rec tree", user.as_str());
    }
    let rec = out.join("rec");
    let root = rec.join(user.as_str());
    if root.exists() {
        bail!("{} exists already; export into another directory or move it away", root.display());
    }
    // Beside `rec/`, not in it: no user's directory can have its name, and an import of
    // `rec/` never sees a cut export.
    let staging = out.join(format!(".pista-export-{user}.partial"));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot remove {} of an earlier export", staging.display()))?;
    }
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let mut tree = Tree { root, points: 0, devices: 0, files: 0, bytes: 0, skipped: Vec::new() };
    let written = async {
        for device in devices {
            if !is_path_name(device.as_str()) {
                tree.skipped.push(device);
                continue;
            }
            let query = HistoryQuery { device: Some(device.clone()), ..query.clone() };
            let dir = staging.join(device.as_str());
            let files = write_months(store, &query, &dir, &mut tree).await?;
            tree.devices += usize::from(files > 0);
            tree.files += files;
        }
        if tree.files == 0 {
            // Nothing in the range: no empty directory that a later export would stop at.
            return std::fs::remove_dir_all(&staging)
                .with_context(|| format!("cannot remove {}", staging.display()));
        }
        std::fs::create_dir_all(&rec)
            .with_context(|| format!("cannot create {}", rec.display()))?;
        std::fs::rename(&staging, &tree.root).with_context(|| {
            format!("cannot rename {} to {}", staging.display(), tree.root.display())
        })
    }
    .await;
    if let Err(error) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error.context(format!("nothing was written to {}", tree.root.display())));
    }
    Ok(tree)
}

/// Writes one device's history in `dir` as a `.rec` file per UTC month of the fix time;
/// returns how many files it wrote (none, and no directory, for a device without points).
async fn write_months(
    store: &dyn Storage,
    query: &HistoryQuery,
    dir: &Path,
    tree: &mut Tree,
) -> anyhow::Result<usize> {
    let subject = Subject { user: query.user.clone(), device: query.device.clone() };
    let mut exporter = Exporter::new(Format::Rec, &subject)?;
    let mut pages = store.history(query).await?.pages;
    let mut file: Option<(String, std::io::BufWriter<std::fs::File>)> = None;
    let mut files = 0;
    while let Some(page) = pages.next().await {
        let page = page.context("the export stopped part way")?;
        for run in page.chunk_by(|a, b| month(a.tst) == month(b.tst)) {
            let month = format!("{:04}-{:02}", month(run[0].tst).0, month(run[0].tst).1);
            if file.as_ref().is_none_or(|(open, _)| *open != month) {
                if let Some((_, mut done)) = file.take() {
                    done.flush().context("cannot write the export")?;
                }
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let path = dir.join(format!("{month}.rec"));
                let created = std::fs::File::create_new(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                file = Some((month, std::io::BufWriter::new(created)));
                files += 1;
            }
            let bytes = exporter.page(run)?;
            if let Some((_, writer)) = &mut file {
                writer.write_all(&bytes).context("cannot write the export")?;
            }
            tree.points += run.len() as u64;
            tree.bytes += bytes.len() as u64;
        }
    }
    if let Some((_, mut done)) = file {
        done.flush().context("cannot write the export")?;
    }
    Ok(files)
}

/// The UTC year and month of a fix time, which name the Recorder's files (`YYYY-MM.rec`).
fn month(tst: i64) -> (i32, u32) {
    chrono::DateTime::from_timestamp(tst, 0).map_or((0, 0), |at| (at.year(), at.month()))
}

/// Whether a user or device name can be a directory of the tree (`.` and `..` cannot).
fn is_path_name(name: &str) -> bool {
    name != "." && name != ".."
}
