//! From configuration to a geocoder: [`from_settings`] reads the kind of geocoder and its
//! settings as the configuration holds them (strings and numbers) and checks them all at once,
//! so that a mistake stops the start-up with a message naming it instead of failing on the first
//! location.

use std::sync::Arc;
use std::time::Duration;

use crate::{GeoError, Geocoder, Google, Nominatim, Offline, OnlineConfig, OpenCage, Photon};

/// The kinds [`from_settings`] accepts.
pub const KINDS: [&str; 6] = ["offline", "nominatim", "photon", "opencage", "google", "off"];

/// The geocoder of kind `kind` (case-insensitive, one of [`KINDS`]), or `None` for `"off"`.
///
/// `url` replaces the provider's public server and `key` is the API key (required by
/// `opencage` and `google`); empty strings count as absent. `rate_per_sec` and `timeout` apply
/// to the online providers. `"offline"` (cut-off [`crate::DEFAULT_MAX_KM`]) uses no url and no
/// key, `nominatim` and `photon` no key: giving one is an error, so that a setting meant for
/// another provider does not pass unnoticed. `"off"` ignores every other setting, so geocoding
/// can be switched off without deleting them.
pub fn from_settings(
    kind: &str,
    url: Option<&str>,
    key: Option<&str>,
    rate_per_sec: f64,
    timeout: Duration,
) -> Result<Option<Arc<dyn Geocoder>>, GeoError> {
    let present = |value: Option<&str>| value.filter(|v| !v.trim().is_empty()).map(str::to_owned);
    let config = OnlineConfig { base_url: present(url), key: present(key), rate_per_sec, timeout };
    let geocoder: Arc<dyn Geocoder> = match kind.trim().to_ascii_lowercase().as_str() {
        "off" => return Ok(None),
        "offline" => Arc::new(offline(&config)?),
        "nominatim" => Arc::new(Nominatim::new(&config)?),
        "photon" => Arc::new(Photon::new(&config)?),
        "opencage" => Arc::new(OpenCage::new(&config)?),
        "google" => Arc::new(Google::new(&config)?),
        _ => {
            let expected = KINDS.join(", ");
            return Err(GeoError::UnknownKind { kind: kind.to_owned(), expected });
        }
    };
    tracing::info!(provider = geocoder.name(), "reverse geocoder configured");
    Ok(Some(geocoder))
}

/// The embedded geocoder, refusing the settings that only online providers use.
fn offline(config: &OnlineConfig) -> Result<Offline, GeoError> {
    let provider = "offline";
    if config.base_url.is_some() {
        return Err(GeoError::UnusedSetting { provider, setting: "url" });
    }
    if config.key.is_some() {
        return Err(GeoError::UnusedSetting { provider, setting: "key" });
    }
    Ok(Offline::new())
}
