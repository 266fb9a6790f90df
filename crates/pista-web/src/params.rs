//! Request parameters as the Recorder reads them: names are case-insensitive, values are
//! trimmed, and for the identity and time parameters an `X-Limit-<Name>` header beats the query
//! string. Header values are read as UTF-8, so non-ASCII names work in headers too.

use axum::http::HeaderMap;
use pista_core::time::{iso, parse_bound};
use pista_core::{DeviceKey, DeviceName, UserName};

use crate::error::ApiError;

/// The parameters of one request.
pub struct Params {
    /// Query pairs with lower-cased names, in order.
    query: Vec<(String, String)>,
}

impl Params {
    /// Reads a query string (`+` is a space, `%XX` a byte); a value whose bytes are not UTF-8
    /// is refused rather than silently changed.
    pub fn new(raw_query: Option<&str>) -> Result<Self, ApiError> {
        let mut query = Vec::new();
        for pair in raw_query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name)?.to_ascii_lowercase();
            let value = decode(value).map_err(|_| {
                let shown = if name.is_empty() { "with an empty name" } else { name.as_str() };
                ApiError::bad_request(format!("query parameter {shown} is not valid UTF-8"))
            })?;
            query.push((name, value.trim().to_owned()));
        }
        Ok(Self { query })
    }

    /// The first non-empty query value of `name` (given in lower case).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, v)| n == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// The device named by the `user` and `device` parameters; `None` when neither is given.
    pub fn device_key(&self) -> Result<Option<DeviceKey>, ApiError> {
        device_key(self.query("user"), self.query("device"))
    }

    /// The `user` and `device` parameters as names, each optional, but a device only with its
    /// user (a filter: one user's devices, or one device).
    pub fn user_device(&self) -> Result<(Option<UserName>, Option<DeviceName>), ApiError> {
        let error = |error: pista_core::NameError| ApiError::bad_request(error.to_string());
        let user = self.query("user").map(UserName::parse).transpose().map_err(error)?;
        let device = self.query("device").map(DeviceName::parse).transpose().map_err(error)?;
        if device.is_some() && user.is_none() {
            return Err(ApiError::bad_request("device needs user"));
        }
        Ok((user, device))
    }

    /// `from` and `to` (`X-Limit-From`/`-To` too) in the forms the Recorder API reads, both
    /// optional; a bad one is named, and a `from` after the `to` refused.
    pub fn range(&self, headers: &HeaderMap) -> Result<(Option<i64>, Option<i64>), ApiError> {
        let bound = |name: &str| -> Result<Option<i64>, ApiError> {
            let text = self.limited(headers, name)?;
            text.map(|t| parse_bound(t).map_err(|e| ApiError::bad_request(format!("{name}: {e}"))))
                .transpose()
        };
        let (from, to) = (bound("from")?, bound("to")?);
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            let message = format!("impossible range: from {} is after to {}", iso(from), iso(to));
            return Err(ApiError::bad_request(message));
        }
        Ok((from, to))
    }

    /// `X-Limit-<name>` if present, else the query value.
    pub fn limited<'a>(
        &'a self,
        headers: &'a HeaderMap,
        name: &str,
    ) -> Result<Option<&'a str>, ApiError> {
        Ok(header(headers, &format!("x-limit-{name}"))?.or_else(|| self.query(name)))
    }
}

fn decode(text: &str) -> Result<String, ApiError> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|v| v.into_owned())
        .map_err(|_| ApiError::bad_request(format!("query parameter {text:?} is not valid UTF-8")))
}

/// A non-empty, trimmed header value as UTF-8 text.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    let text = std::str::from_utf8(value.as_bytes())
        .map_err(|_| ApiError::bad_request(format!("header {name} is not valid UTF-8")))?;
    Ok(Some(text.trim()).filter(|v| !v.is_empty()))
}

/// The device named by `user` and `device`; `None` when neither is given, an error naming the
/// problem when only one is or a name is not valid.
pub fn device_key(user: Option<&str>, device: Option<&str>) -> Result<Option<DeviceKey>, ApiError> {
    match (user, device) {
        (Some(user), Some(device)) => DeviceKey::parse(user, device)
            .map(Some)
            .map_err(|error| ApiError::bad_request(error.to_string())),
        (None, None) => Ok(None),
        _ => Err(ApiError::bad_request("give both user and device, or neither")),
    }
}
