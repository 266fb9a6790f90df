//! The wire formats against text o2s (Python 2.7) produced for the same input.

use super::super::pyfloat::{py_repr, py_str};
use super::*;

#[test]
fn python_str_of_floats() {
    let cases = [
        (51.1694, "51.1694"),
        (4.38942, "4.38942"),
        (-4.38942, "-4.38942"),
        (1.0, "1.0"),
        (180.0, "180.0"),
        (-90.0, "-90.0"),
        (-0.0, "-0.0"),
        (0.1 + 0.2, "0.3"),
        (1.0 / 3.0, "0.333333333333"),
        (9.9999999999999, "10.0"),
        (0.0001, "0.0001"),
        (0.000123456789012345, "0.000123456789012"),
        (1e-5, "1e-05"),
        (123456789012.0, "123456789012.0"),
        (1234567890123.0, "1.23456789012e+12"),
        (1e22, "1e+22"),
        (f64::NAN, "nan"),
        (f64::NEG_INFINITY, "-inf"),
    ];
    for (x, expected) in cases {
        assert_eq!(py_str(x), expected, "{x:e}");
    }
}

#[test]
fn python_repr_of_floats() {
    let cases = [
        (51.1694, "51.1694"),
        (1.0, "1.0"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1.0 / 3.0, "0.3333333333333333"),
        (9.9999999999999, "9.9999999999999"),
        (1234567890123.0, "1234567890123.0"),
        (123456789.0 + 0.123456789, "123456789.12345679"),
        (2.0 / 3.0 * 1e-7, "6.666666666666665e-08"),
        (100.0 / 7.0, "14.285714285714286"),
        (1e15, "1000000000000000.0"),
        (1e16, "1e+16"),
        (1e-5, "1e-05"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (f64::INFINITY, "inf"),
    ];
    for (x, expected) in cases {
        assert_eq!(py_repr(x), expected, "{x:e}");
    }
}

#[test]
fn topic_hash_matches_o2s() {
    let cases = [
        ("owntracks/jane/phone", 51.1694, 4.38942, "c7255ae0254d19c3740d15d7673d1dcd19b5ffeb"),
        ("owntracks/jane/phone", 51.0, 4.0, "e8797294a9e2eecc2c000c05e2a9f9db19dd5a3f"),
        ("owntracks/gw/K2", 1e-5, -0.5, "bb631f50c336ec95270b0d35bbd794c4cccfd589"),
    ];
    for (owner, lat, lon, expected) in cases {
        assert_eq!(fence_topic_hash(owner, lat, lon), expected, "{owner} {lat} {lon}");
    }
    let (lat, lon, radius) = LOADAYS;
    let loadays = Fence { id: 1, name: "LOADays".into(), shape: circle(lat, lon, radius) };
    assert_eq!(
        loadays.topic_hash("owntracks/jane/phone"),
        "c7255ae0254d19c3740d15d7673d1dcd19b5ffeb"
    );
}

#[test]
fn circle_objects_match_o2s_byte_for_byte() {
    let cases = [
        (
            (51.1694, 4.38942, 300.0, "LOADays"),
            concat!(
                r#"{"lat": 51.1694, "radius": 300, "_type": "fence", "lon": 4.38942, "#,
                r#""waypoint": "LOADays"}"#
            ),
        ),
        (
            (51.0, -0.0, 12.5, ""),
            r#"{"lat": 51.0, "radius": 12.5, "_type": "fence", "lon": -0.0, "waypoint": ""}"#,
        ),
        (
            (1e-5, 4.0, 1.0, "Caf\u{e9} \"Z\u{fc}rich\"\n\t\\/ \u{7f}\u{1} \u{1f600}"),
            concat!(
                r#"{"lat": 1e-05, "radius": 1, "_type": "fence", "lon": 4.0, "waypoint": "#,
                r#""Caf\u00e9 \"Z\u00fcrich\"\n\t\\/ \u007f\u0001 \ud83d\ude00"}"#
            ),
        ),
        (
            (f64::NAN, 4.0, f64::INFINITY, "x"),
            r#"{"lat": null, "radius": null, "_type": "fence", "lon": 4.0, "waypoint": "x"}"#,
        ),
    ];
    for ((lat, lon, radius, name), expected) in cases {
        assert_eq!(fence_object(lat, lon, radius, name), expected);
    }
    let (lat, lon, radius) = LOADAYS;
    let loadays = Fence { id: 1, name: "LOADays".into(), shape: circle(lat, lon, radius) };
    assert_eq!(loadays.object(), fence_object(lat, lon, radius, "LOADays"));
}

#[test]
fn polygon_object_adds_the_corners_to_an_enclosing_circle() {
    let expected = concat!(
        r#"{"lat": 51.005, "radius": 657, "_type": "fence", "lon": 4.005, "waypoint": "Square", "#,
        r#""polygon": [[51.0, 4.0], [51.0, 4.01], [51.01, 4.01], [51.01, 4.0]]}"#
    );
    assert_eq!(polygon_object(&SQUARE, "Square"), expected);
    let square = Fence { id: 2, name: "Square".into(), shape: polygon(&SQUARE) };
    assert_eq!(square.object(), expected);
    assert_eq!(
        square.topic_hash("owntracks/jane/phone"),
        fence_topic_hash("owntracks/jane/phone", 51.005, 4.005)
    );
}

#[test]
fn alert_distance_figures() {
    let cases = [
        (78.01547691350352, "0.08", 78),
        (0.0, "0.00", 0),
        (5.0, "0.01", 5),
        (1234.5, "1.23", 1234),
        (2675.0, "2.67", 2675),
        (999994.9, "999.99", 999994),
    ];
    for (meters, km, whole) in cases {
        assert_eq!((km_text(meters), meters_whole(meters)), (km.to_owned(), whole), "{meters}");
    }
    assert_eq!(meters_whole(f64::NAN), 0);
}
