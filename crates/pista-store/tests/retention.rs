//! Deletion and retention rules of [`RetentionStore`] on every backend: ranges go by the fix's
//! own time, the device's last fix moves back, deleting everything takes the registry rows, a
//! deleted device registers anew (also for another writer on the same database, which kept the
//! old id), chunks add up, and every deletion is logged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::collections::BTreeMap;

use pista_core::{Card, DeviceKey, DeviceName, Location, Message, Replay, Source, UserName};
use pista_store::{
    DeletedBy, LocationQuery, NewBody, NewMessage, RetentionStore, Selector, Span, SqlStore,
    Storage, WriteOutcome,
};
use serde_json::{Value, json};

fn key(user: &str, device: &str) -> DeviceKey {
    DeviceKey::parse(user, device).unwrap()
}

/// A fix uploaded late: it arrives long after its own time (bug case B08).
fn fix(key: &DeviceKey, lat: f64, tst: i64) -> NewMessage {
    let json = json!({"_type": "location", "lat": lat, "lon": 13.4, "tst": tst});
    let Value::Object(object) = json else { unreachable!() };
    let location = Location::from_json(object, || key.device.default_tid()).unwrap();
    let payload = serde_json::to_string(&location.json).unwrap();
    NewMessage {
        body: NewBody::Location { location: Box::new(location), payload, original: None },
        ..envelope(key, None, 1_800_000_000)
    }
}

fn message(key: &DeviceKey, subtopic: &str, json: Value, received_at: i64) -> NewMessage {
    let Value::Object(object) = json else { unreachable!() };
    let msg_type = object["_type"].as_str().unwrap().to_owned();
    let typed = Message::from_json(&msg_type, object).unwrap();
    let payload = serde_json::to_string(&typed.json).unwrap();
    NewMessage {
        body: NewBody::Message { message: Box::new(typed), payload, original: None },
        ..envelope(key, Some(subtopic), received_at)
    }
}

fn envelope(key: &DeviceKey, subtopic: Option<&str>, received_at: i64) -> NewMessage {
    let topic = format!("owntracks/{}/{}", key.user, key.device);
    NewMessage {
        key: Some(key.clone()),
        topic: subtopic.map_or_else(|| topic.clone(), |sub| format!("{topic}/{sub}")),
        subtopic: subtopic.map(str::to_owned),
        source: Source::Http,
        retained: false,
        replay: Replay::Fresh,
        received_at,
        body: NewBody::Empty { payload: bytes::Bytes::new() },
    }
}

fn selector(key: &DeviceKey, span: Span) -> Selector {
    Selector { user: key.user.clone(), device: Some(key.device.clone()), span }
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(table, n)| ((*table).to_owned(), *n)).collect()
}

async fn tsts(store: &SqlStore, key: &DeviceKey) -> Vec<i64> {
    let query = LocationQuery { key: key.clone(), from: None, to: None, limit: None };
    store.locations(&query).await.unwrap().iter().map(|p| p.tst).collect()
}

async fn last_tst(store: &SqlStore, key: &DeviceKey) -> Option<i64> {
    let last = store.last(Some(&key.user), Some(&key.device)).await.unwrap();
    last.first().map(|l| l.location.tst)
}

async fn a_range_goes_by_fix_time_and_the_last_fix_moves_back(store: &SqlStore) {
    let k = key("jane", "phone");
    let days = [1_700_000_000, 1_700_086_400, 1_700_172_800];
    store.write(&days.map(|tst| fix(&k, 52.5, tst))).await.unwrap();
    let enter = json!({"_type": "transition", "event": "enter", "tst": 1_700_000_100,
        "desc": "Home", "lat": 52.5, "lon": 13.4, "acc": 10, "t": "c"});
    let region = json!({"_type": "waypoint", "desc": "Home", "lat": 52.5, "lon": 13.4,
        "rad": 100, "tst": 1_690_000_000});
    let batch = [
        message(&k, "event", enter, 1_800_000_000),
        // A last will has no time of its own: its arrival counts.
        message(&k, "lwt", json!({"_type": "lwt"}), 1_700_000_500),
        message(&k, "waypoint", region, 1_800_000_000),
    ];
    store.write(&batch).await.unwrap();

    let early = selector(&k, Span::Range { from: None, to: Some(1_700_100_000) });
    let deleted = store.delete(&early, DeletedBy::Cli, 1_900_000_000, 1).await.unwrap();
    // The messages: the event's, the last will, and the region's copy as sent (its `tst` is
    // the region's creation); the region itself stays.
    assert_eq!(deleted.counts, counts(&[("locations", 2), ("messages", 3), ("transitions", 1)]));
    assert_eq!((deleted.devices, deleted.removed), (vec![k.clone()], vec![]));
    assert_eq!(tsts(store, &k).await, [1_700_172_800]);
    assert_eq!(last_tst(store, &k).await, Some(1_700_172_800));

    // Deleting the fix the device shows leaves it registered, with no last position.
    let late = selector(&k, Span::Range { from: Some(1_700_150_000), to: None });
    let deleted = store.delete(&late, DeletedBy::Api, 1_900_000_100, 1000).await.unwrap();
    assert_eq!(deleted.counts, counts(&[("locations", 1)]));
    assert_eq!(last_tst(store, &k).await, None);
    assert_eq!(store.devices(&k.user).await.unwrap(), std::slice::from_ref(&k.device));
    assert_eq!(store.waypoints(&k).await.unwrap().len(), 1);

    let log = store.deletions(10).await.unwrap();
    let shown: Vec<_> = log
        .iter()
        .map(|e| (e.at, e.by, e.device.as_deref(), e.everything, e.from, e.to, e.total))
        .collect();
    assert_eq!(
        shown,
        [
            (1_900_000_100, DeletedBy::Api, Some("phone"), false, Some(1_700_150_000), None, 1),
            (1_900_000_000, DeletedBy::Cli, Some("phone"), false, None, Some(1_700_100_000), 6),
        ]
    );
    assert_eq!(log[1].counts, counts(&[("locations", 2), ("messages", 3), ("transitions", 1)]));
    assert_eq!(log[1].error, None);
}

async fn chunks_add_up_and_a_fresh_fix_after_a_deletion_is_the_last(store: &SqlStore) {
    let k = key("bob", "car");
    let batch: Vec<NewMessage> = (0..5).map(|i| fix(&k, 50.0, 1_700_000_000 + i)).collect();
    store.write(&batch).await.unwrap();
    let span = Span::Range { from: Some(1_700_000_001), to: Some(1_700_000_004) };
    let deleted = store.delete(&selector(&k, span), DeletedBy::Api, 1, 2).await.unwrap();
    assert_eq!(deleted.counts, counts(&[("locations", 4)]));
    assert_eq!(tsts(store, &k).await, [1_700_000_000]);
    assert_eq!(last_tst(store, &k).await, Some(1_700_000_000));
    store.write(&[fix(&k, 50.0, 1_700_000_003)]).await.unwrap();
    assert_eq!(last_tst(store, &k).await, Some(1_700_000_003));
}

async fn everything_of_a_device_goes_with_its_registry_rows(store: &SqlStore) {
    let phone = key("jane", "phone");
    let tablet = key("jane", "tablet");
    let bob = UserName::parse("bob").unwrap();
    store
        .write(&[fix(&phone, 52.5, 1_700_000_000), fix(&phone, 52.6, 1_700_000_060)])
        .await
        .unwrap();
    store.write(&[fix(&tablet, 48.1, 1_700_000_000)]).await.unwrap();
    let region = json!({"_type": "waypoint", "desc": "Home", "lat": 52.5, "lon": 13.4,
        "rad": 100, "tst": 1_690_000_000});
    store.write(&[message(&phone, "waypoint", region, 1_700_000_000)]).await.unwrap();
    let card = Card { name: Some("Jane's phone".into()), face: None, tid: None };
    store.set_card(&phone.user, Some(&phone.device), &card, 1).await.unwrap();
    store.set_secret(&phone, Some("s3cret"), 1).await.unwrap();
    store.add_friend(&bob, &phone.user, Some(&phone.device)).await.unwrap();
    store.add_friend(&bob, &tablet.user, Some(&tablet.device)).await.unwrap();
    store.queue_command(&phone, "reportLocation", "{}", 1).await.unwrap();
    store.set_retention_rule(&phone.user, Some(&phone.device), 30, 1).await.unwrap();

    let deleted =
        store.delete(&selector(&phone, Span::All), DeletedBy::Cli, 2, 1000).await.unwrap();
    assert_eq!(
        deleted.counts,
        counts(&[
            ("cards", 1),
            ("commands", 1),
            ("devices", 1),
            ("fences", 1),
            ("friends", 1),
            ("locations", 2),
            ("messages", 1),
            ("retention_rules", 1),
            ("secrets", 1),
            ("waypoints", 1),
        ])
    );
    assert_eq!((deleted.devices, deleted.removed), (vec![phone.clone()], vec![phone.clone()]));
    assert_eq!(store.devices(&phone.user).await.unwrap(), std::slice::from_ref(&tablet.device));
    assert_eq!(store.secret(&phone).await.unwrap(), None);
    assert!(store.cards(None).await.unwrap().is_empty());
    let tablet_friend = (tablet.user.clone(), Some(tablet.device.clone()));
    assert_eq!(store.friends(&bob).await.unwrap(), [tablet_friend]);
    assert!(store.commands(Some(&phone)).await.unwrap().is_empty());
    assert!(store.retention_rules().await.unwrap().is_empty());
    assert_eq!(tsts(store, &tablet).await, [1_700_000_000]);
    let deleted_log = store.deletions(1).await.unwrap();
    assert_eq!((deleted_log[0].everything, deleted_log[0].total), (true, 11));

    // The next message registers the device again, under a new row.
    store.write(&[fix(&phone, 52.7, 1_700_000_120)]).await.unwrap();
    assert_eq!(store.devices(&phone.user).await.unwrap(), [phone.device.clone(), tablet.device]);
    assert_eq!(last_tst(store, &phone).await, Some(1_700_000_120));
    assert_eq!(tsts(store, &phone).await, [1_700_000_120]);
}

async fn everything_of_a_user_goes_with_the_users_own_rows(store: &SqlStore) {
    let phone = key("jane", "phone");
    let tablet = key("jane", "tablet");
    let bob = key("bob", "car");
    store
        .write(&[fix(&phone, 1.0, 10_000), fix(&tablet, 2.0, 10_000), fix(&bob, 3.0, 10_000)])
        .await
        .unwrap();
    let card = Card { name: Some("Jane".into()), face: None, tid: None };
    store.set_card(&phone.user, None, &card, 1).await.unwrap();
    store.add_friend(&phone.user, &bob.user, None).await.unwrap();
    store.add_friend(&bob.user, &phone.user, None).await.unwrap();
    store.set_retention_rule(&phone.user, None, 7, 1).await.unwrap();
    // A device that never sent anything, known only by its secret.
    let watch = key("jane", "watch");
    store.set_secret(&watch, Some("w"), 1).await.unwrap();

    let user = Selector { user: phone.user.clone(), device: None, span: Span::All };
    let deleted = store.delete(&user, DeletedBy::Api, 2, 1000).await.unwrap();
    assert_eq!(
        deleted.counts,
        counts(&[
            ("cards", 1),
            ("devices", 2),
            ("friends", 2),
            ("locations", 2),
            ("retention_rules", 1),
            ("secrets", 1),
        ])
    );
    assert_eq!(deleted.removed, [phone.clone(), tablet]);
    assert_eq!(store.users().await.unwrap(), std::slice::from_ref(&bob.user));
    assert!(store.friends(&bob.user).await.unwrap().is_empty());
    assert!(store.friends(&phone.user).await.unwrap().is_empty());
    assert!(store.secrets().await.unwrap().is_empty());
    assert_eq!(last_tst(store, &bob).await, Some(10_000));
}

async fn rules_are_set_replaced_listed_and_removed(store: &SqlStore) {
    let jane = UserName::parse("jane").unwrap();
    let car = DeviceName::parse("car").unwrap();
    assert!(!store.set_retention_rule(&jane, None, 30, 1).await.unwrap());
    assert!(!store.set_retention_rule(&jane, Some(&car), 0, 2).await.unwrap());
    assert!(store.set_retention_rule(&jane, None, 60, 3).await.unwrap());
    let rules = store.retention_rules().await.unwrap();
    let shown: Vec<_> = rules
        .iter()
        .map(|r| (r.user.as_str(), r.device.as_ref().map(DeviceName::as_str), r.days, r.updated_at))
        .collect();
    assert_eq!(shown, [("jane", None, 60, 3), ("jane", Some("car"), 0, 2)]);
    assert!(store.remove_retention_rule(&jane, Some(&car)).await.unwrap());
    assert!(!store.remove_retention_rule(&jane, Some(&car)).await.unwrap());
    assert_eq!(store.retention_rules().await.unwrap().len(), 1);
}

async fn a_retention_pass_that_deletes_nothing_is_not_logged(store: &SqlStore) {
    let k = key("al", "phone");
    store.write(&[fix(&k, 1.0, 1_700_000_000)]).await.unwrap();
    let old = selector(&k, Span::Range { from: None, to: Some(1_600_000_000) });
    let deleted = store.delete(&old, DeletedBy::Retention, 5, 1000).await.unwrap();
    assert_eq!((deleted.total(), deleted.log_id), (0, None));
    assert!(store.deletions(10).await.unwrap().is_empty());
    // Asked for by a person, an empty deletion is logged: it answers "did it run?".
    let deleted = store.delete(&old, DeletedBy::Cli, 6, 1000).await.unwrap();
    let log = store.deletions(10).await.unwrap();
    assert_eq!((log.len(), Some(log[0].id), log[0].total), (1, deleted.log_id, 0));
    assert_eq!(store.known_devices().await.unwrap(), [k]);
}

backends!(
    a_range_goes_by_fix_time_and_the_last_fix_moves_back,
    chunks_add_up_and_a_fresh_fix_after_a_deletion_is_the_last,
    everything_of_a_device_goes_with_its_registry_rows,
    everything_of_a_user_goes_with_the_users_own_rows,
    rules_are_set_replaced_listed_and_removed,
    a_retention_pass_that_deletes_nothing_is_not_logged,
);

/// Two stores on one database, as two ingest workers or a server and `pista delete`: the one
/// that did not delete had the device's id cached, and still stores the device's next fix where
/// it can be read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_writer_forgets_the_id_of_a_device_deleted_elsewhere() {
    for backend in [common::Backend::Sqlite, common::Backend::Postgres, common::Backend::Mysql] {
        let test = common::open(backend).await;
        let other = SqlStore::open(&test.url).await.unwrap();
        let k = key("jane", "phone");
        test.store.write(&[fix(&k, 52.1, 1_700_000_000)]).await.unwrap();
        let everything = selector(&k, Span::All);
        let deleted = other.delete(&everything, DeletedBy::Cli, 1_900_000_000, 100).await.unwrap();
        assert_eq!(deleted.removed, std::slice::from_ref(&k));

        test.store.write(&[fix(&k, 52.2, 1_700_000_100)]).await.unwrap();
        let last = other.last(Some(&k.user), Some(&k.device)).await.unwrap();
        let tsts: Vec<i64> = last.iter().map(|l| l.location.tst).collect();
        assert_eq!(tsts, [1_700_000_100], "{backend:?}");
        let query = LocationQuery { key: k.clone(), from: None, to: None, limit: None };
        assert_eq!(other.locations(&query).await.unwrap().len(), 1, "{backend:?}");
        other.close().await;
        test.finish().await;
    }
}

/// A batch in flight in one process while another deletes its device (PostgreSQL and MariaDB,
/// where writers of two processes do not take turns). The batch is held after its insert by a
/// lock on the device row; the deletion goes through the device's history meanwhile, without
/// the held fix, which is not committed yet. The deletion's last step waits for the batch and
/// takes its fix too: nothing is left under the deleted id, and the device's next fix
/// registers it anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_in_flight_during_a_deletion_leaves_no_row_behind() {
    use sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};

    for backend in [common::Backend::Postgres, common::Backend::Mysql] {
        let test = common::open(backend).await;
        let other = SqlStore::open(&test.url).await.unwrap();
        let k = key("jane", "phone");
        test.store.write(&[fix(&k, 52.1, 1_700_000_000)]).await.unwrap();

        let raw = Database::connect(test.url.as_str()).await.unwrap();
        let held = raw.begin().await.unwrap();
        let lock = "SELECT id FROM devices FOR UPDATE";
        held.query_all_raw(Statement::from_string(raw.get_database_backend(), lock)).await.unwrap();
        let pause = |ms| tokio::time::sleep(std::time::Duration::from_millis(ms));
        let everything = selector(&k, Span::All);
        let batch = [fix(&k, 52.2, 1_700_000_100)];
        let (written, deleted, ()) = tokio::join!(
            test.store.write(&batch),
            async {
                pause(300).await;
                other.delete(&everything, DeletedBy::Cli, 1_900_000_000, 100).await
            },
            async {
                pause(900).await;
                held.commit().await.unwrap();
            },
        );
        assert!(matches!(written.unwrap()[..], [WriteOutcome::Location { .. }]), "{backend:?}");
        let deleted = deleted.unwrap();
        assert_eq!(deleted.removed, std::slice::from_ref(&k), "{backend:?}");
        assert_eq!(deleted.counts.get("locations"), Some(&2), "{backend:?}");
        let orphans =
            "SELECT COUNT(*) FROM locations WHERE device_id NOT IN (SELECT id FROM devices)";
        let row = raw
            .query_one_raw(Statement::from_string(raw.get_database_backend(), orphans))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 0, "{backend:?}");

        test.store.write(&[fix(&k, 52.3, 1_700_000_200)]).await.unwrap();
        let query = LocationQuery { key: k.clone(), from: None, to: None, limit: None };
        let tsts: Vec<i64> = other.locations(&query).await.unwrap().iter().map(|l| l.tst).collect();
        assert_eq!(tsts, [1_700_000_200], "{backend:?}");
        raw.close().await.unwrap();
        other.close().await;
        test.finish().await;
    }
}

/// Two processes on one SQLite file (a server taking in points, `pista delete` beside it):
/// neither fails with "database is locked". Every write transaction takes the file's write
/// lock when it begins and waits its turn, instead of reading first and failing when the other
/// committed in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_a_sqlite_file_deletes_while_the_first_writes() {
    let test = common::open(common::Backend::Sqlite).await;
    // Each "process" in a task of its own, as two processes run independently.
    let server = std::sync::Arc::new(SqlStore::open(&test.url).await.unwrap());
    let other = std::sync::Arc::new(SqlStore::open(&test.url).await.unwrap());
    let (w, x) = (key("busy", "writer"), key("busy", "deleted"));
    let writer = tokio::spawn({
        let (server, w) = (server.clone(), w.clone());
        async move {
            for round in 0..40 {
                let start = 1_700_000_000 + round * 100;
                let batch: Vec<NewMessage> = (0..20).map(|n| fix(&w, 52.0, start + n)).collect();
                server.write(&batch).await.unwrap();
                // Mixed with a message: the pool's path.
                let card = message(&w, "info", json!({"_type":"card","name":"W"}), 1_800_000_000);
                server.write(&[fix(&w, 52.5, start + 50), card]).await.unwrap();
            }
        }
    });
    let deleter = tokio::spawn({
        let (other, x) = (other.clone(), x.clone());
        async move {
            for round in 0..20 {
                let batch: Vec<NewMessage> =
                    (0..30).map(|n| fix(&x, 51.0, 1_700_000_000 + round * 100 + n)).collect();
                other.write(&batch).await.unwrap();
                let everything = selector(&x, Span::All);
                let deleted = other.delete(&everything, DeletedBy::Cli, 1_900_000_000, 10).await;
                assert_eq!(deleted.unwrap().removed, std::slice::from_ref(&x));
            }
        }
    });
    writer.await.unwrap();
    deleter.await.unwrap();
    assert_eq!(tsts(&test.store, &w).await.len(), 40 * 21);
    assert_eq!(tsts(&test.store, &x).await, Vec::<i64>::new());
    server.close().await;
    other.close().await;
    test.finish().await;
}
