//! The original's fence wire formats: the retained `fence` object a map UI draws, the hash that
//! gives each fence of one owner its own retained topic, and the `meters`/`km` figures of an
//! alert. Circle objects match o2s byte for byte; polygon objects extend them.

use geo::{Distance, Haversine, Point};
use sha1::{Digest, Sha1};

use super::pyfloat::{py_repr, py_str};
use super::{Fence, Shape};

/// Lowercase hex SHA-1 of `"<owner_topic>-<lat>-<lon>"` with both numbers written as Python 2
/// `str(float)` writes them (`51.1694`, `1.0`), the last level of the topic o2s retained a
/// fence object under, e.g. `("owntracks/jane/phone", 51.1694, 4.38942)` gives
/// `c7255ae0254d19c3740d15d7673d1dcd19b5ffeb`.
pub fn fence_topic_hash(owner_topic: &str, lat: f64, lon: f64) -> String {
    let text = format!("{owner_topic}-{}-{}", py_str(lat), py_str(lon));
    Sha1::digest(text.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The retained object of a circular fence, exactly as o2s wrote it: keys `lat`, `radius`,
/// `_type`, `lon`, `waypoint` in that order, Python's `", "` and `": "` separators, floats as
/// Python's `repr`, a whole radius as an integer and non-ASCII text as `\uXXXX` escapes, e.g.
/// `{"lat": 51.1694, "radius": 300, "_type": "fence", "lon": 4.38942, "waypoint": "LOADays"}`.
/// Non-finite numbers, which o2s would have written as invalid JSON, become `null`.
pub fn fence_object(lat: f64, lon: f64, radius: f64, name: &str) -> String {
    format!(
        "{{\"lat\": {}, \"radius\": {}, \"_type\": \"fence\", \"lon\": {}, \"waypoint\": {}}}",
        json_float(lat),
        json_radius(radius),
        json_float(lon),
        json_string(name)
    )
}

/// The retained object of a polygon fence: the circle object of [`fence_object`] for the
/// polygon's [`Shape::centre`] and the smallest whole radius around it that holds every
/// corner, so a UI that only knows circles still draws an area covering the fence, followed by
/// a `polygon` key listing the corners as `[lat, lon]` pairs for a UI that can draw them.
pub fn polygon_object(points: &[(f64, f64)], name: &str) -> String {
    let shape = Shape::Polygon { points: points.to_vec() };
    let (lat, lon) = shape.centre();
    let radius = points
        .iter()
        .map(|&(a, b)| Haversine.distance(Point::new(lon, lat), Point::new(b, a)))
        .fold(0.0, f64::max)
        .ceil();
    let corners: Vec<String> =
        points.iter().map(|&(a, b)| format!("[{}, {}]", json_float(a), json_float(b))).collect();

    let circle = fence_object(lat, lon, radius, name);
    let open = circle.strip_suffix('}').unwrap_or(&circle);
    format!("{open}, \"polygon\": [{}]}}", corners.join(", "))
}

impl Fence {
    /// The fence's retained object: [`fence_object`] for a circle, [`polygon_object`] for a
    /// polygon, with the fence's name as `waypoint`.
    pub fn object(&self) -> String {
        match &self.shape {
            Shape::Circle { lat, lon, radius } => fence_object(*lat, *lon, *radius, &self.name),
            Shape::Polygon { points } => polygon_object(points, &self.name),
        }
    }

    /// [`fence_topic_hash`] of the fence's [`Shape::centre`] for the given owner topic.
    pub fn topic_hash(&self, owner_topic: &str) -> String {
        let (lat, lon) = self.shape.centre();
        fence_topic_hash(owner_topic, lat, lon)
    }
}

/// The alert's `km`: the distance in kilometres with two decimals, e.g. `"0.08"` for 78 m.
pub fn km_text(meters: f64) -> String {
    format!("{:.2}", meters / 1000.0)
}

/// The alert's `meters`: the distance truncated towards zero to whole metres (78.9 gives 78).
/// NaN gives 0 and values beyond the `i64` range saturate.
pub fn meters_whole(meters: f64) -> i64 {
    meters.trunc() as i64
}

/// A float as Python's `json` writes it: its `repr`, so `51.0` keeps its `.0`.
fn json_float(x: f64) -> String {
    if x.is_finite() { py_repr(x) } else { "null".to_owned() }
}

/// The radius, which o2s held as an integer: whole values below 1e16 without a fraction.
fn json_radius(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.0}")
    } else {
        json_float(x)
    }
}

/// A string as Python's `json` writes it by default (see `crate::wire`).
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    crate::wire::write_string(&mut out, text);
    out
}
