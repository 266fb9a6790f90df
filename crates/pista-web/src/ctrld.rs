//! ctrld, the REST service of the OwnTracksCTRL app, under `/ctrld/`. `POST /ctrld/conf` (CTRL
//! 1.x: a form with `username`, `password`, `clientid`, optional `token`) and `GET /ctrld/conf`
//! (CTRL 2.0: HTTP Basic) answer the app's MQTT settings: broker `host`, `port`, `tls`, `auth`,
//! the user name with a token of its own as the password (made for that client id, replacing the
//! one it had, so no password is ever echoed and `pista token del` cuts the app off), `clientid`,
//! `certurl`, `trackurl` and `topicList` (the user's devices, shares and ACL entries as
//! `<root>/<user>/<device>` filters, the depth CTRL expects). `GET /ctrld/cacert.pem` serves the CA
//! certificate phones should trust. `POST /ctrld/tracks/<user>` (1.x: form `username`,
//! `password`, `topic`, `nrecs`; 2.0: Basic with `user` and `device`) answers a device's newest
//! points, oldest first, if the caller may see it. Settings come from the database (`pista ctrld
//! set`, per user or for everyone), else from this server: the `Host` the app reached, the
//! embedded broker's ports. Answers are JSON with sorted keys, indented by two, as the original.
//!
//! The app sends its form without URL-encoding it; fields are split only at `&` followed by a
//! known field name, and a password is tried as sent before it is tried decoded.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pista_core::time::iso;
use pista_core::{DeviceKey, TopicParts};
use pista_ingest::{Guard, Login, LoginError};
use pista_store::{CtrlSettings, LocationQuery, TokenKind};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Caller, ClientAddr};

/// The form fields CTRL sends; a `&` starts a new field only before one of these.
const FIELDS: &[&str] =
    &["username", "password", "clientid", "token", "tid", "topic", "nrecs", "user", "device"];

/// Points answered when `nrecs` is missing or not a number; the most answered.
const DEFAULT_NRECS: u64 = 50;
const MAX_NRECS: u64 = 10_000;

/// Longest client id taken (the app sends its 32-character device id).
const MAX_CLIENT_ID: usize = 64;

/// What this server tells ctrld about itself.
#[derive(Debug, Clone, Default)]
pub struct CtrldConfig {
    /// The embedded broker's MQTT port, when it runs.
    pub mqtt_port: Option<u16>,
    /// Its MQTTS port, when it has one.
    pub mqtts_port: Option<u16>,
    /// The CA certificate (PEM) served at `/ctrld/cacert.pem`.
    pub ca_pem: Option<Vec<u8>>,
}

/// A JSON answer the way ctrld wrote them: keys sorted, indented by two spaces.
fn answer(status: StatusCode, value: &BTreeMap<&str, Value>) -> Response {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_owned());
    let mut response = (status, text).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn message(status: StatusCode, text: &str) -> Response {
    answer(status, &BTreeMap::from([("message", json!(text))]))
}

/// Splits CTRL's form body into fields.
fn form(body: &[u8]) -> BTreeMap<String, String> {
    let text = String::from_utf8_lossy(body);
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    for piece in text.split('&') {
        let known = piece
            .split_once('=')
            .filter(|(name, _)| FIELDS.contains(name) && !fields.contains_key(*name));
        match known {
            Some((name, value)) => {
                fields.insert(name.to_owned(), value.to_owned());
                current = Some(name.to_owned());
            }
            None => {
                // Part of the previous value: the app left a `&` in it unencoded.
                if let Some(value) = current.as_ref().and_then(|name| fields.get_mut(name)) {
                    value.push('&');
                    value.push_str(piece);
                }
            }
        }
    }
    fields
}

/// A field percent-decoded (a `+` stays a `+`: the app does not encode).
fn decoded(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// Who is asking: the Basic login the middleware checked, else the form's credentials.
async fn who(
    state: &AppState,
    caller: &Caller,
    from: std::net::IpAddr,
    fields: &BTreeMap<String, String>,
) -> Result<Login, Response> {
    let Some(guard) = state.guard.as_deref() else {
        return Err(message(
            StatusCode::NOT_FOUND,
            "ctrld needs logins; the server runs with --auth off",
        ));
    };
    if let Some(user) = caller.user() {
        return Ok(Login { user: user.clone(), superuser: caller.is_admin() });
    }
    let (Some(name), Some(raw)) = (fields.get("username"), fields.get("password")) else {
        return Err(message(StatusCode::FORBIDDEN, "Not authenticated"));
    };
    let name = decoded(name);
    let mut result = guard.login(&name, raw, from).await;
    // A client that encodes its form (as a browser does) sent `%XX` and `+` for a space.
    let encoded = decoded(&raw.replace('+', " "));
    if matches!(result, Err(LoginError::Refused)) && encoded != *raw {
        result = guard.login(&name, &encoded, from).await;
    }
    match result {
        Ok(login) => Ok(login),
        Err(LoginError::Throttled { retry_after }) => Err(message(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("too many failed logins; try again in {retry_after} s"),
        )),
        Err(LoginError::Store(error)) => {
            tracing::error!(%error, "ctrld login could not read the accounts");
            Err(message(StatusCode::SERVICE_UNAVAILABLE, "accounts unavailable, retry later"))
        }
        Err(LoginError::Refused) => Err(message(StatusCode::FORBIDDEN, "Not authenticated")),
    }
}

/// `POST /ctrld/conf` (CTRL 1.x) and `GET /ctrld/conf` (2.0).
pub async fn conf(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ClientAddr(from)): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form(&body);
    let login = match who(&state, &caller, from, &fields).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let client = fields.get("clientid").map(|c| decoded(c)).unwrap_or_default();
    if client.chars().count() > MAX_CLIENT_ID {
        let text = format!("clientid is longer than {MAX_CLIENT_ID} characters");
        return message(StatusCode::BAD_REQUEST, &text);
    }
    let Some(guard) = state.guard.as_deref() else {
        return message(StatusCode::NOT_FOUND, "ctrld needs logins");
    };
    match configuration(&state, guard, &login, &headers, &fields).await {
        Ok(conf) => answer(StatusCode::OK, &conf),
        Err(error) => {
            tracing::error!(user = %login.user, %error, "ctrld configuration failed");
            message(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable, retry later")
        }
    }
}

async fn configuration(
    state: &AppState,
    guard: &Guard,
    login: &Login,
    headers: &HeaderMap,
    fields: &BTreeMap<String, String>,
) -> Result<BTreeMap<&'static str, Value>, pista_store::StoreError> {
    let user = &login.user;
    let client = fields.get("clientid").map(|c| decoded(c)).unwrap_or_default();
    let config = state.ctrld.as_deref().cloned().unwrap_or_default();
    let rows = guard.accounts().ctrl_settings().await?;
    let everyone = rows.iter().find(|row| row.user.is_none());
    let own = rows.iter().find(|row| row.user.as_ref() == Some(user));
    let pick = |field: fn(&CtrlSettings) -> Option<Value>| {
        own.and_then(field).or_else(|| everyone.and_then(field))
    };
    let host_header = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(if state.https { "https" } else { "http" })
        .to_owned();
    let host_only = host_only(&host_header);
    let tls = pick(|r| r.tls.map(Value::from))
        .and_then(|v| v.as_bool())
        .unwrap_or(config.mqtts_port.is_some());
    let port = pick(|r| r.port.map(Value::from)).unwrap_or_else(|| {
        let port =
            if tls { config.mqtts_port.unwrap_or(8883) } else { config.mqtt_port.unwrap_or(1883) };
        Value::from(port)
    });
    let base = format!("{scheme}://{host_header}/ctrld");
    let certurl = pick(|r| r.certurl.clone().map(Value::from)).unwrap_or_else(|| {
        config.ca_pem.as_ref().map_or(Value::Null, |_| json!(format!("{base}/cacert.pem")))
    });
    let trackurl = pick(|r| r.trackurl.clone().map(Value::from))
        .map(|url| json!(url.as_str().unwrap_or_default().replace("%u", user.as_str())))
        .unwrap_or_else(|| json!(format!("{base}/tracks/{user}")));
    // A token of its own for this app and client id, in place of the one it had.
    let label = format!("OwnTracksCTRL {client}").trim_end().to_owned();
    for old in guard.accounts().tokens(user, TokenKind::Api).await? {
        if old.label == label {
            guard.accounts().remove_token(old.id).await?;
        }
    }
    let password = match guard.new_token(user, TokenKind::Api, &label, None).await {
        Ok((raw, _)) => raw,
        Err(pista_ingest::NewTokenError::Store(error)) => return Err(error),
        Err(other) => {
            return Err(pista_store::StoreError::Corrupt {
                what: "token",
                detail: other.to_string(),
            });
        }
    };
    if fields.contains_key("token") {
        // The original kept CTRL's APNs push token for pushes Pista never sends; a device
        // identifier nothing reads is not stored (README, OwnTracksCTRL).
        tracing::debug!(%user, "ctrld: the app's push token is ignored");
    }
    let clientid: String = match client.is_empty() {
        true => format!("iosCTRL.{user}"),
        false => format!("iosCTRL.{user}.{client}"),
    }
    .chars()
    .take(22)
    .collect();
    let book = guard.book();
    let topics = book
        .viewer(user, None)
        .map(|viewer| viewer.ctrl_topics(pista_ingest::now()))
        .unwrap_or_default();
    let host = pick(|r| r.host.clone().map(Value::from)).unwrap_or_else(|| json!(host_only));
    let auth = pick(|r| r.auth.map(Value::from)).and_then(|v| v.as_bool()).unwrap_or(true);
    Ok(BTreeMap::from([
        ("_type", json!("configuration")),
        ("auth", json!(u8::from(auth))),
        ("certurl", certurl),
        ("clientid", json!(clientid)),
        ("host", host),
        ("password", json!(password)),
        ("port", port),
        ("tls", json!(u8::from(tls))),
        ("topicList", json!(topics)),
        ("trackurl", trackurl),
        ("username", json!(user.as_str())),
    ]))
}

/// The host of a `Host` header, without its port (IPv6 in brackets kept).
fn host_only(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &host[..=h.len()]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// `GET /ctrld/cacert.pem`.
pub async fn cacert(State(state): State<AppState>) -> Response {
    match state.ctrld.as_ref().and_then(|c| c.ca_pem.clone()) {
        Some(pem) => {
            let mut response = pem.into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-pem-file"));
            response
        }
        None => message(
            StatusCode::NOT_FOUND,
            "no CA certificate is configured (tls.local_ca or ctrld.ca_file)",
        ),
    }
}

/// `POST /ctrld/tracks/<user>`: the newest points of the topic's device, oldest first.
pub async fn tracks(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ClientAddr(from)): Extension<ClientAddr>,
    Path(_user): Path<String>,
    body: Bytes,
) -> Response {
    let fields = form(&body);
    let login = match who(&state, &caller, from, &fields).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let topic = match (fields.get("topic"), fields.get("user"), fields.get("device")) {
        (Some(topic), _, _) => decoded(topic),
        (None, Some(user), Some(device)) => {
            format!("owntracks/{}/{}", decoded(user), decoded(device))
        }
        _ => return message(StatusCode::BAD_REQUEST, "give topic, or user and device"),
    };
    let nrecs = fields
        .get("nrecs")
        .and_then(|n| decoded(n).trim().parse::<i64>().ok())
        .map_or(DEFAULT_NRECS, |n| if n < 1 { DEFAULT_NRECS } else { (n as u64).min(MAX_NRECS) });
    let now = pista_ingest::now();
    let allowed = state.guard.as_deref().is_some_and(|guard| {
        guard.book().viewer(&login.user, None).is_some_and(|v| v.reads_topic(&topic, now))
    });
    let key: Option<DeviceKey> = TopicParts::parse(&topic).ok().map(|parts| parts.key);
    let (Some(key), true) = (key, allowed) else {
        let refusal = BTreeMap::from([
            ("message", json!("Not authorized")),
            ("topic", json!(topic)),
            ("track", json!([])),
            ("tstamp", json!(iso(now))),
        ]);
        return answer(StatusCode::FORBIDDEN, &refusal);
    };
    let query = LocationQuery { key, from: None, to: None, limit: Some(nrecs) };
    let points = match state.store.locations(&query).await {
        Ok(points) => points,
        Err(
            pista_store::StoreError::UnknownUser { .. }
            | pista_store::StoreError::UnknownDevice { .. },
        ) => Vec::new(),
        Err(error) => {
            tracing::error!(%error, "ctrld track read failed");
            return message(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable, retry later");
        }
    };
    let track: Vec<Value> =
        points.iter().map(|p| json!({"lat": p.lat, "lon": p.lon, "tst": p.tst})).collect();
    answer(
        StatusCode::OK,
        &BTreeMap::from([
            ("message", json!("OK")),
            ("topic", json!(topic)),
            ("track", json!(track)),
            ("tstamp", json!(iso(now))),
        ]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apps_unencoded_form_splits_only_before_known_fields() {
        let fields = form(b"username=jane&password=a&b=c+d%41&clientid=0A1B&token=<apns>");
        assert_eq!(fields["username"], "jane");
        assert_eq!(fields["password"], "a&b=c+d%41");
        assert_eq!(fields["clientid"], "0A1B");
        assert_eq!(fields["token"], "<apns>");
        let fields = form(b"username=j%40x&password=p&tid=K2&nrecs=500&topic=owntracks/gw/K2");
        assert_eq!(decoded(&fields["username"]), "j@x");
        assert_eq!(fields["topic"], "owntracks/gw/K2");
        assert_eq!(form(b"").len(), 0);
        assert_eq!(host_only("example.org:8083"), "example.org");
        assert_eq!(host_only("[::1]:8083"), "[::1]");
        assert_eq!(host_only("example.org"), "example.org");
    }
}
