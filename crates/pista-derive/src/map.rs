//! The `_map` object: one merged view of a device, built from its newest fix and what it said
//! about itself (connection status, info label, start-up line, voltages, job). The key set and
//! value forms are the original o2s's, so existing consumers read it unchanged; unlike the
//! original it is published as soon as the device has a fix even when the status, info or
//! voltages came first, and every change (voltages too) republishes it.

use chrono::DateTime;
use pista_core::Location;
use serde_json::{Map, Value};

/// Compass points for each 45° sector from north, with a second north for exactly 360°.
const COMPASS: [&str; 9] = ["N", "NE", "E", "SE", "S", "SW", "W", "NW", "N"];

/// What the original put in place of an address it did not have.
pub const UNKNOWN_ADDR: &str = "unknown location";
/// What the original put in place of a country code it did not have.
pub const UNKNOWN_CC: &str = "??";

/// The fields of a fix that the device object and alerts carry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fix {
    pub tst: i64,
    pub lat: f64,
    pub lon: f64,
    pub tid: String,
    pub trigger: Option<String>,
    pub cog: Option<f64>,
    pub vel: Option<f64>,
    pub alt: Option<f64>,
    /// Greenwich's metres since the previous report and since boot.
    pub dist: Option<f64>,
    pub trip: Option<f64>,
    pub addr: Option<String>,
    pub cc: Option<String>,
}

impl Fix {
    /// The fix fields of a decoded location (`trip` and `dist` come from its JSON).
    pub fn from_location(location: &Location) -> Self {
        let number = |key: &str| location.json.get(key).and_then(Value::as_f64);
        Self {
            tst: location.tst,
            lat: location.lat,
            lon: location.lon,
            tid: location.tid.clone(),
            trigger: location.trigger.clone(),
            cog: location.cog,
            vel: location.vel,
            alt: location.alt,
            dist: number("dist"),
            trip: number("trip"),
            addr: None,
            cc: None,
        }
    }

    /// The fix fields of a stored location's JSON (its time and position given apart).
    pub fn from_json(tst: i64, lat: f64, lon: f64, json: &Map<String, Value>) -> Self {
        let number = |key: &str| json.get(key).and_then(Value::as_f64);
        let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_owned);
        Self {
            tst,
            lat,
            lon,
            tid: text("tid").unwrap_or_default(),
            trigger: text("t"),
            cog: number("cog"),
            vel: number("vel"),
            alt: number("alt"),
            dist: number("dist"),
            trip: number("trip"),
            addr: None,
            cc: None,
        }
    }

    /// The original's location keys (`tid lat lon cog vel alt dstamp tstamp compass addr cc
    /// status topic tst t trip dist`). Missing numbers are 0 and a missing trigger is `-`, as
    /// in the original, so its consumers keep working.
    pub fn keys(&self, topic: &str) -> Map<String, Value> {
        let int = |value: Option<f64>| Value::from(value.map_or(0, truncate));
        let mut map = Map::new();
        map.insert("tid".into(), self.tid.clone().into());
        map.insert("lat".into(), float(self.lat));
        map.insert("lon".into(), float(self.lon));
        map.insert("cog".into(), int(self.cog));
        map.insert("vel".into(), int(self.vel));
        map.insert("alt".into(), int(self.alt));
        map.insert("dstamp".into(), dstamp(self.tst).into());
        map.insert("tstamp".into(), tstamp(self.tst).into());
        map.insert("compass".into(), compass(self.cog.unwrap_or(0.0)).into());
        let addr = self.addr.clone().unwrap_or_else(|| UNKNOWN_ADDR.to_owned());
        map.insert("addr".into(), addr.into());
        map.insert("cc".into(), self.cc.clone().unwrap_or_else(|| UNKNOWN_CC.to_owned()).into());
        map.insert("status".into(), 1.into());
        map.insert("topic".into(), topic.into());
        map.insert("tst".into(), self.tst.into());
        map.insert("t".into(), self.trigger.clone().unwrap_or_else(|| "-".to_owned()).into());
        map.insert("trip".into(), int(self.trip));
        map.insert("dist".into(), int(self.dist));
        map
    }
}

/// Everything known about one device, from which its `_map` object is built.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeviceState {
    /// The device topic, e.g. `owntracks/gw/K2`.
    pub topic: String,
    pub fix: Option<Fix>,
    /// 1 connected, 0 connection lost, -1 disconnected on purpose.
    pub status: Option<i64>,
    pub info: Option<String>,
    pub imei: Option<String>,
    pub version: Option<String>,
    /// Odometer base in km, from the inventory.
    pub odo: Option<f64>,
    pub vbatt: Option<f64>,
    pub vext: Option<f64>,
    pub job: Option<Value>,
    pub jobname: Option<String>,
}

impl DeviceState {
    /// The `_map` object, or `None` while the device has no fix (a map needs a position).
    pub fn object(&self) -> Option<Value> {
        let fix = self.fix.as_ref()?;
        let mut map = fix.keys(&self.topic);
        map.insert("_type".into(), "location".into());
        if let Some(status) = self.status {
            map.insert("status".into(), status.into());
        }
        let text = |value: &Option<String>| value.clone().map(Value::from);
        let extras = [
            ("info", text(&self.info)),
            ("imei", text(&self.imei)),
            ("version", text(&self.version)),
            ("odo", self.odo.map(|odo| Value::from(truncate(odo)))),
            ("vbatt", self.vbatt.map(float)),
            ("vext", self.vext.map(float)),
            ("job", self.job.clone()),
            ("jobname", text(&self.jobname)),
        ];
        for (key, value) in extras {
            if let Some(value) = value {
                map.insert(key.into(), value);
            }
        }
        Some(Value::Object(map))
    }
}

/// The compass point of a course: 45° sectors counted from north (0–44° is `N`, 45–89° `NE`).
/// A negative course is the Greenwich's "unknown" and reads `N`, as the original showed it;
/// courses of 360° and more wrap around instead of failing.
pub fn compass(cog: f64) -> &'static str {
    if !cog.is_finite() || cog < 0.0 {
        return COMPASS[0];
    }
    let sector = (cog.rem_euclid(360.0) / 45.0) as usize;
    COMPASS[sector.min(COMPASS.len() - 1)]
}

/// `DD/HH:MM:SS` of a UNIX time, in UTC (the original used the server's zone).
pub fn dstamp(tst: i64) -> String {
    format_utc(tst, "%d/%H:%M:%S")
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a UNIX time.
pub fn tstamp(tst: i64) -> String {
    format_utc(tst, "%Y-%m-%dT%H:%M:%SZ")
}

/// `DD.MM HH:MM:SS` of a UNIX time, in UTC: the stamp of `_look` lines.
pub fn look_stamp(tst: i64) -> String {
    format_utc(tst, "%d.%m %H:%M:%S")
}

fn format_utc(tst: i64, layout: &str) -> String {
    DateTime::from_timestamp(tst, 0).map(|time| time.format(layout).to_string()).unwrap_or_default()
}

/// Whole numbers toward zero, as the original's `int()` made them.
fn truncate(value: f64) -> i64 {
    value.trunc() as i64
}

fn float(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
pub(crate) mod tests;
