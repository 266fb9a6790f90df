//! HTTP mode: `POST /pub`, where the OwnTracks apps send the same JSON they would publish over
//! MQTT. The sender is identified by the `X-Limit-U`/`X-Limit-D` headers, else the `u`/`d` query
//! parameters, else the HTTP Basic user, else the Recorder's defaults `owntracks`/`phone` —
//! never by anything inside the body. The body is read as an OwnTracks payload whatever its
//! content type. The answer is `200` with a JSON array once everything in the body is
//! committed (also for bodies quarantined because they could not be understood, so the apps do
//! not resend them forever): the friends' cards and locations and the commands queued for the
//! device (see `answer`), sealed with the device's secret when the request was encrypted. An
//! envelope that cannot be opened (no secret, wrong secret, not base64) is quarantined and
//! answered `403`, never as if it had worked. Storage down is `503` with `Retry-After`, so the
//! apps keep the point and retry. With authentication on, the caller must be allowed to write
//! the device's topic (their own, unless a superuser): anything else is `403` and nothing is
//! stored; without `X-Limit-U` or `u` the logged-in user is the sender, and the friends shown are
//! only those the caller may see.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use bytes::Bytes;
use pista_core::{DeviceKey, Inbound, Replay, Source};
use serde_json::Value;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::{Params, header};
use crate::{AppState, answer};

const DEFAULT_USER: &str = "owntracks";
const DEFAULT_DEVICE: &str = "phone";

pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let logged_in = caller.user().map(|user| user.as_str());
    let key = identity(&headers, &Params::new(query.as_deref())?, logged_in)?;
    let topic = format!("owntracks/{}/{}", key.user, key.device);
    if !caller.writes_topic(&topic) {
        let who = logged_in.unwrap_or("nobody");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("user {who} may not publish as {key}"),
        ));
    }
    let inbound = Inbound {
        source: Source::Http,
        topic,
        identity: Some(key.clone()),
        payload: body,
        retained: false,
        replay: Replay::Fresh,
        received_at: pista_ingest::now(),
    };
    let receipt = state.pipeline.ingest(inbound).await.map_err(|_| ApiError::unavailable())?;
    if let Some(problem) = receipt.problems.iter().find(|p| p.is_encryption()) {
        let message = format!("{} (kept in quarantine as {})", problem.text, problem.reason);
        return Err(ApiError::new(StatusCode::FORBIDDEN, message));
    }
    let now = pista_ingest::now();
    let shared = caller.shared_with_me(now);
    let visible = |friend: &DeviceKey| caller.reads(friend, now);
    let answer =
        answer::friends_and_commands(state.store.as_ref(), &key, now, shared, visible).await?;
    let secret = match receipt.decrypted {
        true => state.store.secret(&key).await?,
        false => None,
    };
    if let Some(sealed) = secret.and_then(|secret| answer::encrypted(&answer, &secret)) {
        return Ok(Json(sealed));
    }
    Ok(Json(Value::Array(answer)))
}

fn identity(
    headers: &HeaderMap,
    params: &Params,
    logged_in: Option<&str>,
) -> Result<DeviceKey, ApiError> {
    let basic = header(headers, "authorization")?.map(basic_user).transpose()?.flatten();
    let user = header(headers, "x-limit-u")?
        .or_else(|| params.query("u"))
        .or(logged_in)
        .or(basic.as_deref())
        .unwrap_or(DEFAULT_USER);
    let device =
        header(headers, "x-limit-d")?.or_else(|| params.query("d")).unwrap_or(DEFAULT_DEVICE);
    DeviceKey::parse(user, device).map_err(|error| ApiError::bad_request(error.to_string()))
}

/// The user name of an HTTP Basic `Authorization` value; other schemes are ignored. The
/// password is never looked at here.
fn basic_user(value: &str) -> Result<Option<String>, ApiError> {
    let Some((scheme, encoded)) = value.split_once(' ') else { return Ok(None) };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let malformed =
        || ApiError::bad_request("authorization header holds malformed Basic credentials");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    // RFC 7617: the user ends at the first colon; the password may contain more.
    let user = text.split_once(':').map_or(text.as_str(), |(user, _)| user);
    Ok((!user.is_empty()).then(|| user.to_owned()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn key(pairs: &[(&'static str, &str)], query: Option<&str>) -> Result<String, String> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_bytes(value.as_bytes()).unwrap());
        }
        let params = Params::new(query).map_err(|e| e.message)?;
        identity(&headers, &params, None).map(|k| k.to_string()).map_err(|e| e.message)
    }

    #[test]
    fn identity_follows_the_documented_order() {
        let alice_basic = ("authorization", "Basic YWxpY2U6cGE6c3M="); // alice:pa:ss
        type Headers<'a> = &'a [(&'static str, &'a str)];
        let cases: &[(Headers, Option<&str>, &str)] = &[
            (&[("x-limit-u", "Jane"), ("x-limit-d", "Phone")], Some("u=bob&d=car"), "jane/phone"),
            (&[], Some("u=bob&d=car"), "bob/car"),
            (&[], Some("U=bob&D=car"), "bob/car"),
            (&[alice_basic, ("x-limit-d", "phone")], None, "alice/phone"),
            (&[alice_basic], Some("u=bob"), "bob/phone"),
            (&[], None, "owntracks/phone"),
            (&[("x-limit-u", "Jürgen"), ("x-limit-d", "Handy")], None, "jürgen/handy"),
            (&[], Some("u=%20spaced%20&d=x"), "spaced/x"),
            (&[], Some("u=J%C3%BCrgen+M&d=x"), "jürgen m/x"),
            (
                &[("x-limit-u", "jane@example.org"), ("x-limit-d", "iphone")],
                None,
                "jane@example.org/iphone",
            ),
        ];
        for (headers, query, want) in cases {
            assert_eq!(key(headers, *query).as_deref(), Ok(*want), "{headers:?} {query:?}");
        }
    }

    #[test]
    fn undecodable_identities_are_a_clear_400() {
        type Case<'a> = (&'a [(&'static str, &'a str)], Option<&'a str>, &'a str);
        let cases: [Case; 4] = [
            (&[], Some("u=J%FCrgen"), "query parameter u is not valid UTF-8"),
            (&[], Some("=%FF"), "query parameter with an empty name is not valid UTF-8"),
            (
                &[("authorization", "Basic !!!")],
                None,
                "authorization header holds malformed Basic credentials",
            ),
            (
                &[("authorization", "Basic /w==")],
                None,
                "authorization header holds malformed Basic credentials",
            ),
        ];
        for (headers, query, want) in cases {
            assert_eq!(key(headers, query), Err(want.to_owned()), "{headers:?} {query:?}");
        }
        assert_eq!(key(&[("authorization", "Bearer x")], None).as_deref(), Ok("owntracks/phone"));
    }

    #[test]
    fn bad_names_are_a_clear_400() {
        assert_eq!(
            key(&[("x-limit-u", "a/b")], None),
            Err("user name \"a/b\" contains '/', which is not allowed in names".to_owned())
        );
    }
}
