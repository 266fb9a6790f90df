//! What HTTP mode sends back to the posting device: the card and last location of every device
//! its user may see (the friends list), then the commands queued for it. Every object passes the
//! strictest shipped parser (Android 2.5.7–2.5.9 rejects the whole array for one unknown type,
//! unknown command or location without `tid`/`lat`/`lon`/`tst`), so anything that would not is
//! left out. When the request was encrypted, the array is sealed with the device's secret.

use std::collections::{BTreeMap, BTreeSet};

use pista_core::crypto::{self, Secret};
use pista_core::{DeviceKey, DeviceName, UserName};
use pista_store::{LastLocation, Storage, StoreError, StoredCard};
use serde_json::{Map, Value, json};

/// Command actions the apps accept; anything else would break Android's parser.
pub const ACTIONS: &[&str] = &[
    "reportLocation",
    "reportSteps",
    "dump",
    "status",
    "waypoints",
    "setWaypoints",
    "clearWaypoints",
    "setConfiguration",
    "response",
];

/// Location fields copied into a friend's location when they hold numbers.
const NUMBERS: &[&str] = &["acc", "alt", "vac", "vel", "cog", "batt", "bs"];

/// Builds the answer array for `key`, taking its queued commands as delivered at `now`. The
/// friends are those configured for the user and those in `shared` (devices shared with the
/// user: an owner with one device or all), each shown only if `visible` says the user may see
/// it.
pub async fn friends_and_commands(
    store: &dyn Storage,
    key: &DeviceKey,
    now: i64,
    shared: Vec<(UserName, Option<DeviceName>)>,
    visible: impl Fn(&DeviceKey) -> bool,
) -> Result<Vec<Value>, StoreError> {
    let mut answer = Vec::new();
    let mut shown = BTreeSet::new();
    // Only the cards of the users this device sees, each user's read once.
    let mut cards: BTreeMap<UserName, Vec<StoredCard>> = BTreeMap::new();
    let mut friends = store.answer_friends(&key.user).await?;
    friends.extend(shared);
    for (friend, device) in friends {
        if !cards.contains_key(&friend) {
            cards.insert(friend.clone(), store.cards(Some(&friend)).await?);
        }
        let cards = cards.get(&friend).map(Vec::as_slice).unwrap_or_default();
        for last in store.last(Some(&friend), device.as_ref()).await? {
            if !visible(&last.key) || !shown.insert(last.key.clone()) {
                continue;
            }
            let Some(location) = friend_location(&last) else { continue };
            let tid = location["tid"].clone();
            if let Some(card) = card_for(cards, &last.key, tid) {
                answer.push(card);
            }
            answer.push(location);
        }
    }
    for command in store.take_http_commands(key, now).await? {
        match serde_json::from_str::<Value>(&command.payload) {
            Ok(value) if is_sendable_command(&value) => answer.push(value),
            // An Activo job command (`job_control`) is on record, but no app could read it: the
            // box sits behind a Greenwich, which takes it over MQTT.
            Ok(value) if value["action"].as_str().is_some_and(|a| a.starts_with("jobs/")) => {
                tracing::debug!(device = %key, id = command.id, "activo command not in an http answer");
            }
            _ => tracing::warn!(device = %key, id = command.id, "stored command not sendable"),
        }
    }
    Ok(answer)
}

/// Seals `answer` as one envelope with `secret`.
pub fn encrypted(answer: &[Value], secret: &str) -> Option<Value> {
    let secret = Secret::new(secret).ok()?;
    let text = serde_json::to_vec(answer).ok()?;
    Some(json!({"_type": "encrypted", "data": crypto::seal(&secret, &text)}))
}

fn friend_location(last: &LastLocation) -> Option<Value> {
    let stored = &last.location;
    let tid = stored.json.get("tid").and_then(Value::as_str).filter(|t| !t.is_empty())?;
    if stored.tst <= 0 {
        return None;
    }
    let mut object = Map::new();
    object.insert("_type".to_owned(), json!("location"));
    object.insert("tid".to_owned(), json!(tid));
    object.insert("lat".to_owned(), json!(stored.lat));
    object.insert("lon".to_owned(), json!(stored.lon));
    object.insert("tst".to_owned(), json!(stored.tst));
    for name in NUMBERS {
        if let Some(value) = stored.json.get(*name).filter(|v| v.is_number()) {
            object.insert((*name).to_owned(), value.clone());
        }
    }
    object.insert(
        "topic".to_owned(),
        json!(format!("owntracks/{}/{}", last.key.user, last.key.device)),
    );
    Some(Value::Object(object))
}

/// The device's card, else its user's, if it has a name or a face; keyed to `tid`.
fn card_for(cards: &[StoredCard], key: &DeviceKey, tid: Value) -> Option<Value> {
    let (name, face) = card_of(cards, key)?;
    let mut object = Map::new();
    object.insert("_type".to_owned(), json!("card"));
    object.insert("tid".to_owned(), tid);
    if let Some(name) = name {
        object.insert("name".to_owned(), json!(name));
    }
    if let Some(face) = face {
        object.insert("face".to_owned(), json!(face));
    }
    Some(Value::Object(object))
}

/// The name and face of the device's card, else of its user's, if it has a name or a face.
pub(crate) fn card_of<'a>(
    cards: &'a [StoredCard],
    key: &DeviceKey,
) -> Option<(Option<&'a String>, Option<&'a String>)> {
    let user = key.user.as_str();
    let device = Some(key.device.as_str().to_owned());
    // The apps decode the face as base64 image data; an empty or undecodable one is left out,
    // and a device card with nothing usable left gives way to the user's card.
    cards
        .iter()
        .filter(|c| c.user == user && c.device == device)
        .chain(cards.iter().filter(|c| c.user == user && c.device.is_none()))
        .find_map(usable)
}

/// The name and face of a card the apps can show, if any is left.
fn usable(card: &StoredCard) -> Option<(Option<&String>, Option<&String>)> {
    let name = card.name.as_ref().filter(|name| !name.trim().is_empty());
    let face = card.face.as_ref().filter(|face| is_base64(face));
    (name.is_some() || face.is_some()).then_some((name, face))
}

fn is_base64(text: &str) -> bool {
    use base64::Engine;
    !text.is_empty() && base64::engine::general_purpose::STANDARD.decode(text.trim()).is_ok()
}

/// Whether a command object is one the apps accept.
pub fn is_sendable_command(value: &Value) -> bool {
    value.get("_type").and_then(Value::as_str) == Some("cmd")
        && value.get("action").and_then(Value::as_str).is_some_and(|a| ACTIONS.contains(&a))
}

/// Builds a `cmd` message from an action and optional extra members.
pub fn command(action: &str, extra: Option<Map<String, Value>>) -> Result<Value, String> {
    if !ACTIONS.contains(&action) {
        return Err(format!("unknown command action {action:?}; known: {}", ACTIONS.join(", ")));
    }
    let mut object = Map::new();
    object.insert("_type".to_owned(), json!("cmd"));
    object.insert("action".to_owned(), json!(action));
    for (name, value) in extra.unwrap_or_default() {
        if name == "_type" || name == "action" {
            return Err(format!("the extra members may not set {name}; the action is {action}"));
        }
        object.insert(name, value);
    }
    let ok = match action {
        "setWaypoints" => object.get("waypoints").is_some_and(is_waypoint_list),
        "setConfiguration" => object.get("configuration").is_some_and(|c| {
            c.get("_type").and_then(Value::as_str) == Some("configuration")
                && c.get("waypoints").is_none_or(are_regions)
        }),
        "response" => object.get("request").is_some_and(Value::is_string),
        _ => true,
    };
    if !ok {
        let needs = match action {
            "setWaypoints" => concat!(
                r#"a "waypoints" member {"_type":"waypoints","waypoints":[...]} "#,
                r#"whose regions each have a text "desc" and a numeric "tst""#
            ),
            "setConfiguration" => r#"a "configuration" member {"_type":"configuration",...}"#,
            _ => r#"a text "request" member"#,
        };
        return Err(format!("action {action} needs {needs}"));
    }
    Ok(Value::Object(object))
}

/// `{"_type":"waypoints","waypoints":[...]}` whose regions the apps can read.
fn is_waypoint_list(value: &Value) -> bool {
    value.get("_type").and_then(Value::as_str) == Some("waypoints")
        && value.get("waypoints").is_some_and(are_regions)
}

/// An array of regions each with a text `desc`, a positive whole `tst`, and numbers where the
/// apps expect numbers (`lat`, `lon`, `rad`, `major`, `minor`; out-of-range coordinates are the
/// apps' way to delete a region, so any number is allowed).
fn are_regions(value: &Value) -> bool {
    let number_or_absent =
        |region: &Value, name: &str| region.get(name).is_none_or(Value::is_number);
    value.as_array().is_some_and(|regions| {
        regions.iter().all(|region| {
            region.get("desc").is_some_and(Value::is_string)
                && region.get("tst").and_then(Value::as_i64).is_some_and(|tst| tst > 0)
                && ["lat", "lon", "rad", "major", "minor"]
                    .iter()
                    .all(|name| number_or_absent(region, name))
        })
    })
}

/// The topic a device reads its commands from.
pub fn command_topic(key: &DeviceKey) -> String {
    format!("owntracks/{}/{}/cmd", key.user, key.device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_checked_before_they_are_queued() {
        assert_eq!(
            command("reportLocation", None).unwrap(),
            json!({"_type":"cmd","action":"reportLocation"})
        );
        let extra = json!({"waypoints":{"_type":"waypoints","waypoints":[]}});
        let Value::Object(extra) = extra else { unreachable!() };
        assert_eq!(
            command("setWaypoints", Some(extra)).unwrap(),
            json!({"_type":"cmd","action":"setWaypoints","waypoints":{"_type":"waypoints","waypoints":[]}})
        );
        assert_eq!(
            command("nope", None).unwrap_err(),
            "unknown command action \"nope\"; known: reportLocation, reportSteps, dump, status, \
             waypoints, setWaypoints, clearWaypoints, setConfiguration, response"
        );
        assert_eq!(
            command("setConfiguration", None).unwrap_err(),
            r#"action setConfiguration needs a "configuration" member {"_type":"configuration",...}"#
        );
        let bad = |extra: Value| {
            let Value::Object(extra) = extra else { unreachable!() };
            command("setWaypoints", Some(extra)).unwrap_err()
        };
        let needs = "action setWaypoints needs a \"waypoints\" member \
                     {\"_type\":\"waypoints\",\"waypoints\":[...]} whose regions each have a text \
                     \"desc\" and a numeric \"tst\"";
        assert_eq!(bad(json!({"waypoints":"notalist"})), needs);
        for region in [json!({"desc":"a","tst":1e300}), json!({"desc":"a","tst":1,"lat":"x"})] {
            let list = json!({"waypoints":{"_type":"waypoints","waypoints":[region]}});
            assert_eq!(bad(list), needs);
        }
        let deleting = json!({"desc":"a","tst":1,"lat":-1000,"lon":-1000});
        let Value::Object(extra) =
            json!({"waypoints":{"_type":"waypoints","waypoints":[deleting]}})
        else {
            unreachable!()
        };
        assert!(command("setWaypoints", Some(extra)).is_ok());
        assert_eq!(bad(json!({"waypoints":{"_type":"waypoints","waypoints":[{"junk":1}]}})), needs);
        assert_eq!(
            bad(json!({"action":"dump"})),
            "the extra members may not set action; the action is setWaypoints"
        );
        assert_eq!(
            command("response", None).unwrap_err(),
            "action response needs a text \"request\" member"
        );
    }
}
