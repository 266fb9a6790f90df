//! The embedded geocoder on known places: exact strings from the GeoNames data, the cut-off in
//! mid-ocean and at the poles, and positions on the antimeridian.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pista_geo::{ATTRIBUTION, Address, DEFAULT_MAX_KM, GeoError, Geocoder, Offline};

fn offline(cc: &str, addr: &str) -> Option<Address> {
    Some(Address { cc: Some(cc.to_owned()), addr: addr.to_owned(), provider: "offline" })
}

/// Distance rounded to 0.1 km, enough to pin the place without depending on the last float bits.
fn km(offline: &Offline, lat: f64, lon: f64) -> f64 {
    (offline.nearest(lat, lon).unwrap().km * 10.0).round() / 10.0
}

#[tokio::test]
async fn world_cities() {
    let geocoder = Offline::new();
    let cases = [
        ((52.52, 13.405), offline("DE", "Mitte, Berlin")),
        ((48.8566, 2.3522), offline("FR", "Paris, Ile-de-France")),
        ((51.5074, -0.1278), offline("GB", "London, England")),
        ((40.7831, -73.9712), offline("US", "Manhattan, New York")),
        ((-33.8688, 151.2093), offline("AU", "Sydney, New South Wales")),
        // admin1 repeats the name, or is empty: the name alone.
        ((35.6895, 139.6917), offline("JP", "Tokyo")),
        ((1.29, 103.85), offline("SG", "Singapore")),
        // The geohash example of the o2s README.
        ((47.488613, 13.187296), offline("AT", "Werfen, Salzburg")),
    ];
    for ((lat, lon), expected) in cases {
        assert_eq!(geocoder.reverse(lat, lon).await.unwrap(), expected, "{lat}, {lon}");
    }
    assert_eq!(geocoder.name(), "offline");
}

#[test]
fn nearest_carries_the_record_and_haversine_km() {
    let nearest = Offline::new().nearest(52.52, 13.405).unwrap();
    assert_eq!(
        (nearest.name.as_str(), nearest.admin1.as_str(), nearest.admin2.as_str()),
        ("Mitte", "Berlin", "")
    );
    assert_eq!((nearest.cc.as_str(), nearest.lat, nearest.lon), ("DE", 52.52003, 13.40489));
    assert_eq!(km(&Offline::new(), 52.52, 13.405), 0.0);
    assert_eq!(km(&Offline::new(), -22.9068, -43.1729), 3.6);
}

#[tokio::test]
async fn mid_atlantic_is_beyond_the_cut_off() {
    let geocoder = Offline::new();
    assert_eq!(geocoder.reverse(0.0, -30.0).await.unwrap(), None);
    // The crate's nearest place is a Brazilian island 504 km away.
    let nearest = geocoder.nearest(0.0, -30.0).unwrap();
    assert_eq!(nearest.name, "Fernando de Noronha (Distrito Estadual)");
    assert_eq!(km(&geocoder, 0.0, -30.0), 504.1);
}

#[tokio::test]
async fn poles_have_no_place_within_the_default_cut_off() {
    let geocoder = Offline::new();
    assert_eq!(geocoder.reverse(90.0, 0.0).await.unwrap(), None);
    assert_eq!(geocoder.reverse(-90.0, 0.0).await.unwrap(), None);
    assert_eq!(km(&geocoder, 90.0, 0.0), 1309.5);
    assert_eq!(km(&geocoder, -90.0, 0.0), 1351.5);
}

#[tokio::test]
async fn a_wider_cut_off_reaches_from_the_poles() {
    let geocoder = Offline::with_max_km(1400.0).unwrap();
    assert_eq!(geocoder.reverse(90.0, 0.0).await.unwrap(), offline("SJ", "Longyearbyen, Svalbard"));
    assert_eq!(geocoder.reverse(-90.0, 0.0).await.unwrap(), offline("AQ", "McMurdo Station"));
    // At the pole every longitude is the same point.
    assert_eq!(
        geocoder.reverse(90.0, -180.0).await.unwrap(),
        offline("SJ", "Longyearbyen, Svalbard")
    );
}

#[tokio::test]
async fn a_narrower_cut_off_drops_far_places() {
    let geocoder = Offline::with_max_km(3.0).unwrap();
    assert_eq!(geocoder.max_km(), 3.0);
    assert_eq!(geocoder.reverse(-22.9068, -43.1729).await.unwrap(), None);
    assert_eq!(geocoder.reverse(52.52, 13.405).await.unwrap(), offline("DE", "Mitte, Berlin"));
}

#[tokio::test]
async fn both_sides_of_the_antimeridian_find_the_same_place() {
    let geocoder = Offline::new();
    let egvekinot = offline("RU", "Egvekinot, Chukotskiy Avtonomnyy Okrug");
    let beringovskiy = offline("RU", "Beringovskiy, Chukotskiy Avtonomnyy Okrug");
    let lambasa = offline("FJ", "Lambasa, Northern");
    let cases = [
        // Egvekinot lies at -179.12: from +180 the nearest place is across the line.
        ((66.3, 180.0), &egvekinot),
        ((66.3, -180.0), &egvekinot),
        // Beringovskiy lies at +179.35: from -180 likewise.
        ((63.06, -180.0), &beringovskiy),
        ((63.06, 180.0), &beringovskiy),
        ((-17.0, 180.0), &lambasa),
        ((-17.0, -180.0), &lambasa),
    ];
    for ((lat, lon), expected) in cases {
        assert_eq!(&geocoder.reverse(lat, lon).await.unwrap(), expected, "{lat}, {lon}");
    }
    assert_eq!(km(&geocoder, 66.3, 180.0), 39.3);
    assert_eq!(km(&geocoder, 66.3, -180.0), 39.3);
}

#[tokio::test]
async fn out_of_range_coordinates_are_errors() {
    let geocoder = Offline::new();
    for (lat, lon) in [(90.5, 0.0), (0.0, -180.5), (f64::NAN, 0.0), (0.0, f64::INFINITY)] {
        let err = geocoder.reverse(lat, lon).await.unwrap_err();
        assert!(matches!(err, GeoError::Coordinate { .. }), "{lat}, {lon}: {err}");
    }
}

#[test]
fn cut_off_must_be_positive() {
    assert_eq!(Offline::new().max_km(), DEFAULT_MAX_KM);
    assert_eq!(DEFAULT_MAX_KM, 100.0);
    for km in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = Offline::with_max_km(km).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("offline cut-off {km} km is invalid (expected a positive number)")
        );
    }
}

#[test]
fn preload_then_lookup_without_a_runtime() {
    Offline::preload();
    assert_eq!(Offline::new().lookup(52.52, 13.405).unwrap(), offline("DE", "Mitte, Berlin"));
}

#[test]
fn attribution_names_geonames_and_the_licence() {
    assert_eq!(
        ATTRIBUTION,
        "Offline place names: GeoNames (https://www.geonames.org/), licensed under CC BY 4.0 \
         (https://creativecommons.org/licenses/by/4.0/); selected and converted by the \
         reverse_geocoder project (https://github.com/gx0r/rrgeo)."
    );
}
