//! The one error type of the crate. Variants carry the value that failed: the provider, the
//! endpoint URL, the HTTP status. An endpoint URL in an error is shown without its query and
//! without credentials, so neither an API key nor the position being looked up can reach a log
//! through it.

use std::time::Duration;

/// Why a lookup or a geocoder's construction failed.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// Latitude outside -90..=90, longitude outside -180..=180, or not a number.
    #[error("coordinate {lat}, {lon} is out of range (lat -90..=90, lon -180..=180)")]
    Coordinate { lat: f64, lon: f64 },

    /// A geohash precision outside 1..=12.
    #[error("geohash precision {0} is out of range 1..=12")]
    Precision(usize),

    /// A geocoder kind that [`crate::from_settings`] does not know.
    #[error("unknown geocoder {kind:?} (expected one of {expected})")]
    UnknownKind { kind: String, expected: String },

    /// A provider that needs an API key was configured without one.
    #[error("geocoder {provider} needs an api key")]
    MissingKey { provider: &'static str },

    /// The language is not a language tag.
    #[error("geocoder {provider} language {language:?} is not a language code such as de or pt-BR")]
    Language { provider: &'static str, language: String },

    /// A setting was given to a geocoder that does not use it.
    #[error("geocoder {provider} does not use the {setting} setting")]
    UnusedSetting { provider: &'static str, setting: &'static str },

    /// The configured base URL is not an absolute http(s) URL.
    #[error("geocoder {provider} url {url:?} is invalid: {reason}")]
    Url { provider: &'static str, url: String, reason: String },

    /// The rate limit is not a positive number of requests per second.
    #[error("geocoder {provider} rate {rate} per second is invalid (expected a positive number)")]
    Rate { provider: &'static str, rate: f64 },

    /// A zero timeout, which would fail every request.
    #[error("geocoder {provider} timeout is zero")]
    ZeroTimeout { provider: &'static str },

    /// The offline cut-off distance is not a positive number of kilometres.
    #[error("offline cut-off {km} km is invalid (expected a positive number)")]
    Cutoff { km: f64 },

    /// The HTTP client could not be built (TLS set-up).
    #[error("geocoder {provider} http client: {source}")]
    Client { provider: &'static str, source: reqwest::Error },

    /// No complete answer arrived within the timeout.
    #[error("geocoder {provider} timed out after {after:?} ({url})")]
    Timeout { provider: &'static str, url: String, after: Duration },

    /// The request failed before an HTTP status arrived (connection refused, reset, TLS).
    #[error("geocoder {provider} request failed ({url}): {source}")]
    Request { provider: &'static str, url: String, source: reqwest::Error },

    /// The provider answered with a non-success HTTP status (429, 5xx, ...).
    #[error("geocoder {provider} answered http {status} ({url})")]
    Status { provider: &'static str, url: String, status: u16 },

    /// The body grew past the limit (see [`crate::MAX_BODY`]).
    #[error("geocoder {provider} answer exceeds {limit} bytes ({url})")]
    Oversized { provider: &'static str, url: String, limit: usize },

    /// The body was not the JSON the provider documents.
    #[error("geocoder {provider} sent malformed json ({url}): {source}")]
    Malformed { provider: &'static str, url: String, source: serde_json::Error },

    /// The provider answered, but refused the request in its body (Google's status field).
    #[error("geocoder {provider} refused the request: {status} {message}")]
    Refused { provider: &'static str, status: String, message: String },
}
