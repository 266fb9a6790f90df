//! Distances between a point and a fence on a spherical Earth. Great-circle distances use the
//! haversine formula of the `geo` crate with the IUGG mean Earth radius (GRS80 R1,
//! 6 371 008.8 m), replacing both radii of the original (6378.1 km for fences, 6367 km for
//! tracks) with one well-known value.

use geo::{Coord, Distance, Haversine, Intersects, LineString, Point, Polygon};

use super::Shape;

/// The Earth radius, in metres, that every distance here is computed with (GRS80 mean radius).
pub const EARTH_RADIUS: f64 = 6_371_008.8;

/// Metres from the point to the fence: for a circle the great-circle distance to its centre
/// (what alerts report as `meters`), for a polygon 0 when the point is inside or on an edge and
/// otherwise the great-circle distance to the nearest point of the nearest edge. Polygon edges
/// are straight lines in latitude/longitude (as a web map draws them), not great circles.
/// A polygon may cross the antimeridian (its edges go the short way round). Returns NaN for a
/// non-finite point, or a polygon without points or with a non-finite corner; call
/// [`Shape::validate`] first for a meaningful answer.
pub fn distance(shape: &Shape, lat: f64, lon: f64) -> f64 {
    let point = Point::new(lon, lat);
    match shape {
        Shape::Circle { lat, lon, .. } => Haversine.distance(Point::new(*lon, *lat), point),
        Shape::Polygon { points } => polygon_distance(points, point),
    }
}

/// Metres the point lies beyond the fence's edge: zero or less inside, positive outside.
pub(super) fn beyond_edge(shape: &Shape, meters: f64) -> f64 {
    match shape {
        Shape::Circle { radius, .. } => meters - radius,
        Shape::Polygon { .. } => meters,
    }
}

fn polygon_distance(points: &[(f64, f64)], point: Point) -> f64 {
    // geo asserts that a ring is closed, which a NaN corner never is (NaN differs from itself).
    let ring: Vec<Coord> =
        super::unwrapped(points).iter().map(|&(lat, lon)| Coord { x: lon, y: lat }).collect();
    let finite = |c: &Coord| c.x.is_finite() && c.y.is_finite();
    if ring.is_empty() || !ring.iter().all(finite) || !finite(&point.0) {
        return f64::NAN;
    }
    // The point in the ring's frame: its longitude moved by whole turns to within 180° of the
    // ring's middle, so a point just across the antimeridian is measured the short way.
    let (west, east) =
        ring.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(w, e), c| (w.min(c.x), e.max(c.x)));
    let middle = (west + east) / 2.0;
    let point = Point::new(point.x() - ((point.x() - middle) / 360.0).round() * 360.0, point.y());

    let polygon = Polygon::new(LineString::from(ring.clone()), Vec::new());
    if polygon.intersects(&point) {
        return 0.0;
    }

    // The ring is closed implicitly: the last corner joins the first.
    let next = ring.iter().cycle().skip(1);
    ring.iter().zip(next).map(|(a, b)| edge_distance(*a, *b, point)).fold(f64::INFINITY, f64::min)
}

/// Great-circle distance from the point to the nearest point of the straight (in degrees)
/// edge from `a` to `b`. The nearest point is found in a plane where a degree of longitude is
/// shrunk by the cosine of the point's latitude: that scaling keeps the edge straight, and
/// near the point it keeps angles and lengths true, so the foot of the perpendicular there is
/// the nearest point to well under a millimetre for the distances a fence cares about.
fn edge_distance(a: Coord, b: Coord, point: Point) -> f64 {
    let scale = point.y().to_radians().cos();
    let (ax, ay) = ((a.x - point.x()) * scale, a.y - point.y());
    let (dx, dy) = ((b.x - a.x) * scale, b.y - a.y);
    let length2 = dx * dx + dy * dy;
    let t = if length2 > 0.0 { (-(ax * dx + ay * dy) / length2).clamp(0.0, 1.0) } else { 0.0 };
    let nearest = Point::new(a.x + t * (b.x - a.x), a.y + t * (b.y - a.y));
    Haversine.distance(nearest, point)
}
