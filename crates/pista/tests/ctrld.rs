//! ctrld as both OwnTracksCTRL versions use it, with the exact bodies the app sends: 1.x posts
//! an unencoded form to `/ctrld/conf` and `/ctrld/tracks/<user>`, 2.0 uses HTTP Basic with GET
//! `/ctrld/conf` and a `user`/`device` form for tracks. The configuration's password is a token
//! of its own that works on the broker and for tracks; tracks follow the access rules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::TestServer;
use pista::settings::Hidden;
use pista_store::{AccountStore, CtrlSettings, SqlStore, TokenKind};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// A password with what an unencoded form breaks on: `&`, `+`, a space.
const JANE_PW: &str = "j&ne+pw 1";
const FORM: &str = "application/x-www-form-urlencoded";

struct Ctrl {
    server: TestServer,
    http: Client,
}

impl Ctrl {
    async fn start() -> Self {
        let server = TestServer::start(|s| {
            s.auth = true;
            s.admin_password = Some(Hidden("admin-pw".to_owned()));
        })
        .await;
        let ctrl = Self { server, http: Client::new() };
        for (name, password) in [("jane", JANE_PW), ("kid", "kid-pw"), ("bob", "bob-pw")] {
            let body = json!({"name": name, "password": password});
            let response = ctrl.admin_post("/api/0/users").json(&body).send();
            assert_eq!(response.await.unwrap().status(), StatusCode::CREATED);
        }
        let acl = json!({"user": "jane", "topic": "owntracks/family/#"});
        let response = ctrl.admin_post("/api/0/acls").json(&acl).send();
        assert_eq!(response.await.unwrap().status(), StatusCode::CREATED);
        let share = json!({"user": "jane"});
        let response = ctrl
            .http
            .post(ctrl.url("/api/0/shares"))
            .basic_auth("kid", Some("kid-pw"))
            .json(&share)
            .send();
        assert_eq!(response.await.unwrap().status(), StatusCode::CREATED);
        for (user, device, password) in
            [("kid", "watch", "kid-pw"), ("bob", "car", "bob-pw"), ("kid", "watch", "kid-pw")]
        {
            for n in 0..3 {
                let fix = json!({"_type": "location", "tid": "kw", "lat": 50.0 + f64::from(n),
                    "lon": 8.5, "tst": 1_733_000_000 + i64::from(n)});
                let response = ctrl
                    .http
                    .post(ctrl.url(&format!("/pub?u={user}&d={device}")))
                    .basic_auth(user, Some(password))
                    .json(&fix)
                    .send();
                assert_eq!(response.await.unwrap().status(), StatusCode::OK);
            }
        }
        ctrl
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.http)
    }

    /// A POST as the admin.
    fn admin_post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).basic_auth("admin", Some("admin-pw"))
    }

    /// A POST with the body exactly as given.
    async fn form(&self, path: &str, body: &str) -> (StatusCode, String) {
        let response = self
            .http
            .post(self.url(path))
            .header("content-type", FORM)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert_eq!(response.headers()["content-type"], "application/json");
        (status, response.text().await.unwrap())
    }

    fn host(&self) -> String {
        self.server.http.trim_start_matches("http://").to_owned()
    }
}

#[tokio::test]
async fn ctrl_1_logs_in_with_its_unencoded_form_and_gets_its_configuration() {
    let ctrl = Ctrl::start().await;
    let body = format!("username=jane&password={JANE_PW}&clientid=0A1B2C3D4E5F&token=<apns>");
    let (status, text) = ctrl.form("/ctrld/conf", &body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let conf: Value = serde_json::from_str(&text).unwrap();
    let token = conf["password"].as_str().unwrap().to_owned();
    assert!(token.starts_with("pista_"), "{token}");
    let port = ctrl.server.broker_port();
    assert_eq!(
        conf,
        json!({
            "_type": "configuration",
            "auth": 1,
            "certurl": null,
            "clientid": "iosCTRL.jane.0A1B2C3D4",
            "host": "127.0.0.1",
            "password": token,
            "port": port,
            "tls": 0,
            "topicList": ["owntracks/jane/+", "owntracks/kid/+", "owntracks/family/+"],
            "trackurl": format!("http://{}/ctrld/tracks/jane", ctrl.host()),
            "username": "jane",
        })
    );
    // Sorted keys, indented by two, as the original answered.
    assert!(text.starts_with("{\n  \"_type\": \"configuration\",\n  \"auth\": 1,\n"), "{text}");

    // The track the app then asks for, with the credentials it was given.
    let body = format!("username=jane&password={token}&tid=kw&nrecs=2&topic=owntracks/kid/watch");
    let (status, text) = ctrl.form("/ctrld/tracks/jane", &body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let track: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (&track["message"], &track["topic"], &track["track"]),
        (
            &json!("OK"),
            &json!("owntracks/kid/watch"),
            &json!([{"lat": 51.0, "lon": 8.5, "tst": 1_733_000_001i64},
                {"lat": 52.0, "lon": 8.5, "tst": 1_733_000_002i64}])
        )
    );
    // bob's car is not jane's to see; wrong credentials are not authenticated.
    let body = format!("username=jane&password={token}&tid=bc&nrecs=500&topic=owntracks/bob/car");
    let (status, text) = ctrl.form("/ctrld/tracks/jane", &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let refused: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((&refused["message"], &refused["track"]), (&json!("Not authorized"), &json!([])));
    let (status, text) =
        ctrl.form("/ctrld/conf", "username=jane&password=wrong&clientid=0A1B").await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::FORBIDDEN, "{\n  \"message\": \"Not authenticated\"\n}")
    );
    // A client id no app sends is a clear 400, not a storage error.
    let body = format!("username=jane&password={JANE_PW}&clientid={}", "A".repeat(65));
    let (status, text) = ctrl.form("/ctrld/conf", &body).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::BAD_REQUEST, "{\n  \"message\": \"clientid is longer than 64 characters\"\n}")
    );
    // Missing fields are a clear answer, not a server error.
    let (status, text) = ctrl.form("/ctrld/conf", "clientid=0A1B").await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::FORBIDDEN, "{\n  \"message\": \"Not authenticated\"\n}")
    );

    // A second login of the same app replaces its token; the first one stops working.
    let body = format!("username=jane&password={JANE_PW}&clientid=0A1B2C3D4E5F");
    let (_, text) = ctrl.form("/ctrld/conf", &body).await;
    let second: Value = serde_json::from_str(&text).unwrap();
    assert_ne!(second["password"], json!(token));
    let store = SqlStore::open(&format!("sqlite://{}/pista.db", ctrl.server.dir.path().display()))
        .await
        .unwrap();
    let jane = pista_core::UserName::parse("jane").unwrap();
    let tokens = store.tokens(&jane, TokenKind::Api).await.unwrap();
    let labels: Vec<&str> = tokens.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["OwnTracksCTRL 0A1B2C3D4E5F"]);
    let body = format!("username=jane&password={token}&nrecs=1&topic=owntracks/kid/watch");
    assert_eq!(ctrl.form("/ctrld/tracks/jane", &body).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn ctrl_2_uses_basic_auth_and_the_settings_in_the_database() {
    let ctrl = Ctrl::start().await;
    let store = SqlStore::open(&format!("sqlite://{}/pista.db", ctrl.server.dir.path().display()))
        .await
        .unwrap();
    let everyone = CtrlSettings {
        host: Some("mqtt.example.org".into()),
        port: Some(8883),
        tls: Some(true),
        certurl: Some("https://example.org/ca.pem".into()),
        ..CtrlSettings::default()
    };
    store.set_ctrl_settings(&everyone).await.unwrap();
    let janes = CtrlSettings {
        user: Some(pista_core::UserName::parse("jane").unwrap()),
        trackurl: Some("https://example.org/ctrld/tracks/%u".into()),
        ..CtrlSettings::default()
    };
    store.set_ctrl_settings(&janes).await.unwrap();

    let response = ctrl
        .http
        .get(ctrl.url("/ctrld/conf"))
        .basic_auth("jane", Some(JANE_PW))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let conf: Value = response.json().await.unwrap();
    assert_eq!(
        (&conf["host"], &conf["port"], &conf["tls"], &conf["certurl"], &conf["trackurl"]),
        (
            &json!("mqtt.example.org"),
            &json!(8883),
            &json!(1),
            &json!("https://example.org/ca.pem"),
            &json!("https://example.org/ctrld/tracks/jane")
        )
    );
    assert_eq!(conf["clientid"], "iosCTRL.jane");
    // bob has no settings of his own: everyone's, and the server's track address.
    let response =
        ctrl.http.get(ctrl.url("/ctrld/conf")).basic_auth("bob", Some("bob-pw")).send().await;
    let conf: Value = response.unwrap().json().await.unwrap();
    assert_eq!(conf["trackurl"], json!(format!("http://{}/ctrld/tracks/bob", ctrl.host())));
    assert_eq!(conf["topicList"], json!(["owntracks/bob/+"]));

    // 2.0's track request: Basic, with the device by user and name.
    let response = ctrl
        .http
        .post(ctrl.url("/ctrld/tracks/jane"))
        .basic_auth("jane", Some(JANE_PW))
        .header("content-type", FORM)
        .body("user=kid&device=watch")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let track: Value = response.json().await.unwrap();
    assert_eq!(track["track"].as_array().unwrap().len(), 3);
    let response = ctrl
        .http
        .get(ctrl.url("/ctrld/conf"))
        .basic_auth("jane", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // No CA certificate configured: a clear 404.
    let response = ctrl.http.get(ctrl.url("/ctrld/cacert.pem")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_configuration_logs_in_to_the_embedded_broker() {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
    let ctrl = Ctrl::start().await;
    let body = format!("username=jane&password={JANE_PW}&clientid=0A1B2C3D4E5F");
    let (_, text) = ctrl.form("/ctrld/conf", &body).await;
    let conf: Value = serde_json::from_str(&text).unwrap();
    let port = u16::try_from(conf["port"].as_u64().unwrap()).unwrap();
    let mut options = MqttOptions::new(conf["clientid"].as_str().unwrap(), "127.0.0.1", port);
    options.set_credentials(conf["username"].as_str().unwrap(), conf["password"].as_str().unwrap());
    let (_client, mut events) = AsyncClient::new(options, 10);
    let code = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), events.poll())
            .await
            .expect("connack")
        {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => break format!("{:?}", ack.code),
            Err(rumqttc::ConnectionError::ConnectionRefused(code)) => break format!("{code:?}"),
            Ok(_) => {}
            Err(error) => break error.to_string(),
        }
    };
    assert_eq!(code, "Success");
}
