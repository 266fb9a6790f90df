//! What the online providers share: their settings ([`OnlineConfig`]), one HTTP client each with
//! a timeout and our User-Agent, a rate limiter that makes callers wait for their turn rather than
//! fail, and one request path that turns every failure into a [`GeoError`] naming the provider
//! and the endpoint. The API key travels only in the request itself: it is kept out of `Debug`,
//! out of logs and out of every error.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::de::DeserializeOwned;
use url::Url;

use crate::GeoError;

/// The User-Agent of every request: `pista/<version>` (Nominatim's policy asks for one that
/// names the application).
pub const USER_AGENT: &str = concat!("pista/", env!("CARGO_PKG_VERSION"));

/// How long a request may take, connection to last byte, unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Requests per second unless configured otherwise: the most that Nominatim's public server
/// allows, and the free tiers of the others.
pub const DEFAULT_RATE_PER_SEC: f64 = 1.0;

/// The largest answer body read, in bytes.
pub const MAX_BODY: usize = 1 << 20;

/// Settings of an online provider.
#[derive(Clone)]
pub struct OnlineConfig {
    /// Base URL of the service (scheme, host, optional path prefix); `None` for the provider's
    /// public server.
    pub base_url: Option<String>,
    /// API key, for the providers that need one. Never logged.
    pub key: Option<String>,
    /// Most requests per second; further callers wait. Must be positive.
    pub rate_per_sec: f64,
    /// Limit on one request, connection to last byte.
    pub timeout: Duration,
    /// The language addresses should be in (`de`, `pt-BR`), sent as the provider's language
    /// parameter; `None` for the provider's default, usually the local language.
    pub language: Option<String>,
}

impl Default for OnlineConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            key: None,
            rate_per_sec: DEFAULT_RATE_PER_SEC,
            timeout: DEFAULT_TIMEOUT,
            language: None,
        }
    }
}

impl fmt::Debug for OnlineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnlineConfig")
            .field("base_url", &self.base_url)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("rate_per_sec", &self.rate_per_sec)
            .field("timeout", &self.timeout)
            .field("language", &self.language)
            .finish()
    }
}

/// One provider's endpoint, with its client, key and rate limiter.
pub(crate) struct Endpoint {
    provider: &'static str,
    client: reqwest::Client,
    /// The full endpoint URL, before the query parameters of a request.
    url: Url,
    /// The endpoint as errors and logs show it: no query, no user or password.
    shown: String,
    /// The query parameter carrying the key, with the key (`("key", "...")`).
    key: Option<(&'static str, String)>,
    /// The query parameter asking for a language, with the language.
    language: Option<(&'static str, String)>,
    limiter: DefaultDirectRateLimiter,
    timeout: Duration,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("provider", &self.provider)
            .field("url", &self.shown)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint at `path` under the configured base URL (or `default_base`); `key_param`
    /// names the query parameter for the key, for providers that need one, and
    /// `language_param` the one for the language.
    pub(crate) fn new(
        provider: &'static str,
        default_base: &str,
        path: &str,
        (key_param, language_param): (Option<&'static str>, &'static str),
        config: &OnlineConfig,
    ) -> Result<Self, GeoError> {
        let base = config.base_url.as_deref().unwrap_or(default_base);
        let url = endpoint_url(provider, base, path)?;
        let key = match (key_param, &config.key) {
            (Some(param), Some(key)) if !key.trim().is_empty() => Some((param, key.clone())),
            (Some(_), _) => return Err(GeoError::MissingKey { provider }),
            (None, Some(_)) => return Err(GeoError::UnusedSetting { provider, setting: "key" }),
            (None, None) => None,
        };
        if config.timeout.is_zero() {
            return Err(GeoError::ZeroTimeout { provider });
        }
        let language = match config.language.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(tag) if is_language(tag) => Some((language_param, tag.to_owned())),
            Some(tag) => return Err(GeoError::Language { provider, language: tag.to_owned() }),
        };
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(config.timeout)
            .build()
            .map_err(|source| GeoError::Client { provider, source })?;
        let limiter = RateLimiter::direct(quota(provider, config.rate_per_sec)?);
        let shown = shown_url(&url);
        tracing::debug!(provider, url = %shown, rate = config.rate_per_sec, "geocoder ready");
        let timeout = config.timeout;
        Ok(Self { provider, client, url, shown, key, language, limiter, timeout })
    }

    /// GETs the endpoint with `params` (and the key), after waiting for the rate limiter, and
    /// decodes the JSON body as `T`.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        params: &[(&str, String)],
    ) -> Result<T, GeoError> {
        let mut url = self.url.clone();
        url.query_pairs_mut()
            .extend_pairs(params)
            .extend_pairs(self.language.iter().cloned())
            .extend_pairs(self.key.iter().cloned());
        self.limiter.until_ready().await;
        tracing::debug!(provider = self.provider, url = %self.shown, "geocoder request");

        let response = self.client.get(url).send().await.map_err(|e| self.failed(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.status_error(status.as_u16()));
        }
        let body = self.read_body(response).await?;
        serde_json::from_slice(&body).map_err(|source| GeoError::Malformed {
            provider: self.provider,
            url: self.shown.clone(),
            source,
        })
    }

    /// The body, refused once it grows past [`MAX_BODY`]: an answer is a few kilobytes, and a
    /// fast server must not fill memory within the timeout.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, GeoError> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.failed(e))? {
            if body.len() + chunk.len() > MAX_BODY {
                let (provider, url) = (self.provider, self.shown.clone());
                return Err(GeoError::Oversized { provider, url, limit: MAX_BODY });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Removes the key from a text the provider sent back, in case it echoes the request.
    pub(crate) fn scrub(&self, text: &str) -> String {
        match &self.key {
            Some((_, key)) => text.replace(key.as_str(), "<redacted>"),
            None => text.to_owned(),
        }
    }

    fn status_error(&self, status: u16) -> GeoError {
        tracing::debug!(provider = self.provider, url = %self.shown, status, "geocoder refused");
        GeoError::Status { provider: self.provider, url: self.shown.clone(), status }
    }

    /// A transport error, with the request URL (and so the key) removed from it.
    fn failed(&self, error: reqwest::Error) -> GeoError {
        let (provider, url) = (self.provider, self.shown.clone());
        if error.is_timeout() {
            GeoError::Timeout { provider, url, after: self.timeout }
        } else {
            GeoError::Request { provider, url, source: error.without_url() }
        }
    }
}

/// A language tag as providers take it: a 2 or 3 letter language, then optional subtags of 1
/// to 8 letters or digits (`de`, `pt-BR`, `zh-Hant`).
pub fn is_language(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let first = parts.next().unwrap_or_default();
    let language = (2..=3).contains(&first.len()) && first.bytes().all(|b| b.is_ascii_alphabetic());
    language
        && parts.all(|part| {
            (1..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// `base` with `path` appended, checked to be an absolute http(s) URL.
fn endpoint_url(provider: &'static str, base: &str, path: &str) -> Result<Url, GeoError> {
    let invalid = |reason: String| GeoError::Url { provider, url: base.to_owned(), reason };
    let mut url = Url::parse(base).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("scheme {} is not http or https", url.scheme())));
    }
    if url.cannot_be_a_base() {
        return Err(invalid("it cannot carry a path".to_owned()));
    }
    let joined = format!("{}{}", url.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    Ok(url)
}

/// The URL without user, password, query or fragment.
fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    // Both only fail for URLs that cannot be a base, which `endpoint_url` refused.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// A quota of `rate` requests per second, with no burst beyond one.
fn quota(provider: &'static str, rate: f64) -> Result<Quota, GeoError> {
    let invalid = GeoError::Rate { provider, rate };
    if !(rate.is_finite() && rate > 0.0) {
        return Err(invalid);
    }
    let period = Duration::try_from_secs_f64(1.0 / rate).map_err(|_| invalid)?;
    let quota = Quota::with_period(period).ok_or(GeoError::Rate { provider, rate })?;
    Ok(quota.allow_burst(NonZeroU32::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_paths_under_a_prefix() {
        let url = endpoint_url("t", "https://example.test/geo/", "/reverse").unwrap();
        assert_eq!(url.as_str(), "https://example.test/geo/reverse");
        let url = endpoint_url("t", "http://127.0.0.1:8080", "/reverse").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/reverse");
    }

    #[test]
    fn refuses_other_schemes() {
        let err = endpoint_url("t", "ftp://example.test", "/reverse").unwrap_err();
        assert_eq!(
            err.to_string(),
            "geocoder t url \"ftp://example.test\" is invalid: scheme ftp is not http or https"
        );
    }

    #[test]
    fn shows_no_credentials_or_query() {
        let url = Url::parse("https://user:secret@example.test/r?key=abc&lat=1#x").unwrap();
        assert_eq!(shown_url(&url), "https://example.test/r");
    }

    #[test]
    fn quota_period_is_the_inverse_rate() {
        let quota = quota("t", 4.0).unwrap();
        assert_eq!(quota.replenish_interval(), Duration::from_millis(250));
        assert_eq!(quota.burst_size().get(), 1);
    }

    #[test]
    fn quota_refuses_zero_negative_nan_and_tiny() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-320] {
            assert!(matches!(quota("t", rate), Err(GeoError::Rate { .. })), "{rate}");
        }
    }
}
