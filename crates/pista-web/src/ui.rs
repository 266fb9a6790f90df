//! The web UI's files, compiled into the binary from `crates/pista-web/ui/` and served at
//! `/ui/` without a login: they hold no data, and every call they make goes to the API as the
//! logged-in user. Each answer carries its media type, an `ETag` (the file's SHA-256, known at
//! compile time) and `Cache-Control: no-cache`, so a browser asks again each time and gets a
//! `304` while the file is unchanged; a new binary never leaves an old script in a cache.
//! `/ui/settings.json` is the one generated file: what the UI is told about this server (the
//! map's tile source). These routes are matched before the static directory and the API, so
//! neither can hide them.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::json;

/// The files under `ui/`. The `debug-embed` feature makes debug builds (and so the tests)
/// serve these bytes too, instead of reading the source tree at run time.
#[derive(rust_embed::Embed)]
#[folder = "ui/"]
struct Files;

/// The UI's settings.
#[derive(Debug, Clone, Default)]
pub struct UiConfig {
    /// The tile URL template (`https://tile.example/{z}/{x}/{y}.png`); `None`: no tiles, the
    /// map draws markers and tracks on a blank background and asks no other server for anything.
    pub tiles: Option<String>,
    /// The credit line the tile source asks for (HTML, shown in the map's corner).
    pub attribution: String,
}

/// The UI's routes: `/ui/` and its files, `/ui` and (`root`) `/` sent to `/ui/`.
pub fn routes(config: UiConfig, root: bool) -> Router {
    let router = Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/settings.json", get(settings))
        .route("/ui/{*path}", get(file))
        .with_state(config);
    if root { router.route("/", get(|| async { Redirect::temporary("/ui/") })) } else { router }
}

async fn settings(State(config): State<UiConfig>) -> Response {
    let body = json!({"tiles": config.tiles, "attribution": config.attribution});
    let headers =
        [(header::CACHE_CONTROL, "no-cache"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")];
    (headers, Json(body)).into_response()
}

/// The page, with a content security policy that lets it reach this server and the tile
/// source only.
async fn index(State(config): State<UiConfig>, headers: HeaderMap) -> Response {
    let mut response = answer("index.html", &headers);
    let policy = content_policy(config.tiles.as_deref());
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// The page's content security policy: its scripts, styles, calls and pictures come from this
/// server, and pictures also from the tiles' server.
fn content_policy(tiles: Option<&str>) -> String {
    let tile_source = tiles.and_then(tile_origin).map(|o| format!(" {o}")).unwrap_or_default();
    format!(
        "default-src 'self'; img-src 'self' data:{tile_source}; style-src 'self' 'unsafe-inline'; \
         script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// The scheme and host of a tile template, `{s}` (Leaflet's subdomains) as a wildcard; `None`
/// for a path on this server or a host with characters a policy cannot hold.
fn tile_origin(template: &str) -> Option<String> {
    let (scheme, rest) = template.split_once("://")?;
    let host = rest.split('/').next()?.replace("{s}", "*");
    let plain = host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:*[]".contains(c));
    (plain && !host.is_empty()).then(|| format!("{scheme}://{host}"))
}

async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    answer(&path, &headers)
}

/// One embedded file, or `304` when the browser's copy is current, or `404`.
fn answer(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Files::get(path) else {
        tracing::debug!(ui.path = path, "no such ui file");
        let body = json!({"error": format!("no ui file {path:?}"), "status": 404});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    };
    let etag = etag(&file.metadata.sha256_hash());
    let current = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|sent| sent.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    // The tag is hex in quotes, always a valid header value.
    let etag = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    let caching =
        [(header::ETAG, etag), (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))];
    if current {
        return (StatusCode::NOT_MODIFIED, caching).into_response();
    }
    let media = HeaderValue::from_str(&media_type(path, file.metadata.mimetype()))
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let security = [
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ];
    (caching, security, [(header::CONTENT_TYPE, media)], file.data.into_owned()).into_response()
}

/// The media type to send: text types carry their character set.
fn media_type(path: &str, guessed: &str) -> String {
    // mime_guess names `.js` `text/javascript`; modules need a JavaScript type, which it is.
    let text = guessed.starts_with("text/") || path.ends_with(".svg") || path.ends_with(".json");
    if text && !guessed.contains("charset") {
        format!("{guessed}; charset=utf-8")
    } else {
        guessed.to_owned()
    }
}

/// A strong tag from the first 16 bytes of the digest, as quoted hex.
fn etag(digest: &[u8; 32]) -> String {
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_of_text_carry_the_character_set() {
        assert_eq!(media_type("app.js", "text/javascript"), "text/javascript; charset=utf-8");
        assert_eq!(media_type("a.svg", "image/svg+xml"), "image/svg+xml; charset=utf-8");
        assert_eq!(media_type("a.png", "image/png"), "image/png");
    }

    #[test]
    fn the_policy_names_the_tile_server() {
        assert_eq!(
            tile_origin("https://{s}.tile.example.org/{z}/{x}/{y}.png").as_deref(),
            Some("https://*.tile.example.org")
        );
        assert_eq!(tile_origin("/tiles/{z}/{x}/{y}.png"), None);
        assert_eq!(tile_origin("https://a;b/{z}/{x}/{y}"), None);
        assert!(content_policy(None).starts_with("default-src 'self'; img-src 'self' data:; "));
        assert!(
            content_policy(Some("http://127.0.0.1:9/{z}/{x}/{y}.png"))
                .starts_with("default-src 'self'; img-src 'self' data: http://127.0.0.1:9; ")
        );
    }

    #[test]
    fn the_tag_is_quoted_hex_of_half_the_digest() {
        let mut digest = [0u8; 32];
        digest[0] = 0xab;
        digest[15] = 0x01;
        digest[16] = 0xff;
        assert_eq!(etag(&digest), "\"ab000000000000000000000000000001\"");
    }
}
