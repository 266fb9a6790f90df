//! `pista ocat`: the OwnTracks Recorder's `ocat` for scripts, reading the database directly
//! (no running server): `--list` (users; a user's devices), `--last` (the newest location of
//! each device, as JSON), and a device's locations between `--from` and `--to` in the
//! Recorder's formats (`json` as `{"count":N,"locations":[...]}`, `csv`, `geojson`,
//! `geojsonpoi`, `linestring`, `gpx`, `xml`, and `raw` `.rec` lines or each stored `payload` on
//! a line). `OCAT_USERNAME`, `OCAT_DEVICE` and `OCAT_FORMAT` are read as `ocat` reads them.
//!
//! `--dump=friends|keys` and `--load=friends|keys` speak `ocat`'s lines, `user-device VALUE`:
//! for friends a JSON list of the `user/device`s that device sees, for keys its secret (dumped
//! masked: they are not shown again once stored). A Recorder's dumps load into Pista: Pista's
//! friends are per user, so a device's list becomes its user's.
//!
//! Where `ocat` was wrong this is not: `--limit` reaches across months (its bug T1), points
//! come in fix order, and `--dump=friends` shows what is there (its bug T8).

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
    // An empty value (`OCAT_USERNAME=`) counts as none.
    let text =
        |name: &str| args.get_one::<String>(name).map(String::as_str).filter(|v| !v.is_empty());
    let user = text("user").map(UserName::parse).transpose().context("--user")?;
    let device = text("device").map(DeviceName::parse).transpose().context("--device")?;
    let (_settings, store) = open(args).await?;

    if let Some(what) = text("dump") {
        return dump(&store, what).await;
    }
    if let Some(what) = text("load") {
        let mut input = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut input)
            .context("cannot read standard input")?;
        return load(&store, what, &input).await;
    }
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
        if let Some(format) = text("format").filter(|f| !matches!(*f, "json" | "j")) {
            // FIXME(#7): ocat writes --last as CSV and XML too.
            bail!("--last writes json only, not --format {format:?}");
        }
        let last = store.last(user.as_ref(), device.as_ref()).await?;
        // The items `/api/0/last` shows.
        let items: Vec<Value> = last
            .into_iter()
            .map(|entry| {
                let location = entry.location;
                pista_web::live_item(
                    location.json,
                    &location.topic,
                    &entry.key,
                    location.received_at,
                )
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
    let fields = text("fields")
        .filter(|f| *f != "ALL")
        .map(|list| -> Vec<String> {
            list.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect()
        })
        .filter(|fields| !fields.is_empty());

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

/// `--dump=friends` or `--dump=keys`, in `ocat`'s `user-device VALUE` lines.
async fn dump(store: &pista_store::SqlStore, what: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    match what {
        "friends" => {
            for user in store.users().await? {
                let friends = store.friends(&user).await?;
                if friends.is_empty() {
                    continue;
                }
                // A friend entry for all of a user's devices names each device there is.
                let mut seen = Vec::new();
                for (friend, device) in friends {
                    match device {
                        Some(device) => seen.push(format!("{friend}/{device}")),
                        None => {
                            for device in store.devices(&friend).await? {
                                seen.push(format!("{friend}/{device}"));
                            }
                        }
                    }
                }
                seen.sort();
                seen.dedup();
                for device in store.devices(&user).await? {
                    out.push_str(&format!("{user}-{device} {}\n", json!(seen)));
                }
            }
        }
        "keys" => {
            for key in store.secrets().await? {
                out.push_str(&format!("{}-{} ********\n", key.user, key.device));
            }
        }
        other => bail!("--dump {other:?} is not friends or keys"),
    }
    Ok(out)
}

/// `--load=friends` or `--load=keys` from `ocat`'s lines on standard input; blank lines and
/// `#` comments are skipped, and every line is checked before anything is stored.
async fn load(store: &pista_store::SqlStore, what: &str, input: &str) -> anyhow::Result<String> {
    if !matches!(what, "friends" | "keys") {
        bail!("--load {what:?} is not friends or keys");
    }
    // Every line is read and checked first: a mistake anywhere stores nothing.
    let users = store.users().await?;
    let mut entries = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |detail: String| anyhow!("line {}: {detail}", index + 1);
        let (name, value) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| at(format!("{line:?} is not `user-device VALUE`")))?;
        let key = device_of(store, &users, name).await.map_err(|e| at(e.to_string()))?;
        let value = value.trim();
        let entry = if what == "keys" {
            pista_core::crypto::Secret::new(value)
                .map_err(|_| at(format!("{key}: the key is empty")))?;
            Entry::Key(value.to_owned())
        } else {
            Entry::Friends(friends_of(&key, value).map_err(|e| at(e.to_string()))?)
        };
        entries.push((key, entry));
    }
    let now = pista_ingest::now();
    let mut stored = 0;
    for (key, entry) in &entries {
        match entry {
            Entry::Key(secret) => {
                store.set_secret(key, Some(secret), now).await?;
                stored += 1;
            }
            Entry::Friends(seen) => {
                for (user, device) in seen {
                    if store.add_friend(&key.user, user, Some(device)).await? {
                        stored += 1;
                    }
                }
            }
        }
    }
    Ok(format!("loaded {stored} {what} from {} lines\n", entries.len()))
}

/// A checked line of `--load`.
enum Entry {
    Key(String),
    Friends(Vec<(UserName, DeviceName)>),
}

/// The devices a friends line's JSON list names, other than the key's own user's (the Recorder
/// needed a device's own entry in its list; a user sees themselves).
fn friends_of(
    key: &pista_core::DeviceKey,
    value: &str,
) -> anyhow::Result<Vec<(UserName, DeviceName)>> {
    let seen: Vec<String> = serde_json::from_str(value)
        .map_err(|_| anyhow!("{key}: {value:?} is not a JSON list of \"user/device\""))?;
    let mut friends = Vec::new();
    for friend in seen {
        let (user, device) = friend
            .split_once('/')
            .ok_or_else(|| anyhow!("{key}: {friend:?} is not \"user/device\""))?;
        let user = UserName::parse(user).with_context(|| format!("{key}: {friend:?}"))?;
        let device = DeviceName::parse(device).with_context(|| format!("{key}: {friend:?}"))?;
        if user != key.user {
            friends.push((user, device));
        }
    }
    Ok(friends)
}

/// The device an `ocat` key `user-device` names. Names may hold `-` themselves, so each split
/// is tried: a device Pista knows wins; else the one split whose user exists.
async fn device_of(
    store: &pista_store::SqlStore,
    users: &[UserName],
    name: &str,
) -> anyhow::Result<pista_core::DeviceKey> {
    let splits: Vec<(&str, &str)> =
        name.match_indices('-').map(|(at, _)| (&name[..at], &name[at + 1..])).collect();
    let mut known_user = Vec::new();
    for (user, device) in &splits {
        let (Ok(user), Ok(device)) = (UserName::parse(user), DeviceName::parse(device)) else {
            continue;
        };
        if store.devices(&user).await?.contains(&device) {
            return Ok(pista_core::DeviceKey { user, device });
        }
        if users.contains(&user) {
            known_user.push(pista_core::DeviceKey { user, device });
        }
    }
    match known_user.len() {
        1 => Ok(known_user.remove(0)),
        0 if splits.is_empty() => bail!("{name:?} is not user-device"),
        0 => bail!("{name:?} names no user Pista knows (add the user first)"),
        _ => bail!("{name:?} could be read more than one way; add the device first"),
    }
}
