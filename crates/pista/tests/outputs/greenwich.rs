//! Vehicle and device values as watcher lines (OBD-II, FMS, voltages), operator names
//! republished, the live stream of outputs, and addresses from the embedded geocoder.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::listen::Listener;
use crate::common::{TestServer, eventually, publish_v311};

/// Strips the arrival stamp (`DD.MM HH:MM:SS `) off a watcher line.
fn text(line: &str) -> &str {
    &line[15..]
}

#[tokio::test]
async fn vehicle_values_and_operator_names() {
    let server = TestServer::start(|s| s.plmn = true).await;
    let port = server.broker_port();
    let listener =
        Listener::start(port, &["_owntracks/_look/#", "owntracks/gw/K2/operators/+"]).await;
    let base = "owntracks/gw/K2";
    let inputs: [(&str, &[u8]); 6] = [
        ("obd2/000007e8/01/0c", b"0ee0"),
        ("obd2/000007e8/03", b"0201330420"),
        ("fms/data/fuellevel", b"80"),
        ("fms/vehicleid", b"57564d"),
        ("voltage/ext", b"12.8"),
        ("operators", b"26201 +26202 -26203"),
    ];
    let messages: Vec<(String, &[u8], bool)> =
        inputs.iter().map(|(sub, payload)| (format!("{base}/{sub}"), *payload, false)).collect();
    let messages: Vec<(&str, &[u8], bool)> =
        messages.iter().map(|(t, p, r)| (t.as_str(), *p, *r)).collect();
    publish_v311(port, &messages).await;

    let expected = [
        ("obd2/000007e8/01/0c", "Engine RPM: 952 rpm"),
        (
            "obd2/000007e8/03",
            "DTCs (2): P0133 - O2 Sensor Circuit Slow Response (Bank 1 Sensor 1), P0420 - Catalyst System Efficiency Below Threshold (Bank 1)",
        ),
        ("fms/data/fuellevel", "Fuel Level = 51.200000 %"),
        ("fms/vehicleid", "Vehicle ID = WVM"),
        ("voltage/ext", "12.8"),
        ("operators", "26201 +26202 -26203"),
    ];
    for (sub, decoded) in expected {
        let topic = format!("_owntracks/_look/{base}/{sub}");
        let line = &listener.wait(&topic, 1).await[0].payload;
        assert_eq!(text(line), format!("{:<32} {decoded}", format!("{base}/{sub}")), "{sub}");
    }
    let names = [("26201", "Telekom (DE)"), ("26202", "Vodafone (DE)"), ("26203", "O2 (DE)")];
    for (code, name) in names {
        let heard = listener.wait(&format!("{base}/operators/{code}"), 1).await;
        assert_eq!(heard[0].payload, name, "{code}");
    }
    listener.stop().await;
    server.stop().await;
}

/// `/api/0/live` streams the outputs as server-sent events, filtered by kind and device.
#[tokio::test]
async fn live_stream_of_outputs() {
    let server = TestServer::start(|_| {}).await;
    let port = server.broker_port();
    let response = reqwest::get(format!("{}/api/0/live?kinds=look&user=gw&device=k2", server.http))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut response = response;

    publish_v311(
        port,
        &[("owntracks/gw/other", b"K9,542A46AA,k,40365854,4575769,26,4,7,5,8", false)],
    )
    .await;
    publish_v311(port, &[("owntracks/gw/K2", b"K2,542A46AA,k,40365854,4575769,26,4,7,5,8", false)])
        .await;
    let mut received = String::new();
    while !received.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    let event = received.split("\n\n").next().unwrap();
    assert_eq!(
        event,
        "event: look\ndata: 30.09 05:59:06 owntracks/gw/K2                  t=k tid=K2 c=260 v=  4    a=70     trip=8000    dist=5     loc=40.365854,4.575769   unknown location\nid: 1"
    );

    let (status, error) = server.get("/api/0/live?kinds=maps").await;
    assert_eq!(status, 400);
    assert_eq!(error["error"], r#"kind "maps" is not one of look, map, alert, job, fence"#);
    let (status, error) = server.get("/api/0/live?user=a/b").await;
    assert_eq!(status, 400);
    assert_eq!(error["error"], r#"user name "a/b" contains '/', which is not allowed in names"#);
    server.stop().await;
}

/// The embedded geocoder fills in the address after the fix is stored, and the device object is
/// published again with it.
#[tokio::test]
async fn addresses_from_the_embedded_geocoder() {
    let server = TestServer::start(|s| s.geocode = "offline".to_owned()).await;
    let port = server.broker_port();
    let map = "_owntracks/_map/owntracks/jane/phone";
    let listener = Listener::start(port, &[map]).await;
    let berlin = r#"{"_type":"location","lat":52.52,"lon":13.405,"tst":1700000000,"tid":"JP"}"#;
    publish_v311(port, &[("owntracks/jane/phone", berlin.as_bytes(), false)]).await;

    let heard = listener.wait_for(map, |h| h.payload.contains("Mitte")).await;
    let object: serde_json::Value = serde_json::from_str(&heard.payload).unwrap();
    assert_eq!(object["addr"], "Mitte, Berlin");
    assert_eq!(object["cc"], "DE");
    let last = eventually("the stored address", || async {
        let last = server.server.store.last(None, None).await.unwrap();
        last.into_iter().find(|l| l.location.addr.is_some())
    })
    .await;
    assert_eq!(last.location.addr.as_deref(), Some("Mitte, Berlin"));
    assert_eq!(last.location.cc.as_deref(), Some("DE"));
    let stats = server.server.outputs.as_ref().unwrap().geocode_stats().unwrap();
    assert_eq!(stats.misses.load(std::sync::atomic::Ordering::Relaxed), 1);
    listener.stop().await;
    server.stop().await;
}

/// A fix stored while geocoding was off gets its address from the backfill when the server
/// starts again with a geocoder; fixes of the new run are looked up through the queue only, so
/// each cell is asked once.
#[tokio::test]
async fn the_backfill_at_start_finds_fixes_stored_without_an_address() {
    let server = TestServer::start(|s| s.geocode = "off".to_owned()).await;
    let port = server.broker_port();
    let berlin = r#"{"_type":"location","lat":52.52,"lon":13.405,"tst":1700000000,"tid":"JP"}"#;
    publish_v311(port, &[("owntracks/jane/phone", berlin.as_bytes(), false)]).await;
    let stored = server.points("jane", "phone").await;
    assert_eq!((stored.len(), stored[0].addr.as_deref()), (1, None));
    // The backfill takes fixes that arrived before the second the worker started in.
    while pista_ingest::now() <= stored[0].received_at {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let server = server.restart_with(|s| s.geocode = "offline".to_owned()).await;
    let port = server.broker_port();
    let paris = r#"{"_type":"location","lat":48.8566,"lon":2.3522,"tst":1700000100,"tid":"JP"}"#;
    publish_v311(port, &[("owntracks/jane/phone", paris.as_bytes(), false)]).await;
    let points = eventually("both addresses", || async {
        let points = server.points("jane", "phone").await;
        points.iter().all(|p| p.addr.is_some()).then_some(points)
    })
    .await;
    let addresses: Vec<Option<&str>> = points.iter().map(|p| p.addr.as_deref()).collect();
    assert_eq!(addresses, [Some("Mitte, Berlin"), Some("Paris, Ile-de-France")]);
    let stats = server.server.outputs.as_ref().unwrap().geocode_stats().unwrap();
    let count = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    assert_eq!((count(&stats.misses), count(&stats.hits)), (2, 0));
    server.stop().await;
}
