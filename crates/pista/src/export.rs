//! `pista export`: a user's or device's history in a range of fix times, as `.rec`, GPX,
//! GeoJSON, CSV, KML or JSON, streamed page by page to standard output or to a file. A file is
//! written under a temporary name beside it and renamed only when the document is complete, so
//! a failed export never leaves a cut file under the name asked for. Like `pista delete` it
//! reads the database directly and needs no running server.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::ArgMatches;
use futures::StreamExt;
use pista_core::time::{iso, parse_bound};
use pista_core::{DeviceName, UserName};
use pista_export::{Exporter, Format, Subject};
use pista_store::{HistoryQuery, Storage};

use crate::admin::open;

/// Runs `pista export`; returns what to print when the export went to a file.
pub async fn export(args: &ArgMatches) -> anyhow::Result<String> {
    let (query, format) = request(args)?;
    let subject = Subject { user: query.user.clone(), device: query.device.clone() };
    let exporter = Exporter::new(format, &subject)?;
    let out = args.get_one::<String>("out").map(PathBuf::from);

    let (_settings, store) = open(args).await?;
    let history = store.history(&query).await?;
    let chunks = pista_export::stream(exporter, history.pages);
    match out {
        None => {
            let stdout = std::io::stdout();
            let written = write_all(chunks, &mut std::io::BufWriter::new(stdout.lock())).await?;
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
async fn write_all(mut chunks: Chunks, out: &mut impl Write) -> anyhow::Result<u64> {
    let mut written = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.context("the export stopped part way")?;
        out.write_all(&chunk).context("cannot write the export")?;
        written += chunk.len() as u64;
    }
    out.flush().context("cannot write the export")?;
    Ok(written)
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
