//! Google location history in its two layouts. The old Takeout `Records.json` is an object whose
//! `locations` array holds fixes with `latitudeE7`/`longitudeE7` (degrees times 10^7) and a
//! `timestamp` (RFC 3339) or `timestampMs` (milliseconds as a string). The newer export made on
//! the phone ("Timeline") holds `semanticSegments` (with `timelinePath` points, a `visit`'s
//! place and an `activity`'s start and end) and `rawSignals` (`position` fixes); iOS writes the
//! segments as a top-level array with `"geo:lat,lon"` strings and path points timed as minutes
//! after the segment's start, Android writes `"48.1°, 11.5°"` strings and a time per point.
//! Every array is read one element at a time.

use serde_json::Value;

use crate::entry::{InputFile, Sink};
use crate::json_stream::for_each_element;
use crate::values::{TimeProblem, any_seconds, kmh, location, time_skip};

pub fn read(file: InputFile, topic: &str, sink: &mut Sink) {
    let name = file.name.clone();
    let keys = ["locations", "semanticSegments", "rawSignals"];
    let mut count = 0;
    let result = for_each_element(file.reader, &keys, &mut |key, index, element| {
        count += 1;
        let at = match key {
            "" => format!("segment {} of {name}", index + 1),
            key => format!("{key}[{index}] of {name}"),
        };
        match key {
            "locations" => record(&element, at, topic, sink),
            "rawSignals" => raw_signal(&element, at, topic, sink),
            _ => segment(&element, &at, topic, sink),
        }
    });
    if let Err(error) = result {
        sink.skip("bad JSON", name.clone(), error.to_string());
    } else if count == 0 {
        sink.send(crate::Entry::Note(format!("{name} has no locations, segments or signals")));
    }
}

/// Reads `"geo:48.1,11.5"` or `"48.1°, 11.5°"` (also inside `{"latLng": ...}`).
fn lat_lng(value: &Value) -> Option<(f64, f64)> {
    let text = match value {
        Value::String(text) => text.as_str(),
        Value::Object(object) => object.get("latLng").or_else(|| object.get("LatLng"))?.as_str()?,
        _ => return None,
    };
    let text = text.trim();
    let (lat, lon) = text.strip_prefix("geo:").unwrap_or(text).split_once(',')?;
    let degrees = |part: &str| part.trim().trim_end_matches('°').trim().parse::<f64>().ok();
    Some((degrees(lat)?, degrees(lon)?))
}

fn number(value: &Value, key: &str) -> Option<f64> {
    match value.get(key)? {
        Value::String(text) => text.parse().ok(),
        other => other.as_f64(),
    }
}

/// Sends a fix, or the reason its time cannot be read.
fn send(
    (lat, lon): (f64, f64),
    time: Time,
    extras: &[(&str, Option<f64>)],
    at: String,
    topic: &str,
    sink: &mut Sink,
) -> bool {
    match time {
        Ok(tst) => sink.record(topic, &location(lat, lon, tst, extras), at),
        Err((problem, text)) => {
            let (reason, detail) = time_skip(&problem, &text);
            sink.skip(reason, at, detail)
        }
    }
}

/// A time as read, with the text kept for the message when it cannot be read.
type Time = Result<i64, (TimeProblem, String)>;

/// A time field, with the text kept for the message if it cannot be read.
fn time_of(value: &Value, key: &str) -> Option<Time> {
    let time = value.get(key)?;
    Some(any_seconds(time).map_err(|problem| (problem, time.to_string())))
}

/// One element of Records.json's `locations`.
fn record(element: &Value, at: String, topic: &str, sink: &mut Sink) -> bool {
    let e7 = |key| element.get(key).and_then(Value::as_f64).map(|v| v / 1e7);
    let (Some(lat), Some(lon)) = (e7("latitudeE7"), e7("longitudeE7")) else {
        return sink.skip("no coordinates", at, "no latitudeE7/longitudeE7");
    };
    let Some(time) = time_of(element, "timestamp").or_else(|| time_of(element, "timestampMs"))
    else {
        return sink.skip("no timestamp", at, "no timestamp or timestampMs");
    };
    let extras = [
        ("acc", number(element, "accuracy")),
        ("alt", number(element, "altitude")),
        ("vel", number(element, "velocity").map(kmh)),
        ("cog", number(element, "heading")),
        ("vac", number(element, "verticalAccuracy")),
    ];
    send((lat, lon), time, &extras, at, topic, sink)
}

/// One element of `rawSignals`: only `position` signals are fixes.
fn raw_signal(element: &Value, at: String, topic: &str, sink: &mut Sink) -> bool {
    let Some(position) = element.get("position") else {
        return sink.skip("raw signal without position", at, first_key(element));
    };
    let Some(point) = lat_lng(position) else {
        return sink.skip("no coordinates", at, "position without LatLng");
    };
    let Some(time) = time_of(position, "timestamp") else {
        return sink.skip("no timestamp", at, "position without timestamp");
    };
    let extras = [
        ("acc", number(position, "accuracyMeters")),
        ("alt", number(position, "altitudeMeters")),
        ("vel", number(position, "speedMetersPerSecond").map(kmh)),
    ];
    send(point, time, &extras, at, topic, sink)
}

fn first_key(element: &Value) -> String {
    element.as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default()
}

/// One semantic segment: its path points, a visit's place at the start, an activity's start
/// and end.
fn segment(element: &Value, at: &str, topic: &str, sink: &mut Sink) -> bool {
    let start = time_of(element, "startTime");
    let end = time_of(element, "endTime");
    let mut fixes: Vec<((f64, f64), Option<Time>, String)> = Vec::new();
    let path = element.get("timelinePath").and_then(Value::as_array);
    for (i, point) in path.map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
        let Some(position) = point.get("point").and_then(lat_lng) else { continue };
        let time = time_of(point, "time").or_else(|| offset(start.clone(), point));
        fixes.push((position, time, format!("{at}, path point {}", i + 1)));
    }
    let place = element.pointer("/visit/topCandidate/placeLocation").and_then(lat_lng);
    if let Some(place) = place {
        fixes.push((place, start.clone(), format!("{at}, visit")));
    }
    for (key, time) in [("start", &start), ("end", &end)] {
        if let Some(position) = element.pointer(&format!("/activity/{key}")).and_then(lat_lng) {
            fixes.push((position, time.clone(), format!("{at}, activity {key}")));
        }
    }
    if fixes.is_empty() {
        return sink.skip("no position in segment", at.to_owned(), first_key(element));
    }
    fixes.into_iter().all(|(position, time, at)| match time {
        Some(time) => send(position, time, &[], at, topic, sink),
        None => sink.skip("no timestamp", at, "no time for the point"),
    })
}

/// An iOS path point's time: the segment's start plus `durationMinutesOffsetFromStartTime`.
fn offset(start: Option<Time>, point: &Value) -> Option<Time> {
    let minutes = number(point, "durationMinutesOffsetFromStartTime")?;
    Some(start?.map(|start| start + (minutes * 60.0).round() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::iso_seconds;
    use serde_json::json;

    #[test]
    fn point_strings_of_both_phones() {
        assert_eq!(lat_lng(&json!("geo:48.137154,11.576124")), Some((48.137154, 11.576124)));
        assert_eq!(lat_lng(&json!("48.1371540°, 11.5761240°")), Some((48.137154, 11.576124)));
        assert_eq!(lat_lng(&json!({"latLng": "-33.5°, -70.25°"})), Some((-33.5, -70.25)));
        assert_eq!(lat_lng(&json!("48.1")), None);
        assert_eq!(iso_seconds("2024-05-01T08:00:00.000+02:00"), Ok(1_714_543_200));
    }
}
