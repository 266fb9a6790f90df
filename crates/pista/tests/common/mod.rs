//! Shared test harness: a real Pista server started in-process on free loopback ports, real MQTT
//! clients (rumqttc, MQTT 3.1.1 and 5), an HTTP client, a storage wrapper that injects faults,
//! and polling with a deadline instead of sleeps.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use pista::serve::Server;
use pista::settings::Settings;
use pista_core::{Card, DeviceKey, DeviceName, UserName};
use pista_ingest::BrokerUrl;
use pista_store::{
    DeviceState, History, HistoryQuery, InventoryItem, LastLocation, LocationQuery, NewMessage,
    Quarantined, SqlStore, Storage, StoreError, StoredCard, StoredCommand, StoredLocation,
    StoredMessage, StoredTransition, StoredWaypoint, WriteOutcome,
};
use serde_json::Value;

/// The Mosquitto the tests use; `.ci/run` makes sure it runs. A missing broker fails the tests.
pub fn mosquitto_url() -> String {
    std::env::var("PISTA_TEST_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".to_owned())
}

/// A name no other test or test run uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}{}x{}x{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A server on a temporary data directory.
pub struct TestServer {
    pub server: Server,
    pub dir: tempfile::TempDir,
    pub http: String,
    settings: Settings,
}

impl TestServer {
    /// Starts with the embedded broker on a free port, adjusted by `configure`.
    pub async fn start(configure: impl FnOnce(&mut Settings)) -> Self {
        Self::start_with(configure, None).await
    }

    /// Like `start`, on a given store.
    pub async fn start_with(
        configure: impl FnOnce(&mut Settings),
        store: Option<Arc<dyn Storage>>,
    ) -> Self {
        pista::install_crypto_provider();
        // PISTA_TEST_LOG=debug shows the server's log for failing tests.
        let filter = tracing_subscriber::EnvFilter::try_from_env("PISTA_TEST_LOG")
            .unwrap_or_else(|_| "off".into());
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::for_tests(dir.path().to_owned());
        configure(&mut settings);
        let server = match store {
            Some(store) => Server::start_with_store(&settings, store).await.unwrap(),
            None => Server::start(&settings).await.unwrap(),
        };
        let http = format!("http://{}", server.http_addr);
        Self { server, dir, http, settings }
    }

    /// Stops and starts again on the same database and settings.
    pub async fn restart(self) -> Self {
        self.restart_with(|_| {}).await
    }

    /// Stops and starts again on the same database, with settings changed by `configure`.
    pub async fn restart_with(self, configure: impl FnOnce(&mut Settings)) -> Self {
        let Self { server, dir, mut settings, .. } = self;
        configure(&mut settings);
        server.stop().await;
        let server = Server::start(&settings).await.unwrap();
        let http = format!("http://{}", server.http_addr);
        Self { server, dir, http, settings }
    }

    pub fn broker_port(&self) -> u16 {
        self.server.broker_addr.expect("embedded broker is on").port()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = reqwest::get(format!("{}{path}", self.http)).await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = reqwest::Client::new().post(format!("{}{path}", self.http)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// The device's stored locations, oldest first.
    pub async fn points(&self, user: &str, device: &str) -> Vec<StoredLocation> {
        let query = LocationQuery {
            key: DeviceKey::parse(user, device).unwrap(),
            from: None,
            to: None,
            limit: None,
        };
        self.server.store.locations(&query).await.unwrap()
    }

    /// Waits until the device has `count` locations and returns them.
    pub async fn wait_points(&self, user: &str, device: &str, count: usize) -> Vec<StoredLocation> {
        eventually(&format!("{count} points for {user}/{device}"), || async {
            let points = self.points(user, device).await;
            (points.len() >= count).then_some(points)
        })
        .await
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Polls `check` every 20 ms until it returns a value; panics after 10 s.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_within(Duration::from_secs(10), what, check).await
}

/// Polls `check` every 20 ms until it returns a value; panics after `limit`.
pub async fn eventually_within<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes QoS 1 messages with an MQTT 3.1.1 client and waits for every PUBACK.
pub async fn publish_v311(port: u16, messages: &[(&str, &[u8], bool)]) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut options = MqttOptions::new(unique("pub"), "127.0.0.1", port);
    options.set_max_packet_size(16 << 20, 16 << 20);
    let (client, mut events) = AsyncClient::new(options, 100);
    for (topic, payload, retain) in messages {
        client.publish(*topic, QoS::AtLeastOnce, *retain, payload.to_vec()).await.unwrap();
    }
    let mut acked = 0;
    while acked < messages.len() {
        match tokio::time::timeout(Duration::from_secs(10), events.poll())
            .await
            .expect("no PUBACK in time")
        {
            Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(error) => panic!("mqtt 3.1.1 publish failed: {error}"),
        }
    }
    let _ = client.disconnect().await;
}

/// Publishes QoS 1 messages with an MQTT 5 client the way iOS does: the first message of a
/// topic sets topic alias 1, the next ones send only the alias.
pub async fn publish_v5_with_alias(port: u16, topic: &str, payloads: &[&[u8]]) {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let (client, mut events) =
        AsyncClient::new(MqttOptions::new(unique("ios"), "127.0.0.1", port), 100);
    let alias = PublishProperties { topic_alias: Some(1), ..Default::default() };
    let mut acked = 0;
    let mut connected = false;
    while !connected {
        match tokio::time::timeout(Duration::from_secs(10), events.poll())
            .await
            .expect("no CONNACK")
        {
            Ok(Event::Incoming(Packet::ConnAck(_))) => connected = true,
            Ok(_) => {}
            Err(error) => panic!("mqtt 5 connect failed: {error}"),
        }
    }
    for (index, payload) in payloads.iter().enumerate() {
        let topic = if index == 0 { topic } else { "" };
        client
            .publish_with_properties(
                topic,
                QoS::AtLeastOnce,
                false,
                payload.to_vec(),
                alias.clone(),
            )
            .await
            .unwrap();
    }
    while acked < payloads.len() {
        match tokio::time::timeout(Duration::from_secs(10), events.poll())
            .await
            .expect("no PUBACK in time")
        {
            Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(error) => panic!("mqtt 5 publish failed: {error}"),
        }
    }
    let _ = client.disconnect().await;
}

/// Publishes to the test Mosquitto.
pub async fn publish_mosquitto(messages: &[(&str, &[u8], bool)]) {
    let url = BrokerUrl::parse(&mosquitto_url()).unwrap();
    publish_v311(url.port, messages).await;
}

/// Removes a persistent session from the shared Mosquitto so tests leave nothing queued there.
pub async fn forget_session(client_id: &str) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
    let url = BrokerUrl::parse(&mosquitto_url()).unwrap();
    let mut options = MqttOptions::new(client_id, url.host.clone(), url.port);
    options.set_clean_session(true);
    let (client, mut events) = AsyncClient::new(options, 10);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(_)) => {}
        }
    }
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), events.poll()).await;
}

/// Settings to subscribe to the test Mosquitto with a client id of its own, embedded broker off.
pub fn use_mosquitto(settings: &mut Settings, client_id: &str, topics: &[String]) {
    settings.mqtt = Some(BrokerUrl::parse(&mosquitto_url()).unwrap());
    settings.mqtt_client_id = client_id.to_owned();
    settings.base_topics = topics.to_vec();
    settings.broker = None;
}

/// A store that can fail on purpose: `down` fails every write before it starts, and
/// `fail_after_commit` makes the next write holding a message on that topic commit and then
/// report a failure (what a crash between commit and acknowledgement looks like to the sender);
/// `break_history` makes every history read fail after its first page.
pub struct FlakyStore {
    pub inner: SqlStore,
    pub down: AtomicBool,
    pub break_history: AtomicBool,
    pub fail_after_commit: std::sync::Mutex<Option<String>>,
    pub writes: AtomicU32,
    /// How often every device's last location was read.
    pub last_reads: AtomicU32,
}

impl FlakyStore {
    pub async fn open(dir: &std::path::Path) -> Arc<Self> {
        let inner = SqlStore::open(&format!("sqlite://{}/flaky.db", dir.display())).await.unwrap();
        Arc::new(Self {
            inner,
            down: AtomicBool::new(false),
            break_history: AtomicBool::new(false),
            fail_after_commit: Default::default(),
            writes: AtomicU32::new(0),
            last_reads: AtomicU32::new(0),
        })
    }
}

fn outage() -> StoreError {
    StoreError::Corrupt { what: "test", detail: "injected outage".into() }
}

#[async_trait]
impl Storage for FlakyStore {
    async fn write(&self, batch: &[NewMessage]) -> Result<Vec<WriteOutcome>, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(outage());
        }
        let outcomes = self.inner.write(batch).await?;
        let mut fail = self.fail_after_commit.lock().unwrap();
        if fail.as_ref().is_some_and(|topic| batch.iter().any(|m| &m.topic == topic)) {
            *fail = None;
            return Err(outage());
        }
        Ok(outcomes)
    }
    async fn users(&self) -> Result<Vec<UserName>, StoreError> {
        self.inner.users().await
    }
    async fn devices(&self, user: &UserName) -> Result<Vec<DeviceName>, StoreError> {
        self.inner.devices(user).await
    }
    async fn last(
        &self,
        user: Option<&UserName>,
        device: Option<&DeviceName>,
    ) -> Result<Vec<LastLocation>, StoreError> {
        self.last_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.last(user, device).await
    }
    async fn locations(&self, query: &LocationQuery) -> Result<Vec<StoredLocation>, StoreError> {
        self.inner.locations(query).await
    }
    async fn history(&self, query: &HistoryQuery) -> Result<History, StoreError> {
        let history = self.inner.history(query).await?;
        if self.break_history.load(Ordering::SeqCst) {
            // A history of other pages: the inner store's direct writing goes with the old.
            let broken = futures::stream::once(async { Err(outage()) });
            let pages = history.pages.take(1).chain(broken).boxed();
            return Ok(History::new(history.count, pages));
        }
        Ok(history)
    }
    async fn messages(&self, key: Option<&DeviceKey>) -> Result<Vec<StoredMessage>, StoreError> {
        self.inner.messages(key).await
    }
    async fn device_messages(
        &self,
        query: &pista_store::MessageQuery,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.inner.device_messages(query).await
    }
    async fn quarantined(&self, key: Option<&DeviceKey>) -> Result<Vec<Quarantined>, StoreError> {
        self.inner.quarantined(key).await
    }
    async fn release(&self, ids: &[i64], at: i64) -> Result<(), StoreError> {
        self.inner.release(ids, at).await
    }
    async fn transitions(&self, key: &DeviceKey) -> Result<Vec<StoredTransition>, StoreError> {
        self.inner.transitions(key).await
    }
    async fn waypoints(&self, key: &DeviceKey) -> Result<Vec<StoredWaypoint>, StoreError> {
        self.inner.waypoints(key).await
    }
    async fn cards(&self, user: Option<&UserName>) -> Result<Vec<StoredCard>, StoreError> {
        self.inner.cards(user).await
    }
    async fn set_card(
        &self,
        user: &UserName,
        device: Option<&DeviceName>,
        card: &Card,
        at: i64,
    ) -> Result<(), StoreError> {
        self.inner.set_card(user, device, card, at).await
    }
    async fn remove_card(
        &self,
        user: &UserName,
        device: Option<&DeviceName>,
    ) -> Result<bool, StoreError> {
        self.inner.remove_card(user, device).await
    }
    async fn device_state(&self, key: &DeviceKey) -> Result<Option<DeviceState>, StoreError> {
        self.inner.device_state(key).await
    }
    async fn inventory(&self) -> Result<Vec<InventoryItem>, StoreError> {
        self.inner.inventory().await
    }
    async fn set_odometer(&self, key: &DeviceKey, odo: Option<f64>) -> Result<bool, StoreError> {
        self.inner.set_odometer(key, odo).await
    }
    async fn secret(&self, key: &DeviceKey) -> Result<Option<String>, StoreError> {
        self.inner.secret(key).await
    }
    async fn set_secret(
        &self,
        key: &DeviceKey,
        secret: Option<&str>,
        at: i64,
    ) -> Result<bool, StoreError> {
        self.inner.set_secret(key, secret, at).await
    }
    async fn secrets(&self) -> Result<Vec<DeviceKey>, StoreError> {
        self.inner.secrets().await
    }
    async fn add_friend(
        &self,
        user: &UserName,
        friend: &UserName,
        device: Option<&DeviceName>,
    ) -> Result<bool, StoreError> {
        self.inner.add_friend(user, friend, device).await
    }
    async fn remove_friend(
        &self,
        user: &UserName,
        friend: &UserName,
        device: Option<&DeviceName>,
    ) -> Result<bool, StoreError> {
        self.inner.remove_friend(user, friend, device).await
    }
    async fn friends(
        &self,
        user: &UserName,
    ) -> Result<Vec<(UserName, Option<DeviceName>)>, StoreError> {
        self.inner.friends(user).await
    }
    async fn answer_friends(
        &self,
        user: &UserName,
    ) -> Result<Vec<(UserName, Option<DeviceName>)>, StoreError> {
        self.inner.answer_friends(user).await
    }
    async fn queue_command(
        &self,
        key: &DeviceKey,
        action: &str,
        payload: &str,
        at: i64,
    ) -> Result<i64, StoreError> {
        self.inner.queue_command(key, action, payload, at).await
    }
    async fn command_published(
        &self,
        id: i64,
        result: Result<(), String>,
        at: i64,
    ) -> Result<(), StoreError> {
        self.inner.command_published(id, result, at).await
    }
    async fn commands(&self, key: Option<&DeviceKey>) -> Result<Vec<StoredCommand>, StoreError> {
        self.inner.commands(key).await
    }
    async fn take_http_commands(
        &self,
        key: &DeviceKey,
        at: i64,
    ) -> Result<Vec<StoredCommand>, StoreError> {
        self.inner.take_http_commands(key, at).await
    }
    async fn tour(
        &self,
        uuid: &pista_core::tour::TourId,
    ) -> Result<Option<pista_store::StoredTour>, StoreError> {
        self.inner.tour(uuid).await
    }
    async fn tours(&self, key: &DeviceKey) -> Result<Vec<pista_store::StoredTour>, StoreError> {
        self.inner.tours(key).await
    }
    async fn rawdata(&self) -> Result<Vec<(String, i64, Vec<u8>)>, StoreError> {
        self.inner.rawdata().await
    }
    async fn prune_rawdata(&self, before: i64) -> Result<u64, StoreError> {
        self.inner.prune_rawdata(before).await
    }
}

/// An API item without the arrival time, which depends on when the test ran; checks that the
/// arrival time is present and well formed.
pub fn without_isorcv(item: &Value) -> Value {
    let mut item = item.clone();
    let isorcv = item.as_object_mut().unwrap().shift_remove("isorcv").expect("isorcv present");
    let text = isorcv.as_str().unwrap();
    assert!(
        text.len() == 20 && text.ends_with('Z') && text.as_bytes()[10] == b'T',
        "isorcv {text}"
    );
    item
}

/// Publishes a probe to the test Mosquitto until the server has stored one, which proves its
/// subscription to `owntracks/<user>/#` is in place.
pub async fn wait_for_subscription(server: &TestServer, user: &str) {
    let probe = format!("owntracks/{user}/probe");
    let probe = probe.as_str();
    let sent = std::sync::atomic::AtomicI64::new(1_700_000_000);
    // Each probe differs (its time), so that each is stored; those sent before the
    // subscription took effect are lost.
    let publish = || async {
        let tst = sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let payload = format!("{{\"_type\":\"lwt\",\"tst\":{tst}}}");
        publish_mosquitto(&[(probe, payload.as_bytes(), false)]).await;
        tst
    };
    let stored = |tst: Option<i64>| async move {
        let messages = server.server.store.messages(None).await.unwrap();
        messages.iter().any(|m| m.topic == probe && tst.is_none_or(|tst| m.tst == Some(tst)))
    };
    eventually_within(Duration::from_secs(30), "the subscription to mosquitto", || async {
        publish().await;
        stored(None).await.then_some(())
    })
    .await;
    // One more, stored after every probe before it (one subscription delivers in order): no
    // probe is still in flight, to come again after a test's own reconnection.
    let last = publish().await;
    eventually("the last probe stored", || async { stored(Some(last)).await.then_some(()) }).await;
}

/// A server on a `FlakyStore`, subscribed to the test Mosquitto for a user of its own.
pub struct FlakyMosquittoServer {
    pub server: TestServer,
    pub store: Arc<FlakyStore>,
    pub user: String,
    pub client_id: String,
    pub dir: tempfile::TempDir,
}

impl FlakyMosquittoServer {
    pub async fn start(prefix: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = FlakyStore::open(dir.path()).await;
        let user = unique(prefix);
        let client_id = unique("pista-test-");
        let topics = [format!("owntracks/{user}/#")];
        let server =
            TestServer::start_with(|s| use_mosquitto(s, &client_id, &topics), Some(store.clone()))
                .await;
        wait_for_subscription(&server, &user).await;
        Self { server, store, user, client_id, dir }
    }

    /// Stops the server and removes its session from Mosquitto.
    pub async fn stop(self) {
        self.server.stop().await;
        forget_session(&self.client_id).await;
    }
}

/// A Mosquitto of the test's own on a free loopback port, stopped when dropped. `extra` is added
/// to its configuration (e.g. TLS files or queue limits).
pub struct OwnMosquitto {
    child: std::process::Child,
    pub port: u16,
}

impl OwnMosquitto {
    pub fn start(dir: &std::path::Path, extra: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // `user root` keeps a broker started by root from dropping to a user that cannot read
        // the test's files.
        let config = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence false\n{extra}"
        );
        let path = dir.join(format!("mosquitto-{port}.conf"));
        std::fs::write(&path, config).unwrap();
        let child = std::process::Command::new("mosquitto")
            .arg("-c")
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Self { child, port }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnMosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the `pista` binary with `args` on the data directory `dir` (no config file from the
/// environment): whether it succeeded, its standard output and its standard error.
pub fn pista_in(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    pista_as(&[], dir, args)
}

/// `pista_in` started by `start` instead: a program and its arguments that run a `pista`
/// binary (such as `setpriv ... /path/to/pista`); empty: the built binary itself.
pub fn pista_as(start: &[&str], dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let mut command = match start {
        [] => std::process::Command::new(env!("CARGO_BIN_EXE_pista")),
        [program, rest @ ..] => {
            let mut command = std::process::Command::new(program);
            command.args(rest);
            command
        }
    };
    let output =
        command.args(args).arg("--data-dir").arg(dir).env_remove("PISTA_CONFIG").output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
