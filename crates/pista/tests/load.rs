//! `pista load` against a running server: every simulated location it reports acknowledged is
//! stored, over MQTT and over HTTP mode, and bad options are refused by name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::TestServer;

const PISTA: &str = env!("CARGO_BIN_EXE_pista");

async fn load(args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(PISTA).arg("load").args(args).output().await.unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_devices_over_mqtt_and_http_are_all_stored() {
    let server = TestServer::start(|_| {}).await;
    let mqtt = format!("mqtt://127.0.0.1:{}", server.broker_port());
    let (ok, said, _) =
        load(&["--to", &mqtt, "--devices", "5", "--messages", "500", "--connections", "2"]).await;
    assert!(ok, "{said}");
    assert!(said.starts_with("acknowledged 500 of 500 in "), "{said}");
    assert!(said.ends_with(" from 5 devices over 2 connections\n"), "{said}");
    for device in 0..5 {
        assert_eq!(server.points("load", &format!("d{device}")).await.len(), 100);
    }

    let http = format!("{}/pub", server.http);
    let (ok, said, _) = load(&[
        "--to",
        &http,
        "--user",
        "web",
        "--devices",
        "4",
        "--messages",
        "200",
        "--connections",
        "4",
    ])
    .await;
    assert!(ok, "{said}");
    assert!(said.starts_with("acknowledged 200 of 200 in "), "{said}");
    assert!(said.contains("; answer time p50 "), "{said}");
    for device in 0..4 {
        assert_eq!(server.points("web", &format!("d{device}")).await.len(), 50);
    }

    let (ok, _, error) = load(&["--to", &http, "--devices", "0"]).await;
    assert!(!ok);
    assert_eq!(error.trim(), r#"error: --devices "0" is not a whole number from 1 to 1000000"#);
    let (ok, _, error) = load(&["--to", "ftp://x"]).await;
    assert!(!ok);
    assert_eq!(
        error.trim(),
        r#"error: --to "ftp://x" is not mqtt://host:port or http(s)://host:port/pub"#
    );
    server.stop().await;
}
