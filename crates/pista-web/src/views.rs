//! The Recorder's views: share links to one device's track in a window of time, defined by JSON
//! files in a directory (`http.views_dir`). `GET /view/NAME` reads `NAME.json` (`user`,
//! `device`, `page`, and `from`/`to` or `hours`, `label`, anything else) and serves its `page`
//! (an HTML file in the same directory) with `@@@GEO@@@`, `@@@LASTPOS@@@` and `@@@LABEL@@@`
//! replaced; `?geodata=1` answers the window's track as a GeoJSON line string and `?lastpos=1`
//! the newest point in it, with the view's members and the device's card. A name that is no
//! view there but a tour's uuid is that tour (see `tours`).
//!
//! A view is open to whoever has the link, unless its `auth` lists HA1 digests
//! (`md5(user:owntracks-recorder:password)`, as `htdigest` makes them): then HTTP Digest is
//! asked for. Unlike the Recorder's, the nonces are checked (signed, for five minutes), the
//! definitions are never served as files, and names and pages cannot leave the directory.

use std::path::Path;
use std::sync::LazyLock;

use axum::extract::{Path as UrlPath, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::StreamExt;
use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};
use pista_core::time::parse_bound;
use pista_core::tour::TourId;
use pista_core::{DeviceName, UserName};
use pista_export::{Exporter, RecorderFormat};
use pista_store::{HistoryColumns, HistoryQuery};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::params::Params;

/// The realm of the Recorder's views, part of every HA1.
const REALM: &str = "owntracks-recorder";

/// How long a nonce is good for, in seconds.
const NONCE_LIFE: i64 = 300;

/// The key nonces are signed with: new at every start (a restart asks browsers again).
static NONCE_KEY: LazyLock<[u8; 32]> = LazyLock::new(|| {
    let mut key = [0u8; 32];
    // Without randomness the views still work; their nonces are then only timestamped.
    let _ = getrandom::fill(&mut key);
    key
});

/// A view definition (also what a tour shows, see `tours`).
pub(crate) struct View {
    pub user: UserName,
    pub device: DeviceName,
    pub page: String,
    pub from: i64,
    pub to: i64,
    pub label: String,
    /// The HA1 digests that may see it; empty: anyone with the link.
    pub auth: Vec<String>,
    /// Every member but `auth`, for `lastpos`.
    pub members: Map<String, Value>,
}

pub async fn view(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    // A view of the directory keeps its name; any other name that is a uuid is a tour's.
    if let Ok(uuid) = TourId::parse(&name)
        && !defined(state.views_dir.as_deref(), &name).await
    {
        return crate::tours::tour(&state, &uuid, query.as_deref()).await;
    }
    let dir = state
        .views_dir
        .as_deref()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "views are off (http.views_dir)"))?;
    let name = name.strip_suffix(".json").unwrap_or(&name);
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || name.starts_with('.')
    {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "View not found"));
    }
    let view = read_view(dir, name, pista_ingest::now()).await?;
    if !view.auth.is_empty() {
        let uri = request.uri().path_and_query().map_or("", |p| p.as_str());
        if let Err(Stale(stale)) =
            check_digest(request.headers(), request.method().as_str(), uri, &view)
        {
            return Ok(challenge(stale));
        }
    }
    let params = Params::new(query.as_deref())?;
    if params.query("geodata").is_some_and(|v| v == "1") {
        return geodata(&state, &view).await;
    }
    if params.query("lastpos").is_some_and(|v| v == "1") {
        return lastpos(&state, &view).await;
    }
    let page = tokio::fs::read_to_string(dir.join(&view.page))
        .await
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "Cannot open view page"))?;
    let html: String = page
        .lines()
        .map(|line| {
            line.replacen("@@@GEO@@@", &format!("{name}?geodata=1"), 1)
                .replacen("@@@LASTPOS@@@", &format!("{name}?lastpos=1"), 1)
                .replacen("@@@LABEL@@@", &html_escape(&view.label), 1)
                + "\n"
        })
        .collect();
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

/// Whether the views directory defines the view `name`.
async fn defined(dir: Option<&Path>, name: &str) -> bool {
    match dir {
        Some(dir) => tokio::fs::try_exists(dir.join(format!("{name}.json"))).await.unwrap_or(false),
        None => false,
    }
}

async fn read_view(dir: &Path, name: &str, now: i64) -> Result<View, ApiError> {
    let text = tokio::fs::read_to_string(dir.join(format!("{name}.json")))
        .await
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "View not found"))?;
    let broken = |what: &str| {
        tracing::warn!(view = name, what, "view definition not usable");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("view {name}: {what}"))
    };
    let Ok(Value::Object(mut members)) = serde_json::from_str::<Value>(&text) else {
        return Err(broken("not a JSON object"));
    };
    let text_of = |key: &str| members.get(key).and_then(Value::as_str).map(str::to_owned);
    let user = text_of("user").and_then(|u| UserName::parse(&u).ok());
    let device = text_of("device").and_then(|d| DeviceName::parse(&d).ok());
    let (Some(user), Some(device)) = (user, device) else {
        return Err(broken("user and device are required"));
    };
    let page = text_of("page")
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "no page in view"))?;
    if page.contains(['/', '\\']) || page.starts_with('.') || page.ends_with(".json") {
        return Err(broken("page must be a file name in the views directory"));
    }
    let impossible = || ApiError::unsatisfiable("impossible date/time ranges");
    let bound = |key: &str| -> Result<Option<i64>, ApiError> {
        text_of(key).map(|t| parse_bound(&t).map_err(|_| impossible())).transpose()
    };
    let (from, to) = match members.get("hours").and_then(Value::as_f64) {
        Some(hours) if hours > 0.0 => (now - (hours * 3600.0) as i64, now),
        Some(_) => return Err(impossible()),
        None => (bound("from")?.unwrap_or(now - 6 * 3600), bound("to")?.unwrap_or(now)),
    };
    if from > to {
        return Err(impossible());
    }
    let label = text_of("label").unwrap_or_default();
    let auth = match members.remove("auth") {
        None => Vec::new(),
        Some(Value::Array(list)) => {
            list.iter().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect()
        }
        Some(_) => return Err(broken("auth must be a list of HA1 digests")),
    };
    Ok(View { user, device, page, from, to, label, auth, members })
}

pub(crate) fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The window's track as one GeoJSON line string.
pub(crate) async fn geodata(state: &AppState, view: &View) -> Result<Response, ApiError> {
    let exporter = Exporter::recorder(RecorderFormat::LineString, 0, crate::api::VERSION, None);
    let query = HistoryQuery {
        from: Some(view.from),
        to: Some(view.to),
        columns: exporter.columns(),
        ..HistoryQuery::new(view.user.clone(), Some(view.device.clone()))
    };
    let pages = match state.store.history(&query).await {
        Ok(history) => history.pages,
        Err(_) => futures::stream::empty().boxed(),
    };
    let chunks = pista_export::stream(exporter, pages);
    Ok(crate::export::streamed(chunks, RecorderFormat::LineString.content_type(), None))
}

/// `{"data":[the newest point in the window, with the view's members and the card]}`.
pub(crate) async fn lastpos(state: &AppState, view: &View) -> Result<Response, ApiError> {
    let query = HistoryQuery {
        from: Some(view.from),
        to: Some(view.to),
        limit: Some(1),
        columns: HistoryColumns::MessageAndAddress,
        ..HistoryQuery::new(view.user.clone(), Some(view.device.clone()))
    };
    let mut points = Vec::new();
    if let Ok(history) = state.store.history(&query).await {
        let mut pages = history.pages;
        while let Some(page) = pages.next().await {
            points.extend(page?);
        }
    }
    let Some(point) = points.pop() else {
        return Ok(axum::Json(json!({"data": []})).into_response());
    };
    let mut item = match serde_json::from_str::<Value>(&point.payload) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if let Some(addr) = point.addr {
        item.entry("addr").or_insert(addr[..].into());
    }
    // The view's members, objects flattened one level, as the Recorder does.
    for (key, value) in &view.members {
        match value {
            Value::Object(inner) => {
                for (key, value) in inner {
                    item.insert(key.clone(), value.clone());
                }
            }
            value => {
                item.insert(key.clone(), value.clone());
            }
        }
    }
    let cards = state.store.cards(Some(&view.user)).await?;
    let card = cards
        .iter()
        .find(|c| c.device.as_deref() == Some(view.device.as_str()))
        .or_else(|| cards.iter().find(|c| c.device.is_none()));
    if let Some(card) = card {
        for (key, value) in [("name", &card.name), ("face", &card.face)] {
            if let Some(value) = value {
                item.insert(key.to_owned(), value.clone().into());
            }
        }
    }
    Ok(axum::Json(json!({"data": [item]})).into_response())
}

/// A refused Digest login; `true` when only its nonce was too old (the browser then asks again
/// without bothering the user).
struct Stale(bool);

/// A `401` with a new Digest challenge.
fn challenge(stale: bool) -> Response {
    let nonce = make_nonce(pista_ingest::now());
    let value = format!(
        "Digest realm=\"{REALM}\", qop=\"auth\", algorithm=MD5, nonce=\"{nonce}\"{}",
        if stale { ", stale=true" } else { "" }
    );
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "this view needs its login").into_response();
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// Checks the request's Digest credentials against the view's HA1 digests.
fn check_digest(
    headers: &axum::http::HeaderMap,
    method: &str,
    uri: &str,
    view: &View,
) -> Result<(), Stale> {
    let now = pista_ingest::now();
    let challenge = Stale;
    let Some(given) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Err(challenge(false));
    };
    let Some(fields) = given.strip_prefix("Digest ").map(digest_fields) else {
        return Err(challenge(false));
    };
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let (Some(nonce), Some(response), Some(given_uri)) =
        (field("nonce"), field("response"), field("uri"))
    else {
        return Err(challenge(false));
    };
    if given_uri != uri || field("realm") != Some(REALM) {
        return Err(challenge(false));
    }
    if !nonce_valid(nonce, now) {
        return Err(challenge(true));
    }
    let ha2 = md5_hex(&format!("{method}:{given_uri}"));
    let expected = |ha1: &str| match (field("qop"), field("nc"), field("cnonce")) {
        (Some("auth"), Some(nc), Some(cnonce)) => {
            md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
        }
        _ => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
    };
    let response = response.to_ascii_lowercase();
    let matched = view.auth.iter().any(|ha1| {
        let want = expected(ha1);
        want.len() == response.len()
            && want.bytes().zip(response.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    });
    if matched { Ok(()) } else { Err(challenge(false)) }
}

/// `name="value"` and `name=value` pairs of a Digest header.
fn digest_fields(text: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut rest = text.trim();
    while let Some((name, after)) = rest.split_once('=') {
        let name = name.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (quoted[..end].to_owned(), &quoted[end + 1..]),
                None => (quoted.to_owned(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_owned(), &after[end..]),
                None => (after.trim().to_owned(), ""),
            }
        };
        fields.push((name, value));
        rest = next.trim_start().trim_start_matches(',');
    }
    fields
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

type NonceMac = hmac::Hmac<sha2::Sha256>;

/// A nonce: its time and a signature of it.
fn make_nonce(now: i64) -> String {
    // HMAC takes keys of any length; without one the nonce is refused when it comes back.
    let Ok(mut mac) = NonceMac::new_from_slice(NONCE_KEY.as_slice()) else { return String::new() };
    mac.update(&now.to_be_bytes());
    let mut bytes = now.to_be_bytes().to_vec();
    bytes.extend_from_slice(&mac.finalize().into_bytes()[..16]);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn nonce_valid(nonce: &str, now: i64) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else { return false };
    let Some((time, signature)) = bytes.split_first_chunk::<8>() else { return false };
    let made = i64::from_be_bytes(*time);
    let Ok(mut mac) = NonceMac::new_from_slice(NONCE_KEY.as_slice()) else { return false };
    mac.update(time);
    (0..=NONCE_LIFE).contains(&(now - made)) && mac.verify_truncated_left(signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_fields_are_read_quoted_or_not() {
        let fields = digest_fields(
            r#"username="viewer", realm="owntracks-recorder", nonce="abc", uri="/view/trip?x=1", qop=auth, nc=00000001, cnonce="xyz", response="0123""#,
        );
        let names: Vec<(&str, &str)> =
            fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            names,
            [
                ("username", "viewer"),
                ("realm", "owntracks-recorder"),
                ("nonce", "abc"),
                ("uri", "/view/trip?x=1"),
                ("qop", "auth"),
                ("nc", "00000001"),
                ("cnonce", "xyz"),
                ("response", "0123")
            ]
        );
    }

    #[test]
    fn nonces_hold_five_minutes_and_cannot_be_forged() {
        let nonce = make_nonce(1_000_000);
        assert!(nonce_valid(&nonce, 1_000_000));
        assert!(nonce_valid(&nonce, 1_000_300));
        assert!(!nonce_valid(&nonce, 1_000_301));
        assert!(!nonce_valid(&nonce, 999_999));
        let mut forged = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        forged[7] ^= 1;
        assert!(!nonce_valid(&URL_SAFE_NO_PAD.encode(forged), 1_000_000));
        assert!(!nonce_valid("junk", 1_000_000));
    }
}
