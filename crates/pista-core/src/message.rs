//! Every OwnTracks message type other than `location`, typed by the field lists of the protocol
//! (`transition`, `waypoint`, `waypoints`, `card`, `cmd`, `lwt`, `steps`, `beacon`, `status`,
//! `configuration`, `dump`, `encrypted`, `request`, and the legacy `msg`). Unknown types are kept
//! with their time typed when they have one. The parts later stages act on (region events,
//! regions, cards, commands) are pulled out into small structs; the whole normalised object is
//! kept too, so nothing the client sent is lost.

use serde_json::{Map, Value};

use crate::fields::{Field, FieldError, Schema, Ty, describe, opt, req};
use crate::time::read_epoch;
use crate::tour::{Request, read_request};

const EVENTS: &[&str] = &["enter", "leave"];

const TRANSITION: &[Field] = &[
    req("event", Ty::OneOf(EVENTS)),
    req("tst", Ty::Time),
    opt("wtst", Ty::Time),
    opt("lat", Ty::Number),
    opt("lon", Ty::Number),
    opt("acc", Ty::Number),
    opt("desc", Ty::Text),
    opt("tid", Ty::Text),
    opt("t", Ty::Text),
    opt("rid", Ty::Text),
    opt("created_at", Ty::Time),
    opt("_id", Ty::Text),
    opt("topic", Ty::Text),
];

const WAYPOINT: &[Field] = &[
    req("desc", Ty::Text),
    req("tst", Ty::Time),
    opt("lat", Ty::Number),
    opt("lon", Ty::Number),
    opt("rad", Ty::Number),
    opt("rid", Ty::Text),
    opt("uuid", Ty::Text),
    opt("major", Ty::Number),
    opt("minor", Ty::Number),
    opt("tid", Ty::Text),
    opt("shared", Ty::Bool),
    opt("transition", Ty::Bool),
    opt("_id", Ty::Text),
    opt("topic", Ty::Text),
];

const SCHEMAS: &[(&str, &[Field])] = &[
    ("transition", TRANSITION),
    ("waypoint", WAYPOINT),
    (
        "waypoints",
        &[
            req("waypoints", Ty::Array),
            opt("_creator", Ty::Text),
            opt("_id", Ty::Text),
            opt("topic", Ty::Text),
        ],
    ),
    (
        "card",
        &[
            opt("name", Ty::Text),
            opt("face", Ty::Text),
            opt("tid", Ty::Text),
            opt("_id", Ty::Text),
            opt("topic", Ty::Text),
        ],
    ),
    ("cmd", &[req("action", Ty::Text), opt("_id", Ty::Text), opt("topic", Ty::Text)]),
    ("lwt", &[opt("tst", Ty::Time), opt("tid", Ty::Text)]),
    (
        "steps",
        &[
            opt("tst", Ty::Time),
            opt("from", Ty::Time),
            opt("to", Ty::Time),
            opt("steps", Ty::Number),
            opt("floorsup", Ty::Number),
            opt("floorsdown", Ty::Number),
            opt("distance", Ty::Number),
            opt("topic", Ty::Text),
        ],
    ),
    (
        "beacon",
        &[
            opt("tst", Ty::Time),
            opt("tid", Ty::Text),
            opt("uuid", Ty::Text),
            opt("major", Ty::Number),
            opt("minor", Ty::Number),
            opt("prox", Ty::Number),
            opt("acc", Ty::Number),
            opt("rssi", Ty::Number),
            opt("desc", Ty::Text),
            opt("topic", Ty::Text),
        ],
    ),
    ("status", &[opt("iOS", Ty::Object), opt("android", Ty::Object), opt("_id", Ty::Text)]),
    ("configuration", &[opt("waypoints", Ty::Array), opt("_id", Ty::Text)]),
    ("dump", &[opt("configuration", Ty::Object)]),
    ("encrypted", &[req("data", Ty::Text), opt("_id", Ty::Text)]),
    ("request", &[req("request", Ty::Text), opt("tour", Ty::Object), opt("uuid", Ty::Text)]),
    (
        "msg",
        &[
            opt("tst", Ty::Time),
            opt("ttl", Ty::Number),
            opt("prio", Ty::Number),
            opt("title", Ty::Text),
            opt("desc", Ty::Text),
            opt("url", Ty::Text),
            opt("icon", Ty::Text),
            opt("iconurl", Ty::Text),
            opt("sender", Ty::Text),
        ],
    ),
];

/// A region event the device reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// `true` for `enter`, `false` for `leave`.
    pub enter: bool,
    pub tst: i64,
    /// When the region was created (its identity on Android); `None` when absent or implausible.
    pub wtst: Option<i64>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub acc: Option<f64>,
    pub desc: Option<String>,
    pub trigger: Option<String>,
    pub rid: Option<String>,
}

/// A monitored region of a device.
#[derive(Debug, Clone, PartialEq)]
pub struct Waypoint {
    /// Creation time: the region's identity on the device.
    pub tst: i64,
    pub desc: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub rad: Option<f64>,
    pub rid: Option<String>,
    /// The waypoint as normalised JSON.
    pub json: Map<String, Value>,
}

/// A display name and face image.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub name: Option<String>,
    pub face: Option<String>,
    pub tid: Option<String>,
}

/// What later stages act on, taken out of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    None,
    Transition(Transition),
    /// From `waypoint` (one) or `waypoints` (the device's list).
    Waypoints(Vec<Waypoint>),
    Card(Card),
    /// A last will: the device went offline.
    Lwt,
    /// An envelope to decrypt.
    Encrypted {
        data: String,
    },
    /// A request to the server (tours).
    Request(Box<Request>),
}

/// A typed message other than a location.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub msg_type: String,
    /// The message's own time (`tst`), when it has a usable one.
    pub tst: Option<i64>,
    pub detail: Detail,
    /// The client's object with its fields typed.
    pub json: Map<String, Value>,
    pub repairs: Vec<String>,
    /// Whether secrets in it (passwords, the encryption key) were replaced by `***`; the
    /// client's bytes are then not kept either.
    pub masked: bool,
}

/// Waypoint creation times before this (2001-09-09) are not times but a client's mistake, such
/// as a value divided by 1000 twice.
const PLAUSIBLE_WTST: i64 = 1_000_000_000;

impl Message {
    /// Types a JSON message whose `_type` is `msg_type` (anything but `location`).
    pub fn from_json(msg_type: &str, mut object: Map<String, Value>) -> Result<Self, FieldError> {
        let mut notes = Vec::new();
        if msg_type == "transition"
            && !object.contains_key("t")
            && let Some(trigger) = object.remove("trigger")
        {
            object.insert("t".to_owned(), trigger);
            notes.push("trigger: read as t".to_owned());
        }
        let fields = SCHEMAS.iter().find(|(name, _)| *name == msg_type).map(|(_, f)| *f);
        let typed = match fields {
            Some(fields) => Schema { msg_type, fields }.apply(object)?,
            None => crate::fields::Typed { json: object, repairs: Vec::new() },
        };
        let mut json = typed.json;
        let mut repairs = typed.repairs;
        repairs.extend(notes);
        // Masked first, so no copy taken below (a region's JSON) holds a credential either.
        let hidden = crate::secrets::mask_json(&mut json);
        let masked = !hidden.is_empty();
        if masked {
            repairs.push(format!("{}: secret masked", hidden.join(", ")));
        }

        let tst = match fields {
            Some(_) => json.get("tst").and_then(Value::as_i64),
            // Unknown types: type the time if it reads cleanly, leave the object untouched.
            None => read_epoch("tst", json.get("tst")).ok().map(|(seconds, _)| seconds),
        };
        let detail = match msg_type {
            "transition" => Detail::Transition(transition(&json, &mut repairs)),
            "waypoint" => match waypoint(json.clone()) {
                Ok(point) => Detail::Waypoints(vec![point]),
                Err(problem) => {
                    repairs.push(format!("not kept as a region: {problem}"));
                    Detail::Waypoints(Vec::new())
                }
            },
            "waypoints" => Detail::Waypoints(waypoints(&json, &mut repairs)),
            "card" => Detail::Card(Card {
                name: text(&json, "name"),
                face: text(&json, "face"),
                tid: text(&json, "tid"),
            }),
            "lwt" => Detail::Lwt,
            "encrypted" => Detail::Encrypted { data: text(&json, "data").unwrap_or_default() },
            "request" => Detail::Request(Box::new(read_request(&json))),
            _ => Detail::None,
        };
        Ok(Self { msg_type: msg_type.to_owned(), tst, detail, json, repairs, masked })
    }
}

fn transition(json: &Map<String, Value>, repairs: &mut Vec<String>) -> Transition {
    let wtst = json.get("wtst").and_then(Value::as_i64);
    let plausible = wtst.filter(|w| *w >= PLAUSIBLE_WTST);
    if let (Some(w), None) = (wtst, plausible) {
        repairs.push(format!("wtst: {w} is not a plausible creation time, not used"));
    }
    Transition {
        enter: json.get("event").and_then(Value::as_str) == Some("enter"),
        tst: json.get("tst").and_then(Value::as_i64).unwrap_or_default(),
        wtst: plausible,
        lat: number(json, "lat"),
        lon: number(json, "lon"),
        acc: number(json, "acc"),
        desc: text(json, "desc"),
        trigger: text(json, "t"),
        rid: text(json, "rid"),
    }
}

/// One waypoint object (also an element of `waypoints`); `None` when it is not usable.
fn waypoint(object: Map<String, Value>) -> Result<Waypoint, String> {
    let typed = Schema { msg_type: "waypoint", fields: WAYPOINT }
        .apply(object)
        .map_err(|error| error.to_string())?;
    let json = typed.json;
    for (name, max) in [("lat", 90.0), ("lon", 180.0)] {
        if let Some(value) = number(&json, name).filter(|v| v.abs() > max) {
            return Err(format!("waypoint {name} {value} is out of range -{max}..={max}"));
        }
    }
    Ok(Waypoint {
        tst: json.get("tst").and_then(Value::as_i64).unwrap_or_default(),
        desc: text(&json, "desc").unwrap_or_default(),
        lat: number(&json, "lat"),
        lon: number(&json, "lon"),
        rad: number(&json, "rad"),
        rid: text(&json, "rid"),
        json,
    })
}

fn waypoints(json: &Map<String, Value>, repairs: &mut Vec<String>) -> Vec<Waypoint> {
    let items = json.get("waypoints").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let result = match item {
            Value::Object(object) => waypoint(object),
            other => Err(format!("is {}, not an object", describe(&other))),
        };
        match result {
            Ok(point) => out.push(point),
            Err(problem) => repairs.push(format!("waypoints[{index}]: skipped, {problem}")),
        }
    }
    out
}

fn text(json: &Map<String, Value>, name: &str) -> Option<String> {
    json.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn number(json: &Map<String, Value>, name: &str) -> Option<f64> {
    json.get(name).and_then(Value::as_f64)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn typed(value: Value) -> Result<Message, FieldError> {
        let Value::Object(object) = value else { panic!("objects only") };
        let msg_type = object["_type"].as_str().unwrap().to_owned();
        Message::from_json(&msg_type, object)
    }

    #[test]
    fn transitions_are_typed_with_the_app_quirks() {
        // Android sent `trigger` for `t` (android#372), a float acc, and once a wtst divided by
        // 1000 (android#631).
        let message = typed(json!({"_type":"transition","acc":18.349,"desc":"my waypoint",
            "event":"enter","lat":11.11,"lon":22.22,"tid":"6p","trigger":"c","tst":1462535360,
            "wtst":1544357}))
        .unwrap();
        assert_eq!(message.tst, Some(1462535360));
        assert_eq!(
            message.detail,
            Detail::Transition(Transition {
                enter: true,
                tst: 1462535360,
                wtst: None,
                lat: Some(11.11),
                lon: Some(22.22),
                acc: Some(18.349),
                desc: Some("my waypoint".to_owned()),
                trigger: Some("c".to_owned()),
                rid: None,
            })
        );
        assert_eq!(
            message.repairs,
            ["trigger: read as t", "wtst: 1544357 is not a plausible creation time, not used"]
        );
        let error = typed(json!({"_type":"transition","event":1,"tst":1708968445})).unwrap_err();
        assert_eq!(error.to_string(), "transition event is 1, expected one of enter, leave");
        let error = typed(json!({"_type":"transition","event":"enter"})).unwrap_err();
        assert_eq!(error.to_string(), "transition has no tst");
    }

    #[test]
    fn waypoints_keep_the_good_elements() {
        let message = typed(json!({"_type":"waypoints","waypoints":[
            {"_type":"waypoint","desc":"Home","lat":"52.1","lon":5.1,"rad":100,"tst":1505910709000_i64},
            {"desc":"no time","lat":1,"lon":1},
            7,
            {"desc":"off the map","lat":100,"lon":1,"tst":1690000000}
        ]}))
        .unwrap();
        let Detail::Waypoints(points) = &message.detail else { panic!("{message:?}") };
        assert_eq!(
            points.iter().map(|p| (p.tst, p.desc.as_str(), p.lat, p.rad)).collect::<Vec<_>>(),
            [(1505910709, "Home", Some(52.1), Some(100.0))]
        );
        assert_eq!(
            message.repairs,
            [
                "waypoints[1]: skipped, waypoint has no tst",
                "waypoints[2]: skipped, is 7, not an object",
                "waypoints[3]: skipped, waypoint lat 100 is out of range -90..=90"
            ]
        );
    }

    #[test]
    fn credentials_are_masked_wherever_they_are() {
        let message = typed(json!({"_type":"dump","configuration":{"_type":"configuration",
            "password":"mqttpw123","encryptionKey":"the secret","host":"h","tid":"JJ",
            "waypoints":[{"desc":"x","pass":"p"}]}}))
        .unwrap();
        assert!(message.masked);
        assert_eq!(
            Value::Object(message.json),
            json!({"_type":"dump","configuration":{"_type":"configuration","password":"***",
                "encryptionKey":"***","host":"h","tid":"JJ","waypoints":[{"desc":"x","pass":"***"}]}})
        );
        assert_eq!(
            message.repairs,
            ["configuration.password, configuration.encryptionKey, \
                 configuration.waypoints[0].pass: secret masked"]
        );
        let region = typed(json!({"_type":"waypoint","desc":"Gate","tst":1690000000,
            "Pass":"1234"}))
        .unwrap();
        let Detail::Waypoints(points) = &region.detail else { panic!("{region:?}") };
        assert_eq!(Value::Object(points[0].json.clone())["Pass"], json!("***"));
        let plain = typed(json!({"_type":"configuration","host":"h","password":""})).unwrap();
        assert!(!plain.masked);
    }

    #[test]
    fn other_types_are_typed_or_kept() {
        let cases = [
            (json!({"_type":"lwt"}), None, Detail::Lwt),
            (json!({"_type":"lwt","tst":"1700000000"}), Some(1700000000), Detail::Lwt),
            (
                json!({"_type":"card","name":"Jane","face":"aGk=","tid":"JJ"}),
                None,
                Detail::Card(Card {
                    name: Some("Jane".to_owned()),
                    face: Some("aGk=".to_owned()),
                    tid: Some("JJ".to_owned()),
                }),
            ),
            (
                json!({"_type":"encrypted","data":"abc"}),
                None,
                Detail::Encrypted { data: "abc".to_owned() },
            ),
            (json!({"_type":"steps","tst":1,"steps":-1}), Some(1), Detail::None),
            (json!({"_type":"something","tst":1700000000}), Some(1700000000), Detail::None),
            (json!({"_type":"something","tst":"later"}), None, Detail::None),
        ];
        for (input, tst, detail) in cases {
            let message = typed(input.clone()).unwrap();
            assert_eq!((message.tst, message.detail), (tst, detail), "{input}");
        }
        assert_eq!(typed(json!({"_type":"cmd"})).unwrap_err().to_string(), "cmd has no action");
        assert_eq!(
            typed(json!({"_type":"encrypted","data":null})).unwrap_err().to_string(),
            "encrypted data is null, expected text"
        );
    }
}
