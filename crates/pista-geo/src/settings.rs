//! From configuration to a geocoder: [`from_settings`] reads the kind of geocoder and its
//! settings as the configuration holds them (strings and numbers) and checks them all at once,
//! so that a mistake stops the start-up with a message naming it instead of failing on the first
//! location.

use std::sync::Arc;

use crate::{GeoError, Geocoder, Google, Nominatim, Offline, OnlineConfig, OpenCage, Photon};

/// The kinds [`from_settings`] accepts.
pub const KINDS: [&str; 6] = ["offline", "nominatim", "photon", "opencage", "google", "off"];

/// The geocoder of kind `kind` (case-insensitive, one of [`KINDS`]), or `None` for `"off"`.
///
/// In `config`, `base_url` replaces the provider's public server and `key` is the API key
/// (required by `opencage` and `google`); empty strings count as absent. The rate, timeout and
/// language apply to the online providers. `"offline"` (cut-off [`crate::DEFAULT_MAX_KM`])
/// uses no url, key or language (its place names are in the local language), `nominatim` and
/// `photon` no key: giving one is an error, so that a setting meant for
/// another provider does not pass unnoticed. `"off"` ignores every other setting, so geocoding
/// can be switched off without deleting them.
pub fn from_settings(
    kind: &str,
    config: &OnlineConfig,
) -> Result<Option<Arc<dyn Geocoder>>, GeoError> {
    let present = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
    let config = &OnlineConfig {
        base_url: present(&config.base_url),
        key: present(&config.key),
        language: present(&config.language),
        ..config.clone()
    };
    let geocoder: Arc<dyn Geocoder> = match kind.trim().to_ascii_lowercase().as_str() {
        "off" => return Ok(None),
        "offline" => Arc::new(offline(config)?),
        "nominatim" => Arc::new(Nominatim::new(config)?),
        "photon" => Arc::new(Photon::new(config)?),
        "opencage" => Arc::new(OpenCage::new(config)?),
        "google" => Arc::new(Google::new(config)?),
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
    if config.language.is_some() {
        return Err(GeoError::UnusedSetting { provider, setting: "language" });
    }
    Ok(Offline::new())
}
