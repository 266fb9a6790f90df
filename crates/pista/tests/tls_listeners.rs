//! Pista's own TLS listeners with the local CA it makes: HTTPS to reqwest (rustls) and curl
//! (OpenSSL), MQTTS to rumqttc (rustls) and `mosquitto_pub` (OpenSSL), MQTT over WebSocket and
//! secure WebSocket to rumqttc, ctrld handing out the
//! MQTTS settings and the CA certificate, and the CA kept across restarts. A client that does
//! not trust the CA is refused at the handshake. The command-line clients run as child
//! processes awaited on the test's runtime (blocking on them would stall the server in it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;
use tokio::process::Command;

use crate::common::TestServer;
use pista::settings::Hidden;
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADMIN_PW: &str = "tls-admin-pw";

async fn start() -> TestServer {
    TestServer::start(|s| {
        s.auth = true;
        s.admin_password = Some(Hidden(ADMIN_PW.to_owned()));
        s.https = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        s.broker_tls = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        s.broker_ws = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        s.broker_wss = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        s.tls_local_ca = true;
    })
    .await
}

fn trusting(ca: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca).unwrap()])
        .build()
        .unwrap()
}

#[tokio::test]
async fn https_and_mqtts_work_with_the_local_ca_for_rustls_and_openssl_clients() {
    let server = start().await;
    let tls_dir = server.dir.path().join("tls");
    let ca = std::fs::read(tls_dir.join("ca.pem")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(tls_dir.join("ca.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the CA key is its owner's only");
    }
    let https = server.server.https_addr.unwrap();
    let mqtts = server.server.broker_tls_addr.unwrap();

    // reqwest (rustls), by address and by name.
    let client = trusting(&ca);
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{}/api/0/version", https.port());
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
    }
    // Without the CA the handshake fails.
    let strangers = reqwest::Client::new();
    let refused = strangers.get(format!("https://127.0.0.1:{}/api/0/version", https.port())).send();
    assert!(refused.await.is_err());

    // curl (OpenSSL) trusts the CA file.
    let ca_file = tls_dir.join("ca.pem");
    let output = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&ca_file)
        .args(["-u", &format!("admin:{ADMIN_PW}")])
        .arg(format!("https://127.0.0.1:{}/api/0/me", https.port()))
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let me: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(me, json!({"user": "admin", "superuser": true}));

    // ctrld over HTTPS hands out the MQTTS listener and the CA.
    let conf: Value = client
        .get(format!("https://127.0.0.1:{}/ctrld/conf", https.port()))
        .basic_auth("admin", Some(ADMIN_PW))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let base = format!("https://127.0.0.1:{}/ctrld", https.port());
    assert_eq!(
        (&conf["tls"], &conf["port"], &conf["certurl"], &conf["trackurl"]),
        (
            &json!(1),
            &json!(mqtts.port()),
            &json!(format!("{base}/cacert.pem")),
            &json!(format!("{base}/tracks/admin"))
        )
    );
    let served = client.get(format!("{base}/cacert.pem")).send().await.unwrap();
    assert_eq!(served.headers()["content-type"], "application/x-pem-file");
    assert_eq!(served.bytes().await.unwrap().as_ref(), ca.as_slice());

    // mosquitto_pub (OpenSSL) over MQTTS.
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &mqtts.port().to_string(), "-q", "1"])
        .arg("--cafile")
        .arg(&ca_file)
        .args(["-u", "admin", "-P", ADMIN_PW, "-t", "owntracks/admin/phone"])
        .args(["-m", r#"{"_type":"location","tid":"ap","lat":1.5,"lon":2.5,"tst":1733000000}"#])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    server.wait_points("admin", "phone", 1).await;

    // rumqttc (rustls) over MQTTS, MQTT over WebSocket, and over secure WebSocket.
    let tls = || TlsConfiguration::Simple { ca: ca.clone(), alpn: None, client_auth: None };
    let ws = server.server.broker_ws_addr.unwrap();
    let wss = server.server.broker_wss_addr.unwrap();
    let ways = [
        ("127.0.0.1".to_owned(), mqtts.port(), Transport::Tls(tls())),
        (format!("ws://127.0.0.1:{}/mqtt", ws.port()), ws.port(), Transport::Ws),
        (format!("wss://localhost:{}/mqtt", wss.port()), wss.port(), Transport::Wss(tls())),
    ];
    for (tst, (host, port, transport)) in (1_733_000_001..).zip(ways) {
        let fix = format!(r#"{{"_type":"location","tid":"ap","lat":1.5,"lon":2.5,"tst":{tst}}}"#);
        let acked = publish(&host, port, transport.clone(), ADMIN_PW, &fix).await;
        assert_eq!(acked, Ok(()), "{host}");
        // A wrong password is refused on every listener.
        let refused = publish(&host, port, transport, "wrong", &fix).await;
        assert_eq!(refused, Err("refused".to_owned()), "{host}");
    }
    let points = server.wait_points("admin", "phone", 4).await;
    assert_eq!(
        points.iter().map(|p| p.tst).collect::<Vec<_>>(),
        [1_733_000_000, 1_733_000_001, 1_733_000_002, 1_733_000_003]
    );

    // The CA is kept: after a restart the same CA signs a new server certificate.
    let server = server.restart().await;
    assert_eq!(std::fs::read(tls_dir.join("ca.pem")).unwrap(), ca);
    let https = server.server.https_addr.unwrap();
    let url = format!("https://127.0.0.1:{}/api/0/version", https.port());
    let response = trusting(&ca).get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;
}

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Packet, QoS,
    TlsConfiguration, Transport,
};

/// Publishes one message as admin at QoS 1 and waits for the acknowledgement, or for the
/// broker refusing the login (`Err("refused")`).
async fn publish(
    host: &str,
    port: u16,
    transport: Transport,
    password: &str,
    payload: &str,
) -> Result<(), String> {
    let mut options = MqttOptions::new(crate::common::unique("tls"), host, port);
    options.set_credentials("admin", password);
    options.set_transport(transport);
    let (client, mut events) = AsyncClient::new(options, 10);
    client.publish("owntracks/admin/phone", QoS::AtLeastOnce, false, payload).await.unwrap();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.poll()).await.unwrap();
        match event {
            Ok(Event::Incoming(Packet::PubAck(_))) => return Ok(()),
            Ok(_) => {}
            Err(ConnectionError::ConnectionRefused(
                ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized,
            )) => return Err("refused".to_owned()),
            Err(error) => return Err(error.to_string()),
        }
    }
}

#[test]
fn a_tls_listener_without_certificates_is_refused_at_start() {
    let flags = [("https", "127.0.0.1:8443".to_owned())];
    let raw = pista::settings::RawSettings::load(None, |_| None, &flags).unwrap();
    assert_eq!(
        raw.validate().unwrap_err().to_string(),
        "invalid http.tls_listen = \"127.0.0.1:8443\" (from flag --https): off, unless tls.cert \
         and tls.key are given or tls.local_ca is true"
    );
}

#[test]
fn broker_websocket_listeners_need_the_broker_and_wss_needs_certificates() {
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("broker-wss", "127.0.0.1:8084")],
            "invalid broker.wss_listen = \"127.0.0.1:8084\" (from flag --broker-wss): off, unless \
             tls.cert and tls.key are given or tls.local_ca is true",
        ),
        (
            &[("broker", "off"), ("broker-ws", "127.0.0.1:8080")],
            "invalid broker.ws_listen = \"127.0.0.1:8080\" (from flag --broker-ws): off while the \
             embedded broker is off",
        ),
        (
            &[("broker", "off"), ("broker-tls", "127.0.0.1:8883")],
            "invalid broker.tls_listen = \"127.0.0.1:8883\" (from flag --broker-tls): off while \
             the embedded broker is off",
        ),
    ];
    for (flags, expected) in cases {
        let flags: Vec<(&str, String)> = flags.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let raw = pista::settings::RawSettings::load(None, |_| None, &flags).unwrap();
        assert_eq!(raw.validate().unwrap_err().to_string(), expected);
    }
}
