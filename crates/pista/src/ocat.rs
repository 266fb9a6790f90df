//! `pista ocat`: the OwnTracks Recorder's `ocat` for scripts, reading the database directly
//! (no running server): `--list` (users; a user's devices), `--last` (the newest location of
//! each device, as JSON, CSV or XML), and a device's locations between `--from` and `--to` in the
//! Recorder's formats (`json` as `{"count":N,"locations":[...]}`, `csv`, `geojson`,
//! `geojsonpoi`, `linestring`, `gpx`, `xml`, and `raw` `.rec` lines or each stored `payload` on
//! a line). `OCAT_USERNAME`, `OCAT_DEVICE` and `OCAT_FORMAT` are read as `ocat` reads them.
//!
//! `--dump=friends|keys|cards` and `--load=friends|keys|cards` speak `ocat`'s lines,
//! `user-device VALUE`: for friends a JSON list of the `user/device`s that device sees, for keys
//! its secret (dumped masked: they are not shown again once stored), for cards the card's JSON
//! (a user's own card keyed by the user alone). A Recorder's dumps load into Pista: Pista's
//! friends are per user, so a device's list becomes its user's.
//!
//! Where `ocat` was wrong this is not: `--limit` reaches across months (its bug T1), points
//! come in fix order, and `--dump=friends` shows what is there (its bug T8).

use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use clap::ArgMatches;
use futures::StreamExt;
use pista_core::time::{iso, parse_bound};
use pista_core::{DeviceName, UserName};
use pista_export::{Exporter, Format, RecorderFormat, Subject};
use pista_store::{HistoryPoint, HistoryQuery, Storage};
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
    let (settings, store) = open(args).await?;

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
    let fields = text("fields")
        .filter(|f| *f != "ALL")
        .map(|list| -> Vec<String> {
            list.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect()
        })
        .filter(|fields| !fields.is_empty());
    if args.get_flag("last") {
        let precision = settings.geocode_precision;
        return last(&store, user.as_ref(), device.as_ref(), text("format"), fields, precision)
            .await;
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
    let subject = Subject { user: user.clone(), device: Some(device.clone()) };
    let mut query =
        HistoryQuery { from, to, limit, count: true, ..HistoryQuery::new(user, Some(device)) };
    let history = match format {
        OcatFormat::Recorder(format) => {
            query.columns = format.columns();
            let history = store.history(&query).await?;
            let count = history.count.unwrap_or(0);
            (Exporter::ocat(format, count, fields), history)
        }
        OcatFormat::Raw => {
            let exporter = Exporter::new(Format::Rec, &subject)?;
            query.columns = exporter.columns();
            (exporter, store.history(&query).await?)
        }
        OcatFormat::Payload => {
            let exporter = Exporter::payloads();
            query.columns = exporter.columns();
            (exporter, store.history(&query).await?)
        }
    };
    let (exporter, history) = history;
    let chunks = exporter.written(history);
    crate::export::write_stdout(chunks).await?;
    Ok(String::new())
}

/// `--last`: the items `/api/0/last` shows (`ghash` at `precision`, the card's name and face),
/// straight from the store, as a JSON array or in the Recorder's CSV or XML; `fields` keeps
/// those members.
async fn last(
    store: &pista_store::SqlStore,
    user: Option<&UserName>,
    device: Option<&DeviceName>,
    format: Option<&str>,
    fields: Option<Vec<String>>,
    precision: usize,
) -> anyhow::Result<String> {
    let format = match format.map(OcatFormat::parse).transpose()? {
        None => RecorderFormat::Json,
        Some(OcatFormat::Recorder(
            format @ (RecorderFormat::Json | RecorderFormat::Csv | RecorderFormat::Xml),
        )) => format,
        Some(_) => bail!("--last writes json, csv or xml, not --format {:?}", format.unwrap_or("")),
    };
    let entries = pista_web::last::load(store, user, device).await?;
    let items = entries.into_values().map(|entry| {
        let item = pista_web::last::item(&entry, precision);
        (entry.last.key, entry.last.location, item)
    });
    if format == RecorderFormat::Json {
        let items: Vec<Value> = items
            .map(|(_, _, item)| match (&fields, item) {
                (Some(fields), Value::Object(map)) => Value::Object(
                    fields.iter().filter_map(|n| Some((n.clone(), map.get(n)?.clone()))).collect(),
                ),
                (_, item) => item,
            })
            .collect();
        return Ok(format!("{}\n", Value::Array(items)));
    }
    // The CSV and XML writers take history points: each carries the item as its message.
    let points: Vec<HistoryPoint> = items
        .map(|(key, mut location, item)| {
            if let Value::Object(map) = item {
                location.json = map;
            }
            HistoryPoint::of_location(Arc::new(key), &location)
        })
        .collect();
    let exporter = Exporter::ocat(format, points.len() as u64, fields);
    let chunks = pista_export::stream(exporter, futures::stream::iter([Ok(points)]).boxed());
    crate::export::write_stdout(chunks).await?;
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
        "cards" => {
            // A user's own card (for devices without one) is keyed by the user alone.
            for card in store.cards(None).await? {
                let key = match &card.device {
                    Some(device) => format!("{}-{device}", card.user),
                    None => card.user.clone(),
                };
                let mut value = serde_json::Map::new();
                value.insert("_type".into(), "card".into());
                let members = [("name", &card.name), ("face", &card.face), ("tid", &card.tid)];
                for (name, member) in members {
                    if let Some(member) = member {
                        value.insert(name.into(), member.clone().into());
                    }
                }
                out.push_str(&format!("{key} {}\n", Value::Object(value)));
            }
        }
        other => bail!("--dump {other:?} is not friends, keys or cards"),
    }
    Ok(out)
}

/// `--load=friends` or `--load=keys` from `ocat`'s lines on standard input; blank lines and
/// `#` comments are skipped, and every line is checked before anything is stored.
async fn load(store: &pista_store::SqlStore, what: &str, input: &str) -> anyhow::Result<String> {
    if !matches!(what, "friends" | "keys" | "cards") {
        bail!("--load {what:?} is not friends, keys or cards");
    }
    // Every line is read and checked first: a mistake anywhere stores nothing. Users are those
    // with devices and those with an account (a phone's key is loaded before it first sends).
    let mut users = store.users().await?;
    for account in pista_store::AccountStore::accounts(store).await? {
        if !users.contains(&account.name) {
            users.push(account.name);
        }
    }
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
        let value = value.trim();
        // As in ocat, the value DELETE deletes (keys and cards).
        let delete = value == "DELETE";
        if delete && what == "friends" {
            bail!(at(format!(
                "{name}: DELETE is not taken for friends (Pista's friends are per user: \
                 `pista friend del`)"
            )));
        }
        // A card line may name a user alone: that user's card.
        if what == "cards"
            && let Some(user) = users.iter().find(|user| user.as_str() == name)
        {
            let entry = match delete {
                true => Entry::Uncard,
                false => Entry::Card(card_of(name, value).map_err(|e| at(e.to_string()))?),
            };
            entries.push((Owner::User(user.clone()), entry));
            continue;
        }
        let key = device_of(store, &users, name).await.map_err(|e| at(e.to_string()))?;
        let entry = if delete {
            if what == "cards" { Entry::Uncard } else { Entry::Unkey }
        } else if what == "cards" {
            Entry::Card(card_of(name, value).map_err(|e| at(e.to_string()))?)
        } else if what == "keys" {
            pista_core::crypto::Secret::new(value)
                .map_err(|_| at(format!("{key}: the key is empty")))?;
            Entry::Key(value.to_owned())
        } else {
            Entry::Friends(friends_of(&key, value).map_err(|e| at(e.to_string()))?)
        };
        entries.push((Owner::Device(key), entry));
    }
    let now = pista_ingest::now();
    let mut stored = 0;
    for (owner, entry) in &entries {
        match (owner, entry) {
            (Owner::Device(key), Entry::Key(secret)) => {
                store.set_secret(key, Some(secret), now).await?;
                stored += 1;
            }
            (Owner::Device(key), Entry::Friends(seen)) => {
                for (user, device) in seen {
                    if store.add_friend(&key.user, user, Some(device)).await? {
                        stored += 1;
                    }
                }
            }
            (Owner::Device(key), Entry::Unkey) => {
                store.set_secret(key, None, now).await?;
                stored += 1;
            }
            (owner, Entry::Card(card)) => {
                let (user, device) = owner.parts();
                store.set_card(user, device, card, now).await?;
                stored += 1;
            }
            (owner, Entry::Uncard) => {
                let (user, device) = owner.parts();
                if store.remove_card(user, device).await? {
                    stored += 1;
                }
            }
            (Owner::User(user), _) => bail!("{user}: only a card is kept for a user alone"),
        }
    }
    Ok(format!("loaded {stored} {what} from {} lines\n", entries.len()))
}

/// A checked line of `--load`.
enum Entry {
    Key(String),
    Friends(Vec<(UserName, DeviceName)>),
    Card(pista_core::Card),
    /// `DELETE` on a keys line.
    Unkey,
    /// `DELETE` on a cards line.
    Uncard,
}

/// Whose a `--load` line is: a device's, or (cards only) a user's as a whole.
enum Owner {
    Device(pista_core::DeviceKey),
    User(UserName),
}

impl Owner {
    /// The user, and the device unless the line is the user's as a whole.
    fn parts(&self) -> (&UserName, Option<&DeviceName>) {
        match self {
            Owner::Device(key) => (&key.user, Some(&key.device)),
            Owner::User(user) => (user, None),
        }
    }
}

/// A card line's value: a JSON object with a `name` and or a `face` (base64 image data), an
/// optional `tid`, and `_type` `card` if it has one.
fn card_of(name: &str, value: &str) -> anyhow::Result<pista_core::Card> {
    use base64::Engine;
    let Ok(Value::Object(card)) = serde_json::from_str::<Value>(value) else {
        bail!("{name}: {value:?} is not a JSON object");
    };
    if let Some(kind) = card.get("_type").filter(|kind| *kind != "card") {
        bail!("{name}: _type {kind} is not \"card\"");
    }
    let text = |member: &str| -> anyhow::Result<Option<String>> {
        match card.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => {
                bail!("{name}: {member} is empty")
            }
            Some(Value::String(text)) if text.chars().any(char::is_control) => {
                bail!("{name}: {member} {text:?} holds a control character")
            }
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => bail!("{name}: {member} {other} is not a text"),
        }
    };
    let (name_text, face, tid) = (text("name")?, text("face")?, text("tid")?);
    if let Some(face) = &face
        && base64::engine::general_purpose::STANDARD.decode(face.trim()).is_err()
    {
        bail!("{name}: the face is not base64 image data");
    }
    if name_text.is_none() && face.is_none() {
        bail!("{name}: a card needs a name or a face");
    }
    Ok(pista_core::Card { name: name_text, face, tid })
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
