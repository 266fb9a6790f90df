//! The `location` message: the fields Pista types and indexes, and the normalised JSON it stores
//! and serves. Clients send numbers as JSON numbers or as strings (old apps, Greenwich devices),
//! omit fields, or put wrong types in optional ones; the rules here turn all of that into one
//! shape, and say exactly what was repaired or why the message cannot be a location at all.

use serde_json::{Map, Number, Value};

/// Optional fields that must be numbers; strings holding a finite number are converted, other
/// values are dropped from the stored message (and noted in [`Location::repairs`]).
pub const OPTIONAL_NUMBERS: &[&str] = &[
    "acc",
    "alt",
    "vac",
    "vacc",
    "vel",
    "cog",
    "batt",
    "bs",
    "p",
    "m",
    "dist",
    "trip",
    "created_at",
    "rad",
];

/// Why a message with `_type: location` cannot be stored as a location.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LocationError {
    #[error("location has no {field}")]
    Missing { field: &'static str },
    #[error("location {field} is {found}, expected a number")]
    NotNumber { field: &'static str, found: String },
    #[error("location {field} {value} is out of range {min}..={max}")]
    OutOfRange { field: &'static str, value: f64, min: f64, max: f64 },
    #[error("location tst {found} is not a positive whole number of seconds")]
    BadTst { found: String },
}

/// A location fix, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    /// Time of the fix, UNIX seconds.
    pub tst: i64,
    pub lat: f64,
    pub lon: f64,
    /// Tracker id; derived from the device name when the client sent none.
    pub tid: String,
    /// The trigger `t`, when sent as a string.
    pub trigger: Option<String>,
    pub acc: Option<f64>,
    pub alt: Option<f64>,
    pub vel: Option<f64>,
    pub cog: Option<f64>,
    pub batt: Option<f64>,
    /// Every key the client sent, in its order, with numbers as numbers, unusable optional
    /// fields removed and `tid` filled in.
    pub json: Map<String, Value>,
    /// One line per change made to what the client sent.
    pub repairs: Vec<String>,
}

impl Location {
    /// Validates a decoded `location` object. `default_tid` supplies the tracker id when the
    /// message has none.
    pub fn from_json(
        object: Map<String, Value>,
        default_tid: impl FnOnce() -> String,
    ) -> Result<Self, LocationError> {
        let lat = required_number(&object, "lat")?;
        let lon = required_number(&object, "lon")?;
        check_range("lat", lat.1, 90.0)?;
        check_range("lon", lon.1, 180.0)?;

        let tst = tst(&object)?;

        let mut repairs = Vec::new();
        let mut json = Map::with_capacity(object.len() + 1);
        let mut tid = None;
        let mut trigger = None;
        for (key, value) in object {
            match key.as_str() {
                "lat" => json.insert(key, Value::Number(lat.0.clone())),
                "lon" => json.insert(key, Value::Number(lon.0.clone())),
                "tst" => json.insert(key, Value::from(tst.0)),
                "tid" => match tid_text(&value) {
                    Some(text) => {
                        if !value.is_string() {
                            repairs.push(format!("tid: {} turned into text", kind(&value)));
                        }
                        tid = Some(text.clone());
                        json.insert(key, Value::String(text))
                    }
                    None => {
                        repairs.push(format!("tid: dropped {}", kind(&value)));
                        None
                    }
                },
                "t" => match value {
                    Value::String(text) => {
                        trigger = Some(text.clone());
                        json.insert(key, Value::String(text))
                    }
                    other => {
                        repairs.push(format!("t: dropped {}, expected text", kind(&other)));
                        None
                    }
                },
                name if OPTIONAL_NUMBERS.contains(&name) => match number(&value) {
                    Ok((number, _)) => {
                        if !value.is_number() {
                            repairs.push(format!("{name}: {} turned into a number", kind(&value)));
                        }
                        json.insert(key, Value::Number(number))
                    }
                    Err(found) => {
                        repairs.push(format!("{name}: dropped {found}, expected a number"));
                        None
                    }
                },
                _ => json.insert(key, value),
            };
        }

        if tst.1 {
            repairs.push("tst: text turned into a number".to_owned());
        }
        for (name, was_text) in [("lat", lat.2), ("lon", lon.2)] {
            if was_text {
                repairs.push(format!("{name}: text turned into a number"));
            }
        }

        let tid = tid.unwrap_or_else(|| {
            let derived = default_tid();
            json.insert("tid".to_owned(), Value::String(derived.clone()));
            derived
        });

        let field = |name: &str| json.get(name).and_then(Value::as_f64);
        Ok(Self {
            tst: tst.0,
            lat: lat.1,
            lon: lon.1,
            tid,
            trigger,
            acc: field("acc"),
            alt: field("alt"),
            vel: field("vel"),
            cog: field("cog"),
            batt: field("batt"),
            json,
            repairs,
        })
    }
}

/// A short description of a JSON value for error messages: strings are quoted and cut short.
fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() > 40 => {
            format!("{:?}...", s.chars().take(40).collect::<String>())
        }
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// Reads a JSON number, or a string holding a finite decimal number. Returns the number and
/// whether it came from text, or a description of what was found instead.
fn number(value: &Value) -> Result<(Number, bool), String> {
    match value {
        Value::Number(n) => Ok((n.clone(), false)),
        Value::String(text) => {
            parse_number_text(text).map(|n| (n, true)).ok_or_else(|| kind(value))
        }
        other => Err(kind(other)),
    }
}

fn parse_number_text(text: &str) -> Option<Number> {
    let text = text.trim();
    let looks_decimal = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
    if !looks_decimal {
        return None;
    }
    if let Ok(int) = text.parse::<i64>() {
        return Some(Number::from(int));
    }
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

fn required_number(
    object: &Map<String, Value>,
    field: &'static str,
) -> Result<(Number, f64, bool), LocationError> {
    let value = object.get(field).ok_or(LocationError::Missing { field })?;
    let (number, from_text) =
        number(value).map_err(|found| LocationError::NotNumber { field, found })?;
    let float = number
        .as_f64()
        .ok_or_else(|| LocationError::NotNumber { field, found: number.to_string() })?;
    Ok((number, float, from_text))
}

fn check_range(field: &'static str, value: f64, max: f64) -> Result<(), LocationError> {
    if (-max..=max).contains(&value) {
        Ok(())
    } else {
        Err(LocationError::OutOfRange { field, value, min: -max, max })
    }
}

/// Reads `tst`: a positive whole number of seconds, as a number or as text. Returns the value
/// and whether it came from text.
fn tst(object: &Map<String, Value>) -> Result<(i64, bool), LocationError> {
    let value = object.get("tst").ok_or(LocationError::Missing { field: "tst" })?;
    let (number, from_text) = number(value).map_err(|found| LocationError::BadTst { found })?;
    let seconds = match number.as_i64() {
        Some(int) => Some(int),
        None => number.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64),
    };
    match seconds {
        Some(s) if s > 0 => Ok((s, from_text)),
        _ => Err(LocationError::BadTst { found: kind(value) }),
    }
}

fn tid_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: Value) -> Result<Location, LocationError> {
        let Value::Object(object) = value else { panic!("test input must be an object") };
        Location::from_json(object, || "ie".to_owned())
    }

    #[test]
    fn string_typed_numbers_become_numbers() {
        let loc = parse(json!({"cog":-1,"batt":"79","lon":"2.295134","acc":"10","vel":0,"vac":3,
            "lat":"48.858334","t":"t","tst":"1415719099","alt":171,"_type":"location","tid":"jj"}))
        .unwrap();
        assert_eq!((loc.tst, loc.lat, loc.lon), (1415719099, 48.858334, 2.295134));
        assert_eq!(
            (loc.batt, loc.acc, loc.cog, loc.alt),
            (Some(79.0), Some(10.0), Some(-1.0), Some(171.0))
        );
        assert_eq!(loc.trigger.as_deref(), Some("t"));
        assert_eq!(
            serde_json::to_string(&loc.json).unwrap(),
            r#"{"cog":-1,"batt":79,"lon":2.295134,"acc":10,"vel":0,"vac":3,"lat":48.858334,"t":"t","tst":1415719099,"alt":171,"_type":"location","tid":"jj"}"#
        );
        assert_eq!(
            loc.repairs,
            [
                "batt: \"79\" turned into a number",
                "acc: \"10\" turned into a number",
                "tst: text turned into a number",
                "lat: text turned into a number",
                "lon: text turned into a number",
            ]
        );
    }

    #[test]
    fn missing_tid_is_derived_and_appended() {
        let loc = parse(json!({"_type":"location","lat":1,"lon":2,"tst":3})).unwrap();
        assert_eq!(loc.tid, "ie");
        assert_eq!(
            serde_json::to_string(&loc.json).unwrap(),
            r#"{"_type":"location","lat":1,"lon":2,"tst":3,"tid":"ie"}"#
        );
    }

    #[test]
    fn bad_optional_fields_are_dropped_with_a_note() {
        let cases = [
            (json!(null), "batt: dropped null, expected a number"),
            (json!(true), "batt: dropped true, expected a number"),
            (json!({"d": 1}), "batt: dropped an object, expected a number"),
            (json!([]), "batt: dropped an array, expected a number"),
            (json!("x"), "batt: dropped \"x\", expected a number"),
            (json!("NaN"), "batt: dropped \"NaN\", expected a number"),
        ];
        for (batt, note) in cases {
            let loc = parse(json!({"_type":"location","lat":51.4,"lon":8.3,"tst":1707470410,
                "vel":100,"batt":batt}))
            .unwrap();
            assert_eq!(loc.batt, None);
            assert!(!loc.json.contains_key("batt"));
            assert_eq!(loc.repairs, [note]);
        }
    }

    #[test]
    fn unusable_required_fields_reject_the_location() {
        let cases = [
            (json!({"lon":1,"tst":1}), "location has no lat"),
            (json!({"lat":null,"lon":1,"tst":1}), "location lat is null, expected a number"),
            (
                json!({"lat":"xx.xxxxxx","lon":1,"tst":1}),
                "location lat is \"xx.xxxxxx\", expected a number",
            ),
            (json!({"lat":91,"lon":1,"tst":1}), "location lat 91 is out of range -90..=90"),
            (
                json!({"lat":1,"lon":-180.5,"tst":1}),
                "location lon -180.5 is out of range -180..=180",
            ),
            (json!({"lat":1,"lon":1}), "location has no tst"),
            (
                json!({"lat":1,"lon":1,"tst":0}),
                "location tst 0 is not a positive whole number of seconds",
            ),
            (
                json!({"lat":1,"lon":1,"tst":null}),
                "location tst null is not a positive whole number of seconds",
            ),
            (
                json!({"lat":1,"lon":1,"tst":1.5}),
                "location tst 1.5 is not a positive whole number of seconds",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input.clone()).unwrap_err().to_string(), want, "{input}");
        }
    }

    #[test]
    fn numeric_tid_is_kept_as_text() {
        let loc = parse(json!({"lat":1,"lon":1,"tst":5,"tid":53})).unwrap();
        assert_eq!(loc.tid, "53");
        assert_eq!(loc.json["tid"], json!("53"));
    }
}
