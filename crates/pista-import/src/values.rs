//! Reading the numbers and times of foreign formats into what an OwnTracks location holds:
//! coordinates (with the one unambiguous repair of a decimal comma, bug case B64), ISO 8601
//! times with a zone, epoch seconds or milliseconds, and the location object itself.

use chrono::DateTime;
use serde_json::{Map, Value, json};

/// A coordinate as text: a plain decimal number, or one with a single comma and no point,
/// which can only be a decimal comma (`53,0792962`). Returns the number and whether the comma
/// was read as a point.
pub fn coordinate(text: &str) -> Option<(f64, bool)> {
    let text = text.trim();
    if let Ok(value) = text.parse::<f64>() {
        return value.is_finite().then_some((value, false));
    }
    if text.matches(',').count() == 1 && !text.contains('.') {
        let value = text.replace(',', ".").parse::<f64>().ok()?;
        return value.is_finite().then_some((value, true));
    }
    None
}

/// Why a time could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeProblem {
    /// Not a date at all.
    Unreadable,
    /// A date and time with no zone: which instant it means is unknown.
    NoZone,
}

/// An RFC 3339 time with a zone, as whole UNIX seconds (fractions dropped).
pub fn iso_seconds(text: &str) -> Result<i64, TimeProblem> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp());
    }
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"));
    match naive {
        Ok(_) => Err(TimeProblem::NoZone),
        Err(_) => Err(TimeProblem::Unreadable),
    }
}

/// A time that may be a number (seconds, or milliseconds from 10^11 on), a string of digits,
/// or an RFC 3339 string.
pub fn any_seconds(value: &Value) -> Result<i64, TimeProblem> {
    let number = match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) if text.trim().bytes().all(|b| b.is_ascii_digit()) => {
            text.trim().parse::<f64>().ok()
        }
        Value::String(text) => return iso_seconds(text),
        _ => None,
    };
    match number {
        Some(n) if n >= 1e11 => Ok((n / 1000.0).trunc() as i64),
        Some(n) if n.is_finite() => Ok(n.trunc() as i64),
        _ => Err(TimeProblem::Unreadable),
    }
}

/// The skip reason and detail for a time problem.
pub fn time_skip(problem: &TimeProblem, text: &str) -> (&'static str, String) {
    match problem {
        TimeProblem::Unreadable => ("unreadable time", format!("{text:?}")),
        TimeProblem::NoZone => ("time without zone", format!("{text:?}")),
    }
}

/// An OwnTracks location object with the given extras (numbers only; `None` left out).
pub fn location(lat: f64, lon: f64, tst: i64, extras: &[(&str, Option<f64>)]) -> Value {
    let mut object = Map::new();
    object.insert("_type".into(), json!("location"));
    object.insert("lat".into(), json!(lat));
    object.insert("lon".into(), json!(lon));
    object.insert("tst".into(), json!(tst));
    for (key, value) in extras {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            object.insert((*key).to_owned(), whole(value));
        }
    }
    Value::Object(object)
}

/// A number as JSON, an integer when it has no fraction.
fn whole(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 { json!(value as i64) } else { json!(value) }
}

/// Metres per second as the km/h OwnTracks' `vel` holds, rounded.
pub fn kmh(metres_per_second: f64) -> f64 {
    (metres_per_second * 3.6).round()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_and_decimal_commas() {
        assert_eq!(coordinate(" 48.1 "), Some((48.1, false)));
        assert_eq!(coordinate("53,0792962"), Some((53.0792962, true)));
        assert_eq!(coordinate("1,234.5"), None);
        assert_eq!(coordinate("1,2,3"), None);
        assert_eq!(coordinate("north"), None);
        assert_eq!(coordinate("NaN"), None);
    }

    #[test]
    fn times_in_every_form() {
        assert_eq!(iso_seconds("2021-03-22T11:11:03.690Z"), Ok(1_616_411_463));
        assert_eq!(iso_seconds("2024-01-01T01:00:00+01:00"), Ok(1_704_067_200));
        assert_eq!(iso_seconds("2024-01-01T00:00:00"), Err(TimeProblem::NoZone));
        assert_eq!(iso_seconds("yesterday"), Err(TimeProblem::Unreadable));
        assert_eq!(any_seconds(&json!(1_704_067_200_123_i64)), Ok(1_704_067_200));
        assert_eq!(any_seconds(&json!("1704067200123")), Ok(1_704_067_200));
        assert_eq!(any_seconds(&json!(1_704_067_200.9)), Ok(1_704_067_200));
        assert_eq!(any_seconds(&json!(null)), Err(TimeProblem::Unreadable));
    }

    #[test]
    fn locations_keep_whole_numbers_whole() {
        let fix = location(48.1, 11.5, 1_700_000_000, &[("alt", Some(520.0)), ("acc", None)]);
        assert_eq!(
            fix.to_string(),
            r#"{"_type":"location","lat":48.1,"lon":11.5,"tst":1700000000,"alt":520}"#
        );
    }
}
