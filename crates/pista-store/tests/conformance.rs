//! The storage conformance suite: every backend must give these exact answers. Each case runs on
//! SQLite, PostgreSQL and MySQL/MariaDB (see `common`), each in a database of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use bytes::Bytes;
use common::{key, location};
use pista_core::{Card, Detail, DeviceKey, DeviceName, Message, Replay, Source, UserName};
use pista_store::{LocationQuery, NewBody, NewMessage, SqlStore, Storage, WriteOutcome};
use serde_json::{Value, json};

fn fix(key: &DeviceKey, lat: f64, tst: i64) -> NewMessage {
    location(key, json!({"_type":"location","lat":lat,"lon":lat,"tst":tst}), tst + 5)
}

fn query(key: &DeviceKey, from: Option<i64>, to: Option<i64>, limit: Option<u64>) -> LocationQuery {
    LocationQuery { key: key.clone(), from, to, limit }
}

fn tsts(points: &[pista_store::StoredLocation]) -> Vec<i64> {
    points.iter().map(|p| p.tst).collect()
}

async fn a_location_reads_back_with_its_json(store: &SqlStore) {
    let k = key("jane", "phone");
    let outcomes = store
        .write(&[location(
            &k,
            json!({"_type":"location","lat":"48.1","lon":11.5,"tst":1700000000,"batt":40}),
            1700000007,
        )])
        .await
        .unwrap();
    assert!(matches!(outcomes[..], [WriteOutcome::Location { newest: true, .. }]));

    let points = store.locations(&query(&k, None, None, None)).await.unwrap();
    assert_eq!(points.len(), 1);
    assert_eq!(
        (points[0].tst, points[0].lat, points[0].lon, points[0].received_at),
        (1700000000, 48.1, 11.5, 1700000007)
    );
    assert_eq!(points[0].topic, "owntracks/jane/phone");
    assert_eq!(
        serde_json::to_string(&points[0].json).unwrap(),
        r#"{"_type":"location","lat":48.1,"lon":11.5,"tst":1700000000,"batt":40,"tid":"ne"}"#
    );
}

async fn the_same_fix_is_stored_once_even_within_one_batch(store: &SqlStore) {
    let k = key("mkay", "phone");
    let first = location(
        &k,
        json!({"_type":"location","lat":48.1,"lon":11.5,"tst":1709970594,"p":100.694}),
        1,
    );
    let again = location(
        &k,
        json!({"_type":"location","lat":48.1,"lon":11.5,"tst":1709970594,"p":100.734,"created_at":1709970604}),
        2,
    );
    let outcomes = store.write(&[first.clone(), again.clone()]).await.unwrap();
    assert!(matches!(outcomes[..], [WriteOutcome::Location { .. }, WriteOutcome::Duplicate]));
    assert_eq!(store.write(&[first]).await.unwrap(), [WriteOutcome::Duplicate]);
    assert_eq!(store.locations(&query(&k, None, None, None)).await.unwrap().len(), 1);

    // Another device with the same fix is a different point.
    let other = fix(&key("mkay", "tablet"), 48.1, 1709970594);
    assert!(matches!(store.write(&[other]).await.unwrap()[..], [WriteOutcome::Location { .. }]));
}

async fn late_points_are_ordered_by_time_and_never_replace_the_last_position(store: &SqlStore) {
    let k = key("t4", "p");
    let batch = [fix(&k, 1.0, 1700000300), fix(&k, 2.0, 1700000100), fix(&k, 3.0, 1700000200)];
    let outcomes = store.write(&batch).await.unwrap();
    let newest: Vec<bool> =
        outcomes.iter().map(|o| matches!(o, WriteOutcome::Location { newest: true, .. })).collect();
    assert_eq!(newest, [true, false, false]);

    let all = store.locations(&query(&k, None, None, None)).await.unwrap();
    assert_eq!(tsts(&all), [1700000100, 1700000200, 1700000300]);
    let last = store.last(None, None).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!((last[0].location.tst, last[0].location.lat), (1700000300, 1.0));
}

async fn ranges_are_inclusive_and_limit_keeps_the_newest_in_time_order(store: &SqlStore) {
    let k = key("t1", "p");
    let batch: Vec<_> = [1697000000, 1697003600, 1700000000, 1700000100]
        .iter()
        .enumerate()
        .map(|(i, tst)| fix(&k, i as f64, *tst))
        .collect();
    store.write(&batch).await.unwrap();

    let cases = [
        (query(&k, Some(1697003600), Some(1700000000), None), vec![1697003600, 1700000000]),
        (query(&k, None, Some(1697000000), None), vec![1697000000]),
        (query(&k, Some(1697000000), None, Some(3)), vec![1697003600, 1700000000, 1700000100]),
        (query(&k, Some(1697000000), Some(1700000000), Some(2)), vec![1697003600, 1700000000]),
        (query(&k, Some(1800000000), None, None), vec![]),
        (query(&key("nobody", "p"), None, None, None), vec![]),
    ];
    for (q, want) in cases {
        assert_eq!(tsts(&store.locations(&q).await.unwrap()), want, "{q:?}");
    }
}

async fn names_list_sorted_and_never_collide(store: &SqlStore) {
    let batch = [
        fix(&key("a-b", "c"), 2.0, 1700000001),
        fix(&key("a", "b-c"), 3.0, 1700000002),
        fix(&key("Alice", "Phone"), 1.0, 1700000000),
    ];
    store.write(&batch).await.unwrap();
    store.write(&[fix(&key("alice", "phone"), 4.0, 1700000003)]).await.unwrap();

    let users: Vec<String> = store.users().await.unwrap().iter().map(UserName::to_string).collect();
    assert_eq!(users, ["a", "a-b", "alice"]);
    let devices = store.devices(&UserName::parse("a").unwrap()).await.unwrap();
    assert_eq!(devices, [DeviceName::parse("b-c").unwrap()]);
    let last = store.last(Some(&UserName::parse("alice").unwrap()), None).await.unwrap();
    assert_eq!((last.len(), last[0].location.lat), (1, 4.0));
    let by_device = store.last(None, Some(&DeviceName::parse("c").unwrap())).await.unwrap();
    assert_eq!(by_device[0].key, key("a-b", "c"));
}

/// A typed message as the pipeline hands it over.
fn message(key: Option<DeviceKey>, topic: &str, subtopic: Option<&str>, json: Value) -> NewMessage {
    let Value::Object(object) = json else { panic!("object expected") };
    let msg_type = object.get("_type").and_then(Value::as_str).unwrap_or("gw-status").to_owned();
    let typed = if object.contains_key("_type") {
        Message::from_json(&msg_type, object).unwrap()
    } else {
        let repairs = Vec::new();
        Message { msg_type, tst: None, detail: Detail::None, json: object, repairs, masked: false }
    };
    let payload = serde_json::to_string(&typed.json).unwrap();
    NewMessage {
        key,
        topic: topic.to_owned(),
        subtopic: subtopic.map(str::to_owned),
        source: Source::Mqtt,
        retained: true,
        replay: Replay::Fresh,
        received_at: 1700000000,
        body: NewBody::Message { message: Box::new(typed), payload, original: None },
    }
}

fn typed_as(mut message: NewMessage, msg_type: &str) -> NewMessage {
    if let NewBody::Message { message: typed, .. } = &mut message.body {
        typed.msg_type = msg_type.to_owned();
    }
    message
}

async fn other_messages_are_stored_typed_and_unusable_ones_quarantined(store: &SqlStore) {
    let k = key("gw", "k2");
    let topic = "owntracks/gw/K2";
    let batch = [
        typed_as(
            message(
                Some(k.clone()),
                topic,
                Some("voltage/ext"),
                json!({"supply":"ext","volts":12.2}),
            ),
            "gw-voltage",
        ),
        message(Some(k.clone()), topic, None, json!({"_type":"lwt"})),
        NewMessage {
            body: NewBody::Quarantine {
                msg_type: None,
                reason: "no_device".to_owned(),
                problem: "topic has fewer than 3 levels".to_owned(),
                payload: Bytes::from_static(&[0xff, 0x00]),
            },
            ..message(None, "a/b", None, json!({}))
        },
    ];
    let outcomes = store.write(&batch).await.unwrap();
    assert!(matches!(
        outcomes[..],
        [
            WriteOutcome::Message { .. },
            WriteOutcome::Message { .. },
            WriteOutcome::Quarantined { .. }
        ]
    ));

    let all = store.messages(None).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|m| (m.msg_type.as_deref(), m.subtopic.as_deref(), m.payload.as_str(), m.retained))
            .collect::<Vec<_>>(),
        [
            (Some("gw-voltage"), Some("voltage/ext"), r#"{"supply":"ext","volts":12.2}"#, true),
            (Some("lwt"), None, r#"{"_type":"lwt"}"#, true),
        ]
    );
    let quarantined = store.quarantined(None).await.unwrap();
    assert_eq!(
        (
            quarantined[0].key.as_ref(),
            quarantined[0].payload.as_slice(),
            quarantined[0].reason.as_str()
        ),
        (None, &[0xff, 0x00][..], "no_device")
    );
    let state = store.device_state(&k).await.unwrap().unwrap();
    assert_eq!(
        (state.online, state.online_at, state.vext),
        (Some(0), Some(1700000000), Some(12.2))
    );
    // A device that only sent other messages is listed, but has no last position.
    assert_eq!(store.users().await.unwrap(), [UserName::parse("gw").unwrap()]);
    assert!(store.last(None, None).await.unwrap().is_empty());
}

async fn region_events_regions_cards_and_inventory_have_their_own_tables(store: &SqlStore) {
    let k = key("jane", "phone");
    let topic = "owntracks/jane/phone";
    let enter = json!({"_type":"transition","event":"enter","tst":1700000100,"wtst":1690000000,
        "desc":"Home","lat":52.5,"lon":13.4,"acc":10,"t":"c"});
    let batch = [
        message(Some(k.clone()), topic, Some("event"), enter.clone()),
        // The same event posted again with a new created_at is the same event.
        message(Some(k.clone()), topic, Some("event"), {
            let mut again = enter.clone();
            again["created_at"] = json!(1700000200);
            again
        }),
        message(
            Some(k.clone()),
            topic,
            Some("waypoint"),
            json!({"_type":"waypoint","desc":"Home","lat":52.5,"lon":13.4,"rad":100,"tst":1690000000}),
        ),
        message(
            Some(k.clone()),
            topic,
            Some("waypoints"),
            json!({"_type":"waypoints","waypoints":[
            {"_type":"waypoint","desc":"Home 2","lat":52.5,"lon":13.4,"rad":150,"tst":1690000000},
            {"_type":"waypoint","desc":"Work","lat":52.6,"lon":13.5,"rad":50,"tst":1690000500}]}),
        ),
        message(
            Some(k.clone()),
            topic,
            Some("info"),
            json!({"_type":"card","name":"Jane","face":"aGk=","tid":"JJ"}),
        ),
        typed_as(
            message(
                Some(k.clone()),
                topic,
                Some("start"),
                json!({"imei":"123456789012345","version":"0.8.1","startup":1412067553}),
            ),
            "gw-start",
        ),
        typed_as(
            message(
                Some(k.clone()),
                topic,
                Some("voltage/batt"),
                json!({"supply":"batt","volts":4.4}),
            ),
            "gw-voltage",
        ),
    ];
    let outcomes = store.write(&batch).await.unwrap();
    assert_eq!(outcomes[1], WriteOutcome::Duplicate);

    let transitions = store.transitions(&k).await.unwrap();
    assert_eq!(
        transitions
            .iter()
            .map(|t| (t.tst, t.wtst, t.event.as_str(), t.desc.as_deref(), t.trigger.as_deref()))
            .collect::<Vec<_>>(),
        [(1700000100, Some(1690000000), "enter", Some("Home"), Some("c"))]
    );
    let waypoints = store.waypoints(&k).await.unwrap();
    assert_eq!(
        waypoints.iter().map(|w| (w.tst, w.desc.as_str(), w.rad)).collect::<Vec<_>>(),
        [(1690000000, "Home 2", Some(150.0)), (1690000500, "Work", Some(50.0))]
    );
    let cards = store.cards(None).await.unwrap();
    assert_eq!(
        cards
            .iter()
            .map(|c| (c.user.as_str(), c.device.as_deref(), c.name.as_deref(), c.tid.as_deref()))
            .collect::<Vec<_>>(),
        [("jane", Some("phone"), Some("Jane"), Some("JJ"))]
    );
    let card = Card { name: Some("Jane Doe".to_owned()), face: None, tid: None };
    store.set_card(&k.user, None, &card, 1700000300).await.unwrap();
    assert_eq!(store.cards(Some(&k.user)).await.unwrap()[0].device, None);

    let inventory = store.inventory().await.unwrap();
    assert_eq!(
        inventory
            .iter()
            .map(|i| (i.imei.as_str(), i.key.to_string(), i.version.as_str(), i.startup, i.vbatt))
            .collect::<Vec<_>>(),
        [("123456789012345", "jane/phone".to_owned(), "0.8.1", Some(1412067553), Some(4.4))]
    );
    assert_eq!(
        store.device_state(&k).await.unwrap().unwrap().imei.as_deref(),
        Some("123456789012345")
    );
}

async fn secrets_friends_commands_and_quarantine_releases(store: &SqlStore) {
    let k = key("jane", "phone");
    assert_eq!(store.secret(&k).await.unwrap(), None);
    assert!(!store.set_secret(&k, Some("s3cret"), 1).await.unwrap());
    assert!(store.set_secret(&k, Some("other"), 2).await.unwrap());
    assert_eq!(store.secret(&k).await.unwrap().as_deref(), Some("other"));
    assert_eq!(store.secrets().await.unwrap(), std::slice::from_ref(&k));
    assert!(store.set_secret(&k, None, 3).await.unwrap());
    assert!(store.secrets().await.unwrap().is_empty());

    let bob = UserName::parse("bob").unwrap();
    assert!(store.add_friend(&k.user, &bob, None).await.unwrap());
    assert!(!store.add_friend(&k.user, &bob, None).await.unwrap());
    let car = DeviceName::parse("car").unwrap();
    assert!(store.add_friend(&k.user, &bob, Some(&car)).await.unwrap());
    assert_eq!(
        store.friends(&k.user).await.unwrap(),
        [(bob.clone(), None), (bob.clone(), Some(car.clone()))]
    );
    assert!(store.remove_friend(&k.user, &bob, None).await.unwrap());
    assert!(!store.remove_friend(&k.user, &bob, None).await.unwrap());

    let id = store
        .queue_command(&k, "reportLocation", r#"{"_type":"cmd","action":"reportLocation"}"#, 10)
        .await
        .unwrap();
    store.command_published(id, Err("refused".to_owned()), 11).await.unwrap();
    store.command_published(id, Ok(()), 12).await.unwrap();
    let taken = store.take_http_commands(&k, 13).await.unwrap();
    assert_eq!(
        taken
            .iter()
            .map(|c| (c.id, c.mqtt_at, c.mqtt_error.clone(), c.http_at))
            .collect::<Vec<_>>(),
        [(id, Some(12), None, Some(13))]
    );
    assert!(store.take_http_commands(&k, 14).await.unwrap().is_empty());

    let bad = |payload: &'static [u8]| NewMessage {
        body: NewBody::Quarantine {
            msg_type: Some("encrypted".to_owned()),
            reason: "no_key".to_owned(),
            problem: "no encryption secret is set for jane/phone".to_owned(),
            payload: Bytes::from_static(payload),
        },
        ..message(Some(k.clone()), "owntracks/jane/phone", None, json!({"_type":"lwt"}))
    };
    let outcomes = store.write(&[bad(b"one"), bad(b"one"), bad(b"two")]).await.unwrap();
    assert!(matches!(
        outcomes[..],
        [
            WriteOutcome::Quarantined { .. },
            WriteOutcome::Duplicate,
            WriteOutcome::Quarantined { .. }
        ]
    ));
    let first = store.quarantined(Some(&k)).await.unwrap()[0].id;
    store.release(&[first], 20).await.unwrap();
    let items = store.quarantined(Some(&k)).await.unwrap();
    assert_eq!(items.iter().map(|q| q.released_at).collect::<Vec<_>>(), [Some(20), None]);
    // Once released, the same envelope can be quarantined again (the key may be wrong again).
    assert!(matches!(
        store.write(&[bad(b"one")]).await.unwrap()[..],
        [WriteOutcome::Quarantined { .. }]
    ));
}

async fn a_closed_store_fails_writes_with_a_named_operation(store: &SqlStore) {
    store.close().await;
    let err = store.write(&[fix(&key("x", "y"), 1.0, 1)]).await.unwrap_err();
    assert_eq!(err.to_string(), "database begin failed");
}

#[tokio::test]
async fn unsupported_urls_are_refused_by_name() {
    let err = SqlStore::open("redis://localhost/x").await.err().unwrap();
    assert_eq!(
        err.to_string(),
        "database redis://localhost/x is not supported: expected sqlite://PATH, postgres://... \
         or mysql://..."
    );
    let err = SqlStore::open("postgres://jane:s3cret@127.0.0.1:1/x").await.err().unwrap();
    assert_eq!(err.to_string(), "cannot open database postgres://jane:***@127.0.0.1:1/x");
}

async fn the_brokers_copies_of_messages_are_not_stored_again(store: &SqlStore) {
    let k = key("gw", "c1");
    let status = |value: i64, replay: Replay| NewMessage {
        retained: replay == Replay::Retained,
        replay,
        ..typed_as(
            message(
                Some(k.clone()),
                "owntracks/gw/C1/status",
                Some("status"),
                json!({"status": value}),
            ),
            "gw-status",
        )
    };
    let cases = [
        (status(1, Replay::Fresh), true),
        (status(1, Replay::Retained), false), // the broker's retained copy of what we have
        (status(1, Replay::Fresh), true),     // the device said it again: a new event
        (status(0, Replay::Retained), true),  // a retained value we had not seen last
        (status(1, Replay::Retained), true),  // the last one is "0" now
        (status(0, Replay::Redelivered), false), // a redelivery of any earlier message
        (status(-1, Replay::Redelivered), true), // a redelivery of one we never stored
    ];
    for (index, (message, stored)) in cases.into_iter().enumerate() {
        let outcome = store.write(&[message]).await.unwrap();
        assert_eq!(matches!(outcome[..], [WriteOutcome::Message { .. }]), stored, "case {index}");
    }
    let payloads: Vec<String> =
        store.messages(Some(&k)).await.unwrap().into_iter().map(|m| m.payload).collect();
    assert_eq!(
        payloads,
        [
            r#"{"status":1}"#,
            r#"{"status":1}"#,
            r#"{"status":0}"#,
            r#"{"status":1}"#,
            r#"{"status":-1}"#
        ]
    );
    assert_eq!(store.device_state(&k).await.unwrap().unwrap().online, Some(-1));
}

async fn wire_copies_are_kept_apart_and_pruned_by_age(store: &SqlStore) {
    let wire = |payload: &'static [u8], received_at: i64| NewMessage {
        key: None,
        topic: "owntracks/jane/phone".to_owned(),
        subtopic: None,
        source: Source::Broker,
        retained: false,
        replay: Replay::Fresh,
        received_at,
        body: NewBody::Wire { payload: Bytes::from_static(payload) },
    };
    let outcomes = store.write(&[wire(b"old", 100), wire(b"new", 200)]).await.unwrap();
    assert!(matches!(outcomes[..], [WriteOutcome::Wire { .. }, WriteOutcome::Wire { .. }]));
    // A wire copy names no device and adds none.
    assert!(store.users().await.unwrap().is_empty());
    assert_eq!(store.prune_rawdata(150).await.unwrap(), 1);
    assert_eq!(
        store.rawdata().await.unwrap(),
        [("owntracks/jane/phone".to_owned(), 200, b"new".to_vec())]
    );
}

async fn an_empty_array_keeps_its_bytes_and_a_zero_length_payload_has_none(store: &SqlStore) {
    let k = key("jane", "phone");
    let empty = |payload: &'static [u8]| NewMessage {
        key: Some(k.clone()),
        topic: "owntracks/jane/phone".to_owned(),
        subtopic: None,
        source: Source::Http,
        retained: false,
        replay: Replay::Fresh,
        received_at: 1700000000,
        body: NewBody::Empty { payload: Bytes::from_static(payload) },
    };
    store.write(&[empty(b"[]"), empty(b"")]).await.unwrap();
    let kept = store.messages(Some(&k)).await.unwrap();
    assert_eq!(
        kept.iter()
            .map(|m| (m.msg_type.clone(), m.payload.as_str(), m.original.clone()))
            .collect::<Vec<_>>(),
        [(None, "", Some(b"[]".to_vec())), (None, "", None)]
    );
}

async fn a_device_offline_after_its_last_will_is_online_again_when_it_reports(store: &SqlStore) {
    let k = key("jane", "phone");
    let topic = "owntracks/jane/phone";
    store.write(&[fix(&k, 1.0, 1700000000)]).await.unwrap();
    assert_eq!(online(store, &k).await, None, "unknown until the device says something about it");
    store.write(&[message(Some(k.clone()), topic, None, json!({"_type":"lwt"}))]).await.unwrap();
    assert_eq!(online(store, &k).await, Some(0));
    // The broker's retained copy of an old fix proves nothing.
    let copy = NewMessage { replay: Replay::Retained, retained: true, ..fix(&k, 2.0, 1700000100) };
    store.write(&[copy]).await.unwrap();
    assert_eq!(online(store, &k).await, Some(0));
    // A card can come from anyone's script; a region event only from the running device.
    let card = message(Some(k.clone()), topic, Some("info"), json!({"_type":"card","name":"J"}));
    store.write(&[card]).await.unwrap();
    assert_eq!(online(store, &k).await, Some(0));
    let event = json!({"_type":"transition","event":"leave","tst":1700000200,"desc":"Home"});
    let event = NewMessage {
        received_at: 1700000300,
        ..message(Some(k.clone()), topic, Some("event"), event)
    };
    store.write(&[event]).await.unwrap();
    let state = store.device_state(&k).await.unwrap().unwrap();
    assert_eq!((state.online, state.online_at), (Some(1), Some(1700000300)));
}

/// A big batch, as group commit hands it over: locations of several devices across many rows
/// per statement, duplicates within it and of earlier batches, late points, and a last will in
/// the middle. Every outcome is what writing the messages one at a time would have given.
async fn a_big_mixed_batch_has_the_outcomes_of_one_message_at_a_time(store: &SqlStore) {
    let (a, b) = (key("big", "a"), key("big", "b"));
    store.write(&[fix(&a, 9.0, 1700000500)]).await.unwrap();
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for n in 0..1000 {
        // Device a: times rise from before its stored last position to after it.
        batch.push(fix(&a, 1.0 + f64::from(n) / 1000.0, 1700000000 + i64::from(n)));
        expected.push(Some(n > 500));
        // Device b: every fix twice in a row; the copy is a duplicate.
        let twice = fix(&b, 2.0, 1700001000 + i64::from(n));
        batch.push(twice.clone());
        expected.push(Some(true));
        batch.push(twice);
        expected.push(None);
    }
    // The fix stored in the earlier batch, again.
    batch.push(fix(&a, 9.0, 1700000500));
    expected.push(None);
    batch.push(message(Some(a.clone()), "owntracks/big/a", None, json!({"_type":"lwt"})));
    expected.push(None);
    // After the last will: a late fix of a (stored, not the newest, yet it shows a is back).
    let late = NewMessage { received_at: 1700009000, ..fix(&a, 3.0, 1700000001) };
    batch.push(late);
    expected.push(Some(false));

    let outcomes = store.write(&batch).await.unwrap();
    let seen: Vec<Option<bool>> = outcomes
        .iter()
        .map(|o| match o {
            WriteOutcome::Location { newest, .. } => Some(*newest),
            _ => None,
        })
        .collect();
    assert_eq!(seen, expected);
    assert!(matches!(outcomes[3000], WriteOutcome::Duplicate));
    assert!(matches!(outcomes[3001], WriteOutcome::Message { .. }));
    let mut ids: Vec<i64> = outcomes
        .iter()
        .filter_map(|o| match o {
            WriteOutcome::Location { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((count, ids.len()), (2001, 2001), "every new fix has an id of its own");

    assert_eq!(store.locations(&query(&a, None, None, None)).await.unwrap().len(), 1002);
    let b_points = store.locations(&query(&b, None, None, None)).await.unwrap();
    assert_eq!((b_points.len(), b_points[999].tst), (1000, 1700001999));
    let last = store.last(None, None).await.unwrap();
    let tsts: Vec<(String, i64)> =
        last.iter().map(|l| (l.key.device.to_string(), l.location.tst)).collect();
    assert_eq!(tsts, [("a".to_owned(), 1700000999), ("b".to_owned(), 1700001999)]);
    let state = store.device_state(&a).await.unwrap().unwrap();
    assert_eq!((state.online, state.online_at), (Some(1), Some(1700009000)));
}

/// Batches of locations only and batches with other messages in turn (on a SQLite file the
/// first kind is written by the store's own rusqlite writer, the second through the pool): each
/// sees what the other stored, and devices, last positions, liveness and `last_seen` come out
/// the same as on the other databases.
async fn location_batches_and_mixed_batches_follow_each_other(store: &SqlStore) {
    let (a, b) = (key("turns", "a"), key("turns", "b"));
    let at = |message: NewMessage, received_at: i64| NewMessage { received_at, ..message };
    let newest = |outcomes: Vec<WriteOutcome>| -> Vec<Option<bool>> {
        outcomes
            .iter()
            .map(|o| match o {
                WriteOutcome::Location { newest, .. } => Some(*newest),
                _ => None,
            })
            .collect()
    };
    // Locations only: a new device, a duplicate within the batch, a late fix.
    let first = store
        .write(&[
            at(fix(&a, 1.0, 1700000100), 1700000200),
            at(fix(&a, 1.0, 1700000100), 1700000201),
            at(fix(&a, 1.5, 1700000050), 1700000202),
        ])
        .await
        .unwrap();
    assert_eq!(newest(first), [Some(true), None, Some(false)]);
    // A fix of a again, its last will, and a new device b: the pool's path.
    let lwt = message(Some(a.clone()), "owntracks/turns/a", None, json!({"_type":"lwt"}));
    let second = store
        .write(&[
            at(fix(&a, 1.0, 1700000100), 1700000300),
            at(lwt, 1700000301),
            at(fix(&b, 2.0, 1700000400), 1700000302),
        ])
        .await
        .unwrap();
    assert_eq!(newest(second), [None, None, Some(true)]);
    assert_eq!(online(store, &a).await, Some(0));
    // Locations only again: a is back (online again), b's cached id is reused, an older fix of
    // b does not move its last position, a fix of b already stored is a duplicate.
    let third = store
        .write(&[
            at(fix(&a, 3.0, 1700000500), 1700000600),
            at(fix(&b, 2.5, 1700000390), 1700000601),
            at(fix(&b, 2.0, 1700000400), 1700000602),
        ])
        .await
        .unwrap();
    assert_eq!(newest(third), [Some(true), Some(false), None]);

    let state = store.device_state(&a).await.unwrap().unwrap();
    assert_eq!(
        (state.first_seen, state.last_seen, state.online, state.online_at),
        (1700000200, 1700000600, Some(1), Some(1700000600))
    );
    let state = store.device_state(&b).await.unwrap().unwrap();
    assert_eq!((state.first_seen, state.last_seen, state.online), (1700000302, 1700000602, None));
    let last = store.last(None, None).await.unwrap();
    let tsts: Vec<(String, i64)> =
        last.iter().map(|l| (l.key.device.to_string(), l.location.tst)).collect();
    assert_eq!(tsts, [("a".to_owned(), 1700000500), ("b".to_owned(), 1700000400)]);
    assert_eq!(tsts_of(store, &a).await, [1700000050, 1700000100, 1700000500]);
    assert_eq!(tsts_of(store, &b).await, [1700000390, 1700000400]);
}

/// A device's messages by type and by their own time (their arrival when they have none), both
/// bounds inclusive, in time order then storing order; another device's are never among them.
async fn a_devices_messages_are_read_by_type_and_time(store: &SqlStore) {
    use pista_store::MessageQuery;
    let (k, other) = (key("msgs", "phone"), key("msgs", "tablet"));
    let topic = "owntracks/msgs/phone";
    let at = |message: NewMessage, received_at: i64| NewMessage { received_at, ..message };
    let steps = |tst: i64| json!({"_type":"steps","steps":10,"from":tst - 60,"to":tst,"tst":tst});
    let event = |tst: i64| json!({"_type":"transition","event":"enter","tst":tst,"desc":"Home"});
    let batch = [
        at(message(Some(k.clone()), topic, Some("step"), steps(1700000300)), 1700000900),
        // No time of its own: its arrival counts.
        at(
            message(Some(k.clone()), topic, Some("info"), json!({"_type":"card","name":"J"})),
            1700000200,
        ),
        at(message(Some(k.clone()), topic, Some("event"), event(1700000100)), 1700000901),
        at(message(Some(k.clone()), topic, Some("step"), steps(1700000500)), 1700000902),
        at(
            message(Some(other.clone()), "owntracks/msgs/tablet", Some("step"), steps(1700000400)),
            1700000903,
        ),
    ];
    store.write(&batch).await.unwrap();
    let read = |msg_type: Option<&str>, from: Option<i64>, to: Option<i64>| {
        let query =
            MessageQuery { key: k.clone(), msg_type: msg_type.map(str::to_owned), from, to };
        async move {
            let found = store.device_messages(&query).await.unwrap();
            found
                .iter()
                .map(|m| (m.msg_type.clone().unwrap_or_default(), m.tst.unwrap_or(m.received_at)))
                .collect::<Vec<_>>()
        }
    };
    let pair = |t: &str, at: i64| (t.to_owned(), at);
    assert_eq!(
        read(None, None, None).await,
        [
            pair("transition", 1700000100),
            pair("card", 1700000200),
            pair("steps", 1700000300),
            pair("steps", 1700000500)
        ]
    );
    assert_eq!(
        read(Some("steps"), None, None).await,
        [pair("steps", 1700000300), pair("steps", 1700000500)]
    );
    assert_eq!(
        read(None, Some(1700000200), Some(1700000300)).await,
        [pair("card", 1700000200), pair("steps", 1700000300)]
    );
    assert_eq!(read(Some("steps"), Some(1700000301), Some(1700000499)).await, []);
    let unknown = MessageQuery { key: key("msgs", "watch"), msg_type: None, from: None, to: None };
    assert_eq!(store.device_messages(&unknown).await.unwrap().len(), 0);
}

async fn tsts_of(store: &SqlStore, key: &DeviceKey) -> Vec<i64> {
    tsts(&store.locations(&query(key, None, None, None)).await.unwrap())
}

async fn online(store: &SqlStore, key: &DeviceKey) -> Option<i64> {
    store.device_state(key).await.unwrap().unwrap().online
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/sub/pista.db");
    let store = SqlStore::open(&format!("sqlite://{}", path.display())).await.unwrap();
    store.write(&[fix(&key("a", "b"), 1.0, 1700000000)]).await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("new/sub/pista.db-wal")), 0o600);
    assert_eq!(mode(&dir.path().join("new/sub")), 0o700);
    assert_eq!(mode(&dir.path().join("new")), 0o700);
}

/// The writer's batches and the geocoder's address updates run at the same time without either
/// failing (a batch reads before it writes; another writer committing in between must not make
/// it fail with "database is locked"). Addresses land on the fixes they name.
async fn batches_and_address_updates_take_turns(store: &SqlStore) {
    use pista_store::DerivedStore;
    let k = key("busy", "phone");
    let first = store.write(&[fix(&k, 1.0, 1_700_000_000)]).await.unwrap();
    let WriteOutcome::Location { id, .. } = first[0] else { panic!("not stored: {first:?}") };

    let writer = async {
        for round in 0..60 {
            let batch: Vec<_> =
                (0..20).map(|n| fix(&k, 2.0, 1_700_000_001 + round * 20 + n)).collect();
            store.write(&batch).await.unwrap();
        }
    };
    let geocoder = async {
        for round in 0..60 {
            let addr = format!("street {round}");
            let fix = [(id, Some("DE".to_owned()), Some(addr))];
            store.record_addresses(&[], &fix, round).await.unwrap();
        }
    };
    tokio::join!(writer, geocoder);

    let points = store.locations(&query(&k, None, None, None)).await.unwrap();
    assert_eq!(points.len(), 1201);
    assert_eq!(
        (points[0].addr.as_deref(), points[0].cc.as_deref()),
        (Some("street 59"), Some("DE"))
    );
    assert_eq!(points[1].addr, None);
}

/// The odometer base is set by hand on a device that exists, survives the next start-up line
/// and shows in the inventory; clearing it leaves the column empty again.
async fn the_odometer_base_is_kept_per_device_and_shown_in_the_inventory(store: &SqlStore) {
    let k = key("fleet", "k2");
    let nobody = key("fleet", "never");
    let start = |version: &str| {
        typed_as(
            message(
                Some(k.clone()),
                "owntracks/fleet/k2",
                Some("start"),
                json!({"imei":"356000000000002","version":version,"startup":1412067553}),
            ),
            "gw-start",
        )
    };
    store.write(&[start("0.8.1")]).await.unwrap();
    assert_eq!(store.device_state(&k).await.unwrap().unwrap().odo, None);
    assert_eq!(store.inventory().await.unwrap()[0].odo, None);

    assert!(store.set_odometer(&k, Some(123456.5)).await.unwrap());
    // The same value again still finds the device (MariaDB counts matched rows, not changed).
    assert!(store.set_odometer(&k, Some(123456.5)).await.unwrap());
    assert!(!store.set_odometer(&nobody, Some(1.0)).await.unwrap());
    assert_eq!(store.device_state(&nobody).await.unwrap(), None);

    store.write(&[start("0.8.2")]).await.unwrap();
    assert_eq!(store.device_state(&k).await.unwrap().unwrap().odo, Some(123456.5));
    let inventory = store.inventory().await.unwrap();
    assert_eq!(
        inventory.iter().map(|i| (i.imei.as_str(), i.version.as_str(), i.odo)).collect::<Vec<_>>(),
        [("356000000000002", "0.8.2", Some(123456.5))]
    );

    assert!(store.set_odometer(&k, None).await.unwrap());
    assert_eq!(store.device_state(&k).await.unwrap().unwrap().odo, None);
    assert_eq!(store.inventory().await.unwrap()[0].odo, None);
}

backends!(
    a_location_reads_back_with_its_json,
    the_same_fix_is_stored_once_even_within_one_batch,
    late_points_are_ordered_by_time_and_never_replace_the_last_position,
    ranges_are_inclusive_and_limit_keeps_the_newest_in_time_order,
    names_list_sorted_and_never_collide,
    other_messages_are_stored_typed_and_unusable_ones_quarantined,
    region_events_regions_cards_and_inventory_have_their_own_tables,
    secrets_friends_commands_and_quarantine_releases,
    a_closed_store_fails_writes_with_a_named_operation,
    the_brokers_copies_of_messages_are_not_stored_again,
    wire_copies_are_kept_apart_and_pruned_by_age,
    an_empty_array_keeps_its_bytes_and_a_zero_length_payload_has_none,
    a_device_offline_after_its_last_will_is_online_again_when_it_reports,
    batches_and_address_updates_take_turns,
    a_big_mixed_batch_has_the_outcomes_of_one_message_at_a_time,
    location_batches_and_mixed_batches_follow_each_other,
    a_devices_messages_are_read_by_type_and_time,
    the_odometer_base_is_kept_per_device_and_shown_in_the_inventory,
);
