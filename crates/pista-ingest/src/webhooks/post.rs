//! One POST of an alert (or an alarm) to a webhook and what it came to: the request with its headers, the
//! answer read as delivered, worth retrying or final, the wait before a retry, and transport
//! errors put in words without the URL.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use url::Url;

use super::WebhookOptions;

/// What one POST came to.
pub(crate) struct Attempt {
    pub status: Option<StatusCode>,
    pub error: Option<String>,
    /// The receiver's `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
}

impl Attempt {
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }

    /// Whether another POST might go better: no answer, 408, 429 or a server error.
    pub fn worth_retrying(&self) -> bool {
        match self.status {
            None => true,
            Some(status) => matches!(status.as_u16(), 408 | 429) || status.is_server_error(),
        }
    }
}

/// POSTs `payload` as JSON with an id header (the alert's, or the alarm's); only a 2xx answer
/// delivers it.
pub(crate) async fn post(
    client: &reqwest::Client,
    url: &Url,
    (header, id): (&'static str, i64),
    payload: &str,
    timeout: Duration,
) -> Attempt {
    let request = client
        .post(url.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(header, id)
        .body(payload.to_owned());
    match request.send().await {
        Ok(response) if response.status().is_success() => {
            Attempt { status: Some(response.status()), error: None, retry_after: None }
        }
        Ok(response) => {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok()?.trim().parse().ok());
            let error = format!("answered {}", response.status());
            Attempt { status: Some(response.status()), error: Some(error), retry_after }
        }
        Err(error) => {
            Attempt { status: None, error: Some(describe(&error, timeout)), retry_after: None }
        }
    }
}

/// The wait after attempt `number`: the backoff doubled per attempt, or the receiver's longer
/// `Retry-After`, never beyond `max_backoff`.
pub(crate) fn pause(options: &WebhookOptions, number: u16, retry_after: Option<u64>) -> Duration {
    let factor = 2u32.saturating_pow(u32::from(number.saturating_sub(1)));
    let backoff = options.backoff.saturating_mul(factor);
    let asked = Duration::from_secs(retry_after.unwrap_or_default());
    backoff.max(asked).min(options.max_backoff)
}

/// A transport error in words: its innermost cause, without the URL.
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("no answer within {} s", timeout.as_secs_f64());
    }
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    let what = if error.is_connect() { "cannot connect" } else { "request failed" };
    format!("{what}: {cause}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_the_cap_or_as_asked() {
        let options = WebhookOptions {
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(3),
            ..WebhookOptions::default()
        };
        let cases = [(1, None), (2, None), (3, None), (4, None), (1, Some(2)), (1, Some(99))];
        let waits: Vec<u128> = cases
            .iter()
            .map(|(number, asked)| pause(&options, *number, *asked).as_millis())
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 3000, 2000, 3000]);
    }

    #[test]
    fn only_no_answer_408_429_and_server_errors_are_retried() {
        let statuses = [None, Some(408), Some(429), Some(500), Some(503), Some(301), Some(400)];
        let retried: Vec<bool> = statuses
            .iter()
            .chain(&[Some(404), Some(200)])
            .map(|status| {
                let status = status.map(|code| StatusCode::from_u16(code).unwrap());
                Attempt { status, error: Some(String::new()), retry_after: None }.worth_retrying()
            })
            .collect();
        assert_eq!(retried, [true, true, true, true, true, false, false, false, false]);
    }
}
