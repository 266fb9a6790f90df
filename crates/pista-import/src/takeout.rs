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
use crate::json_stream::read_elements;
use crate::values::{TimeProblem, any_seconds, coordinate, kmh, location, time_skip};

pub fn read(file: InputFile, topic: &str, sink: &mut Sink) {
    let name = file.name.clone();
    let keys = ["locations", "semanticSegments", "rawSignals"];
    let outline = read_elements(
        file,
        &keys,
        sink,
        |key, index| match key {
            "" => format!("segment {}", index + 1),
            key => format!("{key}[{index}]"),
        },
        |key, element, at, sink| match key {
            "locations" => record(&element, at, topic, sink),
            "rawSignals" => raw_signal(&element, at, topic, sink),
            _ => segment(&element, &at, topic, sink),
        },
    );
    let Some(outline) = outline.filter(|outline| outline.elements == 0) else { return };
    let hint = if outline.keys.iter().any(|key| key == "features") {
        ": it looks like GeoJSON (import it as geojson)"
    } else if outline.keys.iter().any(|key| key == "timelineObjects") {
        ": it looks like a monthly Semantic Location History file, which is not read"
    } else {
        ""
    };
    sink.stopped(format!("{name} has no locations, segments or signals{hint}"));
}

/// Reads `"geo:48.1,11.5"` or `"48.1°, 11.5°"` (also inside `{"latLng": ...}`); `None` when
/// there is no such string, the text when it cannot be read.
fn lat_lng(value: &Value) -> Option<Result<(f64, f64), String>> {
    let text = match value {
        Value::String(text) => text.as_str(),
        Value::Object(object) => object.get("latLng").or_else(|| object.get("LatLng"))?.as_str()?,
        _ => return None,
    };
    let trimmed = text.trim();
    let trimmed = trimmed.strip_prefix("geo:").unwrap_or(trimmed);
    let degrees = |part: &str| coordinate(part.trim().trim_end_matches('°')).map(|(v, _)| v);
    // Android's `°, ` splits a pair whose numbers have decimal commas (`48,13°, 11,57°`).
    let read = trimmed
        .split_once("°,")
        .or_else(|| trimmed.split_once(','))
        .and_then(|(lat, lon)| Some((degrees(lat)?, degrees(lon)?)));
    Some(read.ok_or_else(|| format!("{text:?}")))
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

/// A position as read, or its text when it cannot be read.
type Position = Result<(f64, f64), String>;

/// A time as read, with the text kept for the message when it cannot be read.
type Time = Result<i64, (TimeProblem, String)>;

/// A time field, with the text kept for the message if it cannot be read.
fn time_of(value: &Value, key: &str) -> Option<Time> {
    let time = value.get(key)?;
    Some(any_seconds(time).map_err(|problem| (problem, time.to_string())))
}

/// A `latitudeE7`/`longitudeE7` as degrees. Some exports write negative values as their
/// unsigned 32-bit form (above 2^31), and some write the number as a string.
fn e7(element: &Value, key: &str) -> Option<Result<f64, String>> {
    let value = element.get(key)?;
    let number = match value {
        Value::String(text) => text.trim().parse::<i64>().ok(),
        other => other.as_i64().or_else(|| other.as_f64().map(|v| v.round() as i64)),
    };
    let Some(mut number) = number else { return Some(Err(format!("{key} {value}"))) };
    if (1_i64 << 31..1_i64 << 32).contains(&number) {
        number -= 1_i64 << 32;
    }
    Some(Ok(number as f64 / 1e7))
}

/// One element of Records.json's `locations`.
fn record(element: &Value, at: String, topic: &str, sink: &mut Sink) -> bool {
    let (lat, lon) = match (e7(element, "latitudeE7"), e7(element, "longitudeE7")) {
        (Some(Ok(lat)), Some(Ok(lon))) => (lat, lon),
        (Some(Err(bad)), _) | (_, Some(Err(bad))) => {
            return sink.skip("unreadable coordinates", at, bad);
        }
        _ => return sink.skip("no coordinates", at, "no latitudeE7/longitudeE7"),
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
    let point = match lat_lng(position) {
        Some(Ok(point)) => point,
        Some(Err(bad)) => return sink.skip("unreadable coordinates", at, bad),
        None => return sink.skip("no coordinates", at, "position without LatLng"),
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
    let mut fixes: Vec<(Position, Option<Time>, String)> = Vec::new();
    let path = element.get("timelinePath").and_then(Value::as_array);
    for (i, point) in path.map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
        let position = point.get("point").map(|p| lat_lng(p).unwrap_or_else(|| Err(p.to_string())));
        let position = position.unwrap_or_else(|| Err("no point".to_owned()));
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
    fixes.into_iter().all(|(position, time, at)| match (position, time) {
        (Err(bad), _) => sink.skip("unreadable coordinates", at, bad),
        (Ok(position), Some(time)) => send(position, time, &[], at, topic, sink),
        (Ok(_), None) => sink.skip("no timestamp", at, "no time for the point"),
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
        assert_eq!(lat_lng(&json!("geo:48.137154,11.576124")), Some(Ok((48.137154, 11.576124))));
        assert_eq!(lat_lng(&json!("48.1371540°, 11.5761240°")), Some(Ok((48.137154, 11.576124))));
        assert_eq!(lat_lng(&json!({"latLng": "-33.5°, -70.25°"})), Some(Ok((-33.5, -70.25))));
        assert_eq!(lat_lng(&json!("48,1371540°, 11,5761240°")), Some(Ok((48.137154, 11.576124))));
        assert_eq!(lat_lng(&json!("48.1")), Some(Err("\"48.1\"".into())));
        assert_eq!(lat_lng(&json!({"LatLng": 5})), None);
        assert_eq!(iso_seconds("2024-05-01T08:00:00.000+02:00"), Ok(1_714_543_200));
    }

    #[test]
    fn e7_values_unsigned_and_as_strings() {
        // F15: -1 written as its unsigned 32-bit form, and a string.
        assert_eq!(e7(&json!({"latitudeE7": 4_294_967_295_i64}), "latitudeE7"), Some(Ok(-1e-7)));
        assert_eq!(e7(&json!({"latitudeE7": "481371540"}), "latitudeE7"), Some(Ok(48.137154)));
        assert_eq!(
            e7(&json!({"latitudeE7": "north"}), "latitudeE7"),
            Some(Err("latitudeE7 \"north\"".into()))
        );
        assert_eq!(e7(&json!({}), "latitudeE7"), None);
    }
}
