//! Layering and validation: defaults, then the OwnTracks Recorder's `OTR_*` settings, then the
//! config file, then `PISTA_*` environment variables, then flags; each value remembers where it
//! came from so errors can say so.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pista_core::topic_matches;
use pista_ingest::{BrokerUrl, RedisUrl};
use pista_store::{FenceSource, NewFence};

use super::{Kind, Setting, Settings, TABLE};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
    /// The OwnTracks Recorder's variables (or its configuration file) this value was made of.
    Recorder(String),
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(path) => write!(f, "config file {}", path.display()),
            Origin::Env(var) => write!(f, "environment {var}"),
            Origin::Recorder(vars) => write!(f, "the Recorder's {vars}"),
            Origin::Flag(flag) => write!(f, "flag --{flag}"),
        }
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read config file {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid TOML: {detail}")]
    Toml { path: PathBuf, detail: String },
    #[error("config file {path}: unknown key {key:?}; known keys: {known}")]
    UnknownKey { path: PathBuf, key: String, known: String },
    #[error("config file {path}: {key} must be text, a number, true/false or a list of text")]
    WrongType { path: PathBuf, key: String },
    #[error("invalid {key} = {value:?} (from {origin}): {allowed}")]
    Invalid { key: &'static str, value: String, origin: Origin, allowed: String },
    #[error("config file {path}: [[fence]] number {number}{name}: {reason}")]
    Fence { path: PathBuf, number: usize, name: String, reason: String },
    #[error(transparent)]
    RecorderConfig(#[from] super::recorder::RecorderConfigError),
}

/// Setting values as text, with their origins, before validation.
#[derive(Debug, Clone)]
pub struct RawSettings {
    values: BTreeMap<&'static str, (String, Origin)>,
    /// The `[[fence]]` tables of the config file, unchecked.
    fences: Vec<(PathBuf, toml::Table)>,
    /// The Recorder's variables that are set but not used, each saying why.
    recorder_unused: Vec<String>,
}

impl RawSettings {
    /// Layers the sources. `env` looks up an environment variable (the Recorder's `OTR_*`
    /// ones too, which count below `PISTA_*`); `flags` are (flag, value) pairs given on the
    /// command line.
    pub fn load(
        config_file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        flags: &[(&str, String)],
    ) -> Result<Self, SettingsError> {
        let mut values: BTreeMap<_, _> =
            TABLE.iter().map(|s| (s.key, (s.default.to_owned(), Origin::Default))).collect();

        // The Recorder's settings stand below all of Pista's own.
        let recorder = super::recorder::aliases(&env);
        for alias in recorder.aliases {
            values.insert(alias.key, (alias.value, Origin::Recorder(alias.from)));
        }

        let mut fences = Vec::new();
        if let Some(path) = config_file {
            let file = read_file(path)?;
            for (key, value) in file.values {
                values.insert(key, (value, Origin::File(path.to_owned())));
            }
            fences.extend(file.fences.into_iter().map(|fence| (path.to_owned(), fence)));
        }

        for setting in TABLE {
            let var = setting.env_var();
            if let Some(value) = env(&var) {
                values.insert(setting.key, (value, Origin::Env(var)));
            }
        }

        for (flag, value) in flags {
            if let Some(setting) = TABLE.iter().find(|s| s.flag == *flag) {
                values.insert(setting.key, (value.clone(), Origin::Flag(setting.flag.to_owned())));
            }
        }

        Ok(Self { values, fences, recorder_unused: recorder.unused })
    }

    /// The Recorder's variables that are set but mean nothing to Pista, each saying why.
    pub fn recorder_unused(&self) -> &[String] {
        &self.recorder_unused
    }

    /// The `[[fence]]` tables as read, for `pista config`.
    pub fn fence_tables(&self) -> impl Iterator<Item = &toml::Table> {
        self.fences.iter().map(|(_, table)| table)
    }

    /// The text and origin of a setting.
    pub fn get(&self, key: &str) -> (&str, &Origin) {
        self.values.get(key).map_or(("", &Origin::Default), |(v, o)| (v.as_str(), o))
    }

    /// Checks every value and builds the typed settings.
    pub fn validate(&self) -> Result<Settings, SettingsError> {
        let data_dir =
            PathBuf::from(self.text("data_dir", |v| !v.is_empty(), "a directory path")?);

        let mqtt = self.mqtt_url()?;
        let broker_explicit = self.get("broker.listen").1 != &Origin::Default;
        let broker = match self.addr_or_off("broker.listen")? {
            Some(_) if mqtt.is_some() && !broker_explicit => None,
            other => other,
        };

        let mqtt_ca_file =
            Some(self.get("mqtt.ca_file").0).filter(|v| !v.is_empty()).map(PathBuf::from);
        if mqtt.as_ref().is_some_and(|url| url.tls) && mqtt_ca_file.is_none() {
            let (value, origin) = self.get("mqtt.url");
            return Err(invalid_with(
                "mqtt.url",
                &mask(value),
                origin,
                "an mqtts:// broker needs mqtt.ca_file (--mqtt-ca-file)",
            ));
        }

        let http = self.addr("http.listen")?;
        if broker.is_some_and(|b| same_port(b, http)) {
            return Err(self.invalid("broker.listen", "an address other than http.listen"));
        }

        let path = |key: &str| Some(self.get(key).0).filter(|v| !v.is_empty()).map(PathBuf::from);
        let https = self.addr_or_off("http.tls_listen")?;
        let broker_tls = self.addr_or_off("broker.tls_listen")?;
        let broker_ws = self.addr_or_off("broker.ws_listen")?;
        let broker_wss = self.addr_or_off("broker.wss_listen")?;
        if broker.is_none() {
            let extra = [("broker.tls_listen", broker_tls), ("broker.ws_listen", broker_ws)];
            for (key, addr) in extra.into_iter().chain([("broker.wss_listen", broker_wss)]) {
                if addr.is_some() {
                    return Err(self.invalid(key, "off while the embedded broker is off"));
                }
            }
        }
        let (tls_cert, tls_key) = (path("tls.cert"), path("tls.key"));
        let tls_local_ca = self.boolean("tls.local_ca")?;
        if tls_cert.is_some() != tls_key.is_some() {
            let key = if tls_cert.is_some() { "tls.key" } else { "tls.cert" };
            return Err(self.invalid(key, "set together with the other of tls.cert and tls.key"));
        }
        if tls_local_ca && tls_cert.is_some() {
            return Err(self.invalid("tls.local_ca", "false when tls.cert is given"));
        }
        for key in ["http.tls_listen", "broker.tls_listen", "broker.wss_listen"] {
            if self.addr_or_off(key)?.is_some() && !tls_local_ca && tls_cert.is_none() {
                return Err(self.invalid(
                    key,
                    "off, unless tls.cert and tls.key are given or tls.local_ca is true",
                ));
            }
        }
        let tls_names = self.list("tls.names");
        if tls_local_ca && tls_names.is_empty() {
            return Err(self.invalid("tls.names", "one or more host names or addresses"));
        }
        // Two listeners on one address: the second would fail at start with less to go on.
        let listeners = [
            ("http.listen", Some(http)),
            ("http.tls_listen", https),
            ("broker.listen", broker),
            ("broker.tls_listen", broker_tls),
            ("broker.ws_listen", broker_ws),
            ("broker.wss_listen", broker_wss),
        ];
        for (index, (key, addr)) in listeners.iter().enumerate() {
            let Some(addr) = addr else { continue };
            let taken = listeners[..index]
                .iter()
                .find(|(_, other)| other.is_some_and(|other| same_port(other, *addr)));
            if let Some((other, _)) = taken {
                return Err(self.invalid(key, &format!("an address other than {other}'s")));
            }
        }
        let cors_origins = self.list("http.cors_origins");
        if let Some(bad) = cors_origins.iter().find(|o| !valid_origin(o))
            && !(bad == "*" && cors_origins.len() == 1)
        {
            let want = "* alone, or origins like https://map.example.org (scheme, host, \
                        optional port; no path)";
            return Err(self.invalid("http.cors_origins", want));
        }
        let static_dir = path("http.static_dir");
        if let Some(dir) = &static_dir
            && !dir.is_dir()
        {
            return Err(self.invalid("http.static_dir", "an existing directory"));
        }
        let views_dir = path("http.views_dir");
        if let Some(dir) = &views_dir
            && !dir.is_dir()
        {
            return Err(self.invalid("http.views_dir", "an existing directory"));
        }
        let public_url = Some(self.get("http.public_url").0)
            .filter(|v| !v.is_empty())
            .map(|v| match valid_public_url(v) {
                true => Ok(v.trim_end_matches('/').to_owned()),
                false => Err(self.invalid(
                    "http.public_url",
                    "an http:// or https:// URL such as https://pista.example.org/pista (a host, \
                     optional port and path; no query, fragment or login)",
                )),
            })
            .transpose()?;
        let static_path = self.text(
            "http.static_path",
            |v| {
                let ours = ["/api", "/ws", "/pub", "/ctrld", "/view", "/metrics", "/ui"]
                    .iter()
                    .any(|route| v == *route || v.starts_with(&format!("{route}/")));
                v == "/"
                    || (v.starts_with('/')
                        && !v.ends_with('/')
                        && !ours
                        && v.split('/').skip(1).all(|part| {
                            !part.is_empty()
                                && !part.starts_with('.')
                                && part
                                    .chars()
                                    .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c))
                        }))
            },
            "/ or a path like /map (letters, digits, - _ . ~; no trailing slash; not one of \
             Pista's own: /api, /ws, /pub, /ctrld, /view, /metrics, /ui)",
        )?;
        let ui_tiles = self.text(
            "ui.tiles",
            |v| v == "none" || tile_template(v),
            "none, or a URL template with {z}, {x} and {y} (https://..., http://... without a \
             login or *, or a path on this server)",
        )?;
        let ui_tiles = (ui_tiles != "none").then_some(ui_tiles);
        let settings = Settings {
            ui_tiles,
            ui_tiles_attribution: self.get("ui.tiles_attribution").0.to_owned(),
            https,
            cors_origins,
            static_dir,
            static_path,
            views_dir,
            public_url,
            broker_tls,
            broker_ws,
            broker_wss,
            tls_cert,
            tls_key,
            tls_ca_file: path("tls.ca_file"),
            tls_local_ca,
            tls_names,
            log: self.text(
                "log",
                valid_filter,
                "levels (error, warn, info, debug, trace, off) or target=level directives, \
                 e.g. info or warn,pista_ingest=debug",
            )?,
            http,
            http_max_body: self.number("http.max_body", MAX_BODY)? as usize,
            auth: self.boolean("auth.enabled")?,
            admin_password: Some(self.get("auth.admin_password").0.to_owned())
                .filter(|v| !v.is_empty())
                .map(super::Hidden),
            broker,
            broker_max_packet: self.number("broker.max_packet", MAX_PACKET)? as usize,
            mqtt,
            mqtt_ca_file,
            mqtt_client_id: self.text(
                "mqtt.client_id",
                |v| !v.is_empty() && v.len() <= 65535,
                "a non-empty client id",
            )?,
            base_topics: self.topics("mqtt.base_topics")?,
            mqtt_keepalive: self.number("mqtt.keepalive", u64::from(u16::MAX))?,
            database: self.database(&data_dir)?,
            compact: self.boolean("database.compact")?,
            data_dir,
            time_floor: self.day("ingest.time_floor")?,
            t_ignore: self.triggers("ingest.t_ignore")?,
            skip_retained: self.boolean("ingest.skip_retained")?,
            tid_map: self.tid_map("ingest.tid_map")?,
            rawdata: self.boolean("ingest.rawdata")?,
            rawdata_days: self.number("ingest.rawdata_days", 36_500)?,
            retention_days: self.whole("retention.days", 36_500)?,
            retention_interval: self.number("retention.interval", 7 * 86_400)?,
            retention_chunk: self.number("retention.chunk", 100_000)?,
            outputs_mqtt: self.boolean("outputs.mqtt")?,
            map_topic: self.output_topic("outputs.map_topic")?,
            look_topic: self.output_topic("outputs.look_topic")?,
            alert_topic: self.output_topic("outputs.alert_topic")?,
            job_topic: self.output_topic("outputs.job_topic")?,
            monitor_topic: match self.get("outputs.monitor_topic").0.trim() {
                "" => None,
                _ => Some(self.output_topic("outputs.monitor_topic")?),
            },
            log_control: None,
            alert_keys: Some(self.list("outputs.alert_keys")).filter(|keys| !keys.is_empty()),
            plmn: self.boolean("outputs.plmn")?,
            webhooks: self.webhooks("outputs.webhooks")?,
            webhook_attempts: self.number("outputs.webhook_attempts", 20)? as u16,
            webhook_timeout: self.number("outputs.webhook_timeout", 600)?,
            webhook_backoff: Duration::from_secs(1),
            alarm_command: self.alarm_command()?,
            alarm_webhooks: self.webhooks("alarm.webhooks")?,
            alarm_timeout: self.number("alarm.timeout", 3600)?,
            fence_margin: self.whole("fences.margin", 100_000)?,
            fence_dwell: self.whole("fences.dwell", 86_400)?,
            geocode: self.text(
                "geocode.provider",
                |v| pista_geo::KINDS.contains(&v.trim().to_ascii_lowercase().as_str()),
                "offline, nominatim, photon, opencage, google or off",
            )?,
            geocode_url: Some(self.get("geocode.url").0.trim().to_owned())
                .filter(|v| !v.is_empty()),
            geocode_key: Some(self.get("geocode.key").0.trim().to_owned())
                .filter(|v| !v.is_empty()),
            geocode_language: match self.get("geocode.language").0.trim() {
                "" => None,
                _ => Some(self.text(
                    "geocode.language",
                    |v| pista_geo::is_language(v.trim()),
                    "a language code such as de or pt-BR",
                )?)
                .map(|v| v.trim().to_owned()),
            },
            geocode_rate: self.number("geocode.rate", 1000)?,
            geocode_precision: self.number("geocode.precision", 12)? as usize,
            geocode_timeout: self.number("geocode.timeout", 600)?,
            fences: self.fences()?,
            redis_url: self.redis_url()?,
            redis_prefix: self.text(
                "redis.prefix",
                |v| v.len() <= 200 && !v.chars().any(|c| c.is_whitespace() || c.is_control()),
                "up to 200 characters without spaces, such as pista:",
            )?,
        };
        self.distinct_outputs(&[
            ("outputs.map_topic", Some(&settings.map_topic)),
            ("outputs.look_topic", Some(&settings.look_topic)),
            ("outputs.alert_topic", Some(&settings.alert_topic)),
            ("outputs.job_topic", Some(&settings.job_topic)),
            ("outputs.monitor_topic", settings.monitor_topic.as_deref()),
        ])?;
        let online =
            !matches!(settings.geocode.trim().to_ascii_lowercase().as_str(), "offline" | "off");
        if settings.geocode_language.is_some() && !online {
            return Err(self.invalid(
                "geocode.language",
                "unset with the offline geocoder (its names are in the local language) or off",
            ));
        }
        Ok(settings)
    }

    /// The configured fences, checked as the fence API checks its bodies; names are unique,
    /// because a fence is kept from one start to the next by its name.
    fn fences(&self) -> Result<Vec<NewFence>, SettingsError> {
        let mut fences: Vec<NewFence> = Vec::with_capacity(self.fences.len());
        for (index, (path, table)) in self.fences.iter().enumerate() {
            let given = table.get("name").and_then(toml::Value::as_str);
            let error = |reason: String| SettingsError::Fence {
                path: path.clone(),
                number: index + 1,
                name: given.map(|name| format!(" ({name:?})")).unwrap_or_default(),
                reason,
            };
            let object = match serde_json::to_value(table) {
                Ok(serde_json::Value::Object(object)) => object,
                _ => return Err(error("not a table of fence fields".to_owned())),
            };
            let fence = pista_web::fence_from_object(&object, FenceSource::Config)
                .map_err(|e| error(e.message))?;
            if fences.iter().any(|other| other.name == fence.name) {
                return Err(error("another [[fence]] has the same name".to_owned()));
            }
            fences.push(fence);
        }
        Ok(fences)
    }

    /// The alarm command: its program must exist and be executable (a name without `/` is
    /// looked up in `PATH`), so a mistake shows at start rather than at the first alarm.
    fn alarm_command(&self) -> Result<Vec<String>, SettingsError> {
        let command = self.list("alarm.command");
        let Some(program) = command.first() else { return Ok(command) };
        let runnable = |path: &Path| {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            }
            #[cfg(not(unix))]
            path.is_file()
        };
        let found = if program.contains('/') {
            runnable(Path::new(program))
        } else {
            std::env::var_os("PATH").is_some_and(|paths| {
                std::env::split_paths(&paths).any(|dir| runnable(&dir.join(program)))
            })
        };
        if found {
            Ok(command)
        } else {
            Err(self.invalid(
                "alarm.command",
                &format!("a program that exists and may be run ({program:?} is not one)"),
            ))
        }
    }

    /// Output topics must not share a topic tree, or one kind of output would land among
    /// (or be read as) another.
    fn distinct_outputs(
        &self,
        topics: &[(&'static str, Option<&str>)],
    ) -> Result<(), SettingsError> {
        for (index, (key, topic)) in topics.iter().enumerate() {
            let Some(topic) = topic else { continue };
            for (other_key, other) in &topics[index + 1..] {
                let Some(other) = other else { continue };
                let nested = |a: &str, b: &str| a == b || b.starts_with(&format!("{a}/"));
                if nested(topic, other) || nested(other, topic) {
                    return Err(self.invalid(
                        key,
                        &format!(
                            "a topic apart from {other_key} ({other}), not the same or inside it"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn redis_url(&self) -> Result<Option<RedisUrl>, SettingsError> {
        let value = self.get("redis.url").0.trim();
        if value.is_empty() {
            return Ok(None);
        }
        RedisUrl::parse(value).map(Some).map_err(|error| {
            let expected = "expected redis://[[user]:password@]host[:port][/db]";
            self.invalid("redis.url", &format!("{}; {expected}", error.reason))
        })
    }

    /// An output topic: no wildcards, and outside the base topics (else Pista would read its
    /// own outputs back as device messages).
    fn output_topic(&self, key: &'static str) -> Result<String, SettingsError> {
        let topic = self.get(key).0.trim().trim_end_matches('/');
        let plain = !topic.is_empty() && !topic.contains(['+', '#']);
        let probe = format!("{topic}/x/y/z");
        let loops = self.list("mqtt.base_topics").iter().any(|f| topic_matches(f, &probe));
        match (plain, loops) {
            (true, false) => Ok(topic.to_owned()),
            (false, _) => Err(self.invalid(key, "a topic without + or #, such as _owntracks/_map")),
            (true, true) => {
                let (filters, _) = self.get("mqtt.base_topics");
                Err(self.invalid(
                    key,
                    &format!(
                        "a topic outside mqtt.base_topics ({filters}), or Pista would read its \
                         own outputs back; narrow mqtt.base_topics (e.g. owntracks/#) or pick \
                         another prefix"
                    ),
                ))
            }
        }
    }

    /// A whole number from 0 to `max`.
    fn whole(&self, key: &'static str, max: u64) -> Result<u64, SettingsError> {
        match self.get(key).0.trim().parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(self.invalid(key, &format!("a whole number from 0 to {max}"))),
        }
    }

    fn boolean(&self, key: &'static str) -> Result<bool, SettingsError> {
        match self.get(key).0.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(self.invalid(key, "true or false")),
        }
    }

    fn day(&self, key: &'static str) -> Result<i64, SettingsError> {
        let value = self.get(key).0.trim();
        chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp())
            .filter(|t| *t > 0)
            .ok_or_else(|| self.invalid(key, "a date after 1970 such as 2008-01-01"))
    }

    fn list(&self, key: &'static str) -> Vec<String> {
        self.get(key)
            .0
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn triggers(&self, key: &'static str) -> Result<Vec<String>, SettingsError> {
        let triggers = self.list(key);
        if triggers.iter().any(|t| t.chars().count() != 1) {
            return Err(self.invalid(key, "single-letter triggers such as p or p,t"));
        }
        Ok(triggers)
    }

    fn tid_map(&self, key: &'static str) -> Result<Vec<(String, String)>, SettingsError> {
        self.list(key)
            .into_iter()
            .map(|entry| match entry.split_once('=') {
                Some((topic, tid)) if !topic.trim().is_empty() && !tid.trim().is_empty() => {
                    let topic = topic.trim().trim_start_matches('/').to_owned();
                    Ok((topic, tid.trim().to_owned()))
                }
                _ => Err(self.invalid(key, "entries topic=TID such as owntracks/jane/phone=JP")),
            })
            .collect()
    }

    /// http(s) URLs with a host; the error names the first one that is not.
    fn webhooks(&self, key: &'static str) -> Result<Vec<String>, SettingsError> {
        let urls = self.list(key);
        let usable = |text: &String| {
            url::Url::parse(text)
                .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
        };
        match urls.iter().find(|text| !usable(text)) {
            Some(bad) => Err(self.invalid(
                key,
                &format!("http:// or https:// URLs, comma-separated ({:?} is not one)", mask(bad)),
            )),
            None => Ok(urls),
        }
    }

    fn invalid(&self, key: &'static str, allowed: &str) -> SettingsError {
        let (value, origin) = self.get(key);
        let shown = match TABLE.iter().find(|s| s.key == key && s.secret) {
            Some(setting) => mask_setting(setting, value),
            None => value.to_owned(),
        };
        invalid_with(key, &shown, origin, allowed)
    }

    fn text(
        &self,
        key: &'static str,
        ok: impl Fn(&str) -> bool,
        allowed: &str,
    ) -> Result<String, SettingsError> {
        let value = self.get(key).0;
        if ok(value) { Ok(value.to_owned()) } else { Err(self.invalid(key, allowed)) }
    }

    fn addr(&self, key: &'static str) -> Result<SocketAddr, SettingsError> {
        self.get(key).0.trim().parse().map_err(|_| {
            self.invalid(key, "an IP address and port such as 127.0.0.1:8083 or [::1]:8083")
        })
    }

    fn addr_or_off(&self, key: &'static str) -> Result<Option<SocketAddr>, SettingsError> {
        let value = self.get(key).0.trim();
        if value.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        value
            .parse()
            .map(Some)
            .map_err(|_| self.invalid(key, "off, or an IP address and port such as 127.0.0.1:1883"))
    }

    fn number(&self, key: &'static str, max: u64) -> Result<u64, SettingsError> {
        match self.get(key).0.trim().parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(self.invalid(key, &format!("a whole number from 1 to {max}"))),
        }
    }

    fn mqtt_url(&self) -> Result<Option<BrokerUrl>, SettingsError> {
        let value = self.get("mqtt.url").0.trim();
        if value.is_empty() {
            return Ok(None);
        }
        BrokerUrl::parse(value).map(Some).map_err(|e| {
            let reason = match e {
                pista_ingest::UrlError::Scheme { scheme, .. } => {
                    format!("scheme {scheme:?} is not allowed")
                }
                pista_ingest::UrlError::NoHost { .. } => "it has no host".to_owned(),
                pista_ingest::UrlError::PortZero { .. } => "port 0 is not a port".to_owned(),
                pista_ingest::UrlError::Extra { part, .. } => format!("it has a {part}"),
                // A `/`, `@` or `:` in a password ends the user info early.
                pista_ingest::UrlError::Syntax { reason, .. } if value.contains('@') => {
                    format!("{reason} (percent-encode / : @ % in the user and password)")
                }
                pista_ingest::UrlError::Syntax { reason, .. } => reason,
            };
            self.invalid(
                "mqtt.url",
                &format!("{reason}; expected mqtt://[user[:password]@]host[:port] or mqtts://..."),
            )
        })
    }

    fn topics(&self, key: &'static str) -> Result<Vec<String>, SettingsError> {
        let topics: Vec<String> = self
            .get(key)
            .0
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        if topics.is_empty() || !topics.iter().all(|t| valid_topic_filter(t)) {
            return Err(self.invalid(
                key,
                "one or more MQTT topic filters such as owntracks/# (+ for one level, # last)",
            ));
        }
        Ok(topics)
    }

    fn database(&self, data_dir: &Path) -> Result<String, SettingsError> {
        let value = self.get("database.url").0.trim();
        if value.is_empty() {
            // The directory as a URL path: `%`, `?` and `#` in its name would otherwise be read
            // as an escape, the query and a fragment.
            const IN_PATH: &percent_encoding::AsciiSet =
                &percent_encoding::CONTROLS.add(b'%').add(b'?').add(b'#');
            let dir = data_dir.display().to_string();
            let dir = percent_encoding::utf8_percent_encode(&dir, IN_PATH);
            return Ok(format!("sqlite://{dir}/pista.db"));
        }
        let path = value.strip_prefix("sqlite://").or_else(|| value.strip_prefix("sqlite:"));
        if let Some(path) = path {
            if path.is_empty() {
                return Err(self.invalid("database.url", "sqlite://PATH with a file path"));
            }
            return Ok(value.to_owned());
        }
        let server = ["postgres://", "postgresql://", "mysql://", "mariadb://"];
        match url::Url::parse(value) {
            Ok(url)
                if server.iter().any(|scheme| value.starts_with(scheme))
                    && url.host_str().is_some_and(|host| !host.is_empty())
                    && !url.path().trim_start_matches('/').is_empty() =>
            {
                Ok(value.to_owned())
            }
            _ => Err(self.invalid(
                "database.url",
                "sqlite://PATH, postgres://[user[:password]@]host[:port]/database or \
                 mysql://[user[:password]@]host[:port]/database",
            )),
        }
    }
}

fn invalid_with(key: &'static str, value: &str, origin: &Origin, allowed: &str) -> SettingsError {
    SettingsError::Invalid {
        key,
        value: value.to_owned(),
        origin: origin.clone(),
        allowed: allowed.to_owned(),
    }
}

/// Largest HTTP body (1 GiB) and MQTT packet (the protocol's own limit) a setting may allow.
const MAX_BODY: u64 = 1 << 30;
const MAX_PACKET: u64 = 268_435_455;

/// A log filter of levels and `target=level` directives. A bare word that is not a level is
/// refused: tracing would read it as a target name and quietly log nothing else.
fn valid_filter(value: &str) -> bool {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let directives_ok = value
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .all(|d| d.contains('=') || LEVELS.iter().any(|level| level.eq_ignore_ascii_case(d)));
    directives_ok
        && !value.trim().is_empty()
        && tracing_subscriber::EnvFilter::try_new(value).is_ok()
}

/// Whether two listen addresses would clash (port 0 asks for any free port, so never does).
/// A browser origin: `http` or `https`, `://`, a host and maybe a port; nothing after.
fn valid_origin(origin: &str) -> bool {
    let Some((scheme, host)) = origin.split_once("://") else { return false };
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host.chars().all(|c| c.is_ascii_graphic() && !"/?#@\\".contains(c))
}

/// A base URL for links: http or https, a host, no login, query or fragment.
fn valid_public_url(text: &str) -> bool {
    let Ok(url) = url::Url::parse(text) else { return false };
    matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|host| !host.is_empty())
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
        && !text.contains(char::is_whitespace)
}

fn same_port(a: SocketAddr, b: SocketAddr) -> bool {
    let same_ip = a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified();
    a.port() != 0 && a.port() == b.port() && same_ip
}

/// MQTT filter syntax: `#` only as the whole last level, `+` only as a whole level.
fn valid_topic_filter(filter: &str) -> bool {
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, level)| match *level {
        "#" => i == levels.len() - 1,
        "+" => true,
        other => !other.contains(['#', '+']),
    })
}

/// Hides the password in anything that looks like a URL with user info, also text that does
/// not parse as one (a password with a `/` in it, a missing `//`), so a typo never shows a
/// secret: `scheme://user:pw@host` shows `scheme://user:***@host`, and any other text with an
/// `@` shows `***` for everything before the last `@`.
pub(super) fn mask(value: &str) -> String {
    let Some(at) = value.rfind('@') else { return value.to_owned() };
    let (userinfo, host) = value.split_at(at);
    if let Some((scheme, credentials)) = userinfo.split_once("://") {
        return match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***{host}"),
            None => value.to_owned(),
        };
    }
    format!("***{host}")
}

/// A secret setting's value as shown: a URL with its password masked (each item of a list on
/// its own), and an API key (`geocode.key`) hidden whole.
pub(super) fn mask_setting(setting: &Setting, value: &str) -> String {
    if setting.name() == "key" && !value.is_empty() {
        return "***".to_owned();
    }
    if setting.kind != Kind::List {
        return mask(value);
    }
    value.split(',').map(|item| mask(item.trim())).collect::<Vec<_>>().join(",")
}

/// What a config file holds: setting values, and fences.
struct FileSettings {
    values: Vec<(&'static str, String)>,
    fences: Vec<toml::Table>,
}

/// Reads a config file into (key, text) pairs and `[[fence]]` tables, refusing keys the table
/// does not know.
fn read_file(path: &Path) -> Result<FileSettings, SettingsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| SettingsError::Read { path: path.to_owned(), source })?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| SettingsError::Toml {
        path: path.to_owned(),
        detail: e.to_string().trim().to_owned(),
    })?;

    let mut pairs = Vec::new();
    let mut fences = Vec::new();
    for (name, value) in &table {
        match value {
            _ if name == "fence" => {
                let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
                for (index, item) in items.iter().enumerate() {
                    let toml::Value::Table(fence) = item else {
                        return Err(SettingsError::Fence {
                            path: path.to_owned(),
                            number: index + 1,
                            name: String::new(),
                            reason: "write each fence as a [[fence]] table of fields".to_owned(),
                        });
                    };
                    fences.push(fence.clone());
                }
                if !value.is_array() {
                    return Err(SettingsError::Fence {
                        path: path.to_owned(),
                        number: 1,
                        name: String::new(),
                        reason: "write each fence as a [[fence]] table of fields".to_owned(),
                    });
                }
            }
            toml::Value::Table(section) => {
                for (inner, value) in section {
                    pairs.push((format!("{name}.{inner}"), value.clone()));
                }
            }
            other => pairs.push((name.clone(), other.clone())),
        }
    }

    let values = pairs
        .into_iter()
        .map(|(key, value)| {
            let Some(setting) = TABLE.iter().find(|s| s.key == key) else {
                let mut known: Vec<&str> = TABLE.iter().map(|s: &Setting| s.key).collect();
                known.push("[[fence]]");
                let known = known.join(", ");
                return Err(SettingsError::UnknownKey { path: path.to_owned(), key, known });
            };
            let text = toml_text(&value).ok_or_else(|| SettingsError::WrongType {
                path: path.to_owned(),
                key: key.clone(),
            })?;
            Ok((setting.key, text))
        })
        .collect::<Result<_, _>>()?;
    Ok(FileSettings { values, fences })
}

fn toml_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        _ => None,
    }
}

/// Whether `value` is a tile URL template the web UI can use and its content security policy
/// can name: `{z}`, `{x}` and `{y}` in an `http(s)://` address without a login in it, or in a
/// path on this server (not `//host`, which is another server); no spaces, control characters
/// or `*`.
fn tile_template(value: &str) -> bool {
    let plain = !value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '*');
    let parts = ["{z}", "{x}", "{y}"].iter().all(|part| value.contains(part));
    let place = match value.strip_prefix("https://").or_else(|| value.strip_prefix("http://")) {
        Some(rest) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            !authority.is_empty() && !authority.contains('@')
        }
        None => value.starts_with('/') && !value.starts_with("//") && !value.contains('\\'),
    };
    plain && parts && place
}
