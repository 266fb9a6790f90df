//! Checks of how payloads are read (B11–B17): white space does not matter, cut-off JSON is
//! quarantined and large payloads arrive whole, fields of the wrong type are refused or dropped
//! with the reason in words, the content type is not trusted, and subtopics Pista does not read
//! are ignored.

use serde_json::{Value, json};

use super::Check;
use super::helpers::{
    EMPTY_ANSWER, NO_TSTS, bytes_of, fields, headers_of, held, json_bytes, json_error, key,
    messages, post, publish, publish_large, publish_messages, quarantine, stat, store, stored_json,
    text, transitions, tsts, with,
};
use crate::common::{self, TestServer};

/// B11: pretty-printed JSON is accepted, and what is stored and read back does not depend on
/// white space.
pub async fn b11(input: Value, server: &TestServer) -> Check {
    let pretty = bytes_of(&input);
    ensure_eq!(post(server, &text(&input, "path"), &[], &pretty).await.summary(), EMPTY_ANSWER);
    let compact = json_bytes(&serde_json::from_slice::<Value>(&pretty).unwrap());
    let tabs = String::from_utf8(pretty.clone()).unwrap().replace('\n', "\r\n\t");
    ensure_eq!(post(server, "/pub?u=test2&d=compact", &[], &compact).await.status, 200);
    ensure_eq!(post(server, "/pub?u=test2&d=tabs", &[], tabs.as_bytes()).await.status, 200);

    let (status, body) =
        server.get("/api/0/locations?user=test2&device=phone2&from=2022-01-08&to=2022-01-09").await;
    ensure_eq!(status, 200);
    ensure_eq!(body["count"], json!(1));
    let item = common::without_isorcv(&body["data"][0]);
    ensure_eq!(
        item,
        json!({"_type":"location","acc":0,"lat":51.5178,"lon":-0.184,"tid":"t2","tst":1641660323,
            "isotst":"2022-01-08T16:45:23Z","disptst":"2022-01-08 16:45:23"})
    );
    let stored = server.points("test2", "phone2").await;
    for device in ["compact", "tabs"] {
        let other = server.points("test2", device).await;
        ensure_eq!(other.len(), 1, "{device}");
        ensure_eq!(other[0].json, stored[0].json, "{device}");
    }
    Ok(())
}

/// B13: a payload cut off mid-key is quarantined as `invalid_json`, nothing of it is stored,
/// and large payloads are read whole.
pub async fn b13(input: Value, server: &TestServer) -> Check {
    let topic = text(&input, "topic");
    let cut = bytes_of(&input);
    publish(server, &topic, &cut).await;
    let cut_value = br#"{"_type":"location","lat":47.7,"lon":9.2,"tst":14948"#;
    let cut_array = br#"[{"_type":"location","lat":47.7,"lon":9.2,"tst":1494851972},{"_ty"#;
    publish(server, &topic, cut_value).await;
    let reply = post(server, "/pub?u=alice&d=phone", &[], cut_array).await;
    ensure_eq!(reply.summary(), EMPTY_ANSWER);
    let want: Vec<_> = [&cut[..], cut_value, cut_array]
        .iter()
        .map(|bytes| held("invalid_json", &json_error(bytes), None, bytes))
        .collect();
    ensure_eq!(quarantine(server, Some(&key("alice", "phone"))).await, want);
    ensure_eq!(tsts(server, "alice", "phone").await, NO_TSTS);
    ensure!(messages(server, None).await.is_empty(), "nothing stored");

    // 300 KiB arrive whole.
    let note = "x".repeat(300 * 1024);
    let big = json!({"_type":"location","lat":47.7233,"lon":9.2279,"tst":1494851972,"note":note});
    publish_large(server, &topic, &json_bytes(&big)).await;
    let points = server.points("alice", "phone").await;
    ensure_eq!(points.len(), 1);
    ensure_eq!(points[0].json["note"].as_str().map(str::len), Some(300 * 1024));
    Ok(())
}

/// B14: a transition whose `event` is a number is quarantined with the reason in words, the
/// server goes on; an optional field of the wrong type is dropped, a required one refuses
/// the message.
pub async fn b14(input: Value, server: &TestServer) -> Check {
    let topic = text(&input, "topic");
    let payload = bytes_of(&input);
    publish(server, &topic, &payload).await;
    let alice = key("alice", "phone");
    ensure_eq!(
        quarantine(server, Some(&alice)).await,
        [held(
            "invalid_message",
            "transition event is 1, expected one of enter, leave",
            Some("transition"),
            &payload
        )]
    );
    ensure!(transitions(server, &alice).await.is_empty(), "no region event");

    // More required fields of the wrong type.
    let event_list = with(&input["payload"], json!({"event": ["enter"]}));
    let event_word = with(&input["payload"], json!({"event": "inside"}));
    for body in [&event_list, &event_word] {
        publish(server, &topic, &json_bytes(body)).await;
    }
    let problems: Vec<String> =
        quarantine(server, Some(&alice)).await.into_iter().map(|(_, p, _, _)| p).collect();
    ensure_eq!(
        problems[1..],
        [
            "transition event is an array, expected one of enter, leave",
            "transition event is \"inside\", expected one of enter, leave",
        ]
    );

    // Optional fields of the wrong type (desc an object, tid an array) are dropped, and the
    // next message is handled.
    let odd = with(&input["payload"], json!({"event": "enter", "desc": {"x": 1}, "tid": ["a"]}));
    publish(server, &topic, &json_bytes(&odd)).await;
    ensure_eq!(
        transitions(server, &alice)
            .await
            .iter()
            .map(|t| (t.tst, t.event.as_str(), t.desc.clone()))
            .collect::<Vec<_>>(),
        [(1708968445, "enter", None)]
    );
    let messages = messages(server, Some(&alice)).await;
    let stored = stored_json(&messages[0]);
    ensure_eq!((stored.get("desc"), stored.get("tid")), (None, None), "dropped: {stored}");
    ensure_eq!(messages[0].original.as_deref(), Some(&json_bytes(&odd)[..]));
    Ok(())
}

/// B14, the time part of a transition: the README's one time rule gives the time codes.
pub async fn b14_transition_tst(input: Value, server: &TestServer) -> Check {
    let topic = text(&input, "topic");
    let base = with(&input["payload"], json!({"event": "enter"}));
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("tst");
    let zero = with(&base, json!({"tst": 0}));
    let object = with(&base, json!({"tst": {"s": 1}}));
    for body in [&missing, &zero, &object] {
        publish(server, &topic, &json_bytes(body)).await;
    }
    let reasons: Vec<String> = quarantine(server, Some(&key("alice", "phone")))
        .await
        .into_iter()
        .map(|(reason, _, _, _)| reason)
        .collect();
    ensure_eq!(reasons, ["tst_missing", "tst_zero", "tst_unreadable"]);
    Ok(())
}

/// B16: the body is read as JSON whatever the content type says.
pub async fn b16(input: Value, server: &TestServer) -> Check {
    let body = bytes_of(&input);
    let mut variants = vec![("form", headers_of(&input))];
    for (device, content_type) in [
        ("plain", Some("text/plain")),
        ("octets", Some("application/octet-stream")),
        ("none", None),
    ] {
        let headers = content_type.map(|t| vec![("Content-Type".to_owned(), t.to_owned())]);
        variants.push((device, headers.unwrap_or_default()));
    }
    for (device, headers) in variants {
        // Pista's HTTP-mode path is /pub; the case's path belongs to another server.
        let reply = post(server, &format!("/pub?u=ne&d={device}"), &headers, &body).await;
        ensure_eq!(reply.summary(), EMPTY_ANSWER, "{device}");
        let points = server.points("ne", device).await;
        ensure_eq!(
            points.iter().map(|p| (p.tst, p.lat, p.lon)).collect::<Vec<_>>(),
            [(1732559897, 37.33, -122.03)],
            "{device}"
        );
        ensure_eq!((&points[0].json["tid"], &points[0].json["acc"]), (&json!("NE"), &json!(4)));
    }
    ensure!(quarantine(server, None).await.is_empty(), "nothing quarantined");
    Ok(())
}

/// B17: a message on a subtopic Pista does not read is ignored and counted and makes up no
/// device; the transition is stored for alice/phone.
pub async fn b17(input: Value, server: &TestServer) -> Check {
    publish_messages(server, &input).await;
    ensure_eq!(stat(server, |s| &s.ignored), 1);
    ensure_eq!(
        transitions(server, &key("alice", "phone")).await.iter().map(fields).collect::<Vec<_>>(),
        [(1700000000, Some(1690000000), "leave", Some("Work"), Some("c"), Some(12.0))]
    );

    // Other levels below a device and unknown subtopics, JSON or not.
    let location = br#"{"_type":"location","lat":1,"lon":1,"tst":1700000000}"#;
    publish(server, "owntracks/wemos/gps/$fw", b"1.0.2").await;
    publish(server, "owntracks/alice/phone/homie/$state", location).await;
    ensure_eq!(stat(server, |s| &s.ignored), 3);
    ensure_eq!(server.get("/api/0/list").await, (200, json!({"results": ["alice"]})));
    ensure_eq!(server.get("/api/0/list?user=alice").await.1, json!({"results": ["phone"]}));
    ensure_eq!(store(server).device_state(&key("wemos", "gps")).await.unwrap(), None);
    ensure_eq!(tsts(server, "alice", "phone").await, NO_TSTS);
    ensure_eq!(messages(server, None).await.len(), 1);
    ensure!(quarantine(server, None).await.is_empty(), "nothing quarantined");
    Ok(())
}
