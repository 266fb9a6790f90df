//! Webhook delivery without a server around it: unusable URLs are refused by name with their
//! password masked, and a delivery that finds its URL's queue full is dropped and logged rather
//! than waited for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use pista_ingest::{WebhookOptions, Webhooks};
use pista_store::{DerivedStore, SqlStore, StoredDelivery};

async fn store() -> (Arc<SqlStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/pista.db", dir.path().display());
    (Arc::new(SqlStore::open(&url).await.unwrap()), dir)
}

#[tokio::test]
async fn urls_that_are_not_http_are_refused_with_the_password_masked() {
    let (store, _dir) = store().await;
    let options = WebhookOptions {
        urls: vec!["https://ok.example/a".to_owned(), "ftp://jane:s3cret@files.example".to_owned()],
        ..WebhookOptions::default()
    };
    let error = Webhooks::new(options, store).unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"webhook "ftp://jane:***@files.example/" is not an http(s) URL"#
    );
}

#[tokio::test]
async fn a_full_queue_drops_and_logs_the_delivery_instead_of_waiting() {
    let (store, _dir) = store().await;
    // A receiver that takes the connection and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let options = WebhookOptions {
        urls: vec![url.clone()],
        attempts: 1,
        timeout: Duration::from_secs(30),
        queue: 1,
        ..WebhookOptions::default()
    };
    let webhooks = Webhooks::new(options, store.clone()).unwrap();

    let target = [(None, url.clone())];
    webhooks.deliver(1, "{}", &target);
    // The first POST is under way, so its lane's queue is empty again.
    let (_held, _) = listener.accept().await.unwrap();
    webhooks.deliver(2, "{}", &target);
    webhooks.deliver(3, "{}", &target);
    assert_eq!(webhooks.stats().dropped.load(Ordering::SeqCst), 1);

    let logged =
        poll(|| async { Some(store.deliveries(None).await.unwrap()).filter(|l| !l.is_empty()) })
            .await;
    let at = logged[0].at;
    assert_eq!(
        logged,
        [StoredDelivery {
            id: 1,
            alert_id: 3,
            url,
            attempt: 0,
            status: None,
            error: Some("dropped: the queue for this webhook was full (1 waiting)".to_owned()),
            delivered: false,
            at,
        }]
    );
}

/// Polls `check` every 20 ms until it returns a value; panics after 10 s.
async fn poll<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
