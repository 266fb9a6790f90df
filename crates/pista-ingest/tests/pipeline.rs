//! The pipeline's publish stage: a listener gets each newly stored location once, with its
//! device, topic and message; duplicates and raw messages are not published.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use pista_core::{Inbound, Replay, Source};
use pista_ingest::{Pipeline, PipelineOptions};
use pista_store::SqlStore;
use serde_json::json;

fn inbound(topic: &str, payload: &'static str) -> Inbound {
    Inbound {
        source: Source::Http,
        topic: topic.to_owned(),
        identity: None,
        payload: Bytes::from_static(payload.as_bytes()),
        retained: false,
        replay: Replay::Fresh,
        received_at: 1_700_000_100,
    }
}

#[tokio::test]
async fn new_locations_are_published_once_and_nothing_else_is() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(&format!("sqlite://{}/p.db", dir.path().display())).await.unwrap();
    let (pipeline, _writer) = Pipeline::start(Arc::new(store), PipelineOptions::default());
    let mut events = pipeline.subscribe();

    let fix = r#"{"_type":"location","lat":"48.1","lon":11.5,"tst":1700000000}"#;
    pipeline.ingest(inbound("owntracks/jane/Phone", fix)).await.unwrap();
    pipeline.ingest(inbound("owntracks/jane/Phone", fix)).await.unwrap();
    let enter = r#"{"_type":"transition","event":"enter","tst":1700000000,"desc":"Home"}"#;
    pipeline.ingest(inbound("owntracks/jane/Phone/event", enter)).await.unwrap();
    pipeline
        .ingest(inbound("owntracks/jane/Phone/event", r#"{"_type":"transition"}"#))
        .await
        .unwrap();

    let event = events.try_recv().unwrap();
    assert_eq!(
        (event.key.to_string(), event.topic.as_str(), event.newest),
        ("jane/phone".to_owned(), "owntracks/jane/Phone", true)
    );
    assert_eq!(
        serde_json::Value::Object(event.json.clone()),
        json!({"_type":"location","lat":48.1,"lon":11.5,"tst":1700000000,"tid":"ne"})
    );
    assert!(events.try_recv().is_err(), "the duplicate and the transition are not published");
    let stats = pipeline.stats();
    assert_eq!(
        (
            stats.locations.load(Ordering::Relaxed),
            stats.duplicates.load(Ordering::Relaxed),
            stats.messages.load(Ordering::Relaxed),
            stats.quarantined.load(Ordering::Relaxed)
        ),
        (1, 1, 1, 1)
    );
}
