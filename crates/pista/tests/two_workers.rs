//! Two ingest workers on one PostgreSQL database, sharing one subscription on Mosquitto
//! (`$share/<group>/...`): each message is stored once, by one of them; every device's points and
//! last position are right; a fence made through one worker's API applies on both, each crossing
//! alerts once, and the retained device object shows the newest fix whichever worker stored it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// Shared with the outputs tests, which use all of it.
#[allow(dead_code)]
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::{TestServer, eventually_within, forget_session, publish_mosquitto, unique};
use crate::outputs::listen;
use pista_ingest::BrokerUrl;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

/// Two workers on a PostgreSQL database of their own, sharing a subscription to a user's topics.
struct Pair {
    workers: Vec<TestServer>,
    ids: [String; 2],
    user: String,
    admin: DatabaseConnection,
    database: String,
    /// The workers' database, for reading what they derived.
    store: pista_store::SqlStore,
}

impl Pair {
    async fn start(
        configure: impl Fn(&mut pista::settings::Settings) + Clone + Send + 'static,
    ) -> Self {
        let admin_url = std::env::var("PISTA_TEST_PG_URL")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let database = unique("pista_two").replace('x', "_");
        let admin = Database::connect(admin_url.as_str()).await.unwrap();
        admin.execute_unprepared(&format!("CREATE DATABASE {database}")).await.unwrap();
        let url = format!("{}/{database}", admin_url.rsplit_once('/').unwrap().0);
        let store = pista_store::SqlStore::open(&url).await.unwrap();

        let user = unique("two");
        let group = unique("g");
        let filter = format!("$share/{group}/owntracks/{user}/#");
        let ids = [unique("w1"), unique("w2")];
        let mut workers = Vec::new();
        for id in &ids {
            let (url, filter, id, configure) =
                (url.clone(), filter.clone(), id.clone(), configure.clone());
            workers.push(
                TestServer::start(move |s| {
                    s.database = url;
                    s.mqtt = Some(BrokerUrl::parse(&crate::common::mosquitto_url()).unwrap());
                    s.mqtt_client_id = id;
                    s.base_topics = vec![filter];
                    s.broker = None;
                    configure(s);
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
                .all(|w| {
                    w.server.pipeline.stats().by_type.snapshot().iter().any(|(t, _)| t == "lwt")
                })
                .then_some(())
        })
        .await;
        Self { workers, ids, user, admin, database, store }
    }

    /// How many locations each worker stored.
    fn shares(&self) -> Vec<u64> {
        self.workers
            .iter()
            .map(|w| w.server.pipeline.stats().locations.load(Ordering::Relaxed))
            .collect()
    }

    async fn stop(self) {
        for worker in self.workers {
            worker.stop().await;
        }
        for id in &self.ids {
            forget_session(id).await;
        }
        let drop = format!("DROP DATABASE {} WITH (FORCE)", self.database);
        self.admin.execute_unprepared(&drop).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_a_subscription_and_store_each_message_once() {
    let pair = Pair::start(|_| {}).await;
    let (user, workers) = (pair.user.clone(), &pair.workers);

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
    let shares = pair.shares();
    assert_eq!(shares.iter().sum::<u64>(), 5 * per_device as u64, "{shares:?}");
    assert!(shares.iter().all(|share| *share > 0), "both workers stored some: {shares:?}");
    pair.stop().await;
}

/// A fence made through the first worker's API, after both started; one device goes in and out
/// of it, one fix at a time, while Mosquitto hands the fixes to the workers in turn. Every
/// crossing alerts exactly once, the stored sides agree, and the retained `_map` object ends on
/// the newest fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_alert_each_fence_crossing_once() {
    let prefix = unique("_tw");
    let configure = {
        let prefix = prefix.clone();
        move |s: &mut pista::settings::Settings| {
            s.map_topic = format!("{prefix}/_map");
            s.look_topic = format!("{prefix}/_look");
            s.alert_topic = format!("{prefix}/_alerts");
        }
    };
    let pair = Pair::start(configure).await;
    let (user, workers) = (pair.user.clone(), &pair.workers);
    let port = BrokerUrl::parse(&crate::common::mosquitto_url()).unwrap().port;
    let alerts_topic = format!("{prefix}/_alerts");
    let listener = listen::Listener::start(port, &[&alerts_topic]).await;

    let fence = json!({"name": "Depot", "lat": 51.1694, "lon": 4.38942, "radius": 300});
    let response = workers[0].post("/api/0/fences", &[], fence.to_string()).await;
    assert_eq!(response.status().as_u16(), 201);
    let fence_id = response.json::<Value>().await.unwrap()["id"].as_i64().unwrap();

    // Outside, inside, inside, outside, ... an hour apart; each stored before the next is sent.
    let inside = [false, true, true, false, false, true, false, true, false, false];
    let device = format!("owntracks/{user}/bb");
    let base = 1_700_000_000_i64;
    for (n, within) in inside.iter().enumerate() {
        let (lat, lon) = if *within { (51.17, 4.39) } else { (51.2, 4.5) };
        let tst = base + 3600 * n as i64;
        let fix = json!({"_type": "location", "lat": lat, "lon": lon, "tst": tst, "tid": "BB"});
        publish_mosquitto(&[(&device, fix.to_string().as_bytes(), false)]).await;
        // Stored before the next is sent, but not necessarily judged: one worker may judge a
        // later fix before the other has judged an earlier one, and the crossing between them
        // must still alert once.
        eventually_within(Duration::from_secs(30), "the fix stored", || async {
            let points = workers[0].points(&user, "bb").await;
            (points.iter().any(|point| point.tst == tst)).then_some(())
        })
        .await;
    }
    let expected = vec![
        ("enter".to_owned(), base + 3600),
        ("leave".to_owned(), base + 3 * 3600),
        ("enter".to_owned(), base + 5 * 3600),
        ("leave".to_owned(), base + 6 * 3600),
        ("enter".to_owned(), base + 7 * 3600),
        ("leave".to_owned(), base + 8 * 3600),
    ];
    let stored = eventually_within(Duration::from_secs(30), "six alerts", || async {
        let (_, alerts) = workers[1].get(&format!("/api/0/alerts?user={user}&device=bb")).await;
        let alerts: Vec<(String, i64)> = alerts
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["event"].as_str().unwrap().to_owned(), a["tst"].as_i64().unwrap()))
            .collect();
        (alerts.len() >= expected.len()).then_some(alerts)
    })
    .await;
    assert_eq!(stored, expected);
    // Published once each, by whichever worker evaluated the crossing.
    listener.wait(&alerts_topic, expected.len()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let heard: Vec<(String, i64)> = listener
        .on(&alerts_topic)
        .iter()
        .map(|h| {
            let alert: Value = serde_json::from_str(&h.payload).unwrap();
            (alert["event"].as_str().unwrap().to_owned(), alert["tst"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(heard.len(), expected.len(), "{heard:?}");
    let mut sorted = heard.clone();
    sorted.sort_by_key(|(_, tst)| *tst);
    let words: Vec<(String, i64)> = expected
        .iter()
        .map(|(event, tst)| (if event == "enter" { "enters" } else { "leaves" }.to_owned(), *tst))
        .collect();
    assert_eq!(sorted, words);
    assert!(pair.shares().iter().all(|share| *share > 0), "both stored: {:?}", pair.shares());

    // The stored side is the newest fix's: outside.
    let last_tst = base + 3600 * (inside.len() as i64 - 1);
    eventually_within(Duration::from_secs(30), "the newest side stored", || async {
        let states = pista_store::DerivedStore::fence_states(&pair.store).await.unwrap();
        let sides: Vec<(bool, i64)> = states.iter().map(|s| (s.inside, s.last_tst)).collect();
        (sides == [(false, last_tst)]).then_some(())
    })
    .await;

    // The retained object is the newest fix's, read by a new subscriber.
    let map_topic = format!("{prefix}/_map/{device}");
    eventually_within(Duration::from_secs(30), "the newest fix retained", || async {
        let reader = listen::Listener::start(port, &[&map_topic]).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let retained = reader.on(&map_topic);
        reader.stop().await;
        let object: Value = serde_json::from_str(&retained.last()?.payload).ok()?;
        (object["tst"] == json!(last_tst)).then_some(())
    })
    .await;

    listener.stop().await;
    let cleanup = [map_topic, format!("{prefix}/_map/pista/fences/{fence_id}")];
    for topic in &cleanup {
        publish_mosquitto(&[(topic, b"", true)]).await;
    }
    pair.stop().await;
}
