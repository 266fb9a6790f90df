//! End to end through real sockets: the original back end's sample message (string-typed
//! numbers), an Android and an iOS location and a Greenwich CSV line, sent with real MQTT clients
//! to the embedded broker and to the real Mosquitto, and posted over HTTP mode, then read back
//! from `/api/0/locations` and `/api/0/last` with exact values.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{
    TestServer, forget_session, publish_mosquitto, publish_v5_with_alias, publish_v311, unique,
    use_mosquitto, wait_for_subscription, without_isorcv,
};
use serde_json::{Value, json};

const JJOLIE: &str = r#"{"cog":-1,"batt":"79","lon":"2.295134","acc":"10","vel":0,"vac":3,"lat":"48.858334","t":"t","tst":"1415719099","alt":171,"_type":"location","tid":"jj"}"#;
const ANDROID: &str = r#"{"_type":"location","BSSID":"00:13:10:85:fe:01","SSID":"AndroidWifi","_id":"0d871a61","acc":5,"alt":5,"batt":100,"bs":0,"cog":0,"conn":"w","created_at":1754215100,"lat":50.1182933,"lon":-5.5407733,"m":2,"tid":"xa","tst":1754215100,"vac":0,"vel":0}"#;
const IOS_1: &str = r#"{"_type":"location","acc":9,"alt":93,"batt":94,"bs":1,"BSSID":"ca:fe:ed:40:81:5b","cog":252,"conn":"w","lat":53.430722,"lon":5.112126,"m":1,"p":99.182,"SSID":"hotel","t":"p","tid":"SG","tst":1701263310,"vac":3,"vel":1}"#;
const IOS_2: &str = r#"{"_type":"location","acc":12,"lat":53.431,"lon":5.113,"tid":"SG","tst":1701263400,"inregions":["office"],"inrids":["cb6046"]}"#;
const CSV: &str = "K2,542A46AA,k,40365854,4575769,26,4,7,5,8";

fn expected_jjolie() -> Value {
    json!({"cog":-1,"batt":79,"lon":2.295134,"acc":10,"vel":0,"vac":3,"lat":48.858334,"t":"t","tst":1415719099,"alt":171,"_type":"location","tid":"jj","isotst":"2014-11-11T15:18:19Z","disptst":"2014-11-11 15:18:19"})
}

fn expected_android() -> Value {
    json!({"_type":"location","BSSID":"00:13:10:85:fe:01","SSID":"AndroidWifi","_id":"0d871a61","acc":5,"alt":5,"batt":100,"bs":0,"cog":0,"conn":"w","created_at":1754215100,"lat":50.1182933,"lon":-5.5407733,"m":2,"tid":"xa","tst":1754215100,"vac":0,"vel":0,"isotst":"2025-08-03T09:58:20Z","disptst":"2025-08-03 09:58:20"})
}

fn expected_ios() -> [Value; 2] {
    [
        json!({"_type":"location","acc":9,"alt":93,"batt":94,"bs":1,"BSSID":"ca:fe:ed:40:81:5b","cog":252,"conn":"w","lat":53.430722,"lon":5.112126,"m":1,"p":99.182,"SSID":"hotel","t":"p","tid":"SG","tst":1701263310,"vac":3,"vel":1,"isotst":"2023-11-29T13:08:30Z","disptst":"2023-11-29 13:08:30"}),
        json!({"_type":"location","acc":12,"lat":53.431,"lon":5.113,"tid":"SG","tst":1701263400,"inregions":["office"],"inrids":["cb6046"],"isotst":"2023-11-29T13:10:00Z","disptst":"2023-11-29 13:10:00"}),
    ]
}

fn expected_csv() -> Value {
    json!({"_type":"location","tid":"K2","tst":1412056746,"t":"k","lat":40.365854,"lon":4.575769,"cog":260,"vel":4,"alt":70,"dist":5,"trip":8000,"csv":true,"isotst":"2014-09-30T05:59:06Z","disptst":"2014-09-30 05:59:06"})
}

/// Reads one device's history over the API and compares it with `want`, item by item.
async fn assert_history(server: &TestServer, user: &str, device: &str, want: &[Value]) {
    let path =
        format!("/api/0/locations?user={user}&device={device}&from=2014-01-01&to=2030-01-01");
    let (status, body) = server.get(&path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], json!(want.len()), "{body}");
    assert_eq!(
        (&body["status"], &body["version"]),
        (&json!(200), &json!(env!("CARGO_PKG_VERSION")))
    );
    let items: Vec<Value> = body["data"].as_array().unwrap().iter().map(without_isorcv).collect();
    assert_eq!(items, want, "history of {user}/{device}");
}

/// Checks the four sample devices, whose users are given, through both read endpoints.
async fn assert_samples(server: &TestServer, gw: &str, phone_user: &str, k2_user: &str) {
    server.wait_points(gw, "jjolie", 1).await;
    server.wait_points(phone_user, "pixel", 1).await;
    server.wait_points(phone_user, "iphone", 2).await;
    server.wait_points(k2_user, "k2", 1).await;
    assert_history(server, gw, "jjolie", &[expected_jjolie()]).await;
    assert_history(server, phone_user, "pixel", &[expected_android()]).await;
    assert_history(server, phone_user, "iphone", &expected_ios()).await;
    assert_history(server, k2_user, "k2", &[expected_csv()]).await;

    let (status, last) = server.get(&format!("/api/0/last?user={phone_user}")).await;
    assert_eq!(status, 200);
    let last: Vec<Value> = last.as_array().unwrap().iter().map(without_isorcv).collect();
    let with_identity = |mut item: Value, topic: &str, device: &str, ghash: &str| {
        let object = item.as_object_mut().unwrap();
        let times =
            [object.shift_remove("isotst").unwrap(), object.shift_remove("disptst").unwrap()];
        object.insert("topic".into(), topic.into());
        object.insert("username".into(), phone_user.into());
        object.insert("device".into(), device.into());
        object.insert("isotst".into(), times[0].clone());
        object.insert("disptst".into(), times[1].clone());
        // The geohash cell (precision 7), as the Recorder's last has it.
        object.insert("ghash".into(), ghash.into());
        item
    };
    let [_, ios_newest] = expected_ios();
    assert_eq!(
        last,
        [
            with_identity(
                ios_newest,
                &format!("owntracks/{phone_user}/iPhone"),
                "iphone",
                "u17xuqg"
            ),
            with_identity(
                expected_android(),
                &format!("owntracks/{phone_user}/Pixel"),
                "pixel",
                "gbuj1gv"
            ),
        ]
    );
}

#[tokio::test]
async fn samples_through_the_embedded_broker_with_mqtt_311_and_5() {
    let server = TestServer::start(|_| {}).await;
    let port = server.broker_port();
    publish_v311(
        port,
        &[
            ("owntracks/gw/jjolie", JJOLIE.as_bytes(), true),
            ("owntracks/jane/Pixel", ANDROID.as_bytes(), true),
            ("owntracks/gw/K2", CSV.as_bytes(), true),
        ],
    )
    .await;
    publish_v5_with_alias(port, "owntracks/jane/iPhone", &[IOS_1.as_bytes(), IOS_2.as_bytes()])
        .await;

    // The broker acknowledged after the commit, so the points are already there.
    assert_eq!(server.points("jane", "iphone").await.len(), 2);
    assert_samples(&server, "gw", "jane", "gw").await;
    let (_, users) = server.get("/api/0/list").await;
    assert_eq!(users, json!({"results": ["gw", "jane"]}));
    let (_, devices) = server.get("/api/0/list?user=gw").await;
    assert_eq!(devices, json!({"results": ["jjolie", "k2"]}));
    server.stop().await;
}

#[tokio::test]
async fn samples_through_mosquitto() {
    let (user, k2_user) = (unique("mq"), unique("gw"));
    let client_id = unique("pista-test-");
    let topics = [
        "owntracks/gw/jjolie".to_owned(),
        format!("owntracks/{user}/#"),
        format!("owntracks/{k2_user}/#"),
    ];
    let server = TestServer::start(|s| use_mosquitto(s, &client_id, &topics)).await;
    // Wait until the subscription is in place, then publish with a real client.
    wait_for_subscription(&server, &user).await;

    let pixel = format!("owntracks/{user}/Pixel");
    let k2 = format!("owntracks/{k2_user}/K2");
    publish_mosquitto(&[
        ("owntracks/gw/jjolie", JJOLIE.as_bytes(), false),
        (&pixel, ANDROID.as_bytes(), false),
        (&k2, CSV.as_bytes(), false),
        (&format!("owntracks/{user}/iPhone"), IOS_1.as_bytes(), false),
        (&format!("owntracks/{user}/iPhone"), IOS_2.as_bytes(), false),
    ])
    .await;
    assert_samples(&server, "gw", &user, &k2_user).await;
    server.stop().await;
    forget_session(&client_id).await;
}

#[tokio::test]
async fn samples_over_http_mode() {
    let server = TestServer::start(|_| {}).await;
    type Post<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let posts: [Post; 5] = [
        (&[("X-Limit-U", "gw"), ("X-Limit-D", "jjolie")], "/pub", JJOLIE),
        (&[("Content-Type", "application/json; charset=utf-8")], "/pub?u=jane&d=Pixel", ANDROID),
        (
            &[("X-Limit-U", "jane"), ("X-Limit-D", "iPhone"), ("Content-Type", "application/json")],
            "/pub",
            IOS_1,
        ),
        (
            &[("X-Limit-U", "jane"), ("X-Limit-D", "iPhone"), ("Content-Type", "text/plain")],
            "/pub",
            IOS_2,
        ),
        (&[("Authorization", "Basic Z3c6c2VjcmV0"), ("X-Limit-D", "K2")], "/pub", CSV),
    ];
    for (headers, path, body) in posts {
        let response = server.post(path, headers, body).await;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.text().await.unwrap(), "[]");
    }
    // HTTP mode answers after the commit, so no waiting is needed.
    assert_eq!(server.points("gw", "k2").await.len(), 1);
    // HTTP-mode topics are built from the case-folded identity.
    let fix_topic = |user: &str, device: &str| format!("owntracks/{user}/{device}");
    let (_, last) = server.get("/api/0/last?user=jane&device=pixel").await;
    assert_eq!(last[0]["topic"], json!(fix_topic("jane", "pixel")));
    for (user, device, want) in [
        ("gw", "jjolie", vec![expected_jjolie()]),
        ("jane", "pixel", vec![expected_android()]),
        ("jane", "iphone", expected_ios().to_vec()),
        ("gw", "k2", vec![expected_csv()]),
    ] {
        assert_history(&server, user, device, &want).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn leading_slashes_and_subtopics_reach_the_right_device() {
    let server = TestServer::start(|_| {}).await;
    let transition = r#"{"_type":"transition","event":"leave","desc":"Work","lat":52.5,"lon":13.4,"tst":1700000000,"wtst":1690000000,"acc":12,"t":"c"}"#;
    publish_v311(
        server.broker_port(),
        &[
            ("/owntracks/ben/Car", CSV.as_bytes(), true),
            ("owntracks/ben/car/event", transition.as_bytes(), false),
            ("owntracks/ben/car/voltage/ext", b"12.2", true),
            ("elsewhere/ben/car", JJOLIE.as_bytes(), false),
        ],
    )
    .await;
    let points = server.points("ben", "car").await;
    assert_eq!((points.len(), points[0].topic.as_str()), (1, "/owntracks/ben/Car"));
    let kept = server.server.store.messages(None).await.unwrap();
    let summary: Vec<(String, Option<String>, Option<String>, String)> = kept
        .iter()
        .map(|m| {
            let key = m.key.as_ref().map(ToString::to_string).unwrap_or_default();
            (key, m.subtopic.clone(), m.msg_type.clone(), m.payload.clone())
        })
        .collect();
    // The topic outside the base topics was passed on by the broker but not stored.
    assert_eq!(
        summary,
        [
            ("ben/car".into(), Some("event".into()), Some("transition".into()), transition.into()),
            (
                "ben/car".into(),
                Some("voltage/ext".into()),
                Some("gw-voltage".into()),
                r#"{"supply":"ext","volts":12.2}"#.into()
            ),
        ]
    );
    server.stop().await;
}
