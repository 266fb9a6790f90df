//! The OwnTracks Recorder's `format=` answers of `/api/0/locations`, in its layouts: `json`
//! (the `{"count","data","status","version"}` envelope), `geojson` and `geojsonpoi` (points with
//! the Recorder's fixed properties), `linestring`, `csv`, `xml` and `gpx`. Each point is the
//! Recorder's item: the stored message, its address when it has one and the message does not,
//! then `isorcv`, `isotst` and `disptst`; `fields` keeps the named members in the named order.
//!
//! Where the Recorder is wrong these are not (its bugs T4, T5, T25 in the research notes):
//! points come in fix order (so the line string holds every point), CSV has the same columns in
//! every row and quotes as RFC 4180 says, field names keep their case, the geometry formats
//! always take the fix's own position (the Recorder put a point without `lat` at 0,0), XML
//! leaves out members whose names are not XML names, and every answer has its media type.

use std::io::{self, Write};
use std::str::FromStr;

use pista_store::{HistoryColumns, HistoryPoint, MessageWriter, PointMessage};
use serde_json::{Map, Value};

use crate::json::{parsed_item, push_item};
use crate::time::push_iso;
use crate::{Encoder, Writer};

/// A `format=` of the Recorder's `/api/0/locations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecorderFormat {
    Json,
    GeoJson,
    GeoJsonPoi,
    LineString,
    Csv,
    Xml,
    Gpx,
}

/// A `format=` value the Recorder does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {value:?}; known: json, geojson, geojsonpoi, linestring, csv, xml, gpx")]
pub struct UnknownRecorderFormat {
    pub value: String,
}

impl RecorderFormat {
    pub const ALL: [RecorderFormat; 7] = [
        RecorderFormat::Json,
        RecorderFormat::GeoJson,
        RecorderFormat::GeoJsonPoi,
        RecorderFormat::LineString,
        RecorderFormat::Csv,
        RecorderFormat::Xml,
        RecorderFormat::Gpx,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RecorderFormat::Json => "json",
            RecorderFormat::GeoJson => "geojson",
            RecorderFormat::GeoJsonPoi => "geojsonpoi",
            RecorderFormat::LineString => "linestring",
            RecorderFormat::Csv => "csv",
            RecorderFormat::Xml => "xml",
            RecorderFormat::Gpx => "gpx",
        }
    }

    /// The media type of the answer.
    pub fn content_type(self) -> &'static str {
        match self {
            RecorderFormat::Json => "application/json",
            RecorderFormat::GeoJson | RecorderFormat::GeoJsonPoi | RecorderFormat::LineString => {
                "application/geo+json"
            }
            RecorderFormat::Csv => "text/csv; charset=utf-8; header=present",
            RecorderFormat::Xml => "application/xml",
            RecorderFormat::Gpx => "application/gpx+xml",
        }
    }

    /// The history columns the format needs: JSON the stored message and its address only.
    pub fn columns(self) -> HistoryColumns {
        match self {
            RecorderFormat::Json => HistoryColumns::MessageAndAddress,
            _ => HistoryColumns::All,
        }
    }
}

impl FromStr for RecorderFormat {
    type Err = UnknownRecorderFormat;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        RecorderFormat::ALL
            .into_iter()
            .find(|format| format.name().eq_ignore_ascii_case(value))
            .ok_or_else(|| UnknownRecorderFormat { value: value.to_owned() })
    }
}

/// The writer of one Recorder format; `fields` (when given) applies to JSON, CSV and XML. The
/// JSON envelope is the API's with a `version`, `ocat`'s (`{"count":N,"locations":[...]}`)
/// without.
pub(crate) fn encoder(
    format: RecorderFormat,
    count: u64,
    version: Option<&str>,
    fields: Option<Vec<String>>,
) -> Writer {
    let points = |encoder: Box<dyn Encoder>| Writer::Points(encoder);
    match format {
        RecorderFormat::Json => Writer::Messages(Box::new(Envelope {
            count,
            version: version.map(str::to_owned),
            fields,
            items: 0,
        })),
        RecorderFormat::GeoJson => points(Box::new(Points { poi: false, items: 0 })),
        RecorderFormat::GeoJsonPoi => points(Box::new(Points { poi: true, items: 0 })),
        RecorderFormat::LineString => points(Box::new(Line { items: 0 })),
        RecorderFormat::Csv => points(Box::new(Csv {
            columns: fields.unwrap_or_else(|| CSV_COLUMNS.map(str::to_owned).to_vec()),
        })),
        RecorderFormat::Xml => points(Box::new(Xml { fields })),
        RecorderFormat::Gpx => points(Box::new(Gpx)),
    }
}

/// One point as the Recorder shows it: the stored message (an empty object when it is not
/// one), `addr` if the message has none, and the derived times.
fn item(point: &PointMessage<'_>) -> Map<String, Value> {
    parsed_item(point, false, point.addr)
}

/// The members of `item` named in `fields`, in that order; absent ones are `None`.
fn picked<'a>(
    item: &'a Map<String, Value>,
    fields: &'a [String],
) -> impl Iterator<Item = (&'a str, Option<&'a Value>)> {
    fields.iter().map(|name| (name.as_str(), item.get(name)))
}

/// `{"count":N,"data":[...],"status":200,"version":"..."}`, or `ocat`'s
/// `{"count":N,"locations":[...]}` without a version; the count is known before the points come.
struct Envelope {
    count: u64,
    version: Option<String>,
    fields: Option<Vec<String>>,
    items: u64,
}

impl MessageWriter for Envelope {
    fn begin(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let list = if self.version.is_some() { "data" } else { "locations" };
        write!(out, "{{\"count\":{},\"{list}\":[", self.count)
    }

    fn message(&mut self, out: &mut Vec<u8>, point: &PointMessage<'_>) -> io::Result<()> {
        if self.items > 0 {
            out.push(b',');
        }
        self.items += 1;
        let Some(fields) = &self.fields else { return push_item(out, point, false, true) };
        let item = item(point);
        let mut kept = Map::new();
        for (name, value) in picked(&item, fields) {
            if let Some(value) = value {
                kept.insert(name.to_owned(), value.clone());
            }
        }
        serde_json::to_writer(&mut *out, &kept)?;
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let Some(version) = &self.version else {
            out.extend_from_slice(b"]}\n");
            return Ok(());
        };
        out.extend_from_slice(b"],\"status\":200,\"version\":");
        serde_json::to_writer(&mut *out, version)?;
        out.push(b'}');
        Ok(())
    }
}

/// A number the Recorder writes as a whole number: it truncates toward zero; one too large for
/// that is written as it is (truncating would change it).
fn whole(value: Option<&Value>) -> Value {
    /// 2^53: whole numbers up to it are exact in a double.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value.and_then(Value::as_f64) {
        None => Value::from(0),
        Some(v) if v.abs() < EXACT => Value::from(v.trunc() as i64),
        Some(v) => Value::from(v),
    }
}

fn text(value: Option<&Value>) -> &str {
    value.and_then(Value::as_str).unwrap_or_default()
}

/// A GeoJSON `FeatureCollection` of points: properties `name` (the tracker id), `vel`, `tst`,
/// `acc`, `alt` (whole numbers, 0 when absent), `address` and `isotst`; or, for `geojsonpoi`,
/// only the points with a `poi`, named by it, with `address` and `isotst`.
struct Points {
    poi: bool,
    items: u64,
}

impl Encoder for Points {
    fn begin(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.extend_from_slice(br#"{"type":"FeatureCollection","features":["#);
        Ok(())
    }

    fn point(&mut self, out: &mut Vec<u8>, point: &HistoryPoint) -> io::Result<()> {
        let item = item(&point.message());
        let properties = if self.poi {
            let Some(poi) = item.get("poi").and_then(Value::as_str).filter(|p| !p.is_empty())
            else {
                return Ok(());
            };
            serde_json::json!({
                "name": poi,
                "address": text(item.get("addr")),
                "isotst": text(item.get("isotst")),
            })
        } else {
            serde_json::json!({
                "name": text(item.get("tid")),
                "vel": whole(item.get("vel")),
                "tst": point.tst,
                "acc": whole(item.get("acc")),
                "alt": whole(item.get("alt")),
                "address": text(item.get("addr")),
                "isotst": text(item.get("isotst")),
            })
        };
        if self.items > 0 {
            out.push(b',');
        }
        self.items += 1;
        out.extend_from_slice(br#"{"type":"Feature","geometry":{"type":"Point","coordinates":["#);
        write_coordinate(out, point.lon)?;
        out.push(b',');
        write_coordinate(out, point.lat)?;
        out.extend_from_slice(br#"]},"properties":"#);
        serde_json::to_writer(&mut *out, &properties)?;
        out.push(b'}');
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.extend_from_slice(b"]}");
        Ok(())
    }
}

/// A coordinate as JSON writes it (`2.29513`, `151.0`).
fn write_coordinate(out: &mut Vec<u8>, value: f64) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &value)?;
    Ok(())
}

/// One GeoJSON `Feature` with a `LineString` of every point, in fix order.
struct Line {
    items: u64,
}

impl Encoder for Line {
    fn begin(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.extend_from_slice(br#"{"type":"Feature","properties":{},"geometry":{"coordinates":["#);
        Ok(())
    }

    fn point(&mut self, out: &mut Vec<u8>, point: &HistoryPoint) -> io::Result<()> {
        if self.items > 0 {
            out.push(b',');
        }
        self.items += 1;
        out.push(b'[');
        write_coordinate(out, point.lon)?;
        out.push(b',');
        write_coordinate(out, point.lat)?;
        out.push(b']');
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.extend_from_slice(br#"],"type":"LineString"}}"#);
        Ok(())
    }
}

/// The CSV columns without `fields`: the Recorder's usual members in its order. Every row has
/// all of them (empty when a point lacks one).
pub const CSV_COLUMNS: [&str; 20] = [
    "_type", "tid", "lat", "lon", "tst", "acc", "alt", "batt", "vel", "cog", "t", "conn", "SSID",
    "BSSID", "poi", "tag", "addr", "isorcv", "isotst", "disptst",
];

/// Members the Recorder writes as rounded whole numbers in CSV and XML.
const WHOLE: [&str; 7] = ["batt", "vel", "cog", "tst", "alt", "dist", "trip"];

/// A member's value as CSV and XML write it: whole numbers for [`WHOLE`], six decimals for
/// other numbers (`%lf`), text as it is, `true`/`false`/`null`; `None` for arrays and objects.
fn cell(name: &str, value: &Value) -> Option<String> {
    Some(match value {
        Value::Number(number) => {
            let number = number.as_f64().unwrap_or_default();
            if WHOLE.contains(&name) { format!("{number:.0}") } else { format!("{number:.6}") }
        }
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Null => "null".to_owned(),
        Value::Array(_) | Value::Object(_) => return None,
    })
}

/// CSV: a header, then one row per point with the same columns; `addr` and `locality` quoted
/// whenever they hold text (as the Recorder does, header included), other cells when RFC 4180
/// needs it; lines end with `\n`.
struct Csv {
    columns: Vec<String>,
}

/// Appends one CSV cell.
fn push_cell(out: &mut Vec<u8>, name: &str, text: &str) {
    let quote = (matches!(name, "addr" | "locality") && !text.is_empty())
        || text.contains([',', '"', '\n', '\r'])
        || text.starts_with(' ')
        || text.ends_with(' ');
    if quote {
        out.push(b'"');
        out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

impl Encoder for Csv {
    fn begin(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        for (index, name) in self.columns.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            push_cell(out, name, name);
        }
        out.push(b'\n');
        Ok(())
    }

    fn point(&mut self, out: &mut Vec<u8>, point: &HistoryPoint) -> io::Result<()> {
        let item = item(&point.message());
        for (index, (name, value)) in picked(&item, &self.columns).enumerate() {
            if index > 0 {
                out.push(b',');
            }
            let text = value.and_then(|value| cell(name, value)).unwrap_or_default();
            push_cell(out, name, &text);
        }
        out.push(b'\n');
        Ok(())
    }

    fn end(&mut self, _out: &mut Vec<u8>) -> io::Result<()> {
        Ok(())
    }
}

/// Whether `name` can be an XML element name (letters, digits, `_`, `-`, `.`; not starting
/// with a digit, `-`, `.` or `xml`).
fn xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || "_-.".contains(c))
        && !name.to_ascii_lowercase().starts_with("xml")
}

/// A character XML 1.0 documents may hold.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

fn escape_xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            // A parser would turn a raw CR into a line feed.
            '\r' => escaped.push_str("&#13;"),
            // What XML 1.0 cannot hold at all: control characters, U+FFFE and U+FFFF.
            c if !xml_char(c) => {}
            c => escaped.push(c),
        }
    }
    escaped
}

/// The Recorder's XML: `<owntracks>` with a `<point>` per fix, one element per member in the
/// item's order (`_type` left out), or per field with `<name />` for an absent one.
struct Xml {
    fields: Option<Vec<String>>,
}

impl Encoder for Xml {
    fn begin(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.extend_from_slice(
            b"<?xml version='1.0' encoding='UTF-8'?>\n\t<?xml-stylesheet type='text/xsl' \
              href='owntracks.xsl'?>\n<owntracks>\n",
        );
        Ok(())
    }

    fn point(&mut self, out: &mut Vec<u8>, point: &HistoryPoint) -> io::Result<()> {
        let item = item(&point.message());
        out.extend_from_slice(b" <point>\n");
        let members: Vec<(&str, Option<&Value>)> = match &self.fields {
            Some(fields) => picked(&item, fields).collect(),
            None => item.iter().map(|(name, value)| (name.as_str(), Some(value))).collect(),
        };
        let asked = self.fields.is_some();
        for (name, value) in members {
            if (name == "_type" && !asked) || !xml_name(name) {
                continue;
            }
            match value.and_then(|value| cell(name, value)) {
                Some(text) => writeln!(out, "  <{name}>{}</{name}>", escape_xml(&text))?,
                None => writeln!(out, "  <{name} />")?,
            }
        }
        out.extend_from_slice(b" </point>\n\n");
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.extend_from_slice(b"</owntracks>\n");
        Ok(())
    }
}

/// `ocat`'s `payload`: each stored message on a line of its own.
pub(crate) struct Payloads;

impl MessageWriter for Payloads {
    fn begin(&mut self, _out: &mut Vec<u8>) -> io::Result<()> {
        Ok(())
    }

    fn message(&mut self, out: &mut Vec<u8>, point: &PointMessage<'_>) -> io::Result<()> {
        // Stored messages are compact JSON; a line break inside one would split it.
        out.extend_from_slice(point.payload.replace(['\r', '\n'], " ").as_bytes());
        out.push(b'\n');
        Ok(())
    }

    fn end(&mut self, _out: &mut Vec<u8>) -> io::Result<()> {
        Ok(())
    }
}

/// The Recorder's GPX: one track segment of every fix with its time and, when known, its
/// altitude; its spacing and quoting kept, the creator Pista.
struct Gpx;

impl Encoder for Gpx {
    fn begin(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.extend_from_slice(
            b"<?xml version='1.0' encoding='UTF-8' standalone='no' ?>\n\
              <gpx version='1.1' creator='Pista' \
              xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' \
              xmlns='http://www.topografix.com/GPX/1/1'>\n <trk>\n  <trkseg>\n",
        );
        Ok(())
    }

    fn point(&mut self, out: &mut Vec<u8>, point: &HistoryPoint) -> io::Result<()> {
        write!(out, "    <trkpt lat='{:.6}' lon='{:.6}'>\n\t<time>", point.lat, point.lon)?;
        push_iso(out, point.tst);
        out.extend_from_slice(b"</time>\n");
        if let Some(alt) = point.alt {
            writeln!(out, "\t<ele>{alt:.2}</ele>")?;
        }
        out.extend_from_slice(b"\t</trkpt>\n");
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.extend_from_slice(b"  </trkseg>\n</trk>\n</gpx>\n");
        Ok(())
    }
}
