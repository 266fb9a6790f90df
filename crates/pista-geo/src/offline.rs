//! The embedded geocoder: the nearest of the 144,563 populated places from GeoNames that the
//! `reverse_geocoder` crate compiles into the binary. No network, no files, no key. The k-d tree
//! over the places takes tens of milliseconds and about 48 MB to build, so it is built once per
//! process, on first use (or in [`Offline::preload`]), and shared by every [`Offline`] value.
//!
//! The crate reports a squared chord length on the unit sphere, not kilometres; the distance
//! here is recomputed with Haversine and compared with a cut-off, so a position in mid-ocean gets
//! no address rather than a coastal town hundreds of kilometres away.

use std::sync::OnceLock;
use std::time::Instant;

use async_trait::async_trait;
use geo::{Distance, Haversine, Point};
use reverse_geocoder::ReverseGeocoder;

use crate::{Address, GeoError, Geocoder, check_coordinate};

/// The attribution the GeoNames licence (CC BY 4.0) requires wherever offline addresses are shown.
pub const ATTRIBUTION: &str = "Offline place names: GeoNames (https://www.geonames.org/), \
     licensed under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/); selected and \
     converted by the reverse_geocoder project (https://github.com/gx0r/rrgeo).";

/// The default cut-off: no address when the nearest place is farther than this many kilometres.
pub const DEFAULT_MAX_KM: f64 = 100.0;

/// The shared index, built on first use.
static INDEX: OnceLock<ReverseGeocoder> = OnceLock::new();

/// The nearest embedded place to a position, whatever its distance.
#[derive(Debug, Clone, PartialEq)]
pub struct Nearest {
    /// Place name, ASCII as GeoNames gives it (`"Mitte"`).
    pub name: String,
    /// First-level administrative division (`"Berlin"`); may be empty.
    pub admin1: String,
    /// Second-level administrative division; often empty.
    pub admin2: String,
    /// ISO 3166-1 alpha-2 country code, upper case.
    pub cc: String,
    /// Latitude of the place.
    pub lat: f64,
    /// Longitude of the place.
    pub lon: f64,
    /// Haversine distance from the queried position, in kilometres.
    pub km: f64,
}

impl Nearest {
    /// The one-line address: `"<name>, <admin1>"`, or the name alone when admin1 is empty or
    /// repeats the name (`"Mitte, Berlin"`, `"Singapore"`).
    pub fn line(&self) -> String {
        if self.admin1.is_empty() || self.admin1 == self.name {
            self.name.clone()
        } else {
            format!("{}, {}", self.name, self.admin1)
        }
    }
}

/// The embedded geocoder, with its cut-off distance. Cheap to create and copy: the index behind
/// it is one per process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Offline {
    max_km: f64,
}

impl Default for Offline {
    fn default() -> Self {
        Self { max_km: DEFAULT_MAX_KM }
    }
}

impl Offline {
    /// The embedded geocoder with the default cut-off ([`DEFAULT_MAX_KM`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The embedded geocoder answering only when a place lies within `max_km` kilometres.
    pub fn with_max_km(max_km: f64) -> Result<Self, GeoError> {
        if max_km.is_finite() && max_km > 0.0 {
            Ok(Self { max_km })
        } else {
            Err(GeoError::Cutoff { km: max_km })
        }
    }

    /// The cut-off distance in kilometres.
    pub fn max_km(&self) -> f64 {
        self.max_km
    }

    /// Builds the shared index now, so that the first lookup does not pay for it. It blocks for
    /// the build (tens of milliseconds in release builds): call it at start-up, or from
    /// `spawn_blocking`.
    pub fn preload() {
        index();
    }

    /// The nearest embedded place, ignoring the cut-off.
    pub fn nearest(&self, lat: f64, lon: f64) -> Result<Nearest, GeoError> {
        check_coordinate(lat, lon)?;
        let record = index().search((lat, lon)).record;
        let here = Point::new(lon, lat);
        let there = Point::new(record.lon, record.lat);
        Ok(Nearest {
            name: record.name.clone(),
            admin1: record.admin1.clone(),
            admin2: record.admin2.clone(),
            cc: record.cc.to_ascii_uppercase(),
            lat: record.lat,
            lon: record.lon,
            km: Haversine.distance(here, there) / 1000.0,
        })
    }

    /// The address of the nearest place within the cut-off, without any `await`.
    pub fn lookup(&self, lat: f64, lon: f64) -> Result<Option<Address>, GeoError> {
        let nearest = self.nearest(lat, lon)?;
        if nearest.km > self.max_km {
            tracing::debug!(
                km = nearest.km,
                max_km = self.max_km,
                "no offline place within cut-off"
            );
            return Ok(None);
        }
        let cc = crate::country_code(Some(&nearest.cc));
        Ok(Some(Address { cc, addr: nearest.line(), provider: "offline" }))
    }
}

#[async_trait]
impl Geocoder for Offline {
    /// Answers at once from memory; the very first lookup of the process builds the index
    /// unless [`Offline::preload`] did.
    async fn reverse(&self, lat: f64, lon: f64) -> Result<Option<Address>, GeoError> {
        self.lookup(lat, lon)
    }

    fn name(&self) -> &'static str {
        "offline"
    }
}

/// The shared index, built by the first caller while any others wait.
fn index() -> &'static ReverseGeocoder {
    INDEX.get_or_init(|| {
        let started = Instant::now();
        // `new` parses the CSV embedded in the crate and panics only on a malformed row of it.
        let index = ReverseGeocoder::new();
        let elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::info!(elapsed_ms, "offline geocoder index built");
        index
    })
}
