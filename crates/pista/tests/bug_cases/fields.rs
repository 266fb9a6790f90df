//! Checks of single field values (B25, B26, B46): `trigger` read as `t`, an accuracy of 0 kept,
//! and coordinates held to their ranges, the poles and ±180° included.

use serde_json::{Value, json};

use super::Check;
use super::helpers::{
    EMPTY_ANSWER, bytes_of, fields, json_bytes, key, messages, post_like, publish, reasons,
    stored_json, text, transitions, with,
};
use crate::common::TestServer;

/// B25: `trigger` is read as `t`, and the region name with a space is kept.
pub async fn b25(input: Value, server: &TestServer) -> Check {
    let payload = bytes_of(&input);
    publish(server, &text(&input, "topic"), &payload).await;
    let alice = key("alice", "phone");
    ensure_eq!(
        transitions(server, &alice).await.iter().map(fields).collect::<Vec<_>>(),
        [(1462535360, Some(1462534036), "enter", Some("my waypoint"), Some("c"), Some(18.349))]
    );
    let messages = messages(server, Some(&alice)).await;
    let stored = stored_json(&messages[0]);
    ensure_eq!((stored.get("t"), stored.get("trigger")), (Some(&json!("c")), None));
    ensure_eq!(messages[0].original.as_deref(), Some(&payload[..]), "the client's bytes kept");

    // The same misspelling on a location.
    let location =
        br#"{"_type":"location","lat":11.11,"lon":22.22,"tst":1462535360,"trigger":"u"}"#;
    publish(server, "owntracks/alice/phone", location).await;
    let points = server.points("alice", "phone").await;
    ensure_eq!(points.len(), 1);
    ensure_eq!((points[0].json.get("t"), points[0].json.get("trigger")), (Some(&json!("u")), None));
    Ok(())
}

/// B26 (storage part): a beacon's leave event with `acc` 0 is stored, with acc 0.
pub async fn b26(input: Value, server: &TestServer) -> Check {
    let topic = text(&input, "topic");
    publish(server, &topic, &bytes_of(&input)).await;
    let leave = with(&input["payload"], json!({"tst": 1525241100, "acc": "0"}));
    publish(server, &topic, &json_bytes(&leave)).await;
    ensure_eq!(
        transitions(server, &key("ming", "redmi"))
            .await
            .iter()
            .map(|t| (t.tst, t.event.as_str(), t.desc.as_deref(), t.acc, t.trigger.as_deref()))
            .collect::<Vec<_>>(),
        [
            (1525241000, "leave", Some("MR"), Some(0.0), Some("b")),
            (1525241100, "leave", Some("MR"), Some(0.0), Some("b")),
        ]
    );
    // A position with acc 0 is not filtered either.
    let position = br#"{"_type":"location","lat":22.5,"lon":114,"tst":1525241000,"acc":0}"#;
    publish(server, "owntracks/ming/redmi", position).await;
    let points = server.points("ming", "redmi").await;
    ensure_eq!(points.iter().map(|p| &p.json["acc"]).collect::<Vec<_>>(), [&json!(0)]);
    Ok(())
}

/// B46: the poles and ±180° are accepted; anything outside the ranges is quarantined as
/// `invalid_message` with the range, and no NaN or infinity reaches the API.
pub async fn b46(input: Value, server: &TestServer) -> Check {
    let mut bodies: Vec<Vec<u8>> =
        input["sequence"].as_array().unwrap().iter().map(json_bytes).collect();
    bodies.push(br#"{"_type":"location","tst":1700000240,"lat":"NaN","lon":0}"#.to_vec());
    bodies.push(br#"{"_type":"location","tst":1700000300,"lat":1,"lon":"-Infinity"}"#.to_vec());
    bodies.push(br#"{"_type":"location","tst":1700000360,"lat":1,"lon":180.0000001}"#.to_vec());
    for body in &bodies {
        ensure_eq!(post_like(server, &input, body).await.summary(), EMPTY_ANSWER);
    }
    let (status, answer) =
        server.get("/api/0/locations?user=alice&device=phone&from=2023-11-14&to=2023-11-15").await;
    ensure_eq!(status, 200);
    let coordinates: Vec<(Value, Value)> = answer["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (item["lat"].clone(), item["lon"].clone()))
        .collect();
    ensure_eq!(coordinates, [(json!(90.0), json!(0.0)), (json!(-90.0), json!(180.0))]);
    ensure_eq!(
        reasons(server, None).await,
        [
            ["invalid_message", "location lat 90.000001 is out of range -90..=90"],
            ["invalid_message", "location lon -180.5 is out of range -180..=180"],
            ["invalid_message", "location lat is \"NaN\", expected a number"],
            ["invalid_message", "location lon is \"-Infinity\", expected a number"],
            ["invalid_message", "location lon 180.0000001 is out of range -180..=180"],
        ]
    );
    Ok(())
}
