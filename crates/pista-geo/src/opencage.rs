//! OpenCage: `GET /geocode/v1/json?q=<lat>,<lon>&key=..` (a reverse query is the coordinate
//! itself). The first result's `formatted` is the address line and `components.country_code`
//! the country in lower case; an empty `results` means nothing there. OpenCage reports quota and
//! key problems with HTTP statuses (401, 402, 403, 429), which become [`GeoError::Status`].

use async_trait::async_trait;
use serde::Deserialize;

use crate::http::{Endpoint, OnlineConfig};
use crate::{Address, GeoError, Geocoder, check_coordinate, country_code};

/// The OpenCage API server.
pub const DEFAULT_URL: &str = "https://api.opencagedata.com";

#[derive(Debug, Deserialize)]
struct Reply {
    results: Vec<Found>,
}

#[derive(Debug, Deserialize)]
struct Found {
    formatted: String,
    #[serde(default)]
    components: Option<Components>,
}

#[derive(Debug, Deserialize)]
struct Components {
    country_code: Option<String>,
}

/// The OpenCage geocoding API (needs a key).
#[derive(Debug)]
pub struct OpenCage {
    endpoint: Endpoint,
}

impl OpenCage {
    /// A client of the API at `config.base_url`, or of the public one, with `config.key`
    /// (required).
    pub fn new(config: &OnlineConfig) -> Result<Self, GeoError> {
        let path = "/geocode/v1/json";
        let endpoint =
            Endpoint::new("opencage", DEFAULT_URL, path, (Some("key"), "language"), config)?;
        Ok(Self { endpoint })
    }
}

#[async_trait]
impl Geocoder for OpenCage {
    async fn reverse(&self, lat: f64, lon: f64) -> Result<Option<Address>, GeoError> {
        check_coordinate(lat, lon)?;
        // Annotations (timezone, currency, sun times...) are not used; asking for none keeps
        // the answer small.
        let params = [("q", format!("{lat},{lon}")), ("no_annotations", "1".to_owned())];
        let reply: Reply = self.endpoint.get(&params).await?;
        let Some(first) = reply.results.into_iter().next() else {
            return Ok(None);
        };
        if first.formatted.trim().is_empty() {
            return Ok(None);
        }
        let cc = country_code(first.components.as_ref().and_then(|c| c.country_code.as_deref()));
        Ok(Some(Address { cc, addr: first.formatted, provider: "opencage" }))
    }

    fn name(&self) -> &'static str {
        "opencage"
    }
}
