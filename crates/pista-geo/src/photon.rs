//! Photon, komoot's OpenStreetMap geocoder: `GET /reverse?lat=..&lon=..` answers a GeoJSON
//! FeatureCollection. Photon has no formatted address, so the line is built from the first
//! feature's properties: name, street with house number, city, country — each once, skipping
//! the missing ones. `countrycode` is the country. No features means no address. No key.

use async_trait::async_trait;
use serde::Deserialize;

use crate::http::{Endpoint, OnlineConfig};
use crate::{Address, GeoError, Geocoder, check_coordinate, country_code};

/// The public Photon server.
pub const DEFAULT_URL: &str = "https://photon.komoot.io";

#[derive(Debug, Deserialize)]
struct Collection {
    features: Vec<Feature>,
}

#[derive(Debug, Deserialize)]
struct Feature {
    properties: Properties,
}

/// The properties we read; Photon sends more (osm ids, state, postcode, extent...).
#[derive(Debug, Default, Deserialize)]
struct Properties {
    name: Option<String>,
    street: Option<String>,
    housenumber: Option<String>,
    city: Option<String>,
    country: Option<String>,
    countrycode: Option<String>,
}

impl Properties {
    /// `"<name>, <street> <housenumber>, <city>, <country>"` without empty or repeated parts; a
    /// house number without a street is dropped.
    fn line(&self) -> String {
        let street = match (self.street.as_deref(), self.housenumber.as_deref()) {
            (Some(street), Some(number)) => Some(format!("{} {}", street.trim(), number.trim())),
            (Some(street), None) => Some(street.trim().to_owned()),
            (None, _) => None,
        };
        let candidates = [self.name.clone(), street, self.city.clone(), self.country.clone()];
        let mut parts: Vec<String> = Vec::new();
        for part in candidates.into_iter().flatten() {
            let part = part.trim().to_owned();
            if !part.is_empty() && !parts.contains(&part) {
                parts.push(part);
            }
        }
        parts.join(", ")
    }
}

/// A Photon server (the public one by default).
#[derive(Debug)]
pub struct Photon {
    endpoint: Endpoint,
}

impl Photon {
    /// A client of the server at `config.base_url`, or of the public one. Photon takes no key:
    /// giving one is an error.
    pub fn new(config: &OnlineConfig) -> Result<Self, GeoError> {
        let endpoint = Endpoint::new("photon", DEFAULT_URL, "/reverse", (None, "lang"), config)?;
        Ok(Self { endpoint })
    }
}

#[async_trait]
impl Geocoder for Photon {
    async fn reverse(&self, lat: f64, lon: f64) -> Result<Option<Address>, GeoError> {
        check_coordinate(lat, lon)?;
        let params = [("lat", lat.to_string()), ("lon", lon.to_string())];
        let reply: Collection = self.endpoint.get(&params).await?;
        let Some(first) = reply.features.into_iter().next() else {
            return Ok(None);
        };
        let addr = first.properties.line();
        if addr.is_empty() {
            return Ok(None);
        }
        let cc = country_code(first.properties.countrycode.as_deref());
        Ok(Some(Address { cc, addr, provider: "photon" }))
    }

    fn name(&self) -> &'static str {
        "photon"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(parts: [Option<&str>; 5]) -> Properties {
        let [name, street, housenumber, city, country] = parts.map(|p| p.map(str::to_owned));
        Properties { name, street, housenumber, city, country, countrycode: None }
    }

    #[test]
    fn line_of_a_house() {
        let p =
            props([None, Some("Unter den Linden"), Some("77"), Some("Berlin"), Some("Germany")]);
        assert_eq!(p.line(), "Unter den Linden 77, Berlin, Germany");
    }

    #[test]
    fn line_of_a_city_names_it_once() {
        let p = props([Some("Berlin"), None, None, Some("Berlin"), Some("Germany")]);
        assert_eq!(p.line(), "Berlin, Germany");
    }

    #[test]
    fn line_drops_a_lone_house_number_and_blanks() {
        let p = props([Some(" "), None, Some("12"), None, Some("Iceland")]);
        assert_eq!(p.line(), "Iceland");
        assert_eq!(Properties::default().line(), "");
    }
}
