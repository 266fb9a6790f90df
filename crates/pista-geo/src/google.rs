//! Google's Geocoding API: `GET /maps/api/geocode/json?latlng=<lat>,<lon>&key=..`. The body's
//! `status` decides: `OK` gives the first result's `formatted_address` and the `short_name` of
//! its component typed `country`; `ZERO_RESULTS` means nothing there; anything else
//! (`OVER_QUERY_LIMIT`, `REQUEST_DENIED`, `INVALID_REQUEST`, `UNKNOWN_ERROR`) is a
//! [`GeoError::Refused`] carrying Google's status and `error_message`.

use async_trait::async_trait;
use serde::Deserialize;

use crate::http::{Endpoint, OnlineConfig};
use crate::{Address, GeoError, Geocoder, check_coordinate, country_code};

/// The Google Maps API server.
pub const DEFAULT_URL: &str = "https://maps.googleapis.com";

#[derive(Debug, Deserialize)]
struct Reply {
    status: String,
    #[serde(default)]
    results: Vec<Found>,
    error_message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Found {
    formatted_address: String,
    #[serde(default)]
    address_components: Vec<Component>,
}

#[derive(Debug, Deserialize)]
struct Component {
    short_name: String,
    #[serde(default)]
    types: Vec<String>,
}

impl Found {
    /// The `short_name` of the component typed `country` (`"DE"`).
    fn country(&self) -> Option<&str> {
        let country =
            self.address_components.iter().find(|c| c.types.iter().any(|t| t == "country"));
        country.map(|c| c.short_name.as_str())
    }
}

/// Google's Geocoding API (needs a key).
#[derive(Debug)]
pub struct Google {
    endpoint: Endpoint,
}

impl Google {
    /// A client of the API at `config.base_url`, or of Google's, with `config.key` (required).
    pub fn new(config: &OnlineConfig) -> Result<Self, GeoError> {
        let path = "/maps/api/geocode/json";
        let endpoint =
            Endpoint::new("google", DEFAULT_URL, path, (Some("key"), "language"), config)?;
        Ok(Self { endpoint })
    }

    /// The address in an answer, by its `status`.
    fn read(&self, reply: Reply) -> Result<Option<Address>, GeoError> {
        match reply.status.as_str() {
            "OK" => {}
            "ZERO_RESULTS" => return Ok(None),
            _ => {
                let message = self.endpoint.scrub(reply.error_message.as_deref().unwrap_or(""));
                return Err(GeoError::Refused {
                    provider: "google",
                    status: reply.status,
                    message,
                });
            }
        }
        let Some(first) = reply.results.into_iter().next() else {
            return Ok(None);
        };
        let cc = country_code(first.country());
        Ok(Some(Address { cc, addr: first.formatted_address, provider: "google" }))
    }
}

#[async_trait]
impl Geocoder for Google {
    async fn reverse(&self, lat: f64, lon: f64) -> Result<Option<Address>, GeoError> {
        check_coordinate(lat, lon)?;
        let reply: Reply = self.endpoint.get(&[("latlng", format!("{lat},{lon}"))]).await?;
        self.read(reply)
    }

    fn name(&self) -> &'static str {
        "google"
    }
}
