//! Pista's settings: one declarative table ([`TABLE`]) with a type, a default and a doc line per
//! key, from which the command-line flags, the environment variables, the example config file
//! and `pista config` are all derived. Values are layered defaults → config file → environment
//! (`PISTA_<FLAG>`) → flags, then validated together, so a bad value stops start-up with the
//! key, the value, where it came from and what is allowed.

mod load;
pub mod recorder;
mod render;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pista_ingest::{BrokerUrl, RedisUrl};

pub use load::{Origin, RawSettings, SettingsError};

/// A URL with its password masked, for logs.
pub fn masked_url(url: &str) -> String {
    load::mask(url)
}
pub use render::{effective_toml, example_toml};

/// How a setting's text is checked and typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Path,
    Addr,
    AddrOrOff,
    MqttUrl,
    DatabaseUrl,
    List,
    Number,
    Bool,
}

/// One row of the settings table.
#[derive(Debug)]
pub struct Setting {
    /// `section.key` in the config file, or a bare key for top-level settings.
    pub key: &'static str,
    /// The flag name (`--<flag>`); the environment variable is `PISTA_<FLAG>` in upper case with
    /// `-` turned into `_`.
    pub flag: &'static str,
    pub kind: Kind,
    /// The default as text; empty means unset.
    pub default: &'static str,
    pub doc: &'static str,
    /// Secrets are masked wherever settings are shown.
    pub secret: bool,
}

impl Setting {
    pub fn env_var(&self) -> String {
        format!("PISTA_{}", self.flag.to_ascii_uppercase().replace('-', "_"))
    }

    /// The section of the config file, or `None` for top-level keys.
    pub fn section(&self) -> Option<&'static str> {
        self.key.split_once('.').map(|(section, _)| section)
    }

    /// The key inside its section.
    pub fn name(&self) -> &'static str {
        self.key.split_once('.').map_or(self.key, |(_, name)| name)
    }
}

const fn setting(
    key: &'static str,
    flag: &'static str,
    kind: Kind,
    default: &'static str,
    doc: &'static str,
) -> Setting {
    Setting { key, flag, kind, default, doc, secret: false }
}

/// Every setting, in the order of the example file.
pub const TABLE: &[Setting] = &[
    setting(
        "data_dir",
        "data-dir",
        Kind::Path,
        "./pista-data",
        "Directory for Pista's own files (the default SQLite database lives here).",
    ),
    setting(
        "log",
        "log",
        Kind::Text,
        "info",
        "Log filter: a level (error, warn, info, debug, trace) \
         or tracing directives such as info,pista_ingest=debug.",
    ),
    setting(
        "http.listen",
        "http",
        Kind::Addr,
        "127.0.0.1:8083",
        "Address of the HTTP server (HTTP-mode ingest at /pub and the API at /api/0/).",
    ),
    setting(
        "http.max_body",
        "http-max-body",
        Kind::Number,
        "4194304",
        "Largest accepted HTTP request body in bytes (cards and POI images can be large).",
    ),
    setting(
        "http.cors_origins",
        "cors-origins",
        Kind::List,
        "",
        "Origins of web pages on other servers that may call the API with the user's login \
         (comma-separated, e.g. https://map.example.org), or * for any page without logins; \
         unset: none (pages Pista serves itself need none).",
    ),
    setting(
        "http.static_dir",
        "static-dir",
        Kind::Text,
        "",
        "A directory of static files to serve without a login, such as the OwnTracks \
         Frontend's dist/ (unset: none).",
    ),
    setting(
        "http.static_path",
        "static-path",
        Kind::Text,
        "/",
        "URL path of http.static_dir: / (files first, then the API) or a prefix like /map.",
    ),
    setting(
        "http.views_dir",
        "views-dir",
        Kind::Text,
        "",
        "A directory of the Recorder's view definitions (NAME.json and their pages), served at \
         /view/NAME (unset: no views).",
    ),
    setting(
        "http.public_url",
        "public-url",
        Kind::Text,
        "",
        "The address devices and browsers reach Pista at, such as https://pista.example.org or \
         https://example.org/pista; tour links start with it (unset: the HTTP listener's \
         address, with a warning).",
    ),
    setting(
        "http.tls_listen",
        "https",
        Kind::AddrOrOff,
        "off",
        "Address of an HTTPS server beside the HTTP one (the same routes), or off; needs \
         tls.cert and tls.key, or tls.local_ca.",
    ),
    setting(
        "ui.tiles",
        "ui-tiles",
        Kind::Text,
        "none",
        "Map tiles of the web UI at /ui/: none (markers and tracks on a blank background; the \
         pages ask no other server for anything) or a URL template with {z}, {x} and {y}, \
         such as https://tile.openstreetmap.org/{z}/{x}/{y}.png (browsers then fetch tiles \
         there; mind its usage policy).",
    ),
    setting(
        "ui.tiles_attribution",
        "ui-tiles-attribution",
        Kind::Text,
        "",
        "The credit line ui.tiles asks for, shown in the map's corner (HTML, e.g. \
         &copy; OpenStreetMap contributors).",
    ),
    setting(
        "auth.enabled",
        "auth",
        Kind::Bool,
        "true",
        "Require a login on every door: HTTP, the embedded broker, ctrld (true or false). \
         Turning it off lets anyone who reaches Pista read and change everything.",
    ),
    Setting {
        secret: true,
        ..setting(
            "auth.admin_password",
            "admin-password",
            Kind::Text,
            "",
            "Password of the admin account made at the first start when there are no users \
             (best given as PISTA_ADMIN_PASSWORD; unset: one is generated and printed once).",
        )
    },
    setting(
        "broker.listen",
        "broker",
        Kind::AddrOrOff,
        "127.0.0.1:1883",
        "Address of the embedded MQTT broker, or off. Off by default when [mqtt] url is set.",
    ),
    setting(
        "broker.tls_listen",
        "broker-tls",
        Kind::AddrOrOff,
        "off",
        "Address of the embedded broker's MQTTS listener, or off (e.g. 127.0.0.1:8883); needs \
         tls.cert and tls.key, or tls.local_ca.",
    ),
    setting(
        "broker.ws_listen",
        "broker-ws",
        Kind::AddrOrOff,
        "off",
        "Address of the embedded broker's MQTT-over-WebSocket listener (subprotocol mqtt, any \
         path), or off (e.g. 127.0.0.1:8080), for a TLS proxy in front or a local page.",
    ),
    setting(
        "broker.wss_listen",
        "broker-wss",
        Kind::AddrOrOff,
        "off",
        "Address of the embedded broker's MQTT-over-secure-WebSocket listener, or off (e.g. \
         127.0.0.1:8084); needs tls.cert and tls.key, or tls.local_ca.",
    ),
    setting(
        "broker.max_packet",
        "broker-max-packet",
        Kind::Number,
        "4194304",
        "Largest MQTT packet the embedded broker accepts, in bytes.",
    ),
    setting(
        "tls.cert",
        "tls-cert",
        Kind::Path,
        "",
        "PEM certificate (chain) of the HTTPS and MQTTS listeners.",
    ),
    setting("tls.key", "tls-key", Kind::Path, "", "PEM private key of tls.cert."),
    setting(
        "tls.ca_file",
        "tls-ca-file",
        Kind::Path,
        "",
        "PEM certificate of the CA that signed tls.cert, served to phones at /ctrld/cacert.pem.",
    ),
    setting(
        "tls.local_ca",
        "tls-local-ca",
        Kind::Bool,
        "false",
        "Make a certificate authority of Pista's own (kept in <data_dir>/tls/) and sign the \
         listeners' certificate with it, instead of tls.cert and tls.key (true or false).",
    ),
    setting(
        "tls.names",
        "tls-names",
        Kind::List,
        "localhost,127.0.0.1",
        "Host names and addresses the local CA's server certificate is for (comma-separated); \
         give the name phones use to reach this server.",
    ),
    Setting {
        secret: true,
        ..setting(
            "mqtt.url",
            "mqtt",
            Kind::MqttUrl,
            "",
            "External broker to subscribe to: mqtt://[user[:password]@]host[:port] \
         or mqtts://... (unset: none).",
        )
    },
    setting(
        "mqtt.ca_file",
        "mqtt-ca-file",
        Kind::Path,
        "",
        "PEM file with the CA certificate(s) that sign an mqtts broker's certificate.",
    ),
    setting(
        "mqtt.client_id",
        "mqtt-client-id",
        Kind::Text,
        "pista",
        "Client id at the external broker; keep it stable so queued messages survive restarts, \
         and unique per Pista instance.",
    ),
    setting(
        "mqtt.base_topics",
        "mqtt-base-topics",
        Kind::List,
        "owntracks/#,/owntracks/#",
        "Topic filters whose messages Pista stores, \
         for both brokers (comma-separated in env and flags).",
    ),
    setting(
        "mqtt.keepalive",
        "mqtt-keepalive",
        Kind::Number,
        "60",
        "Keepalive towards the external broker, in seconds.",
    ),
    setting(
        "ingest.time_floor",
        "time-floor",
        Kind::Text,
        "2008-01-01",
        "Fixes dated before this day (UTC) are quarantined as implausibly old.",
    ),
    setting(
        "ingest.t_ignore",
        "t-ignore",
        Kind::List,
        "",
        "Triggers (t) of locations not stored, e.g. p for pings (comma-separated in env and flags).",
    ),
    setting(
        "ingest.skip_retained",
        "skip-retained",
        Kind::Bool,
        "false",
        "Skip the external broker's retained copies instead of reading them (true or false).",
    ),
    setting(
        "ingest.tid_map",
        "tid-map",
        Kind::List,
        "",
        "Tracker ids by device topic, e.g. owntracks/jane/phone=JP (comma-separated in env and \
         flags); they replace what the devices send.",
    ),
    setting(
        "ingest.rawdata",
        "rawdata",
        Kind::Bool,
        "false",
        "Also keep every message exactly as it came off the wire, for debugging (true or false).",
    ),
    setting(
        "ingest.rawdata_days",
        "rawdata-days",
        Kind::Number,
        "7",
        "Days wire copies are kept when rawdata is on.",
    ),
    setting(
        "retention.days",
        "retention-days",
        Kind::Number,
        "0",
        "Days of history kept, counted from each fix's own time (tst); older locations, \
         messages, events and alerts are deleted. 0 keeps everything. Per-user and per-device \
         rules (pista retention set) override it.",
    ),
    setting(
        "retention.interval",
        "retention-interval",
        Kind::Number,
        "3600",
        "Seconds between retention passes (one also runs at start).",
    ),
    setting(
        "retention.chunk",
        "retention-chunk",
        Kind::Number,
        "1000",
        "Most rows of one table a deletion removes per transaction, so ingest waits little.",
    ),
    setting(
        "outputs.mqtt",
        "outputs-mqtt",
        Kind::Bool,
        "true",
        "Publish device objects, watcher lines and alerts on MQTT (the external broker, else the \
         embedded one); the live stream at /api/0/live has them either way.",
    ),
    setting(
        "outputs.map_topic",
        "map-topic",
        Kind::Text,
        "_owntracks/_map",
        "Prefix of the retained device objects: <map_topic>/<device topic>, and of fence objects.",
    ),
    setting(
        "outputs.look_topic",
        "look-topic",
        Kind::Text,
        "_owntracks/_look",
        "Prefix of the watcher lines: <look_topic>/<device topic>/<subtopic>.",
    ),
    setting(
        "outputs.alert_topic",
        "alert-topic",
        Kind::Text,
        "_alerts",
        "Topic of the geofence enter/leave alerts.",
    ),
    setting(
        "outputs.job_topic",
        "job-topic",
        Kind::Text,
        "_owntracks/_job",
        "Prefix of the retained Activo job objects: <job_topic>/<device topic>.",
    ),
    setting(
        "outputs.alert_keys",
        "alert-keys",
        Kind::List,
        "",
        "Location keys copied into alerts, e.g. tid,tst,addr (comma-separated; unset: all).",
    ),
    setting(
        "outputs.monitor_topic",
        "monitor-topic",
        Kind::Text,
        "",
        "Topic of the o2smonitor commands, e.g. _owntracks/o2s: <topic>/<command> with the \
         argument as payload, answered on <topic>/<command>/out (unset: off; anyone who may \
         publish there may use them).",
    ),
    setting(
        "outputs.plmn",
        "plmn",
        Kind::Bool,
        "false",
        "Publish the names of the mobile networks Greenwich devices report, under \
         <device topic>/operators/<code>, as o2s did (they come back as gw-operator-name messages).",
    ),
    Setting {
        secret: true,
        ..setting(
            "outputs.webhooks",
            "webhooks",
            Kind::List,
            "",
            "http(s) URLs every geofence alert is POSTed to as JSON, besides the fence's own \
             webhook (comma-separated in env and flags; passwords are masked wherever shown).",
        )
    },
    setting(
        "outputs.webhook_attempts",
        "webhook-attempts",
        Kind::Number,
        "5",
        "Most POSTs of one alert to one webhook, the first included; retries wait 1 s, 2 s, \
         4 s, ... (at most 60 s).",
    ),
    setting(
        "outputs.webhook_timeout",
        "webhook-timeout",
        Kind::Number,
        "10",
        "Seconds a webhook may take to answer one POST.",
    ),
    setting(
        "alarm.command",
        "alarm-command",
        Kind::List,
        "",
        "Program (and arguments, without commas) run for each Greenwich alarm, without a shell: \
         the alarm as JSON on its input, PISTA_ALARM_TOPIC, _TID, _LAT, _LON, _TST, _ADDR, _CC \
         and _ID in its environment (unset: none).",
    ),
    Setting {
        secret: true,
        ..setting(
            "alarm.webhooks",
            "alarm-webhooks",
            Kind::List,
            "",
            "http(s) URLs each Greenwich alarm is POSTed to as JSON, retried like alert webhooks \
             (comma-separated in env and flags).",
        )
    },
    setting(
        "alarm.timeout",
        "alarm-timeout",
        Kind::Number,
        "30",
        "Seconds the alarm command may run (then it is killed), and one alarm POST may take.",
    ),
    setting(
        "fences.margin",
        "fence-margin",
        Kind::Number,
        "25",
        "Metres beyond a fence's edge a device must go before it counts as having left (0 or more).",
    ),
    setting(
        "fences.dwell",
        "fence-dwell",
        Kind::Number,
        "0",
        "Seconds a device must stay on the new side of a fence before enter or leave fires.",
    ),
    setting(
        "geocode.provider",
        "geocode",
        Kind::Text,
        "offline",
        "Reverse geocoder: offline (embedded place names, no network), nominatim, photon, \
         opencage, google, or off.",
    ),
    setting(
        "geocode.url",
        "geocode-url",
        Kind::Text,
        "",
        "Base URL of an online geocoder (unset: the provider's public service).",
    ),
    Setting {
        secret: true,
        ..setting(
            "geocode.key",
            "geocode-key",
            Kind::Text,
            "",
            "API key of the online geocoder (opencage and google need one).",
        )
    },
    setting(
        "geocode.language",
        "geocode-language",
        Kind::Text,
        "",
        "Language of addresses from an online geocoder, e.g. de or pt-BR (unset: the provider's \
         default, usually the local language).",
    ),
    setting(
        "geocode.rate",
        "geocode-rate",
        Kind::Number,
        "1",
        "Most requests per second to an online geocoder (Nominatim allows 1).",
    ),
    setting(
        "geocode.precision",
        "geocode-precision",
        Kind::Number,
        "7",
        "Geohash characters per address cache cell, 1 to 12 (7 is about 150 m by 150 m).",
    ),
    setting(
        "geocode.timeout",
        "geocode-timeout",
        Kind::Number,
        "5",
        "Seconds an online geocoder may take to answer.",
    ),
    Setting {
        secret: true,
        ..setting(
            "redis.url",
            "redis",
            Kind::Text,
            "",
            "Redis that keeps the original o2s's statistics keys (t:<topic>, tid:<TID>, ...): \
             redis://[:password@]host[:port][/db] (unset: off).",
        )
    },
    setting(
        "redis.prefix",
        "redis-prefix",
        Kind::Text,
        "",
        "Put before every Redis key name (empty: the original's names, such as t:<topic>).",
    ),
    Setting {
        secret: true,
        ..setting(
            "database.url",
            "database",
            Kind::DatabaseUrl,
            "",
            "Database URL (default sqlite://<data_dir>/pista.db).",
        )
    },
    setting(
        "database.compact",
        "compact",
        Kind::Bool,
        "true",
        "Put a SQLite file's settled locations in device order in the background, so that a \
         device's history lies together in the file (true or false; no effect on PostgreSQL and \
         MariaDB).",
    ),
];

/// A secret setting's value; its `Debug` form does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Hidden(pub String);

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hidden(***)")
    }
}

/// The validated settings `pista serve` runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub log: String,
    pub http: SocketAddr,
    pub http_max_body: usize,
    /// The HTTPS listener, when on.
    pub https: Option<SocketAddr>,
    /// Origins allowed to call the API from browsers; `["*"]` for any, without credentials.
    pub cors_origins: Vec<String>,
    /// Static files and their URL path.
    pub static_dir: Option<PathBuf>,
    pub static_path: String,
    /// The Recorder's view definitions, when views are on.
    pub views_dir: Option<PathBuf>,
    /// Where Pista is reached from outside, without a trailing `/` (tour links).
    pub public_url: Option<String>,
    /// The web UI's tile URL template; `None`: no tiles.
    pub ui_tiles: Option<String>,
    /// The credit line of the tiles.
    pub ui_tiles_attribution: String,
    /// The embedded broker's MQTTS listener, when on.
    pub broker_tls: Option<SocketAddr>,
    /// The embedded broker's WebSocket listener, when on.
    pub broker_ws: Option<SocketAddr>,
    /// The embedded broker's secure WebSocket listener, when on.
    pub broker_wss: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_local_ca: bool,
    pub tls_names: Vec<String>,
    /// Logins required everywhere.
    pub auth: bool,
    /// The first admin's password; `None` generates one.
    pub admin_password: Option<Hidden>,
    /// `None` when the embedded broker is off.
    pub broker: Option<SocketAddr>,
    pub broker_max_packet: usize,
    /// `None` when no external broker is configured.
    pub mqtt: Option<BrokerUrl>,
    pub mqtt_ca_file: Option<PathBuf>,
    pub mqtt_client_id: String,
    pub base_topics: Vec<String>,
    pub mqtt_keepalive: u64,
    pub database: String,
    /// Compaction of a SQLite file's locations in the background.
    pub compact: bool,
    /// Earliest plausible fix time, UNIX seconds.
    pub time_floor: i64,
    pub t_ignore: Vec<String>,
    pub skip_retained: bool,
    /// Tracker ids by device topic.
    pub tid_map: Vec<(String, String)>,
    pub rawdata: bool,
    pub rawdata_days: u64,
    /// Days of history kept by default; 0 keeps everything.
    pub retention_days: u64,
    /// Seconds between retention passes.
    pub retention_interval: u64,
    /// Most rows per table and transaction of a deletion.
    pub retention_chunk: u64,
    pub outputs_mqtt: bool,
    pub map_topic: String,
    pub look_topic: String,
    pub alert_topic: String,
    pub job_topic: String,
    /// `None` when the monitor does not listen on MQTT.
    pub monitor_topic: Option<String>,
    /// Not in the table: changes the running server's log filter (`pista serve` sets it).
    pub log_control: Option<pista_ingest::LogControl>,
    /// Location keys copied into alerts; `None` for all.
    pub alert_keys: Option<Vec<String>>,
    pub plmn: bool,
    /// URLs every alert is POSTed to.
    pub webhooks: Vec<String>,
    pub webhook_attempts: u16,
    /// Seconds one POST may take.
    pub webhook_timeout: u64,
    /// Not in the table: the wait before the first retry of a webhook (1 s; tests shorten it).
    pub webhook_backoff: Duration,
    /// The alarm command and its arguments; empty for none.
    pub alarm_command: Vec<String>,
    pub alarm_webhooks: Vec<String>,
    /// Seconds the alarm command may run.
    pub alarm_timeout: u64,
    /// Metres beyond the edge before a leave counts.
    pub fence_margin: u64,
    /// Seconds a crossing must hold.
    pub fence_dwell: u64,
    pub geocode: String,
    pub geocode_url: Option<String>,
    pub geocode_key: Option<String>,
    pub geocode_language: Option<String>,
    pub geocode_rate: u64,
    pub geocode_precision: usize,
    pub geocode_timeout: u64,
    /// The `[[fence]]` tables of the config file, checked.
    pub fences: Vec<pista_store::NewFence>,
    /// `None` when Redis statistics are off.
    pub redis_url: Option<RedisUrl>,
    pub redis_prefix: String,
}

impl Settings {
    /// Settings for tests and embedding: defaults with everything on loopback port 0, and
    /// authentication off (tests of logins and access turn it on; every other test is about
    /// something else).
    pub fn for_tests(data_dir: PathBuf) -> Self {
        Self {
            database: format!("sqlite://{}/pista.db", data_dir.display()),
            compact: true,
            data_dir,
            log: "info".to_owned(),
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_max_body: 4 << 20,
            https: None,
            cors_origins: Vec::new(),
            static_dir: None,
            static_path: "/".to_owned(),
            views_dir: None,
            public_url: None,
            ui_tiles: None,
            ui_tiles_attribution: String::new(),
            broker_tls: None,
            broker_ws: None,
            broker_wss: None,
            tls_cert: None,
            tls_key: None,
            tls_ca_file: None,
            tls_local_ca: false,
            tls_names: vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            auth: false,
            admin_password: None,
            broker: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            broker_max_packet: 4 << 20,
            mqtt: None,
            mqtt_ca_file: None,
            mqtt_client_id: "pista".to_owned(),
            base_topics: vec!["owntracks/#".to_owned(), "/owntracks/#".to_owned()],
            mqtt_keepalive: 60,
            time_floor: 1_199_145_600,
            t_ignore: Vec::new(),
            skip_retained: false,
            tid_map: Vec::new(),
            rawdata: false,
            rawdata_days: 7,
            retention_days: 0,
            retention_interval: 3600,
            retention_chunk: 1000,
            outputs_mqtt: true,
            map_topic: "_owntracks/_map".to_owned(),
            look_topic: "_owntracks/_look".to_owned(),
            alert_topic: "_alerts".to_owned(),
            job_topic: "_owntracks/_job".to_owned(),
            monitor_topic: None,
            log_control: None,
            alert_keys: None,
            plmn: false,
            webhooks: Vec::new(),
            webhook_attempts: 5,
            webhook_timeout: 10,
            webhook_backoff: Duration::from_secs(1),
            alarm_command: Vec::new(),
            alarm_webhooks: Vec::new(),
            alarm_timeout: 30,
            fence_margin: 25,
            fence_dwell: 0,
            geocode: "off".to_owned(),
            geocode_url: None,
            geocode_key: None,
            geocode_language: None,
            geocode_rate: 1,
            geocode_precision: 7,
            geocode_timeout: 5,
            fences: Vec::new(),
            redis_url: None,
            redis_prefix: String::new(),
        }
    }
}
