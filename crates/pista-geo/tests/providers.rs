//! Each online provider against a fake server answering its documented JSON: the request it
//! sends (path, query, key, User-Agent) and the exact address it reads back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fake, KEY, Reply, config};
use pista_geo::{Address, Geocoder, Google, Nominatim, OpenCage, Photon, USER_AGENT};

// Answers in the shapes the providers document, for the Brandenburg Gate in Berlin.
const NOMINATIM_FOUND: &str = include_str!("fixtures/nominatim_found.json");
const NOMINATIM_NONE: &str = include_str!("fixtures/nominatim_none.json");
const PHOTON_FOUND: &str = include_str!("fixtures/photon_found.json");
const PHOTON_NONE: &str = include_str!("fixtures/photon_none.json");
const OPENCAGE_FOUND: &str = include_str!("fixtures/opencage_found.json");
const OPENCAGE_NONE: &str = include_str!("fixtures/opencage_none.json");
const GOOGLE_FOUND: &str = include_str!("fixtures/google_found.json");
const GOOGLE_NONE: &str = include_str!("fixtures/google_none.json");

const LAT: f64 = 52.5162746;
const LON: f64 = 13.3777041;

fn address(cc: &str, addr: &str, provider: &'static str) -> Address {
    Address { cc: Some(cc.to_owned()), addr: addr.to_owned(), provider }
}

#[tokio::test]
async fn nominatim_reads_display_name_and_country() {
    let fake = Fake::start(Reply::ok(NOMINATIM_FOUND)).await;
    let geocoder = Nominatim::new(&config(&fake.base, None)).unwrap();
    let found = geocoder.reverse(LAT, LON).await.unwrap();
    let expected = "Brandenburger Tor, Pariser Platz, Mitte, Berlin, 10117, Deutschland";
    assert_eq!(found, Some(address("DE", expected, "nominatim")));
    assert_eq!(geocoder.name(), "nominatim");

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/reverse");
    assert_eq!(seen[0].query, "format=jsonv2&lat=52.5162746&lon=13.3777041");
    assert_eq!(seen[0].user_agent, USER_AGENT);
}

#[tokio::test]
async fn nominatim_unable_to_geocode_is_none() {
    let fake = Fake::start(Reply::ok(NOMINATIM_NONE)).await;
    let geocoder = Nominatim::new(&config(&fake.base, None)).unwrap();
    assert_eq!(geocoder.reverse(0.0, -30.0).await.unwrap(), None);
}

#[tokio::test]
async fn base_url_path_prefix_is_kept() {
    let fake = Fake::start(Reply::ok(NOMINATIM_NONE)).await;
    let base = format!("{}/osm/nominatim/", fake.base);
    let geocoder = Nominatim::new(&config(&base, None)).unwrap();
    geocoder.reverse(1.5, -2.25).await.unwrap();
    assert_eq!(fake.seen()[0].path, "/osm/nominatim/reverse");
    assert_eq!(fake.seen()[0].query, "format=jsonv2&lat=1.5&lon=-2.25");
}

#[tokio::test]
async fn photon_builds_a_line_from_properties() {
    let fake = Fake::start(Reply::ok(PHOTON_FOUND)).await;
    let geocoder = Photon::new(&config(&fake.base, None)).unwrap();
    let found = geocoder.reverse(LAT, LON).await.unwrap();
    let expected = "Brandenburger Tor, Pariser Platz 1, Berlin, Deutschland";
    assert_eq!(found, Some(address("DE", expected, "photon")));
    assert_eq!(geocoder.name(), "photon");

    let seen = fake.seen();
    assert_eq!(seen[0].path, "/reverse");
    assert_eq!(seen[0].query, "lat=52.5162746&lon=13.3777041");
    assert_eq!(seen[0].user_agent, USER_AGENT);
}

#[tokio::test]
async fn photon_without_features_is_none() {
    let fake = Fake::start(Reply::ok(PHOTON_NONE)).await;
    let geocoder = Photon::new(&config(&fake.base, None)).unwrap();
    assert_eq!(geocoder.reverse(0.0, -30.0).await.unwrap(), None);
}

#[tokio::test]
async fn opencage_reads_formatted_and_sends_the_key() {
    let fake = Fake::start(Reply::ok(OPENCAGE_FOUND)).await;
    let geocoder = OpenCage::new(&config(&fake.base, Some(KEY))).unwrap();
    let found = geocoder.reverse(LAT, LON).await.unwrap();
    let expected = "Brandenburger Tor, Pariser Platz 1, 10117 Berlin, Germany";
    assert_eq!(found, Some(address("DE", expected, "opencage")));
    assert_eq!(geocoder.name(), "opencage");
    assert!(!format!("{geocoder:?}").contains(KEY));

    let seen = fake.seen();
    assert_eq!(seen[0].path, "/geocode/v1/json");
    assert_eq!(seen[0].query, format!("q=52.5162746%2C13.3777041&no_annotations=1&key={KEY}"));
    assert_eq!(seen[0].user_agent, USER_AGENT);
}

#[tokio::test]
async fn opencage_without_results_is_none() {
    let fake = Fake::start(Reply::ok(OPENCAGE_NONE)).await;
    let geocoder = OpenCage::new(&config(&fake.base, Some(KEY))).unwrap();
    assert_eq!(geocoder.reverse(0.0, -30.0).await.unwrap(), None);
}

#[tokio::test]
async fn google_reads_formatted_address_and_country_component() {
    let fake = Fake::start(Reply::ok(GOOGLE_FOUND)).await;
    let geocoder = Google::new(&config(&fake.base, Some(KEY))).unwrap();
    let found = geocoder.reverse(LAT, LON).await.unwrap();
    let expected = "Pariser Platz 1, 10117 Berlin, Germany";
    assert_eq!(found, Some(address("DE", expected, "google")));
    assert_eq!(geocoder.name(), "google");

    let seen = fake.seen();
    assert_eq!(seen[0].path, "/maps/api/geocode/json");
    assert_eq!(seen[0].query, format!("latlng=52.5162746%2C13.3777041&key={KEY}"));
    assert_eq!(seen[0].user_agent, USER_AGENT);
}

#[tokio::test]
async fn google_zero_results_is_none() {
    let fake = Fake::start(Reply::ok(GOOGLE_NONE)).await;
    let geocoder = Google::new(&config(&fake.base, Some(KEY))).unwrap();
    assert_eq!(geocoder.reverse(0.0, -30.0).await.unwrap(), None);
}

#[tokio::test]
async fn out_of_range_coordinates_send_nothing() {
    let fake = Fake::start(Reply::ok(NOMINATIM_NONE)).await;
    let geocoder = Nominatim::new(&config(&fake.base, None)).unwrap();
    let err = geocoder.reverse(91.0, 0.0).await.unwrap_err();
    assert_eq!(err.to_string(), "coordinate 91, 0 is out of range (lat -90..=90, lon -180..=180)");
    let err = geocoder.reverse(0.0, f64::NAN).await.unwrap_err();
    assert_eq!(err.to_string(), "coordinate 0, NaN is out of range (lat -90..=90, lon -180..=180)");
    assert_eq!(fake.seen(), vec![]);
}

#[test]
fn user_agent_names_pista_and_its_version() {
    assert_eq!(USER_AGENT, format!("pista/{}", env!("CARGO_PKG_VERSION")));
}
