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
pub(crate) const TST: i64 = 1_733_000_000;

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

pub(crate) fn password(user: &str) -> String {
    if user == "admin" { ADMIN_PW.to_owned() } else { format!("{user}-secret") }
}

pub(crate) struct World {
    pub server: TestServer,
    pub http: Client,
}

impl World {
    pub async fn start() -> Self {
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
            let lat = 52.0 + index as f64;
            // A region of the device's app (a fence only it uses) around where it will be, so
            // its location below enters it.
            let region = json!({"_type": "waypoint", "desc": format!("fence-{device}"),
                "lat": lat, "lon": 13.0, "rad": 500, "tst": TST - 100});
            let response = world.publish(user, user, device, &region).await;
            assert_eq!(response.status(), StatusCode::OK, "region of {user}/{device}");
            let tid = format!("t{index}");
            // A device's first fix after a fence appears records its side silently: one outside
            // first, so the next one enters.
            let away = json!({"_type": "location", "tid": tid, "lat": lat, "lon": 14.0,
                "tst": TST - 50});
            let response = world.publish(user, user, device, &away).await;
            assert_eq!(response.status(), StatusCode::OK, "{user}/{device} away");
            let location = json!({"_type": "location", "tid": tid, "lat": lat,
                "lon": 13.0, "tst": TST + index as i64});
            let response = world.publish(user, user, device, &location).await;
            assert_eq!(response.status(), StatusCode::OK, "{user}/{device}");
            let card = json!({"_type": "card", "name": format!("card-{device}"),
                "face": photo_base64(device)});
            let response = world.publish(user, user, device, &card).await;
            assert_eq!(response.status(), StatusCode::OK, "card of {user}/{device}");
            // An envelope without a secret for it waits in quarantine.
            let sealed = json!({"_type": "encrypted", "data": "bm8ga2V5IGZvciB0aGlz"});
            let response = world.publish(user, user, device, &sealed).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "sealed from {user}/{device}");
            let rule = json!({"user": user, "device": device, "days": 3650});
            let (status, body) =
                world.call(user, Method::PUT, "/api/0/retention", Some(rule)).await;
            assert_eq!(status, StatusCode::OK, "retention of {user}/{device}: {body}");
            // A deletion for the log: one old point posted and deleted again.
            let old = json!({"_type": "location", "tid": tid, "lat": lat, "lon": 13.0,
                "tst": TST - 5000});
            let response = world.publish(user, user, device, &old).await;
            assert_eq!(response.status(), StatusCode::OK, "old point of {user}/{device}");
            let range =
                format!("user={user}&device={device}&from={}&to={}", TST - 5001, TST - 4999);
            let (status, body) =
                world.call(user, Method::DELETE, &format!("/api/0/locations?{range}"), None).await;
            assert_eq!(status, StatusCode::OK, "deletion of {user}/{device}: {body}");
        }
        world
    }

    pub fn database(&self) -> String {
        format!("sqlite://{}/pista.db", self.server.dir.path().display())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.http)
    }

    pub async fn call(
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

    pub async fn get(&self, viewer: &str, path: &str) -> (StatusCode, Value) {
        self.call(viewer, Method::GET, path, None).await
    }

    /// An HTTP-mode post by `viewer` as `user/device`.
    pub async fn publish(
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

/// A card picture for `device`: PNG's signature and the device's name, so `photo` answers tell
/// whose picture they are.
fn photo_bytes(device: &str) -> Vec<u8> {
    [b"\x89PNG\r\n\x1a\n".as_slice(), device.as_bytes()].concat()
}

fn photo_base64(device: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(photo_bytes(device))
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
                format!("/api/0/track?{range}"),
                format!("/api/0/messages?user={user}&device={device}"),
                format!("/api/0/transitions?user={user}&device={device}"),
                format!("/api/0/waypoints?user={user}&device={device}"),
                format!("/api/0/state?user={user}&device={device}"),
                format!("/api/0/cmd?user={user}&device={device}"),
            ] {
                let (status, body) = world.get(viewer, &path).await;
                assert_eq!(status, want, "{path}: {what}: {body}");
            }
            // Routes that answer a list: the device's items are in it only if allowed.
            for path in [
                format!("/api/0/map?user={user}&device={device}"),
                format!("/api/0/alerts?user={user}&device={device}"),
                format!("/api/0/jobs?user={user}&device={device}"),
            ] {
                let (status, body) = world.get(viewer, &path).await;
                assert_eq!(status, StatusCode::OK, "{path}: {what}: {body}");
                let count = body.as_array().map_or(usize::MAX, Vec::len);
                let want = usize::from(allowed && !path.contains("/jobs"));
                assert_eq!(count, want, "{path}: {what}: {body}");
            }
            let response = world
                .http
                .get(world.url(&format!("/api/0/photo?user={user}&device={device}")))
                .basic_auth(viewer, Some(password(viewer)))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "photo: {what}");
            let picture = response.bytes().await.unwrap();
            assert_eq!(picture == photo_bytes(device), allowed, "photo: {what}");
        }
        // Lists of everything: each device's own marker is there exactly when allowed (read
        // for what devices send, manage for what their owner set or deleted).
        for (path, marker, by_manage) in [
            ("/api/0/cards", "card-", false),
            ("/api/0/fences", "fence-", false),
            ("/api/0/alerts", "fence-", false),
            ("/api/0/quarantine", "owntracks/{user}/", true),
            ("/api/0/retention", "\"device\":\"", true),
            ("/api/0/deletions", "\"device\":\"", true),
        ] {
            let (status, body) = world.get(viewer, path).await;
            assert_eq!(status, StatusCode::OK, "{viewer} {path}: {body}");
            let text = body.to_string();
            for (user, device) in DEVICES {
                let marker = format!("{}{device}", marker.replace("{user}", user));
                let want = if by_manage {
                    may_manage(viewer, user)
                } else {
                    may_read(viewer, user, device)
                };
                assert_eq!(text.contains(&marker), want, "{viewer} {path} {marker}: {text}");
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
            let fence = json!({"name": format!("by-{viewer}"), "lat": 1.0, "lon": 2.0,
                "radius": 100, "user": user});
            let (status, body) =
                world.call(viewer, Method::POST, "/api/0/fences", Some(fence)).await;
            let made = if manage { StatusCode::CREATED } else { StatusCode::FORBIDDEN };
            assert_eq!(status, made, "fence: {what}: {body}");
            if !manage {
                // (An owner's kill would end the matrix: it is tested in recorder_api.)
                let path = format!("/api/0/kill?user={user}&device={device}");
                let (status, body) = world.call(viewer, Method::POST, &path, None).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "kill: {what}: {body}");
            }
            let secret = Some(json!({"secret": "matrix-secret"}));
            let path = format!("/api/0/secrets/{user}/{device}");
            let (status, _) = world.call(viewer, Method::PUT, &path, secret).await;
            assert_eq!(status, want, "secret: {what}");
            let path = format!("/api/0/odometer/{user}/{device}");
            let odo = Some(json!({"odo": 1000}));
            let (status, _) = world.call(viewer, Method::PUT, &path, odo).await;
            assert_eq!(status, want, "odometer: {what}");
            let (status, _) = world.call(viewer, Method::DELETE, &path, None).await;
            let cleared = if manage { StatusCode::NO_CONTENT } else { StatusCode::FORBIDDEN };
            assert_eq!(status, cleared, "odometer cleared: {what}");
            let path = format!("/api/0/jobs/{user}/{device}/active");
            let (status, _) = world.call(viewer, Method::PUT, &path, Some(json!({"job": 0}))).await;
            assert_eq!(status, want, "activo job: {what}");
            let path = format!("/api/0/jobs/{user}/{device}/names/3");
            let (status, _) =
                world.call(viewer, Method::PUT, &path, Some(json!({"name": "Matrix"}))).await;
            assert_eq!(status, want, "activo job name: {what}");
        }
    }
    // What the refused posts would have added is not there: each device has its two fixes
    // (away, then inside its region).
    for (user, device) in DEVICES {
        let points = world.server.points(user, device).await;
        assert_eq!(points.len(), 2, "{user}/{device}");
    }
    // A fence jane made for her devices: only she (or a superuser) changes or removes it; to
    // others it does not exist.
    let (_, fences) = world.get("jane", "/api/0/fences").await;
    let id = fences.as_array().unwrap().iter().find(|f| f["name"] == "by-jane").unwrap()["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/0/fences/{id}");
    let fence = json!({"name": "moved", "lat": 3.0, "lon": 4.0, "radius": 50, "user": "jane"});
    for viewer in ["bob", "carl"] {
        let (status, body) = world.call(viewer, Method::PUT, &path, Some(fence.clone())).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{viewer} PUT {path}: {body}");
        let (status, body) = world.call(viewer, Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{viewer} DELETE {path}: {body}");
        assert_eq!(body["error"], json!(format!("no fence {id}")));
    }
    let (_, fences) = world.get("jane", "/api/0/fences").await;
    assert!(fences.as_array().unwrap().iter().any(|f| f["id"] == json!(id) && f["lat"] == 1.0));
    let (status, _) = world.call("jane", Method::PUT, &path, Some(fence)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = world.call("jane", Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Admin-only routes.
    for viewer in ["jane", "carl", "eve"] {
        for (method, path) in [
            (Method::GET, "/api/0/q?lat=52.0&lon=13.0"),
            (Method::DELETE, "/api/0/users/bob"),
            (Method::PUT, "/api/0/users/bob/password"),
            (Method::GET, "/metrics"),
            (Method::GET, "/api/0/users"),
            (Method::GET, "/api/0/acls"),
            (Method::GET, "/api/0/groups"),
            (Method::GET, "/api/0/webhooks"),
            (Method::POST, "/api/0/quarantine/replay"),
            (Method::POST, "/api/0/monitor"),
        ] {
            // A body that would do something, so only the refusal can stop it.
            let body = json!({"password": "a-new-password-for-bob"});
            let (status, answer) = world.call(viewer, method.clone(), path, Some(body)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{viewer} {method} {path}: {answer}");
        }
    }
    let (status, _) = world.get("admin", "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let (status, me) = world.get("bob", "/api/0/me").await;
    assert_eq!((status, &me["user"]), (StatusCode::OK, &json!("bob")), "bob's password holds");
}

/// Every route the web server has, and the test here (or elsewhere, named) that holds it to
/// the rules. A route added without a place in the matrix fails
/// [`every_route_of_the_server_has_its_place_in_the_matrix`].
const ROUTES: &[(&str, &str)] = &[
    ("/pub", "changes_need_ownership_and_shares_never_give_it, http_mode_friends_..."),
    ("/metrics", "changes_need_ownership_...: admin-only"),
    ("/api/0/version", "nothing_but_the_version_answers_without_a_login_..."),
    ("/api/0/list", "every_read_route_..."),
    ("/api/0/last", "every_read_route_..."),
    ("/api/0/locations", "every_read_route_... (GET), changes_... (DELETE)"),
    ("/api/0/export", "every_read_route_..."),
    ("/api/0/track", "every_read_route_..."),
    ("/api/0/deletions", "every_read_route_...: lists"),
    ("/api/0/retention", "every_read_route_...: lists; changes_...: PUT"),
    ("/api/0/cmd", "every_read_route_... (GET), changes_... (POST)"),
    ("/api/0/quarantine", "every_read_route_...: lists"),
    ("/api/0/messages", "every_read_route_..."),
    ("/api/0/transitions", "every_read_route_..."),
    ("/api/0/waypoints", "every_read_route_..."),
    ("/api/0/state", "every_read_route_..."),
    ("/api/0/cards", "every_read_route_...: lists"),
    ("/api/0/inventory", "protocol (logins off there; filtered by Caller::reads, as /api/0/map)"),
    ("/api/0/quarantine/replay", "changes_...: admin-only"),
    ("/api/0/fences", "every_read_route_...: lists; changes_...: POST"),
    ("/api/0/fences/{id}", "changes_...: PUT and DELETE by others"),
    ("/api/0/alerts", "every_read_route_...; access_live::alert_pages_*"),
    ("/api/0/webhooks", "changes_...: admin-only"),
    ("/api/0/jobs", "every_read_route_..."),
    ("/api/0/jobs/names", "job_control (filtered by Caller::reads, as /api/0/jobs)"),
    ("/api/0/jobs/{user}/{device}/active", "changes_...: PUT (owner or superuser only)"),
    ("/api/0/jobs/{user}/{device}/names/{job}", "changes_...: PUT (owner or superuser only)"),
    ("/api/0/map", "every_read_route_..."),
    ("/api/0/monitor", "changes_...: admin-only POST"),
    ("/api/0/live", "the_live_stream_carries_only_visible_devices; access_live::*"),
    ("/api/0/login", "tokens_work_until_revoked_and_sessions_need_their_csrf_value"),
    ("/api/0/logout", "tokens_work_until_revoked_..."),
    ("/api/0/me", "tokens_work_until_revoked_..."),
    ("/api/0/tokens", "tokens_work_until_revoked_..."),
    ("/api/0/tokens/{id}", "tokens_work_until_revoked_...: another's refused"),
    ("/api/0/users", "changes_...: admin-only"),
    ("/api/0/users/{name}", "changes_...: admin-only"),
    ("/api/0/users/{name}/password", "changes_...: admin-only; a_password_change_ends_..."),
    ("/api/0/acls", "changes_...: admin-only"),
    ("/api/0/groups", "changes_...: admin-only"),
    ("/api/0/shares", "World::start, a_share_removed_or_ended_stops_at_once"),
    ("/api/0/shares/{id}", "a_share_removed_or_ended_stops_at_once: another's refused"),
    ("/api/0/secrets", "device_secrets_are_set_by_owners_and_superusers_and_never_shown"),
    ("/api/0/secrets/{user}/{device}", "changes_...: PUT; device_secrets_are_set_by_..."),
    ("/api/0/odometer/{user}/{device}", "changes_...: PUT, DELETE; odometer_bases_are_set_..."),
    ("/ctrld/conf", "ctrld::*"),
    ("/ctrld/cacert.pem", "ctrld::*"),
    ("/ctrld/tracks/{user}", "ctrld::* (a device not shared: 403)"),
    ("/api/0/q", "changes_...: admin-only"),
    ("/api/0/photo", "every_read_route_..."),
    ("/api/0/photo/", "recorder_frontend::q_photo_kill_and_form_bodies_follow_the_rules"),
    ("/api/0/kill", "changes_...: others refused; recorder_frontend::q_photo_kill_..."),
    ("/view/{name}", "tours::* (no login by design: an unguessable name, removed by untour)"),
    ("/ws/last", "recorder_frontend::the_socket_sends_only_what_its_user_may_see_..."),
    ("/ws", "recorder_frontend (the same handler as /ws/last)"),
    ("/api/0/{*verb}", "nothing_but_the_version_...: /api/0/nothing"),
];

#[test]
fn every_route_of_the_server_has_its_place_in_the_matrix() {
    let source = include_str!("../../pista-web/src/lib.rs");
    let mut routes = Vec::new();
    for piece in source.split(".route(").skip(1) {
        let path = piece.trim_start().strip_prefix('"').and_then(|rest| rest.split('"').next());
        routes.push(path.expect("a route's path as a string literal"));
    }
    let known: Vec<&str> = ROUTES.iter().map(|(path, _)| *path).collect();
    let missing: Vec<&&str> = routes.iter().filter(|path| !known.contains(path)).collect();
    assert_eq!(missing, Vec::<&&str>::new(), "routes without a place in the matrix");
    let gone: Vec<&&str> = known.iter().filter(|path| !routes.contains(path)).collect();
    assert_eq!(gone, Vec::<&&str>::new(), "matrix entries of routes that are gone");
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
async fn a_password_change_ends_the_other_sessions_but_not_the_tokens() {
    let world = World::start().await;
    let log_in = || async {
        let response = world
            .http
            .post(world.url("/api/0/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("user=eve&password={}", password("eve")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
        let login: Value = response.json().await.unwrap();
        (cookie.split(';').next().unwrap().to_owned(), login["csrf"].as_str().unwrap().to_owned())
    };
    let (changing, csrf) = log_in().await;
    let (other, _) = log_in().await;
    let (status, made) =
        world.call("eve", Method::POST, "/api/0/tokens", Some(json!({"label": "script"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = made["token"].as_str().unwrap().to_owned();
    let status =
        |request: reqwest::RequestBuilder| async move { request.send().await.unwrap().status() };
    let me = || world.http.get(world.url("/api/0/me"));

    let change = json!({"current": password("eve"), "password": "eve-second-secret"});
    let changed = world
        .http
        .put(world.url("/api/0/users/eve/password"))
        .header("cookie", &changing)
        .header("x-csrf-token", &csrf)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert_eq!(status(me().header("cookie", &other)).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(me().header("cookie", &changing)).await, StatusCode::OK);
    assert_eq!(status(me().bearer_auth(&token)).await, StatusCode::OK);
    let old = me().basic_auth("eve", Some(password("eve")));
    assert_eq!(status(old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(me().basic_auth("eve", Some("eve-second-secret"))).await, StatusCode::OK);

    // Errors about a password never show it: not a mistyped value, nor a bare one sent as a
    // form (where it arrives as a field's name).
    let changed = |body: reqwest::Body, form: bool| {
        let mut request = world
            .http
            .put(world.url("/api/0/users/eve/password"))
            .basic_auth("eve", Some("eve-second-secret"))
            .body(body);
        if form {
            request = request.header("content-type", "application/x-www-form-urlencoded");
        }
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let typed = r#"{"current":"eve-second-secret","password":987654321012}"#;
    let answer = changed(typed.into(), false).await;
    assert_eq!(
        answer,
        r#"{"error":"password must be a string (its value is not shown)","status":400}"#
    );
    let answer = changed("eve-bare-secret-1".into(), true).await;
    assert!(!answer.contains("eve-bare-secret-1"), "{answer}");
    assert!(answer.contains("its name is not repeated"), "{answer}");

    // A superuser's change ends every session of the user.
    let reset = json!({"password": "eve-third-secret"});
    let (code, _) =
        world.call("admin", Method::PUT, "/api/0/users/eve/password", Some(reset)).await;
    assert_eq!(code, StatusCode::NO_CONTENT);
    assert_eq!(status(me().header("cookie", &changing)).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(me().bearer_auth(&token)).await, StatusCode::OK);
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
    let points = world.server.wait_points("jane", "phone", 3).await;
    let times: Vec<i64> = points.iter().map(|p| p.tst).collect();
    assert_eq!(times, [TST - 50, TST, TST + 101]);
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
    // Events of the world's making (bob's car, which carl may see) can come first.
    let mut text = String::new();
    let phone_fix = format!("\"tst\":{}", TST + 301);
    while !text.contains(&phone_fix) {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("an event")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let phone = text.split("\n\n").find(|event| event.contains(&phone_fix)).unwrap();
    assert!(phone.starts_with("event: map"), "{phone}");
    assert!(phone.contains("owntracks/jane/phone"), "carl sees the phone: {phone}");
    // The tablet's fix was published (and so streamed) before the phone's.
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
async fn odometer_bases_are_set_by_owners_and_superusers_only() {
    let world = World::start().await;
    let object = |objects: Value, device: &str| {
        objects.as_array().unwrap().iter().find(|o| o["device"] == device).unwrap().clone()
    };
    let (status, answer) = world
        .call("jane", Method::PUT, "/api/0/odometer/jane/phone", Some(json!({"odo": 42})))
        .await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"user":"jane","device":"phone","odo":42.0}))
    );
    let (status, _) = world
        .call("admin", Method::PUT, "/api/0/odometer/bob/car", Some(json!({"odo": 7.9})))
        .await;
    assert_eq!(status, StatusCode::OK);
    // carl sees jane's phone through a share, and bob's car through his group: no say.
    for (viewer, path) in [
        ("carl", "/api/0/odometer/jane/phone"),
        ("carl", "/api/0/odometer/bob/car"),
        ("bob", "/api/0/odometer/jane/phone"),
        ("eve", "/api/0/odometer/jane/tablet"),
    ] {
        let owner = path.split('/').nth(4).unwrap();
        let (status, answer) = world.call(viewer, Method::PUT, path, Some(json!({"odo": 1}))).await;
        let refusal = format!("user {viewer} may not change the data of user {owner}");
        assert_eq!(
            (status, answer["error"].as_str().unwrap()),
            (StatusCode::FORBIDDEN, refusal.as_str())
        );
        let (status, _) = world.call(viewer, Method::DELETE, path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{viewer} DELETE {path}");
    }
    // What each may see shows the value set by those who may.
    let (_, objects) = world.get("carl", "/api/0/map").await;
    assert_eq!(object(objects.clone(), "phone")["odo"], json!(42));
    assert_eq!(object(objects, "car")["odo"], json!(7));
    let (status, _) = world.call("bob", Method::DELETE, "/api/0/odometer/bob/car", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, objects) = world.get("bob", "/api/0/map").await;
    assert_eq!(object(objects, "car").get("odo"), None);
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
            (
                400,
                "an unknown field (its name is not repeated: the body carries a secret); known: \
                 secret",
            ),
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
    assert_eq!(times, [TST - 50, TST, TST + 1, TST + 3]);

    let (status, _) = world.call("jane", Method::DELETE, "/api/0/secrets/jane/phone", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = world.get("jane", "/api/0/secrets").await;
    assert_eq!(list, json!([]));
    let response = world.publish("jane", "jane", "phone", &sealed("three-3", TST + 4)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}
