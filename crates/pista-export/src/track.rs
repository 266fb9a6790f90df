//! A track to draw: one device's points in a range, simplified for a zoom level, with what the
//! tracks page shows beside the line. [`TrackBuilder`] takes the history page by page and keeps
//! only what it will answer: the simplified line (Douglas–Peucker by geo's `SimplifyIdx`, on a
//! window of at most [`WINDOW`] points at a time, each window starting at the last point kept
//! from the one before, so a year costs the memory of its answer and a window, never of the
//! year), the length and point count of the whole range unsimplified, its bounds, the marks at
//! every N km, and the device's time zone when its messages name one (`tzname`, as the
//! Recorder adds). With a bounding box only the points inside it are drawn (with the one before
//! and after each run inside, so the line leaves the box), as runs of their own: the page asks
//! for the visible part in full detail when zoomed in. Length, count, bounds and marks are
//! always those of the whole range.

use std::fmt;

use geo::{Distance, Haversine, LineString, Point, SimplifyIdx};
use pista_store::HistoryPoint;
use serde_json::{Map, Value, json};

/// The most points simplified at once.
pub const WINDOW: usize = 2000;

/// The highest zoom level asked for; Leaflet's maps go to about 20.
pub const MAX_ZOOM: u8 = 24;

/// Why track parameters were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrackError {
    #[error("zoom {value:?} is not a whole number from 0 to {MAX_ZOOM}")]
    Zoom { value: String },
    #[error(
        "bbox {value:?} is not west,south,east,north in degrees (south below north; a west above \
         east crosses the antimeridian)"
    )]
    Bbox { value: String },
    #[error("every {value:?} is not a distance in km from {MIN_EVERY_KM} to {MAX_EVERY_KM}")]
    Every { value: String },
}

/// The shortest distance between marks: a hundred metres (the page offers 1 to 100 km).
pub const MIN_EVERY_KM: f64 = 0.1;

/// The longest distance between marks.
pub const MAX_EVERY_KM: f64 = 10_000.0;

/// A box of longitudes and latitudes, edges included; `west` above `east` is a box across the
/// antimeridian (a map view over the Pacific).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

impl Bbox {
    /// `west,south,east,north` in degrees.
    pub fn parse(text: &str) -> Result<Self, TrackError> {
        let bad = || TrackError::Bbox { value: text.to_owned() };
        let numbers: Vec<f64> = text
            .split(',')
            .map(|n| n.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        let [west, south, east, north] = numbers[..] else { return Err(bad()) };
        let inside = |v: f64, limit: f64| v.is_finite() && v.abs() <= limit;
        let good = inside(west, 180.0)
            && inside(east, 180.0)
            && inside(south, 90.0)
            && inside(north, 90.0)
            && south <= north;
        if !good {
            return Err(bad());
        }
        Ok(Self { west, south, east, north })
    }

    fn contains(&self, lat: f64, lon: f64) -> bool {
        let lon_inside = if self.west <= self.east {
            (self.west..=self.east).contains(&lon)
        } else {
            lon >= self.west || lon <= self.east
        };
        (self.south..=self.north).contains(&lat) && lon_inside
    }

    fn around(lat: f64, lon: f64) -> Self {
        Self { west: lon, south: lat, east: lon, north: lat }
    }

    fn grow(&mut self, lat: f64, lon: f64) {
        self.west = self.west.min(lon);
        self.east = self.east.max(lon);
        self.south = self.south.min(lat);
        self.north = self.north.max(lat);
    }
}

impl fmt::Display for Bbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{},{}", self.west, self.south, self.east, self.north)
    }
}

/// What to draw.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrackOptions {
    /// The Douglas–Peucker tolerance in degrees; 0 keeps every point.
    pub tolerance: f64,
    /// Only the part inside this box.
    pub bbox: Option<Bbox>,
    /// A mark at the first point and at the first point past each further `every_km`.
    pub every_km: Option<f64>,
}

/// Half a screen pixel at `zoom` on a Web Mercator map (256-pixel tiles), in degrees of
/// longitude: a line simplified to it looks the same at that zoom.
pub fn tolerance_for_zoom(zoom: u8) -> f64 {
    180.0 / (256.0 * 2f64.powi(i32::from(zoom.min(MAX_ZOOM))))
}

/// `zoom=` as a whole number from 0 to [`MAX_ZOOM`].
pub fn parse_zoom(text: &str) -> Result<u8, TrackError> {
    text.parse::<u8>()
        .ok()
        .filter(|zoom| *zoom <= MAX_ZOOM)
        .ok_or_else(|| TrackError::Zoom { value: text.to_owned() })
}

/// `every=` in km.
pub fn parse_every(text: &str) -> Result<f64, TrackError> {
    text.parse::<f64>()
        .ok()
        .filter(|km| (MIN_EVERY_KM..=MAX_EVERY_KM).contains(km))
        .ok_or_else(|| TrackError::Every { value: text.to_owned() })
}

/// One point of the answer: its time, position and the distance along the whole track to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackPoint {
    pub tst: i64,
    pub lat: f64,
    pub lon: f64,
    pub metres: f64,
}

/// A mark every N km, with the fix's address when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub point: TrackPoint,
    pub addr: Option<String>,
}

/// The answer: the runs of the line, and the whole range's figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Track {
    /// Points of the range.
    pub points: u64,
    /// Great-circle length of the range, every point counted.
    pub metres: f64,
    pub bounds: Option<Bbox>,
    pub segments: Vec<Vec<TrackPoint>>,
    pub marks: Vec<Mark>,
    /// The time zone of the newest message of the range that names one.
    pub tzname: Option<String>,
}

impl Track {
    /// Points in the runs of the line.
    pub fn returned(&self) -> usize {
        self.segments.iter().map(Vec::len).sum()
    }

    /// The answer as JSON: `head`'s members, then `points`, `returned`, `km` (six decimals),
    /// `bounds` (`[west, south, east, north]` or `null`), `segments` (runs of
    /// `[tst, lat, lon, km]`), `marks` (`{tst, lat, lon, km, addr}`) and `tzname`. The runs are
    /// written straight into the bytes, never built as JSON values: a whole year's points are
    /// then held once, not twice.
    pub fn write_json(&self, head: Map<String, Value>) -> Vec<u8> {
        let mut members = head;
        let bounds = self.bounds.map(|b| json!([b.west, b.south, b.east, b.north]));
        let marks: Vec<Value> = self
            .marks
            .iter()
            .map(|m| {
                let (p, addr) = (m.point, &m.addr);
                json!({"tst": p.tst, "lat": p.lat, "lon": p.lon, "km": km(p.metres), "addr": addr})
            })
            .collect();
        members.insert("points".into(), self.points.into());
        members.insert("returned".into(), self.returned().into());
        members.insert("km".into(), km(self.metres).into());
        members.insert("bounds".into(), bounds.unwrap_or(Value::Null));
        // Written in its place below.
        members.insert("segments".into(), Value::Null);
        members.insert("marks".into(), marks.into());
        members.insert("tzname".into(), self.tzname.clone().into());

        let mut out = Vec::with_capacity(256 + self.returned() * 48);
        out.push(b'{');
        for (index, (name, value)) in members.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write(&mut out, name);
            out.push(b':');
            if name == "segments" {
                self.write_segments(&mut out);
            } else {
                write(&mut out, value);
            }
        }
        out.push(b'}');
        out
    }

    fn write_segments(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (index, run) in self.segments.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            out.push(b'[');
            for (index, p) in run.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write(out, &(p.tst, p.lat, p.lon, km(p.metres)));
            }
            out.push(b']');
        }
        out.push(b']');
    }

    /// [`Track::write_json`] without a head, as a value (tests, small answers).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.write_json(Map::new())).unwrap_or(Value::Null)
    }
}

/// Kilometres to the millimetre: the page rounds to two decimals, and rounding twice (to
/// metres, then to tens of metres) could land on the other side of a half.
fn km(metres: f64) -> f64 {
    (metres * 1000.0).round() / 1_000_000.0
}

/// Appends `value` as JSON.
fn write(out: &mut Vec<u8>, value: &impl serde::Serialize) {
    serde_json::to_writer(&mut *out, value)
        .expect("numbers, texts and JSON values always serialise into a Vec");
}

/// Builds a [`Track`] from history pages in time order.
#[derive(Debug)]
pub struct TrackBuilder {
    options: TrackOptions,
    track: Track,
    last: Option<TrackPoint>,
    next_mark: f64,
    /// The open run's window: its first point is the last one kept before it.
    window: Vec<TrackPoint>,
    /// The open run's points kept so far.
    run: Vec<TrackPoint>,
    /// With a bbox: the point before, when it was outside (it starts the next run).
    outside: Option<TrackPoint>,
}

impl TrackBuilder {
    pub fn new(options: TrackOptions) -> Self {
        Self {
            options,
            track: Track::default(),
            last: None,
            next_mark: 0.0,
            window: Vec::new(),
            run: Vec::new(),
            outside: None,
        }
    }

    /// Takes one page of points, in time order after the previous page's.
    pub fn page(&mut self, points: &[HistoryPoint]) {
        for point in points {
            self.point(point);
        }
    }

    fn point(&mut self, fix: &HistoryPoint) {
        let metres = match self.last {
            Some(last) => last.metres + distance(&last, fix.lat, fix.lon),
            None => 0.0,
        };
        let point = TrackPoint { tst: fix.tst, lat: fix.lat, lon: fix.lon, metres };
        self.last = Some(point);
        self.track.points += 1;
        self.track.metres = metres;
        match &mut self.track.bounds {
            Some(bounds) => bounds.grow(fix.lat, fix.lon),
            None => self.track.bounds = Some(Bbox::around(fix.lat, fix.lon)),
        }
        if let Some(zone) = tzname(&fix.payload) {
            self.track.tzname = Some(zone.to_owned());
        }
        self.mark(point, fix);

        match self.options.bbox {
            None => self.draw(point),
            Some(bbox) if bbox.contains(fix.lat, fix.lon) => {
                if self.window.is_empty()
                    && let Some(before) = self.outside.take()
                {
                    self.draw(before);
                }
                self.draw(point);
            }
            Some(_) => {
                if !self.window.is_empty() {
                    // The point leaving the box ends the run.
                    self.draw(point);
                    self.close_run();
                }
                self.outside = Some(point);
            }
        }
    }

    fn mark(&mut self, point: TrackPoint, fix: &HistoryPoint) {
        let Some(every) = self.options.every_km.map(|km| km * 1000.0) else { return };
        if self.track.points > 1 && point.metres < self.next_mark {
            return;
        }
        self.track.marks.push(Mark { point, addr: fix.addr.as_deref().map(str::to_owned) });
        // The first multiple of `every` past this point (a loop of additions could run for
        // ever: a step too small to change a large sum).
        self.next_mark = ((point.metres / every).floor() + 1.0) * every;
    }

    fn draw(&mut self, point: TrackPoint) {
        self.window.push(point);
        if self.window.len() >= WINDOW {
            self.simplify_window();
        }
    }

    /// Simplifies the window into the run, and keeps its last point to start the next one.
    fn simplify_window(&mut self) {
        if self.window.is_empty() {
            return;
        }
        let kept: Vec<TrackPoint> = if self.options.tolerance > 0.0 {
            let line: LineString<f64> = self.window.iter().map(|p| (p.lon, p.lat)).collect();
            let indexes = line.simplify_idx(self.options.tolerance);
            indexes.into_iter().map(|i| self.window[i]).collect()
        } else {
            self.window.clone()
        };
        // The window's first point is the run's last, already kept.
        let skip = usize::from(!self.run.is_empty());
        self.run.extend(kept.into_iter().skip(skip));
        let last = self.window[self.window.len() - 1];
        self.window.clear();
        self.window.push(last);
    }

    fn close_run(&mut self) {
        self.simplify_window();
        self.window.clear();
        if !self.run.is_empty() {
            self.track.segments.push(std::mem::take(&mut self.run));
        }
    }

    /// The track, once every page is in.
    pub fn finish(mut self) -> Track {
        self.close_run();
        self.track
    }
}

fn distance(from: &TrackPoint, lat: f64, lon: f64) -> f64 {
    Haversine.distance(Point::new(from.lon, from.lat), Point::new(lon, lat))
}

/// The value of `"tzname":"..."` in a stored message, found without parsing it (zone names hold
/// no quotes or escapes).
fn tzname(payload: &str) -> Option<&str> {
    const KEY: &str = "\"tzname\":\"";
    let start = memchr::memmem::find(payload.as_bytes(), KEY.as_bytes())? + KEY.len();
    let rest = &payload[start..];
    let end = rest.find('"')?;
    Some(&rest[..end]).filter(|zone| !zone.is_empty() && !zone.contains('\\'))
}

#[cfg(test)]
mod tests;
