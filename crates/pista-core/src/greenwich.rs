//! Greenwich "OwnTracks Edition" CSV locations. A device set to `payload=csv` publishes
//! `TID,TSTHEX,T,LAT6,LON6,COG10,VEL,ALT10,DIST,TRIPKM` on its base topic: the time in hex epoch
//! seconds, coordinates in millionths of a degree, course in tens of degrees, altitude in tens of
//! metres and the trip in kilometres. This module turns such a line into the equivalent JSON
//! location (marked `"csv": true`), which then takes the ordinary location path.

use serde_json::{Map, Value};

/// Why a ten-field line is not a Greenwich CSV location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("greenwich csv field {field} {value:?} is not {expected}")]
    Field { field: &'static str, value: String, expected: &'static str },
}

const FIELDS: [&str; 10] = ["tid", "tst", "t", "lat", "lon", "cog", "vel", "alt", "dist", "trip"];

/// Returns the fields of `line` when it has the shape of a Greenwich CSV location (exactly ten
/// comma-separated fields), so that callers can tell "not CSV" from "bad CSV".
pub fn csv_fields(line: &str) -> Option<Vec<&str>> {
    let fields: Vec<&str> = line.trim_end().split(',').collect();
    (fields.len() == FIELDS.len()).then_some(fields)
}

/// Converts a Greenwich CSV line to the JSON object of a location message.
pub fn parse_csv_location(line: &str) -> Result<Map<String, Value>, CsvError> {
    let Some(fields) = csv_fields(line) else {
        return Err(CsvError::Field {
            field: "count",
            value: line.to_owned(),
            expected: "ten comma-separated fields",
        });
    };
    let bad = |index: usize, expected: &'static str| CsvError::Field {
        field: FIELDS[index],
        value: fields[index].to_owned(),
        expected,
    };
    let text = |index: usize| {
        let value = fields[index];
        let ok = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric());
        ok.then(|| value.to_owned()).ok_or_else(|| bad(index, "letters and digits"))
    };
    let int = |index: usize, negative: bool| {
        let value = fields[index];
        let digits = value.strip_prefix('-').filter(|_| negative).unwrap_or(value);
        let ok = !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit());
        ok.then(|| value.parse::<i64>().ok())
            .flatten()
            .ok_or_else(|| bad(index, if negative { "a whole number" } else { "digits" }))
    };

    let tid = text(0)?;
    let tst = i64::from_str_radix(fields[1], 16).map_err(|_| bad(1, "hexadecimal seconds"))?;
    let trigger = text(2)
        .and_then(|t| if t.chars().count() == 1 { Ok(t) } else { Err(bad(2, "one letter")) })?;

    let micro = |index: usize| int(index, true).map(|v| v as f64 / 1_000_000.0);
    let (lat, lon) = (micro(3)?, micro(4)?);
    // Units of 10 degrees, 10 metres and kilometres; a value too large to scale is refused.
    let scaled = |index: usize, factor: i64| {
        int(index, false)?.checked_mul(factor).ok_or_else(|| bad(index, "a plausible value"))
    };
    let (cog, vel, alt) = (scaled(5, 10)?, int(6, false)?, scaled(7, 10)?);
    let (dist, trip) = (int(8, false)?, scaled(9, 1000)?);

    let mut object = Map::new();
    object.insert("_type".into(), "location".into());
    object.insert("tid".into(), tid.into());
    object.insert("tst".into(), tst.into());
    object.insert("t".into(), trigger.into());
    object.insert("lat".into(), lat.into());
    object.insert("lon".into(), lon.into());
    object.insert("cog".into(), cog.into());
    object.insert("vel".into(), vel.into());
    object.insert("alt".into(), alt.into());
    object.insert("dist".into(), dist.into());
    object.insert("trip".into(), trip.into());
    object.insert("csv".into(), true.into());
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_lines_decode_to_the_documented_values() {
        let cases = [
            (
                "K2,542A46AA,k,40365854,4575769,26,4,7,5,8",
                r#"{"_type":"location","tid":"K2","tst":1412056746,"t":"k","lat":40.365854,"lon":4.575769,"cog":260,"vel":4,"alt":70,"dist":5,"trip":8000,"csv":true}"#,
            ),
            (
                "X0,542A46AA,k,30365854,7575769,26,4,7,5,872",
                r#"{"_type":"location","tid":"X0","tst":1412056746,"t":"k","lat":30.365854,"lon":7.575769,"cog":260,"vel":4,"alt":70,"dist":5,"trip":872000,"csv":true}"#,
            ),
            (
                "AB,1,L,-33868820,-151209290,0,0,0,0,0\n",
                r#"{"_type":"location","tid":"AB","tst":1,"t":"L","lat":-33.86882,"lon":-151.20929,"cog":0,"vel":0,"alt":0,"dist":0,"trip":0,"csv":true}"#,
            ),
        ];
        for (line, want) in cases {
            let object = parse_csv_location(line).unwrap();
            assert_eq!(serde_json::to_string(&object).unwrap(), want, "{line}");
        }
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (
                "K2,XYZ,k,1,1,1,1,1,1,1",
                "greenwich csv field tst \"XYZ\" is not hexadecimal seconds",
            ),
            ("K2,1,kk,1,1,1,1,1,1,1", "greenwich csv field t \"kk\" is not one letter"),
            ("K2,1,k,4.5,1,1,1,1,1,1", "greenwich csv field lat \"4.5\" is not a whole number"),
            ("K2,1,k,1,1,-1,1,1,1,1", "greenwich csv field cog \"-1\" is not digits"),
            ("K-2,1,k,1,1,1,1,1,1,1", "greenwich csv field tid \"K-2\" is not letters and digits"),
            (
                "K2,1,k,1,1,1,1,1,1,9223372036854775807",
                "greenwich csv field trip \"9223372036854775807\" is not a plausible value",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse_csv_location(line).unwrap_err().to_string(), want, "{line}");
        }
        assert_eq!(csv_fields("a,b,c"), None);
    }
}
