//! GeoJSON: the features of a `FeatureCollection` (or a top-level array of features), read one
//! at a time. A `Point` is a location whose time is its `tst`, `time`, `timestamp` or `isotst`
//! property (epoch seconds or milliseconds, or RFC 3339), with `acc`, `alt`, `vel`, `cog`,
//! `batt` and `vac` taken over when they are numbers (the Recorder's and Pista's own export use
//! these names). A `LineString` or `MultiLineString` gives one location per position, timed by
//! the `coordTimes` (or `coordinateProperties.times`, or `times`) property that GPS-to-GeoJSON
//! converters write.

use serde_json::Value;

use crate::entry::{InputFile, Sink};
use crate::json_stream::read_elements;
use crate::values::{any_seconds, location, time_skip};

/// Properties that may hold a point's time, in the order they are looked for.
const TIME_KEYS: [&str; 4] = ["tst", "time", "timestamp", "isotst"];

/// Numeric properties that mean what OwnTracks means by them.
const EXTRAS: [&str; 6] = ["acc", "alt", "vel", "cog", "batt", "vac"];

pub fn read(file: InputFile, topic: &str, sink: &mut Sink) {
    let name = file.name.clone();
    let outline = read_elements(
        file,
        &["features"],
        sink,
        |_, index| format!("feature {}", index + 1),
        |_, feature, at, sink| read_feature(&feature, &at, topic, sink),
    );
    let Some(outline) = outline.filter(|outline| outline.elements == 0) else { return };
    let takeout = ["locations", "semanticSegments", "rawSignals"];
    let hint = if outline.keys.iter().any(|key| takeout.contains(&key.as_str())) {
        ": it looks like Google location history (import it as takeout)"
    } else if outline.keys.iter().any(|key| key == "geometry") {
        ": a lone Feature is not read, only a FeatureCollection"
    } else {
        ""
    };
    sink.stopped(format!("{name} has no features{hint}"));
}

fn read_feature(feature: &Value, at: &str, topic: &str, sink: &mut Sink) -> bool {
    let empty = Value::Null;
    let properties = feature.get("properties").unwrap_or(&empty);
    let geometry = feature.get("geometry").unwrap_or(&empty);
    let coordinates = geometry.get("coordinates").unwrap_or(&empty);
    // `@tmcw/togeojson` writes `coordinateProperties.times`; older converters `coordTimes`.
    let times = properties
        .get("coordTimes")
        .or_else(|| properties.pointer("/coordinateProperties/times"))
        .or_else(|| properties.get("times"));
    match geometry.get("type").and_then(Value::as_str) {
        Some("Point") => {
            let time = TIME_KEYS.iter().find_map(|key| properties.get(*key));
            point(coordinates, time, properties, at.to_owned(), topic, sink)
        }
        Some("LineString") => line(coordinates, times, at, topic, sink),
        Some("MultiLineString") => {
            let lines = coordinates.as_array().map(Vec::as_slice).unwrap_or_default();
            lines.iter().enumerate().all(|(i, coordinates)| {
                let times = times.and_then(|t| t.get(i));
                line(coordinates, times, &format!("{at}, line {}", i + 1), topic, sink)
            })
        }
        Some(other) => sink.skip("not a point or line", at.to_owned(), format!("geometry {other}")),
        None => sink.skip("not a point or line", at.to_owned(), "no geometry type"),
    }
}

fn line(
    coordinates: &Value,
    times: Option<&Value>,
    at: &str,
    topic: &str,
    sink: &mut Sink,
) -> bool {
    let positions = coordinates.as_array().map(Vec::as_slice).unwrap_or_default();
    positions.iter().enumerate().all(|(i, position)| {
        let time = times.and_then(|t| t.get(i));
        let at = format!("{at}, position {}", i + 1);
        point(position, time, &Value::Null, at, topic, sink)
    })
}

/// One position `[lon, lat, alt?]` with its time and properties.
fn point(
    position: &Value,
    time: Option<&Value>,
    properties: &Value,
    at: String,
    topic: &str,
    sink: &mut Sink,
) -> bool {
    let number = |i: usize| position.get(i).and_then(Value::as_f64);
    let (Some(lon), Some(lat)) = (number(0), number(1)) else {
        return sink.skip("unreadable coordinates", at, position.to_string());
    };
    let Some(time) = time else { return sink.skip("no timestamp", at, "no time property") };
    let tst = match any_seconds(time) {
        Ok(tst) => tst,
        Err(problem) => {
            let (reason, detail) = time_skip(&problem, &time.to_string());
            return sink.skip(reason, at, detail);
        }
    };
    let mut extras: Vec<(&str, Option<f64>)> =
        EXTRAS.iter().map(|key| (*key, properties.get(*key).and_then(Value::as_f64))).collect();
    if let Some(alt) = number(2) {
        extras.retain(|(key, _)| *key != "alt");
        extras.push(("alt", Some(alt.round())));
    }
    sink.record(topic, &location(lat, lon, tst, &extras), at)
}
