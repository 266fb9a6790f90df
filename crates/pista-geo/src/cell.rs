//! Geohash cells, the cache key for reverse geocoding: nearby positions share a cell, so one
//! lookup serves them all. The `geohash` crate takes longitude first (`x`), which is easy to get
//! backwards; this module is the one place that calls it.

use geohash::Coord;

use crate::{GeoError, check_coordinate};

/// The longest geohash: 12 characters, cells of a few centimetres.
pub const MAX_PRECISION: usize = 12;

/// The standard base-32 geohash of `lat`, `lon` with `precision` characters (1..=12).
///
/// At 12 characters, 47.488613, 13.187296 is `u23qhj49nr0d`. Latitude 90 and longitude 180 fall
/// in the northernmost and easternmost cells, as the bisection definition of geohash puts them.
pub fn cell(lat: f64, lon: f64, precision: usize) -> Result<String, GeoError> {
    check_coordinate(lat, lon)?;
    if !(1..=MAX_PRECISION).contains(&precision) {
        return Err(GeoError::Precision(precision));
    }
    let coord = Coord { x: below_max(lon, 180.0), y: below_max(lat, 90.0) };
    // Both checks above are exactly the ones `encode` makes, so it cannot fail here.
    geohash::encode(coord, precision).map_err(|_| GeoError::Coordinate { lat, lon })
}

/// How far inside its range an upper bound is moved: 1e-9 degrees, about 0.1 mm, far below the
/// 12-character cell size (about 2e-7 degrees).
const EDGE: f64 = 1e-9;

/// `value`, or `max` moved [`EDGE`] inside its range when it equals `max`.
///
/// geohash 0.13 maps a coordinate to bits through the float's bit pattern, and the upper bound
/// wraps round to the lower one (latitude 90 encodes like latitude -90). The largest float below
/// the bound is not enough: the scaling inside `encode` rounds it back up.
fn below_max(value: f64, max: f64) -> f64 {
    if value >= max { max - EDGE } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nudges_only_the_upper_bound() {
        assert_eq!(below_max(90.0, 90.0), 90.0 - EDGE);
        assert_eq!(below_max(-90.0, 90.0), -90.0);
        assert_eq!(below_max(12.5, 90.0), 12.5);
    }

    /// The upstream behaviour `below_max` works around; when this fails, geohash has fixed it
    /// and the nudge can go.
    #[test]
    fn upstream_wraps_the_upper_bound() {
        let north_pole = geohash::encode(Coord { x: 0.0, y: 90.0 }, 12).unwrap();
        assert_eq!(north_pole, "h00000000000");
        let nearly = geohash::encode(Coord { x: 0.0, y: 90.0_f64.next_down() }, 12).unwrap();
        assert_eq!(nearly, "h00000000000");
    }
}
