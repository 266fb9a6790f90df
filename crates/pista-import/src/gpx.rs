//! GPX tracks, routes and waypoints (`trkpt`, `rtept`, `wpt`), read as a stream of XML events so
//! that a file of any size is never held whole (bug case B50). Each point with a time becomes a
//! location with `alt` from `<ele>` and, where given, `vel` and `cog` from `<speed>` (m/s) and
//! `<course>`. Empty segments are fine (B49); a point without `<time>` is skipped and counted;
//! a file that ends before its closing tags keeps the points read and says so.

use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::entry::{InputFile, Sink};
use crate::values::{coordinate, iso_seconds, kmh, location, time_skip};

/// A child element of a point whose text is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Time,
    Ele,
    Speed,
    Course,
}

/// A point being read.
#[derive(Debug, Default)]
struct Point {
    lat: String,
    lon: String,
    time: Option<String>,
    ele: Option<String>,
    speed: Option<String>,
    course: Option<String>,
}

impl Point {
    fn start(element: &BytesStart<'_>) -> Self {
        let mut point = Point::default();
        for attribute in element.attributes().flatten() {
            let value = String::from_utf8_lossy(&attribute.value).into_owned();
            match attribute.key.local_name().as_ref() {
                b"lat" => point.lat = value,
                b"lon" => point.lon = value,
                _ => {}
            }
        }
        point
    }

    fn set(&mut self, field: Field, text: String) {
        let slot = match field {
            Field::Time => &mut self.time,
            Field::Ele => &mut self.ele,
            Field::Speed => &mut self.speed,
            Field::Course => &mut self.course,
        };
        slot.get_or_insert_default().push_str(&text);
    }
}

fn is_point(name: &[u8]) -> bool {
    matches!(name, b"trkpt" | b"rtept" | b"wpt")
}

fn field(name: &[u8]) -> Option<Field> {
    match name {
        b"time" => Some(Field::Time),
        b"ele" => Some(Field::Ele),
        b"speed" => Some(Field::Speed),
        b"course" => Some(Field::Course),
        _ => None,
    }
}

/// Reads every point of `file` into `sink` as a location of `topic`.
pub fn read(file: InputFile, topic: &str, sink: &mut Sink) {
    let name = file.name.clone();
    read_from(file.reader, &name, topic, sink);
}

fn read_from(input: impl BufRead, name: &str, topic: &str, sink: &mut Sink) {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut point: Option<Point> = None;
    let mut inside: Option<Field> = None;
    let mut depth = 0_u32;
    let mut count = 0_u64;
    loop {
        let event = reader.read_event_into(&mut buf);
        let position = reader.buffer_position();
        let at = |count: u64| format!("point {count} of {name} (byte {position})");
        match event {
            Ok(Event::Start(element)) => {
                depth += 1;
                let local = element.local_name();
                if is_point(local.as_ref()) {
                    count += 1;
                    point = Some(Point::start(&element));
                } else if point.is_some() {
                    inside = field(local.as_ref());
                }
            }
            Ok(Event::Empty(element)) if is_point(element.local_name().as_ref()) => {
                count += 1;
                if !finish(Point::start(&element), topic, at(count), sink) {
                    return;
                }
            }
            Ok(Event::Text(text)) => {
                if let (Some(point), Some(field)) = (point.as_mut(), inside) {
                    point.set(field, String::from_utf8_lossy(&text).into_owned());
                }
            }
            Ok(Event::End(element)) => {
                depth = depth.saturating_sub(1);
                inside = None;
                if is_point(element.local_name().as_ref())
                    && let Some(done) = point.take()
                    && !finish(done, topic, at(count), sink)
                {
                    return;
                }
            }
            Ok(Event::Eof) => {
                if depth > 0 {
                    let note = format!(
                        "{name} ends before its closing tags (cut off?); the points read are imported"
                    );
                    sink.send(crate::Entry::Note(note));
                }
                return;
            }
            Ok(_) => {}
            Err(error) => {
                sink.skip("bad XML", at(count), error.to_string());
                return;
            }
        }
        buf.clear();
    }
}

/// Sends one finished point, or why it is skipped.
fn finish(point: Point, topic: &str, at: String, sink: &mut Sink) -> bool {
    let (Some((lat, lat_comma)), Some((lon, lon_comma))) =
        (coordinate(&point.lat), coordinate(&point.lon))
    else {
        let detail = format!("lat {:?} lon {:?}", point.lat, point.lon);
        return sink.skip("unreadable coordinates", at, detail);
    };
    let Some(time) = point.time else { return sink.skip("no timestamp", at, "no <time>") };
    let tst = match iso_seconds(&time) {
        Ok(tst) => tst,
        Err(problem) => {
            let (reason, detail) = time_skip(&problem, &time);
            return sink.skip(reason, at, detail);
        }
    };
    let number = |text: &Option<String>| text.as_deref().and_then(coordinate).map(|(v, _)| v);
    let extras = [
        ("alt", number(&point.ele).map(f64::round)),
        ("vel", number(&point.speed).map(kmh)),
        ("cog", number(&point.course).map(f64::round)),
    ];
    if (lat_comma || lon_comma) && !sink.send(crate::Entry::Repaired("decimal comma")) {
        return false;
    }
    sink.record(topic, &location(lat, lon, tst, &extras), at)
}
