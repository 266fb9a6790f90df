//! Tests of the fence module: shapes and distances here; the engine, the wire formats and the
//! randomised properties in the submodules.

mod engine;
mod props;
mod wire;

use super::*;

/// The LOADays fence of the seed inventory's alert example.
const LOADAYS: (f64, f64, f64) = (51.1694, 4.38942, 300.0);

fn circle(lat: f64, lon: f64, radius: f64) -> Shape {
    Shape::Circle { lat, lon, radius }
}

fn polygon(points: &[(f64, f64)]) -> Shape {
    Shape::Polygon { points: points.to_vec() }
}

/// The point `meters` due north (negative: south) of `(lat, lon)`; along a meridian the
/// haversine distance is exactly the arc length.
fn north(lat: f64, lon: f64, meters: f64) -> (f64, f64) {
    (lat + (meters / EARTH_RADIUS).to_degrees(), lon)
}

/// The point `meters` due east (negative: west) of `(lat, lon)` along the parallel.
fn east(lat: f64, lon: f64, meters: f64) -> (f64, f64) {
    (lat, lon + (meters / (EARTH_RADIUS * lat.to_radians().cos())).to_degrees())
}

/// Rounds to millimetres, enough to compare distances without float noise.
fn mm(meters: f64) -> f64 {
    (meters * 1000.0).round() / 1000.0
}

/// A 0.01 by 0.01 degree square near Brussels, corners counter-clockwise.
const SQUARE: [(f64, f64); 4] = [(51.0, 4.0), (51.0, 4.01), (51.01, 4.01), (51.01, 4.0)];

/// A U opening to the north, in units of 0.001 degree from (50, 5): arms 1 unit wide, the
/// notch between them 1 unit wide and 2 deep.
fn u_shape() -> Shape {
    let grid = [(0.0, 0.0), (0.0, 3.0), (3.0, 3.0), (3.0, 2.0), (1.0, 2.0), (1.0, 1.0)];
    let grid = grid.iter().chain(&[(3.0, 1.0), (3.0, 0.0)]);
    Shape::Polygon { points: grid.map(|(y, x)| (50.0 + y / 1000.0, 5.0 + x / 1000.0)).collect() }
}

#[test]
fn validate_accepts_and_rejects_with_the_bad_value() {
    let cases: Vec<(Shape, Result<(), &str>)> = vec![
        (circle(51.1694, 4.38942, 300.0), Ok(())),
        (circle(-90.0, 180.0, MAX_RADIUS), Ok(())),
        (circle(90.5, 4.0, 300.0), Err("fence latitude 90.5 is not a number within -90..=90")),
        (circle(f64::NAN, 4.0, 300.0), Err("fence latitude NaN is not a number within -90..=90")),
        (
            circle(51.0, -180.25, 300.0),
            Err("fence longitude -180.25 is not a number within -180..=180"),
        ),
        (
            circle(51.0, 4.0, 0.0),
            Err("fence radius 0 m is not a number within 0 (exclusive) ..= 1000000"),
        ),
        (
            circle(51.0, 4.0, -5.0),
            Err("fence radius -5 m is not a number within 0 (exclusive) ..= 1000000"),
        ),
        (
            circle(51.0, 4.0, 1_000_000.5),
            Err("fence radius 1000000.5 m is not a number within 0 (exclusive) ..= 1000000"),
        ),
        (
            circle(51.0, 4.0, f64::INFINITY),
            Err("fence radius inf m is not a number within 0 (exclusive) ..= 1000000"),
        ),
        (polygon(&SQUARE), Ok(())),
        (polygon(&[]), Err("fence polygon has 0 distinct points, at least 3 are needed")),
        (
            polygon(&[(51.0, 4.0), (51.0, 4.01), (51.0, 4.0), (51.0, 4.01)]),
            Err("fence polygon has 2 distinct points, at least 3 are needed"),
        ),
        (
            polygon(&[(51.0, 4.0), (95.0, 4.01), (51.01, 4.0)]),
            Err("fence latitude 95 is not a number within -90..=90"),
        ),
        (
            polygon(&[(51.0, 4.0), (51.0, f64::NEG_INFINITY), (51.01, 4.0)]),
            Err("fence longitude -inf is not a number within -180..=180"),
        ),
        (
            polygon(&[(51.0, 4.0), (51.0, 4.01), (51.0, 4.02), (51.0, 4.005)]),
            Err("fence polygon encloses no area: its 4 corners lie on one line"),
        ),
        (
            polygon(&[(51.0, 4.0), (51.01, 4.01), (51.02, 4.02)]),
            Err("fence polygon encloses no area: its 3 corners lie on one line"),
        ),
        (
            polygon(&[(51.0, 4.0), (51.01, 4.01), (51.0, 4.01), (51.01, 4.0)]),
            Err("fence polygon crosses itself (a bow tie); give its 4 corners in order around \
                 its edge"),
        ),
        // Across the antimeridian: 20 degrees wide, the short way round.
        (polygon(&[(10.0, 170.0), (10.0, -170.0), (11.0, -170.0), (11.0, 170.0)]), Ok(())),
        (
            polygon(&[(0.0, 0.0), (0.0, 100.0), (10.0, -100.0)]),
            Err("fence polygon spans 260 degrees of longitude, at most 180 are supported"),
        ),
    ];
    for (shape, expected) in cases {
        let got = shape.validate().map_err(|error| error.to_string());
        assert_eq!(got, expected.map_err(str::to_owned), "{shape:?}");
    }
}

#[test]
fn validate_error_carries_the_value() {
    let error = circle(51.0, 4.0, -5.0).validate();
    assert_eq!(error, Err(FenceError::Radius(-5.0)));
    let error = polygon(&[(51.0, 4.0), (51.0, 4.0), (51.0, 4.0)]).validate();
    assert_eq!(error, Err(FenceError::TooFewPoints(1)));
}

#[test]
fn centre_of_circle_and_polygon() {
    assert_eq!(circle(51.1694, 4.38942, 300.0).centre(), (51.1694, 4.38942));
    assert_eq!(polygon(&SQUARE).centre(), (51.005, 4.005));
    assert_eq!(u_shape().centre(), (50.0015, 5.0015));
}

#[test]
fn earth_radius_is_the_one_geo_uses() {
    assert_eq!(EARTH_RADIUS, geo::Haversine.radius());
}

#[test]
fn loadays_distance_is_78_metres() {
    let (lat, lon, radius) = LOADAYS;
    let meters = distance(&circle(lat, lon, radius), 51.17, 4.39);
    assert_eq!(mm(meters), 78.015);
    assert_eq!(meters_whole(meters), 78);
    assert_eq!(km_text(meters), "0.08");
}

#[test]
fn circle_distance_is_to_the_centre() {
    let shape = circle(50.0, 5.0, 300.0);
    let cases = [
        (north(50.0, 5.0, 0.0), 0.0),
        (north(50.0, 5.0, 290.0), 290.0),
        (north(50.0, 5.0, -1234.5), 1234.5),
    ];
    for ((lat, lon), expected) in cases {
        assert_eq!(mm(distance(&shape, lat, lon)), expected, "{lat} {lon}");
    }
}

#[test]
fn polygon_distance_is_zero_inside_else_to_the_nearest_edge() {
    let square = polygon(&SQUARE);
    let cases = [
        ((51.005, 4.005), 0.0),
        ((51.0, 4.0), 0.0),
        ((51.0, 4.005), 0.0),
        (north(51.01, 4.005, 100.0), 100.0),
        (north(51.0, 4.005, -40.0), 40.0),
        (east(51.005, 4.0, -100.0), 100.0),
        (east(51.005, 4.01, 10.0), 10.0),
        (east(51.011, 4.01, 10.0), 111.644),
    ];
    for ((lat, lon), expected) in cases {
        assert_eq!(mm(distance(&square, lat, lon)), expected, "{lat} {lon}");
    }
}

/// A square across the antimeridian, 0.01 degree wide from 179.995 to -179.995.
const DATELINE: [(f64, f64); 4] =
    [(10.0, 179.995), (10.0, -179.995), (10.01, -179.995), (10.01, 179.995)];

#[test]
fn polygons_across_the_antimeridian_are_measured_the_short_way() {
    let square = polygon(&DATELINE);
    assert_eq!(square.validate(), Ok(()));
    assert_eq!(square.centre(), (10.005, 180.0));
    let cases = [
        ((10.005, 180.0), 0.0),
        ((10.005, -180.0), 0.0),
        ((10.005, -179.999), 0.0),
        ((10.005, 179.999), 0.0),
        (east(10.005, -179.995, 10.0), 10.0),
        (east(10.005, 179.995, -100.0), 100.0),
    ];
    for ((lat, lon), expected) in cases {
        assert_eq!(mm(distance(&square, lat, lon)), expected, "{lat} {lon}");
    }
    // A square just west of the antimeridian, and a point just across it: 2 km east of the
    // square's east edge, not the long way round the Earth.
    let west = polygon(&[(10.0, 179.98), (10.0, 179.99), (10.01, 179.99), (10.01, 179.98)]);
    let (lat, lon) = east(10.005, 179.99, 2000.0);
    assert!(lon > 180.0);
    let across = distance(&west, lat, lon - 360.0);
    assert_eq!(mm(across), mm(distance(&west, lat, lon)));
    assert_eq!(across.round(), 2000.0);
}

#[test]
fn polygon_distance_of_a_concave_shape() {
    let shape = u_shape();
    let cases = [
        // In the left arm and the base: inside.
        ((50.002, 5.0005), 0.0),
        ((50.0005, 5.0015), 0.0),
        // In the notch, which the convex hull would cover: half a unit east of the left arm.
        ((50.002, 5.0015), 35.736),
        // Just above the notch's floor.
        ((50.00101, 5.0015), 1.112),
        // North of the right arm.
        ((50.004, 5.0025), 111.195),
    ];
    for ((lat, lon), expected) in cases {
        assert_eq!(mm(distance(&shape, lat, lon)), expected, "{lat} {lon}");
    }
}

#[test]
fn distance_of_a_non_finite_point_or_corner_is_nan() {
    assert!(distance(&polygon(&SQUARE), f64::NAN, 4.0).is_nan());
    assert!(distance(&circle(51.0, 4.0, 10.0), 51.0, f64::INFINITY).is_nan());
    // geo would panic on the ring of this polygon: a NaN corner never closes it.
    let broken = polygon(&[(51.0, 4.0), (f64::NAN, 4.01), (51.01, 4.01)]);
    assert!(distance(&broken, 51.0, 4.0).is_nan());
}
