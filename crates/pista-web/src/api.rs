//! The OwnTracks Recorder's read API (`/api/0/...`) with its response shapes: `version`,
//! `list` (`results` always present), `last` (an array, always) and `locations` (`count` and
//! `data` always present, points in time order, both bounds inclusive; every `format=` of the
//! Recorder and `fields=`, written by `pista_export::recorder`).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use pista_core::time::{display, iso, parse_bound};
use pista_core::{DeviceKey, DeviceName, UserName};
use pista_export::{Exporter, RecorderFormat, UnknownRecorderFormat};
use pista_store::{History, HistoryQuery, LocationQuery, StoreError};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::export::streamed;
use crate::params::Params;

/// The version reported by `/api/0/version` and in `locations` answers.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Without `from` (and without `limit`) the Recorder shows the last six hours.
const DEFAULT_WINDOW: i64 = 6 * 3600;

pub async fn version() -> Json<Value> {
    Json(json!({"version": VERSION, "git": format!("pista-{VERSION}")}))
}

/// Users; with `user`, that user's devices; with `device` too, that device if it exists.
/// Only what the caller may see is listed: a user appears when one of their devices may be seen.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::new(query.as_deref())?;
    let now = pista_ingest::now();
    let results: Vec<String> = match params.limited(&headers, "user")? {
        None if caller.is_admin() => {
            state.store.users().await?.iter().map(ToString::to_string).collect()
        }
        None => {
            let mut visible = Vec::new();
            for user in state.store.users().await? {
                let devices = state.store.devices(&user).await?;
                if devices
                    .into_iter()
                    .any(|device| caller.reads(&DeviceKey { user: user.clone(), device }, now))
                {
                    visible.push(user.to_string());
                }
            }
            visible
        }
        Some(user) => {
            let user = parse_user(user)?;
            let devices = state
                .store
                .devices(&user)
                .await?
                .into_iter()
                .filter(|device| {
                    caller.reads(&DeviceKey { user: user.clone(), device: device.clone() }, now)
                })
                .map(|d| d.to_string());
            match params.limited(&headers, "device")? {
                Some(device) => {
                    let device = parse_device(device)?.to_string();
                    devices.filter(|d| *d == device).collect()
                }
                None => devices.collect(),
            }
        }
    };

    Ok(Json(json!({"results": results})))
}

/// The newest location of every device, or of one user's devices, or of one device. With
/// `tzname` among the `fields`, a message without one answers the zone of its position.
pub async fn last(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::new(query.as_deref())?;
    let (user, device) = user_and_device(&params, &headers)?;
    let mut items = last_items(&state, &caller, user.as_ref(), device.as_ref()).await?;
    let fields = fields(&params, &headers)?;
    if fields.as_ref().is_some_and(|fields| fields.iter().any(|name| name == "tzname")) {
        items = with_zones(items).await?;
    }
    if let Some(fields) = fields {
        for item in &mut items {
            if let Value::Object(map) = item {
                *map =
                    fields.iter().filter_map(|n| Some((n.clone(), map.get(n)?.clone()))).collect();
            }
        }
    }
    Ok(Json(Value::Array(items)))
}

/// Gives every item without a `tzname` the zone of its position ([`pista_geo::zone_at`]), off
/// the runtime's threads (the first lookup reads the zone polygons). Only asked for by name
/// (`fields=tzname`), so the Recorder's answers keep their shape.
async fn with_zones(mut items: Vec<Value>) -> Result<Vec<Value>, ApiError> {
    let filled = tokio::task::spawn_blocking(move || {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            let (Some(lat), Some(lon)) = (item["lat"].as_f64(), item["lon"].as_f64()) else {
                continue;
            };
            if !item.contains_key("tzname")
                && let Some(zone) = pista_geo::zone_at(lat, lon)
            {
                item.insert("tzname".into(), zone.into());
            }
        }
        items
    });
    filled.await.map_err(|error| {
        tracing::error!(%error, "time zone lookup failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "time zone lookup failed")
    })
}

/// The `user` and `device` filter of `last` and the live socket (`X-Limit-*` headers first).
pub(crate) fn user_and_device(
    params: &Params,
    headers: &HeaderMap,
) -> Result<(Option<UserName>, Option<DeviceName>), ApiError> {
    let user = params.limited(headers, "user")?.map(parse_user).transpose()?;
    let device = params.limited(headers, "device")?.map(parse_device).transpose()?;
    Ok((user, device))
}

/// The newest location of each device the caller may see (of `user`, of `device`), as `last`
/// answers them: from memory ([`crate::last`]), with the geohash cell (`ghash`) and, where the
/// message has none, the card's `name` and `face` and the address (`cc`, `addr`).
pub(crate) async fn last_items(
    state: &AppState,
    caller: &Caller,
    user: Option<&UserName>,
    device: Option<&DeviceName>,
) -> Result<Vec<Value>, ApiError> {
    let entries = state.last.entries(state.store.as_ref()).await?;
    let now = pista_ingest::now();
    Ok(entries
        .values()
        .filter(|entry| user.is_none_or(|user| entry.last.key.user == *user))
        .filter(|entry| device.is_none_or(|device| entry.last.key.device == *device))
        .filter(|entry| caller.reads(&entry.last.key, now))
        .map(|entry| crate::last::item(entry, state.geo_precision))
        .collect())
}

/// A location as `last` and the live socket show it: the stored message, `topic`, `username`,
/// `device`, and the times `isorcv` (arrival), `isotst` and `disptst` (fix, from its `tst`).
pub fn live_item(
    mut item: Map<String, Value>,
    topic: &str,
    key: &DeviceKey,
    received_at: i64,
) -> Value {
    item.insert("topic".into(), topic.into());
    item.insert("username".into(), key.user.to_string().into());
    item.insert("device".into(), key.device.to_string().into());
    item.insert("isorcv".into(), iso(received_at).into());
    if let Some(tst) = item.get("tst").and_then(Value::as_i64) {
        item.insert("isotst".into(), iso(tst).into());
        item.insert("disptst".into(), display(tst).into());
    }
    Value::Object(item)
}

/// One device's locations between `from` and `to` (inclusive), oldest first; with `limit`, the
/// newest `limit` of them. Streamed page by page: the count is read first, then the points.
/// A device the caller may not see answers as one that does not exist: empty.
pub async fn locations(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::new(query.as_deref())?;
    let now = pista_ingest::now();
    let query = location_query(&params, &headers, now)?;
    let format = match params.query("format") {
        Some(name) => {
            name.parse().map_err(|e: UnknownRecorderFormat| ApiError::bad_request(e.to_string()))?
        }
        None => RecorderFormat::Json,
    };
    let fields = fields(&params, &headers)?;
    let content_type = format.content_type();
    if !caller.reads(&query.key, now) {
        let exporter = Exporter::recorder(format, 0, VERSION, fields);
        let chunks = pista_export::stream(exporter, futures::stream::empty().boxed());
        return Ok(streamed(chunks, content_type, None));
    }

    let history = HistoryQuery {
        from: query.from,
        to: query.to,
        limit: query.limit,
        count: true,
        columns: format.columns(),
        ..HistoryQuery::new(query.key.user, Some(query.key.device))
    };
    let history = match state.store.history(&history).await {
        Ok(history) => history,
        // The Recorder answers an empty list for a device it never heard of.
        Err(StoreError::UnknownUser { .. } | StoreError::UnknownDevice { .. }) => {
            History::new(Some(0), futures::stream::empty().boxed())
        }
        Err(error) => return Err(error.into()),
    };
    let exporter = Exporter::recorder(format, history.count.unwrap_or(0), VERSION, fields);
    Ok(streamed(exporter.written(history), content_type, None))
}

/// `fields=a,b`: the members to keep, in that order, names as given (case kept).
fn fields(params: &Params, headers: &HeaderMap) -> Result<Option<Vec<String>>, ApiError> {
    let Some(list) = params.limited(headers, "fields")? else { return Ok(None) };
    let names: Vec<String> =
        list.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect();
    Ok(Some(names).filter(|names| !names.is_empty()))
}

fn location_query(
    params: &Params,
    headers: &HeaderMap,
    now: i64,
) -> Result<LocationQuery, ApiError> {
    let (Some(user), Some(device)) =
        (params.limited(headers, "user")?, params.limited(headers, "device")?)
    else {
        return Err(ApiError::unsatisfiable("user and device are required"));
    };
    let key = DeviceKey { user: parse_user(user)?, device: parse_device(device)? };

    let limit = params.query("limit").map(parse_limit).transpose()?;

    let bound = |name: &str| -> Result<Option<i64>, ApiError> {
        params
            .limited(headers, name)?
            .map(|text| {
                parse_bound(text).map_err(|e| ApiError::unsatisfiable(format!("{name}: {e}")))
            })
            .transpose()
    };
    let to = bound("to")?;
    let from = match bound("from")? {
        Some(from) => Some(from),
        None if limit.is_some() => None,
        None => Some(to.unwrap_or(now) - DEFAULT_WINDOW),
    };
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ApiError::unsatisfiable(format!(
            "impossible date/time range: from {} is after to {}",
            iso(from),
            iso(to)
        )));
    }

    Ok(LocationQuery { key, from, to, limit })
}

fn parse_limit(text: &str) -> Result<u64, ApiError> {
    // Databases count rows in signed 64 bits.
    match text.parse::<i64>() {
        Ok(limit) if limit >= 0 => Ok(limit.unsigned_abs()),
        _ => Err(ApiError::bad_request(format!(
            "limit {text:?} is not a whole number from 0 to {}",
            i64::MAX
        ))),
    }
}

pub(crate) fn parse_user(text: &str) -> Result<UserName, ApiError> {
    UserName::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))
}

pub(crate) fn parse_device(text: &str) -> Result<DeviceName, ApiError> {
    DeviceName::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Any other `/api/0/...` verb.
pub async fn unknown(Path(verb): Path<String>) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "unknown API call {verb:?}; known: version, list, last, locations, track, q, photo, kill, export, \
             messages, transitions, waypoints, state, cards, inventory, odometer, map, jobs, \
             fences, \
             alerts, live, webhooks, quarantine, cmd, monitor, deletions, retention, login, \
             logout, me, tokens, users, acls, groups, shares"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> Result<LocationQuery, String> {
        let params = Params::new(Some(text)).map_err(|e| e.message)?;
        location_query(&params, &HeaderMap::new(), 1_700_000_000).map_err(|e| e.message)
    }

    #[test]
    fn location_parameters_follow_the_recorder_with_fixes() {
        let q = query("user=Jane&device=phone&from=2023-11-14&to=2023-11-15").unwrap();
        assert_eq!(
            (q.key.to_string(), q.from, q.to, q.limit),
            ("jane/phone".into(), Some(1699920000), Some(1700006400), None)
        );
        let q = query("USER=jane&Device=phone").unwrap();
        assert_eq!((q.from, q.to), (Some(1_700_000_000 - 6 * 3600), None));
        let q = query("user=jane&device=phone&limit=1").unwrap();
        assert_eq!((q.from, q.to, q.limit), (None, None, Some(1)));
    }

    #[test]
    fn bad_location_parameters_are_named() {
        let cases = [
            ("user=jane", "user and device are required"),
            (
                "user=jane&device=p&limit=x",
                "limit \"x\" is not a whole number from 0 to 9223372036854775807",
            ),
            (
                "user=jane&device=p&limit=9223372036854775808",
                "limit \"9223372036854775808\" is not a whole number from 0 to 9223372036854775807",
            ),
            (
                "user=jane&device=p&limit=-1",
                "limit \"-1\" is not a whole number from 0 to 9223372036854775807",
            ),
            (
                "user=jane&device=p&from=2023-11-15&to=2023-11-14",
                "impossible date/time range: from 2023-11-15T00:00:00Z is after to 2023-11-14T00:00:00Z",
            ),
            (
                "user=jane&device=p&from=soon",
                "from: \"soon\" is not a time; use YYYY-MM-DDTHH:MM:SS (UTC), YYYY-MM-DD, YYYY-MM, an RFC 3339 time with offset, or epoch seconds",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(query(text).unwrap_err(), want, "{text}");
        }
    }
}
