//! Geohash cells: the README example, longitude/latitude order, precision limits and the edges
//! of the coordinate range.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pista_geo::{GeoError, MAX_PRECISION, cell};

#[test]
fn readme_example() {
    assert_eq!(cell(47.488613, 13.187296, 12).unwrap(), "u23qhj49nr0d");
    assert_eq!(cell(47.488613, 13.187296, 5).unwrap(), "u23qh");
    assert_eq!(cell(47.488613, 13.187296, 1).unwrap(), "u");
}

#[test]
fn latitude_and_longitude_are_not_swapped() {
    // Swapped, the README position would land in the Indian Ocean's cell "t".
    assert_eq!(cell(13.187296, 47.488613, 1).unwrap(), "t");
    assert_eq!(cell(52.52, 13.405, 7).unwrap(), "u33dc0c");
}

#[test]
fn precision_is_one_to_twelve() {
    assert_eq!(MAX_PRECISION, 12);
    for precision in [0, 13] {
        let err = cell(1.0, 2.0, precision).unwrap_err();
        assert!(matches!(err, GeoError::Precision(p) if p == precision));
        assert_eq!(
            err.to_string(),
            format!("geohash precision {precision} is out of range 1..=12")
        );
    }
}

#[test]
fn corners_of_the_range() {
    assert_eq!(cell(-90.0, -180.0, 12).unwrap(), "000000000000");
    assert_eq!(cell(90.0, 180.0, 12).unwrap(), "zzzzzzzzzzzz");
    assert_eq!(cell(90.0, -180.0, 12).unwrap(), "bpbpbpbpbpbp");
    assert_eq!(cell(-90.0, 180.0, 12).unwrap(), "pbpbpbpbpbpb");
}

#[test]
fn antimeridian_cells() {
    assert_eq!(cell(0.0, -180.0, 12).unwrap(), "800000000000");
    assert_eq!(cell(0.0, 180.0, 12).unwrap(), "xbpbpbpbpbpb");
}

#[test]
fn out_of_range_is_an_error() {
    for (lat, lon) in [(90.1, 0.0), (-90.1, 0.0), (0.0, 180.1), (0.0, -180.1), (f64::NAN, 0.0)] {
        let err = cell(lat, lon, 5).unwrap_err();
        assert!(matches!(err, GeoError::Coordinate { .. }), "{lat}, {lon}");
    }
}
