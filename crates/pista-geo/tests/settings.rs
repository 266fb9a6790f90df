//! `from_settings`: each kind builds its geocoder, `off` builds none, and every mistake is an
//! error naming what was wrong.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Fake, KEY, Reply};
use pista_geo::{
    DEFAULT_RATE_PER_SEC, DEFAULT_TIMEOUT, GeoError, KINDS, OnlineConfig, from_settings,
};

const FIVE_S: Duration = Duration::from_secs(5);

fn settings(url: Option<&str>, key: Option<&str>, rate: f64, timeout: Duration) -> OnlineConfig {
    OnlineConfig {
        base_url: url.map(str::to_owned),
        key: key.map(str::to_owned),
        rate_per_sec: rate,
        timeout,
        language: None,
    }
}

fn name_of(kind: &str, url: Option<&str>, key: Option<&str>) -> &'static str {
    from_settings(kind, &settings(url, key, 1.0, FIVE_S)).unwrap().unwrap().name()
}

fn error_of(kind: &str, url: Option<&str>, key: Option<&str>) -> String {
    match from_settings(kind, &settings(url, key, 1.0, FIVE_S)) {
        Ok(_) => panic!("{kind} was accepted"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn each_kind_builds_its_geocoder() {
    let url = Some("http://127.0.0.1:9");
    assert_eq!(name_of("offline", None, None), "offline");
    assert_eq!(name_of("nominatim", None, None), "nominatim");
    assert_eq!(name_of("photon", url, None), "photon");
    assert_eq!(name_of("opencage", None, Some(KEY)), "opencage");
    assert_eq!(name_of(" Google ", url, Some(KEY)), "google");
    // Empty values count as absent.
    assert_eq!(name_of("offline", Some(""), Some(" ")), "offline");
}

#[test]
fn off_builds_nothing_and_ignores_the_rest() {
    assert!(from_settings("off", &settings(None, None, 1.0, FIVE_S)).unwrap().is_none());
    let ignored =
        from_settings("OFF", &settings(Some("not a url"), Some(KEY), -1.0, Duration::ZERO));
    assert!(ignored.unwrap().is_none());
}

#[test]
fn unknown_kind_is_named() {
    assert_eq!(
        error_of("geonames", None, None),
        "unknown geocoder \"geonames\" (expected one of offline, nominatim, photon, opencage, \
         google, off)"
    );
    assert_eq!(KINDS.len(), 6);
}

#[test]
fn keyed_providers_need_a_key() {
    assert_eq!(error_of("opencage", None, None), "geocoder opencage needs an api key");
    assert_eq!(error_of("google", None, Some("")), "geocoder google needs an api key");
}

#[test]
fn settings_a_geocoder_does_not_use_are_refused() {
    let url = Some("http://127.0.0.1:9");
    assert_eq!(error_of("offline", url, None), "geocoder offline does not use the url setting");
    assert_eq!(
        error_of("offline", None, Some(KEY)),
        "geocoder offline does not use the key setting"
    );
    assert_eq!(
        error_of("nominatim", None, Some(KEY)),
        "geocoder nominatim does not use the key setting"
    );
    assert_eq!(error_of("photon", None, Some(KEY)), "geocoder photon does not use the key setting");
}

#[test]
fn bad_url_rate_and_timeout_are_named() {
    assert_eq!(
        error_of("nominatim", Some("nominatim.example"), None),
        "geocoder nominatim url \"nominatim.example\" is invalid: relative URL without a base"
    );
    assert_eq!(
        error_of("photon", Some("file:///tmp/photon"), None),
        "geocoder photon url \"file:///tmp/photon\" is invalid: scheme file is not http or https"
    );
    let err = from_settings("nominatim", &settings(None, None, 0.0, FIVE_S)).err().unwrap();
    assert_eq!(
        err.to_string(),
        "geocoder nominatim rate 0 per second is invalid (expected a positive number)"
    );
    let err =
        from_settings("google", &settings(None, Some(KEY), 1.0, Duration::ZERO)).err().unwrap();
    assert!(matches!(err, GeoError::ZeroTimeout { provider: "google" }));
}

#[test]
fn config_debug_hides_the_key() {
    let config = OnlineConfig { key: Some(KEY.to_owned()), ..OnlineConfig::default() };
    assert_eq!(
        format!("{config:?}"),
        "OnlineConfig { base_url: None, key: Some(\"<redacted>\"), rate_per_sec: 1.0, timeout: 5s, \
         language: None }"
    );
    assert_eq!((DEFAULT_RATE_PER_SEC, DEFAULT_TIMEOUT), (1.0, FIVE_S));
}

#[tokio::test]
async fn configured_geocoder_reaches_the_configured_url() {
    let fake = Fake::start(Reply::ok(r#"{"results":[],"status":"ZERO_RESULTS"}"#)).await;
    let config = settings(Some(&fake.base), Some(KEY), 50.0, FIVE_S);
    let geocoder = from_settings("google", &config).unwrap().unwrap();
    assert_eq!(geocoder.reverse(1.0, 2.0).await.unwrap(), None);
    assert_eq!(fake.seen()[0].query, format!("latlng=1%2C2&key={KEY}"));
}

/// A language goes to each provider as its own parameter, before the key; the offline geocoder
/// has none, and a malformed one is refused by name.
#[tokio::test]
async fn the_language_is_asked_for_in_each_providers_words() {
    let cases = [
        ("nominatim", None, "format=jsonv2&lat=1&lon=2&accept-language=pt-BR".to_owned()),
        ("photon", None, "lat=1&lon=2&lang=pt-BR".to_owned()),
        ("opencage", Some(KEY), format!("q=1%2C2&no_annotations=1&language=pt-BR&key={KEY}")),
        ("google", Some(KEY), format!("latlng=1%2C2&language=pt-BR&key={KEY}")),
    ];
    for (kind, key, query) in cases {
        let fake = Fake::start(Reply::ok("{}")).await;
        let config = OnlineConfig {
            language: Some("pt-BR".to_owned()),
            ..settings(Some(&fake.base), key, 50.0, FIVE_S)
        };
        let geocoder = from_settings(kind, &config).unwrap().unwrap();
        let _ = geocoder.reverse(1.0, 2.0).await;
        assert_eq!(fake.seen()[0].query, query, "{kind}");
    }
    let offline = OnlineConfig { language: Some("de".to_owned()), ..OnlineConfig::default() };
    let error = from_settings("offline", &offline).err().unwrap();
    assert_eq!(error.to_string(), "geocoder offline does not use the language setting");
    let bad = OnlineConfig { language: Some("german!".to_owned()), ..OnlineConfig::default() };
    let error = from_settings("nominatim", &bad).err().unwrap();
    assert_eq!(
        error.to_string(),
        "geocoder nominatim language \"german!\" is not a language code such as de or pt-BR"
    );
}
