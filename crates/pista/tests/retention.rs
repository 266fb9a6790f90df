//! Deletion and retention end to end: `DELETE /api/0/locations` for a range and for everything
//! (with `/api/0/last`, `/api/0/map` and the deletion log following), the `pista delete` and
//! `pista retention` commands of the real binary, a scheduled retention pass against a server
//! holding data uploaded late (ages count from `tst`, bug case B08), a running server following
//! `pista delete` run beside it on the same database, and the retained `_map` object cleared on
//! the real Mosquitto when its device is deleted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::common::{
    TestServer, eventually, eventually_within, forget_session, mosquitto_url, pista_in,
    publish_mosquitto, unique, use_mosquitto, wait_for_subscription,
};
use pista_core::DeviceKey;
use pista_store::{LocationQuery, SqlStore, Storage};
use serde_json::{Value, json};

const DAY: i64 = 86_400;

fn fix(lat: f64, tst: i64) -> String {
    json!({"_type": "location", "lat": lat, "lon": 13.4, "tst": tst, "tid": "JP"}).to_string()
}

async fn post_fix(server: &TestServer, user: &str, device: &str, lat: f64, tst: i64) {
    let headers = [("X-Limit-U", user), ("X-Limit-D", device)];
    let response = server.post("/pub", &headers, fix(lat, tst)).await;
    assert_eq!(response.status(), 200);
}

async fn delete(server: &TestServer, query: &str) -> (u16, Value) {
    let url = format!("{}/api/0/locations?{query}", server.http);
    let response = reqwest::Client::new().delete(url).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The `tst` of every device's last fix, as `/api/0/last` shows it.
async fn last(server: &TestServer, user: &str) -> Vec<(String, i64)> {
    let (status, last) = server.get(&format!("/api/0/last?user={user}")).await;
    assert_eq!(status, 200);
    let items = last.as_array().unwrap();
    items
        .iter()
        .map(|i| (i["device"].as_str().unwrap().into(), i["tst"].as_i64().unwrap()))
        .collect()
}

/// The `tst` of every device object the outputs stage holds for `user`.
async fn map(server: &TestServer, user: &str) -> Vec<(String, i64)> {
    let (status, objects) = server.get(&format!("/api/0/map?user={user}")).await;
    assert_eq!(status, 200);
    let items = objects.as_array().unwrap();
    items
        .iter()
        .map(|i| (i["device"].as_str().unwrap().into(), i["tst"].as_i64().unwrap()))
        .collect()
}

#[tokio::test]
async fn the_api_deletes_a_range_then_everything_and_every_view_follows() {
    let server = TestServer::start(|_| {}).await;
    let user = unique("del");
    for (lat, tst) in
        [(52.1, 1_700_000_000), (52.2, 1_700_000_000 + DAY), (52.3, 1_700_000_000 + 2 * DAY)]
    {
        post_fix(&server, &user, "phone", lat, tst).await;
    }
    post_fix(&server, &user, "tablet", 48.1, 1_700_000_000).await;
    let newest = 1_700_000_000 + 2 * DAY;
    assert_eq!(
        last(&server, &user).await,
        [("phone".into(), newest), ("tablet".into(), 1_700_000_000)]
    );

    let (status, answer) = delete(&server, &format!("user={user}&device=phone")).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["error"],
        "give from and/or to (fix times) to delete a range, or all=true to delete everything of \
         the user or device"
    );

    // The newest fix goes: the last position and the device object move back one day.
    let query = format!("user={user}&device=phone&from=2023-11-16");
    let (status, answer) = delete(&server, &query).await;
    assert_eq!(status, 200);
    let device = format!("{user}/phone");
    assert_eq!(
        answer,
        json!({"deleted": {"locations": 1}, "total": 1, "devices": [device], "removed": [],
            "log": answer["log"]})
    );
    let previous = 1_700_000_000 + DAY;
    assert_eq!(last(&server, &user).await[0], ("phone".into(), previous));
    eventually("the device object to move back", || async {
        (map(&server, &user).await.first() == Some(&("phone".to_owned(), previous))).then_some(())
    })
    .await;

    // Everything of the user: both devices are unknown afterwards.
    let (status, answer) = delete(&server, &format!("user={user}&all=true")).await;
    assert_eq!(status, 200);
    assert_eq!(answer["deleted"]["locations"], 3);
    assert_eq!(answer["deleted"]["devices"], 2);
    assert_eq!(answer["removed"], json!([format!("{user}/phone"), format!("{user}/tablet")]));
    assert!(last(&server, &user).await.is_empty());
    let (_, list) = server.get(&format!("/api/0/list?user={user}")).await;
    assert_eq!(list, json!({"results": []}));
    eventually("the device objects to go", || async {
        map(&server, &user).await.is_empty().then_some(())
    })
    .await;

    let (status, log) = server.get("/api/0/deletions?limit=2").await;
    assert_eq!(status, 200);
    let shown: Vec<Value> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!([e["by"], e["user"], e["device"], e["everything"], e["from"], e["total"]]))
        .collect();
    assert_eq!(
        shown,
        [
            json!(["api", user, null, true, null, 5]),
            json!(["api", user, "phone", false, "2023-11-16T00:00:00Z", 1]),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn the_commands_delete_set_rules_and_read_the_log_on_the_database() {
    let server = TestServer::start(|_| {}).await;
    for (lat, tst) in [(52.1, 1_700_000_000), (52.2, 1_700_000_000 + DAY)] {
        post_fix(&server, "jane", "phone", lat, tst).await;
    }
    let dir = server.dir.path().to_owned();
    let data = server.dir;
    server.server.stop().await;

    let (ok, _, err) = pista_in(&dir, &["delete", "--user", "jane", "--device", "phone"]);
    assert!(!ok);
    assert!(
        err.contains("give --from and/or --to (fix times) to delete a range, or --all"),
        "{err}"
    );
    let (ok, out, err) =
        pista_in(&dir, &["delete", "--user", "jane", "--device", "phone", "--to", "2023-11-15"]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "deleted 1 rows of jane/phone, * to 2023-11-15T00:00:00Z: locations 1 (deletion log entry 1)\n"
    );
    assert!(err.is_empty(), "{err}");

    let (ok, out, err) = pista_in(&dir, &["retention", "set", "--user", "jane", "--days", "30"]);
    assert!(ok, "{err}");
    assert_eq!(out, "retention rule set: jane (every device) keeps 30 days\n");
    let (ok, out, _) =
        pista_in(&dir, &["retention", "set", "--user", "jane", "--device", "phone", "--days", "0"]);
    assert!(ok);
    assert_eq!(out, "retention rule set: jane/phone keeps everything\n");
    let (ok, out, _) = pista_in(&dir, &["retention", "list", "--retention-days", "365"]);
    assert!(ok);
    assert_eq!(
        out,
        "default (retention.days): 365 days\nrule jane (every device): 30 days\n\
         rule jane/phone: everything\ndevice jane/phone: everything\n"
    );
    let (ok, _, err) = pista_in(&dir, &["retention", "set", "--user", "jane", "--days", "forever"]);
    assert!(!ok);
    assert!(
        err.contains("--days \"forever\" is not a whole number from 0 (keep all) to 36500"),
        "{err}"
    );
    let (ok, out, _) = pista_in(&dir, &["retention", "del", "--user", "jane", "--device", "phone"]);
    assert!(ok);
    assert_eq!(out, "retention rule removed for jane/phone\n");

    let (ok, out, _) = pista_in(&dir, &["delete", "--user", "jane", "--all"]);
    assert!(ok);
    assert!(out.starts_with("deleted 3 rows of jane (every device), everything: "), "{out}");
    assert_eq!(
        out.split_once(": ").unwrap().1,
        "devices 1, locations 1, retention_rules 1 (deletion log entry 2)\n"
    );
    let (ok, out, _) = pista_in(&dir, &["retention", "log"]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().map(|l| l.split_once(" by ").unwrap().1).collect();
    assert_eq!(
        lines,
        [
            "cli jane (every device), everything: 3 rows (devices 1, locations 1, retention_rules 1)",
            "cli jane/phone, * to 2023-11-15T00:00:00Z: 1 rows (locations 1)",
        ]
    );

    let store = SqlStore::open(&format!("sqlite://{}/pista.db", dir.display())).await.unwrap();
    assert!(store.users().await.unwrap().is_empty());
    drop(data);
}

/// `pista delete` beside a running server on the same database: the server's device objects
/// follow without any traffic, and the deleted device's next fix is stored and shown (the
/// server's writer forgot the deleted device's id).
#[tokio::test]
async fn a_running_server_follows_pista_delete_beside_it() {
    let server = TestServer::start(|_| {}).await;
    let t = 1_700_000_000;
    post_fix(&server, "jane", "phone", 52.1, t).await;
    post_fix(&server, "jane", "phone", 52.2, t + DAY).await;
    post_fix(&server, "jane", "tablet", 52.3, t).await;
    let both = vec![("phone".to_owned(), t + DAY), ("tablet".to_owned(), t)];
    assert_eq!(map(&server, "jane").await, both);
    let dir = server.dir.path().to_owned();

    let range = ["delete", "--user", "jane", "--device", "phone", "--from", "2023-11-15"];
    let (ok, _, err) = pista_in(&dir, &range);
    assert!(ok, "{err}");
    let older = vec![("phone".to_owned(), t), ("tablet".to_owned(), t)];
    eventually_within(Duration::from_secs(20), "the map after the range", || async {
        (map(&server, "jane").await == older).then_some(())
    })
    .await;

    let (ok, _, err) = pista_in(&dir, &["delete", "--user", "jane", "--device", "phone", "--all"]);
    assert!(ok, "{err}");
    let tablet = vec![("tablet".to_owned(), t)];
    eventually_within(Duration::from_secs(20), "the map after everything", || async {
        (map(&server, "jane").await == tablet).then_some(())
    })
    .await;

    post_fix(&server, "jane", "phone", 52.4, t + 2 * DAY).await;
    let again = vec![("phone".to_owned(), t + 2 * DAY), ("tablet".to_owned(), t)];
    assert_eq!(last(&server, "jane").await, again);
    eventually("the map with the new fix", || async {
        (map(&server, "jane").await == again).then_some(())
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_scheduled_pass_deletes_by_fix_time_and_keeps_what_rules_keep() {
    let server = TestServer::start(|s| {
        s.retention_days = 30;
        s.retention_interval = 1;
    })
    .await;
    let user = unique("ret");
    let now = pista_ingest::now();
    // Uploaded today, recorded 40 days ago: it is 40 days old (bug case B08).
    post_fix(&server, &user, "logger", 51.05, now - 40 * DAY).await;
    post_fix(&server, &user, "logger", 51.06, now - DAY).await;
    let url = format!("{}/api/0/retention", server.http);
    let rule = json!({"user": user, "device": "archive", "days": 0});
    let response = reqwest::Client::new().put(&url).json(&rule).send().await.unwrap();
    assert_eq!(response.status(), 200);
    post_fix(&server, &user, "archive", 48.1, now - 400 * DAY).await;

    let points = eventually("the old fix to go", || async {
        let points = server.points(&user, "logger").await;
        (points.len() == 1).then_some(points)
    })
    .await;
    assert_eq!(points[0].tst, now - DAY);
    assert_eq!(
        last(&server, &user).await,
        [("archive".into(), now - 400 * DAY), ("logger".into(), now - DAY)]
    );

    // The log entry is written once the chunks are committed: a moment after the fix went.
    let entry = eventually("the deletion in the log", || async {
        let (_, log) = server.get("/api/0/deletions").await;
        log.as_array().unwrap().iter().find(|e| e["user"] == user.as_str()).cloned()
    })
    .await;
    assert_eq!(
        json!([entry["by"], entry["device"], entry["counts"], entry["everything"]]),
        json!(["retention", "logger", {"locations": 1}, false])
    );
    let (_, rules) = server.get("/api/0/retention").await;
    let devices: Vec<&Value> = rules["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["user"] == user.as_str())
        .collect();
    assert_eq!(
        devices,
        [
            &json!({"user": user, "device": "archive", "days": 0}),
            &json!({"user": user, "device": "logger", "days": 30}),
        ]
    );
    assert_eq!(rules["days"], 30);
    server.stop().await;
}

/// The retained messages on `topic` at the test Mosquitto: a fresh client subscribes, then
/// publishes a marker on the same topic; what arrives before the marker was retained.
async fn retained_on(topic: &str) -> Vec<String> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let url = pista_ingest::BrokerUrl::parse(&mosquitto_url()).unwrap();
    let mut options = MqttOptions::new(unique("retained"), url.host.clone(), url.port);
    options.set_clean_session(true);
    let (client, mut events) = AsyncClient::new(options, 10);
    client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
    let marker = unique("marker");
    let mut heard = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let event = tokio::time::timeout_at(deadline, events.poll()).await.expect("broker silent");
        match event.unwrap() {
            Event::Incoming(Packet::SubAck(_)) => {
                client.publish(topic, QoS::AtLeastOnce, false, marker.clone()).await.unwrap();
            }
            Event::Incoming(Packet::Publish(publish)) => {
                let payload = String::from_utf8_lossy(&publish.payload).into_owned();
                if payload == marker {
                    break;
                }
                heard.push(payload);
            }
            _ => {}
        }
    }
    let _ = client.disconnect().await;
    heard
}

#[tokio::test]
async fn deleting_a_device_clears_its_retained_map_object_on_mosquitto() {
    let user = unique("delmap");
    let client_id = unique("pista-delmap");
    let prefix = unique("_pd");
    let topics = vec![format!("owntracks/{user}/#")];
    let server = TestServer::start(|s| {
        use_mosquitto(s, &client_id, &topics);
        s.map_topic = format!("{prefix}/_map");
        s.look_topic = format!("{prefix}/_look");
    })
    .await;
    wait_for_subscription(&server, &user).await;
    let device = format!("owntracks/{user}/phone");
    publish_mosquitto(&[(&device, fix(52.5, 1_700_000_000).as_bytes(), false)]).await;
    let map_topic = format!("{prefix}/_map/{device}");
    let object =
        eventually("the retained device object", || async { retained_on(&map_topic).await.pop() })
            .await;
    assert!(object.contains(r#""tst":1700000000"#), "{object}");

    let (status, answer) = delete(&server, &format!("user={user}&device=phone&all=true")).await;
    assert_eq!(status, 200);
    assert_eq!(answer["removed"], json!([format!("{user}/phone")]));
    eventually("the retained device object to be cleared", || async {
        retained_on(&map_topic).await.is_empty().then_some(())
    })
    .await;
    let key = DeviceKey::parse(&user, "phone").unwrap();
    let query = LocationQuery { key, from: None, to: None, limit: None };
    assert!(server.server.store.locations(&query).await.unwrap().is_empty());

    server.stop().await;
    forget_session(&client_id).await;
}
