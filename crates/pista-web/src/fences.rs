//! Geofences and their alerts over HTTP: `GET /api/0/fences` lists every fence (from the apps'
//! regions, the configuration and this API); `POST /api/0/fences` creates a circle
//! (`{"name", "lat", "lon", "radius"}`) or a polygon (`{"name", "polygon": [[lat, lon], ...]}`),
//! optionally only for one user's devices (`"user"`) and with a `"webhook"`;
//! `PUT /api/0/fences/{id}` replaces one and `DELETE /api/0/fences/{id}` removes it (its retained
//! object too). `GET /api/0/alerts[?user=U&device=D&from=F&to=T&after=ID&before=ID&limit=N]`
//! lists the enter and leave events: the newest `limit` (500 unless given, 5,000 at most) in the
//! order they were recorded, oldest first; `after` and `before` page on from an alert's id.
//! Every change reaches the outputs stage at once. A user sees the fences that apply to their
//! devices only and the regions of devices they may see; they create, change and remove fences
//! for their own devices (`"user"` set to themselves), superusers any fence.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use pista_core::{DeviceKey, UserName};
use pista_derive::fence::Shape;
use pista_store::{AlertQuery, FenceSource, NewFence, StoredAlert, StoredFence};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let derived = derived(&state)?;
    let fences = derived.fences().await?;
    let now = pista_ingest::now();
    let shown = fences.iter().filter(|f| visible(&caller, f, now)).map(fence_json).collect();
    Ok(Json(Value::Array(shown)))
}

/// Whether the caller may see a fence: their own, a region of a device they may see, or any as
/// a superuser.
fn visible(caller: &Caller, fence: &StoredFence, now: i64) -> bool {
    may_see(caller, fence.owner.as_ref(), fence.user.as_ref(), now)
}

/// The rule of [`visible`] on a fence's owner (an app's region) and user (a server fence's),
/// which is also all a live `fence` event carries.
pub(crate) fn may_see(
    caller: &Caller,
    owner: Option<&DeviceKey>,
    user: Option<&UserName>,
    now: i64,
) -> bool {
    if caller.is_admin() {
        return true;
    }
    match (owner, user) {
        (Some(device), _) => caller.reads(device, now),
        (None, Some(user)) => caller.manages(user),
        (None, None) => false,
    }
}

/// Refuses a fence the caller may not change: one for everyone's devices needs a superuser.
fn may_change(caller: &Caller, user: Option<&UserName>) -> Result<(), ApiError> {
    match user {
        Some(user) => caller.require_manage(user),
        None => caller.require_admin("change fences that apply to everyone's devices"),
    }
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let fence = read_fence(&body)?;
    may_change(&caller, fence.user.as_ref())?;
    let id = derived(&state)?.add_fence(&fence, pista_ingest::now()).await?;
    changed(&state);
    Ok((StatusCode::CREATED, Json(json!({"id": id}))))
}

pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let fence = read_fence(&body)?;
    let derived = derived(&state)?;
    let existing = derived.fences().await?.into_iter().find(|f| f.id == id);
    let now = pista_ingest::now();
    match existing {
        Some(stored) if visible(&caller, &stored, now) => {
            may_change(&caller, stored.user.as_ref())?;
            editable(&stored)?;
        }
        _ => return Err(not_found(id)),
    }
    may_change(&caller, fence.user.as_ref())?;
    derived.update_fence(id, &fence, pista_ingest::now()).await?;
    changed(&state);
    Ok(Json(json!({"id": id})))
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let derived = derived(&state)?;
    let now = pista_ingest::now();
    // An app's region may be dropped here (until the app sends it again); a configured fence
    // would come back at the next start.
    let removed = match derived.fences().await?.into_iter().find(|f| f.id == id) {
        Some(stored) if visible(&caller, &stored, now) => {
            may_change(&caller, stored.user.as_ref())?;
            if stored.source == FenceSource::Config {
                editable(&stored)?;
            }
            Some(stored)
        }
        _ => None,
    };
    let Some(stored) = removed else { return Err(not_found(id)) };
    if !derived.remove_fence(id).await? {
        return Err(not_found(id));
    }
    if let Some(outputs) = &state.outputs {
        outputs.fence_deleted(stored);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The newest `limit` alerts the caller may see (by id, the order they were recorded in),
/// answered oldest first as `/api/0/locations` answers its newest `limit` points.
pub async fn alerts(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::new(query.as_deref())?;
    let mut query = alert_query(&params)?;
    let derived = derived(&state)?;
    let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
    let now = pista_ingest::now();

    // Alerts of devices the caller may not see are left out after the read, so a short page
    // is followed by the next until the page is full or the history ends.
    let mut shown = Vec::new();
    loop {
        let page = derived.alert_page(&query).await?;
        let full = page.len() as u64 == query.limit;
        query.before = page.last().map(|alert| alert.id);
        let visible = page.iter().filter(|a| caller.reads(&a.key, now));
        shown.extend(visible.take(limit - shown.len()).map(alert_json));
        if !full || shown.len() == limit {
            break;
        }
    }
    shown.reverse();
    Ok(Json(Value::Array(shown)))
}

/// The most alerts one answer holds, and how many without `limit`.
pub const ALERTS_MAX: u64 = 5000;
pub const ALERTS_DEFAULT: u64 = 500;

/// Reads `user`/`device`, `from`/`to` (as for `/api/0/locations`, on the fix time), `after` and
/// `before` (alert ids, for the next and the previous page) and `limit` (1 to [`ALERTS_MAX`]);
/// errors name the parameter and its value.
fn alert_query(params: &Params) -> Result<AlertQuery, ApiError> {
    let key = params.device_key()?;
    let (from, to) = params.range(&axum::http::HeaderMap::new())?;
    let id = |name: &str| {
        params
            .query(name)
            .map(|text| match text.parse::<i64>() {
                Ok(id) if id >= 0 => Ok(id),
                _ => Err(ApiError::bad_request(format!("{name} {text:?} is not an alert id"))),
            })
            .transpose()
    };
    let (after, before) = (id("after")?, id("before")?);
    let limit = match params.query("limit") {
        None => ALERTS_DEFAULT,
        Some(text) => match text.parse::<u64>() {
            Ok(limit @ 1..=ALERTS_MAX) => limit,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "limit {text:?} is not a whole number from 1 to {ALERTS_MAX}"
                )));
            }
        },
    };
    Ok(AlertQuery { key, from, to, after, before, limit })
}

fn derived(state: &AppState) -> Result<&dyn pista_store::DerivedStore, ApiError> {
    state
        .derived
        .as_deref()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_IMPLEMENTED, "fences are not available"))
}

fn changed(state: &AppState) {
    if let Some(outputs) = &state.outputs {
        outputs.fences_changed();
    }
}

/// Fences from an app or the configuration file are changed where they come from: an edit here
/// would be undone by the app's next waypoint message or the next start.
fn editable(fence: &StoredFence) -> Result<(), ApiError> {
    let id = fence.id;
    match fence.source {
        FenceSource::Api => Ok(()),
        FenceSource::App => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("fence {id} is a region of {}; change it in the app", owner(fence)),
        )),
        FenceSource::Config => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("fence {id} comes from the configuration file; change it there"),
        )),
    }
}

fn not_found(id: i64) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no fence {id}"))
}

fn owner(fence: &StoredFence) -> String {
    fence.owner.as_ref().map_or_else(|| "a device".to_owned(), ToString::to_string)
}

/// Reads and checks a fence body; errors name the field and the value.
fn read_fence(body: &[u8]) -> Result<NewFence, ApiError> {
    let object = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(ApiError::bad_request("a fence is a JSON object")),
        Err(error) => {
            return Err(ApiError::bad_request(format!("fence body is not JSON: {error}")));
        }
    };
    fence_from_object(&object, FenceSource::Api)
}

/// Checks a fence given as an object (an API body, or a `[[fence]]` of the configuration
/// file): `name`, then a circle (`lat`, `lon`, `radius` in metres) or a `polygon` of
/// `[lat, lon]` corners, and optionally `user` and `webhook`. Errors name the field and value.
pub fn fence_from_object(
    object: &Map<String, Value>,
    source: FenceSource,
) -> Result<NewFence, ApiError> {
    let known = ["name", "lat", "lon", "radius", "polygon", "user", "webhook"];
    if let Some(unknown) = object.keys().find(|key| !known.contains(&key.as_str())) {
        return Err(ApiError::bad_request(format!(
            "fence field {unknown:?} is unknown; fields: {}",
            known.join(", ")
        )));
    }
    let name = match object.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.trim().to_owned(),
        _ => return Err(ApiError::bad_request("fence name is required (a non-empty string)")),
    };
    let shape = read_shape(object)?;
    shape.validate().map_err(|error| ApiError::bad_request(error.to_string()))?;
    let user = match object.get("user") {
        None | Some(Value::Null) => None,
        Some(Value::String(user)) => {
            Some(UserName::parse(user).map_err(|e| ApiError::bad_request(e.to_string()))?)
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!("fence user {other} is not a name")));
        }
    };
    let webhook = match object.get("webhook") {
        None | Some(Value::Null) => None,
        Some(Value::String(url)) => Some(read_webhook(url)?),
        Some(other) => {
            return Err(ApiError::bad_request(format!("fence webhook {other} is not a URL")));
        }
    };
    let (lat, lon, radius, polygon) = match shape {
        Shape::Circle { lat, lon, radius } => (lat, lon, Some(radius), None),
        Shape::Polygon { points } => (points[0].0, points[0].1, None, Some(points)),
    };
    Ok(NewFence { source, user, name, lat, lon, radius, polygon, webhook })
}

fn read_shape(object: &Map<String, Value>) -> Result<Shape, ApiError> {
    if object.contains_key("polygon") && object.contains_key("radius") {
        return Err(ApiError::bad_request("a fence has a radius or a polygon, not both"));
    }
    if let Some(polygon) = object.get("polygon") {
        let corners = polygon.as_array().ok_or_else(|| {
            ApiError::bad_request(format!("fence polygon {polygon} is not an array of [lat, lon]"))
        })?;
        let mut points = Vec::with_capacity(corners.len());
        for corner in corners {
            match corner.as_array().map(Vec::as_slice) {
                Some([lat, lon]) if lat.is_number() && lon.is_number() => {
                    points
                        .push((lat.as_f64().unwrap_or(f64::NAN), lon.as_f64().unwrap_or(f64::NAN)));
                }
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "fence polygon corner {corner} is not [lat, lon]"
                    )));
                }
            }
        }
        return Ok(Shape::Polygon { points });
    }
    let number = |key: &str| match object.get(key) {
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| ApiError::bad_request(format!("fence {key} {n} is not a number"))),
        Some(other) => Err(ApiError::bad_request(format!("fence {key} {other} is not a number"))),
        None => Err(ApiError::bad_request(format!("fence {key} is required (or give a polygon)"))),
    };
    Ok(Shape::Circle { lat: number("lat")?, lon: number("lon")?, radius: number("radius")? })
}

/// An http(s) URL with a host, stored as the URL parser normalises it (so what is stored is
/// what is POSTed to); an error shows it with any password masked.
fn read_webhook(url: &str) -> Result<String, ApiError> {
    match url::Url::parse(url.trim()) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(parsed.to_string())
        }
        _ => {
            let shown = pista_ingest::mask_url(url);
            Err(ApiError::bad_request(format!("fence webhook {shown:?} is not an http(s) URL")))
        }
    }
}

fn fence_json(fence: &StoredFence) -> Value {
    let mut item = json!({
        "id": fence.id,
        "source": fence.source.as_str(),
        "name": fence.name,
        "user": fence.user.as_ref().map(ToString::to_string),
        "lat": fence.lat,
        "lon": fence.lon,
        "updated": pista_core::time::iso(fence.updated_at),
    });
    let map = item.as_object_mut().expect("built as an object");
    match (&fence.polygon, fence.radius) {
        (Some(points), _) => {
            let corners: Vec<Value> = points.iter().map(|(lat, lon)| json!([lat, lon])).collect();
            map.insert("polygon".into(), Value::Array(corners));
        }
        (None, radius) => {
            map.insert("radius".into(), json!(radius));
        }
    }
    if let Some(owner) = &fence.owner {
        map.insert(
            "owner".into(),
            json!({"user": owner.user.as_str(), "device": owner.device.as_str()}),
        );
        map.insert("wtst".into(), json!(fence.wtst));
    }
    if let Some(webhook) = &fence.webhook {
        // As in the delivery log: the password is never shown.
        map.insert("webhook".into(), json!(pista_ingest::mask_url(webhook)));
    }
    item
}

fn alert_json(alert: &StoredAlert) -> Value {
    let payload = serde_json::from_str::<Value>(&alert.payload).unwrap_or(Value::Null);
    json!({
        "id": alert.id,
        "user": alert.key.user.as_str(),
        "device": alert.key.device.as_str(),
        "fence": alert.fence_id,
        "event": alert.event,
        "tst": alert.tst,
        "isotst": pista_core::time::iso(alert.tst),
        "meters": alert.meters,
        "alert": payload,
    })
}
