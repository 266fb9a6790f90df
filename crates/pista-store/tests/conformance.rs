//! The storage conformance suite: every backend must give these exact answers. It runs against
//! SQLite here; the PostgreSQL and MySQL backends will run the same cases.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use pista_core::{DeviceKey, DeviceName, Location, Replay, Source, UserName};
use pista_store::{LocationQuery, NewBody, NewMessage, SqlStore, Storage, WriteOutcome};
use serde_json::{Value, json};

async fn store() -> (SqlStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/sub/pista.db", dir.path().display());
    (SqlStore::open(&url).await.unwrap(), dir)
}

fn key(user: &str, device: &str) -> DeviceKey {
    DeviceKey::parse(user, device).unwrap()
}

fn location(key: &DeviceKey, json: Value, received_at: i64) -> NewMessage {
    let Value::Object(object) = json else { panic!("object expected") };
    let location = Location::from_json(object, || key.device.default_tid()).unwrap();
    let payload = serde_json::to_string(&location.json).unwrap();
    NewMessage {
        key: Some(key.clone()),
        topic: format!("owntracks/{}/{}", key.user, key.device),
        subtopic: None,
        source: Source::Http,
        retained: false,
        replay: Replay::Fresh,
        received_at,
        body: NewBody::Location { location: Box::new(location), payload, original: None },
    }
}

fn fix(key: &DeviceKey, lat: f64, tst: i64) -> NewMessage {
    location(key, json!({"_type":"location","lat":lat,"lon":lat,"tst":tst}), tst + 5)
}

fn query(key: &DeviceKey, from: Option<i64>, to: Option<i64>, limit: Option<u64>) -> LocationQuery {
    LocationQuery { key: key.clone(), from, to, limit }
}

fn tsts(points: &[pista_store::StoredLocation]) -> Vec<i64> {
    points.iter().map(|p| p.tst).collect()
}

#[tokio::test]
async fn a_location_reads_back_with_its_json() {
    let (store, _dir) = store().await;
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

#[tokio::test]
async fn the_same_fix_is_stored_once_even_within_one_batch() {
    let (store, _dir) = store().await;
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

#[tokio::test]
async fn late_points_are_ordered_by_time_and_never_replace_the_last_position() {
    let (store, _dir) = store().await;
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

#[tokio::test]
async fn ranges_are_inclusive_and_limit_keeps_the_newest_in_time_order() {
    let (store, _dir) = store().await;
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

#[tokio::test]
async fn names_list_sorted_and_never_collide() {
    let (store, _dir) = store().await;
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

#[tokio::test]
async fn other_messages_are_kept_byte_for_byte_with_their_problem() {
    let (store, _dir) = store().await;
    let k = key("gw", "k2");
    let raw = |key: Option<DeviceKey>,
               subtopic: Option<&str>,
               msg_type: Option<&str>,
               problem: Option<&str>,
               payload: &'static [u8]| NewMessage {
        key,
        topic: "owntracks/gw/K2".to_owned(),
        subtopic: subtopic.map(str::to_owned),
        source: Source::Mqtt,
        retained: true,
        replay: Replay::Fresh,
        received_at: 1700000000,
        body: NewBody::Raw {
            msg_type: msg_type.map(str::to_owned),
            problem: problem.map(str::to_owned),
            payload: Bytes::from_static(payload),
        },
    };
    let batch = [
        raw(Some(k.clone()), Some("voltage/ext"), None, None, b"12.2"),
        raw(Some(k.clone()), None, Some("lwt"), None, br#"{"_type":"lwt"}"#),
        raw(None, None, None, Some("topic has fewer than 3 levels"), &[0xff, 0x00]),
    ];
    let outcomes = store.write(&batch).await.unwrap();
    assert!(outcomes.iter().all(|o| matches!(o, WriteOutcome::Message { .. })));

    let all = store.messages(None).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        (all[0].subtopic.as_deref(), all[0].payload.as_slice(), all[0].retained),
        (Some("voltage/ext"), &b"12.2"[..], true)
    );
    assert_eq!((all[1].msg_type.as_deref(), all[1].key.as_ref()), (Some("lwt"), Some(&k)));
    assert_eq!((all[2].key.as_ref(), all[2].payload.as_slice()), (None, &[0xff, 0x00][..]));
    assert_eq!(all[2].problem.as_deref(), Some("topic has fewer than 3 levels"));
    assert_eq!(store.messages(Some(&k)).await.unwrap().len(), 2);
    // A device that only sent raw messages is listed, but has no last position.
    assert_eq!(store.users().await.unwrap(), [UserName::parse("gw").unwrap()]);
    assert!(store.last(None, None).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_closed_store_fails_writes_with_a_named_operation() {
    let (store, _dir) = store().await;
    store.close().await;
    let err = store.write(&[fix(&key("x", "y"), 1.0, 1)]).await.unwrap_err();
    assert_eq!(err.to_string(), "database begin failed");
}

#[tokio::test]
async fn unsupported_urls_are_refused_by_name() {
    let err = SqlStore::open("postgres://localhost/x").await.err().unwrap();
    assert_eq!(
        err.to_string(),
        "database postgres://localhost/x is not supported: only sqlite://PATH is supported so far"
    );
}

#[tokio::test]
async fn the_brokers_copies_of_raw_messages_are_not_stored_again() {
    let (store, _dir) = store().await;
    let k = key("gw", "c1");
    let status = |payload: &'static [u8], replay: Replay| NewMessage {
        key: Some(k.clone()),
        topic: "owntracks/gw/C1/status".to_owned(),
        subtopic: Some("status".to_owned()),
        source: Source::Mqtt,
        retained: replay == Replay::Retained,
        replay,
        received_at: 1700000000,
        body: NewBody::Raw { msg_type: None, problem: None, payload: Bytes::from_static(payload) },
    };
    let cases = [
        (status(b"1", Replay::Fresh), true),
        (status(b"1", Replay::Retained), false), // the broker's retained copy of what we have
        (status(b"1", Replay::Fresh), true),     // the device said it again: a new event
        (status(b"0", Replay::Retained), true),  // a retained value we had not seen last
        (status(b"1", Replay::Retained), true),  // the last one is "0" now
        (status(b"0", Replay::Redelivered), false), // a redelivery of any earlier message
        (status(b"2", Replay::Redelivered), true), // a redelivery of one we never stored
    ];
    for (index, (message, stored)) in cases.into_iter().enumerate() {
        let outcome = store.write(&[message]).await.unwrap();
        assert_eq!(matches!(outcome[..], [WriteOutcome::Message { .. }]), stored, "case {index}");
    }
    let payloads: Vec<Vec<u8>> =
        store.messages(Some(&k)).await.unwrap().into_iter().map(|m| m.payload).collect();
    assert_eq!(
        payloads,
        [b"1".to_vec(), b"1".to_vec(), b"0".to_vec(), b"1".to_vec(), b"2".to_vec()]
    );
}
