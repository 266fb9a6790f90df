use pista_core::{Context, Decoded, DeviceName, decode};
use serde_json::json;

use super::*;
use crate::wire;

#[test]
fn compass_points() {
    let cases = [
        (0.0, "N"),
        (44.9, "N"),
        (45.0, "NE"),
        (135.0, "SE"),
        (260.0, "SW"),
        (359.0, "NW"),
        (360.0, "N"),
        (405.0, "NE"),
        (-1.0, "N"),
        (-200.0, "N"),
        (f64::NAN, "N"),
    ];
    for (cog, point) in cases {
        assert_eq!(compass(cog), point, "cog {cog}");
    }
}

#[test]
fn stamps_are_utc() {
    assert_eq!(dstamp(1_415_719_099), "11/15:18:19");
    assert_eq!(tstamp(1_415_719_099), "2014-11-11T15:18:19Z");
    assert_eq!(look_stamp(1_412_056_746), "30.09 05:59:06");
}

#[test]
fn object_waits_for_a_fix_and_merges_what_came_before() {
    let mut state = DeviceState {
        topic: "owntracks/gw/K2".into(),
        status: Some(-1),
        info: Some("Van 17 (Jürgen)".into()),
        vbatt: Some(4.1),
        ..DeviceState::default()
    };
    assert_eq!(state.object(), None);

    state.fix =
        Some(Fix { tst: 1_412_056_746, lat: 40.5, lon: 4.25, tid: "K2".into(), ..Fix::default() });
    state.imei = Some("356000000000001".into());
    state.odo = Some(1234.7);
    let object = state.object().expect("has a fix");
    assert_eq!(
        wire::compact(&object),
        concat!(
            r#"{"_type":"location","addr":"unknown location","alt":0,"cc":"??","cog":0,"#,
            r#""compass":"N","dist":0,"dstamp":"30/05:59:06","imei":"356000000000001","#,
            r#""info":"Van 17 (J\u00fcrgen)","lat":40.5,"lon":4.25,"odo":1234,"status":-1,"#,
            r#""t":"-","tid":"K2","topic":"owntracks/gw/K2","trip":0,"tst":1412056746,"#,
            r#""tstamp":"2014-09-30T05:59:06Z","vbatt":4.1,"vel":0}"#
        )
    );
}

/// The two `_map` objects of the seed vectors, from their inputs (UTC, no geocoder).
#[test]
fn seed_objects_are_reproduced() {
    let cases = [
        (
            "owntracks/gw/jjolie",
            r#"{"cog":-1,"batt":"79","lon":"2.295134","acc":"10","vel":0,"vac":3,"lat":"48.858334","t":"t","tst":"1415719099","alt":171,"_type":"location","tid":"jj"}"#,
            r#"{"_type":"location","addr":"unknown location","alt":171,"cc":"??","cog":-1,"compass":"N","dist":0,"dstamp":"11/15:18:19","lat":48.858334,"lon":2.295134,"status":1,"t":"t","tid":"jj","topic":"owntracks/gw/jjolie","trip":0,"tst":1415719099,"tstamp":"2014-11-11T15:18:19Z","vel":0}"#,
        ),
        (
            "owntracks/gw/K2",
            "K2,542A46AA,k,40365854,4575769,26,4,7,5,8",
            r#"{"_type":"location","addr":"unknown location","alt":70,"cc":"??","cog":260,"compass":"SW","dist":5,"dstamp":"30/05:59:06","lat":40.365854,"lon":4.575769,"status":1,"t":"k","tid":"K2","topic":"owntracks/gw/K2","trip":8000,"tst":1412056746,"tstamp":"2014-09-30T05:59:06Z","vel":4}"#,
        ),
    ];
    for (topic, payload, expected) in cases {
        let location = decode_location(topic, payload);
        let state = DeviceState {
            topic: topic.into(),
            fix: Some(Fix::from_location(&location)),
            ..DeviceState::default()
        };
        assert_eq!(wire::compact(&state.object().expect("fix")), expected, "{topic}");
    }
}

/// Decodes a seed location as the pipeline would (arrival just after the fix).
pub(crate) fn decode_location(topic: &str, payload: &str) -> Location {
    let device = topic.rsplit('/').next().expect("topic has levels");
    let device = DeviceName::parse(device).expect("device name");
    let context = Context {
        device: &device,
        subtopic: None,
        received_at: 1_415_800_000,
        time: pista_core::time::TimeRule::default(),
    };
    let payload = bytes::Bytes::copy_from_slice(payload.as_bytes());
    match decode(&payload, &context).pop() {
        Some(Decoded::Location { location, .. }) => *location,
        other => panic!("{topic}: not a location: {other:?}"),
    }
}

#[test]
fn fix_keys_take_trip_and_dist_from_the_json() {
    let location = decode_location(
        "owntracks/gw/BB",
        r#"{"_type":"location","lat":51.17,"lon":4.39,"tst":1414692409,"tid":"BB","t":"t","trip":30700,"dist":1,"alt":12.9,"cog":0,"vel":0}"#,
    );
    let keys = Fix::from_location(&location).keys("owntracks/gw/BB");
    assert_eq!(keys["trip"], json!(30700));
    assert_eq!(keys["dist"], json!(1));
    assert_eq!(keys["alt"], json!(12));
}
