//! `pista import FORMAT SOURCE`: brings history into Pista's database through the ingest
//! pipeline (see `pista_import`), draws a progress bar on a terminal, and returns the summary
//! to print. The pipeline it starts has no outputs stage: imported history publishes no device
//! objects, fires no alerts and calls no webhooks.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::{Arg, ArgAction, ArgMatches, Command};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pista_core::DeviceKey;
use pista_core::time::TimeRule;
use pista_import::{Format, Progress, Summary};
use pista_ingest::{Pipeline, PipelineOptions};
use pista_store::{SqlStore, Storage};

use crate::cli;

/// The command line of `pista import` (settings flags are added by the caller).
pub fn command() -> Command {
    Command::new("import")
        .about("Import history: a Recorder store, the o2s database, GPX, GeoJSON or Google Takeout")
        .arg(
            Arg::new("format")
                .required(true)
                .value_name("FORMAT")
                .value_parser(["recorder", "o2s", "gpx", "geojson", "takeout"])
                .help("What SOURCE is"),
        )
        .arg(
            Arg::new("source")
                .required(true)
                .value_name("SOURCE")
                .help("A file or directory; for o2s the database URL (mysql://, postgres://, sqlite://)"),
        )
        .arg(Arg::new("user").long("user").value_name("USER").help(
            "Whose history it is (required for gpx, geojson and takeout; recorder: only for one device \
             directory or .rec file, and then instead of the names in the path)",
        ))
        .arg(Arg::new("device").long("device").value_name("DEVICE").help("The device, with --user"))
        .arg(
            Arg::new("quiet")
                .long("quiet")
                .action(ArgAction::SetTrue)
                .help("No progress bar (none is drawn when stderr is not a terminal either)"),
        )
}

/// Runs the import `args` describe; returns its summary.
pub async fn run_cli(args: &ArgMatches) -> anyhow::Result<Summary> {
    let settings = cli::raw_settings(args)?.validate()?;
    let get = |name: &str| args.get_one::<String>(name).map(String::as_str);
    let format = get("format").unwrap_or_default();
    let source = get("source").unwrap_or_default();
    let device = match (get("user"), get("device")) {
        (Some(user), Some(device)) => Some(DeviceKey::parse(user, device)?),
        (None, None) => None,
        _ => return Err(anyhow!("--user and --device go together")),
    };

    let store = Arc::new(SqlStore::open(&settings.database).await?);
    store.check_writable().await?;
    let options = PipelineOptions {
        time: TimeRule { floor: settings.time_floor, ..TimeRule::default() },
        t_ignore: settings.t_ignore.clone(),
        tid_map: settings.tid_map.iter().cloned().collect(),
        ..PipelineOptions::default()
    };
    let (pipeline, writer) = Pipeline::start(store.clone() as Arc<dyn Storage>, options);
    let mut summary = Summary::default();
    let quiet = args.get_flag("quiet");
    let result = match format {
        "o2s" => {
            let progress = Arc::new(Progress::default());
            let bar = bar(&progress, quiet, "rows");
            let done = pista_import::import_o2s(
                source,
                &pipeline,
                store.as_ref(),
                store.as_ref(),
                &mut summary,
                progress,
            )
            .await
            .map_err(anyhow::Error::from);
            bar.abort();
            done
        }
        file => {
            let format = match file {
                "recorder" => Format::Recorder,
                "gpx" => Format::Gpx,
                "geojson" => Format::GeoJson,
                _ => Format::Takeout,
            };
            let (entries, progress) =
                pista_import::read_file(format, std::path::Path::new(source), device)?;
            let bar = bar(&progress, quiet, "bytes");
            let done = pista_import::run(&pipeline, entries, &mut summary).await;
            bar.abort();
            if done.is_ok() && summary.read == 0 && !summary.incomplete {
                summary.stop(format!("{source}: nothing to import was found in it"));
            }
            done.map_err(anyhow::Error::from)
        }
    };
    drop(pipeline);
    writer.await.context("the ingest writer stopped")?;
    result
        .with_context(|| format!("import stopped; so far: {}", summary.to_string().trim_end()))?;
    Ok(summary)
}

/// Draws `progress` on stderr until the returned task is aborted.
fn bar(progress: &Arc<Progress>, quiet: bool, unit: &str) -> tokio::task::JoinHandle<()> {
    let target = if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
    let template = match unit {
        "bytes" => "{bar:40} {bytes}/{total_bytes} {elapsed} (eta {eta})",
        _ => "{bar:40} {pos}/{len} rows {elapsed}",
    };
    let style =
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::with_draw_target(None, target).with_style(style);
    let progress = progress.clone();
    tokio::spawn(async move {
        loop {
            let total = progress.total.load(Ordering::Relaxed);
            if total > 0 {
                bar.set_length(total);
            }
            bar.set_position(progress.done.load(Ordering::Relaxed));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}
