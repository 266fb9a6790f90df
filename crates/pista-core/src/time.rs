//! Time as the OwnTracks world writes it: UNIX seconds in messages, ISO-8601 UTC strings
//! (`isotst`, `disptst`) in API answers, and the date forms the Recorder's API accepts in
//! `from`/`to`, plus RFC 3339 with an offset (which the Recorder silently read as UTC) and epoch
//! seconds.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Formats UNIX seconds as `2014-11-11T15:18:19Z`.
pub fn iso(seconds: i64) -> String {
    with_format(seconds, "%Y-%m-%dT%H:%M:%SZ")
}

/// Formats UNIX seconds as `2014-11-11 15:18:19` (the Recorder's `disptst`).
pub fn display(seconds: i64) -> String {
    with_format(seconds, "%Y-%m-%d %H:%M:%S")
}

fn with_format(seconds: i64, format: &str) -> String {
    match DateTime::<Utc>::from_timestamp(seconds, 0) {
        Some(time) => time.format(format).to_string(),
        None => seconds.to_string(),
    }
}

/// Why a time bound could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{value:?} is not a time; use YYYY-MM-DDTHH:MM:SS (UTC), YYYY-MM-DD, YYYY-MM, \
     an RFC 3339 time with offset, or epoch seconds"
)]
pub struct TimeError {
    pub value: String,
}

/// Reads a `from`/`to` value as UNIX seconds. Times without an offset are UTC; a date alone
/// means its midnight and a month alone its first day.
pub fn parse_bound(value: &str) -> Result<i64, TimeError> {
    let err = || TimeError { value: value.to_owned() };
    let text = value.trim();
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return text.parse().map_err(|_| err());
    }

    // An unencoded `+02:00` offset in a query string arrives as ` 02:00`.
    let offset_repaired = text.replacen(' ', "+", 1);
    for candidate in [text, offset_repaired.as_str()] {
        if let Ok(time) = DateTime::parse_from_rfc3339(candidate) {
            return Ok(time.timestamp());
        }
    }
    let naive = text.strip_suffix(['Z', 'z']).unwrap_or(text).replace('t', "T");
    let naive = naive.split('.').next().unwrap_or_default();
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(naive, format) {
            return Ok(time.and_utc().timestamp());
        }
    }
    if let Ok(time) = NaiveDateTime::parse_from_str(&format!("{naive}:00"), "%Y-%m-%dT%H:%M") {
        return Ok(time.and_utc().timestamp());
    }

    let date = NaiveDate::parse_from_str(naive, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(&format!("{naive}-01"), "%Y-%m-%d"))
        .map_err(|_| err())?;
    Ok(date.and_hms_opt(0, 0, 0).ok_or_else(err)?.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_recorder() {
        assert_eq!(iso(1415719099), "2014-11-11T15:18:19Z");
        assert_eq!(display(1415719099), "2014-11-11 15:18:19");
    }

    #[test]
    fn bounds_accept_the_recorder_forms_and_more() {
        let cases = [
            ("2023-11-14T22:13:20", 1700000000),
            ("2023-11-14t22:13:20", 1700000000),
            ("2023-11-14T22:13:20Z", 1700000000),
            ("2023-11-14T22:13:20.000Z", 1700000000),
            ("2023-11-15T00:13:20+02:00", 1700000000),
            ("2023-11-14T22:13", 1699999980),
            ("2023-11-14T22", 1699999200),
            ("2023-11-14", 1699920000),
            ("2023-11", 1698796800),
            ("1700000000", 1700000000),
            ("0", 0),
            ("2024-06-01T00:00:00 13:00", 1717153200),
        ];
        for (text, want) in cases {
            assert_eq!(parse_bound(text), Ok(want), "{text}");
        }
        assert_eq!(
            parse_bound("yesterday").unwrap_err().to_string(),
            "\"yesterday\" is not a time; use YYYY-MM-DDTHH:MM:SS (UTC), YYYY-MM-DD, YYYY-MM, \
             an RFC 3339 time with offset, or epoch seconds"
        );
        assert!(parse_bound("2023-13-01").is_err());
    }
}
