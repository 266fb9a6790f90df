//! The rest of the Recorder's API: `q` (the cached address of a position's geohash cell),
//! `photo` (a card's picture), `kill` (everything of one device, deleted), and its habit of
//! taking parameters from a form body as well as from the query (`POST /api/0/last` with
//! `user=jane`), which [`form_as_query`] turns into the query the handlers read.
//!
//! Unlike the Recorder's: `q` answers superusers only (the cache holds the addresses of places
//! anyone's devices have been), `photo` finds the card the app sent (device card first, then the
//! user's; its bug T7), and `kill` is a deletion by the rules (the owner or a superuser, names
//! checked, nothing outside the device's own data; its bug T14), which a browser session must
//! ask for with `POST` or `DELETE` (a link or image cannot delete).

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use pista_core::{DeviceKey, DeviceName};
use pista_store::{DeletedBy, Selector, Span};
use serde_json::{Value, json};

use crate::AppState;
use crate::api::{parse_device, parse_user};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;

/// The picture `photo` answers when there is none: 40×40, transparent, a black border.
const NO_PHOTO: &[u8] = include_bytes!("no-photo.png");

/// The Recorder's read verbs, whose parameters may come in a form body (`kill` reads only its
/// query: a change is never made from a form).
const FORM_VERBS: [&str; 6] = [
    "/api/0/version",
    "/api/0/list",
    "/api/0/last",
    "/api/0/locations",
    "/api/0/q",
    "/api/0/photo",
];

/// Largest form body read as parameters.
const MAX_FORM: usize = 64 * 1024;

/// `POST` with an `application/x-www-form-urlencoded` body to one of the Recorder's read verbs
/// is answered as a `GET` whose query is the request's query, then the body (a name in both is
/// taken from the query, as the Recorder does). These verbs only read, so the CSRF check that
/// a browser session's `POST` would need does not apply.
pub async fn form_as_query(request: Request, next: Next) -> Response {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if request.method() != Method::POST || !is_form || !FORM_VERBS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_FORM).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("form parameters are limited to {MAX_FORM} bytes"),
            )
            .into_response();
        }
    };
    let Ok(form) = std::str::from_utf8(&bytes) else {
        return ApiError::bad_request("the form body is not UTF-8").into_response();
    };
    let query = match parts.uri.query() {
        Some(query) if !form.is_empty() => format!("{query}&{form}"),
        Some(query) => query.to_owned(),
        None => form.to_owned(),
    };
    let uri = format!("{}?{query}", parts.uri.path());
    match uri.parse() {
        Ok(uri) => parts.uri = uri,
        Err(_) => return ApiError::bad_request("the form body is not a query").into_response(),
    }
    parts.method = Method::GET;
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    next.run(Request::from_parts(parts, Body::empty())).await
}

/// `q?lat=..&lon=..`: the cached address of the position's cell, `{}` when none is cached.
pub async fn q(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin("look up the address cache")?;
    let params = Params::new(query.as_deref())?;
    let coordinate = |name: &str| -> Result<f64, ApiError> {
        let text = params
            .limited(&headers, name)?
            .ok_or_else(|| ApiError::bad_request("lat and lon are required"))?;
        text.parse().map_err(|_| ApiError::bad_request(format!("{name} {text:?} is not a number")))
    };
    let (lat, lon) = (coordinate("lat")?, coordinate("lon")?);
    let cell = pista_geo::cell(lat, lon, state.geo_precision)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let derived = state.derived.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_IMPLEMENTED, "this server keeps no address cache")
    })?;
    let Some(found) = derived.geo_cell(&cell).await? else { return Ok(Json(json!({}))) };
    let mut answer = json!({"ghash": cell});
    for (name, value) in [("cc", found.cc), ("addr", found.addr)] {
        if let Some(value) = value {
            answer[name] = value.into();
        }
    }
    Ok(Json(answer))
}

/// `photo/?user=U[&device=D]`: the picture of the device's card, else of the user's card, else
/// of a card of any of their devices the caller may see; else a placeholder. Cards the caller
/// may not see are never shown.
pub async fn photo(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::new(query.as_deref())?;
    let user = params
        .limited(&headers, "user")?
        .ok_or_else(|| ApiError::unsatisfiable("missing username"))?;
    let user = parse_user(user)?;
    let device = params.limited(&headers, "device")?.map(parse_device).transpose()?;
    let now = pista_ingest::now();
    let readable = |device: &str| {
        DeviceName::parse(device)
            .is_ok_and(|device| caller.reads(&DeviceKey { user: user.clone(), device }, now))
    };
    let mut seen_any = caller.is_admin();
    if !seen_any {
        for name in state.store.devices(&user).await? {
            seen_any |= readable(name.as_str());
        }
    }
    let cards = state.store.cards(Some(&user)).await?;
    let rank = |card: &pista_store::StoredCard| match (&card.device, &device) {
        (Some(of), Some(wanted)) if of == wanted.as_str() && readable(of) => Some(0),
        (None, _) if seen_any => Some(1),
        (Some(of), _) if readable(of) => Some(2),
        _ => None,
    };
    let picture = cards
        .iter()
        .filter_map(|card| Some((rank(card)?, card.face.as_deref()?)))
        .min_by_key(|(rank, _)| *rank)
        .and_then(|(_, face)| base64::engine::general_purpose::STANDARD.decode(face.trim()).ok());
    let (bytes, media) = match picture {
        Some(bytes) if bytes.starts_with(b"\x89PNG") => (bytes, "image/png"),
        Some(bytes) if bytes.starts_with(b"\xff\xd8") => (bytes, "image/jpeg"),
        _ => (NO_PHOTO.to_vec(), "image/png"),
    };
    Ok(([(header::CONTENT_TYPE, media), (header::CACHE_CONTROL, "private, max-age=60")], bytes)
        .into_response())
}

/// `kill?user=U&device=D`: deletes everything of the device (its history, messages, card,
/// waypoints, its registry row), by the owner or a superuser.
pub async fn kill(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    // HEAD is for link checkers and prefetchers: it never deletes.
    if method == Method::HEAD {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "kill deletes: use POST or DELETE",
        ));
    }
    if method == Method::GET && caller.session().is_some() {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "a browser session deletes with POST or DELETE (with its CSRF token), not GET",
        ));
    }
    let params = Params::new(query.as_deref())?;
    let (Some(user), Some(device)) =
        (params.limited(&headers, "user")?, params.limited(&headers, "device")?)
    else {
        return Err(ApiError::unsatisfiable("user and device are required"));
    };
    let key = DeviceKey::parse(user, device).map_err(|e| ApiError::bad_request(e.to_string()))?;
    caller.require_manage(&key.user)?;
    if !state.store.devices(&key.user).await?.contains(&key.device) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("unknown device {key}")));
    }
    let retention = state
        .retention
        .as_ref()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_IMPLEMENTED, "this server cannot delete"))?;
    let selector =
        Selector { user: key.user.clone(), device: Some(key.device.clone()), span: Span::All };
    let deleted = retention.delete(&selector, DeletedBy::Api).await?;
    state.last.forget().await;
    Ok(Json(json!({
        "status": "OK",
        "user": key.user.as_str(),
        "device": key.device.as_str(),
        "deleted": deleted.counts,
        "total": deleted.total(),
        "log": deleted.log_id,
    })))
}
