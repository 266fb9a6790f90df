//! The authorization matrix, on a real server with authentication on: users × every route,
//! stream and broker action × own, shared (to the user, through a group), unshared and
//! expired-share devices. Nothing leaks and nothing legitimate is refused. Also: logins are
//! required everywhere but `version`, wrong ones throttled, tokens revocable, the browser
//! session cookie needs its CSRF value for changes, and the first start makes an admin.
//!
//! The world: jane has `phone` and `tablet`, bob has `car`. jane shares `phone` with carl, and
//! `tablet` with eve until a time that has passed; bob shares all his devices with the group
//! `family`, whose only member is carl. `admin` is the superuser.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::common::{TestServer, eventually};
use pista::settings::Hidden;
use pista_core::access::{Grantee, Share};
use pista_core::{DeviceName, UserName};
use pista_store::{AccountStore, SqlStore};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const ADMIN_PW: &str = "admin-pw-for-tests";
const DEVICES: [(&str, &str); 3] = [("jane", "phone"), ("jane", "tablet"), ("bob", "car")];
const VIEWERS: [&str; 5] = ["admin", "jane", "bob", "carl", "eve"];
/// A fix time inside every query's range below.
const TST: i64 = 1_733_000_000;

/// Whether `viewer` may see `user/device`: the expected answer of the whole matrix.
fn may_read(viewer: &str, user: &str, device: &str) -> bool {
    match viewer {
        "admin" => true,
        "jane" => user == "jane",
        "bob" => user == "bob",
        // Shared to carl directly, and bob's through the group.
        "carl" => (user, device) == ("jane", "phone") || user == "bob",
        // The share of jane's tablet has ended.
        _ => false,
    }
}

fn may_manage(viewer: &str, user: &str) -> bool {
    viewer == "admin" || viewer == user
}

fn password(user: &str) -> String {
    if user == "admin" { ADMIN_PW.to_owned() } else { format!("{user}-secret") }
}

struct World {
    server: TestServer,
    http: Client,
}

impl World {
    async fn start() -> Self {
        let server = TestServer::start(|s| {
            s.auth = true;
            s.admin_password = Some(Hidden(ADMIN_PW.to_owned()));
        })
        .await;
        let world = Self { server, http: Client::new() };
        for user in ["jane", "bob", "carl", "eve"] {
            let (status, _) = world
                .call(
                    "admin",
                    Method::POST,
                    "/api/0/users",
                    Some(json!({"name": user, "password": password(user)})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{user}");
        }
        let (status, _) = world
            .call(
                "jane",
                Method::POST,
                "/api/0/shares",
                Some(json!({"device": "phone", "user": "carl"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        // A group exists while it has members: carl joins before bob shares with it.
        let (status, _) = world
            .call(
                "admin",
                Method::POST,
                "/api/0/groups",
                Some(json!({"group": "family", "user": "carl"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        // A share that has ended: the API refuses to make one, so it goes into the database
        // the way an old share would be there.
        let store = SqlStore::open(&world.database()).await.unwrap();
        let ended = Share {
            id: 0,
            owner: UserName::parse("jane").unwrap(),
            device: Some(DeviceName::parse("tablet").unwrap()),
            to: Grantee::User(UserName::parse("eve").unwrap()),
            until: Some(pista_ingest::now() - 60),
            created_at: pista_ingest::now() - 3600,
        };
        store.add_share(&ended).await.unwrap();
        // bob's share to the group reloads the rules, the ended share with them.
        let (status, _) = world
            .call("bob", Method::POST, "/api/0/shares", Some(json!({"group": "family"})))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        for (index, (user, device)) in DEVICES.iter().enumerate() {
            let tid = format!("t{index}");
            let location = json!({"_type": "location", "tid": tid, "lat": 52.0 + index as f64,
                "lon": 13.0, "tst": TST + index as i64});
            let response = world.publish(user, user, device, &location).await;
            assert_eq!(response.status(), StatusCode::OK, "{user}/{device}");
        }
        world
    }

    fn database(&self) -> String {
        format!("sqlite://{}/pista.db", self.server.dir.path().display())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.http)
    }

    async fn call(
        &self,
        viewer: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request =
            self.http.request(method, self.url(path)).basic_auth(viewer, Some(password(viewer)));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, viewer: &str, path: &str) -> (StatusCode, Value) {
        self.call(viewer, Method::GET, path, None).await
    }

    /// An HTTP-mode post by `viewer` as `user/device`.
    async fn publish(
        &self,
        viewer: &str,
        user: &str,
        device: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.http
            .post(self.url("/pub"))
            .basic_auth(viewer, Some(password(viewer)))
            .header("X-Limit-U", user)
            .header("X-Limit-D", device)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// The `user/device` pairs in a list of objects.
fn keys(items: &Value, user_key: &str) -> Vec<String> {
    let mut keys: Vec<String> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            format!("{}/{}", item[user_key].as_str().unwrap(), item["device"].as_str().unwrap())
        })
        .collect();
    keys.sort();
    keys
}

fn visible(viewer: &str) -> Vec<String> {
    let mut keys: Vec<String> = DEVICES
        .iter()
        .filter(|(u, d)| may_read(viewer, u, d))
        .map(|(u, d)| format!("{u}/{d}"))
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn every_read_route_shows_each_user_exactly_what_they_may_see() {
    let world = World::start().await;
    for viewer in VIEWERS {
        // Lists and the newest locations hold only what the viewer may see.
        let (status, last) = world.get(viewer, "/api/0/last").await;
        assert_eq!(status, StatusCode::OK, "{viewer}");
        assert_eq!(keys(&last, "username"), visible(viewer), "last as {viewer}");
        let (_, list) = world.get(viewer, "/api/0/list").await;
        let mut users: Vec<&str> =
            DEVICES.iter().filter(|(u, d)| may_read(viewer, u, d)).map(|(u, _)| *u).collect();
        users.sort_unstable();
        users.dedup();
        let listed: Vec<&str> =
            list["results"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(listed, users, "list as {viewer}");
        let (_, map) = world.get(viewer, "/api/0/map").await;
        assert_eq!(keys(&map, "user"), visible(viewer), "map as {viewer}");

        for (user, device) in DEVICES {
            let allowed = may_read(viewer, user, device);
            let what = format!("{viewer} reading {user}/{device}");
            let (_, list) = world.get(viewer, &format!("/api/0/list?user={user}")).await;
            assert_eq!(
                list["results"].as_array().unwrap().iter().any(|d| d == device),
                allowed,
                "list of devices: {what}"
            );
            let range = format!("user={user}&device={device}&from={}&to={}", TST - 10, TST + 10);
            let (status, locations) = world.get(viewer, &format!("/api/0/locations?{range}")).await;
            assert_eq!(status, StatusCode::OK, "{what}");
            assert_eq!(locations["count"], json!(u64::from(allowed)), "locations: {what}");
            let (_, last) =
                world.get(viewer, &format!("/api/0/last?user={user}&device={device}")).await;
            assert_eq!(last.as_array().unwrap().len(), usize::from(allowed), "last: {what}");
            let want = if allowed { StatusCode::OK } else { StatusCode::FORBIDDEN };
            for path in [
                format!("/api/0/export?{range}&format=json"),
                format!("/api/0/messages?user={user}&device={device}"),
                format!("/api/0/transitions?user={user}&device={device}"),
                format!("/api/0/waypoints?user={user}&device={device}"),
                format!("/api/0/state?user={user}&device={device}"),
                format!("/api/0/cmd?user={user}&device={device}"),
            ] {
                let (status, body) = world.get(viewer, &path).await;
                assert_eq!(status, want, "{path}: {what}: {body}");
            }
        }
    }
}

#[tokio::test]
async fn changes_need_ownership_and_shares_never_give_it() {
    let world = World::start().await;
    for viewer in VIEWERS {
        for (user, device) in DEVICES {
            let what = format!("{viewer} changing {user}/{device}");
            let manage = may_manage(viewer, user);
            // Posting as someone else's device is refused and stores nothing.
            let location = json!({"_type": "location", "tid": "xx", "lat": 1.0, "lon": 2.0,
                "tst": TST + 500});
            let response = world.publish(viewer, user, device, &location).await;
            let want = if manage { StatusCode::OK } else { StatusCode::FORBIDDEN };
            assert_eq!(response.status(), want, "post: {what}");
            let command = json!({"user": user, "device": device, "action": "reportLocation"});
            let (status, _) = world.call(viewer, Method::POST, "/api/0/cmd", Some(command)).await;
            assert_eq!(status, want, "command: {what}");
            let range = format!("user={user}&device={device}&from={}&to={}", TST + 400, TST + 600);
            let (status, _) = world
                .call(viewer, Method::DELETE, &format!("/api/0/locations?{range}"), None)
                .await;
            assert_eq!(status, want, "delete: {what}");
            let rule = json!({"user": user, "device": device, "days": 30});
            let (status, _) = world.call(viewer, Method::PUT, "/api/0/retention", Some(rule)).await;
            assert_eq!(status, want, "retention: {what}");
            let secret = Some(json!({"secret": "matrix-secret"}));
            let path = format!("/api/0/secrets/{user}/{device}");
            let (status, _) = world.call(viewer, Method::PUT, &path, secret).await;
            assert_eq!(status, want, "secret: {what}");
        }
    }
    // What the refused posts would have added is not there: each device has its one fix.
    for (user, device) in DEVICES {
        let points = world.server.points(user, device).await;
        assert_eq!(points.len(), 1, "{user}/{device}");
    }
    // Admin-only routes.
    for viewer in ["jane", "carl", "eve"] {
        for (method, path) in [
            (Method::GET, "/metrics"),
            (Method::GET, "/api/0/users"),
            (Method::GET, "/api/0/acls"),
            (Method::GET, "/api/0/groups"),
            (Method::GET, "/api/0/webhooks"),
            (Method::POST, "/api/0/quarantine/replay"),
            (Method::POST, "/api/0/monitor"),
        ] {
            let (status, _) = world.call(viewer, method.clone(), path, Some(json!({}))).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{viewer} {method} {path}");
        }
    }
    let (status, _) = world.get("admin", "/metrics").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn http_mode_friends_are_the_shares_that_hold() {
    let world = World::start().await;
    let tids = |answer: Value| -> Vec<String> {
        let mut tids: Vec<String> = answer
            .as_array()
            .unwrap()
            .iter()
            .filter(|item| item["_type"] == "location")
            .map(|item| item["tid"].as_str().unwrap().to_owned())
            .collect();
        tids.sort();
        tids
    };
    let location = json!({"_type": "location", "tid": "cw", "lat": 1.0, "lon": 2.0, "tst": TST});
    // carl: jane's phone (t0) and bob's car (t2); not jane's tablet (t1).
    let answer = world.publish("carl", "carl", "watch", &location).await.json().await.unwrap();
    assert_eq!(tids(answer), ["t0", "t2"]);
    // eve's share has ended.
    let answer = world.publish("eve", "eve", "phone", &location).await.json().await.unwrap();
    assert_eq!(tids(answer), Vec::<String>::new());
}

#[tokio::test]
async fn nothing_but_the_version_answers_without_a_login_and_bad_logins_are_throttled() {
    let world = World::start().await;
    let anonymous = Client::new();
    for path in [
        "/api/0/last",
        "/api/0/list",
        "/api/0/locations?user=jane&device=phone",
        "/metrics",
        "/api/0/live",
        "/api/0/nothing",
        "/nowhere",
    ] {
        let response = anonymous.get(world.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(response.headers()["www-authenticate"], "Basic realm=\"pista\"", "{path}");
    }
    let response = anonymous.post(world.url("/pub")).body("{}").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = anonymous.get(world.url("/api/0/version")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Five wrong passwords for jane from this address; then even the right one waits.
    for _ in 0..5 {
        let response = anonymous
            .get(world.url("/api/0/last"))
            .basic_auth("jane", Some("guess"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "the user name or password is wrong");
    }
    let response = anonymous
        .get(world.url("/api/0/last"))
        .basic_auth("jane", Some(password("jane")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Others are not held up by jane's failures.
    let (status, _) = world.get("bob", "/api/0/last").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn tokens_work_until_revoked_and_sessions_need_their_csrf_value() {
    let world = World::start().await;
    let (status, made) =
        world.call("jane", Method::POST, "/api/0/tokens", Some(json!({"label": "script"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = made["token"].as_str().unwrap().to_owned();
    let with_token = |path: &str| world.http.get(world.url(path)).bearer_auth(&token).send();
    let last: Value = with_token("/api/0/last").await.unwrap().json().await.unwrap();
    assert_eq!(keys(&last, "username"), visible("jane"));
    // The token is not listed, only its label.
    let (_, listed) = world.get("jane", "/api/0/tokens").await;
    assert_eq!(listed[0]["label"], "script");
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&token));
    // bob cannot revoke jane's token; jane can.
    let id = made["id"].as_i64().unwrap();
    let (status, _) = world.call("bob", Method::DELETE, &format!("/api/0/tokens/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        world.call("jane", Method::DELETE, &format!("/api/0/tokens/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(with_token("/api/0/last").await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // What `curl -d` sends (JSON labelled as a form) and a real form both set the expiry;
    // a misspelt field is named.
    for (body, form) in [(r#"{"label":"t1","days":1}"#, true), ("label=t2&days=1", true)] {
        let mut request =
            world.http.post(world.url("/api/0/tokens")).basic_auth("jane", Some(password("jane")));
        if form {
            request = request.header("content-type", "application/x-www-form-urlencoded");
        }
        let made: Value = request.body(body).send().await.unwrap().json().await.unwrap();
        let expires = made["expires_at"].as_i64().unwrap();
        assert!((expires - pista_ingest::now() - 86_400).abs() < 60, "{body}: {made}");
    }
    let (status, answer) =
        world.call("jane", Method::POST, "/api/0/tokens", Some(json!({"lable": "x"}))).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown field \"lable\"; known: label, days"))
    );

    // The browser: a form login sets an HttpOnly, SameSite cookie and answers the CSRF value.
    let response = world
        .http
        .post(world.url("/api/0/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("user=carl&password={}", password("carl")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let login: Value = response.json().await.unwrap();
    assert_eq!((login["user"].as_str(), login["superuser"].as_bool()), (Some("carl"), Some(false)));
    let csrf = login["csrf"].as_str().unwrap().to_owned();
    let last: Value = world
        .http
        .get(world.url("/api/0/last"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys(&last, "username"), visible("carl"));
    // A change with the cookie alone is refused; with the CSRF value it goes through.
    let share = json!({"device": "watch", "user": "eve"});
    let post = |csrf: Option<&str>| {
        let mut request =
            world.http.post(world.url("/api/0/shares")).header("cookie", &session).json(&share);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(post(Some("0000")).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(post(Some(&csrf)).await.unwrap().status(), StatusCode::CREATED);
    // After logout the cookie no longer works.
    let response = world
        .http
        .post(world.url("/api/0/logout"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response =
        world.http.get(world.url("/api/0/last")).header("cookie", &session).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_share_removed_or_ended_stops_at_once() {
    let world = World::start().await;
    let (_, shares) = world.get("jane", "/api/0/shares").await;
    let phone = shares.as_array().unwrap().iter().find(|s| s["device"] == "phone").unwrap()["id"]
        .as_i64()
        .unwrap();
    // carl cannot remove jane's share (it is not shown to exist); jane can.
    let (status, _) =
        world.call("carl", Method::DELETE, &format!("/api/0/shares/{phone}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        world.call("jane", Method::DELETE, &format!("/api/0/shares/{phone}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, last) = world.get("carl", "/api/0/last").await;
    assert_eq!(keys(&last, "username"), ["bob/car"]);
    // A share that ends in two seconds is visible, then not, without any change made.
    let until = pista_ingest::now() + 2;
    let (status, _) = world
        .call("bob", Method::POST, "/api/0/shares", Some(json!({"user": "eve", "until": until})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, last) = world.get("eve", "/api/0/last").await;
    assert_eq!(keys(&last, "username"), ["bob/car"]);
    eventually("the share to end", || async {
        let (_, last) = world.get("eve", "/api/0/last").await;
        last.as_array().unwrap().is_empty().then_some(())
    })
    .await;
}

/// An MQTT client of the embedded broker that keeps what it receives while it waits for its
/// acknowledgements.
struct Mqtt {
    client: rumqttc::AsyncClient,
    events: rumqttc::EventLoop,
    got: std::collections::VecDeque<(String, Vec<u8>)>,
}

impl Mqtt {
    /// Logs in as `user`; returns the client and the CONNACK's code.
    async fn login(port: u16, user: &str, password: &str) -> (Self, String) {
        Self::login_with(port, &crate::common::unique("acc"), user, password, None).await
    }

    /// Logs in with a given client id and, optionally, a last will on a topic.
    async fn login_with(
        port: u16,
        id: &str,
        user: &str,
        password: &str,
        will: Option<&str>,
    ) -> (Self, String) {
        use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_credentials(user, password);
        if let Some(topic) = will {
            let payload = r#"{"_type":"location","tid":"xx","lat":0.5,"lon":0.5,"tst":1733000999}"#;
            options.set_last_will(LastWill::new(topic, payload, QoS::AtLeastOnce, true));
        }
        let (client, mut events) = AsyncClient::new(options, 100);
        let code = loop {
            let event = tokio::time::timeout(Duration::from_secs(10), events.poll()).await;
            match event.expect("connack") {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => break format!("{:?}", ack.code),
                Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
                    break format!("{code:?}");
                }
                Ok(_) => {}
                Err(error) => break format!("{error}"),
            }
        };
        (Self { client, events, got: Default::default() }, code)
    }

    /// Polls once; keeps a delivered message. Returns whether a PUBACK or SUBACK came.
    async fn poll(&mut self) -> bool {
        use rumqttc::{Event, Packet};
        let event = tokio::time::timeout(Duration::from_secs(10), self.events.poll()).await;
        match event.expect("an mqtt event") {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                self.got.push_back((p.topic.clone(), p.payload.to_vec()));
                false
            }
            Ok(Event::Incoming(Packet::PubAck(_) | Packet::SubAck(_))) => true,
            Ok(_) => false,
            Err(error) => panic!("mqtt client failed: {error}"),
        }
    }

    async fn subscribe(&mut self, filter: &str) {
        self.client.subscribe(filter, rumqttc::QoS::AtLeastOnce).await.unwrap();
        while !self.poll().await {}
    }

    async fn publish(&mut self, topic: &str, payload: &Value) {
        let bytes = payload.to_string();
        self.client.publish(topic, rumqttc::QoS::AtLeastOnce, false, bytes).await.unwrap();
        while !self.poll().await {}
    }

    async fn next(&mut self) -> (String, Vec<u8>) {
        loop {
            if let Some(got) = self.got.pop_front() {
                return got;
            }
            self.poll().await;
        }
    }
}

#[tokio::test]
async fn the_embedded_broker_follows_the_same_rules() {
    let world = World::start().await;
    let port = world.server.broker_port();
    assert_eq!(Mqtt::login(port, "jane", "wrong").await.1, "BadUserNamePassword");
    assert_eq!(Mqtt::login(port, "nobody", "x").await.1, "BadUserNamePassword");

    let (mut carl, code) = Mqtt::login(port, "carl", &password("carl")).await;
    assert_eq!(code, "Success");
    carl.subscribe("owntracks/#").await;
    let (mut eve, _) = Mqtt::login(port, "eve", &password("eve")).await;
    eve.subscribe("#").await;
    let (mut jane, code) = Mqtt::login(port, "jane", &password("jane")).await;
    assert_eq!(code, "Success");

    let fix =
        |tst: i64| json!({"_type": "location", "tid": "t0", "lat": 5.0, "lon": 6.0, "tst": tst});
    jane.publish("owntracks/jane/tablet", &fix(TST + 100)).await;
    jane.publish("owntracks/jane/phone", &fix(TST + 101)).await;
    // carl gets the phone's fix, not the tablet's.
    let (topic, payload) = carl.next().await;
    assert_eq!(topic, "owntracks/jane/phone");
    assert_eq!(serde_json::from_slice::<Value>(&payload).unwrap()["tst"], json!(TST + 101));
    // eve, subscribed to everything, gets none of it (her share has ended), nor Pista's own
    // device objects: the first delivery she gets is her own message.
    eve.publish("owntracks/eve/phone", &fix(TST)).await;
    let (topic, _) = eve.next().await;
    assert_eq!(topic, "owntracks/eve/phone");

    // carl publishing as jane's phone is acknowledged and dropped: nothing stored.
    carl.publish("owntracks/jane/phone", &fix(TST + 200)).await;
    // A last will on jane's topic would be published by the broker itself: such a connection is
    // refused. So is another user taking a client id in use (it would end that session).
    let (_, code) = Mqtt::login_with(
        port,
        "carl-will",
        "carl",
        &password("carl"),
        Some("owntracks/jane/phone"),
    )
    .await;
    assert_eq!(code, "NotAuthorized");
    let (_, code) =
        Mqtt::login_with(port, "carl-own", "carl", &password("carl"), Some("owntracks/carl/watch"))
            .await;
    assert_eq!(code, "Success");
    let (_, code) = Mqtt::login_with(port, "carl-own", "eve", &password("eve"), None).await;
    assert_eq!(code, "BadUserNamePassword");
    let points = world.server.wait_points("jane", "phone", 2).await;
    let times: Vec<i64> = points.iter().map(|p| p.tst).collect();
    assert_eq!(times, [TST, TST + 101]);
}

#[tokio::test]
async fn the_live_stream_carries_only_visible_devices() {
    let world = World::start().await;
    let mut stream = world
        .http
        .get(world.url("/api/0/live?kinds=map"))
        .basic_auth("carl", Some(password("carl")))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    for (device, tst) in [("tablet", TST + 300), ("phone", TST + 301)] {
        let fix = json!({"_type": "location", "tid": "t0", "lat": 5.0, "lon": 6.0, "tst": tst});
        assert_eq!(world.publish("jane", "jane", device, &fix).await.status(), StatusCode::OK);
    }
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("an event")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let first = text.split("\n\n").next().unwrap();
    assert!(first.contains("event: map"), "{first}");
    assert!(first.contains("owntracks/jane/phone"), "carl sees the phone first: {first}");
    assert!(!text.contains("owntracks/jane/tablet"), "the tablet never: {text}");
}

#[tokio::test]
async fn the_first_start_makes_an_admin_and_later_starts_do_not() {
    let server = TestServer::start(|s| {
        s.auth = true;
        s.admin_password = Some(Hidden("first-pw".to_owned()));
    })
    .await;
    let http = Client::new();
    let me: Value = http
        .get(format!("{}/api/0/me", server.http))
        .basic_auth("admin", Some("first-pw"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me, json!({"user": "admin", "superuser": true}));
    // Started again with another password: the account exists, its password stays.
    let server =
        server.restart_with(|s| s.admin_password = Some(Hidden("second-pw".to_owned()))).await;
    let status = |pw: &'static str| {
        let request = http.get(format!("{}/api/0/me", server.http)).basic_auth("admin", Some(pw));
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(status("second-pw").await, StatusCode::UNAUTHORIZED);
    assert_eq!(status("first-pw").await, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn device_secrets_are_set_by_owners_and_superusers_and_never_shown() {
    let world = World::start().await;
    let put = |viewer: &'static str, path: &'static str, body: Value| {
        world.call(viewer, Method::PUT, path, Some(body))
    };
    let (status, answer) =
        put("jane", "/api/0/secrets/jane/phone", json!({"secret": "one-1"})).await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"user": "jane", "device": "phone", "replaced": false}))
    );
    let (status, _) = put("admin", "/api/0/secrets/bob/car", json!({"secret": "two-2"})).await;
    assert_eq!(status, StatusCode::OK);
    // A share gives no say over the secret, nor does anything else.
    for viewer in ["bob", "carl"] {
        let (status, answer) =
            put(viewer, "/api/0/secrets/jane/phone", json!({"secret": "x"})).await;
        assert_eq!(
            (status, answer["error"].as_str().unwrap()),
            (
                StatusCode::FORBIDDEN,
                format!("user {viewer} may not change the data of user jane").as_str()
            )
        );
        let (status, _) =
            world.call(viewer, Method::DELETE, "/api/0/secrets/jane/phone", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{viewer}");
    }
    // Each sees the devices they manage, and never a secret.
    for (viewer, want) in [
        ("admin", json!([{"user": "bob", "device": "car"}, {"user": "jane", "device": "phone"}])),
        ("jane", json!([{"user": "jane", "device": "phone"}])),
        ("bob", json!([{"user": "bob", "device": "car"}])),
        ("carl", json!([])),
    ] {
        let (status, list) = world.get(viewer, "/api/0/secrets").await;
        assert_eq!((status, &list), (StatusCode::OK, &want), "{viewer}");
    }
    // Refusals name what failed, never the value sent.
    for (path, body, want) in [
        ("/api/0/secrets/jane/tablet", json!({"secret": ""}), (400, "the secret is empty")),
        ("/api/0/secrets/jane/tablet", json!({}), (400, "secret is missing")),
        ("/api/0/secrets/jane/tablet", json!({"secret": 4711}), (400, "secret must be a string")),
        (
            "/api/0/secrets/jane/tablet",
            json!({"secret": "x", "key": "y"}),
            (400, "unknown field \"key\"; known: secret"),
        ),
        ("/api/0/secrets/nobody/phone", json!({"secret": "x"}), (404, "no user nobody")),
    ] {
        let viewer = if path.contains("nobody") { "admin" } else { "jane" };
        let (status, answer) = put(viewer, path, body).await;
        assert_eq!((status.as_u16(), answer["error"].as_str().unwrap()), want, "{path}");
        assert!(!answer.to_string().contains("4711"));
    }
    let (status, answer) =
        world.call("jane", Method::DELETE, "/api/0/secrets/jane/tablet", None).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("jane/tablet has no secret"))
    );

    // Ingest sees the secret set over HTTP at once, and a replaced one too: an envelope sealed
    // with the old secret no longer opens.
    let sealed = |secret: &str, tst: i64| {
        let secret = pista_core::crypto::Secret::new(secret).unwrap();
        let plain = json!({"_type": "location", "tid": "t0", "lat": 1.5, "lon": 2.5, "tst": tst});
        json!({"_type": "encrypted",
            "data": pista_core::crypto::seal(&secret, plain.to_string().as_bytes())})
    };
    let response = world.publish("jane", "jane", "phone", &sealed("one-1", TST + 1)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, answer) = put("jane", "/api/0/secrets/jane/phone", json!({"secret": "three-3"})).await;
    assert_eq!(answer["replaced"], json!(true));
    let response = world.publish("jane", "jane", "phone", &sealed("one-1", TST + 2)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = world.publish("jane", "jane", "phone", &sealed("three-3", TST + 3)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let times: Vec<i64> =
        world.server.points("jane", "phone").await.iter().map(|p| p.tst).collect();
    assert_eq!(times, [TST, TST + 1, TST + 3]);

    let (status, _) = world.call("jane", Method::DELETE, "/api/0/secrets/jane/phone", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = world.get("jane", "/api/0/secrets").await;
    assert_eq!(list, json!([]));
    let response = world.publish("jane", "jane", "phone", &sealed("three-3", TST + 4)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}
