//! `pista serve`: wires storage, the ingest pipeline and every input and output together, and
//! stops them in order. Listeners are bound before anything else starts (the database is not
//! even opened), so a taken port fails fast with a message that says what to do instead.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pista_broker::{BoundBroker, BrokerConfig, BrokerError, BrokerTls, EmbeddedBroker};
use pista_core::UserName;
use pista_core::time::TimeRule;
use pista_derive::fence::Rules;
use pista_ingest::{
    AlarmHook, AlarmOptions, BrokerAccess, BrokerGate, BrokerUrl, CommandPublisher, FenceSync,
    Geocoding, Guard, INTERNAL_USER, LoginLimits, Monitor, MonitorMqtt, MqttSink, OutputOptions,
    Outputs, OutputsHandle, Pipeline, PipelineOptions, RedisStats, Retention, RetentionOptions,
    Sinks, SubscriberConfig, WebhookOptions, Webhooks, run_monitor, run_subscriber,
};
use pista_store::{
    Account, AccountStore, Compacted, DerivedStore, PasswordHash, RetentionStore, SqlStore,
    Storage, StoreError,
};
use pista_web::{AppState, WebConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::settings::Settings;
use crate::tls::TlsFiles;

/// The largest packet MQTT can carry (256 MiB).
const MQTT_MAX_PACKET: usize = 268_435_455;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "the embedded MQTT broker cannot listen on {addr}: the address is in use \
         (is Mosquitto or another broker running there?)\n\
         \x20 to use that broker instead, add:  --mqtt mqtt://{addr}\n\
         \x20 to move the embedded broker, add: --broker {next}   (or --broker off)"
    )]
    BrokerInUse { addr: SocketAddr, next: SocketAddr },
    #[error(transparent)]
    Broker(BrokerError),
    #[error(
        "the HTTP server cannot listen on {addr}: the address is in use\n\
         \x20 to use another address, add: --http {next}"
    )]
    HttpInUse { addr: SocketAddr, next: SocketAddr },
    #[error(
        "the HTTPS server cannot listen on {addr}: the address is in use\n\
         \x20 to use another address, add: --https {next}"
    )]
    HttpsInUse { addr: SocketAddr, next: SocketAddr },
    #[error("the HTTP server cannot listen on {addr}")]
    Http { addr: SocketAddr, source: std::io::Error },
    #[error("cannot read mqtt.ca_file {path}")]
    CaFile { path: String, source: std::io::Error },
    #[error("mqtt.ca_file {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    CaNotPem { path: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("authentication is on but this store keeps no accounts")]
    NoAccounts,
    #[error("cannot make a secret: {0}")]
    Secret(String),
    #[error("geocode settings: {0}")]
    Geocode(#[from] pista_geo::GeoError),
    #[error(transparent)]
    Webhooks(#[from] pista_ingest::WebhookError),
}

/// A running server.
pub struct Server {
    pub http_addr: SocketAddr,
    /// The HTTPS listener's address, when it runs.
    pub https_addr: Option<SocketAddr>,
    /// The embedded broker's MQTTS address, when it runs.
    pub broker_tls_addr: Option<SocketAddr>,
    /// The embedded broker's WebSocket and secure WebSocket addresses, when they run.
    pub broker_ws_addr: Option<SocketAddr>,
    pub broker_wss_addr: Option<SocketAddr>,
    /// The embedded broker's address, when it runs.
    pub broker_addr: Option<SocketAddr>,
    pub pipeline: Pipeline,
    pub store: Arc<dyn Storage>,
    /// The outputs stage (`_map`, `_look`, alerts), when storage supports it.
    pub outputs: Option<OutputsHandle>,
    /// Deletion and retention, when storage supports it.
    pub retention: Option<Retention>,
    /// Tells the HTTP server and the subscriber to stop.
    shutdown: watch::Sender<bool>,
    http: JoinHandle<()>,
    subscriber: Option<JoinHandle<()>>,
    /// Compaction, which ends its step before the runtime goes.
    compaction: Option<JoinHandle<()>>,
    broker: Option<EmbeddedBroker>,
}

/// The storage interfaces beside [`Storage`], when the store has them.
struct Stores {
    derived: Option<Arc<dyn DerivedStore>>,
    retention: Option<Arc<dyn RetentionStore>>,
    accounts: Option<Arc<dyn AccountStore>>,
}

/// What must be in place before the database is opened.
struct Prepared {
    http: TcpListener,
    /// The HTTPS listener, with the certificates of both TLS listeners.
    https: Option<TcpListener>,
    tls: Option<TlsFiles>,
    broker: Option<BoundBroker>,
    ca_pem: Option<Vec<u8>>,
}

impl Server {
    /// Binds the listeners, opens the database named in `settings` and starts.
    pub async fn start(settings: &Settings) -> Result<Self, ServeError> {
        let prepared = prepare(settings).await?;
        let store = Arc::new(SqlStore::open(&settings.database).await?);
        let database = crate::settings::masked_url(&settings.database);
        // A server that may not write would refuse every point: it does not start.
        store.check_writable().await?;
        tracing::info!(%database, "database ready");
        let stores = Stores {
            derived: Some(store.clone()),
            retention: Some(store.clone()),
            accounts: Some(store.clone()),
        };
        Self::launch(settings, store, stores, prepared).await
    }

    /// Starts on a given store (tests use this to inject storage faults), with authentication
    /// off: the store has no accounts.
    pub async fn start_with_store(
        settings: &Settings,
        store: Arc<dyn Storage>,
    ) -> Result<Self, ServeError> {
        let prepared = prepare(settings).await?;
        let stores = Stores { derived: None, retention: None, accounts: None };
        Self::launch(settings, store, stores, prepared).await
    }

    async fn launch(
        settings: &Settings,
        store: Arc<dyn Storage>,
        stores: Stores,
        prepared: Prepared,
    ) -> Result<Self, ServeError> {
        let Prepared { http: http_listener, https: https_listener, tls, broker, ca_pem } = prepared;
        let Stores { derived, retention, accounts } = stores;
        let http_addr = http_listener
            .local_addr()
            .map_err(|source| ServeError::Http { addr: settings.http, source })?;
        let options = PipelineOptions {
            time: TimeRule { floor: settings.time_floor, ..TimeRule::default() },
            t_ignore: settings.t_ignore.clone(),
            skip_retained: settings.skip_retained,
            rawdata: settings.rawdata,
            tid_map: settings.tid_map.iter().cloned().collect(),
            public_url: Some(public_url(settings, http_addr)),
            ..PipelineOptions::default()
        };
        let (shutdown, stop) = watch::channel(false);
        let guard = match (settings.auth, accounts) {
            (false, _) => {
                warn_auth_off(settings);
                None
            }
            (true, Some(accounts)) => Some(start_guard(settings, accounts, stop.clone()).await?),
            (true, None) => return Err(ServeError::NoAccounts),
        };
        let access = match &guard {
            Some(guard) => Some(Arc::new(
                BrokerAccess::new(guard.clone()).map_err(|e| ServeError::Secret(e.to_string()))?,
            )),
            None => None,
        };
        // Pista's own clients of the embedded broker log in with the process's secret.
        let internal = access.as_ref().map(|access| access.internal_password().to_owned());
        let loopback = |addr: SocketAddr| self::loopback(addr, internal.as_deref());
        let embedded = broker.as_ref().map(BoundBroker::local_addr);
        // Commands (and the answers to devices' requests) go to the external broker, else to
        // the embedded one.
        let commands = match (&settings.mqtt, embedded) {
            (Some(url), _) => Some(CommandPublisher {
                url: url.clone(),
                ca_pem: ca_pem.clone(),
                client_id: format!("{}-cmd", settings.mqtt_client_id),
                timeout: Duration::from_secs(10),
                // An external broker's own limit is unknown here: MQTT's largest packet.
                max_packet: MQTT_MAX_PACKET,
            }),
            (None, Some(addr)) => Some(CommandPublisher {
                url: loopback(addr),
                ca_pem: None,
                client_id: format!("{}-cmd", settings.mqtt_client_id),
                timeout: Duration::from_secs(10),
                max_packet: settings.broker_max_packet,
            }),
            (None, None) => None,
        };
        let outputs = match &derived {
            Some(derived) => {
                let embedded = embedded.map(loopback);
                let sinks = sinks(settings, ca_pem.clone(), embedded, stop.clone());
                let (store, derived) = (store.clone(), derived.clone());
                let answers = commands.clone();
                Some(start_outputs(settings, store, derived, sinks, answers).await?)
            }
            None => None,
        };
        let (pipeline, _writer) =
            Pipeline::start_with_outputs(store.clone(), options, outputs.as_ref());
        // Redis statistics follow the device objects, so they need the outputs stage.
        let redis = match (&settings.redis_url, &outputs) {
            (Some(url), Some(outputs)) => {
                let redis = RedisStats { url: url.clone(), prefix: settings.redis_prefix.clone() };
                Some(redis.spawn(outputs.subscribe(), stop.clone()).0)
            }
            _ => None,
        };

        let broker = match broker {
            Some(bound) => {
                let gate =
                    Arc::new(BrokerGate::new(pipeline.clone(), settings.base_topics.clone()));
                let gatekeeper = access.clone().map(|a| a as Arc<dyn pista_broker::Gatekeeper>);
                Some(bound.serve(gate, gatekeeper).await.map_err(ServeError::Broker)?)
            }
            None => None,
        };
        let broker_addr = broker.as_ref().map(EmbeddedBroker::local_addr);
        if let Some(addr) = broker_addr {
            tracing::info!(%addr, "embedded mqtt broker listening");
        }

        let retention = retention.map(|store| Retention {
            store,
            outputs: outputs.clone(),
            options: retention_options(settings),
        });
        if let Some(retention) = &retention {
            retention.clone().spawn(stop.clone());
        }
        let ca_pem_for_monitor = ca_pem.clone();
        if settings.rawdata {
            tokio::spawn(prune_rawdata(store.clone(), settings.rawdata_days, stop.clone()));
        }
        let compaction =
            settings.compact.then(|| tokio::spawn(compact_locations(store.clone(), stop.clone())));
        let subscriber = settings.mqtt.clone().map(|url| {
            let topics = &settings.base_topics;
            tracing::info!(broker = %url.masked(), ?topics, "subscribing to external mqtt broker");
            let config = SubscriberConfig {
                url,
                ca_pem,
                client_id: settings.mqtt_client_id.clone(),
                topics: settings.base_topics.clone(),
                keep_alive: Duration::from_secs(settings.mqtt_keepalive),
                max_packet_size: settings.broker_max_packet,
            };
            tokio::spawn(run_subscriber(config, pipeline.clone(), stop.clone()))
        });

        let monitor = outputs.as_ref().map(|outputs| {
            let dumps = settings.data_dir.join("dumps");
            Monitor::new(outputs.clone(), store.clone(), settings.log_control.clone(), dumps)
        });
        // Monitor commands come from the external broker, else from the embedded one.
        let monitor_url = settings.mqtt.clone().or_else(|| broker_addr.map(loopback));
        if let (Some(topic), Some(url), Some(monitor)) =
            (&settings.monitor_topic, monitor_url, &monitor)
        {
            let config = MonitorMqtt {
                url,
                ca_pem: ca_pem_for_monitor,
                client_id: format!("{}-monitor", settings.mqtt_client_id),
                topic: topic.clone(),
            };
            tokio::spawn(run_monitor(config, monitor.clone(), stop.clone()));
        }

        let state = AppState {
            last: Arc::new(pista_web::last::LastLocations::new(&pipeline)),
            geo_precision: settings.geocode_precision,
            views_dir: settings.views_dir.as_deref().map(Arc::from),
            socket_origins: Arc::new(
                settings.cors_origins.iter().filter(|o| *o != "*").cloned().collect(),
            ),
            pipeline: pipeline.clone(),
            store: store.clone(),
            commands,
            derived,
            outputs: outputs.clone(),
            redis,
            monitor,
            retention: retention.clone(),
            guard,
            ctrld: Some(Arc::new(pista_web::ctrld::CtrldConfig {
                mqtt_port: broker_addr.map(|addr| addr.port()),
                mqtts_port: broker.as_ref().and_then(EmbeddedBroker::tls_addr).map(|a| a.port()),
                ca_pem: tls.as_ref().and_then(|tls| tls.ca_pem.clone()),
            })),
            https: false,
        };
        let cors = match settings.cors_origins.as_slice() {
            [] => pista_web::Cors::Off,
            [any] if any == "*" => pista_web::Cors::AnyOrigin,
            origins => pista_web::Cors::Origins(
                // Checked by the settings: ASCII without control characters.
                origins.iter().filter_map(|o| o.parse().ok()).collect(),
            ),
        };
        let static_files = settings
            .static_dir
            .clone()
            .map(|dir| pista_web::StaticFiles { path: settings.static_path.clone(), dir });
        let ui = pista_web::ui::UiConfig {
            tiles: settings.ui_tiles.clone(),
            attribution: settings.ui_tiles_attribution.clone(),
        };
        let web = WebConfig { max_body: settings.http_max_body, cors, static_files, ui };
        let mut https_addr = None;
        if let (Some(listener), Some(tls)) = (https_listener, &tls) {
            let addr = listener
                .local_addr()
                .map_err(|source| ServeError::Http { addr: settings.http, source })?;
            let listener = pista_web::tls::TlsListener::new(listener, tls.server.clone())
                .map_err(|source| ServeError::Http { addr, source })?;
            let router = pista_web::router(AppState { https: true, ..state.clone() }, web.clone());
            let mut https_stop = stop.clone();
            tokio::spawn(async move {
                let stopped = async move {
                    let _ = https_stop.wait_for(|stop| *stop).await;
                };
                if let Err(error) = pista_web::serve_tls(listener, router, stopped).await {
                    tracing::error!(%error, "https server failed");
                }
            });
            tracing::info!(%addr, "https listening");
            https_addr = Some(addr);
        }
        if let Some(addr) = broker.as_ref().and_then(EmbeddedBroker::tls_addr) {
            tracing::info!(%addr, "embedded mqtts listening");
        }
        if let Some(addr) = broker.as_ref().and_then(EmbeddedBroker::ws_addr) {
            tracing::info!(%addr, "embedded mqtt over websocket listening");
        }
        if let Some(addr) = broker.as_ref().and_then(EmbeddedBroker::wss_addr) {
            tracing::info!(%addr, "embedded mqtt over secure websocket listening");
        }
        let router = pista_web::router(state, web);
        let mut http_stop = stop.clone();
        let http = tokio::spawn(async move {
            let stopped = async move {
                let _ = http_stop.wait_for(|stop| *stop).await;
            };
            if let Err(error) = pista_web::serve(http_listener, router, stopped).await {
                tracing::error!(%error, "http server failed");
            }
        });
        tracing::info!(addr = %http_addr, "http listening");

        Ok(Self {
            http_addr,
            https_addr,
            broker_tls_addr: broker.as_ref().and_then(EmbeddedBroker::tls_addr),
            broker_ws_addr: broker.as_ref().and_then(EmbeddedBroker::ws_addr),
            broker_wss_addr: broker.as_ref().and_then(EmbeddedBroker::wss_addr),
            broker_addr,
            pipeline,
            store,
            outputs,
            retention,
            shutdown,
            http,
            subscriber,
            compaction,
            broker,
        })
    }

    /// Stops accepting work, lets open requests and pending acknowledgements finish, and stops.
    /// Everything acknowledged before this returns was committed.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        if let Some(broker) = self.broker {
            broker.shutdown().await;
        }
        if let Some(subscriber) = self.subscriber {
            let _ = subscriber.await;
        }
        let _ = self.http.await;
        if let Some(compaction) = self.compaction {
            let _ = compaction.await;
        }
        tracing::info!("stopped");
    }
}

/// The embedded broker as Pista's own clients reach it (with the process's secret when the
/// broker checks logins).
fn loopback(addr: SocketAddr, internal: Option<&str>) -> BrokerUrl {
    BrokerUrl {
        tls: false,
        host: "127.0.0.1".to_owned(),
        port: addr.port(),
        username: internal.map(|_| INTERNAL_USER.to_owned()),
        password: internal.map(str::to_owned),
    }
}

/// Says, loudly, that anyone may do anything.
fn warn_auth_off(settings: &Settings) {
    let http = settings.http;
    tracing::warn!(
        %http,
        "AUTHENTICATION IS OFF (auth.enabled = false): anyone who reaches this server can read, \
         change and delete every user's data"
    );
    if !settings.http.ip().is_loopback() || settings.broker.is_some_and(|b| !b.ip().is_loopback()) {
        tracing::warn!("authentication is off and a listener is not on loopback");
    }
}

/// Loads the accounts and rules; with no account at all, makes the first admin (a generated
/// password goes to a private file and the terminal, never the log).
async fn start_guard(
    settings: &Settings,
    accounts: Arc<dyn AccountStore>,
    stop: watch::Receiver<bool>,
) -> Result<Arc<Guard>, ServeError> {
    if accounts.accounts().await?.is_empty() {
        let (password, generated) = match &settings.admin_password {
            Some(given) => (given.0.clone(), false),
            None => {
                let made = pista_core::password::generate()
                    .map_err(|e| ServeError::Secret(e.to_string()))?;
                (made, true)
            }
        };
        let hashed = tokio::task::spawn_blocking(move || {
            pista_core::password::hash(&password).map(|hash| (hash, password))
        })
        .await
        .map_err(|e| ServeError::Secret(e.to_string()))?
        .map_err(|e| ServeError::Secret(e.to_string()))?;
        let (hash, password) = hashed;
        let account = Account {
            name: UserName::parse(FIRST_ADMIN).map_err(|e| ServeError::Secret(e.to_string()))?,
            password: PasswordHash::new(&hash).map_err(|e| ServeError::Secret(e.to_string()))?,
            superuser: true,
            created_at: pista_ingest::now(),
        };
        // Another worker starting at the same moment may have made it first.
        if accounts.add_user(&account).await? {
            tracing::info!(user = FIRST_ADMIN, generated, "first admin account created");
            if generated {
                tell_first_password(settings, &password)?;
            }
        }
    }
    let guard = Guard::load(accounts, LoginLimits::default()).await?;
    guard.spawn_reloads(stop);
    Ok(guard)
}

/// The name of the account made at the first start.
pub const FIRST_ADMIN: &str = "admin";

/// The file the generated first password is written to, in the data directory.
pub const FIRST_PASSWORD_FILE: &str = "admin-password";

/// Writes the generated password to a file only its owner can read, and shows it on the
/// terminal when there is one; it never goes into the log (which may be shipped elsewhere).
#[allow(clippy::print_stderr)] // Only to a terminal, which is not the log.
fn tell_first_password(settings: &Settings, password: &str) -> Result<(), ServeError> {
    use std::io::IsTerminal;
    let dir = &settings.data_dir;
    crate::tls::private_dir(dir)
        .map_err(|source| crate::tls::TlsError::Write { path: dir.clone(), source })?;
    let path = dir.join(FIRST_PASSWORD_FILE);
    crate::tls::write_private(&path, format!("{password}\n").as_bytes())?;
    tracing::info!(
        path = %path.display(),
        "the admin's generated password is in this file (readable by its owner only); \
         delete it once noted"
    );
    if std::io::stderr().is_terminal() {
        eprintln!(
            "\n  Pista made the admin account. Log in as {FIRST_ADMIN} with password:\n\n    \
             {password}\n\n  (also in {}; change it with: pista user passwd {FIRST_ADMIN})\n",
            path.display()
        );
    }
    Ok(())
}

/// Where outputs go: the live stream always; MQTT when on, to the external broker, else to the
/// embedded one over loopback.
fn sinks(
    settings: &Settings,
    ca_pem: Option<Vec<u8>>,
    embedded: Option<BrokerUrl>,
    stop: watch::Receiver<bool>,
) -> Sinks {
    let mut sinks = Sinks::live_only();
    sinks.stop = Some(stop.clone());
    if !settings.outputs_mqtt {
        return sinks;
    }
    let client_id = format!("{}-out", settings.mqtt_client_id);
    sinks.mqtt = match (&settings.mqtt, embedded) {
        // An external broker's own limit is unknown here: MQTT's largest packet.
        (Some(url), _) => Some(MqttSink::start(url, ca_pem, client_id, MQTT_MAX_PACKET, stop)),
        (None, Some(url)) => {
            Some(MqttSink::start(&url, None, client_id, settings.broker_max_packet, stop))
        }
        (None, None) => None,
    };
    sinks
}

/// Starts the outputs stage with its geocoder.
async fn start_outputs(
    settings: &Settings,
    store: Arc<dyn Storage>,
    derived: Arc<dyn DerivedStore>,
    sinks: Sinks,
    answers: Option<CommandPublisher>,
) -> Result<OutputsHandle, ServeError> {
    let online = pista_geo::OnlineConfig {
        base_url: settings.geocode_url.clone(),
        key: settings.geocode_key.clone(),
        rate_per_sec: settings.geocode_rate as f64,
        timeout: Duration::from_secs(settings.geocode_timeout),
        language: settings.geocode_language.clone(),
    };
    let geocoder = pista_geo::from_settings(&settings.geocode, &online)?;
    if let Some(geocoder) = &geocoder {
        tracing::info!(provider = geocoder.name(), "reverse geocoding on");
        if geocoder.name() == "offline" {
            // Building the place index takes a moment; do it before the first fix needs it.
            let _ = tokio::task::spawn_blocking(pista_geo::Offline::preload).await;
        }
    }
    let alarm = AlarmOptions {
        command: settings.alarm_command.clone(),
        webhooks: settings.alarm_webhooks.clone(),
        timeout: Duration::from_secs(settings.alarm_timeout),
        attempts: settings.webhook_attempts,
        backoff: settings.webhook_backoff,
    };
    let alarm = AlarmHook::new(alarm, geocoder.clone())?;
    if let Some(alarm) = &alarm {
        tracing::info!(?alarm, "alarms are handed to the alarm hook");
    }
    let geocoding = geocoder.map(|geocoder| Geocoding {
        geocoder,
        precision: settings.geocode_precision,
        queue: 10_000,
        backfill_every: Duration::from_secs(600),
    });
    let sync =
        pista_ingest::sync_configured(derived.as_ref(), &settings.fences, pista_ingest::now())
            .await?;
    if sync != FenceSync::default() {
        let FenceSync { added, updated, removed } = sync;
        tracing::info!(added, updated, removed, "configured fences stored");
    }
    let options = OutputOptions {
        map_topic: settings.map_topic.clone(),
        look_topic: settings.look_topic.clone(),
        alert_topic: settings.alert_topic.clone(),
        job_topic: settings.job_topic.clone(),
        alert_keys: settings.alert_keys.clone(),
        fences: Rules { margin: settings.fence_margin as f64, dwell: settings.fence_dwell as i64 },
        plmn: settings.plmn,
        webhooks: Some(webhooks(settings, derived.clone())?),
        alarm,
        shared: settings.base_topics.iter().any(|topic| topic.starts_with("$share/")),
        answers,
    };
    let (handle, _task) = Outputs::start(store, derived, options, sinks, geocoding).await?;
    Ok(handle)
}

/// The base of tour links: `http.public_url`, else the HTTP listener's address (loopback when
/// it listens on every address), which devices elsewhere may not reach: that is warned about
/// unless the server listens on loopback only.
fn public_url(settings: &Settings, http: SocketAddr) -> String {
    if let Some(url) = &settings.public_url {
        return url.clone();
    }
    let ip = match http.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => std::net::Ipv4Addr::LOCALHOST.into(),
        ip if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let url = format!("http://{}", SocketAddr::new(ip, http.port()));
    // On loopback (the zero-setup default) nothing elsewhere reaches the server anyway.
    if http.ip().is_loopback() {
        tracing::debug!(%url, "http.public_url is not set: tour links start with {url}");
    } else {
        tracing::warn!(
            %url,
            "http.public_url is not set: tour links start with the HTTP listener's address, \
             which devices and browsers elsewhere may not reach; set it (or OTR_HTTPPREFIX) to \
             the address Pista is reached at"
        );
    }
    url
}

/// Where alerts are POSTed: the global webhooks, and each fence's own.
fn webhooks(settings: &Settings, derived: Arc<dyn DerivedStore>) -> Result<Webhooks, ServeError> {
    let options = WebhookOptions {
        urls: settings.webhooks.clone(),
        attempts: settings.webhook_attempts,
        timeout: Duration::from_secs(settings.webhook_timeout),
        backoff: settings.webhook_backoff,
        ..WebhookOptions::default()
    };
    if !options.urls.is_empty() {
        tracing::info!(webhooks = options.urls.len(), "alerts are posted to webhooks");
    }
    let webhooks = Webhooks::new(options, derived)?;
    // Deliveries that had not ended when Pista last stopped.
    let resumed = webhooks.clone();
    tokio::spawn(async move { resumed.resume().await });
    Ok(webhooks)
}

/// Binds both listeners and reads the CA file, so that nothing starts when one of them fails.
async fn prepare(settings: &Settings) -> Result<Prepared, ServeError> {
    let addr = settings.http;
    let http = TcpListener::bind(addr).await.map_err(|source| match source.kind() {
        std::io::ErrorKind::AddrInUse => ServeError::HttpInUse { addr, next: next_port(addr) },
        _ => ServeError::Http { addr, source },
    })?;

    let wants_tls =
        settings.https.is_some() || settings.broker_tls.is_some() || settings.broker_wss.is_some();
    let tls = match (wants_tls, &settings.tls_cert) {
        (false, _) => None,
        (true, Some(cert)) => {
            let key = settings.tls_key.as_deref().unwrap_or(cert);
            Some(crate::tls::given(cert, key, settings.tls_ca_file.as_deref())?)
        }
        (true, None) => {
            Some(crate::tls::local_ca(&settings.data_dir.join("tls"), &settings.tls_names)?)
        }
    };
    let https = match settings.https {
        Some(addr) => {
            Some(TcpListener::bind(addr).await.map_err(|source| match source.kind() {
                std::io::ErrorKind::AddrInUse => {
                    ServeError::HttpsInUse { addr, next: next_port(addr) }
                }
                _ => ServeError::Http { addr, source },
            })?)
        }
        None => None,
    };
    let broker_tls = |listen: Option<SocketAddr>| match (listen, &tls) {
        (Some(listen), Some(files)) => {
            Some(BrokerTls { listen, cert: files.cert.clone(), key: files.key.clone() })
        }
        _ => None,
    };
    let broker = match settings.broker {
        Some(listen) => {
            let config = BrokerConfig {
                listen,
                max_packet_size: settings.broker_max_packet as u32,
                anonymous: !settings.auth,
                tls: broker_tls(settings.broker_tls),
                ws: settings.broker_ws,
                wss: broker_tls(settings.broker_wss),
            };
            Some(EmbeddedBroker::bind(&config).map_err(|error| {
                if error.is_addr_in_use() && error.addr() == Some(listen) {
                    ServeError::BrokerInUse { addr: listen, next: next_port(listen) }
                } else {
                    ServeError::Broker(error)
                }
            })?)
        }
        None => None,
    };

    let ca_pem = match &settings.mqtt_ca_file {
        Some(path) => Some(read_ca(path)?),
        None => None,
    };
    Ok(Prepared { http, https, tls, broker, ca_pem })
}

fn read_ca(path: &std::path::Path) -> Result<Vec<u8>, ServeError> {
    let shown = path.display().to_string();
    let pem =
        std::fs::read(path).map_err(|source| ServeError::CaFile { path: shown.clone(), source })?;
    let marker = b"-----BEGIN CERTIFICATE-----";
    if !pem.windows(marker.len()).any(|w| w == marker) {
        return Err(ServeError::CaNotPem { path: shown });
    }
    Ok(pem)
}

/// A free address to suggest when `addr` is taken: the same IP with one of the next ports.
fn next_port(addr: SocketAddr) -> SocketAddr {
    let candidates = (1..=20).map(|step| addr.port().wrapping_add(step)).filter(|p| *p != 0);
    candidates
        .map(|port| SocketAddr::new(addr.ip(), port))
        .find(|candidate| std::net::TcpListener::bind(candidate).is_ok())
        .unwrap_or_else(|| SocketAddr::new(addr.ip(), addr.port().wrapping_add(1)))
}

/// How deletions and the retention passes run.
pub fn retention_options(settings: &Settings) -> RetentionOptions {
    RetentionOptions {
        default_days: settings.retention_days,
        interval: Duration::from_secs(settings.retention_interval),
        chunk: settings.retention_chunk,
    }
}

/// Puts settled locations in device order (see [`pista_store::Compacted`]): a chunk, a pause
/// for ingest, the next, while there are any; then a look once a minute.
async fn compact_locations(store: Arc<dyn Storage>, mut stop: watch::Receiver<bool>) {
    let mut moved = 0;
    let (mut refused, mut failed) = (None, None);
    while !*stop.borrow() {
        let pause = match store.compact(pista_ingest::now()).await {
            Ok(Compacted::Moved { rows }) => {
                moved += rows;
                failed = None;
                COMPACT_PAUSE
            }
            Ok(Compacted::Nothing) => {
                if moved > 0 {
                    tracing::info!(rows = moved, "locations put in device order");
                    moved = 0;
                }
                Duration::from_secs(60)
            }
            Ok(Compacted::Unsupported) => return,
            Ok(Compacted::Refused { reason }) => {
                if refused.as_ref() != Some(&reason) {
                    tracing::warn!(%reason, "locations are not put in device order");
                    refused = Some(reason);
                }
                Duration::from_secs(3600)
            }
            Err(error) => {
                // With its cause (a constraint of the user's, say), once while it stays the same.
                let text = crate::error_text(&anyhow::Error::from(error));
                if failed.as_ref() != Some(&text) {
                    tracing::warn!(error = %text, "could not put locations in device order");
                    failed = Some(text);
                }
                Duration::from_secs(60)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

/// The pause between two compaction chunks, in which ingest writes first (`pista compact`
/// pauses as long).
pub const COMPACT_PAUSE: Duration = Duration::from_millis(200);

/// Deletes wire copies older than `days`, hourly, until `stop`.
async fn prune_rawdata(store: Arc<dyn Storage>, days: u64, mut stop: watch::Receiver<bool>) {
    let age = i64::try_from(days.saturating_mul(86_400)).unwrap_or(i64::MAX);
    loop {
        match store.prune_rawdata(pista_ingest::now().saturating_sub(age)).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, days, "old wire copies deleted"),
            Err(error) => tracing::warn!(%error, "could not prune wire copies"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}
