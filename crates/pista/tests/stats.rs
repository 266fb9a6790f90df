//! Statistics: `/metrics` after known traffic, line by line; the original o2s's Redis keys
//! against the real Redis (`PISTA_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`, which
//! `.ci/run` starts), each test under a key prefix of its own that it deletes again; and ingest
//! going on while Redis is unreachable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use crate::common::{TestServer, eventually, publish_v311, unique};
use pista_core::DeviceKey;
use pista_ingest::RedisUrl;

/// The Redis the tests use; a missing server fails them.
fn redis_url() -> String {
    std::env::var("PISTA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

const FIRST: &[u8] = br#"{"_type":"location","tid":"JP","lat":52.5,"lon":13.4,"tst":1700000000}"#;
const SECOND: &[u8] = br#"{"_type":"location","tid":"JP","lat":48.86,"lon":2.35,"tst":1700000060}"#;
const CARD: &[u8] = br#"{"_type":"card","name":"Jane"}"#;

async fn scrape(server: &TestServer) -> String {
    let response = reqwest::get(format!("{}/metrics", server.http)).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    response.text().await.unwrap()
}

/// The newest arrival time of what `user/device` had stored (locations and messages).
async fn stored_last_seen(server: &TestServer, user: &str, device: &str) -> i64 {
    let key = DeviceKey::parse(user, device).unwrap();
    let points = server.points(user, device).await;
    let messages = server.server.store.messages(Some(&key)).await.unwrap();
    let times = points.iter().map(|p| p.received_at).chain(messages.iter().map(|m| m.received_at));
    times.max().unwrap()
}

/// Scrapes until `lines` are all there.
async fn scrape_until(server: &TestServer, lines: &[&str]) -> String {
    eventually(&format!("{lines:?} in /metrics"), || async {
        let text = scrape(server).await;
        lines.iter().all(|line| text.lines().any(|l| l == *line)).then_some(text)
    })
    .await
}

#[tokio::test]
async fn metrics_count_known_traffic() {
    let server = TestServer::start(|s| s.geocode = "offline".to_owned()).await;
    let port = server.broker_port();
    // Each fix alone, until its address came back and republished the device object: the
    // number of device objects then does not depend on how batches fell.
    publish_v311(port, &[("owntracks/jane/phone", FIRST, false)]).await;
    scrape_until(&server, &["pista_geocode_misses_total 1", "pista_outputs_total{kind=\"map\"} 2"])
        .await;
    publish_v311(port, &[("owntracks/jane/phone", SECOND, false)]).await;
    scrape_until(&server, &["pista_geocode_misses_total 2", "pista_outputs_total{kind=\"map\"} 4"])
        .await;
    publish_v311(
        port,
        &[
            ("owntracks/jane/phone", FIRST, false),
            ("owntracks/jane/phone", b"{not json", false),
            ("owntracks/jane/phone/info", CARD, false),
            ("owntracks/gw/K2/voltage/batt", b"4.1", false),
        ],
    )
    .await;
    let text = scrape_until(&server, &["pista_outputs_total{kind=\"look\"} 5"]).await;

    let jane = stored_last_seen(&server, "jane", "phone").await;
    let k2 = stored_last_seen(&server, "gw", "k2").await;
    let samples: Vec<&str> = text.lines().filter(|line| !line.starts_with('#')).collect();
    let expected = [
        "pista_messages_total{type=\"card\"} 1".to_owned(),
        "pista_messages_total{type=\"gw-voltage\"} 1".to_owned(),
        "pista_locations_total 2".to_owned(),
        "pista_duplicates_total 1".to_owned(),
        "pista_quarantined_total{reason=\"invalid_json\"} 1".to_owned(),
        "pista_ignored_total 0".to_owned(),
        "pista_failed_batches_total 0".to_owned(),
        "pista_outputs_total{kind=\"alert\"} 0".to_owned(),
        "pista_outputs_total{kind=\"job\"} 0".to_owned(),
        "pista_outputs_total{kind=\"look\"} 5".to_owned(),
        "pista_outputs_total{kind=\"map\"} 4".to_owned(),
        "pista_output_failures_total 0".to_owned(),
        "pista_fence_retries_total 0".to_owned(),
        "pista_mqtt_outputs_dropped_total 0".to_owned(),
        "pista_geocode_hits_total 0".to_owned(),
        "pista_geocode_misses_total 2".to_owned(),
        "pista_geocode_failures_total 0".to_owned(),
        "pista_geocode_dropped_total 0".to_owned(),
        "pista_webhook_deliveries_total 0".to_owned(),
        "pista_webhook_failures_total 0".to_owned(),
        "pista_webhook_dropped_total 0".to_owned(),
        format!("pista_device_last_seen_seconds{{user=\"gw\",device=\"k2\"}} {k2}"),
        format!("pista_device_last_seen_seconds{{user=\"jane\",device=\"phone\"}} {jane}"),
    ];
    assert_eq!(samples, expected, "{text}");
    assert!(text.contains(
        "# HELP pista_locations_total Locations stored.\n# TYPE pista_locations_total counter\n"
    ));
    server.stop().await;
}

/// After a restart nothing was stored yet, but the last-seen times come from storage.
#[tokio::test]
async fn last_seen_survives_a_restart() {
    let server = TestServer::start(|_| {}).await;
    publish_v311(server.broker_port(), &[("owntracks/jane/phone", FIRST, false)]).await;
    let server = server.restart().await;
    let seen = server.points("jane", "phone").await[0].received_at;
    let text = scrape(&server).await;
    let line = format!("pista_device_last_seen_seconds{{user=\"jane\",device=\"phone\"}} {seen}\n");
    assert!(text.contains(&line), "{text}");
    assert!(text.contains("pista_locations_total 0\n"), "{text}");
    server.stop().await;
}

/// Deletes every key under a prefix when dropped, so a failing test cleans up too.
struct Keys {
    client: redis::Client,
    prefix: String,
}

impl Keys {
    fn new() -> Self {
        let client = redis::Client::open(redis_url()).unwrap();
        Self { client, prefix: format!("{}:", unique("pistatest")) }
    }

    async fn conn(&self) -> redis::aio::MultiplexedConnection {
        self.client.get_multiplexed_async_connection().await.unwrap()
    }

    async fn hash(&self, key: &str) -> HashMap<String, String> {
        let key = format!("{}{key}", self.prefix);
        redis::cmd("HGETALL").arg(key).query_async(&mut self.conn().await).await.unwrap()
    }

    async fn query<T: redis::FromRedisValue>(&self, command: &str, key: &str, args: &[&str]) -> T {
        let mut cmd = redis::cmd(command);
        cmd.arg(format!("{}{key}", self.prefix)).arg(args);
        cmd.query_async(&mut self.conn().await).await.unwrap()
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let Ok(mut conn) = self.client.get_connection() else { return };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

#[tokio::test]
async fn redis_keys_of_the_original() {
    let keys = Keys::new();
    let prefix = keys.prefix.clone();
    let server = TestServer::start(|s| {
        s.redis_url = Some(RedisUrl::parse(&redis_url()).unwrap());
        s.redis_prefix = prefix.clone();
    })
    .await;
    let before = pista_ingest::now();
    publish_v311(
        server.broker_port(),
        &[
            ("owntracks/gw/K2", b"K2,542A46AA,t,40365854,4575769,26,4,7,5,8", false),
            ("owntracks/gw/K2/voltage/batt", b"4.1", false),
            ("owntracks/gw/K2/start", b"123456789012345 0.8.1 20140930T085913Z", false),
        ],
    )
    .await;
    let topic = "owntracks/gw/K2";
    let mut hash = eventually("the start message in redis", || async {
        let hash = keys.hash(&format!("t:{topic}")).await;
        hash.contains_key("imei").then_some(hash)
    })
    .await;
    let after = pista_ingest::now();

    let modif = hash.remove("modif").unwrap();
    let stamps: Vec<String> = (before..=after).map(pista_derive::map::tstamp).collect();
    assert!(stamps.contains(&modif), "modif {modif} not in {stamps:?}");
    let expected: HashMap<String, String> = [
        ("addr", "unknown location"),
        ("cc", "??"),
        ("compass", "SW"),
        ("imei", "123456789012345"),
        ("lat", "40.365854"),
        ("lon", "4.575769"),
        ("npubs", "1"),
        ("status", "1"),
        ("tid", "K2"),
        ("tst", "1412056746"),
        ("tstamp", "2014-09-30T05:59:06Z"),
        ("vbatt", "4.1"),
        ("version", "0.8.1"),
    ]
    .into_iter()
    .map(|(field, value)| (field.to_owned(), value.to_owned()))
    .collect();
    assert_eq!(hash, expected);

    let vbatt: Vec<String> = keys.query("LRANGE", &format!("vbatt:{topic}"), &["0", "-1"]).await;
    assert_eq!(vbatt, ["4.1"]);
    let vext: i64 = keys.query("EXISTS", &format!("vext:{topic}"), &[]).await;
    assert_eq!(vext, 0);
    let pointer = format!("{prefix}t:{topic}");
    let imei: String = keys.query("GET", "imei:123456789012345", &[]).await;
    assert_eq!(imei, pointer);
    let tid: String = keys.query("GET", "tid:K2", &[]).await;
    assert_eq!(tid, pointer);

    let driving = keys.hash("driving:K2").await;
    let fields = [("tid", "K2"), ("trip", "8000"), ("tst", "1412056746"), ("vel", "4")];
    assert_eq!(driving, fields.map(|(f, v)| (f.to_owned(), v.to_owned())).into());
    let lastloc = keys.hash("lastloc:K2").await;
    let fields = [("lat", "40.365854"), ("lon", "4.575769"), ("tst", "1412056746")];
    assert_eq!(lastloc, fields.map(|(f, v)| (f.to_owned(), v.to_owned())).into());
    let ttl: i64 = keys.query("TTL", "driving:K2", &[]).await;
    assert!((1..=1200).contains(&ttl), "driving ttl {ttl}");
    let ttl: i64 = keys.query("TTL", "lastloc:K2", &[]).await;
    assert!((1..=3600).contains(&ttl), "lastloc ttl {ttl}");
    let counters = [
        "pista_redis_updates_total 3",
        "pista_redis_failures_total 0",
        "pista_redis_skipped_total 0",
    ];
    scrape_until(&server, &counters).await;
    server.stop().await;
}

/// Every device object fails to reach Redis (a closed port), and ingest does not notice: each
/// message is acknowledged and stored.
#[tokio::test]
async fn ingest_goes_on_while_redis_is_unreachable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("redis://:secret@127.0.0.1:{port}");
    let server = TestServer::start(|s| s.redis_url = Some(RedisUrl::parse(&url).unwrap())).await;
    let broker = server.broker_port();
    publish_v311(broker, &[("owntracks/jane/phone", FIRST, false)]).await;
    scrape_until(&server, &["pista_redis_failures_total 1"]).await;
    for payload in [SECOND, CARD] {
        publish_v311(broker, &[("owntracks/jane/phone", payload, false)]).await;
    }
    let points = server.wait_points("jane", "phone", 2).await;
    assert_eq!(points.iter().map(|p| p.tst).collect::<Vec<_>>(), [1_700_000_000, 1_700_000_060]);
    let after = [
        "pista_locations_total 2",
        "pista_messages_total{type=\"card\"} 1",
        "pista_redis_updates_total 0",
        "pista_redis_failures_total 2",
    ];
    scrape_until(&server, &after).await;
    server.stop().await;
}

#[test]
fn redis_settings_are_validated_and_masked() {
    let env = |var: &str| match var {
        "PISTA_REDIS" => Some("rediss://:secret@127.0.0.1:6380/1".to_owned()),
        _ => None,
    };
    let raw = pista::settings::RawSettings::load(None, env, &[]).unwrap();
    let error = raw.validate().unwrap_err().to_string();
    assert_eq!(
        error,
        "invalid redis.url = \"rediss://:***@127.0.0.1:6380/1\" (from environment PISTA_REDIS): \
         scheme \"rediss\" is not supported, only redis; \
         expected redis://[[user]:password@]host[:port][/db]"
    );
    let flags = [
        ("redis", "redis://:secret@127.0.0.1:6380/1".to_owned()),
        ("redis-prefix", "pista:".to_owned()),
    ];
    let settings = pista::settings::RawSettings::load(None, |_| None, &flags).unwrap();
    let settings = settings.validate().unwrap();
    assert_eq!(format!("{:?}", settings.redis_url), "Some(redis://:***@127.0.0.1:6380/1)");
    assert_eq!(settings.redis_prefix, "pista:");
}
