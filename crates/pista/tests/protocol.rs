//! What the apps get from Pista beyond storage, over the real HTTP server and embedded broker:
//! encrypted payloads opened with the device's secret (the public Android vector), envelopes
//! that cannot be opened quarantined and answered 403, then replayed once the secret is set;
//! HTTP-mode answers with friends' cards and locations and queued commands (sealed when the
//! request was); commands published over MQTT to the device's `cmd` topic; the Android ping that
//! repeats a fix; and the `t_ignore`, `tid_map` and `rawdata` switches.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::common::{TestServer, publish_v311, unique};
use pista_core::crypto::{self, Secret};
use pista_core::{Card, DeviceKey, UserName};
use serde_json::{Value, json};

/// The public Android test vector (protocol.md §7): secret `123`.
const ANDROID_ENVELOPE: &str = r#"{"_type":"encrypted","_id":"0571e18d","data":"aUiEKyGnskRz383od0mu4uqxTIxeZUddBVxKEmsdv1FFSH2y0NwqLP1tTqOmxaFhGv0bNX1DT7o81FW9Yaxpla6Byvr6CZV3t2skQv8nlxiIv1ZpQWM1bqHE0JFHwD3/yRx9bLHRF3j67kWcO6o2D/xn4ma8Fd4u86NPobFkRIzIhJljphEZyDCGugp7H3FkydGvgEkljb1/P1K91E/ij+m73wFplvTQm8ba5eWSFlQHDdY2B7QwbVPrKarHJLrm1+Y29+HD4Wg6TNhBJZLvdsmek6AcZLB+bq7Q84tUWoLrKp3aiyJZZX70q4HbVI3skkmDWMuMP2cDmsY9bvBjh1ZWAGlOq5VS1dWIlu6OWgWN9VdDbLzP+s2ykeFXrGs="}"#;

fn key(user: &str, device: &str) -> DeviceKey {
    DeviceKey::parse(user, device).unwrap()
}

async fn post_json(server: &TestServer, path: &str, body: &str) -> (u16, Value) {
    let response =
        server.post(path, &[("content-type", "application/json")], body.to_owned()).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn encrypted_posts_are_opened_with_the_device_secret_and_answered_sealed() {
    let server = TestServer::start(|_| {}).await;
    let store = server.server.store.clone();
    store.set_secret(&key("alice", "phone"), Some("123"), 1).await.unwrap();

    let (status, answer) = post_json(&server, "/pub?u=alice&d=phone", ANDROID_ENVELOPE).await;
    assert_eq!(status, 200);
    assert_eq!(answer["_type"], json!("encrypted"));
    let opened = crypto::open(&Secret::new("123").unwrap(), answer["data"].as_str().unwrap());
    assert_eq!(opened.unwrap(), b"[]");

    let points = server.points("alice", "phone").await;
    assert_eq!(
        (points.len(), points[0].lat, points[0].lon, points[0].tst),
        (1, 50.1182933, -5.5407733, 1754215100)
    );
    assert_eq!(points[0].json["_decrypted"], json!(true));
    assert_eq!(points[0].json["SSID"], json!("AndroidWifi"));
    assert_eq!(points[0].json["tid"], json!("xa"));
    server.stop().await;
}

#[tokio::test]
async fn envelopes_that_cannot_be_opened_are_quarantined_then_replayed_once_the_secret_is_set() {
    let server = TestServer::start(|_| {}).await;
    let store = server.server.store.clone();
    let bob = key("bob", "phone");

    let (status, answer) = post_json(&server, "/pub?u=bob&d=phone", ANDROID_ENVELOPE).await;
    assert_eq!(status, 403);
    assert_eq!(
        answer["error"],
        json!("no encryption secret is set for bob/phone (kept in quarantine as no_key)")
    );
    // The app retries; the envelope is kept once.
    assert_eq!(post_json(&server, "/pub?u=bob&d=phone", ANDROID_ENVELOPE).await.0, 403);

    store.set_secret(&bob, Some("1234"), 1).await.unwrap();
    let (status, answer) = post_json(&server, "/pub?u=bob&d=phone", ANDROID_ENVELOPE).await;
    assert_eq!(status, 403);
    assert_eq!(
        answer["error"],
        json!(
            "data does not authenticate: wrong secret or altered data (kept in quarantine as \
             bad_key)"
        )
    );
    let (status, answer) =
        post_json(&server, "/pub?u=bob&d=phone", r#"{"_type":"encrypted","data":"not base64!"}"#)
            .await;
    assert_eq!(
        (status, answer["error"].as_str().unwrap().ends_with("as bad_base64)")),
        (403, true)
    );

    // The envelope tried with the wrong secret is the one already waiting: kept once.
    let quarantined = store.quarantined(Some(&bob)).await.unwrap();
    assert_eq!(
        quarantined.iter().map(|q| q.reason.as_str()).collect::<Vec<_>>(),
        ["no_key", "bad_base64"]
    );
    assert!(server.points("bob", "phone").await.is_empty());

    store.set_secret(&bob, Some("123"), 2).await.unwrap();
    let (status, replay) = post_json(&server, "/api/0/quarantine/replay", "{}").await;
    assert_eq!(status, 200);
    assert_eq!(replay["replayed"], json!([quarantined[0].id]));
    assert_eq!(replay["still_quarantined"][0]["reason"], json!("bad_base64"));
    let points = server.points("bob", "phone").await;
    assert_eq!((points.len(), points[0].tst), (1, 1754215100));
    // Replaying again finds nothing new to release.
    let (_, replay) =
        post_json(&server, "/api/0/quarantine/replay", r#"{"reason":"no_key"}"#).await;
    assert_eq!(replay["replayed"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn encrypted_mqtt_messages_are_stored_like_plain_ones() {
    let server = TestServer::start(|_| {}).await;
    let store = server.server.store.clone();
    store.set_secret(&key("carol", "phone"), Some("mysecreTpass01"), 1).await.unwrap();
    let secret = Secret::new("mysecreTpass01").unwrap();
    let plain =
        br#"{"_type":"transition","event":"enter","desc":"Home","tst":1700000000,"lat":1,"lon":2}"#;
    let envelope = json!({"_type":"encrypted","data": crypto::seal(&secret, plain)}).to_string();
    let lwt = br#"{"_type":"lwt","tst":1700000001}"#;
    publish_v311(
        server.broker_port(),
        &[
            ("owntracks/carol/phone/event", envelope.as_bytes(), false),
            // A plain message from a device with a secret is accepted too (iOS mixes them).
            ("owntracks/carol/phone", lwt, false),
        ],
    )
    .await;
    let carol = key("carol", "phone");
    let transitions = store.transitions(&carol).await.unwrap();
    assert_eq!(
        transitions
            .iter()
            .map(|t| (t.tst, t.event.as_str(), t.desc.as_deref()))
            .collect::<Vec<_>>(),
        [(1700000000, "enter", Some("Home"))]
    );
    assert_eq!(store.device_state(&carol).await.unwrap().unwrap().online, Some(0));
    server.stop().await;
}

#[tokio::test]
async fn http_answers_carry_friends_cards_locations_and_queued_commands_once() {
    let server = TestServer::start(|_| {}).await;
    let store = server.server.store.clone();
    let dad = UserName::parse("dad").unwrap();
    let kid = UserName::parse("kid").unwrap();
    store.add_friend(&dad, &kid, None).await.unwrap();
    let fix = r#"{"_type":"location","tid":"KD","lat":48.1,"lon":11.5,"tst":1700000000,"batt":80,"vel":12,"conn":"m"}"#;
    assert_eq!(post_json(&server, "/pub?u=kid&d=phone", fix).await, (200, json!([])));
    let card = Card { name: Some("Kid".to_owned()), face: Some("aGk=".to_owned()), tid: None };
    store.set_card(&kid, None, &card, 1).await.unwrap();

    let (status, sent) = post_json(
        &server,
        "/api/0/cmd",
        r#"{"user":"dad","device":"phone","action":"reportLocation"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sent["command"], json!({"_type":"cmd","action":"reportLocation"}));
    assert_eq!(sent["mqtt"], json!("published"));

    let own = r#"{"_type":"location","lat":48.2,"lon":11.6,"tst":1700000100}"#;
    let expected = json!([
        {"_type":"card","tid":"KD","name":"Kid","face":"aGk="},
        {"_type":"location","tid":"KD","lat":48.1,"lon":11.5,"tst":1700000000,"vel":12,"batt":80,
            "topic":"owntracks/kid/phone"},
        {"_type":"cmd","action":"reportLocation"}
    ]);
    assert_eq!(post_json(&server, "/pub?u=dad&d=phone", own).await, (200, expected.clone()));
    // The command was handed over once; friends come every time.
    let (_, again) = post_json(&server, "/pub?u=dad&d=phone", own).await;
    assert_eq!(again, json!([expected[0], expected[1]]));

    let (_, commands) = server.get("/api/0/cmd?user=dad&device=phone").await;
    let command = &commands[0];
    assert_eq!(
        (&command["action"], command["mqtt_at"].is_i64(), command["http_at"].is_i64()),
        (&json!("reportLocation"), true, true)
    );

    let (status, bad) =
        post_json(&server, "/api/0/cmd", r#"{"user":"dad","device":"phone","action":"nope"}"#)
            .await;
    assert_eq!(status, 400);
    assert!(bad["error"].as_str().unwrap().starts_with("unknown command action \"nope\""));
    server.stop().await;
}

#[tokio::test]
async fn commands_reach_the_device_cmd_topic_over_mqtt() {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let server = TestServer::start(|_| {}).await;
    let mut options = MqttOptions::new(unique("device"), "127.0.0.1", server.broker_port());
    options.set_clean_session(true).set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(options, 10);
    client.subscribe("owntracks/eve/phone/cmd", QoS::AtLeastOnce).await.unwrap();
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = events.poll().await.unwrap() {
            break;
        }
    }
    // 200 regions, about 30 KB: more than an MQTT client's default limit of 10 KiB.
    let regions: Vec<Value> = (0..200)
        .map(|i| {
            json!({"_type":"waypoint","desc":format!("Region number {i:03} with a longer name"),
            "lat":48.0 + f64::from(i) / 1000.0,"lon":11.0,"rad":100,"tst":1_700_000_000 + i})
        })
        .collect();
    let waypoints = json!({"_type":"waypoints","waypoints":regions});
    let body = json!({"user":"eve","device":"phone","action":"setWaypoints","waypoints":waypoints});
    assert!(body.to_string().len() > 20_000);
    let (status, sent) = post_json(&server, "/api/0/cmd", &body.to_string()).await;
    assert_eq!((status, &sent["mqtt"]), (200, &json!("published")), "{sent}");
    let received = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::Incoming(Packet::Publish(publish)) = events.poll().await.unwrap() {
                return publish;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        (received.topic.as_str(), received.qos, received.retain),
        ("owntracks/eve/phone/cmd", QoS::AtLeastOnce, false)
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&received.payload).unwrap(),
        json!({"_type":"cmd","action":"setWaypoints","waypoints":waypoints})
    );
    server.stop().await;
}

#[tokio::test]
async fn an_android_ping_repeating_a_fix_refreshes_liveness_without_a_point() {
    let server = TestServer::start(|_| {}).await;
    let store = server.server.store.clone();
    let fix = r#"{"_type":"location","lat":52.5,"lon":13.4,"tst":1700000000,"created_at":1700000000,"_id":"aa"}"#;
    let ping = r#"{"_type":"location","t":"p","lat":52.5,"lon":13.4,"tst":1700000000,"created_at":1700000900,"_id":"bb"}"#;
    post_json(&server, "/pub?u=pinger&d=phone", fix).await;
    let seen = store.device_state(&key("pinger", "phone")).await.unwrap().unwrap().last_seen;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(post_json(&server, "/pub?u=pinger&d=phone", ping).await, (200, json!([])));
    assert_eq!(server.points("pinger", "phone").await.len(), 1);
    let state = store.device_state(&key("pinger", "phone")).await.unwrap().unwrap();
    assert!(state.last_seen > seen, "{} > {seen}", state.last_seen);
    server.stop().await;
}

#[tokio::test]
async fn the_switches_t_ignore_tid_map_and_rawdata_do_what_they_say() {
    let server = TestServer::start(|settings| {
        settings.t_ignore = vec!["p".to_owned()];
        settings.tid_map = vec![("owntracks/fleet/van1".to_owned(), "V1".to_owned())];
        settings.rawdata = true;
    })
    .await;
    let store = server.server.store.clone();
    publish_v311(
        server.broker_port(),
        &[
            (
                "owntracks/fleet/van1",
                br#"{"_type":"location","t":"p","lat":1,"lon":1,"tst":1700000000}"#,
                false,
            ),
            (
                "owntracks/fleet/van1",
                br#"{"_type":"location","tid":"zz","lat":2,"lon":2,"tst":1700000060}"#,
                false,
            ),
            ("owntracks/fleet/van1/gps/$stats", b"uptime=1", false),
        ],
    )
    .await;
    let points = server.points("fleet", "van1").await;
    assert_eq!(
        points.iter().map(|p| (p.tst, p.json["tid"].clone())).collect::<Vec<_>>(),
        [(1700000060, json!("V1"))]
    );
    // Every message off the wire, as it came, including those not stored.
    let raw = store.rawdata().await.unwrap();
    assert_eq!(
        raw.iter()
            .map(|(topic, _, payload)| (topic.as_str(), String::from_utf8_lossy(payload)))
            .collect::<Vec<_>>(),
        [
            (
                "owntracks/fleet/van1",
                r#"{"_type":"location","t":"p","lat":1,"lon":1,"tst":1700000000}"#.into()
            ),
            (
                "owntracks/fleet/van1",
                r#"{"_type":"location","tid":"zz","lat":2,"lon":2,"tst":1700000060}"#.into()
            ),
            ("owntracks/fleet/van1/gps/$stats", "uptime=1".into())
        ]
    );
    let stats = server.server.pipeline.stats();
    assert_eq!(stats.ignored.load(std::sync::atomic::Ordering::Relaxed), 2);
    server.stop().await;
}

#[tokio::test]
async fn an_envelope_nobody_can_open_is_acknowledged_quarantined_and_passed_on_to_nobody() {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let server = TestServer::start(|_| {}).await;
    let options = MqttOptions::new(unique("friend"), "127.0.0.1", server.broker_port());
    let (friend, mut events) = AsyncClient::new(options, 10);
    friend.subscribe("owntracks/+/+", QoS::AtLeastOnce).await.unwrap();
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = events.poll().await.unwrap() {
            break;
        }
    }
    let lwt = br#"{"_type":"lwt","tst":1700000001}"#;
    // publish_v311 waits for both PUBACKs: the envelope is acknowledged although it stays shut.
    publish_v311(
        server.broker_port(),
        &[
            ("owntracks/zed/phone", ANDROID_ENVELOPE.as_bytes(), true),
            // A malformed envelope would replace the retained position with garbage.
            ("owntracks/zed/phone", br#"{"_type":"encrypted"}"#, true),
            ("owntracks/zed/phone", lwt, false),
        ],
    )
    .await;
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::Incoming(Packet::Publish(publish)) = events.poll().await.unwrap() {
                return publish.payload.to_vec();
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(first, lwt.to_vec(), "the friend gets the last will, never the envelope");
    let quarantined = server.server.store.quarantined(Some(&key("zed", "phone"))).await.unwrap();
    assert_eq!(
        quarantined.iter().map(|q| (q.reason.as_str(), q.payload.len())).collect::<Vec<_>>(),
        [("no_key", ANDROID_ENVELOPE.len()), ("invalid_message", 21)]
    );
    server.stop().await;
}

#[tokio::test]
async fn what_devices_send_besides_tracks_can_be_read_back() {
    let server = TestServer::start(|_| {}).await;
    publish_v311(
        server.broker_port(),
        &[
            ("owntracks/gw/K2/start", b"123456789012345 0.8.1 20140930T085913Z", true),
            ("owntracks/gw/K2/voltage/ext", b"12.2", true),
            ("owntracks/gw/K2/status", b"1", true),
            ("owntracks/gw/K2/info", b"Van 17, driver Joe", true),
            (
                "owntracks/jane/phone/event",
                br#"{"_type":"transition","event":"leave","desc":"Work","tst":1700000300,"lat":52.5,"lon":13.4,"acc":0.0,"t":"b"}"#,
                false,
            ),
            (
                "owntracks/jane/phone/waypoints",
                br#"{"_type":"waypoints","waypoints":[{"_type":"waypoint","desc":"Work","lat":52.5,"lon":13.4,"rad":"80","tst":1690000000}]}"#,
                false,
            ),
            ("owntracks/jane/phone/info", br#"{"_type":"card","name":"Jane","tid":"JD"}"#, true),
            ("owntracks/jane/phone/step", br#"{"_type":"steps","tst":1700000400,"from":1699990000,"to":1700000400,"steps":4321}"#, false),
        ],
    )
    .await;

    let (status, inventory) = server.get("/api/0/inventory").await;
    assert_eq!(status, 200);
    let mut item = inventory[0].clone();
    item.as_object_mut().unwrap().remove("updated");
    assert_eq!(
        item,
        json!({"imei":"123456789012345","user":"gw","device":"k2","version":"0.8.1",
            "startup":1412067553,"vbatt":null,"vext":12.2,"odo":null})
    );
    let (_, state) = server.get("/api/0/state?user=gw&device=k2").await;
    assert_eq!(
        (&state["online"], &state["info"], &state["vext"], &state["imei"]),
        (&json!(1), &json!("Van 17, driver Joe"), &json!(12.2), &json!("123456789012345"))
    );
    let (_, transitions) = server.get("/api/0/transitions?user=jane&device=phone").await;
    assert_eq!(
        transitions,
        json!([{"tst":1700000300,"wtst":null,"event":"leave","desc":"Work","lat":52.5,"lon":13.4,
            "acc":0.0,"t":"b","rid":null,"isotst":"2023-11-14T22:18:20Z"}])
    );
    let (_, later) =
        server.get("/api/0/transitions?user=jane&device=phone&from=2023-11-14T22:18:21").await;
    assert_eq!(later, json!([]));
    let (_, waypoints) = server.get("/api/0/waypoints?user=jane&device=phone").await;
    assert_eq!(
        (&waypoints[0]["desc"], &waypoints[0]["rad"], &waypoints[0]["tst"]),
        (&json!("Work"), &json!(80.0), &json!(1690000000))
    );
    let (_, cards) = server.get("/api/0/cards").await;
    assert_eq!((&cards[0]["name"], &cards[0]["tid"]), (&json!("Jane"), &json!("JD")));
    let (_, steps) = server.get("/api/0/messages?user=jane&device=phone&type=steps").await;
    assert_eq!(
        (&steps[0]["message"]["steps"], &steps[0]["tst"], &steps[0]["subtopic"]),
        (&json!(4321), &json!(1700000400), &json!("step"))
    );
    let (_, gw) = server.get("/api/0/messages?user=gw&device=k2").await;
    assert_eq!(
        gw.as_array().unwrap().iter().map(|m| m["type"].clone()).collect::<Vec<_>>(),
        [json!("gw-start"), json!("gw-voltage"), json!("gw-status"), json!("gw-info")]
    );
    assert_eq!(gw[1]["original"], json!("12.2"));
    let (status, missing) = server.get("/api/0/messages?user=gw").await;
    assert_eq!((status, &missing["error"]), (400, &json!("user and device are required")));
    server.stop().await;
}

#[tokio::test]
async fn skip_retained_ignores_the_brokers_stored_copies_from_mosquitto() {
    use crate::common::{forget_session, publish_mosquitto, use_mosquitto, wait_for_subscription};
    let user = unique("keep");
    let topic = format!("owntracks/{user}/phone");
    let fix = br#"{"_type":"location","lat":1,"lon":2,"tst":1700000000}"#;
    publish_mosquitto(&[(&topic, fix, true)]).await;

    for skip in [true, false] {
        let client_id = unique("skipper");
        let topics = [format!("owntracks/{user}/#")];
        let server = TestServer::start(|s| {
            use_mosquitto(s, &client_id, &topics);
            s.skip_retained = skip;
        })
        .await;
        // The probe arrives after the retained copy, so once it is stored the copy was handled.
        wait_for_subscription(&server, &user).await;
        let points = server.points(&user, "phone").await;
        let ignored =
            server.server.pipeline.stats().ignored.load(std::sync::atomic::Ordering::Relaxed);
        if skip {
            assert_eq!((points.len(), ignored), (0, 1));
        } else {
            assert_eq!((points.len(), points[0].tst, ignored), (1, 1700000000, 0));
        }
        server.stop().await;
        forget_session(&client_id).await;
    }
    publish_mosquitto(&[(&topic, b"", true)]).await;
}

#[tokio::test]
async fn malformed_and_nested_envelopes_are_refused_and_kept_as_sent() {
    let server = TestServer::start(|_| {}).await;
    let store = server.server.store.clone();
    let (status, answer) =
        post_json(&server, "/pub?u=ann&d=phone", r#"{"_type":"encrypted"}"#).await;
    assert_eq!(
        (status, &answer["error"]),
        (403, &json!("encrypted has no data (kept in quarantine as invalid_message)"))
    );

    store.set_secret(&key("ann", "phone"), Some("k"), 1).await.unwrap();
    let secret = Secret::new("k").unwrap();
    let fix = br#"{"_type":"location","lat":1,"lon":2,"tst":1700001300}"#;
    let inner = json!({"_type":"encrypted","data": crypto::seal(&secret, fix)}).to_string();
    let outer = json!({"_type":"encrypted","data": crypto::seal(&secret, inner.as_bytes())});
    let (status, answer) = post_json(&server, "/pub?u=ann&d=phone", &outer.to_string()).await;
    assert_eq!(
        (status, &answer["error"]),
        (
            403,
            &json!(
                "an encrypted message inside an encrypted message (kept in quarantine as bad_key)"
            )
        )
    );
    let kept = store.quarantined(Some(&key("ann", "phone"))).await.unwrap();
    assert_eq!(kept[1].payload, outer.to_string().into_bytes(), "the client's own bytes");
    // A replay opens the outer envelope again and refuses the inner one again.
    let (_, replay) = post_json(&server, "/api/0/quarantine/replay", "{}").await;
    assert_eq!(replay["replayed"], json!([]));
    assert!(server.points("ann", "phone").await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn credentials_devices_send_are_never_stored_or_served() {
    let server = TestServer::start(|_| {}).await;
    publish_v311(
        server.broker_port(),
        &[
            (
                "owntracks/jane/phone/dump",
                br#"{"_type":"configuration","password":"mqttpw123","encryptionKey":"the secret from the app","host":"h"}"#,
                false,
            ),
            ("owntracks/gwx/van/cmd", b"login S3cretPass", false),
        ],
    )
    .await;
    let (_, jane) = server.get("/api/0/messages?user=jane&device=phone").await;
    let (_, van) = server.get("/api/0/messages?user=gwx&device=van").await;
    assert_eq!(
        (&jane[0]["message"], &jane[0]["original"], &jane[0]["repairs"]),
        (
            &json!({"_type":"configuration","password":"***","encryptionKey":"***","host":"h"}),
            &json!(null),
            &json!(["password, encryptionKey: secret masked"])
        )
    );
    assert_eq!(
        (&van[0]["message"]["command"], &van[0]["original"]),
        (&json!("login ***"), &json!(null))
    );
    let everything = format!("{jane}{van}");
    assert!(!everything.contains("mqttpw123") && !everything.contains("S3cretPass"));
    server.stop().await;
}

#[tokio::test]
async fn cards_the_apps_could_not_decode_are_not_sent() {
    let server = TestServer::start(|_| {}).await;
    let store = server.server.store.clone();
    let (dad, kid) = (UserName::parse("pa").unwrap(), UserName::parse("kid2").unwrap());
    store.add_friend(&dad, &kid, None).await.unwrap();
    let fix = r#"{"_type":"location","tid":"K2","lat":1,"lon":2,"tst":1700000000}"#;
    post_json(&server, "/pub?u=kid2&d=phone", fix).await;
    let location = json!({"_type":"location","tid":"K2","lat":1.0,"lon":2.0,"tst":1700000000,
        "topic":"owntracks/kid2/phone"});
    for (name, face, card) in [
        (Some("Kid"), Some("abcd!?&%"), Some(json!({"_type":"card","tid":"K2","name":"Kid"}))),
        (Some(" "), Some(""), None),
        (None, Some("aGk="), Some(json!({"_type":"card","tid":"K2","face":"aGk="}))),
    ] {
        let set = Card { name: name.map(str::to_owned), face: face.map(str::to_owned), tid: None };
        store.set_card(&kid, None, &set, 1).await.unwrap();
        // The device's own card has nothing the apps could show: the user's card is used.
        let broken = Card { name: Some(" ".to_owned()), face: Some("====".to_owned()), tid: None };
        let phone = pista_core::DeviceName::parse("phone").unwrap();
        store.set_card(&kid, Some(&phone), &broken, 1).await.unwrap();
        let (_, answer) = post_json(&server, "/pub?u=pa&d=phone", fix).await;
        let want: Vec<Value> = card.into_iter().chain([location.clone()]).collect();
        assert_eq!(answer, Value::Array(want), "{name:?} {face:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn credentials_stay_hidden_in_locations_quarantine_commands_and_opened_envelopes() {
    let server = TestServer::start(|_| {}).await;
    let store = server.server.store.clone();
    for body in [
        r#"{"_type":"location","lat":1,"lon":2,"tst":1700000000,"Password":"LEAK1"}"#,
        r#"{"_type":"configuration","password":"LEAK2""#,
        r#"{"_type":"location","lat":1,"lon":2,"pass":["LEAK3"]}"#,
        r#"{"_type":"dump","configuration":{"list":[[{"PASSWD ":"LEAK4"}]],"url":"https://joe:LEAK5@example.org/pub"}}"#,
    ] {
        assert_eq!(post_json(&server, "/pub?u=sec&d=phone", body).await.0, 200, "{body}");
    }
    store.set_secret(&key("sec", "phone"), Some("k"), 1).await.unwrap();
    let sealed =
        crypto::seal(&Secret::new("k").unwrap(), br#"{"_type":"configuration","password":"LEAK6""#);
    let envelope = json!({"_type":"encrypted","data": sealed}).to_string();
    // It opens, but what is inside is unusable: answered like any unusable message.
    assert_eq!(post_json(&server, "/pub?u=sec&d=phone", &envelope).await.0, 200);
    let setting = r#"{"user":"sec","device":"phone","action":"setConfiguration","configuration":{"_type":"configuration","password":"LEAK7"}}"#;
    let (status, sent) = post_json(&server, "/api/0/cmd", setting).await;
    assert_eq!((status, &sent["command"]["configuration"]["password"]), (200, &json!("***")));

    let mut served = String::new();
    for path in [
        "/api/0/last",
        "/api/0/locations?user=sec&device=phone&from=2000-01-01",
        "/api/0/messages?user=sec&device=phone",
        "/api/0/quarantine",
        "/api/0/cmd?user=sec&device=phone",
    ] {
        served.push_str(&server.get(path).await.1.to_string());
    }
    assert!(!served.contains("LEAK"), "{served}");
    let quarantined = store.quarantined(None).await.unwrap();
    let payloads: Vec<String> =
        quarantined.iter().map(|q| String::from_utf8_lossy(&q.payload).into_owned()).collect();
    assert_eq!(
        payloads,
        [
            r#"{"_type":"configuration","password":"***""#.to_owned(),
            r#"{"_type":"location","lat":1,"lon":2,"pass":"***"}"#.to_owned(),
            envelope.clone(),
        ],
        "the opened envelope is kept sealed"
    );
    // The device still gets its password: commands are delivered as queued.
    let (_, answer) = post_json(&server, "/pub?u=sec&d=phone", "").await;
    assert_eq!(answer[0]["configuration"]["password"], json!("LEAK7"));
    server.stop().await;
}
