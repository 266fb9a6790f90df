//! Stored once, acknowledged only when stored: duplicates from HTTP re-posts, repeated MQTT
//! publishes, a real Mosquitto redelivery after a commit whose acknowledgement was lost, retained
//! messages sent again on resubscription, and storage outages on every input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::{
    FlakyMosquittoServer, FlakyStore, TestServer, eventually, forget_session, publish_mosquitto,
    publish_v311, unique, use_mosquitto,
};
use serde_json::json;

const FIRST: &str = r#"{"_type":"location","tid":"MK","tst":1709970594,"lat":48.1,"lon":11.5,"acc":46,"p":100.694,"batt":40}"#;
const REPOSTED: &str = r#"{"_type":"location","tid":"MK","tst":1709970594,"lat":48.1,"lon":11.5,"acc":46,"p":100.734,"created_at":1709970604,"batt":40}"#;

#[tokio::test]
async fn a_reposted_point_is_stored_once() {
    let server = TestServer::start(|_| {}).await;
    let headers = [("X-Limit-U", "mkay"), ("X-Limit-D", "phone")];
    for body in [FIRST, REPOSTED, FIRST] {
        let response = server.post("/pub", &headers, body).await;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.text().await.unwrap(), "[]");
    }
    let points = server.points("mkay", "phone").await;
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].json["p"], json!(100.694), "the first copy is the one kept");
    assert_eq!(server.server.pipeline.stats().duplicates.load(Ordering::Relaxed), 2);
    server.stop().await;
}

#[tokio::test]
async fn a_republished_message_is_stored_once_on_the_embedded_broker() {
    let server = TestServer::start(|_| {}).await;
    let topic = "owntracks/mkay/phone";
    publish_v311(
        server.broker_port(),
        &[(topic, FIRST.as_bytes(), true), (topic, FIRST.as_bytes(), true)],
    )
    .await;
    assert_eq!(server.points("mkay", "phone").await.len(), 1);
    assert_eq!(server.server.pipeline.stats().duplicates.load(Ordering::Relaxed), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_message_redelivered_by_mosquitto_is_stored_once() {
    let FlakyMosquittoServer { server, store, user, client_id, dir: _dir } =
        FlakyMosquittoServer::start("redeliver").await;

    // The next write commits but reports failure, as if the process died before acknowledging.
    let topic = format!("owntracks/{user}/phone");
    *store.fail_after_commit.lock().unwrap() = Some(topic.clone());
    publish_mosquitto(&[(&topic, FIRST.as_bytes(), false)]).await;
    let stats = server.server.pipeline.stats();
    eventually("the redelivered copy", || async {
        (stats.duplicates.load(Ordering::Relaxed) >= 1).then_some(())
    })
    .await;
    // A later message goes through, and the redelivered one was acknowledged: it comes no more.
    publish_mosquitto(&[(
        &format!("owntracks/{user}/phone"),
        REPOSTED.replace("1709970594", "1709970700").as_bytes(),
        false,
    )])
    .await;
    server.wait_points(&user, "phone", 2).await;
    assert_eq!(
        server.points(&user, "phone").await.iter().map(|p| p.tst).collect::<Vec<_>>(),
        [1709970594, 1709970700]
    );
    assert_eq!(stats.duplicates.load(Ordering::Relaxed), 1);
    assert_eq!(stats.failed_batches.load(Ordering::Relaxed), 1);
    server.stop().await;
    forget_session(&client_id).await;
}

#[tokio::test]
async fn retained_messages_sent_again_on_resubscription_are_stored_once() {
    let user = unique("retained");
    let topic = format!("owntracks/{user}/phone");
    let (card, status) = (format!("{topic}/info"), format!("{topic}/status"));
    let card_body = br#"{"_type":"card","name":"Jane","tid":"JJ"}"#;
    publish_mosquitto(&[
        (&topic, FIRST.as_bytes(), true),
        (&card, card_body, true),
        (&status, b"1", true),
    ])
    .await;
    let client_id = unique("pista-test-");
    let topics = [format!("owntracks/{user}/#")];
    let server = TestServer::start(|s| use_mosquitto(s, &client_id, &topics)).await;
    server.wait_points(&user, "phone", 1).await;
    let key = pista_core::DeviceKey::parse(&user, "phone").unwrap();
    eventually("the retained card and status", || async {
        (server.server.store.messages(Some(&key)).await.unwrap().len() == 2).then_some(())
    })
    .await;

    let server = server.restart().await;
    let stats = server.server.pipeline.stats();
    eventually("the retained copies after restart", || async {
        (stats.duplicates.load(Ordering::Relaxed) == 3).then_some(())
    })
    .await;
    assert_eq!(server.points(&user, "phone").await.len(), 1);
    assert_eq!(server.server.store.messages(Some(&key)).await.unwrap().len(), 2);
    server.stop().await;
    publish_mosquitto(&[(&topic, b"", true), (&card, b"", true), (&status, b"", true)]).await;
    forget_session(&client_id).await;
}

#[tokio::test]
async fn a_storage_outage_is_refused_on_http_and_the_embedded_broker() {
    let dir = tempfile::tempdir().unwrap();
    let store = FlakyStore::open(dir.path()).await;
    store.down.store(true, Ordering::SeqCst);
    let server = TestServer::start_with(|_| {}, Some(store.clone())).await;

    let response = server.post("/pub?u=jane&d=phone", &[], FIRST).await;
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!({"error": "storage is unavailable, retry later", "status": 503})
    );

    // The broker closes the connection instead of acknowledging.
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let (client, mut events) =
        AsyncClient::new(MqttOptions::new(unique("c"), "127.0.0.1", server.broker_port()), 10);
    client.publish("owntracks/jane/phone", QoS::AtLeastOnce, false, FIRST).await.unwrap();
    let acked = loop {
        match tokio::time::timeout(Duration::from_secs(10), events.poll()).await.expect("an answer")
        {
            Ok(Event::Incoming(Packet::PubAck(_))) => break true,
            Ok(_) => {}
            Err(_) => break false,
        }
    };
    assert!(!acked, "nothing may be acknowledged while storage is down");
    assert!(server.points("jane", "phone").await.is_empty());

    store.down.store(false, Ordering::SeqCst);
    assert_eq!(server.post("/pub?u=jane&d=phone", &[], FIRST).await.status().as_u16(), 200);
    assert_eq!(server.points("jane", "phone").await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn mosquitto_keeps_messages_while_storage_is_down_and_they_arrive_once_it_is_back() {
    let FlakyMosquittoServer { server, store, user, client_id, dir: _dir } =
        FlakyMosquittoServer::start("outage").await;

    store.down.store(true, Ordering::SeqCst);
    let writes_before = store.writes.load(Ordering::SeqCst);
    let messages: Vec<(String, String)> = (0..5)
        .map(|i| {
            (
                format!("owntracks/{user}/phone"),
                FIRST.replace("1709970594", &(1709970594 + i).to_string()),
            )
        })
        .collect();
    let borrowed: Vec<(&str, &[u8], bool)> =
        messages.iter().map(|(t, p)| (t.as_str(), p.as_bytes(), false)).collect();
    publish_mosquitto(&borrowed).await;
    eventually("failed attempts", || async {
        (store.writes.load(Ordering::SeqCst) >= writes_before + 2).then_some(())
    })
    .await;
    assert!(server.points(&user, "phone").await.is_empty());

    store.down.store(false, Ordering::SeqCst);
    let points = server.wait_points(&user, "phone", 5).await;
    assert_eq!(
        points.iter().map(|p| p.tst).collect::<Vec<_>>(),
        (1709970594..1709970599).collect::<Vec<_>>()
    );
    server.stop().await;
    forget_session(&client_id).await;
}
