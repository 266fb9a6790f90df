//! Checks of the one time rule (B01–B08): RFC 3339 times converted, missing and zero times
//! quarantined, milliseconds divided, fixes before the 2008 floor refused, an implausible
//! region time kept but not used, and late uploads filed by their fix time.

use serde_json::{Value, json};

use super::Check;
use super::helpers::{
    EMPTY_ANSWER, NO_TSTS, bytes_of, fields, held, json_bytes, key, messages, post, post_like,
    publish, quarantine, reasons, stat, store, stored_json, text, transitions, tsts, with,
};
use crate::common::TestServer;

/// B01: an RFC 3339 `tst` is converted to seconds (never a truncated number or 1970), the same
/// over MQTT and HTTP; a time without a zone is not guessed.
pub async fn b01(input: Value, server: &TestServer) -> Check {
    let payload = bytes_of(&input);
    publish(server, &text(&input, "topic"), &payload).await;
    let points = server.points("alice", "phone").await;
    ensure_eq!(points.len(), 1, "one point over MQTT");
    ensure_eq!((points[0].tst, points[0].lat, points[0].lon), (1616411463, 66.8421, 25.5685));
    ensure_eq!(points[0].json["tst"], json!(1616411463), "tst is stored as seconds");
    ensure_eq!((&points[0].json["acc"], &points[0].json["tid"]), (&json!(42), &json!("al")));
    ensure_eq!(
        points[0].repairs,
        ["tst: \"2021-03-22T11:11:03.690Z\" read as RFC 3339 time"],
        "the stored point says its time came from text"
    );

    // The same rule over HTTP, and for an offset other than Z.
    let reply = post(server, "/pub?u=alice&d=web", &[], &payload).await;
    ensure_eq!(reply.summary(), EMPTY_ANSWER);
    let offset = with(&input["payload"], json!({"tst": "2021-03-22T13:11:03+02:00"}));
    post(server, "/pub?u=alice&d=offset", &[], &json_bytes(&offset)).await;
    ensure_eq!(tsts(server, "alice", "web").await, [1616411463]);
    ensure_eq!(tsts(server, "alice", "offset").await, [1616411463]);

    // A date without a zone, or text that only starts with digits, is quarantined.
    let zoneless = with(&input["payload"], json!({"tst": "2021-03-22T11:11:03"}));
    let digits = with(&input["payload"], json!({"tst": "2011 or so"}));
    for (device, body) in [("zoneless", &zoneless), ("digits", &digits)] {
        let reply = post(server, &format!("/pub?u=alice&d={device}"), &[], &json_bytes(body)).await;
        ensure_eq!(reply.summary(), EMPTY_ANSWER, "{device}");
        ensure_eq!(tsts(server, "alice", device).await, NO_TSTS, "{device}");
    }
    ensure_eq!(
        reasons(server, None).await,
        [
            [
                "tst_unreadable",
                "location tst \"2021-03-22T11:11:03\" has no time zone, so its instant is \
                 ambiguous"
            ],
            ["tst_unreadable", "location tst \"2011 or so\" is not a time in seconds"],
        ]
    );
    Ok(())
}

/// B02: a location without `tst` is answered `200 []` and quarantined as `tst_missing` (the
/// README's rule; nothing is invented); the next message goes through.
pub async fn b02(input: Value, server: &TestServer) -> Check {
    let body = bytes_of(&input);
    ensure_eq!(post_like(server, &input, &body).await.summary(), EMPTY_ANSWER);
    ensure_eq!(tsts(server, "alice", "phone").await, NO_TSTS);
    ensure_eq!(
        quarantine(server, Some(&key("alice", "phone"))).await,
        [held("tst_missing", "location tst is missing", Some("location"), &body)]
    );

    // Other unusable times of the same kind, then a good message.
    let null = with(&input["body"], json!({"tst": null}));
    let zero = with(&input["body"], json!({"tst": 0}));
    let good = with(&input["body"], json!({"tst": 1700000000}));
    for body in [&null, &zero, &good] {
        let reply = post_like(server, &input, &json_bytes(body)).await;
        ensure_eq!(reply.summary(), EMPTY_ANSWER, "{body}");
    }
    ensure_eq!(
        reasons(server, None).await[1..],
        [
            ["tst_unreadable", "location tst null is not a time in seconds"],
            ["tst_zero", "location tst 0 is not after 1970"],
        ]
    );
    ensure_eq!(tsts(server, "alice", "phone").await, [1700000000]);
    ensure_eq!(stat(server, |s| &s.quarantined), 3);
    Ok(())
}

/// B04: a `tst` in milliseconds is divided by 1000, and the reply is still `200 []`; a value
/// in microseconds is no date at all and is quarantined, never stored far in the future.
pub async fn b04(input: Value, server: &TestServer) -> Check {
    ensure_eq!(post_like(server, &input, &bytes_of(&input)).await.summary(), EMPTY_ANSWER);
    let points = server.points("alice", "phone").await;
    ensure_eq!(
        points.iter().map(|p| (p.tst, p.lat, p.lon)).collect::<Vec<_>>(),
        [(1700000000, 52.52, 13.405)]
    );
    ensure_eq!(points[0].json["tst"], json!(1700000000));
    ensure_eq!(
        points[0].repairs,
        ["tst: 1700000000000 milliseconds turned into seconds"],
        "the stored point says it was scaled"
    );

    // Milliseconds as text and microseconds are repaired; milliseconds of the year 2286 are not
    // a plausible time at all.
    let text_ms = with(&input["body"], json!({"tst": "1700000060000", "lat": 1}));
    let micros = with(&input["body"], json!({"tst": 1700000030000000_i64, "lat": 2}));
    let far = with(&input["body"], json!({"tst": 10000000000000_i64, "lat": 3}));
    for body in [&text_ms, &micros, &far] {
        let reply = post_like(server, &input, &json_bytes(body)).await;
        ensure_eq!(reply.summary(), EMPTY_ANSWER, "{body}");
    }
    ensure_eq!(tsts(server, "alice", "phone").await, [1700000000, 1700000030, 1700000060]);
    let kept = store(server).quarantined(None).await.unwrap();
    ensure_eq!(kept.len(), 1);
    let problem = format!(
        "location tst 10000000000 (2286-11-20T17:46:40Z) is more than 86400 s after it arrived \
         ({})",
        pista_core::time::iso(kept[0].received_at)
    );
    ensure_eq!(
        (kept[0].reason.as_str(), kept[0].problem.as_str()),
        ("tst_in_future", problem.as_str())
    );
    let (_, last) = server.get("/api/0/last?user=alice").await;
    ensure_eq!(last[0]["tst"], json!(1700000060), "the last position is the plausible one");
    Ok(())
}

/// B05: a fix counted from 2001 (before the 2008 floor) is answered `200 []`, quarantined as
/// `tst_too_old`, and is never in the track or the last position.
pub async fn b05(input: Value, server: &TestServer) -> Check {
    let body = bytes_of(&input);
    ensure_eq!(post_like(server, &input, &body).await.summary(), EMPTY_ANSWER);
    ensure_eq!(tsts(server, "alice", "overland").await, NO_TSTS);
    let (_, last) = server.get("/api/0/last?user=alice").await;
    ensure_eq!(last, json!([]));
    let too_old = held(
        "tst_too_old",
        "location tst 806434679 (1995-07-22T17:37:59Z) is before the floor 2008-01-01T00:00:00Z",
        Some("location"),
        &body,
    );
    let kept = quarantine(server, None).await;
    ensure_eq!(kept.len(), 1);
    ensure_eq!(kept[0], too_old);

    // Around the floor, and the same fix again after a good one: kept once, never the last.
    let good = with(&input["body"], json!({"tst": 1700000000}));
    let floor = with(&input["body"], json!({"tst": 1199145600, "lat": 1}));
    let below = with(&input["body"], json!({"tst": 1199145599, "lat": 2}));
    for body in [json_bytes(&good), json_bytes(&floor), json_bytes(&below), body.clone()] {
        ensure_eq!(post_like(server, &input, &body).await.summary(), EMPTY_ANSWER);
    }
    ensure_eq!(tsts(server, "alice", "overland").await, [1199145600, 1700000000]);
    let (_, last) = server.get("/api/0/last?user=alice").await;
    ensure_eq!(last[0]["tst"], json!(1700000000));
    let kept = quarantine(server, None).await;
    ensure_eq!(kept.len(), 2, "{kept:?}");
    ensure_eq!(kept[0], too_old);
    ensure_eq!(
        (kept[1].0.as_str(), kept[1].1.as_str()),
        (
            "tst_too_old",
            "location tst 1199145599 (2007-12-31T23:59:59Z) is before the floor \
             2008-01-01T00:00:00Z"
        )
    );
    Ok(())
}

/// B07: the transition is kept; its `wtst` below 10^9 is kept in the message but not used, the
/// unknown trigger `l` is kept, and a float `acc` is accepted.
pub async fn b07(input: Value, server: &TestServer) -> Check {
    let topic = text(&input, "topic");
    publish(server, &topic, &bytes_of(&input)).await;
    let alice = key("alice", "phone");
    let events = transitions(server, &alice).await;
    ensure_eq!(
        events.iter().map(fields).collect::<Vec<_>>(),
        [(1544358288, None, "enter", Some("Home"), Some("l"), Some(16.0))]
    );
    ensure_eq!((events[0].lat, events[0].lon), (Some(52.52), Some(13.405)));
    let messages = messages(server, Some(&alice)).await;
    ensure_eq!(messages.len(), 1);
    let stored = stored_json(&messages[0]);
    ensure_eq!((&stored["wtst"], &stored["t"]), (&json!(1544357), &json!("l")), "kept as sent");
    ensure_eq!(messages[0].tst, Some(1544358288));

    // Another implausible wtst does not make it another region event; another unknown
    // trigger and acc as text are accepted too.
    let again = with(&input["payload"], json!({"wtst": 999_999_999}));
    let other = with(
        &input["payload"],
        json!({"tst": 1544358300, "t": "z", "acc": "7.5", "event": "leave"}),
    );
    publish(server, &topic, &json_bytes(&again)).await;
    publish(server, &topic, &json_bytes(&other)).await;
    ensure_eq!(
        transitions(server, &alice)
            .await
            .iter()
            .map(|t| (t.tst, t.wtst, t.event.as_str(), t.trigger.as_deref(), t.acc))
            .collect::<Vec<_>>(),
        [
            (1544358288, None, "enter", Some("l"), Some(16.0)),
            (1544358300, None, "leave", Some("z"), Some(7.5)),
        ]
    );
    ensure!(quarantine(server, None).await.is_empty(), "nothing quarantined");
    Ok(())
}

/// B08: a point posted long after its fix is filed by its `tst`, and its arrival time is kept
/// apart (`isorcv`).
pub async fn b08(input: Value, server: &TestServer) -> Check {
    ensure_eq!(post_like(server, &input, &bytes_of(&input)).await.summary(), EMPTY_ANSWER);
    let earlier = with(&input["body"], json!({"tst": 1471593600 + 3600}));
    ensure_eq!(post_like(server, &input, &json_bytes(&earlier)).await.summary(), EMPTY_ANSWER);

    let query = |from: &str, to: &str| {
        format!("/api/0/locations?user=alice&device=logger&from={from}&to={to}")
    };
    let (status, day) = server.get(&query("2016-08-20", "2016-08-20T23:59:59")).await;
    ensure_eq!(status, 200);
    ensure_eq!(day["count"], json!(1), "{day}");
    let item = &day["data"][0];
    ensure_eq!(
        (&item["tst"], &item["isotst"], &item["disptst"]),
        (&json!(1471680000), &json!("2016-08-20T08:00:00Z"), &json!("2016-08-20 08:00:00"))
    );
    let (_, before) = server.get(&query("2016-08-19", "2016-08-19T23:59:59")).await;
    ensure_eq!(before["data"][0]["tst"], json!(1471597200), "{before}");
    ensure_eq!(before["count"], json!(1));

    let now = pista_ingest::now();
    let today = &pista_core::time::iso(now)[..10];
    let (_, arrival_day) = server.get(&query(today, &format!("{today}T23:59:59"))).await;
    ensure_eq!(arrival_day["count"], json!(0), "nothing is filed under the upload day");
    let points = server.points("alice", "logger").await;
    ensure!(
        points.iter().all(|p| (now - 60..=now).contains(&p.received_at)),
        "arrival times kept apart: {points:?}"
    );
    ensure_eq!(item["isorcv"], json!(pista_core::time::iso(points[1].received_at)));
    Ok(())
}
