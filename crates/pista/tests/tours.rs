//! Tours end to end: a device asks for one over HTTP mode (answered in the reply to its post)
//! and over MQTT (answered on its `cmd` topic); it lists and deletes its tours, another user
//! cannot delete them; the link works without a login and shows only the window's points;
//! a deleted tour answers 404 at once; bad requests are answered 400 and store nothing; a
//! request without a text `request` member (the Recorder's crash T33) is quarantined; an
//! encrypted request is answered sealed; a view of `http.views_dir` keeps its name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use pista::settings::Hidden;
use pista_core::DeviceKey;
use pista_core::tour::TourId;
use serde_json::{Value, json};

use pista_ingest::BrokerUrl;

use crate::common::{
    TestServer, eventually, forget_session, mosquitto_url, unique, use_mosquitto,
    wait_for_subscription,
};

const ADMIN_PW: &str = "tour-admin-pw";
const BASE: &str = "https://pista.example.org/base";

/// Posts `body` in HTTP mode as `user`'s `device` (logged in when `password` is given) and
/// returns the answer array.
async fn post(server: &TestServer, login: Option<(&str, &str)>, device: &str, body: &str) -> Value {
    let mut request = reqwest::Client::new()
        .post(format!("{}/pub?d={device}", server.http))
        .body(body.to_owned());
    request = match login {
        Some((user, password)) => request.basic_auth(user, Some(password)),
        None => request.header("X-Limit-U", "jane"),
    };
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "{body}");
    response.json().await.unwrap()
}

/// Status, content type and body of a GET without credentials.
async fn fetch(server: &TestServer, path: &str) -> (u16, String, String) {
    let response = reqwest::get(format!("{}{path}", server.http)).await.unwrap();
    let status = response.status().as_u16();
    let kind = response.headers().get("content-type").map_or("", |v| v.to_str().unwrap());
    let kind = kind.to_owned();
    (status, kind, response.text().await.unwrap())
}

fn fix(lat: f64, lon: f64, tst: i64) -> String {
    format!(r#"{{"_type":"location","tid":"jp","lat":{lat},"lon":{lon},"tst":{tst}}}"#)
}

fn tour_request(label: &str, from: &str, to: &str) -> String {
    json!({"_type":"request","request":"tour","tour":{"label":label,"from":from,"to":to}})
        .to_string()
}

/// The uuid of a tour answer, checked to be a fresh random id.
fn uuid_of(answer: &Value) -> String {
    let uuid = answer["tour"]["uuid"].as_str().unwrap().to_owned();
    assert_eq!(TourId::parse(&uuid).unwrap().as_str(), uuid);
    uuid
}

async fn with_logins(public_url: Option<&str>) -> TestServer {
    let server = TestServer::start(|s| {
        s.auth = true;
        s.admin_password = Some(Hidden(ADMIN_PW.to_owned()));
        s.public_url = public_url.map(str::to_owned);
    })
    .await;
    for (user, password) in [("jane", "jane-pw"), ("bob", "bob-pw")] {
        let response = reqwest::Client::new()
            .post(format!("{}/api/0/users", server.http))
            .basic_auth("admin", Some(ADMIN_PW))
            .json(&json!({"name": user, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
    }
    server
}

#[tokio::test]
async fn a_tour_asked_in_http_mode_is_answered_in_the_post_and_shared_without_a_login() {
    let server = with_logins(Some(BASE)).await;
    let jane = Some(("jane", "jane-pw"));
    // Before, in and after the window 2023-11-14T22:13:20Z .. 22:33:20Z.
    for (lat, lon, tst) in [
        (47.0, 11.0, 1_699_999_000),
        (48.1, 11.5, 1_700_000_000),
        (48.2, 11.6, 1_700_000_600),
        (48.3, 11.7, 1_700_001_200),
        (49.0, 12.0, 1_700_090_000),
    ] {
        assert_eq!(post(&server, jane, "phone", &fix(lat, lon, tst)).await, json!([]));
    }
    // Another device of jane's has a point in the window; it is not part of the tour.
    post(&server, jane, "tablet", &fix(10.0, 10.0, 1_700_000_300)).await;

    let asked = tour_request("Ride & <co>", "2023-11-14T22:13:20Z", "2023-11-14T22:33:20Z");
    let answer = post(&server, jane, "phone", &asked).await;
    let uuid = uuid_of(&answer[0]);
    let tour = json!({"label":"Ride & <co>","from":"2023-11-14T22:13:20Z",
        "to":"2023-11-14T22:33:20Z","uuid":uuid,"url":format!("{BASE}/view/{uuid}")});
    assert_eq!(
        answer,
        json!([{"_type":"cmd","action":"response","request":"tour","status":200,"tour":tour}])
    );

    // The link needs no login and shows only the phone's points of the window.
    let (status, kind, body) = fetch(&server, &format!("/view/{uuid}?geodata=1")).await;
    assert_eq!((status, kind.as_str()), (200, "application/geo+json"));
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"type":"Feature","properties":{},"geometry":{
            "coordinates":[[11.5,48.1],[11.6,48.2],[11.7,48.3]],"type":"LineString"}})
    );
    let (status, _, body) = fetch(&server, &format!("/view/{uuid}?lastpos=1")).await;
    let last: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200);
    let point = &last["data"][0];
    assert_eq!(
        (&point["lat"], &point["lon"], &point["tst"], &point["label"], &point["uuid"]),
        (&json!(48.3), &json!(11.7), &json!(1_700_001_200), &json!("Ride & <co>"), &json!(uuid))
    );
    let response = reqwest::get(format!("{}/view/{uuid}", server.http)).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers["content-security-policy"].to_str().unwrap().starts_with("default-src 'none';")
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("<h1>Ride &amp; &lt;co&gt;</h1>"), "{page}");
    assert!(
        page.contains("<dd>2023-11-14T22:13:20Z</dd>")
            && page.contains("<dd>2023-11-14T22:33:20Z</dd>")
    );
    assert!(page.contains(&format!(r#"fetch("{uuid}?geodata=1""#)));
    // Self-contained: nothing but the SVG namespace names another address.
    assert_eq!(page.matches("://").count(), 1, "{page}");
    assert!(!page.contains(" src=") && !page.contains("<link"));

    // The list, for jane's phone only.
    let tours = r#"{"_type":"request","request":"tours"}"#;
    assert_eq!(
        post(&server, jane, "phone", tours).await,
        json!([{"_type":"cmd","action":"response","request":"tours","tours":[tour],"ntours":1}])
    );
    assert_eq!(
        post(&server, jane, "tablet", tours).await,
        json!([{"_type":"cmd","action":"response","request":"tours","tours":[],"ntours":0}])
    );

    // bob cannot delete it; jane can, and the link stops working at once.
    let untour = json!({"_type":"request","request":"untour","uuid":uuid}).to_string();
    assert_eq!(
        post(&server, Some(("bob", "bob-pw")), "phone", &untour).await,
        json!([{"_type":"cmd","action":"response","request":"untour","status":404,
            "error":format!("bob/phone has no tour {uuid}")}])
    );
    assert_eq!(fetch(&server, &format!("/view/{uuid}?geodata=1")).await.0, 200);
    assert_eq!(
        post(&server, jane, "phone", &untour).await,
        json!([{"_type":"cmd","action":"response","request":"untour","status":200,"uuid":uuid}])
    );
    for path in [format!("/view/{uuid}"), format!("/view/{uuid}?geodata=1")] {
        let (status, _, body) = fetch(&server, &path).await;
        assert_eq!(
            (status, serde_json::from_str::<Value>(&body).unwrap()),
            (404, json!({"error":format!("no tour {uuid}"),"status":404}))
        );
    }
    let unknown = "0f8fad5b-d9cb-469f-a165-70867728950e";
    assert_eq!(fetch(&server, &format!("/view/{unknown}")).await.0, 404);
    server.stop().await;
}

#[tokio::test]
async fn bad_tour_requests_are_answered_400_and_store_nothing() {
    let server = TestServer::start(|s| s.public_url = Some(BASE.to_owned())).await;
    let time_help = "is not a time; use YYYY-MM-DDTHH:MM:SS (UTC), YYYY-MM-DD, YYYY-MM, an RFC \
                     3339 time with offset, or epoch seconds";
    let cases = [
        (tour_request("Ride", "yesterday", "2023-11-15"), "tour", format!(r#"tour from: "yesterday" {time_help}"#)),
        (tour_request("Ride", "2023-11-14", "soon"), "tour", format!(r#"tour to: "soon" {time_help}"#)),
        (
            tour_request("Ride", "2023-11-15", "2023-11-14"),
            "tour",
            r#"tour from "2023-11-15" is after to "2023-11-14""#.to_owned(),
        ),
        (tour_request("  ", "2023-11-14", "2023-11-15"), "tour", r#"tour label "" is empty"#.to_owned()),
        (
            r#"{"_type":"request","request":"tour","tour":{"from":"2023-11-14","to":"2023-11-15"}}"#
                .to_owned(),
            "tour",
            "tour label is missing or not text".to_owned(),
        ),
        (
            r#"{"_type":"request","request":"tour"}"#.to_owned(),
            "tour",
            "a tour request needs a tour object with label, from and to".to_owned(),
        ),
        (
            r#"{"_type":"request","request":"untour","uuid":"../../etc"}"#.to_owned(),
            "untour",
            r#""../../etc" is not a tour uuid"#.to_owned(),
        ),
        (
            r#"{"_type":"request","request":"dance"}"#.to_owned(),
            "dance",
            r#"unknown request "dance"; known: tour, tours, untour"#.to_owned(),
        ),
    ];
    for (body, request, error) in cases {
        assert_eq!(
            post(&server, None, "phone", &body).await,
            json!([{"_type":"cmd","action":"response","request":request,"status":400,"error":error}]),
            "{body}"
        );
    }
    let key = DeviceKey::parse("jane", "phone").unwrap();
    assert_eq!(server.server.store.tours(&key).await.unwrap(), []);

    // T33: no text `request` member is no crash: quarantined with its reason, not answered.
    for body in [r#"{"_type":"request"}"#, r#"{"_type":"request","request":{"tour":1}}"#] {
        assert_eq!(post(&server, None, "phone", body).await, json!([]), "{body}");
    }
    let held = server.server.store.quarantined(Some(&key)).await.unwrap();
    let reasons: Vec<(&str, &str)> =
        held.iter().map(|q| (q.reason.as_str(), q.problem.as_str())).collect();
    assert_eq!(
        reasons,
        [
            ("invalid_message", "request has no request"),
            ("invalid_message", "request request is an object, expected text"),
        ]
    );
    assert_eq!(fetch(&server, "/api/0/version").await.0, 200);
    server.stop().await;
}

/// Publishes each of `bodies` as `user`'s phone to the broker at `port` and returns what
/// arrives on the phone's `cmd` topic after each (checked to be neither retained nor late).
async fn ask_over_mqtt(port: u16, user: &str, bodies: &[String]) -> Vec<Value> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut options = MqttOptions::new(unique("device"), "127.0.0.1", port);
    options.set_clean_session(true);
    let (client, mut events) = AsyncClient::new(options, 10);
    let cmd = format!("owntracks/{user}/phone/cmd");
    client.subscribe(cmd.as_str(), QoS::AtLeastOnce).await.unwrap();
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = events.poll().await.unwrap() {
            break;
        }
    }
    let topic = format!("owntracks/{user}/phone/request");
    let mut received = Vec::new();
    for body in bodies {
        client.publish(topic.as_str(), QoS::AtLeastOnce, false, body.clone()).await.unwrap();
        let publish = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Event::Incoming(Packet::Publish(publish)) = events.poll().await.unwrap() {
                    return publish;
                }
            }
        })
        .await
        .expect("an answer on the cmd topic");
        assert_eq!((publish.topic.as_str(), publish.retain), (cmd.as_str(), false));
        received.push(serde_json::from_slice::<Value>(&publish.payload).unwrap());
    }
    let _ = client.disconnect().await;
    received
}

/// Asks for a tour and the list over MQTT and checks the exact answers and their delivery.
async fn tour_over_mqtt(server: &TestServer, port: u16, user: &str, base: &str) {
    let bodies = [
        tour_request("Commute", "2023-11-14", "2023-11-15"),
        r#"{"_type":"request","request":"tours"}"#.to_owned(),
    ];
    let received = ask_over_mqtt(port, user, &bodies).await;
    let uuid = uuid_of(&received[0]);
    let tour = json!({"label":"Commute","from":"2023-11-14","to":"2023-11-15","uuid":uuid,
        "url":format!("{base}/view/{uuid}")});
    assert_eq!(
        received,
        [
            json!({"_type":"cmd","action":"response","request":"tour","status":200,"tour":tour}),
            json!({"_type":"cmd","action":"response","request":"tours","tours":[tour],"ntours":1}),
        ]
    );
    // The delivery is on record, as for any command.
    let key = DeviceKey::parse(user, "phone").unwrap();
    let store = server.server.store.clone();
    eventually("both answers recorded as published", || async {
        let commands = store.commands(Some(&key)).await.unwrap();
        let done = commands.iter().filter(|c| c.mqtt_at.is_some() && c.mqtt_error.is_none());
        (done.count() == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_tour_asked_over_the_embedded_broker_is_answered_on_the_cmd_topic() {
    // No public URL: links start with the HTTP listener's address.
    let server = TestServer::start(|_| {}).await;
    let user = unique("rider");
    let http = server.http.clone();
    tour_over_mqtt(&server, server.broker_port(), &user, &http).await;
    server.stop().await;
}

#[tokio::test]
async fn an_encrypted_request_over_mqtt_is_answered_sealed() {
    use pista_core::crypto::{self, Secret};
    let server = TestServer::start(|s| s.public_url = Some(BASE.to_owned())).await;
    let user = unique("sealed");
    let key = DeviceKey::parse(&user, "phone").unwrap();
    server.server.store.set_secret(&key, Some("tour-secret"), 1).await.unwrap();
    let secret = Secret::new("tour-secret").unwrap();
    let asked = tour_request("Hidden", "2023-11-14", "2023-11-15");
    let envelope = json!({"_type":"encrypted","data":crypto::seal(&secret, asked.as_bytes())});
    let received = ask_over_mqtt(server.broker_port(), &user, &[envelope.to_string()]).await;
    assert_eq!(received[0]["_type"], "encrypted");
    let opened = crypto::open(&secret, received[0]["data"].as_str().unwrap()).unwrap();
    let answer: Value = serde_json::from_slice(&opened).unwrap();
    let uuid = uuid_of(&answer);
    let tour = json!({"label":"Hidden","from":"2023-11-14","to":"2023-11-15","uuid":uuid,
        "url":format!("{BASE}/view/{uuid}")});
    assert_eq!(
        answer,
        json!({"_type":"cmd","action":"response","request":"tour","status":200,"tour":tour})
    );
    server.stop().await;
}

#[tokio::test]
async fn a_tour_asked_through_mosquitto_is_answered_on_the_cmd_topic() {
    let user = unique("rider");
    let client_id = unique("tours");
    let topics = [format!("owntracks/{user}/#")];
    let server = TestServer::start(|s| {
        use_mosquitto(s, &client_id, &topics);
        s.public_url = Some(BASE.to_owned());
    })
    .await;
    wait_for_subscription(&server, &user).await;
    let port = BrokerUrl::parse(&mosquitto_url()).unwrap().port;
    tour_over_mqtt(&server, port, &user, BASE).await;
    server.stop().await;
    forget_session(&client_id).await;
}

#[tokio::test]
async fn a_view_named_like_a_uuid_keeps_its_name() {
    let views = tempfile::tempdir().unwrap();
    let name = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let view = json!({"user":"jane","device":"phone","page":"p.html","from":"2023-11-14",
        "to":"2023-11-15","label":"From the directory"});
    std::fs::write(views.path().join(format!("{name}.json")), view.to_string()).unwrap();
    std::fs::write(views.path().join("p.html"), "<h1>@@@LABEL@@@</h1>\n").unwrap();
    let dir = views.path().to_owned();
    let server = TestServer::start(|s| s.views_dir = Some(dir)).await;
    let (status, _, body) = fetch(&server, &format!("/view/{name}")).await;
    assert_eq!((status, body.as_str()), (200, "<h1>From the directory</h1>\n"));
    server.stop().await;
}

/// Deleting everything of a device (`kill`) takes its tours: the link answers 404, and a device
/// registered again under the name does not show through it (nor list the old tour).
#[tokio::test]
async fn a_killed_device_takes_its_tours() {
    let server = with_logins(Some(BASE)).await;
    let jane = Some(("jane", "jane-pw"));
    post(&server, jane, "phone", &fix(48.1, 11.5, 1_700_000_000)).await;
    let asked = tour_request("Gone", "2023-11-01", "2023-12-01");
    let uuid = uuid_of(&post(&server, jane, "phone", &asked).await[0]);
    assert_eq!(fetch(&server, &format!("/view/{uuid}?geodata=1")).await.0, 200);

    let response = reqwest::Client::new()
        .post(format!("{}/api/0/kill?user=jane&device=phone", server.http))
        .basic_auth("jane", Some("jane-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    post(&server, jane, "phone", &fix(50.0, 8.0, 1_700_000_100)).await;
    let (status, _, body) = fetch(&server, &format!("/view/{uuid}?geodata=1")).await;
    assert_eq!((status, body), (404, format!(r#"{{"error":"no tour {uuid}","status":404}}"#)));
    let listed = post(&server, jane, "phone", r#"{"_type":"request","request":"tours"}"#).await;
    assert_eq!(
        listed,
        json!([{"_type":"cmd","action":"response","request":"tours","tours":[],"ntours":0}])
    );
}
