//! The webhook delivery log of [`DerivedStore`]: attempts read back exactly as logged, oldest
//! first, all of them or one alert's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use pista_store::{DerivedStore, NewDelivery, SqlStore, StoredDelivery};

fn attempt(alert_id: i64, attempt: u16, status: Option<u16>, error: Option<&str>) -> NewDelivery {
    NewDelivery {
        alert_id,
        url: "https://jane:***@hooks.example/alert".to_owned(),
        attempt,
        status,
        error: error.map(str::to_owned),
        delivered: status.is_some_and(|s| (200..300).contains(&s)),
        at: 1_700_000_000 + i64::from(attempt),
    }
}

fn stored(id: i64, delivery: &NewDelivery) -> StoredDelivery {
    StoredDelivery {
        id,
        alert_id: delivery.alert_id,
        url: delivery.url.clone(),
        attempt: delivery.attempt,
        status: delivery.status,
        error: delivery.error.clone(),
        delivered: delivery.delivered,
        at: delivery.at,
    }
}

async fn attempts_read_back_as_logged_per_alert_or_all(store: &SqlStore) {
    let logged = [
        attempt(7, 1, Some(503), Some("answered 503 Service Unavailable")),
        attempt(8, 0, None, Some("dropped: the queue for this webhook was full (1000 waiting)")),
        attempt(7, 2, None, Some("cannot connect: Connection refused (os error 111)")),
        attempt(7, 3, Some(200), None),
    ];
    let mut ids = Vec::new();
    for delivery in &logged {
        ids.push(store.record_delivery(delivery).await.unwrap());
    }
    assert_eq!(ids, [1, 2, 3, 4]);

    let all: Vec<StoredDelivery> =
        ids.iter().zip(&logged).map(|(id, delivery)| stored(*id, delivery)).collect();
    assert_eq!(store.deliveries(None).await.unwrap(), all);
    let seventh = vec![all[0].clone(), all[2].clone(), all[3].clone()];
    assert_eq!(store.deliveries(Some(7)).await.unwrap(), seventh);
    assert_eq!(store.deliveries(Some(9)).await.unwrap(), []);
    assert_eq!(
        store.deliveries(Some(7)).await.unwrap().iter().map(|d| d.delivered).collect::<Vec<_>>(),
        [false, false, true]
    );
}

backends!(attempts_read_back_as_logged_per_alert_or_all);
