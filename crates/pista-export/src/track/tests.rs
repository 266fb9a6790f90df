//! Exact tracks from known lines: a zigzag, a straight line longer than a window, boxes that
//! cut runs, marks, the time zone, and the parameters' errors.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use pista_core::DeviceKey;
use serde_json::json;

use super::*;

const T0: i64 = 1_700_000_000;

fn fix(index: usize, lat: f64, lon: f64) -> HistoryPoint {
    let key = Arc::new(DeviceKey::parse("jane", "phone").unwrap());
    let tst = T0 + 60 * index as i64;
    HistoryPoint {
        id: index as i64,
        lat,
        lon,
        tid: "JP".into(),
        addr: Some(format!("at {index}").into()),
        ..HistoryPoint::of_message(key, tst, T0, String::new().into())
    }
}

/// One degree of longitude apart, the latitudes of a zigzag with one tall tooth.
fn zigzag() -> Vec<HistoryPoint> {
    [0.0, 0.001, 0.0, 1.0, 0.0, 0.001, 0.0]
        .into_iter()
        .enumerate()
        .map(|(i, lat)| fix(i, lat, i as f64))
        .collect()
}

fn build(points: &[HistoryPoint], options: TrackOptions) -> Track {
    let mut builder = TrackBuilder::new(options);
    for page in points.chunks(3) {
        builder.page(page);
    }
    builder.finish()
}

/// The indexes (minutes after T0) of each run's points.
fn runs(track: &Track) -> Vec<Vec<i64>> {
    track.segments.iter().map(|run| run.iter().map(|p| (p.tst - T0) / 60).collect()).collect()
}

#[test]
fn a_zigzag_keeps_its_tall_tooth_and_loses_the_small_ones() {
    let options = TrackOptions { tolerance: 0.01, bbox: None, every_km: Some(200.0) };
    let track = build(&zigzag(), options);
    assert_eq!(runs(&track), [vec![0, 2, 3, 4, 6]]);
    let answer = track.json();
    assert_eq!(
        (&answer["points"], &answer["returned"], &answer["km"], &answer["bounds"]),
        (&json!(7), &json!(5), &json!(759.27974), &json!([0.0, 0.0, 6.0, 1.0]))
    );
    assert_eq!(
        answer["segments"],
        json!([[
            [T0, 0.0, 0.0, 0.0],
            [T0 + 120, 0.0, 2.0, 222.390272],
            [T0 + 180, 1.0, 3.0, 379.63987],
            [T0 + 240, 0.0, 4.0, 536.889469],
            [T0 + 360, 0.0, 6.0, 759.27974]
        ]])
    );
    // Marks at 0 km and at the first point past 200, 400 and 600 km, from every point.
    let marks: Vec<(i64, &Option<String>)> =
        track.marks.iter().map(|m| ((m.point.tst - T0) / 60, &m.addr)).collect();
    let at = |i: usize| Some(format!("at {i}"));
    assert_eq!(marks, [(0, &at(0)), (2, &at(2)), (4, &at(4)), (5, &at(5))]);
    assert_eq!(
        answer["marks"][1],
        json!({"tst": T0 + 120, "lat": 0.0, "lon": 2.0, "km": 222.390272, "addr": "at 2"})
    );

    // No tolerance: every point.
    let full = build(&zigzag(), TrackOptions::default());
    assert_eq!(runs(&full), [vec![0, 1, 2, 3, 4, 5, 6]]);
    assert_eq!((full.marks.len(), full.tzname.as_deref()), (0, None));
}

#[test]
fn a_long_straight_line_keeps_only_its_window_ends() {
    let points: Vec<HistoryPoint> = (0..5000).map(|i| fix(i, 0.0, i as f64 * 1e-4)).collect();
    let mut builder = TrackBuilder::new(TrackOptions { tolerance: 1e-6, ..Default::default() });
    for page in points.chunks(PAGE) {
        builder.page(page);
    }
    let track = builder.finish();
    assert_eq!(runs(&track), [vec![0, 1999, 3998, 4999]]);
    let answer = track.json();
    assert_eq!((&answer["points"], &answer["returned"]), (&json!(5000), &json!(4)));
    assert_eq!(answer["km"], json!(55.586421));
}

const PAGE: usize = 700;

#[test]
fn a_box_draws_the_runs_inside_it_with_their_neighbours() {
    let middle = Bbox::parse("1.5,-1,4.5,2").unwrap();
    let track = build(&zigzag(), TrackOptions { bbox: Some(middle), ..Default::default() });
    assert_eq!(runs(&track), [vec![1, 2, 3, 4, 5]]);
    // The whole range's figures, whatever the box.
    assert_eq!((track.points, track.json()["km"].clone()), (7, json!(759.27974)));

    // Only the points on the equator: four runs, each leaving the box at both ends.
    let low = Bbox::parse("-1,-0.5,7,0.0005").unwrap();
    let track = build(&zigzag(), TrackOptions { bbox: Some(low), ..Default::default() });
    assert_eq!(runs(&track), [vec![0, 1], vec![1, 2, 3], vec![3, 4, 5], vec![5, 6]]);
    assert_eq!(track.returned(), 10);

    // West above east: a box across the antimeridian holds both ends of the world.
    let pacific = Bbox::parse("179,-1,-179,1").unwrap();
    let dateline =
        [fix(0, 0.0, 178.0), fix(1, 0.0, 179.5), fix(2, 0.0, -179.5), fix(3, 0.0, -178.0)];
    let track = build(&dateline, TrackOptions { bbox: Some(pacific), ..Default::default() });
    assert_eq!(runs(&track), [vec![0, 1, 2, 3]]);
    let track = build(&zigzag(), TrackOptions { bbox: Some(pacific), ..Default::default() });
    assert_eq!(track.returned(), 0);

    let nowhere = Bbox::parse("100,10,101,11").unwrap();
    let track = build(&zigzag(), TrackOptions { bbox: Some(nowhere), ..Default::default() });
    assert_eq!((track.returned(), track.points), (0, 7));
    assert_eq!(track.json()["segments"], json!([]));
}

#[test]
fn an_empty_range_and_the_newest_time_zone() {
    let track = build(&[], TrackOptions { tolerance: 0.1, bbox: None, every_km: Some(1.0) });
    assert_eq!(
        track.json(),
        json!({"points": 0, "returned": 0, "km": 0.0, "bounds": null, "segments": [],
            "marks": [], "tzname": null})
    );
    let mut points = zigzag();
    points[1].payload = r#"{"_type":"location","tzname":"Europe/Paris"}"#.into();
    points[4].payload = r#"{"_type":"location","lat":0,"tzname":"America/New_York","x":1}"#.into();
    points[5].payload = r#"{"_type":"location","lat":0}"#.into();
    let track = build(&points, TrackOptions::default());
    assert_eq!(track.tzname.as_deref(), Some("America/New_York"));
}

#[test]
fn parameters_are_read_or_refused_by_value() {
    assert_eq!(parse_zoom("12"), Ok(12));
    assert_eq!(tolerance_for_zoom(0), 180.0 / 256.0);
    assert_eq!(tolerance_for_zoom(10), 180.0 / 262_144.0);
    assert_eq!(parse_every("2.5"), Ok(2.5));
    let bbox = Bbox::parse(" 2.25,48.8,2.4,48.9").unwrap();
    assert_eq!(bbox.to_string(), "2.25,48.8,2.4,48.9");
    let errors = [
        (parse_zoom("25").unwrap_err(), "zoom \"25\" is not a whole number from 0 to 24"),
        (parse_zoom("-1").unwrap_err(), "zoom \"-1\" is not a whole number from 0 to 24"),
        (parse_every("0").unwrap_err(), "every \"0\" is not a distance in km from 0.1 to 10000"),
        (
            parse_every("NaN").unwrap_err(),
            "every \"NaN\" is not a distance in km from 0.1 to 10000",
        ),
        (
            Bbox::parse("1,2,3").unwrap_err(),
            "bbox \"1,2,3\" is not west,south,east,north in degrees (south below north; a west above east crosses the antimeridian)",
        ),
        (
            Bbox::parse("1,4,3,2").unwrap_err(),
            "bbox \"1,4,3,2\" is not west,south,east,north in degrees (south below north; a west above east crosses the antimeridian)",
        ),
        (
            parse_every("1e-300").unwrap_err(),
            "every \"1e-300\" is not a distance in km from 0.1 to 10000",
        ),
        (
            Bbox::parse("0,0,1,x").unwrap_err(),
            "bbox \"0,0,1,x\" is not west,south,east,north in degrees (south below north; a west above east crosses the antimeridian)",
        ),
    ];
    for (error, want) in errors {
        assert_eq!(error.to_string(), want);
    }
}
