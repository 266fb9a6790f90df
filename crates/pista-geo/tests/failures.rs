//! How the online providers fail: timeouts, HTTP errors, malformed bodies, Google's refusals and
//! a closed port each give an error naming the provider (and the endpoint, without the key); the
//! rate limit makes callers wait instead of failing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Fake, KEY, Reply, closed_base, config};
use pista_geo::{GeoError, Geocoder, Google, MAX_BODY, Nominatim, OnlineConfig, OpenCage, Photon};

/// Every rendering of an error: message, source chain and `Debug`.
fn renderings(err: &GeoError) -> String {
    let mut text = format!("{err}\n{err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!("\n{cause}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn slow_answer_times_out() {
    let reply = Reply { delay: Duration::from_secs(10), ..Reply::ok("{}") };
    let fake = Fake::start(reply).await;
    let config =
        OnlineConfig { timeout: Duration::from_millis(200), ..config(&fake.base, Some(KEY)) };
    let geocoder = OpenCage::new(&config).unwrap();

    let started = Instant::now();
    let err = geocoder.reverse(1.0, 2.0).await.unwrap_err();
    let elapsed = started.elapsed();

    let url = format!("{}/geocode/v1/json", fake.base);
    assert_eq!(err.to_string(), format!("geocoder opencage timed out after 200ms ({url})"));
    // The fake would answer after 10 s; far less means the timeout, not the answer, ended it.
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(!renderings(&err).contains(KEY));
}

#[tokio::test]
async fn too_many_requests_names_provider_and_status() {
    let fake = Fake::start(Reply::status(429, r#"{"status":{"code":429}}"#)).await;
    let geocoder = OpenCage::new(&config(&fake.base, Some(KEY))).unwrap();
    let err = geocoder.reverse(1.0, 2.0).await.unwrap_err();
    let url = format!("{}/geocode/v1/json", fake.base);
    assert_eq!(err.to_string(), format!("geocoder opencage answered http 429 ({url})"));
    assert!(matches!(err, GeoError::Status { provider: "opencage", status: 429, .. }));
    assert!(!renderings(&err).contains(KEY));
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn server_error_names_provider_and_status() {
    let fake = Fake::start(Reply::status(503, "<html>down</html>")).await;
    let geocoder = Nominatim::new(&config(&fake.base, None)).unwrap();
    let err = geocoder.reverse(1.0, 2.0).await.unwrap_err();
    let url = format!("{}/reverse", fake.base);
    assert_eq!(err.to_string(), format!("geocoder nominatim answered http 503 ({url})"));
}

#[tokio::test]
async fn body_that_is_not_json_is_malformed() {
    let fake = Fake::start(Reply::ok("<html>captive portal</html>")).await;
    let geocoder = Google::new(&config(&fake.base, Some(KEY))).unwrap();
    let err = geocoder.reverse(1.0, 2.0).await.unwrap_err();
    let url = format!("{}/maps/api/geocode/json", fake.base);
    assert_eq!(
        err.to_string(),
        format!("geocoder google sent malformed json ({url}): expected value at line 1 column 1")
    );
    assert!(!renderings(&err).contains(KEY));
}

#[tokio::test]
async fn json_of_another_shape_is_malformed() {
    let fake = Fake::start(Reply::ok(r#"{"type":"FeatureCollection"}"#)).await;
    let geocoder = Photon::new(&config(&fake.base, None)).unwrap();
    let err = geocoder.reverse(1.0, 2.0).await.unwrap_err();
    let url = format!("{}/reverse", fake.base);
    let reason = "missing field `features` at line 1 column 28";
    assert_eq!(err.to_string(), format!("geocoder photon sent malformed json ({url}): {reason}"));

    let fake = Fake::start(Reply::ok(r#"{"place_id":1}"#)).await;
    let geocoder = Nominatim::new(&config(&fake.base, None)).unwrap();
    let err = geocoder.reverse(1.0, 2.0).await.unwrap_err();
    assert!(matches!(err, GeoError::Malformed { provider: "nominatim", .. }), "{err}");
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let body = format!(r#"{{"error":"{}"}}"#, "x".repeat(MAX_BODY));
    let fake = Fake::start(Reply::ok(&body)).await;
    let geocoder = Nominatim::new(&config(&fake.base, None)).unwrap();
    let err = geocoder.reverse(1.0, 2.0).await.unwrap_err();
    let url = format!("{}/reverse", fake.base);
    assert_eq!(err.to_string(), format!("geocoder nominatim answer exceeds 1048576 bytes ({url})"));
}

#[tokio::test]
async fn google_over_query_limit_and_request_denied_are_errors() {
    let cases = [
        ("OVER_QUERY_LIMIT", "You have exceeded your daily request quota for this API."),
        ("REQUEST_DENIED", "The provided API key is invalid."),
    ];
    for (status, message) in cases {
        let body = format!(r#"{{"error_message":"{message}","results":[],"status":"{status}"}}"#);
        let fake = Fake::start(Reply::ok(&body)).await;
        let geocoder = Google::new(&config(&fake.base, Some(KEY))).unwrap();
        let err = geocoder.reverse(1.0, 2.0).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("geocoder google refused the request: {status} {message}")
        );
    }
}

#[tokio::test]
async fn a_key_echoed_by_the_provider_is_scrubbed() {
    let body = format!(
        r#"{{"error_message":"key {KEY} is not valid","results":[],"status":"REQUEST_DENIED"}}"#
    );
    let fake = Fake::start(Reply::ok(&body)).await;
    let geocoder = Google::new(&config(&fake.base, Some(KEY))).unwrap();
    let err = geocoder.reverse(1.0, 2.0).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "geocoder google refused the request: REQUEST_DENIED key <redacted> is not valid"
    );
    // The key did reach the provider.
    assert!(fake.seen()[0].query.ends_with(&format!("&key={KEY}")));
}

#[tokio::test]
async fn closed_port_is_a_request_error_without_the_key() {
    let base = closed_base().await;
    let geocoder = Google::new(&config(&base, Some(KEY))).unwrap();
    let err = geocoder.reverse(1.0, 2.0).await.unwrap_err();
    assert!(matches!(err, GeoError::Request { provider: "google", .. }), "{err}");
    let prefix = format!("geocoder google request failed ({base}/maps/api/geocode/json): ");
    assert!(err.to_string().starts_with(&prefix), "{err}");
    assert!(!renderings(&err).contains(KEY), "{}", renderings(&err));
}

#[tokio::test]
async fn rate_limit_makes_callers_wait() {
    let fake = Fake::start(Reply::ok(r#"{"error":"Unable to geocode"}"#)).await;
    let config = OnlineConfig { rate_per_sec: 5.0, ..config(&fake.base, None) };
    let geocoder = Arc::new(Nominatim::new(&config).unwrap());

    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(geocoder.reverse(1.0, 2.0).await.unwrap(), None);
    }
    // One request at once, then one every 200 ms.
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
    assert_eq!(fake.seen().len(), 3);
}

#[tokio::test]
async fn rate_limit_queues_concurrent_callers() {
    let fake = Fake::start(Reply::ok(r#"{"error":"Unable to geocode"}"#)).await;
    let config = OnlineConfig { rate_per_sec: 5.0, ..config(&fake.base, None) };
    let geocoder: Arc<dyn Geocoder> = Arc::new(Nominatim::new(&config).unwrap());

    let started = Instant::now();
    let (a, b, c) = tokio::join!(
        geocoder.reverse(1.0, 2.0),
        geocoder.reverse(1.0, 2.0),
        geocoder.reverse(1.0, 2.0)
    );
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
    assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (None, None, None));
    assert_eq!(fake.seen().len(), 3);
}
