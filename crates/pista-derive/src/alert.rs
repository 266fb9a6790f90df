//! The `_alerts` object the original published when a device entered or left a fence: the
//! event, the distance, the fence (`wplat`, `wplon`, `wpname`, and `wptopic`, here the topic of
//! the fence's owner) and the device's location keys, optionally only those named in
//! `alert_keys`. Unlike the original, the device's own `topic` is kept too, because a fence may
//! belong to someone else's device.

use serde_json::{Map, Value};

/// The fence an event is about, as the alert names it.
#[derive(Debug, Clone, PartialEq)]
pub struct FenceFacts<'a> {
    pub name: &'a str,
    pub lat: f64,
    pub lon: f64,
    /// The topic of the device that defined the fence, or Pista's own for fences set up on the
    /// server.
    pub owner_topic: &'a str,
}

/// Builds the alert for `entered` (else left) with the device's location `keys` (see
/// `map::Fix::keys`). `alert_keys`, when given, names the location keys to copy.
pub fn alert_object(
    keys: &Map<String, Value>,
    alert_keys: Option<&[String]>,
    entered: bool,
    meters: f64,
    fence: &FenceFacts<'_>,
) -> Value {
    let mut alert = Map::new();
    for (key, value) in keys {
        let wanted = alert_keys.is_none_or(|wanted| wanted.iter().any(|w| w == key));
        if key != "_type" && wanted {
            alert.insert(key.clone(), value.clone());
        }
    }
    alert.insert("_type".into(), "alert".into());
    alert.insert("trigger".into(), i64::from(entered).into());
    alert.insert("event".into(), if entered { "enters" } else { "leaves" }.into());
    alert.insert("meters".into(), (meters.max(0.0).trunc() as i64).into());
    alert.insert("km".into(), format!("{:.2}", meters.max(0.0) / 1000.0).into());
    alert.insert("wplat".into(), number(fence.lat));
    alert.insert("wplon".into(), number(fence.lon));
    alert.insert("wpname".into(), fence.name.into());
    alert.insert("wptopic".into(), fence.owner_topic.into());
    Value::Object(alert)
}

fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::Fix;
    use crate::map::tests::decode_location;
    use crate::wire;

    const LOADAYS: FenceFacts<'static> =
        FenceFacts { name: "LOADays", lat: 51.1694, lon: 4.38942, owner_topic: "owntracks/gw/BB" };

    /// The seed vector's alert, with the original's key set (the device `topic` left out).
    #[test]
    fn seed_alert_is_reproduced() {
        let location = decode_location(
            "owntracks/gw/BB",
            r#"{"_type":"location","lat":51.17,"lon":4.39,"tst":1414692409,"tid":"BB","t":"t","trip":30700,"dist":1,"alt":12,"cog":0,"vel":0}"#,
        );
        let keys = Fix::from_location(&location).keys("owntracks/gw/BB");
        let original: Vec<String> =
            "tid lat lon cog vel alt dstamp tstamp compass addr cc status tst t trip dist"
                .split(' ')
                .map(String::from)
                .collect();
        let alert = alert_object(&keys, Some(&original), true, 78.4, &LOADAYS);
        assert_eq!(
            wire::spaced(&alert),
            concat!(
                r#"{"_type": "alert", "addr": "unknown location", "alt": 12, "cc": "??", "#,
                r#""cog": 0, "compass": "N", "dist": 1, "dstamp": "30/18:06:49", "#,
                r#""event": "enters", "km": "0.08", "lat": 51.17, "lon": 4.39, "meters": 78, "#,
                r#""status": 1, "t": "t", "tid": "BB", "trigger": 1, "trip": 30700, "#,
                r#""tst": 1414692409, "tstamp": "2014-10-30T18:06:49Z", "vel": 0, "#,
                r#""wplat": 51.1694, "wplon": 4.38942, "wpname": "LOADays", "#,
                r#""wptopic": "owntracks/gw/BB"}"#
            )
        );
    }

    #[test]
    fn keys_are_filtered_and_the_device_topic_kept_by_default() {
        let location = decode_location(
            "owntracks/jane/phone",
            r#"{"_type":"location","lat":51.2,"lon":4.4,"tst":1414692409,"tid":"JP"}"#,
        );
        let keys = Fix::from_location(&location).keys("owntracks/jane/phone");
        let all = alert_object(&keys, None, false, 5123.9, &LOADAYS);
        assert_eq!(all["topic"], "owntracks/jane/phone");
        assert_eq!(all["wptopic"], "owntracks/gw/BB");
        assert_eq!(all["meters"], 5123);
        assert_eq!(all["km"], "5.12");
        assert_eq!(all["event"], "leaves");
        assert_eq!(all["trigger"], 0);

        let few = ["addr".to_owned(), "tst".to_owned(), "tid".to_owned()];
        let some = alert_object(&keys, Some(&few), true, 0.0, &LOADAYS);
        let names: Vec<&str> =
            some.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "tid", "addr", "tst", "_type", "trigger", "event", "meters", "km", "wplat",
                "wplon", "wpname", "wptopic"
            ]
        );
    }
}
