//! Nominatim, the OpenStreetMap geocoder: `GET /reverse?format=jsonv2&lat=..&lon=..`. The answer
//! is one place whose `display_name` is the address line and whose `address.country_code` is the
//! country in lower case; a position without coverage gets `{"error": "Unable to geocode"}`
//! with status 200. The public server allows one request per second and asks for an identifying
//! User-Agent; it needs no key.

use async_trait::async_trait;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::http::{Endpoint, OnlineConfig};
use crate::{Address, GeoError, Geocoder, check_coordinate, country_code};

/// The public Nominatim server.
pub const DEFAULT_URL: &str = "https://nominatim.openstreetmap.org";

/// The body of a reverse answer, as far as we read it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Reply {
    Found {
        display_name: String,
        #[serde(default)]
        address: Option<Parts>,
    },
    NotFound {
        #[serde(rename = "error")]
        _error: IgnoredAny,
    },
}

#[derive(Debug, Deserialize)]
struct Parts {
    country_code: Option<String>,
}

/// A Nominatim server (the public one by default).
#[derive(Debug)]
pub struct Nominatim {
    endpoint: Endpoint,
}

impl Nominatim {
    /// A client of the server at `config.base_url`, or of the public one. Nominatim takes no
    /// key: giving one is an error, so that a misplaced secret is noticed.
    pub fn new(config: &OnlineConfig) -> Result<Self, GeoError> {
        let endpoint =
            Endpoint::new("nominatim", DEFAULT_URL, "/reverse", (None, "accept-language"), config)?;
        Ok(Self { endpoint })
    }
}

#[async_trait]
impl Geocoder for Nominatim {
    async fn reverse(&self, lat: f64, lon: f64) -> Result<Option<Address>, GeoError> {
        check_coordinate(lat, lon)?;
        let params =
            [("format", "jsonv2".to_owned()), ("lat", lat.to_string()), ("lon", lon.to_string())];
        let reply: Reply = self.endpoint.get(&params).await?;
        Ok(match reply {
            Reply::Found { display_name, .. } if display_name.trim().is_empty() => None,
            Reply::Found { display_name, address } => Some(Address {
                cc: country_code(address.as_ref().and_then(|a| a.country_code.as_deref())),
                addr: display_name,
                provider: "nominatim",
            }),
            Reply::NotFound { .. } => None,
        })
    }

    fn name(&self) -> &'static str {
        "nominatim"
    }
}
