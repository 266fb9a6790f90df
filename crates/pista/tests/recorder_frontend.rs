//! The OwnTracks Frontend's exact call sequence against a running server with logins on (its
//! start-up burst, then the live socket `/ws/last` with its `LAST` handshake), the socket's
//! filters and access rules (the Recorder's bugs T23 and T24), CORS for a Frontend served from
//! another origin, and a directory of static files served beside the API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::common::TestServer;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use pista::settings::Hidden;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, http::HeaderValue};

const ADMIN_PW: &str = "front-admin-pw";

async fn start(configure: impl FnOnce(&mut pista::settings::Settings)) -> TestServer {
    let server = TestServer::start(|s| {
        s.auth = true;
        s.admin_password = Some(Hidden(ADMIN_PW.to_owned()));
        configure(s);
    })
    .await;
    // jane and bob, each with a phone; bob shares nothing.
    for (user, password) in [("jane", "jane-pw"), ("bob", "bob-pw")] {
        let response = admin(&server)
            .post(format!("{}/api/0/users", server.http))
            .json(&json!({"name": user, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201, "{}", response.text().await.unwrap());
    }
    server
}

fn admin(server: &TestServer) -> Authed<'_> {
    Authed { user: "admin", password: ADMIN_PW, client: reqwest::Client::new(), http: &server.http }
}

/// A client that logs every request in as one user.
struct Authed<'a> {
    user: &'a str,
    password: &'a str,
    client: reqwest::Client,
    http: &'a str,
}

impl Authed<'_> {
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.http)).basic_auth(self.user, Some(self.password))
    }

    fn post(&self, url: String) -> reqwest::RequestBuilder {
        self.client.post(url).basic_auth(self.user, Some(self.password))
    }

    async fn json(&self, path: &str) -> Value {
        let response = self.get(path).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        response.json().await.unwrap()
    }

    /// Posts a location in HTTP mode as this user.
    async fn publish(&self, device: &str, lat: f64, tst: i64) {
        let body =
            format!(r#"{{"_type":"location","tid":"xx","lat":{lat:?},"lon":1.5,"tst":{tst}}}"#);
        let response = self
            .post(format!("{}/pub", self.http))
            .header("X-Limit-U", self.user)
            .header("X-Limit-D", device)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/ws/last` (with `query`) as `user`, with extra headers.
async fn socket(
    server: &TestServer,
    user: &str,
    password: &str,
    query: &str,
    headers: &[(&str, &str)],
) -> Ws {
    let url = format!("{}/ws/last{query}", server.http.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let request_headers = request.headers_mut();
    request_headers
        .insert("authorization", HeaderValue::from_str(&format!("Basic {basic}")).unwrap());
    for (name, value) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes());
        request_headers.insert(name.unwrap(), HeaderValue::from_str(value).unwrap());
    }
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 101);
    ws
}

/// The next text frame within five seconds (pings skipped); `None` if none comes.
async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return Some(text.to_string()),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(other) => panic!("unexpected frame: {other:?}"),
            Err(_) => return None,
        }
    }
}

/// Whether a text frame comes within half a second.
async fn quiet(ws: &mut Ws) -> bool {
    tokio::time::timeout(Duration::from_millis(500), ws.next()).await.is_err()
}

fn pick(item: &Value) -> Value {
    json!([item["username"], item["device"], item["lat"], item["tst"]])
}

#[tokio::test]
async fn the_frontends_start_up_burst_and_live_socket_work_unchanged() {
    let server = start(|_| {}).await;
    let jane = Authed { user: "jane", password: "jane-pw", ..admin(&server) };
    let bob = Authed { user: "bob", password: "bob-pw", ..admin(&server) };
    jane.publish("phone", 1.0, 1_733_000_000).await;
    jane.publish("phone", 2.0, 1_733_000_100).await;
    jane.publish("tablet", 3.0, 1_733_000_050).await;
    bob.publish("phone", 4.0, 1_733_000_200).await;
    let admin = admin(&server);

    // getVersion, getUsers, getDevices for every user in parallel, getLastLocations.
    assert_eq!(admin.json("/api/0/version").await["version"], json!(env!("CARGO_PKG_VERSION")));
    let users = admin.json("/api/0/list").await;
    assert_eq!(users, json!({"results": ["bob", "jane"]}));
    let (bob_devices, jane_devices) =
        tokio::join!(admin.json("/api/0/list?user=bob"), admin.json("/api/0/list?user=jane"));
    assert_eq!(bob_devices, json!({"results": ["phone"]}));
    assert_eq!(jane_devices, json!({"results": ["phone", "tablet"]}));
    let last = admin.json("/api/0/last").await;
    let last: Vec<Value> = last.as_array().unwrap().iter().map(pick).collect();
    assert_eq!(
        last,
        [
            json!(["bob", "phone", 4.0, 1_733_000_200]),
            json!(["jane", "phone", 2.0, 1_733_000_100]),
            json!(["jane", "tablet", 3.0, 1_733_000_050])
        ]
    );
    // getUserDeviceLocationHistory for every device in parallel, the Frontend's time format.
    let range = "from=2024-11-01T00:00:00&to=2024-12-31T23:59:59";
    let path = |user: &str, device: &str| {
        format!("/api/0/locations?{range}&user={user}&device={device}&format=json")
    };
    let paths = [path("bob", "phone"), path("jane", "phone"), path("jane", "tablet")];
    let (a, b, c) =
        tokio::join!(admin.json(&paths[0]), admin.json(&paths[1]), admin.json(&paths[2]));
    let lats = |body: &Value| -> Vec<Value> {
        body["data"].as_array().unwrap().iter().map(|i| i["lat"].clone()).collect()
    };
    assert_eq!(
        (lats(&a), lats(&b), lats(&c)),
        (vec![json!(4.0)], vec![json!(1.0), json!(2.0)], vec![json!(3.0)])
    );

    // connectWebsocket: open, send LAST; the echo, then every device's newest location.
    let mut ws = socket(&server, "admin", ADMIN_PW, "", &[]).await;
    ws.send(Message::text("LAST")).await.unwrap();
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("LAST"));
    let mut dumped = Vec::new();
    for _ in 0..3 {
        let item: Value = serde_json::from_str(&next_text(&mut ws).await.unwrap()).unwrap();
        assert_eq!(item["_type"], json!("location"));
        dumped.push(pick(&item));
    }
    assert_eq!(dumped, last);
    // A new location arrives as one JSON frame with the item `last` shows.
    jane.publish("phone", 5.0, 1_733_000_300).await;
    let item: Value = serde_json::from_str(&next_text(&mut ws).await.unwrap()).unwrap();
    assert_eq!(pick(&item), json!(["jane", "phone", 5.0, 1_733_000_300]));
    assert_eq!(
        (&item["topic"], &item["isotst"], &item["disptst"]),
        (
            &json!("owntracks/jane/phone"),
            &json!("2024-11-30T20:58:20Z"),
            &json!("2024-11-30 20:58:20")
        )
    );
    // exit closes.
    ws.send(Message::text("exit")).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap();
    assert!(matches!(closed, Some(Ok(Message::Close(_))) | None), "{closed:?}");
    server.stop().await;
}

#[tokio::test]
async fn the_socket_sends_only_what_its_user_may_see_and_its_filter_asks_for() {
    let server = start(|_| {}).await;
    let jane = Authed { user: "jane", password: "jane-pw", ..admin(&server) };
    let bob = Authed { user: "bob", password: "bob-pw", ..admin(&server) };
    bob.publish("phone", 4.0, 1_733_000_200).await;
    jane.publish("phone", 1.0, 1_733_000_000).await;

    // jane's socket: LAST shows only her device; bob's new point never comes.
    let mut mine = socket(&server, "jane", "jane-pw", "", &[]).await;
    // T23: an admin's socket filtered to bob by header gets only bob's points.
    let mut bobs = socket(&server, "admin", ADMIN_PW, "", &[("X-Limit-User", "bob")]).await;
    // ... and one filtered by query to jane's phone only jane's.
    let mut janes = socket(&server, "admin", ADMIN_PW, "?user=jane&device=phone", &[]).await;
    mine.send(Message::text("LAST")).await.unwrap();
    assert_eq!(next_text(&mut mine).await.as_deref(), Some("LAST"));
    let item: Value = serde_json::from_str(&next_text(&mut mine).await.unwrap()).unwrap();
    assert_eq!(pick(&item), json!(["jane", "phone", 1.0, 1_733_000_000]));
    assert!(quiet(&mut mine).await, "nothing of bob's in jane's LAST");
    // T24: LAST is answered to the one who asked only.
    assert!(quiet(&mut bobs).await);

    bob.publish("phone", 4.5, 1_733_000_400).await;
    jane.publish("phone", 1.5, 1_733_000_500).await;
    let item: Value = serde_json::from_str(&next_text(&mut mine).await.unwrap()).unwrap();
    assert_eq!(pick(&item), json!(["jane", "phone", 1.5, 1_733_000_500]));
    assert!(quiet(&mut mine).await);
    let item: Value = serde_json::from_str(&next_text(&mut bobs).await.unwrap()).unwrap();
    assert_eq!(pick(&item), json!(["bob", "phone", 4.5, 1_733_000_400]));
    assert!(quiet(&mut bobs).await);
    let item: Value = serde_json::from_str(&next_text(&mut janes).await.unwrap()).unwrap();
    assert_eq!(pick(&item), json!(["jane", "phone", 1.5, 1_733_000_500]));
    assert!(quiet(&mut janes).await);

    // A page of another origin may not open one with the user's login; this server's may.
    let refused = tokio_tungstenite::connect_async({
        let url = format!("{}/ws/last", server.http.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        let basic = base64::engine::general_purpose::STANDARD.encode("jane:jane-pw");
        let headers = request.headers_mut();
        headers.insert("authorization", HeaderValue::from_str(&format!("Basic {basic}")).unwrap());
        headers.insert("origin", HeaderValue::from_static("https://evil.example"));
        request
    })
    .await
    .unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(response) = refused else {
        panic!("expected an HTTP refusal, got {refused:?}")
    };
    assert_eq!(response.status().as_u16(), 403);
    let mut same = socket(&server, "jane", "jane-pw", "", &[("origin", &server.http)]).await;
    same.send(Message::text("LAST")).await.unwrap();
    assert_eq!(next_text(&mut same).await.as_deref(), Some("LAST"));

    // Without a login there is no socket.
    let url = format!("{}/ws/last", server.http.replace("http://", "ws://"));
    let refused = tokio_tungstenite::connect_async(url).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(response) = refused else {
        panic!("expected an HTTP refusal, got {refused:?}")
    };
    assert_eq!(response.status().as_u16(), 401);
    server.stop().await;
}

#[tokio::test]
async fn listed_origins_get_cors_with_credentials_and_others_none() {
    let server = start(|s| s.cors_origins = vec!["https://map.example.org".to_owned()]).await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, format!("{}/api/0/last", server.http))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization,x-limit-user")
            .send()
    };
    let response = preflight("https://map.example.org").await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers();
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header("access-control-allow-origin").as_deref(), Some("https://map.example.org"));
    assert_eq!(header("access-control-allow-credentials").as_deref(), Some("true"));
    assert_eq!(header("access-control-allow-methods").as_deref(), Some("GET"));
    assert_eq!(
        header("access-control-allow-headers").as_deref(),
        Some("authorization,x-limit-user")
    );
    assert_eq!(header("access-control-max-age").as_deref(), Some("600"));
    let response = preflight("https://evil.example.com").await.unwrap();
    assert_eq!(response.headers().get("access-control-allow-origin"), None);

    // The request itself still needs its login, and its answer names the origin.
    let response = client
        .get(format!("{}/api/0/last", server.http))
        .header("Origin", "https://map.example.org")
        .basic_auth("admin", Some(ADMIN_PW))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "https://map.example.org");
    assert_eq!(
        response.headers()["vary"],
        "origin, access-control-request-method, access-control-request-headers"
    );
    let response = client
        .get(format!("{}/api/0/last", server.http))
        .header("Origin", "https://map.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    server.stop().await;

    // `*`: any page, never with credentials.
    let server = start(|s| s.cors_origins = vec!["*".to_owned()]).await;
    let response = client
        .get(format!("{}/api/0/version", server.http))
        .header("Origin", "https://anywhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert_eq!(response.headers().get("access-control-allow-credentials"), None);
    server.stop().await;
}

#[tokio::test]
async fn a_static_directory_is_served_beside_the_api_without_listings_or_escapes() {
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("index.html"), "<html>frontend</html>").unwrap();
    std::fs::create_dir(files.path().join("assets")).unwrap();
    std::fs::write(files.path().join("assets/app.js"), "console.log(1)").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "no").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), files.path().join("link.txt"))
        .unwrap();
    std::os::unix::fs::symlink(outside.path(), files.path().join("linkdir")).unwrap();
    std::fs::create_dir(files.path().join(".git")).unwrap();
    std::fs::write(files.path().join(".git/config"), "[core]").unwrap();
    std::fs::write(files.path().join(".env"), "SECRET=1").unwrap();
    let dir = files.path().to_owned();
    let server = start(|s| s.static_dir = Some(dir)).await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", server.http)).send();

    let response = get("/").await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "no login for the files");
    assert_eq!(response.headers()["content-type"], "text/html");
    assert_eq!(response.text().await.unwrap(), "<html>frontend</html>");
    let response = get("/assets/app.js").await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/javascript");
    assert_eq!(response.text().await.unwrap(), "console.log(1)");
    // The API is still there and still asks for a login; a missing file is the API's 404.
    assert_eq!(get("/api/0/last").await.unwrap().status().as_u16(), 401);
    let response = client.get(format!("{}/api/0/version", server.http)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    // HTTP mode still takes points.
    let response = client
        .post(format!("{}/pub", server.http))
        .basic_auth("admin", Some(ADMIN_PW))
        .body(r#"{"_type":"location","lat":1.5,"lon":2.5,"tst":1733000000}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let response = get("/config/config.js").await.unwrap();
    assert_eq!(response.status().as_u16(), 401, "unknown paths go to the API, which wants a login");
    // No directory listing, no way out of the directory.
    let response = client
        .get(format!("{}/assets/", server.http))
        .basic_auth("admin", Some(ADMIN_PW))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let response = client
        .get(format!("{}/%2e%2e/secret.txt", server.http))
        .basic_auth("admin", Some(ADMIN_PW))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    // Hidden files and symbolic links out of the directory are not served, logged in or not.
    for path in ["/link.txt", "/linkdir/secret.txt", "/.git/config", "/.env", "/assets/../.env"] {
        let response = client
            .get(format!("{}{path}", server.http))
            .basic_auth("admin", Some(ADMIN_PW))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 404, "{path}");
    }
    server.stop().await;

    // Under a prefix.
    let dir = files.path().to_owned();
    let server = start(|s| {
        s.static_dir = Some(dir);
        s.static_path = "/map".to_owned();
    })
    .await;
    let response = client.get(format!("{}/map/assets/app.js", server.http)).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "console.log(1)");
    let response = client.get(format!("{}/map/", server.http)).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "<html>frontend</html>");
    // `/map` goes to `/map/`, so that the page's relative links work.
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build();
    let response = plain.unwrap().get(format!("{}/map", server.http)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(response.headers()["location"], "/map/");
    server.stop().await;
}

#[test]
fn bad_cors_origins_and_static_settings_are_refused_by_name() {
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("cors-origins", "https://map.example.org/,*")],
            "invalid http.cors_origins = \"https://map.example.org/,*\" (from flag --cors-origins): \
             * alone, or origins like https://map.example.org (scheme, host, optional port; no path)",
        ),
        (
            &[("static-dir", "/nonexistent/pista-static")],
            "invalid http.static_dir = \"/nonexistent/pista-static\" (from flag --static-dir): an \
             existing directory",
        ),
        (
            &[("static-path", "/map/")],
            "invalid http.static_path = \"/map/\" (from flag --static-path): / or a path like /map \
             (letters, digits, - _ . ~; no trailing slash; not one of Pista's own: /api, /ws, \
             /pub, /ctrld, /view, /metrics, /ui)",
        ),
    ];
    for (flags, expected) in cases {
        let flags: Vec<(&str, String)> = flags.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let raw = pista::settings::RawSettings::load(None, |_| None, &flags).unwrap();
        assert_eq!(raw.validate().unwrap_err().to_string(), expected);
    }
}

#[tokio::test]
async fn q_photo_kill_and_form_bodies_follow_the_rules() {
    let server = start(|s| s.geocode = "offline".to_owned()).await;
    let jane = Authed { user: "jane", password: "jane-pw", ..admin(&server) };
    let bob = Authed { user: "bob", password: "bob-pw", ..admin(&server) };
    let admin = admin(&server);
    // T7: a card with a picture, as the app sends it for its device.
    let picture = b"\x89PNG\r\n\x1a\nnot really a picture";
    let face = base64::engine::general_purpose::STANDARD.encode(picture);
    let card = format!(r#"{{"_type":"card","name":"Jane","face":"{face}","tid":"JP"}}"#);
    let response = jane
        .post(format!("{}/pub", server.http))
        .header("X-Limit-U", "jane")
        .header("X-Limit-D", "phone")
        .body(card)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let eiffel = r#"{"_type":"location","lat":48.858334,"lon":2.295134,"tst":1733000000}"#;
    let response = jane
        .post(format!("{}/pub", server.http))
        .header("X-Limit-U", "jane")
        .header("X-Limit-D", "phone")
        .body(eiffel)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    // monitor: the newest location each may see.
    let monitor = |who: &Authed<'_>| {
        let request = who.get("/api/0/monitor");
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let line = monitor(&jane).await;
    let (epoch, topic) = line.split_once(' ').unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    assert!(now.as_secs().abs_diff(epoch.parse().unwrap()) < 60, "{line}");
    assert_eq!(topic, "owntracks/jane/phone\n");
    assert_eq!(monitor(&bob).await, "not available\n");

    // photo: the card's picture for those who may see the device, else the placeholder.
    for (who, path, want) in [
        (&jane, "/api/0/photo/?user=jane", &picture[..]),
        (&admin, "/api/0/photo?user=jane&device=phone", &picture[..]),
        (&bob, "/api/0/photo/?user=jane", &[][..]),
    ] {
        let response = who.get(path).send().await.unwrap();
        assert_eq!(response.headers()["content-type"], "image/png");
        let body = response.bytes().await.unwrap();
        if want.is_empty() {
            assert_eq!(body.len(), 115, "the placeholder for {}", who.user);
            assert!(body.starts_with(b"\x89PNG"));
        } else {
            assert_eq!(body.as_ref(), want, "{}", who.user);
        }
    }
    let response = jane.get("/api/0/photo/").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 416);

    // q: the cached address of the cell, for superusers.
    let path = "/api/0/q?lat=48.858334&lon=2.295134";
    let found = crate::common::eventually("the cached address", || async {
        let body = admin.json(path).await;
        body.get("addr").is_some().then_some(body)
    })
    .await;
    assert_eq!(
        found,
        json!({"ghash":"u09tunr","cc":"FR","addr":"Neuilly-sur-Seine, Ile-de-France"})
    );
    assert_eq!(admin.json("/api/0/q?lat=-45&lon=-45").await, json!({}));
    assert_eq!(bob.get(path).send().await.unwrap().status().as_u16(), 403);

    // Parameters from a form body, as the Recorder takes them; the query wins.
    let response = admin
        .post(format!("{}/api/0/last?user=jane", server.http))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user=bob&fields=username")
        .send()
        .await
        .unwrap();
    let last: Value = response.json().await.unwrap();
    assert_eq!(last, json!([{"username": "jane"}]));
    let response = admin
        .post(format!("{}/api/0/locations", server.http))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user=jane&device=phone&from=2024-11-30&fields=tst")
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"], json!([{"tst": 1733000000}]));

    // kill: not another user's device; names checked; the owner deletes everything of it.
    let response = bob.get("/api/0/kill?user=jane&device=phone").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    // HEAD (link checkers, prefetchers) never deletes; an unknown device is named.
    let head = jane.client.head(format!("{}/api/0/kill?user=jane&device=phone", server.http));
    let response = head.basic_auth("jane", Some("jane-pw")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let response = jane.get("/api/0/kill?user=jane&device=tablet").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let response = jane.get("/api/0/kill?user=jane").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 416);
    // T14: names are names in a database, never paths; ".." is just not jane.
    let response = jane.get("/api/0/kill?user=..&device=x").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let response = jane.get("/api/0/kill?user=jane&device=a%2Fb").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    // A browser session may not delete with GET (a link or an image could).
    let login = reqwest::Client::new()
        .post(format!("{}/api/0/login", server.http))
        .json(&json!({"user": "jane", "password": "jane-pw"}))
        .send()
        .await
        .unwrap();
    let cookie =
        login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let response = reqwest::Client::new()
        .get(format!("{}/api/0/kill?user=jane&device=phone", server.http))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let response = jane.get("/api/0/kill?user=jane&device=phone").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (&body["status"], &body["user"], &body["device"], &body["deleted"]["locations"]),
        (&json!("OK"), &json!("jane"), &json!("phone"), &json!(1))
    );
    assert_eq!(jane.json("/api/0/list?user=jane").await, json!({"results": []}));
    let response = jane.get("/api/0/photo/?user=jane").send().await.unwrap();
    assert_eq!(response.bytes().await.unwrap().len(), 115, "the card went with the device");
    server.stop().await;
}

#[tokio::test]
async fn views_share_a_window_of_a_track_with_their_own_digest_login() {
    let views = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(views.path().join(name), text).unwrap();
    write(
        "trip.json",
        r#"{"user":"jane","device":"phone","page":"map.html","from":"2024-11-30","to":"2024-12-01","label":"Jane's <trip>","zoom":9,"extra":{"color":"red"}}"#,
    );
    // HA1 of viewer:owntracks-recorder:view-pw, as htdigest writes it.
    write(
        "locked.json",
        r#"{"user":"jane","device":"phone","page":"map.html","hours":1000000,"auth":["2d318f5405979aa65c353b872405da96"]}"#,
    );
    write("escape.json", r#"{"user":"jane","device":"phone","page":"../pista.db"}"#);
    write(
        "map.html",
        "<title>@@@LABEL@@@</title>\n<a href='@@@GEO@@@'>@@@GEO@@@</a>\n@@@LASTPOS@@@\n",
    );
    let dir = views.path().to_owned();
    let server = start(|s| s.views_dir = Some(dir)).await;
    let jane = Authed { user: "jane", password: "jane-pw", ..admin(&server) };
    jane.publish("phone", 1.5, 1_733_000_000).await; // 2024-11-30T20:53:20Z, inside
    jane.publish("phone", 2.5, 1_733_100_000).await; // 2024-12-02, outside
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", server.http)).send();

    // Open views need no login.
    let response = get("/view/trip").await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(
        response.text().await.unwrap(),
        "<title>Jane's &lt;trip&gt;</title>\n<a href='trip?geodata=1'>@@@GEO@@@</a>\ntrip?lastpos=1\n"
    );
    let line = get("/view/trip?geodata=1").await.unwrap().text().await.unwrap();
    assert_eq!(
        line,
        r#"{"type":"Feature","properties":{},"geometry":{"coordinates":[[1.5,1.5]],"type":"LineString"}}"#
    );
    let last: Value = get("/view/trip?lastpos=1").await.unwrap().json().await.unwrap();
    let item = &last["data"][0];
    assert_eq!(
        (
            &item["lat"],
            &item["tst"],
            &item["label"],
            &item["zoom"],
            &item["color"],
            &item.get("auth")
        ),
        (
            &json!(1.5),
            &json!(1_733_000_000),
            &json!("Jane's <trip>"),
            &json!(9),
            &json!("red"),
            &None
        )
    );
    // The definition itself is never served, and names cannot leave the directory.
    let page = get("/view/trip.json").await.unwrap().text().await.unwrap();
    assert!(page.starts_with("<title>"), "{page}");
    assert_eq!(get("/view/nothing").await.unwrap().status().as_u16(), 404);
    assert_eq!(get("/view/..%2Fpista").await.unwrap().status().as_u16(), 404);
    assert_eq!(get("/view/escape").await.unwrap().status().as_u16(), 500);

    // A view with `auth` asks for HTTP Digest; curl answers it.
    let response = get("/view/locked?geodata=1").await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.starts_with("Digest realm=\"owntracks-recorder\", qop=\"auth\""),
        "{challenge}"
    );
    let curl = |password: &'static str| {
        let url = format!("{}/view/locked?geodata=1", server.http);
        async move {
            let output = tokio::process::Command::new("curl")
                .args([
                    "-s",
                    "--digest",
                    "-u",
                    &format!("viewer:{password}"),
                    "-w",
                    "\n%{http_code}",
                ])
                .arg(url)
                .output()
                .await
                .unwrap();
            String::from_utf8(output.stdout).unwrap()
        }
    };
    let answer = curl("view-pw").await;
    assert_eq!(
        answer,
        "{\"type\":\"Feature\",\"properties\":{},\"geometry\":{\"coordinates\":[[1.5,1.5],[1.5,2.5]],\"type\":\"LineString\"}}\n200"
    );
    assert!(curl("wrong").await.ends_with("\n401"));
    server.stop().await;
}
