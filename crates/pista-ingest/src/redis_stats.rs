//! The original o2s's Redis statistics, kept current from the device objects (`_map`) the outputs
//! stage publishes: per device topic a hash `t:<topic>` (position, address, voltages, IMEI,
//! version, `modif`, and `npubs` counting new fixes), voltage histories `vbatt:<topic>` and
//! `vext:<topic>` (newest first, 11 kept), pointers `imei:<IMEI>` and `tid:<TID>` to the hash,
//! and the expiring `driving:<TID>` (only for trigger `t`) and `lastloc:<TID>` hashes. Every key
//! name starts with the configured prefix (empty: the original's names).
//!
//! Statistics are best effort and never hold up ingest: the task reads the live stream, which
//! drops for a listener that falls behind, and a Redis outage is logged once and skipped until
//! the connection manager gets through again. What changes between updates (the fix time behind
//! `npubs`, the last voltages) is remembered per topic and read back from the hash after a
//! restart or an outage, so neither makes `npubs` or the voltage lists count twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Pipeline, RedisError, RedisResult};
use serde_json::{Map, Value};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::outputs::{LiveEvent, LiveKind};

/// Seconds a `driving:<TID>` hash lives (the original's `SEEN_DRIVING`).
const DRIVING_TTL: i64 = 1200;
/// Seconds a `lastloc:<TID>` hash lives (the original's `LASTLOC_EXPIRY`).
const LASTLOC_TTL: i64 = 3600;
/// Index of the oldest voltage kept: `LTRIM 0 10` keeps 11, as the original did.
const LAST_VOLTAGE: isize = 10;
/// Device object fields copied into `t:<topic>` as they are; `tst` (not in the original) is the
/// fix time that `npubs` counts by.
const FIELDS: [&str; 13] = [
    "status", "imei", "version", "tstamp", "vbatt", "vext", "tid", "cc", "addr", "lat", "lon",
    "compass", "tst",
];

/// A Redis address: `redis://[[user]:password@]host[:port][/db]`. Shown masked.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    text: String,
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Why a Redis URL was refused; `url` has its password masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("redis url {url}: {reason}")]
pub struct RedisUrlError {
    /// The URL as given, password masked.
    pub url: String,
    /// What is wrong with it, in words.
    pub reason: String,
}

impl RedisUrl {
    /// Checks `text` as a plain-TCP Redis address (TLS and unix sockets are not built in).
    pub fn parse(text: &str) -> Result<Self, RedisUrlError> {
        let fail = |reason: String| RedisUrlError { url: mask(text), reason };
        let url = url::Url::parse(text).map_err(|error| fail(format!("not a URL: {error}")))?;
        if url.scheme() != "redis" {
            let scheme = url.scheme();
            return Err(fail(format!("scheme {scheme:?} is not supported, only redis")));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(fail("it has no host".to_owned()));
        }
        if url.port() == Some(0) {
            return Err(fail("port 0 is not a port".to_owned()));
        }
        let db = url.path().trim_start_matches('/');
        if !db.is_empty() && db.parse::<u16>().is_err() {
            return Err(fail(format!("database {db:?} is not a number")));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(fail("it has a query or fragment".to_owned()));
        }
        redis::Client::open(text)
            .map_err(|_| fail("the Redis client does not accept it".to_owned()))?;
        Ok(Self { text: text.to_owned() })
    }

    /// The URL with its password replaced by `***`.
    pub fn masked(&self) -> String {
        mask(&self.text)
    }
}

/// Hides the password of a URL, and everything before the last `@` of text that is not one.
fn mask(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => match url.set_password(Some("***")) {
            Ok(()) => url.to_string(),
            Err(()) => "***".to_owned(),
        },
        Ok(_) => text.to_owned(),
        Err(_) => match text.rfind('@') {
            Some(at) => format!("***{}", &text[at..]),
            None => text.to_owned(),
        },
    }
}

/// Where the statistics go.
#[derive(Debug, Clone)]
pub struct RedisStats {
    pub url: RedisUrl,
    /// Put before every key name; empty gives the original's names.
    pub prefix: String,
}

/// Counters of the Redis statistics since start.
#[derive(Debug, Default)]
pub struct RedisCounters {
    /// Device objects written to Redis.
    pub updates: AtomicU64,
    /// Device objects not written because Redis failed.
    pub failures: AtomicU64,
    /// Outputs missed because the task fell behind the live stream.
    pub skipped: AtomicU64,
}

impl RedisStats {
    /// Starts the task on the outputs' live stream; it ends when `stop` turns true or the
    /// stream closes. It connects lazily, so an unreachable Redis does not delay start-up.
    pub fn spawn(
        self,
        events: broadcast::Receiver<Arc<LiveEvent>>,
        stop: watch::Receiver<bool>,
    ) -> (Arc<RedisCounters>, JoinHandle<()>) {
        let counters = Arc::new(RedisCounters::default());
        let task = tokio::spawn(run(self, counters.clone(), events, stop));
        (counters, task)
    }
}

async fn run(
    config: RedisStats,
    counters: Arc<RedisCounters>,
    mut events: broadcast::Receiver<Arc<LiveEvent>>,
    mut stop: watch::Receiver<bool>,
) {
    let shown = config.url.masked();
    let conn = match connect(&config.url) {
        Ok(conn) => conn,
        Err(error) => {
            tracing::error!(redis = %shown, %error, "redis statistics not started");
            return;
        }
    };
    tracing::info!(redis = %shown, prefix = %config.prefix, "redis statistics on");
    let keys = Keys { prefix: config.prefix };
    let mut writer = Writer { conn, keys, shown, counters, seen: HashMap::new(), down: false };
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        match event {
            Ok(event) if event.kind == LiveKind::Map => writer.device_object(&event.text).await,
            Ok(_) => {}
            Err(RecvError::Lagged(missed)) => {
                writer.counters.skipped.fetch_add(missed, Ordering::Relaxed);
                tracing::warn!(missed, "redis statistics fell behind; outputs skipped");
            }
            Err(RecvError::Closed) => break,
        }
    }
    tracing::debug!("redis statistics stopped");
}

/// A connection manager that tries briefly and gives up, so a dead Redis holds up each update
/// for a few seconds at most (a refused connection for milliseconds); the next update tries
/// again, and what piles up meanwhile is skipped.
fn connect(url: &RedisUrl) -> RedisResult<ConnectionManager> {
    let client = redis::Client::open(url.text.as_str())?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config)
}

/// Key names under the prefix.
struct Keys {
    prefix: String,
}

impl Keys {
    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }
}

/// What the last update of a topic wrote, to see what changed.
#[derive(Debug, Clone, Default, PartialEq)]
struct Seen {
    tst: Option<String>,
    vbatt: Option<String>,
    vext: Option<String>,
}

struct Writer {
    conn: ConnectionManager,
    keys: Keys,
    /// The URL as logs show it.
    shown: String,
    counters: Arc<RedisCounters>,
    /// By device topic; an entry is dropped when its update fails, and read again from Redis.
    seen: HashMap<String, Seen>,
    /// Whether Redis failed and has not answered since (the outage is logged once).
    down: bool,
}

impl Writer {
    async fn device_object(&mut self, text: &str) {
        let object = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => object,
            _ => {
                tracing::debug!(text, "device object is not a JSON object; skipped");
                return;
            }
        };
        let Some(topic) = object.get("topic").and_then(Value::as_str).map(str::to_owned) else {
            tracing::debug!(text, "device object without topic; skipped");
            return;
        };
        match self.update(&topic, &object).await {
            Ok(seen) => {
                self.counters.updates.fetch_add(1, Ordering::Relaxed);
                self.seen.insert(topic, seen);
                if std::mem::take(&mut self.down) {
                    tracing::info!(redis = %self.shown, "redis answers again; statistics resumed");
                }
            }
            Err(error) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                self.seen.remove(&topic);
                self.failed(&topic, &error);
            }
        }
    }

    async fn update(&mut self, topic: &str, object: &Map<String, Value>) -> RedisResult<Seen> {
        let before = match self.seen.get(topic) {
            Some(seen) => seen.clone(),
            None => self.read_seen(topic).await?,
        };
        let modif = pista_derive::map::tstamp(crate::now());
        let (pipe, seen) = plan(&self.keys, topic, object, &before, modif);
        pipe.exec_async(&mut self.conn).await?;
        Ok(seen)
    }

    async fn read_seen(&mut self, topic: &str) -> RedisResult<Seen> {
        let (tst, vbatt, vext) = redis::cmd("HMGET")
            .arg(self.keys.key("t", topic))
            .arg(&["tst", "vbatt", "vext"])
            .query_async(&mut self.conn)
            .await?;
        Ok(Seen { tst, vbatt, vext })
    }

    fn failed(&mut self, topic: &str, error: &RedisError) {
        if self.down {
            tracing::debug!(topic, %error, "redis still failing; statistics skipped");
        } else {
            self.down = true;
            tracing::warn!(
                redis = %self.shown,
                topic,
                %error,
                "redis failed; statistics are skipped until it answers again"
            );
        }
    }
}

/// The commands one device object makes (one transaction), and what they leave behind.
fn plan(
    keys: &Keys,
    topic: &str,
    object: &Map<String, Value>,
    before: &Seen,
    modif: String,
) -> (Pipeline, Seen) {
    let text = |field: &str| object.get(field).and_then(as_text).filter(|t| !t.is_empty());
    let seen = Seen { tst: text("tst"), vbatt: text("vbatt"), vext: text("vext") };
    let hash = keys.key("t", topic);
    let mut pipe = redis::pipe();
    pipe.atomic();

    let mut fields: Vec<(&str, String)> =
        FIELDS.iter().filter_map(|field| Some((*field, text(field)?))).collect();
    fields.push(("modif", modif));
    pipe.cmd("HSET").arg(&hash).arg(&fields).ignore();
    let new_fix = seen.tst.is_some() && seen.tst != before.tst;
    if new_fix {
        pipe.cmd("HINCRBY").arg(&hash).arg("npubs").arg(1).ignore();
    }

    let voltages = [("vbatt", &seen.vbatt, &before.vbatt), ("vext", &seen.vext, &before.vext)];
    for (name, now, then) in voltages {
        if let Some(volts) = now.as_ref().filter(|_| now != then) {
            let list = keys.key(name, topic);
            pipe.cmd("LPUSH").arg(&list).arg(volts).ignore();
            pipe.cmd("LTRIM").arg(&list).arg(0).arg(LAST_VOLTAGE).ignore();
        }
    }

    if let Some(imei) = text("imei") {
        pipe.cmd("SET").arg(keys.key("imei", &imei)).arg(&hash).ignore();
    }
    if let Some(tid) = text("tid") {
        pipe.cmd("SET").arg(keys.key("tid", &tid)).arg(&hash).ignore();
        if new_fix {
            fix_keys(&mut pipe, keys, &tid, &text);
        }
    }
    (pipe, seen)
}

/// `driving:<TID>` (moving fixes only) and `lastloc:<TID>`, each with its time to live.
fn fix_keys(pipe: &mut Pipeline, keys: &Keys, tid: &str, text: &dyn Fn(&str) -> Option<String>) {
    let pick = |names: &[&'static str]| -> Vec<(&'static str, String)> {
        names.iter().filter_map(|name| Some((*name, text(name)?))).collect()
    };
    if text("t").as_deref() == Some("t") {
        let driving = keys.key("driving", tid);
        pipe.cmd("HSET").arg(&driving).arg(pick(&["tid", "tst", "trip", "vel"])).ignore();
        pipe.cmd("EXPIRE").arg(&driving).arg(DRIVING_TTL).ignore();
    }
    let lastloc = keys.key("lastloc", tid);
    pipe.cmd("HSET").arg(&lastloc).arg(pick(&["lat", "lon", "tst"])).ignore();
    pipe.cmd("EXPIRE").arg(&lastloc).arg(LASTLOC_TTL).ignore();
}

/// A field's value as Redis keeps it: text as it is, numbers and booleans written out.
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_shown_without_their_password() {
        let url = RedisUrl::parse("redis://:s3cret@127.0.0.1:6379/2").unwrap();
        assert_eq!(url.masked(), "redis://:***@127.0.0.1:6379/2");
        assert_eq!(format!("{url:?}"), "redis://:***@127.0.0.1:6379/2");
        let refused = [
            ("rediss://:pw@host", r#"scheme "rediss" is not supported, only redis"#),
            ("redis://:pw@host/x", r#"database "x" is not a number"#),
            ("redis://:pw@host:0", "port 0 is not a port"),
            ("redis://:pw@host?db=1", "it has a query or fragment"),
        ];
        for (text, reason) in refused {
            let error = RedisUrl::parse(text).unwrap_err();
            assert_eq!(error.reason, reason, "{text}");
            assert!(!error.to_string().contains("pw"), "{error}");
        }
        let error = RedisUrl::parse("redis//:pw/x@host").unwrap_err();
        assert_eq!(error.url, "***@host");
    }
}
