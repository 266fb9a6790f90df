//! Alerts POSTed to webhooks end to end: the LOADays alert of the seed vectors fires through the
//! embedded broker, and fake receivers on loopback fail, refuse, stay away or take their time.
//! The delivery log is read through `GET /api/0/webhooks`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestServer, eventually, publish_v311};
use crate::listen::Listener;
use crate::receiver::{Heard, Receiver, Script};

const DEVICE: &str = "owntracks/jane/bb";
const FAR: (f64, f64, i64) = (51.2, 4.5, 1_414_692_000);
const INSIDE: (f64, f64, i64) = (51.17, 4.39, 1_414_692_409);

fn fix((lat, lon, tst): (f64, f64, i64)) -> String {
    json!({"_type": "location", "lat": lat, "lon": lon, "tst": tst, "tid": "BB", "t": "t",
           "trip": 30700, "dist": 1, "alt": 12, "cog": 0, "vel": 0})
    .to_string()
}

/// The enter alert as published on `_alerts` (the seed vector, with the device's topic).
fn entered(wpname: &str) -> String {
    format!(
        concat!(
            r#"{{"_type": "alert", "addr": "unknown location", "alt": 12, "cc": "??", "#,
            r#""cog": 0, "compass": "N", "dist": 1, "dstamp": "30/18:06:49", "#,
            r#""event": "enters", "km": "0.08", "lat": 51.17, "lon": 4.39, "meters": 78, "#,
            r#""status": 1, "t": "t", "tid": "BB", "topic": "{DEVICE}", "trigger": 1, "#,
            r#""trip": 30700, "tst": 1414692409, "tstamp": "2014-10-30T18:06:49Z", "vel": 0, "#,
            r#""wplat": 51.1694, "wplon": 4.38942, "wpname": "{wpname}", "#,
            r#""wptopic": "pista/fences"}}"#
        ),
        DEVICE = DEVICE,
        wpname = wpname,
    )
}

async fn server(webhooks: &[&str], attempts: u16) -> TestServer {
    let webhooks: Vec<String> = webhooks.iter().map(|url| (*url).to_owned()).collect();
    TestServer::start(|s| {
        s.webhooks = webhooks;
        s.webhook_attempts = attempts;
        s.webhook_backoff = Duration::from_millis(50);
    })
    .await
}

/// The LOADays fence (r = 300 m), or a smaller one at the same place, with its own webhook.
async fn fence(server: &TestServer, name: &str, radius: u32, webhook: Option<&str>) {
    let body = json!({"name": name, "lat": 51.1694, "lon": 4.38942, "radius": radius,
                      "webhook": webhook});
    let response = server.post("/api/0/fences", &[], body.to_string()).await;
    assert_eq!(response.status().as_u16(), 201);
}

/// Publishes the device's fixes through the embedded broker (each stored once acknowledged).
async fn publish(server: &TestServer, fixes: &[(f64, f64, i64)]) {
    let payloads: Vec<String> = fixes.iter().map(|f| fix(*f)).collect();
    let messages: Vec<(&str, &[u8], bool)> =
        payloads.iter().map(|p| (DEVICE, p.as_bytes(), false)).collect();
    publish_v311(server.broker_port(), &messages).await;
}

/// The delivery log of one alert as (attempt, status, error, delivered), once it has `count`
/// entries.
async fn log(server: &TestServer, alert: i64, count: usize) -> Vec<(u64, Value, Value, bool)> {
    let entries = eventually(&format!("{count} log entries of alert {alert}"), || async {
        let (_, log) = server.get(&format!("/api/0/webhooks?alert={alert}")).await;
        let entries = log.as_array().unwrap().clone();
        (entries.len() >= count).then_some(entries)
    })
    .await;
    entries
        .iter()
        .map(|e| {
            let attempt = e["attempt"].as_u64().unwrap();
            (attempt, e["status"].clone(), e["error"].clone(), e["delivered"].as_bool().unwrap())
        })
        .collect()
}

/// Waits until `count` deliveries have ended, accepted or given up.
async fn settled(server: &TestServer, count: u64) {
    let outputs = server.server.outputs.as_ref().unwrap();
    eventually(&format!("{count} deliveries settled"), || async {
        let stats = outputs.webhook_stats().unwrap();
        let ended = stats.deliveries.load(std::sync::atomic::Ordering::SeqCst)
            + stats.failures.load(std::sync::atomic::Ordering::SeqCst);
        (ended >= count).then_some(())
    })
    .await;
}

fn stats(server: &TestServer) -> [u64; 4] {
    let stats = server.server.outputs.as_ref().unwrap().webhook_stats().unwrap();
    let load =
        |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::SeqCst);
    [load(&stats.deliveries), load(&stats.failures), load(&stats.dropped), load(&stats.attempts)]
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_alert_until_it_accepts() {
    let receiver = Receiver::start(Script::FailFirst(2, 503)).await;
    let server = server(&[&receiver.url_with("pista:s3cret")], 5).await;
    let alerts = Listener::start(server.broker_port(), &["_alerts"]).await;
    fence(&server, "LOADays", 300, None).await;
    publish(&server, &[FAR, INSIDE]).await;

    let heard = receiver.wait(3).await;
    let post = Heard {
        body: entered("LOADays"),
        alarm: String::new(),
        alert: "1".to_owned(),
        content_type: "application/json".to_owned(),
        user_agent: format!("pista/{}", env!("CARGO_PKG_VERSION")),
        // pista:s3cret
        authorization: "Basic cGlzdGE6czNjcmV0".to_owned(),
    };
    assert_eq!(heard, vec![post.clone(), post.clone(), post]);
    assert_eq!(alerts.wait("_alerts", 1).await[0].payload, entered("LOADays"));

    let busy = json!("answered 503 Service Unavailable");
    assert_eq!(
        log(&server, 1, 3).await,
        [
            (1, json!(503), busy.clone(), false),
            (2, json!(503), busy, false),
            (3, json!(200), Value::Null, true)
        ]
    );
    let (_, all) = server.get("/api/0/webhooks").await;
    assert_eq!(all[2]["url"], receiver.url_with("pista:***"));
    assert_eq!(all[2]["alert"], 1);
    settled(&server, 1).await;
    assert_eq!(stats(&server), [1, 0, 0, 3]);
    alerts.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_receiver_answering_404_is_tried_once() {
    let receiver = Receiver::start(Script::Always(404)).await;
    let server = server(&[&receiver.url], 5).await;
    fence(&server, "LOADays", 300, None).await;
    publish(&server, &[FAR, INSIDE]).await;

    settled(&server, 1).await;
    assert_eq!(log(&server, 1, 1).await, [(1, json!(404), json!("answered 404 Not Found"), false)]);
    assert_eq!(receiver.heard().len(), 1);
    assert_eq!(stats(&server), [0, 1, 0, 1]);
    let (status, refused) = server.get("/api/0/webhooks?alert=one").await;
    let reason = json!("alert \"one\" is not an alert id (a whole number)");
    assert_eq!((status, &refused["error"]), (400, &reason));
    server.stop().await;
}

/// Each receiver's alerts in order, as (alert id, event, fence name).
fn alerts(receiver: &Receiver) -> Vec<(String, String, String)> {
    receiver
        .heard()
        .into_iter()
        .map(|h| {
            let body: Value = serde_json::from_str(&h.body).unwrap();
            let field = |key: &str| body[key].as_str().unwrap().to_owned();
            (h.alert, field("event"), field("wpname"))
        })
        .collect()
}

#[tokio::test]
async fn fence_webhooks_and_global_ones_each_get_every_alert_once_in_order() {
    let global = Receiver::start(Script::Always(200)).await;
    let both = Receiver::start(Script::Always(204)).await;
    let own = Receiver::start(Script::Always(200)).await;
    let server = server(&[&global.url, &both.url], 5).await;
    fence(&server, "LOADays", 300, Some(&own.url)).await;
    // Also global: it must not get this fence's alerts twice.
    fence(&server, "Hall", 200, Some(&both.url)).await;
    publish(&server, &[FAR, INSIDE, (51.2, 4.5, 1_414_692_600)]).await;

    // Each URL gets its alerts in order, so once all ended no copy can still be on its way.
    settled(&server, 10).await;
    let alert = |id: &str, event: &str, name: &str| (id.into(), event.into(), name.into());
    let (enter_1, enter_2) = (alert("1", "enters", "LOADays"), alert("2", "enters", "Hall"));
    let (leave_1, leave_2) = (alert("3", "leaves", "LOADays"), alert("4", "leaves", "Hall"));
    let all = vec![enter_1.clone(), enter_2, leave_1.clone(), leave_2];
    assert_eq!(alerts(&global), all);
    assert_eq!(alerts(&both), all);
    assert_eq!(alerts(&own), [enter_1, leave_1]);
    assert_eq!(own.heard()[0].body, entered("LOADays"));
    assert_eq!(stats(&server), [10, 0, 0, 10]);
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_webhook_is_given_up_after_the_attempts_with_the_error() {
    // A loopback port that was free a moment ago and has nobody listening now.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://hook:s3cret@{closed}/down");
    let server = server(&[&url], 3).await;
    fence(&server, "LOADays", 300, None).await;
    publish(&server, &[FAR, INSIDE]).await;

    settled(&server, 1).await;
    let refused = json!("cannot connect: Connection refused (os error 111)");
    assert_eq!(
        log(&server, 1, 3).await,
        [
            (1, Value::Null, refused.clone(), false),
            (2, Value::Null, refused.clone(), false),
            (3, Value::Null, refused, false)
        ]
    );
    let (_, all) = server.get("/api/0/webhooks").await;
    assert_eq!(all[0]["url"], format!("http://hook:***@{closed}/down"));
    assert_eq!(stats(&server), [0, 1, 0, 3]);
    server.stop().await;
}

#[tokio::test]
async fn a_slow_receiver_does_not_hold_up_ingest_or_the_next_alert() {
    let receiver = Receiver::start(Script::Slow(Duration::from_secs(5))).await;
    let server = server(&[&receiver.url], 5).await;
    fence(&server, "LOADays", 300, None).await;
    publish(&server, &[FAR, INSIDE]).await;
    // The enter alert's POST has arrived; the receiver now sits on it for 5 s.
    receiver.wait(1).await;

    // Leaving again is stored, and the outputs stage records the leave alert meanwhile.
    let left = (51.2, 4.5, 1_414_692_600);
    publish(&server, &[left]).await;
    let events = eventually("the leave alert", || async {
        let (_, alerts) = server.get("/api/0/alerts?user=jane&device=bb").await;
        let events: Vec<String> = alerts
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["event"].as_str().unwrap().to_owned())
            .collect();
        (events.len() >= 2).then_some(events)
    })
    .await;
    assert!(!receiver.answered(), "the leave was only recorded after the slow answer");
    assert_eq!(events, ["enter", "leave"]);
    assert_eq!(server.points("jane", "bb").await.len(), 3);
    assert_eq!(receiver.heard().len(), 1);
    server.stop().await;
}

/// A delivery between retries when Pista stops is resumed at the next start, as the next
/// attempt, with the same alert id; once it ends nothing is resumed again.
#[tokio::test]
async fn a_delivery_between_retries_is_resumed_after_a_restart() {
    let receiver = Receiver::start(Script::FailFirst(1, 503)).await;
    let url = receiver.url.clone();
    let server = TestServer::start(|s| {
        s.webhooks = vec![url];
        s.webhook_attempts = 5;
        // The retry would come long after the restart.
        s.webhook_backoff = Duration::from_secs(600);
    })
    .await;
    fence(&server, "LOADays", 300, None).await;
    publish(&server, &[FAR, INSIDE]).await;
    assert_eq!(log(&server, 1, 1).await[0].1, json!(503));

    let server = server.restart_with(|s| s.webhook_backoff = Duration::from_millis(50)).await;
    let heard = receiver.wait(2).await;
    assert_eq!(
        (heard[1].alert.as_str(), heard[1].body.as_str()),
        ("1", entered("LOADays").as_str())
    );
    assert_eq!(
        log(&server, 1, 2).await,
        [
            (1, json!(503), json!("answered 503 Service Unavailable"), false),
            (2, json!(200), Value::Null, true),
        ]
    );
    settled(&server, 1).await;

    // Ended: another restart resumes nothing.
    let server = server.restart().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.heard().len(), 2);
    server.stop().await;
}
