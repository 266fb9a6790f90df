//! GPX tracks, routes and waypoints (`trkpt`, `rtept`, `wpt`), read as a stream of XML events so
//! that a file of any size is never held whole (bug case B50). Each point with a time becomes a
//! location with `alt` from `<ele>` and, where given, `vel` and `cog` from `<speed>` (m/s) and
//! `<course>`. Empty segments are fine (B49); a point without `<time>` is skipped and counted;
//! a file that ends before its closing tags keeps the points read and says so.

use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::errors::IllFormedError;
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
    let mut input = file.reader;
    match sniff(&mut input) {
        Ok(Some(problem)) => {
            sink.stopped(format!("{name} {problem}"));
        }
        Ok(None) => read_from(input, &name, topic, sink),
        Err(error) => {
            sink.stopped(format!("{name} cannot be read: {error}"));
        }
    }
}

/// Looks at the start of the input: skips a byte order mark, and says why it cannot be GPX
/// when it is empty or plainly JSON.
fn sniff(input: &mut impl BufRead) -> std::io::Result<Option<&'static str>> {
    let head = input.fill_buf()?;
    if head.starts_with(b"\xEF\xBB\xBF") {
        input.consume(3);
    }
    let head = input.fill_buf()?;
    Ok(match head.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Some("is empty"),
        Some(b'{' | b'[') => Some("is not GPX: it looks like JSON (GeoJSON or Takeout?)"),
        Some(_) => None,
    })
}

/// A point being read, with where it is.
struct Open {
    point: Point,
    /// Its number in the file and the byte its element starts at.
    count: u64,
    byte: u64,
    /// The element depth of the point, so that only its direct children are read (a `<time>`
    /// inside `<extensions>` is not the point's time).
    depth: u32,
}

/// How far the reader is.
struct State<'a> {
    name: &'a str,
    open: Option<Open>,
    inside: Option<Field>,
    depth: u32,
    count: u64,
    root: bool,
}

impl State<'_> {
    fn at(&self, count: u64, byte: u64) -> String {
        format!("point {count} of {} (byte {byte})", self.name)
    }
}

fn read_from(input: impl BufRead, name: &str, topic: &str, sink: &mut Sink) {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut state = State { name, open: None, inside: None, depth: 0, count: 0, root: false };
    let mut last_error = None;
    loop {
        let start = reader.buffer_position();
        let event = reader.read_event_into(&mut buf);
        let going = match event {
            Ok(Event::Eof) => return end_of_file(&state, sink),
            Ok(event) => on_event(event, start, &mut state, topic, sink),
            Err(error) => {
                let position = reader.buffer_position();
                // Twice at the same place: the reader cannot get past it.
                let stuck = last_error.replace(position) == Some(position);
                on_error(&error, start, stuck, &mut state, sink)
            }
        };
        if !going {
            return;
        }
        buf.clear();
    }
}

/// Takes one event; returns `false` to stop.
fn on_event(
    event: Event<'_>,
    start: u64,
    state: &mut State<'_>,
    topic: &str,
    sink: &mut Sink,
) -> bool {
    match event {
        Event::Start(element) => {
            state.depth += 1;
            let local = element.local_name();
            if !state.root {
                state.root = true;
                if local.as_ref() != b"gpx" {
                    let found = String::from_utf8_lossy(local.as_ref()).into_owned();
                    sink.stopped(format!("{} is not GPX: it starts with <{found}>", state.name));
                    return false;
                }
            }
            state.inside = None;
            if is_point(local.as_ref()) {
                state.count += 1;
                let point = Point::start(&element);
                state.open =
                    Some(Open { point, count: state.count, byte: start, depth: state.depth });
            } else if state.open.as_ref().is_some_and(|open| open.depth + 1 == state.depth) {
                state.inside = field(local.as_ref());
            }
            true
        }
        Event::Empty(element) if is_point(element.local_name().as_ref()) => {
            state.count += 1;
            finish(Point::start(&element), topic, state.at(state.count, start), sink)
        }
        Event::Text(text) => {
            if let (Some(open), Some(field)) = (state.open.as_mut(), state.inside) {
                open.point.set(field, String::from_utf8_lossy(&text).into_owned());
            }
            true
        }
        Event::End(element) => {
            state.depth = state.depth.saturating_sub(1);
            state.inside = None;
            if is_point(element.local_name().as_ref())
                && let Some(open) = state.open.take()
            {
                return finish(open.point, topic, state.at(open.count, open.byte), sink);
            }
            true
        }
        _ => true,
    }
}

/// A fault in the XML: the point it is in is skipped and reading goes on at the next point,
/// unless the file is not XML at all or the reader cannot get past the fault.
fn on_error(
    error: &quick_xml::Error,
    start: u64,
    stuck: bool,
    state: &mut State<'_>,
    sink: &mut Sink,
) -> bool {
    let name = state.name;
    if let quick_xml::Error::Io(io) = error {
        sink.stopped(format!("{name} cannot be read at byte {start}: {io}"));
        return false;
    }
    if !state.root {
        sink.stopped(format!("{name} is not GPX: bad XML at byte {start}: {error}"));
        return false;
    }
    if matches!(error, quick_xml::Error::IllFormed(IllFormedError::MismatchedEndTag { .. })) {
        // The end tag was taken, just under the wrong name.
        state.depth = state.depth.saturating_sub(1);
    }
    state.inside = None;
    let going = match state.open.take() {
        Some(open) => sink.skip("bad XML", state.at(open.count, open.byte), error.to_string()),
        None => sink.send(crate::Entry::Note(format!(
            "{name}: bad XML at byte {start}, outside any point: {error}"
        ))),
    };
    if stuck {
        let note = format!("{name}: reading stopped at byte {start}, where the XML cannot be read");
        sink.stopped(note);
        return false;
    }
    going
}

fn end_of_file(state: &State<'_>, sink: &mut Sink) {
    let name = state.name;
    if !state.root {
        sink.stopped(format!("{name} is not GPX: it has no XML elements"));
    } else if state.depth > 0 {
        sink.stopped(format!(
            "{name} ends before its closing tags (cut off?); the points read are imported"
        ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Entry;

    /// What reading `text` hands over, one line an entry.
    fn entries(text: &str) -> Vec<String> {
        let (out, mut entries) = tokio::sync::mpsc::channel(64);
        let mut sink = Sink::new(out);
        read_from(text.as_bytes(), "t.gpx", "owntracks/u/d", &mut sink);
        drop(sink);
        let mut seen = Vec::new();
        while let Ok(entry) = entries.try_recv() {
            seen.push(match entry {
                Entry::Record(record) => {
                    format!("{}: {}", record.at, String::from_utf8_lossy(&record.payload))
                }
                Entry::Skip(skip) => format!("{}: skip {}: {}", skip.at, skip.reason, skip.detail),
                Entry::Note(note) => format!("note {note}"),
                Entry::Stopped(note) => format!("stopped {note}"),
                Entry::Repaired(what) => format!("repaired {what}"),
            });
        }
        seen
    }

    const HEAD: &str = "<gpx><trk><trkseg>\n";
    const TAIL: &str = "</trkseg></trk></gpx>\n";

    fn point(lat: u32, time: &str) -> String {
        format!("<trkpt lat=\"{lat}\" lon=\"8\">{time}</trkpt>\n")
    }

    #[test]
    fn a_broken_point_is_skipped_and_the_next_one_read() {
        // F1: a misspelt end tag in point 2 of 3.
        let text = format!(
            "{HEAD}{}{}{}{TAIL}",
            point(47, "<time>2023-05-01T14:37:21Z</time>"),
            point(48, "<time>2023-05-01T14:38:21Z</tme>"),
            point(49, "<time>2023-05-01T14:39:21Z</time>"),
        );
        assert_eq!(
            entries(&text),
            [
                "point 1 of t.gpx (byte 19): \
                 {\"_type\":\"location\",\"lat\":47.0,\"lon\":8.0,\"tst\":1682951841}",
                "point 2 of t.gpx (byte 85): skip bad XML: ill-formed document: expected \
                 `</time>`, but `</tme>` was found",
                "point 3 of t.gpx (byte 150): \
                 {\"_type\":\"location\",\"lat\":49.0,\"lon\":8.0,\"tst\":1682951961}",
            ]
        );
    }

    #[test]
    fn only_the_points_own_time_counts() {
        let time = "<time>2023-05-01T14:37:21Z</time>\
                    <extensions><time>2020-01-01T00:00:00Z</time></extensions>";
        assert_eq!(
            entries(&format!("{HEAD}{}{TAIL}", point(47, time))),
            ["point 1 of t.gpx (byte 19): \
              {\"_type\":\"location\",\"lat\":47.0,\"lon\":8.0,\"tst\":1682951841}"]
        );
    }

    #[test]
    fn what_is_not_gpx_says_so() {
        let read = |text: &str| {
            let (out, mut entries) = tokio::sync::mpsc::channel(64);
            let mut sink = Sink::new(out);
            let mut input = text.as_bytes();
            match sniff(&mut input).unwrap() {
                Some(problem) => return vec![format!("sniffed {problem}")],
                None => read_from(input, "t.gpx", "owntracks/u/d", &mut sink),
            }
            drop(sink);
            std::iter::from_fn(|| entries.try_recv().ok()).map(|e| format!("{e:?}")).collect()
        };
        assert_eq!(read(" \n"), ["sniffed is empty"]);
        assert_eq!(
            read("\u{feff}{\"locations\":[]}"),
            ["sniffed is not GPX: it looks like JSON (GeoJSON or Takeout?)"]
        );
        assert_eq!(
            read("# Pista\n\nsome <b>text</b>"),
            [r#"Stopped("t.gpx is not GPX: it starts with <b>")"#]
        );
        assert_eq!(read("just words"), [r#"Stopped("t.gpx is not GPX: it has no XML elements")"#]);
    }
}
