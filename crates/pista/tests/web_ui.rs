//! The web UI as the server hands it out: the files compiled into the binary at `/ui/` with
//! their media types, tags and `304`s, the redirects to it, the tile setting the page is given,
//! its place before a static directory, and the API refusing the page's calls without a
//! session (and without the browser's Basic dialog). The pages themselves are tested in a
//! browser by `e2e/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::TestServer;
use pista::settings::Hidden;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

const ADMIN_PW: &str = "ui-admin-pw";

/// The UI's files as they are in the source tree (the binary must serve these bytes).
fn source(path: &str) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../pista-web/ui");
    std::fs::read(root.join(path)).unwrap()
}

async fn start(configure: impl FnOnce(&mut pista::settings::Settings)) -> TestServer {
    TestServer::start(|s| {
        s.auth = true;
        s.admin_password = Some(Hidden(ADMIN_PW.to_owned()));
        configure(s);
    })
    .await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' \
                      'unsafe-inline'; script-src 'self'; connect-src 'self'; object-src 'none'; \
                      base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[tokio::test]
async fn the_files_come_from_the_binary_with_types_tags_and_no_login() {
    let server = start(|_| {}).await;
    let client = client();
    let get = |path: &str| client.get(format!("{}{path}", server.http)).send();

    let response = get("/").await.unwrap();
    assert_eq!(response.status().as_u16(), 307);
    assert_eq!(response.headers()["location"], "/ui/");
    let response = get("/ui").await.unwrap();
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(response.headers()["location"], "/ui/");

    let response = get("/ui/").await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-security-policy"], POLICY);
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag.len(), 34, "{etag}");
    assert_eq!(response.bytes().await.unwrap(), source("index.html"));

    // The browser's copy is current: 304, no body, the same tag.
    let response = client
        .get(format!("{}/ui/", server.http))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 304);
    assert_eq!(response.headers()["etag"], etag.as_str());
    assert_eq!(response.bytes().await.unwrap().len(), 0);
    let response = client
        .get(format!("{}/ui/", server.http))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let files = [
        ("app.js", "text/javascript; charset=utf-8"),
        ("map.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml; charset=utf-8"),
        ("vendor/leaflet/leaflet.js", "text/javascript; charset=utf-8"),
        ("vendor/leaflet/leaflet.css", "text/css; charset=utf-8"),
        ("vendor/leaflet/images/marker-icon.png", "image/png"),
    ];
    for (path, media) in files {
        let response = get(&format!("/ui/{path}")).await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], media, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-cache", "{path}");
        assert_eq!(response.bytes().await.unwrap(), source(path), "{path}");
    }

    let response = get("/ui/no-such-page.js").await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"error": "no ui file \"no-such-page.js\"", "status": 404}));
    server.stop().await;
}

#[tokio::test]
async fn the_page_is_told_the_tile_source_and_may_fetch_only_from_it() {
    let server = start(|_| {}).await;
    let response = client().get(format!("{}/ui/settings.json", server.http)).send().await.unwrap();
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"tiles": null, "attribution": ""}));
    server.stop().await;

    let server = start(|s| {
        s.ui_tiles = Some("https://{s}.tiles.example.org/{z}/{x}/{y}.png".to_owned());
        s.ui_tiles_attribution = "&copy; Example".to_owned();
    })
    .await;
    let response = client().get(format!("{}/ui/settings.json", server.http)).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    let expected = json!({
        "tiles": "https://{s}.tiles.example.org/{z}/{x}/{y}.png",
        "attribution": "&copy; Example",
    });
    assert_eq!(body, expected);
    let response = client().get(format!("{}/ui/", server.http)).send().await.unwrap();
    let policy = POLICY.replace("data:;", "data: https://*.tiles.example.org;");
    assert_eq!(response.headers()["content-security-policy"], policy.as_str());
    server.stop().await;
}

#[test]
fn a_bad_tile_setting_is_refused_by_name() {
    for (value, ok) in [
        ("none", true),
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", true),
        ("/tiles/{z}/{x}/{y}.png", true),
        ("ftp://tiles.example.org/{z}/{x}/{y}.png", false),
        ("https://tiles.example.org/{z}/{x}.png", false),
        ("https://tiles.example.org/{z}/{x}/{y}.png style", false),
        ("https://{s}.tiles.example.org/{z}/{x}/{y}.png", true),
        ("//evil.example.org/{z}/{x}/{y}.png", false),
        ("/\\evil.example.org/{z}/{x}/{y}.png", false),
        ("https://user:pw@tiles.example.org/{z}/{x}/{y}.png", false),
        ("https://*.example.org/{z}/{x}/{y}.png", false),
        ("https:///{z}/{x}/{y}.png", false),
    ] {
        let flags = [("ui-tiles", value.to_owned())];
        let raw = pista::settings::RawSettings::load(None, |_| None, &flags).unwrap();
        match raw.validate() {
            Ok(settings) => {
                assert!(ok, "{value}");
                assert_eq!(settings.ui_tiles, (value != "none").then(|| value.to_owned()));
            }
            Err(error) => {
                assert!(!ok, "{value}");
                let expected = format!(
                    "invalid ui.tiles = {value:?} (from flag --ui-tiles): none, or a URL \
                     template with {{z}}, {{x}} and {{y}} (https://..., http://... without a \
                     login or *, or a path on this server)"
                );
                assert_eq!(error.to_string(), expected);
            }
        }
    }
}

#[tokio::test]
async fn a_static_directory_does_not_hide_the_ui() {
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("index.html"), "<html>frontend</html>").unwrap();
    std::fs::create_dir(files.path().join("ui")).unwrap();
    std::fs::write(files.path().join("ui/app.js"), "not ours").unwrap();
    let dir = files.path().to_owned();
    let server = start(|s| s.static_dir = Some(dir)).await;
    let client = client();
    let response = client.get(format!("{}/", server.http)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "the directory keeps /");
    assert_eq!(response.text().await.unwrap(), "<html>frontend</html>");
    let response = client.get(format!("{}/ui/app.js", server.http)).send().await.unwrap();
    assert_eq!(response.bytes().await.unwrap(), source("app.js"));
    server.stop().await;

    let dir = files.path().to_owned();
    let server = start(|s| {
        s.static_dir = Some(dir);
        s.static_path = "/map".to_owned();
    })
    .await;
    let response = client.get(format!("{}/", server.http)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 307);
    assert_eq!(response.headers()["location"], "/ui/");
    server.stop().await;
}

#[tokio::test]
async fn the_pages_calls_need_a_session_and_get_no_basic_dialog() {
    let server = start(|_| {}).await;
    let client = client();
    let url = |path: &str| format!("{}{path}", server.http);

    // A script gets the Basic challenge; the UI (its header, or a stale cookie) does not.
    let response = client.get(url("/api/0/last")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Basic realm=\"pista\"");
    for (name, value) in [("x-requested-with", "pista-ui"), ("cookie", "pista_session=stale")] {
        for path in ["/api/0/last", "/api/0/live?kinds=map", "/api/0/map", "/api/0/me"] {
            let response = client.get(url(path)).header(name, value).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 401, "{path} {name}");
            assert_eq!(response.headers().get("www-authenticate"), None, "{path} {name}");
        }
    }

    // The login page's call, then the session's.
    let response = client
        .post(url("/api/0/login"))
        .header("x-requested-with", "pista-ui")
        .json(&json!({"user": "admin", "password": ADMIN_PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    let session = cookie.split(';').next().unwrap().to_owned();
    let answer: Value = response.json().await.unwrap();
    let csrf = answer["csrf"].as_str().unwrap().to_owned();
    let response = client.get(url("/api/0/last")).header("cookie", &session).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!([]));

    let response = client.post(url("/api/0/logout")).header("cookie", &session).send().await;
    assert_eq!(response.unwrap().status().as_u16(), 403, "no CSRF value");
    let response = client
        .post(url("/api/0/logout"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let response = client.get(url("/api/0/me")).header("cookie", &session).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(response.headers().get("www-authenticate"), None);
    server.stop().await;
}
