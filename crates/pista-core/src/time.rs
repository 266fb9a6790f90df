//! Time as the OwnTracks world writes it: UNIX seconds in messages, ISO-8601 UTC strings
//! (`isotst`, `disptst`) in API answers, and the date forms the Recorder's API accepts in
//! `from`/`to`, plus RFC 3339 with an offset (which the Recorder silently read as UTC) and epoch
//! seconds.
//!
//! It also holds Pista's one rule for message times ([`read_epoch`] and [`TimeRule`]), the same
//! for every input: a time is whole UNIX seconds; milliseconds (a number of 10^11 or more) are
//! divided by 1000, fractions of a second are dropped and RFC 3339 text with a zone is converted,
//! each with a note; text without a zone is ambiguous and not guessed. A fix whose time is
//! missing, not positive, unreadable, before the floor or more than the allowed span after its
//! arrival is quarantined by the caller with the reason this module names.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

/// Numbers at or above this are milliseconds, not seconds (10^11 s is the year 5138); from
/// 10^14 they are microseconds and from 10^17 nanoseconds, as clocks in those units write them.
const UNITS: [(f64, f64, &str); 3] = [
    (1e17, 1e9, "nanoseconds turned into seconds"),
    (1e14, 1e6, "microseconds turned into seconds"),
    (1e11, 1e3, "milliseconds turned into seconds"),
];

/// Why a message time could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpochError {
    #[error("{field} is missing")]
    Missing { field: &'static str },
    #[error("{field} {found} is not after 1970")]
    NotPositive { field: &'static str, found: String },
    #[error("{field} {found} is not a time in seconds")]
    Unreadable { field: &'static str, found: String },
    #[error("{field} {found} has no time zone, so its instant is ambiguous")]
    Ambiguous { field: &'static str, found: String },
}

impl EpochError {
    /// The quarantine reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            EpochError::Missing { .. } => "tst_missing",
            EpochError::NotPositive { .. } => "tst_zero",
            EpochError::Unreadable { .. } | EpochError::Ambiguous { .. } => "tst_unreadable",
        }
    }
}

/// Reads a message time (`tst`, `wtst`, `created_at`, ...) as whole UNIX seconds, with a note
/// when it had to be repaired. `value` is `None` when the field is absent.
pub fn read_epoch(
    field: &'static str,
    value: Option<&Value>,
) -> Result<(i64, Option<String>), EpochError> {
    let value = value.ok_or(EpochError::Missing { field })?;
    let found = || short(value);
    let unreadable = || EpochError::Unreadable { field, found: found() };
    let (number, mut notes) = match value {
        Value::Number(n) => (n.as_i64().map(|i| i as f64).or(n.as_f64()), Vec::new()),
        Value::String(text) => {
            let text = text.trim();
            if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.') {
                (text.parse::<f64>().ok(), vec!["text turned into a number"])
            } else {
                return iso_epoch(field, text, value);
            }
        }
        _ => (None, Vec::new()),
    };
    let number = number.filter(|n| n.is_finite()).ok_or_else(unreadable)?;
    if number.fract() != 0.0 {
        notes.push("fraction of a second dropped");
    }
    let mut whole = number.floor();
    if whole <= 0.0 {
        return Err(EpochError::NotPositive { field, found: found() });
    }
    if whole >= 1e20 {
        return Err(unreadable());
    }
    if let Some((_, per_second, note)) = UNITS.iter().find(|(from, _, _)| whole >= *from) {
        whole = (whole / per_second).floor();
        notes.push(note);
    }
    let seconds = whole as i64;
    let note = (!notes.is_empty()).then(|| format!("{field}: {} {}", found(), notes.join(", ")));
    Ok((seconds, note))
}

fn iso_epoch(
    field: &'static str,
    text: &str,
    value: &Value,
) -> Result<(i64, Option<String>), EpochError> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        let seconds = time.timestamp();
        if seconds <= 0 {
            return Err(EpochError::NotPositive { field, found: short(value) });
        }
        let note = format!("{field}: {} read as RFC 3339 time", short(value));
        return Ok((seconds, Some(note)));
    }
    if parse_bound(text).is_ok() {
        return Err(EpochError::Ambiguous { field, found: short(value) });
    }
    Err(EpochError::Unreadable { field, found: short(value) })
}

/// A JSON value for messages: text quoted and cut to 40 characters.
fn short(value: &Value) -> String {
    match value {
        Value::String(s) if s.chars().count() > 40 => {
            format!("{:?}...", s.chars().take(40).collect::<String>())
        }
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        other => other.to_string(),
    }
}

/// When a fix may have happened, relative to its arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRule {
    /// Earliest plausible fix time, UNIX seconds (default 2008-01-01, before any OwnTracks
    /// client existed).
    pub floor: i64,
    /// How far after its arrival a fix may lie (default one day: time zones, skewed clocks).
    pub max_ahead: i64,
}

impl Default for TimeRule {
    fn default() -> Self {
        Self { floor: 1_199_145_600, max_ahead: 86_400 }
    }
}

/// Why a readable fix time is not plausible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Implausible {
    #[error("tst {tst} ({}) is before the floor {}", iso(*tst), iso(*floor))]
    TooOld { tst: i64, floor: i64 },
    #[error("tst {tst} ({}) is more than {ahead} s after it arrived ({})", iso(*tst), iso(*received_at))]
    InFuture { tst: i64, received_at: i64, ahead: i64 },
}

impl Implausible {
    /// The quarantine reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            Implausible::TooOld { .. } => "tst_too_old",
            Implausible::InFuture { .. } => "tst_in_future",
        }
    }
}

impl TimeRule {
    /// Checks a fix time against its arrival time.
    pub fn check(&self, tst: i64, received_at: i64) -> Result<(), Implausible> {
        if tst < self.floor {
            return Err(Implausible::TooOld { tst, floor: self.floor });
        }
        if tst > received_at.saturating_add(self.max_ahead) {
            return Err(Implausible::InFuture { tst, received_at, ahead: self.max_ahead });
        }
        Ok(())
    }
}

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

    #[test]
    fn message_times_follow_one_rule() {
        use serde_json::json;
        let ok = [
            (json!(1700000000), 1700000000, None),
            (json!(1700000000.0), 1700000000, None),
            (
                json!(1700000000.7),
                1700000000,
                Some("tst: 1700000000.7 fraction of a second dropped"),
            ),
            (
                json!("1700000000"),
                1700000000,
                Some("tst: \"1700000000\" text turned into a number"),
            ),
            (
                json!(1700000000123_i64),
                1700000000,
                Some("tst: 1700000000123 milliseconds turned into seconds"),
            ),
            (
                json!(1505910709000_i64),
                1505910709,
                Some("tst: 1505910709000 milliseconds turned into seconds"),
            ),
            (
                json!("2021-03-22T11:11:03.690Z"),
                1616411463,
                Some("tst: \"2021-03-22T11:11:03.690Z\" read as RFC 3339 time"),
            ),
            (
                json!("2021-03-22T13:11:03+02:00"),
                1616411463,
                Some("tst: \"2021-03-22T13:11:03+02:00\" read as RFC 3339 time"),
            ),
            (json!(806434679), 806434679, None),
            (
                json!(1700000000123456_i64),
                1700000000,
                Some("tst: 1700000000123456 microseconds turned into seconds"),
            ),
            (
                json!(1700000000123456789_i64),
                1700000000,
                Some("tst: 1700000000123456789 nanoseconds turned into seconds"),
            ),
        ];
        for (value, seconds, note) in ok {
            assert_eq!(
                read_epoch("tst", Some(&value)),
                Ok((seconds, note.map(str::to_owned))),
                "{value}"
            );
        }
        let bad = [
            (None, "tst is missing", "tst_missing"),
            (Some(json!(0)), "tst 0 is not after 1970", "tst_zero"),
            (Some(json!(-5)), "tst -5 is not after 1970", "tst_zero"),
            (Some(json!(null)), "tst null is not a time in seconds", "tst_unreadable"),
            (Some(json!("soon")), "tst \"soon\" is not a time in seconds", "tst_unreadable"),
            (Some(json!([1])), "tst an array is not a time in seconds", "tst_unreadable"),
            (
                Some(json!("2021-03-22T11:11:03")),
                "tst \"2021-03-22T11:11:03\" has no time zone, so its instant is ambiguous",
                "tst_unreadable",
            ),
        ];
        for (value, message, reason) in bad {
            let error = read_epoch("tst", value.as_ref()).unwrap_err();
            assert_eq!((error.to_string().as_str(), error.reason()), (message, reason));
        }
    }

    #[test]
    fn the_rule_bounds_fix_times_by_floor_and_arrival() {
        let rule = TimeRule::default();
        let arrival = 1_700_000_000;
        assert_eq!(rule.check(arrival, arrival), Ok(()));
        assert_eq!(rule.check(1_199_145_600, arrival), Ok(()));
        assert_eq!(rule.check(arrival + 86_400, arrival), Ok(()));
        let old = rule.check(806_434_679, arrival).unwrap_err();
        assert_eq!(
            (old.to_string().as_str(), old.reason()),
            (
                "tst 806434679 (1995-07-22T17:37:59Z) is before the floor 2008-01-01T00:00:00Z",
                "tst_too_old"
            )
        );
        let ahead = rule.check(arrival + 86_401, arrival).unwrap_err();
        assert_eq!(
            (ahead.to_string().as_str(), ahead.reason()),
            (
                "tst 1700086401 (2023-11-15T22:13:21Z) is more than 86400 s after it arrived \
                 (2023-11-14T22:13:20Z)",
                "tst_in_future"
            )
        );
    }
}
