//! Tours on every backend: a device's `request` message makes, lists and deletes its tours in
//! the transaction that stores it, and queues the exact answer as a command; only the owner
//! device deletes a tour; a bad request and an unanswered one store no tour.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use common::key;
use pista_core::tour::{Answering, Tour, TourId};
use pista_core::{Detail, DeviceKey, Message, Replay, Source};
use pista_store::{NewBody, NewMessage, SqlStore, Storage, StoredTour, WriteOutcome};
use serde_json::{Value, json};

const UUID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const BASE: &str = "https://pista.example.org/base";

/// A request from `key` as ingest hands it over; answered unless `answer` is `None`.
fn request(key: &DeviceKey, body: Value, answer: Option<&str>, at: i64) -> NewMessage {
    let Value::Object(object) = body else { panic!("object expected") };
    let mut message = Message::from_json("request", object).unwrap();
    let Detail::Request(request) = &mut message.detail else { panic!("a request") };
    request.answer = answer.map(|uuid| Answering {
        uuid: Some(TourId::parse(uuid).unwrap()),
        base_url: BASE.to_owned(),
    });
    let payload = serde_json::to_string(&message.json).unwrap();
    NewMessage {
        key: Some(key.clone()),
        topic: format!("owntracks/{}/{}/request", key.user, key.device),
        subtopic: Some("request".to_owned()),
        source: Source::Mqtt,
        retained: false,
        replay: Replay::Fresh,
        received_at: at,
        body: NewBody::Message { message: Box::new(message), payload, original: None },
    }
}

/// Writes one request and returns the answer queued for it.
async fn answer(store: &SqlStore, message: NewMessage) -> Value {
    let key = message.key.clone().unwrap();
    let outcome = store.write(&[message]).await.unwrap();
    let [WriteOutcome::Answered { command, .. }] = outcome[..] else { panic!("{outcome:?}") };
    let commands = store.commands(Some(&key)).await.unwrap();
    let queued = commands.iter().find(|c| c.id == command).unwrap();
    assert_eq!((queued.action.as_str(), queued.mqtt_at, queued.http_at), ("response", None, None));
    serde_json::from_str(&queued.payload).unwrap()
}

fn tour_request(from: &str, to: &str) -> Value {
    json!({"_type":"request","request":"tour","tour":{"label":"Ride","from":from,"to":to}})
}

async fn tours_are_made_listed_and_deleted_only_by_their_owner(store: &SqlStore) {
    let jane = key("jane", "phone");
    let made =
        answer(store, request(&jane, tour_request("2023-11-14", "2023-11-15"), Some(UUID), 10))
            .await;
    let url = format!("{BASE}/view/{UUID}");
    let tour = json!({"label":"Ride","from":"2023-11-14","to":"2023-11-15","uuid":UUID,"url":url});
    assert_eq!(
        made,
        json!({"_type":"cmd","action":"response","request":"tour","status":200,"tour":tour})
    );
    let uuid = TourId::parse(UUID).unwrap();
    let stored = StoredTour {
        key: jane.clone(),
        tour: Tour {
            uuid: uuid.clone(),
            label: "Ride".into(),
            from: "2023-11-14".into(),
            to: "2023-11-15".into(),
            from_tst: 1_699_920_000,
            to_tst: 1_700_006_400,
        },
        created_at: 10,
    };
    assert_eq!(store.tour(&uuid).await.unwrap(), Some(stored.clone()));
    assert_eq!(store.tours(&jane).await.unwrap(), std::slice::from_ref(&stored));
    // Queued for HTTP mode too: the post that asked takes it in its answer.
    let taken = store.take_http_commands(&jane, 11).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&taken[0].payload).unwrap(), made);

    let list = json!({"_type":"request","request":"tours"});
    assert_eq!(
        answer(store, request(&jane, list.clone(), Some(UUID), 12)).await,
        json!({"_type":"cmd","action":"response","request":"tours","tours":[tour],"ntours":1})
    );

    // Another user's device, and another device of the same user, do not own it.
    let untour = json!({"_type":"request","request":"untour","uuid":UUID});
    for other in [key("bob", "phone"), key("jane", "tablet")] {
        assert_eq!(
            answer(store, request(&other, untour.clone(), Some(UUID), 13)).await,
            json!({"_type":"cmd","action":"response","request":"untour","status":404,
                "error":format!("{other} has no tour {UUID}")})
        );
    }
    assert_eq!(store.tour(&uuid).await.unwrap(), Some(stored));
    assert_eq!(
        answer(store, request(&jane, untour, Some(UUID), 14)).await,
        json!({"_type":"cmd","action":"response","request":"untour","status":200,"uuid":UUID})
    );
    assert_eq!(store.tour(&uuid).await.unwrap(), None);
    assert_eq!(
        answer(store, request(&jane, list, Some(UUID), 15)).await,
        json!({"_type":"cmd","action":"response","request":"tours","tours":[],"ntours":0})
    );
}

async fn bad_and_unanswered_requests_store_no_tour(store: &SqlStore) {
    let jane = key("jane", "phone");
    let uuid = TourId::parse(UUID).unwrap();
    let bad =
        answer(store, request(&jane, tour_request("2023-11-16", "2023-11-15"), Some(UUID), 1))
            .await;
    assert_eq!(
        bad,
        json!({"_type":"cmd","action":"response","request":"tour","status":400,
            "error":"tour from \"2023-11-16\" is after to \"2023-11-15\""})
    );
    assert_eq!(store.tour(&uuid).await.unwrap(), None);

    // Imported history (no answer asked for) is stored as a message and does nothing more.
    let quiet = request(&jane, tour_request("2023-11-14", "2023-11-15"), None, 2);
    let outcome = store.write(&[quiet]).await.unwrap();
    assert!(matches!(outcome[..], [WriteOutcome::Message { .. }]), "{outcome:?}");
    assert_eq!(store.tours(&jane).await.unwrap(), []);
    assert_eq!(store.commands(Some(&jane)).await.unwrap().len(), 1);
    let messages = store.messages(Some(&jane)).await.unwrap();
    let types: Vec<Option<&str>> = messages.iter().map(|m| m.msg_type.as_deref()).collect();
    assert_eq!(types, [Some("request"), Some("request")]);
}

/// A device has at most a hundred tours; the next is refused (409) until one goes.
async fn a_device_has_at_most_a_hundred_tours(store: &SqlStore) {
    let jane = key("jane", "many");
    let uuid = |n: u32| format!("0f8fad5b-d9cb-469f-a165-{n:012x}");
    let batch: Vec<NewMessage> = (0..100)
        .map(|n| request(&jane, tour_request("2023-11-14", "2023-11-15"), Some(&uuid(n)), 1))
        .collect();
    store.write(&batch).await.unwrap();
    assert_eq!(store.tours(&jane).await.unwrap().len(), 100);
    let refused = answer(
        store,
        request(&jane, tour_request("2023-11-14", "2023-11-15"), Some(&uuid(100)), 2),
    )
    .await;
    let error = "jane/many has 100 tours, the most a device may have: untour one first";
    assert_eq!(
        refused,
        json!({"_type":"cmd","action":"response","request":"tour","status":409,"error":error})
    );
    assert_eq!(store.tours(&jane).await.unwrap().len(), 100);
    let untour = json!({"_type":"request","request":"untour","uuid":uuid(7)});
    answer(store, request(&jane, untour, Some(UUID), 3)).await;
    let made = answer(
        store,
        request(&jane, tour_request("2023-11-14", "2023-11-15"), Some(&uuid(100)), 4),
    )
    .await;
    assert_eq!(made["status"], json!(200));
    // Another device is not counted with it.
    let other = key("jane", "other");
    let made =
        answer(store, request(&other, tour_request("2023-11-14", "2023-11-15"), Some(UUID), 5))
            .await;
    assert_eq!(made["status"], json!(200));
}

backends!(
    tours_are_made_listed_and_deleted_only_by_their_owner,
    bad_and_unanswered_requests_store_no_tour,
    a_device_has_at_most_a_hundred_tours
);
