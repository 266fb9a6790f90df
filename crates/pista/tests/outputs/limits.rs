//! Outputs at their edges: a large output goes out, one larger than the broker takes is dropped
//! alone (the outputs around it still arrive), and control characters in watcher lines are
//! escaped so a device cannot forge a line.

use serde_json::json;

use super::listen::Listener;
use crate::common::{TestServer, publish_v311};

#[tokio::test]
async fn large_outputs_and_control_characters() {
    let server = TestServer::start(|s| s.broker_max_packet = 200_000).await;
    let port = server.broker_port();
    let listener = Listener::start(port, &["_owntracks/_look/#"]).await;

    // A 100 KB description: its watcher line is about as large and goes out.
    let big = json!({"_type": "waypoint", "tst": 1_700_000_000, "lat": 1.0, "lon": 2.0, "rad": 0,
                     "desc": "x".repeat(100_000)});
    publish_v311(port, &[("owntracks/jane/phone/waypoint", big.to_string().as_bytes(), false)])
        .await;
    let line = listener.wait("_owntracks/_look/owntracks/jane/phone/waypoint", 1).await;
    assert!(line[0].payload.len() > 100_000, "{}", line[0].payload.len());

    // Over HTTP, a 300 KB message's line is more than the broker takes: it alone is dropped,
    // and the fix posted right after it still comes out.
    let posted = json!([
        {"_type": "waypoint", "tst": 1_700_000_001, "lat": 1.0, "lon": 2.0, "rad": 0,
         "desc": "y".repeat(300_000)},
        {"_type": "location", "lat": 1.0, "lon": 2.0, "tst": 1_700_000_002, "tid": "ph"}
    ]);
    let response = server.post("/pub?u=jane&d=phone", &[], posted.to_string()).await;
    assert_eq!(response.status().as_u16(), 200);
    let base = "_owntracks/_look/owntracks/jane/phone/";
    let lines = listener.wait_for(base, |h| h.payload.contains("loc=1.0,2.0")).await;
    assert!(lines.payload.len() < 1_000);
    assert!(listener.on(base).iter().all(|h| h.payload.len() < 200_000));
    // Counted where operators look.
    let metrics = reqwest::get(format!("{}/metrics", server.http)).await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "pista_mqtt_outputs_dropped_total 1"), "{metrics}");

    // A text with a line break and a terminal escape is one line, escaped.
    let forged = "Evil\nALERT: XX: leaves Home\u{1b}[2J";
    publish_v311(port, &[("owntracks/gw/k9/info", forged.as_bytes(), false)]).await;
    let escaped = listener.wait("_owntracks/_look/owntracks/gw/k9/info", 1).await.remove(0);
    assert!(!escaped.payload.contains(['\n', '\u{1b}']), "{:?}", escaped.payload);
    assert!(
        escaped.payload.contains(r"Evil\nALERT: XX: leaves Home\u{1b}[2J"),
        "{:?}",
        escaped.payload
    );
    listener.stop().await;
    server.stop().await;
}
