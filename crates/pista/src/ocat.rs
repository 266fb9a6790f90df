//! `pista ocat`: the OwnTracks Recorder's `ocat` for scripts, reading the database directly
//! (no running server): `--list` (users; a user's devices), `--last` (the newest location of
//! each device, as JSON), and a device's locations between `--from` and `--to` in the
//! Recorder's formats (`json` as `{"count":N,"locations":[...]}`, `csv`, `geojson`,
//! `geojsonpoi`, `linestring`, `gpx`, `xml`, and `raw` `.rec` lines or each stored `payload` on
//! a line). `OCAT_USERNAME`, `OCAT_DEVICE` and `OCAT_FORMAT` are read as `ocat` reads them.
//!
//! Where `ocat` was wrong this is not: `--limit` reaches across months (its bug T1), and points
//! come in fix order.

use anyhow::{Context, anyhow, bail};
use clap::ArgMatches;
use pista_core::time::{iso, parse_bound};
use pista_core::{DeviceName, UserName};
use pista_export::{Exporter, Format, RecorderFormat, Subject};
use pista_store::{HistoryQuery, Storage};
use serde_json::{Value, json};

use crate::admin::open;

/// Without `--from` (and without `--limit`) `ocat` shows the last six hours.
const DEFAULT_WINDOW: i64 = 6 * 3600;

/// What `--format` asks for.
enum OcatFormat {
    Recorder(RecorderFormat),
    Raw,
    Payload,
}

impl OcatFormat {
    /// A full name, or, as `ocat` reads `OCAT_FORMAT`, its first letter.
    fn parse(text: &str) -> anyhow::Result<Self> {
        let name = match text.to_ascii_lowercase().as_str() {
            "j" => "json",
            "c" => "csv",
            "g" => "geojson",
            "l" => "linestring",
            "r" => "raw",
            "p" => "payload",
            other => return Self::named(other),
        };
        Self::named(name)
    }

    fn named(name: &str) -> anyhow::Result<Self> {
        Ok(match name {
            "raw" => OcatFormat::Raw,
            "payload" => OcatFormat::Payload,
            other => OcatFormat::Recorder(other.parse().map_err(|_| {
                anyhow!(
                    "--format {other:?} is not one of json, csv, geojson, geojsonpoi, linestring, \
                     gpx, xml, raw, payload"
                )
            })?),
        })
    }
}

/// Runs `pista ocat`; its output goes to standard output as it is made.
pub async fn ocat(args: &ArgMatches) -> anyhow::Result<String> {
    let text = |name: &str| args.get_one::<String>(name).map(String::as_str);
    let user = text("user").map(UserName::parse).transpose().context("--user")?;
    let device = text("device").map(DeviceName::parse).transpose().context("--device")?;
    let (_settings, store) = open(args).await?;

    if args.get_flag("list") {
        let results: Vec<String> = match &user {
            None => store.users().await?.iter().map(ToString::to_string).collect(),
            Some(user) => store
                .devices(user)
                .await?
                .iter()
                .filter(|d| device.as_ref().is_none_or(|wanted| wanted == *d))
                .map(ToString::to_string)
                .collect(),
        };
        return Ok(format!("{}\n", json!({ "results": results })));
    }
    if args.get_flag("last") {
        let last = store.last(user.as_ref(), device.as_ref()).await?;
        let items: Vec<Value> = last
            .into_iter()
            .map(|entry| {
                let mut item = entry.location.json;
                item.insert("topic".into(), entry.location.topic.into());
                item.insert("username".into(), entry.key.user.to_string().into());
                item.insert("device".into(), entry.key.device.to_string().into());
                Value::Object(item)
            })
            .collect();
        return Ok(format!("{}\n", Value::Array(items)));
    }

    let (Some(user), Some(device)) = (user, device) else {
        bail!("give --user and --device (or OCAT_USERNAME and OCAT_DEVICE), or --list or --last");
    };
    let format = OcatFormat::parse(text("format").unwrap_or("json"))?;
    let limit = text("limit")
        .map(|t| t.parse::<u64>().map_err(|_| anyhow!("--limit {t:?} is not a whole number")))
        .transpose()?;
    let bound = |name: &str| -> anyhow::Result<Option<i64>> {
        text(name).map(|t| parse_bound(t).map_err(|e| anyhow!("--{name}: {e}"))).transpose()
    };
    let to = bound("to")?;
    let from = match (bound("from")?, limit) {
        (Some(from), _) => Some(from),
        (None, Some(_)) => None,
        (None, None) => Some(to.unwrap_or_else(pista_ingest::now) - DEFAULT_WINDOW),
    };
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        bail!("impossible range: --from {} is after --to {}", iso(from), iso(to));
    }
    let fields = text("fields").filter(|f| *f != "ALL").map(|list| {
        list.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect()
    });

    let subject = Subject { user: user.clone(), device: Some(device.clone()) };
    let mut query =
        HistoryQuery { from, to, limit, count: true, ..HistoryQuery::new(user, Some(device)) };
    let history = match format {
        OcatFormat::Recorder(format) => {
            query.columns = format.columns();
            let history = store.history(&query).await?;
            let count = history.count.unwrap_or(0);
            (Exporter::ocat(format, count, fields), history.pages)
        }
        OcatFormat::Raw => {
            let exporter = Exporter::new(Format::Rec, &subject)?;
            query.columns = exporter.columns();
            (exporter, store.history(&query).await?.pages)
        }
        OcatFormat::Payload => {
            let exporter = Exporter::payloads();
            query.columns = exporter.columns();
            (exporter, store.history(&query).await?.pages)
        }
    };
    let (exporter, pages) = history;
    let chunks = pista_export::stream(exporter, pages);
    let stdout = std::io::stdout();
    crate::export::write_all(chunks, &mut std::io::BufWriter::new(stdout.lock())).await?;
    Ok(String::new())
}
