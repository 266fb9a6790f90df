//! Two ingest workers on one PostgreSQL database, sharing one subscription on Mosquitto
//! (`$share/<group>/...`): each message is stored once, by one of them, and every device's points
//! and last position are right.
//!
//! FIXME(#5): each worker keeps fence states, running jobs and device objects in its own memory,
//! so with a shared subscription alerts, `_job` and `_map` can be wrong; this test covers
//! storage only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{TestServer, eventually_within, forget_session, publish_mosquitto, unique};
use pista_ingest::BrokerUrl;
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_a_subscription_and_store_each_message_once() {
    let admin = std::env::var("PISTA_TEST_PG_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = unique("pista_two").replace('x', "_");
    let connection = Database::connect(admin.as_str()).await.unwrap();
    connection.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let database = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);

    let user = unique("two");
    let group = unique("g");
    let filter = format!("$share/{group}/owntracks/{user}/#");
    let ids = [unique("w1"), unique("w2")];
    let mut workers = Vec::new();
    for id in &ids {
        let (database, filter, id) = (database.clone(), filter.clone(), id.clone());
        workers.push(
            TestServer::start(move |s| {
                s.database = database;
                s.mqtt = Some(BrokerUrl::parse(&common::mosquitto_url()).unwrap());
                s.mqtt_client_id = id;
                s.base_topics = vec![filter];
                s.broker = None;
            })
            .await,
        );
    }
    // Both subscribed: probes until each worker has stored one.
    eventually_within(Duration::from_secs(30), "both subscriptions", || async {
        let probe = format!("owntracks/{user}/probe");
        publish_mosquitto(&[(&probe, br#"{"_type":"lwt"}"#, false)]).await;
        workers
            .iter()
            .all(|w| w.server.pipeline.stats().by_type.snapshot().iter().any(|(t, _)| t == "lwt"))
            .then_some(())
    })
    .await;

    let per_device = 300;
    let mut messages = Vec::new();
    for n in 0..per_device {
        for device in 0..5 {
            let topic = format!("owntracks/{user}/d{device}");
            let fix = json!({"_type": "location", "lat": 50.0 + f64::from(device), "lon": 8.0,
                             "tst": 1_700_000_000 + n, "tid": "dv"});
            messages.push((topic, fix.to_string()));
        }
    }
    let refs: Vec<(&str, &[u8], bool)> =
        messages.iter().map(|(t, p)| (t.as_str(), p.as_bytes(), false)).collect();
    // The test client queues at most 100 publishes before it waits for acknowledgements.
    for chunk in refs.chunks(100) {
        publish_mosquitto(chunk).await;
    }

    for device in 0..5 {
        let points = eventually_within(Duration::from_secs(60), "every point", || async {
            let points = workers[0].points(&user, &format!("d{device}")).await;
            (points.len() >= per_device as usize).then_some(points)
        })
        .await;
        let tsts: Vec<i64> = points.iter().map(|p| p.tst).collect();
        let expected: Vec<i64> = (0..per_device).map(|n| 1_700_000_000 + n).collect();
        assert_eq!(tsts, expected, "d{device}");
        let (_, last) = workers[1].get(&format!("/api/0/last?user={user}&device=d{device}")).await;
        assert_eq!(last[0]["tst"], json!(1_700_000_000 + per_device - 1), "d{device}");
    }
    let shares: Vec<u64> = workers
        .iter()
        .map(|w| w.server.pipeline.stats().locations.load(Ordering::Relaxed))
        .collect();
    assert_eq!(shares.iter().sum::<u64>(), 5 * per_device as u64, "{shares:?}");
    assert!(shares.iter().all(|share| *share > 0), "both workers stored some: {shares:?}");

    for worker in workers {
        worker.stop().await;
    }
    for id in &ids {
        forget_session(id).await;
    }
    connection.execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)")).await.unwrap();
}
