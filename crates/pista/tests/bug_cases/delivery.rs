//! Checks of messages that arrive more than once, late or out of order (B32, B35, B37, B59): a
//! fix sent again is stored once, a retained fix after a restart takes its place in time, the
//! API lists points in fix order, and nothing is acknowledged while storage is down but
//! everything is stored exactly once after it recovers.

use std::sync::atomic::Ordering;

use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::{Value, json};

use super::Check;
use super::helpers::{
    EMPTY_ANSWER, NO_TSTS, json_bytes, post, post_like, puback, publish, quarantine, stat, text,
    tsts, with,
};
use crate::common::{
    FlakyStore, TestServer, eventually, forget_session, publish_mosquitto, unique, use_mosquitto,
};

/// B32: a fix posted again with other extras is stored once (the first copy), and both posts
/// get `200 []`.
pub async fn b32(input: Value, server: &TestServer) -> Check {
    for body in input["sequence"].as_array().unwrap() {
        ensure_eq!(post_like(server, &input, &json_bytes(body)).await.summary(), EMPTY_ANSWER);
    }
    let points = server.points("mkay", "phone").await;
    ensure_eq!(points.len(), 1);
    ensure_eq!((&points[0].json["p"], points[0].json.get("created_at")), (&json!(100.694), None));
    ensure_eq!(stat(server, |s| &s.duplicates), 1);

    // Within 1e-7° it is the same fix; 2e-7° away it is another one. Over MQTT too.
    let first = &input["sequence"][0];
    let near = with(first, json!({"lat": 48.10000004}));
    let apart = with(first, json!({"lat": 48.1000002}));
    for body in [&near, &apart] {
        ensure_eq!(post_like(server, &input, &json_bytes(body)).await.summary(), EMPTY_ANSWER);
    }
    publish(server, "owntracks/mkay/phone", &json_bytes(&input["sequence"][1])).await;
    let points = server.points("mkay", "phone").await;
    ensure_eq!(points.iter().map(|p| p.lat).collect::<Vec<_>>(), [48.1, 48.1000002]);
    ensure_eq!(stat(server, |s| &s.duplicates), 3);
    Ok(())
}

/// B35: after a restart, the broker's retained fix newer than the stored last becomes the last
/// position; copies already stored are not added again; an older retained fix never replaces
/// the last one. Needs the shared Mosquitto (retained messages survive only there).
pub async fn b35(input: Value) -> Check {
    let t: i64 = 1_700_000_000;
    let retained = with(&input["retained_payload"], json!({"tst": t}));
    let user = unique("bug35");
    let topic = format!("owntracks/{user}/phone");
    let client_id = unique("pista-test-");
    let topics = [format!("owntracks/{user}/#")];
    let dir = tempfile::tempdir().unwrap();
    let db = FlakyStore::open(dir.path()).await;
    let start =
        || TestServer::start_with(|s| use_mosquitto(s, &client_id, &topics), Some(db.clone()));

    let server = start().await;
    let stale = with(&retained, json!({"tst": t - 86400, "lat": 52.0}));
    crate::common::eventually_within(
        std::time::Duration::from_secs(30),
        "the subscription to mosquitto",
        || async {
            publish_mosquitto(&[(&topic, &json_bytes(&stale), false)]).await;
            (!server.points(&user, "phone").await.is_empty()).then_some(())
        },
    )
    .await;
    server.stop().await;

    // While Pista is down the broker takes a retained fix.
    publish_mosquitto(&[(&topic, &json_bytes(&retained), true)]).await;
    let server = start().await;
    let points = server.wait_points(&user, "phone", 2).await;
    let result: Check = async {
        ensure_eq!(points.iter().map(|p| p.tst).collect::<Vec<_>>(), [t - 86400, t]);
        ensure_eq!(last_tst(&server, &user).await, json!(t));

        // An older retained fix is stored in its place in time, not as the last position.
        let older = with(&retained, json!({"tst": t - 3600, "lat": 52.1}));
        publish_mosquitto(&[(&topic, &json_bytes(&older), true)]).await;
        server.wait_points(&user, "phone", 3).await;
        ensure_eq!(tsts(&server, &user, "phone").await, [t - 86400, t - 3600, t]);
        ensure_eq!(last_tst(&server, &user).await, json!(t));
        Ok(())
    }
    .await;
    server.stop().await;
    result?;

    // Restarted again, the retained copy is a duplicate.
    let server = start().await;
    let stats = server.server.pipeline.stats();
    eventually("the retained copy after the restart", || async {
        (stats.duplicates.load(Ordering::Relaxed) >= 1).then_some(())
    })
    .await;
    let result: Check = async {
        ensure_eq!(tsts(&server, &user, "phone").await, [t - 86400, t - 3600, t]);
        ensure_eq!(last_tst(&server, &user).await, json!(t));
        Ok(())
    }
    .await;
    server.stop().await;
    publish_mosquitto(&[(&topic, b"", true)]).await;
    forget_session(&client_id).await;
    result
}

/// The `tst` of a user's newest point, as `/api/0/last` shows it.
async fn last_tst(server: &TestServer, user: &str) -> Value {
    server.get(&format!("/api/0/last?user={user}")).await.1[0]["tst"].clone()
}

/// B37: `/api/0/locations` returns points in `tst` order whatever the arrival order.
pub async fn b37(input: Value, server: &TestServer) -> Check {
    let topic = text(&input, "topic");
    for payload in input["sequence"].as_array().unwrap() {
        publish(server, &topic, &json_bytes(payload)).await;
    }
    let path = "/api/0/locations?user=alice&device=phone&from=2021-11-01&to=2021-11-02";
    let (status, body) = server.get(path).await;
    ensure_eq!(status, 200);
    let order = |body: &Value| -> Vec<(Value, Value)> {
        body["data"]
            .as_array()
            .map(|items| items.iter().map(|i| (i["tst"].clone(), i["lon"].clone())).collect())
            .unwrap_or_default()
    };
    ensure_eq!(
        order(&body),
        [
            (json!(1635796800), json!(-110.0)),
            (json!(1635797100), json!(-110.01)),
            (json!(1635797400), json!(-110.02)),
        ]
    );
    // With a limit: the newest two, still oldest first; the late point is not the last one.
    let (_, limited) = server.get(&format!("{path}&limit=2")).await;
    ensure_eq!(
        order(&limited),
        [(json!(1635797100), json!(-110.01)), (json!(1635797400), json!(-110.02))]
    );
    ensure_eq!(server.get("/api/0/last").await.1[0]["tst"], json!(1635797400));
    Ok(())
}

/// B59: with storage down, `/pub` answers `503` with `Retry-After` and the embedded broker
/// sends no PUBACK; after recovery every point is stored exactly once.
pub async fn b59(input: Value) -> Check {
    let dir = tempfile::tempdir().unwrap();
    let db = FlakyStore::open(dir.path()).await;
    db.down.store(true, Ordering::SeqCst);
    let server = TestServer::start_with(|_| {}, Some(db.clone())).await;
    let http = &input["http"];
    let (path, body) = (text(http, "path"), json_bytes(&http["body"]));
    let reply = post(&server, &path, &[], &body).await;
    ensure_eq!(
        (reply.status, reply.retry_after.as_deref(), reply.json()),
        (503, Some("5"), json!({"error": "storage is unavailable, retry later", "status": 503}))
    );

    let topic = text(&input["mqtt"], "topic");
    let (client, mut events) =
        AsyncClient::new(MqttOptions::new(unique("b59"), "127.0.0.1", server.broker_port()), 10);
    client.publish(&topic, QoS::AtLeastOnce, false, body.clone()).await.unwrap();
    let acked = puback(&mut events).await.is_ok();
    ensure!(!acked, "a PUBACK was sent while storage was down");
    ensure_eq!(tsts(&server, "owntracks", "phone").await, NO_TSTS);
    ensure_eq!(tsts(&server, "alice", "phone").await, NO_TSTS);

    // Recovery: the clients send again (twice, as a retry after a lost answer would).
    db.down.store(false, Ordering::SeqCst);
    for _ in 0..2 {
        ensure_eq!(post(&server, &path, &[], &body).await.summary(), EMPTY_ANSWER);
        publish(&server, &topic, &body).await;
    }
    ensure_eq!(tsts(&server, "owntracks", "phone").await, [1397030000]);
    ensure_eq!(tsts(&server, "alice", "phone").await, [1397030000]);
    ensure_eq!(stat(&server, |s| &s.duplicates), 2);
    ensure!(quarantine(&server, None).await.is_empty(), "nothing quarantined");
    server.stop().await;
    Ok(())
}
