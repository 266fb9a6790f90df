//! Geofences: the shapes a user draws (circles and polygons), how far a point is from them, the
//! per-device state machine that turns a stream of points into `enters`/`leaves` transitions,
//! and the retained `fence` objects o2s published for map UIs. Every fence is judged on its own,
//! with a hysteresis margin and an optional dwell time, so overlapping fences, moves from one
//! fence straight into another and GPS drift along an edge all give the events a user expects.
//! Nothing here does I/O: the caller loads fences and states, and stores what comes back.

use serde::{Deserialize, Serialize};

mod engine;
mod geometry;
mod pyfloat;
mod wire;

#[cfg(test)]
mod tests;

pub use engine::{Event, FenceState, Rules, Transition, evaluate};
pub use geometry::{EARTH_RADIUS, distance};
pub use wire::{fence_object, fence_topic_hash, km_text, meters_whole, polygon_object};

/// The largest circle radius accepted, in metres: large enough for any sensible region, small
/// enough to keep a mistyped value (kilometres entered as metres, say) from covering the globe.
pub const MAX_RADIUS: f64 = 1_000_000.0;

/// The area a fence covers. Coordinates are WGS-84 degrees, latitude first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Shape {
    /// Everything within `radius` metres (great-circle distance) of the centre.
    Circle { lat: f64, lon: f64, radius: f64 },
    /// A polygon given by its corners as `(lat, lon)`; the last corner joins the first, so the
    /// first point is not repeated. Edges are straight lines in latitude/longitude, as a map in
    /// the Web Mercator or plate carrée projection draws them.
    Polygon { points: Vec<(f64, f64)> },
}

/// A named area one device's movements are checked against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fence {
    /// Stable identifier; states and transitions refer to the fence by it. Unique per device.
    pub id: i64,
    /// The label shown to users and sent as `wpname`.
    pub name: String,
    /// The area.
    pub shape: Shape,
}

/// Why a shape cannot be used as a fence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FenceError {
    #[error("fence latitude {0} is not a number within -90..=90")]
    Latitude(f64),
    #[error("fence longitude {0} is not a number within -180..=180")]
    Longitude(f64),
    #[error("fence radius {0} m is not a number within 0 (exclusive) ..= {MAX_RADIUS}")]
    Radius(f64),
    #[error("fence polygon has {0} distinct points, at least 3 are needed")]
    TooFewPoints(usize),
    #[error("fence polygon encloses no area: its {0} corners lie on one line")]
    Collinear(usize),
    #[error("fence polygon spans {0} degrees of longitude, at most 180 are supported")]
    LongitudeSpan(f64),
    #[error(
        "fence polygon crosses itself (a bow tie); give its {0} corners in order around its edge"
    )]
    SelfIntersecting(usize),
}

impl Shape {
    /// Checks that every coordinate is a finite latitude or longitude in range, that a circle's
    /// radius is within `0 < radius <= MAX_RADIUS`, and that a polygon has at least three
    /// distinct corners, not all on one line, and spans at most 180 degrees of longitude (wider
    /// polygons would have to cross the antimeridian, which the straight-edge model cannot
    /// represent).
    pub fn validate(&self) -> Result<(), FenceError> {
        match self {
            Shape::Circle { lat, lon, radius } => {
                check_coordinate(*lat, *lon)?;
                if !(radius.is_finite() && *radius > 0.0 && *radius <= MAX_RADIUS) {
                    return Err(FenceError::Radius(*radius));
                }
                Ok(())
            }
            Shape::Polygon { points } => validate_polygon(points),
        }
    }

    /// The point a map labels the fence at, as `(lat, lon)`: a circle's centre, or the middle
    /// of a polygon's bounding box rounded to 7 decimals (about 1 cm), so that it reads as
    /// `51.005` rather than `51.004999999999995`. For a concave polygon that point may lie
    /// outside it; for a polygon without points it is NaN.
    pub fn centre(&self) -> (f64, f64) {
        match self {
            Shape::Circle { lat, lon, .. } => (*lat, *lon),
            Shape::Polygon { points } => {
                let (south, north, west, east) = bounds(&unwrapped(points));
                (round7((south + north) / 2.0), round7(wrap((west + east) / 2.0)))
            }
        }
    }
}

fn check_coordinate(lat: f64, lon: f64) -> Result<(), FenceError> {
    if !(-90.0..=90.0).contains(&lat) {
        return Err(FenceError::Latitude(lat));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(FenceError::Longitude(lon));
    }
    Ok(())
}

fn validate_polygon(points: &[(f64, f64)]) -> Result<(), FenceError> {
    for &(lat, lon) in points {
        check_coordinate(lat, lon)?;
    }

    // Comparing bit patterns is exact for finite values; -0.0 and 0.0 count as two corners,
    // which only matters for a polygon that is broken anyway.
    let mut distinct: Vec<(u64, u64)> =
        points.iter().map(|(a, b)| (a.to_bits(), b.to_bits())).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 3 {
        return Err(FenceError::TooFewPoints(distinct.len()));
    }

    if collinear(points) {
        return Err(FenceError::Collinear(points.len()));
    }
    let corners = unwrapped(points);
    let (_, _, west, east) = bounds(&corners);
    if east - west > 180.0 {
        return Err(FenceError::LongitudeSpan(east - west));
    }
    let ring: Vec<geo::Coord> =
        corners.iter().map(|&(lat, lon)| geo::coord! { x: lon, y: lat }).collect();
    let polygon = geo::Polygon::new(geo::LineString::from(ring), Vec::new());
    if let Err(geo::algorithm::validation::InvalidPolygon::SelfIntersection(_)) =
        geo::algorithm::Validation::check_validation(&polygon)
    {
        return Err(FenceError::SelfIntersecting(points.len()));
    }
    Ok(())
}

/// True when every point is within `FLAT` degrees (about 0.1 mm) of the line through the first
/// point and the one farthest from it: such a polygon has no inside a device could be in.
fn collinear(points: &[(f64, f64)]) -> bool {
    const FLAT: f64 = 1e-9;
    let Some(&(lat0, lon0)) = points.first() else {
        return true;
    };
    let offset = |&(lat, lon): &(f64, f64)| (lat - lat0, lon - lon0);
    let length = |p: &(f64, f64)| offset(p).0.hypot(offset(p).1);
    let far = points.iter().max_by(|a, b| length(a).total_cmp(&length(b)));
    let Some(far) = far.filter(|p| length(p) > 0.0) else {
        return true;
    };
    let (dlat, dlon) = offset(far);
    let across = |p: &(f64, f64)| (dlat * offset(p).1 - dlon * offset(p).0).abs() / length(far);
    points.iter().all(|p| across(p) <= FLAT)
}

fn round7(degrees: f64) -> f64 {
    (degrees * 1e7).round() / 1e7
}

/// The corners with each longitude moved by whole turns to within 180° of the corner before
/// it, so that a polygon across the antimeridian has continuous longitudes (some beyond ±180)
/// and every edge is its short way round.
pub(crate) fn unwrapped(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut previous: Option<f64> = None;
    points
        .iter()
        .map(|&(lat, lon)| {
            let mut lon = lon;
            if let Some(before) = previous.filter(|b| b.is_finite() && lon.is_finite()) {
                lon -= ((lon - before) / 360.0).round() * 360.0;
            }
            previous = Some(lon);
            (lat, lon)
        })
        .collect()
}

/// A longitude brought into -180..=180.
pub(crate) fn wrap(lon: f64) -> f64 {
    if (-180.0..=180.0).contains(&lon) { lon } else { lon - (lon / 360.0).round() * 360.0 }
}

/// `(south, north, west, east)` of the points; infinities for an empty slice.
fn bounds(points: &[(f64, f64)]) -> (f64, f64, f64, f64) {
    let start = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    points
        .iter()
        .fold(start, |(s, n, w, e), &(lat, lon)| (s.min(lat), n.max(lat), w.min(lon), e.max(lon)))
}
