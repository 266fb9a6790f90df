//! Fences shared by several workers: a side is saved only if the stored side is still the one the
//! change started from (otherwise nothing of the call is written, no state and no alert, and the
//! answer is `Stale`), and every change of the fence list moves its stored revision.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use pista_core::{DeviceKey, Location, Replay, Source};
use pista_store::{
    AlertQuery, DerivedStore, FenceRecord, FenceSide, FenceSource, FenceStateChange, FenceStateRow,
    NewAlert, NewBody, NewFence, NewMessage, SqlStore, Storage,
};
use serde_json::{Value, json};

fn row(key: &DeviceKey, fence_id: i64, inside: bool, last_tst: i64) -> FenceStateRow {
    FenceStateRow { key: key.clone(), fence_id, inside, since: last_tst, pending: None, last_tst }
}

fn side(inside: bool, last_tst: i64) -> FenceSide {
    FenceSide { inside, since: last_tst, pending: None, last_tst }
}

/// A 100 m circle for everyone's devices.
fn circle(name: &str) -> NewFence {
    NewFence {
        source: FenceSource::Api,
        user: None,
        name: name.to_owned(),
        lat: 1.0,
        lon: 1.0,
        radius: Some(100.0),
        polygon: None,
        webhook: None,
    }
}

fn alert(key: &DeviceKey, fence_id: i64, tst: i64) -> NewAlert {
    NewAlert {
        key: key.clone(),
        fence_id,
        entered: true,
        tst,
        meters: 0.0,
        payload: "{}".to_owned(),
        at: tst,
        webhooks: Vec::new(),
    }
}

async fn a_side_changed_meanwhile_writes_nothing_and_answers_stale(store: &SqlStore) {
    let key = DeviceKey::parse("two", "phone").unwrap();
    first_fix(store, &key).await;
    let fence = circle("home");
    let id = store.add_fence(&fence, 1700000000).await.unwrap();
    stale_and_recorded(store, &key, id).await;
}

/// Stores one fix of the device, so that it exists.
async fn first_fix(store: &SqlStore, key: &DeviceKey) {
    let Value::Object(fix) = json!({"_type":"location","lat":1.0,"lon":1.0,"tst":1700000000})
    else {
        unreachable!()
    };
    let location = Location::from_json(fix, || key.device.default_tid()).unwrap();
    let payload = serde_json::to_string(&location.json).unwrap();
    store
        .write(&[NewMessage {
            key: Some(key.clone()),
            topic: format!("owntracks/{}/{}", key.user, key.device),
            subtopic: None,
            source: Source::Mqtt,
            retained: false,
            replay: Replay::Fresh,
            received_at: 1700000000,
            body: NewBody::Location { location: Box::new(location), payload, original: None },
        }])
        .await
        .unwrap();
}

async fn stale_and_recorded(store: &SqlStore, key: &DeviceKey, id: i64) {
    let key = key.clone();
    // Worker one records the first side; worker two, which saw no side either, is stale.
    let first = FenceStateChange { state: row(&key, id, false, 100), was: None };
    let recorded = store.record_fence_events(&[first], &[]).await.unwrap();
    assert_eq!(recorded, FenceRecord::Recorded(Vec::new()));
    let second = FenceStateChange { state: row(&key, id, true, 101), was: None };
    let answer = store.record_fence_events(&[second], &[alert(&key, id, 101)]).await.unwrap();
    assert_eq!(answer, FenceRecord::Stale);
    assert_eq!(store.fence_states().await.unwrap(), [row(&key, id, false, 100)]);
    assert!(store.alerts(None).await.unwrap().is_empty(), "a stale call records no alert");

    // From the stored side the change goes through, with its alert; from an old one it does not.
    let moved = FenceStateChange { state: row(&key, id, true, 102), was: Some(side(false, 100)) };
    let answer = store.record_fence_events(&[moved], &[alert(&key, id, 102)]).await.unwrap();
    assert!(matches!(answer, FenceRecord::Recorded(ref alerts) if alerts.len() == 1));
    let old = FenceStateChange { state: row(&key, id, false, 103), was: Some(side(false, 100)) };
    assert_eq!(store.record_fence_events(&[old], &[]).await.unwrap(), FenceRecord::Stale);
    assert_eq!(store.fence_states().await.unwrap(), [row(&key, id, true, 102)]);
    assert_eq!(store.alerts(None).await.unwrap().len(), 1);
}

fn message(key: &DeviceKey, subtopic: &str, json: Value) -> NewMessage {
    let Value::Object(object) = json else { unreachable!() };
    let message = pista_core::Message::from_json("waypoint", object).unwrap();
    let payload = serde_json::to_string(&message.json).unwrap();
    NewMessage {
        key: Some(key.clone()),
        topic: format!("owntracks/{}/{}/{subtopic}", key.user, key.device),
        subtopic: Some(subtopic.to_owned()),
        source: Source::Mqtt,
        retained: false,
        replay: Replay::Fresh,
        received_at: 1700000000,
        body: NewBody::Message { message: Box::new(message), payload, original: None },
    }
}

async fn every_change_of_the_fence_list_moves_its_revision(store: &SqlStore) {
    assert_eq!(store.fence_revision().await.unwrap(), 0);
    let fence = circle("depot");
    let id = store.add_fence(&fence, 1700000000).await.unwrap();
    assert_eq!(store.fence_revision().await.unwrap(), 1);
    let renamed = NewFence { name: "yard".to_owned(), ..fence.clone() };
    assert!(store.update_fence(id, &renamed, 1700000001).await.unwrap());
    assert_eq!(store.fence_revision().await.unwrap(), 2);
    assert!(!store.update_fence(id + 100, &renamed, 1700000002).await.unwrap());
    assert_eq!(store.fence_revision().await.unwrap(), 2, "nothing changed");

    // An app's region is a fence too: added, moved, and gone with a zero radius.
    let key = DeviceKey::parse("rev", "phone").unwrap();
    let region = |rad: i64| json!({"_type":"waypoint","desc":"Home","lat":52.5,"lon":13.4,"rad":rad,"tst":1690000000});
    store.write(&[message(&key, "waypoint", region(100))]).await.unwrap();
    assert_eq!(store.fence_revision().await.unwrap(), 3);
    store.write(&[message(&key, "waypoint", region(150))]).await.unwrap();
    assert_eq!(store.fence_revision().await.unwrap(), 4);
    store.write(&[message(&key, "waypoint", region(0))]).await.unwrap();
    assert_eq!(store.fence_revision().await.unwrap(), 5);
    assert_eq!(store.fences().await.unwrap().len(), 1);

    assert!(store.remove_fence(id).await.unwrap());
    assert_eq!(store.fence_revision().await.unwrap(), 6);
    assert!(!store.remove_fence(id).await.unwrap());
    assert_eq!(store.fence_revision().await.unwrap(), 6, "nothing removed");
}

/// Pages of alerts: newest id first, bounded by fix time and by id, one device's or all.
async fn alert_pages_go_by_id_within_fix_times(store: &SqlStore) {
    let key = DeviceKey::parse("pager", "phone").unwrap();
    first_fix(store, &key).await;
    let id = store.add_fence(&circle("pages"), 1700000000).await.unwrap();
    // Recorded in this order; the third fix is older than the second.
    let alerts: Vec<NewAlert> = [10, 30, 20, 40].iter().map(|tst| alert(&key, id, *tst)).collect();
    store.record_fence_events(&[], &alerts).await.unwrap();
    let ids: Vec<i64> = store.alerts(None).await.unwrap().iter().map(|a| a.id).collect();
    let page = |query: AlertQuery| async move {
        let page = store.alert_page(&query).await.unwrap();
        page.iter().map(|a| a.tst).collect::<Vec<i64>>()
    };
    let all = AlertQuery { limit: 10, ..AlertQuery::default() };
    assert_eq!(page(all.clone()).await, [40, 20, 30, 10]);
    assert_eq!(page(AlertQuery { limit: 2, ..all.clone() }).await, [40, 20]);
    let range = AlertQuery { from: Some(20), to: Some(30), ..all.clone() };
    assert_eq!(page(range).await, [20, 30]);
    assert_eq!(page(AlertQuery { before: Some(ids[2]), ..all.clone() }).await, [30, 10]);
    let after = AlertQuery { after: Some(ids[1]), limit: 1, ..all.clone() };
    assert_eq!(page(after).await, [40]);
    assert_eq!(page(AlertQuery { key: Some(key.clone()), ..all.clone() }).await.len(), 4);
    let other = DeviceKey::parse("pager", "tablet").unwrap();
    assert_eq!(page(AlertQuery { key: Some(other), ..all }).await, Vec::<i64>::new());
}

backends!(
    alert_pages_go_by_id_within_fix_times,
    a_side_changed_meanwhile_writes_nothing_and_answers_stale,
    every_change_of_the_fence_list_moves_its_revision
);
