//! Request parameters as the Recorder reads them: names are case-insensitive, and for the
//! identity and time parameters an `X-Limit-<Name>` header beats the query string.

use axum::http::HeaderMap;

/// The parameters of one request.
pub struct Params {
    /// Query pairs with lower-cased names, in order.
    query: Vec<(String, String)>,
}

impl Params {
    pub fn new(raw_query: Option<&str>) -> Self {
        let query = url::form_urlencoded::parse(raw_query.unwrap_or_default().as_bytes())
            .map(|(name, value)| (name.to_ascii_lowercase(), value.into_owned()))
            .collect();
        Self { query }
    }

    /// The first non-empty query value of `name` (given in lower case).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, v)| n == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// `X-Limit-<name>` if present, else the query value.
    pub fn limited<'a>(&'a self, headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
        header(headers, &format!("x-limit-{name}")).or_else(|| self.query(name))
    }
}

/// A non-empty header value as text.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}
