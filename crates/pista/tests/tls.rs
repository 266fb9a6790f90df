//! `mqtts://` to a real broker: a Mosquitto of the test's own with a TLS listener on a free
//! loopback port and a private CA made with openssl; Pista trusts the CA given with
//! `mqtt.ca_file`, and a publish made with `mosquitto_pub` over TLS is stored.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{OwnMosquitto, TestServer, eventually};
use pista_ingest::BrokerUrl;

fn run(dir: &Path, args: &[&str]) {
    let status = Command::new(args[0])
        .args(&args[1..])
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{args:?}");
}

/// A CA and a server certificate for 127.0.0.1, made with the openssl command.
fn make_certificates(dir: &Path) {
    std::fs::write(dir.join("san.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    run(
        dir,
        &[
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=pista test ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    run(
        dir,
        &[
            "openssl",
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    run(
        dir,
        &[
            "openssl",
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.cnf",
            "-out",
            "server.pem",
        ],
    );
}

#[tokio::test]
async fn pista_subscribes_to_an_mqtts_broker_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let files = format!(
        "cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\n",
        dir.path().display()
    );
    let broker = OwnMosquitto::start(dir.path(), &files);
    let port = broker.port;
    let ca = dir.path().join("ca.pem");
    let server = TestServer::start(|s| {
        s.mqtt = Some(BrokerUrl::parse(&format!("mqtts://127.0.0.1:{port}")).unwrap());
        s.mqtt_ca_file = Some(ca.clone());
        s.mqtt_client_id = "pista-tls-test".into();
        s.broker = None;
    })
    .await;

    let payload = r#"{"_type":"location","tid":"TL","lat":52.52,"lon":13.405,"tst":1700000000}"#;
    let ca_arg = ca.display().to_string();
    let port_arg = port.to_string();
    eventually("a location over TLS", || async {
        let status = Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port_arg,
                "--cafile",
                &ca_arg,
                "-q",
                "1",
                "-t",
                "owntracks/tls/phone",
                "-m",
                payload,
            ])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        if !status.success() {
            return None;
        }
        let points = server.points("tls", "phone").await;
        (!points.is_empty()).then_some(())
    })
    .await;
    let points = server.points("tls", "phone").await;
    assert_eq!((points.len(), points[0].lat, points[0].lon), (1, 52.52, 13.405));
    server.stop().await;
}
