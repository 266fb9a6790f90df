//! `pista replay` against a running server: the bundled sample track over MQTT and over HTTP
//! mode, and a Recorder `.rec` file, each stored completely.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::TestServer;
use pista::replay::{Defaults, Pace, Target, parse_lines, parse_target, send};

const SAMPLE: &str = include_str!("../../../samples/demo-ride.jsonl");

fn sample_defaults() -> Defaults {
    Defaults { topic: "owntracks/replay/device".into(), rec_base: None }
}

async fn assert_sample_stored(server: &TestServer) {
    let bike = server.points("demo", "bike").await;
    assert_eq!(bike.len(), 91);
    assert_eq!((bike[0].tst, bike[90].tst), (1795251600, 1795253400));
    let van = server.points("demo", "van").await;
    assert_eq!(van.len(), 12);
    assert_eq!(van[0].json["csv"], serde_json::json!(true));
    let (_, list) = server.get("/api/0/list?user=demo").await;
    assert_eq!(list, serde_json::json!({"results": ["bike", "van"]}));
}

#[tokio::test]
async fn the_sample_track_replays_over_mqtt_and_is_stored_completely() {
    let server = TestServer::start(|_| {}).await;
    let (items, skipped) = parse_lines(SAMPLE, &sample_defaults());
    assert_eq!((items.len(), skipped.len()), (107, 0));
    let target = parse_target(&format!("mqtt://127.0.0.1:{}", server.broker_port())).unwrap();
    let summary = send(&items, &target, Pace::Fast).await.unwrap();
    assert_eq!((summary.sent, summary.skipped.len(), summary.failed.len()), (107, 0, 0));
    assert_sample_stored(&server).await;
    let kept = server.server.store.messages(None).await.unwrap();
    assert_eq!(
        kept.iter().map(|m| m.msg_type.clone().unwrap_or_default()).collect::<Vec<_>>(),
        ["transition", "transition", "gw-status", "gw-voltage"]
    );
    server.stop().await;
}

#[tokio::test]
async fn the_sample_track_replays_over_http_mode() {
    let server = TestServer::start(|_| {}).await;
    let (items, _) = parse_lines(SAMPLE, &sample_defaults());
    let target = parse_target(&format!("{}/pub", server.http)).unwrap();
    assert!(matches!(target, Target::Http(_)));
    let summary = send(&items, &target, Pace::Fast).await.unwrap();
    // Greenwich text subtopics cannot travel over HTTP mode; they are skipped with the reason.
    assert_eq!((summary.sent, summary.failed.len()), (105, 0));
    let skipped: Vec<(usize, &str)> =
        summary.skipped.iter().map(|s| (s.line, s.reason.as_str())).collect();
    assert_eq!(
        skipped,
        [
            (
                94,
                "HTTP mode has no subtopics; send \"owntracks/demo/van/status\" with --to mqtt://"
            ),
            (
                107,
                "HTTP mode has no subtopics; send \"owntracks/demo/van/voltage/ext\" with --to mqtt://"
            ),
        ]
    );
    assert_sample_stored(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_recorder_rec_file_replays_at_its_pace() {
    let server = TestServer::start(|_| {}).await;
    let rec = concat!(
        "2023-11-14T22:13:20Z\t*                 \t{\"_type\":\"location\",\"tid\":\"JJ\",\"lat\":48.85833,\"lon\":2.29513,\"tst\":1700000000,\"acc\":5}\n",
        "2023-11-14T22:13:21Z\tlwt               \t{\"_type\":\"lwt\",\"tst\":1700000001}\n",
        "2023-11-14T22:13:22Z\t*                 \t{\"_type\":\"location\",\"tid\":\"JJ\",\"lat\":48.85900,\"lon\":2.29600,\"tst\":1700000002}\n",
    );
    let defaults = Defaults { topic: String::new(), rec_base: Some("owntracks/jane/phone".into()) };
    let (items, skipped) = parse_lines(rec, &defaults);
    assert!(skipped.is_empty());
    let target = parse_target(&format!("mqtt://127.0.0.1:{}", server.broker_port())).unwrap();
    let started = std::time::Instant::now();
    let summary = send(&items, &target, Pace::Speed(20.0)).await.unwrap();
    // Two seconds of recorded time at 20x take at least 0.1 s.
    assert!(started.elapsed() >= std::time::Duration::from_millis(100));
    assert_eq!(summary.sent, 3);
    let points = server.points("jane", "phone").await;
    assert_eq!(
        points.iter().map(|p| (p.tst, p.lat)).collect::<Vec<_>>(),
        [(1700000000, 48.85833), (1700000002, 48.859)]
    );
    server.stop().await;
}

#[tokio::test]
async fn lines_a_broker_cannot_take_are_skipped_and_the_rest_is_sent() {
    let server = TestServer::start(|_| {}).await;
    let text = concat!(
        "{\"topic\":\"\",\"payload\":\"x\"}\n",
        "{\"topic\":\"owntracks/rp/#\",\"payload\":\"x\"}\n",
        "{\"topic\":\"owntracks/rp/phone\",\"payload\":{\"_type\":\"location\",\"lat\":1,\"lon\":1,\"tst\":1700000000}}\n",
    );
    let (items, _) = parse_lines(text, &sample_defaults());
    let target = parse_target(&format!("mqtt://127.0.0.1:{}", server.broker_port())).unwrap();
    let summary = send(&items, &target, Pace::Fast).await.unwrap();
    assert_eq!(summary.sent, 1);
    let reasons: Vec<(usize, &str)> =
        summary.skipped.iter().map(|s| (s.line, s.reason.as_str())).collect();
    assert_eq!(
        reasons,
        [
            (1, "topic \"\" cannot be published (empty, or with + # or NUL)"),
            (2, "topic \"owntracks/rp/#\" cannot be published (empty, or with + # or NUL)"),
        ]
    );
    assert_eq!(server.points("rp", "phone").await.len(), 1);
    server.stop().await;
}
