//! The `location` message: the fields Pista types and indexes, and the normalised JSON it stores
//! and serves. Clients send numbers as JSON numbers or as strings (old apps, Greenwich devices),
//! omit fields, or put wrong types in optional ones; the rules here turn all of that into one
//! shape, and say exactly what was repaired or why the message cannot be a location at all.

use serde_json::{Map, Value};

use crate::fields::{FieldError, Schema, Ty, opt, req};
use crate::time::{EpochError, read_epoch};

/// The fields of a location and their types. `lat`, `lon` and `tst` are required; every other
/// field is optional, and one of the wrong type is dropped with a note.
const SCHEMA: Schema = Schema {
    msg_type: "location",
    fields: &[
        req("lat", Ty::Number),
        req("lon", Ty::Number),
        opt("tst", Ty::Time),
        opt("tid", Ty::Text),
        opt("t", Ty::Text),
        opt("acc", Ty::Number),
        opt("alt", Ty::Number),
        opt("vac", Ty::Number),
        opt("vacc", Ty::Number),
        opt("vel", Ty::Number),
        opt("cog", Ty::Number),
        opt("batt", Ty::Number),
        opt("bs", Ty::Number),
        opt("p", Ty::Number),
        opt("m", Ty::Number),
        opt("dist", Ty::Number),
        opt("trip", Ty::Number),
        opt("rad", Ty::Number),
        opt("created_at", Ty::Time),
        opt("conn", Ty::Text),
        opt("SSID", Ty::Text),
        opt("BSSID", Ty::Text),
        opt("ssid", Ty::Text),
        opt("bssid", Ty::Text),
        opt("poi", Ty::Text),
        opt("tag", Ty::Text),
        opt("image", Ty::Text),
        opt("imagename", Ty::Text),
        opt("source", Ty::Text),
        opt("topic", Ty::Text),
        opt("_id", Ty::Text),
        opt("desc", Ty::Text),
        opt("event", Ty::Text),
        opt("inregions", Ty::TextList),
        opt("inrids", Ty::TextList),
        opt("motionactivities", Ty::TextList),
    ],
};

/// Why a message with `_type: location` cannot be stored as a location.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LocationError {
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("location {field} {value} is out of range {min}..={max}")]
    OutOfRange { field: &'static str, value: f64, min: f64, max: f64 },
    #[error("location {0}")]
    Time(#[from] EpochError),
}

impl LocationError {
    /// The quarantine reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            LocationError::Time(error) => error.reason(),
            _ => "invalid_message",
        }
    }
}

/// A location fix, validated, with the fields Pista indexes typed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Location {
    /// Time of the fix, UNIX seconds.
    pub tst: i64,
    pub lat: f64,
    pub lon: f64,
    /// Tracker id; derived from the device name when the client sent none.
    pub tid: String,
    /// The trigger `t` (also read from the misnamed `trigger` some Android builds sent).
    pub trigger: Option<String>,
    pub acc: Option<f64>,
    pub alt: Option<f64>,
    /// Vertical accuracy (`vac`, or the older `vacc`).
    pub vac: Option<f64>,
    pub vel: Option<f64>,
    pub cog: Option<f64>,
    pub batt: Option<f64>,
    /// Battery status: 0 unknown, 1 unplugged, 2 charging, 3 full.
    pub bs: Option<i64>,
    /// Connectivity: `w` Wi-Fi, `m` mobile, `o` offline.
    pub conn: Option<String>,
    /// Monitoring mode `m`.
    pub mode: Option<i64>,
    /// Barometric pressure `p`, kPa.
    pub pressure: Option<f64>,
    /// Wi-Fi name and access point, from `SSID`/`BSSID` or the lower-case keys of iOS 18.3.
    pub ssid: Option<String>,
    pub bssid: Option<String>,
    /// When the message was built (differs from `tst` for resent fixes such as Android pings).
    pub created_at: Option<i64>,
    /// Android's location provider (`source`).
    pub provider: Option<String>,
    pub poi: Option<String>,
    pub tag: Option<String>,
    pub imagename: Option<String>,
    /// Region names (`inregions`) and region ids (`inrids`) the device was in.
    pub inregions: Vec<String>,
    pub inrids: Vec<String>,
    /// The client's message id `_id`.
    pub client_id: Option<String>,
    /// Every key the client sent, in its order, with fields typed, unusable optional fields
    /// removed and `tid` filled in.
    pub json: Map<String, Value>,
    /// One line per change made to what the client sent.
    pub repairs: Vec<String>,
    /// Whether credentials in it were masked; the client's bytes are then not kept.
    pub masked: bool,
}

impl Location {
    /// Validates a decoded `location` object. `default_tid` supplies the tracker id when the
    /// message has none.
    pub fn from_json(
        mut object: Map<String, Value>,
        default_tid: impl FnOnce() -> String,
    ) -> Result<Self, LocationError> {
        // Checked after the coordinates, so a message without them is refused for that first.
        let time = read_epoch("tst", object.get("tst"));
        let mut alias_note = None;
        if !object.contains_key("t")
            && let Some(Value::String(trigger)) = object.get("trigger")
        {
            let trigger = trigger.clone();
            object = rename(object, "trigger", "t", Value::String(trigger));
            alias_note = Some("trigger: read as t".to_owned());
        }
        let typed = SCHEMA.apply(object)?;
        let mut json = typed.json;
        let mut repairs = typed.repairs;
        repairs.extend(alias_note);

        let lat = json.get("lat").and_then(Value::as_f64).unwrap_or_default();
        let lon = json.get("lon").and_then(Value::as_f64).unwrap_or_default();
        check_range("lat", lat, 90.0)?;
        check_range("lon", lon, 180.0)?;
        time?;

        let tid = match json.get("tid").and_then(Value::as_str) {
            Some(tid) if !tid.is_empty() => tid.to_owned(),
            _ => {
                let derived = default_tid();
                if json.contains_key("tid") {
                    repairs.push("tid: empty, derived from the device name".to_owned());
                }
                json.insert("tid".to_owned(), Value::String(derived.clone()));
                derived
            }
        };

        let hidden = crate::secrets::mask_json(&mut json);
        let masked = !hidden.is_empty();
        if masked {
            repairs.push(format!("{}: secret masked", hidden.join(", ")));
        }
        let number = |name: &str| json.get(name).and_then(Value::as_f64);
        let text = |name: &str| json.get(name).and_then(Value::as_str).map(str::to_owned);
        let int = |name: &str| json.get(name).and_then(Value::as_f64).map(|f| f as i64);
        let list = |name: &str| {
            json.get(name)
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        Ok(Self {
            tst: json.get("tst").and_then(Value::as_i64).unwrap_or_default(),
            lat,
            lon,
            tid,
            trigger: text("t"),
            acc: number("acc"),
            alt: number("alt"),
            vac: number("vac").or(number("vacc")),
            vel: number("vel"),
            cog: number("cog"),
            batt: number("batt"),
            bs: int("bs"),
            conn: text("conn"),
            mode: int("m"),
            pressure: number("p"),
            ssid: text("ssid").or(text("SSID")),
            bssid: text("bssid").or(text("BSSID")),
            created_at: json.get("created_at").and_then(Value::as_i64),
            provider: text("source"),
            poi: text("poi"),
            tag: text("tag"),
            imagename: text("imagename"),
            inregions: list("inregions"),
            inrids: list("inrids"),
            client_id: text("_id"),
            json,
            repairs,
            masked,
        })
    }
}

/// Replaces key `from` by `to` (with `value`) in place, keeping the order of the other keys.
fn rename(object: Map<String, Value>, from: &str, to: &str, value: Value) -> Map<String, Value> {
    let mut value = Some(value);
    object
        .into_iter()
        .filter_map(|(key, old)| {
            if key == from { value.take().map(|v| (to.to_owned(), v)) } else { Some((key, old)) }
        })
        .collect()
}

fn check_range(field: &'static str, value: f64, max: f64) -> Result<(), LocationError> {
    if (-max..=max).contains(&value) {
        Ok(())
    } else {
        Err(LocationError::OutOfRange { field, value, min: -max, max })
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
                "lon: \"2.295134\" turned into a number",
                "acc: \"10\" turned into a number",
                "lat: \"48.858334\" turned into a number",
                "tst: \"1415719099\" text turned into a number",
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
            (json!({"lat":1,"tst":"x"}), "location has no lon"),
            (json!({"lat":1,"lon":1}), "location tst is missing"),
            (json!({"lat":1,"lon":1,"tst":0}), "location tst 0 is not after 1970"),
            (json!({"lat":1,"lon":1,"tst":null}), "location tst null is not a time in seconds"),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input.clone()).unwrap_err().to_string(), want, "{input}");
        }
        let reasons: Vec<&str> =
            [json!({"lat":1}), json!({"lat":1,"lon":1}), json!({"lat":1,"lon":1,"tst":-1})]
                .into_iter()
                .map(|input| parse(input).unwrap_err().reason())
                .collect();
        assert_eq!(reasons, ["invalid_message", "tst_missing", "tst_zero"]);
    }

    #[test]
    fn coordinates_sent_as_text_read_back_exactly_from_the_stored_json() {
        let loc = parse(json!({"lat":"10.014331223591737","lon":1,"tst":1600000000})).unwrap();
        assert_eq!(loc.lat, 10.014331223591737);
        let stored = serde_json::to_string(&loc.json).unwrap();
        let reread: Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(reread["lat"].as_f64(), Some(10.014331223591737));
    }

    #[test]
    fn numeric_tid_is_kept_as_text() {
        let loc = parse(json!({"lat":1,"lon":1,"tst":5,"tid":53})).unwrap();
        assert_eq!(loc.tid, "53");
        assert_eq!(loc.json["tid"], json!("53"));
    }
}
