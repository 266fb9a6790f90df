//! Reverse geocoding for Pista: turn a latitude and longitude into a one-line address and a
//! country code. The default, [`Offline`], answers from the GeoNames places embedded in the
//! binary and never touches the network; the online providers ([`Nominatim`], [`Photon`],
//! [`OpenCage`], [`Google`]) sit behind the same [`Geocoder`] trait, each with its own timeout and
//! rate limit. [`cell`] gives the geohash cell that callers use as a cache key,
//! [`from_settings`] builds the geocoder a configuration asks for, and [`zone_at`] answers the
//! time zone of a position from polygons embedded in the binary.

mod cell;
mod error;
mod google;
mod http;
mod nominatim;
mod offline;
mod opencage;
mod photon;
mod settings;
mod zone;

use async_trait::async_trait;
use serde::Serialize;

pub use cell::{MAX_PRECISION, cell};
pub use error::GeoError;
pub use google::Google;
pub use http::{
    DEFAULT_RATE_PER_SEC, DEFAULT_TIMEOUT, MAX_BODY, OnlineConfig, USER_AGENT, is_language,
};
pub use nominatim::Nominatim;
pub use offline::{ATTRIBUTION, DEFAULT_MAX_KM, Nearest, Offline};
pub use opencage::OpenCage;
pub use photon::Photon;
pub use settings::{KINDS, from_settings};
pub use zone::zone_at;

/// What a geocoder found for a coordinate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    /// ISO 3166-1 alpha-2 country code in upper case (`"DE"`), when the provider gave one.
    pub cc: Option<String>,
    /// The address on one line, as the provider words it.
    pub addr: String,
    /// The [`Geocoder::name`] of the provider that answered (`"offline"`, `"nominatim"`, ...).
    pub provider: &'static str,
}

/// A reverse geocoder: the embedded one or an online provider.
#[async_trait]
pub trait Geocoder: Send + Sync {
    /// The address nearest to `lat`, `lon` (WGS84 degrees); `Ok(None)` when the provider knows
    /// nothing there (open sea, no coverage). Coordinates out of range are an error.
    async fn reverse(&self, lat: f64, lon: f64) -> Result<Option<Address>, GeoError>;

    /// The provider's short name, as used in settings and in [`Address::provider`].
    fn name(&self) -> &'static str;
}

/// Checks that `lat`, `lon` are finite WGS84 degrees within range.
pub(crate) fn check_coordinate(lat: f64, lon: f64) -> Result<(), GeoError> {
    if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) {
        Ok(())
    } else {
        Err(GeoError::Coordinate { lat, lon })
    }
}

/// An upper-case country code from a provider's value, `None` when it is empty.
pub(crate) fn country_code(value: Option<&str>) -> Option<String> {
    value.map(str::trim).filter(|cc| !cc.is_empty()).map(str::to_ascii_uppercase)
}
