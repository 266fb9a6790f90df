//! An external broker with a history, a Mosquitto of the test's own: a backlog of 20,000 QoS 1
//! messages queued while Pista was down is drained completely, a stop in the middle of the burst
//! returns promptly and loses nothing, and a subscription left in the persistent session by an
//! earlier configuration does not get its messages stored.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{OwnMosquitto, eventually, eventually_within};
use pista::serve::Server;
use pista::settings::Settings;
use pista_core::DeviceKey;
use pista_ingest::BrokerUrl;
use pista_store::{LocationQuery, Storage};

const COUNT: i64 = 20_000;

async fn count(store: &dyn Storage) -> usize {
    let key = DeviceKey::parse("backlog", "phone").unwrap();
    let query = LocationQuery { key, from: None, to: None, limit: None };
    store.locations(&query).await.unwrap().len()
}

/// Publishes `COUNT` locations with distinct times through `mosquitto_pub -l`, QoS 1.
fn publish_backlog(port: u16) {
    let mut child = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-t",
            "owntracks/backlog/phone",
            "-l",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    for i in 0..COUNT {
        let lat = 52.0 + i as f64 * 1e-5;
        writeln!(
            input,
            r#"{{"_type":"location","tid":"BL","lat":{lat:.5},"lon":4.5,"tst":{}}}"#,
            1_700_000_000 + i
        )
        .unwrap();
    }
    drop(input);
    assert!(child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_backlog_is_drained_and_a_stop_mid_burst_loses_nothing() {
    pista::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let broker =
        OwnMosquitto::start(dir.path(), "max_queued_messages 100000\nmax_inflight_messages 0\n");
    let mut settings = Settings::for_tests(dir.path().to_owned());
    settings.broker = None;
    settings.mqtt = Some(BrokerUrl::parse(&broker.url()).unwrap());
    settings.mqtt_client_id = "pista-backlog-test".into();

    // The first run creates the persistent session; then the backlog queues while Pista is down.
    let server = Server::start(&settings).await.unwrap();
    eventually("the subscription", || async {
        let status = Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &broker.port.to_string(),
                "-q",
                "1",
                "-t",
                "owntracks/backlog/probe",
                "-m",
                "{}",
            ])
            .status()
            .unwrap();
        assert!(status.success());
        // The probe `{}` has no `_type`: it lands in quarantine.
        (!server.store.quarantined(None).await.unwrap().is_empty()).then_some(())
    })
    .await;
    server.stop().await;
    publish_backlog(broker.port);

    // Stop in the middle of the burst: it must return promptly, not hang on acknowledgements.
    let server = Server::start(&settings).await.unwrap();
    eventually("the burst to start", || async {
        (count(server.store.as_ref()).await >= 1000).then_some(())
    })
    .await;
    tokio::time::timeout(Duration::from_secs(20), server.stop()).await.expect("stop returns");

    let server = Server::start(&settings).await.unwrap();
    eventually_within(Duration::from_secs(120), "the whole backlog", || async {
        (count(server.store.as_ref()).await == COUNT as usize).then_some(())
    })
    .await;
    let stats = server.pipeline.stats();
    assert!(server.store.messages(None).await.unwrap().is_empty());
    let quarantined = server.store.quarantined(None).await.unwrap();
    assert!(quarantined.iter().all(|m| m.topic == "owntracks/backlog/probe"), "only probes");
    assert_eq!(stats.failed_batches.load(std::sync::atomic::Ordering::Relaxed), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_narrowed_base_topic_is_honoured_although_the_session_keeps_the_old_filter() {
    pista::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let broker = OwnMosquitto::start(dir.path(), "");
    let mut settings = Settings::for_tests(dir.path().to_owned());
    settings.broker = None;
    settings.mqtt = Some(BrokerUrl::parse(&broker.url()).unwrap());
    settings.mqtt_client_id = "pista-narrow-test".into();
    let server = Server::start(&settings).await.unwrap();
    server.stop().await;

    // The persistent session still holds `owntracks/#`; Pista now only wants `owntracks/keep/#`.
    settings.base_topics = vec!["owntracks/keep/#".into()];
    let server = Server::start(&settings).await.unwrap();
    let publish = |topic: &str| {
        let body = r#"{"_type":"location","lat":1,"lon":1,"tst":1700000000}"#;
        let port = broker.port.to_string();
        let status = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &port, "-q", "1", "-t", topic, "-m", body])
            .status()
            .unwrap();
        assert!(status.success());
    };
    eventually("the kept device", || async {
        publish("owntracks/drop/phone");
        publish("owntracks/keep/phone");
        let users = server.store.users().await.unwrap();
        (!users.is_empty()).then_some(users)
    })
    .await;
    // Messages arrive and are handled in order, so the dropped one was seen before the kept one.
    let users: Vec<String> =
        server.store.users().await.unwrap().iter().map(ToString::to_string).collect();
    assert_eq!(users, ["keep"]);
    server.stop().await;
}
