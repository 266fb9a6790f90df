//! The original o2smonitor: a few admin commands, answered in one line of text. Over MQTT a
//! command is published to `<monitor topic>/<command>` with its argument as the payload, and the
//! answer comes back on `<received topic>/out` (the subscription is `<monitor topic>/+`, so
//! answers never loop back); the HTTP API (`POST /api/0/monitor`) and `pista monitor` give the
//! same answers. Retained and empty messages are ignored, as the original did.
//!
//! | command | argument | answer |
//! |---|---|---|
//! | `loglevel` | a level name (`DEBUG`, `INFO`, `WARNING`, `ERROR`, `CRITICAL`, `TRACE`) | `thanks`, or `Unchanged` |
//! | `dump` | `devices` | the path of a new file with every device object, as indented JSON (the newest ten are kept) |
//! | `info` | a tracker id | the device object of that tracker id, or `TID <tid> not found` |
//! | `imei` | a tracker id | `TID=<tid> IMEI=<imei> topic=<topic>`, or `unknown TID=<tid>` |
//!
//! Anything else is answered `NAK` (`NAK: unknown dump subcommand` for another dump). A
//! command that fails answers `Tell: cmd <command> with val <argument> failed: <error>`.
//!
//! Over HTTP only superusers reach them; on MQTT, whoever may publish on the monitor topic (on
//! the embedded broker: superusers and write ACL entries for it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pista_store::Storage;
use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde_json::Value;
use tokio::sync::watch;

use crate::mqtt_input::BrokerUrl;

/// Longest argument a command takes, in bytes (a tracker id or a level name is a few).
const MAX_ARGUMENT: usize = 256;
/// Device dumps kept; older ones are deleted when a new one is written.
pub const KEPT_DUMPS: usize = 10;
use crate::outputs::OutputsHandle;

/// Sets the log filter of the running server; `Err` with the reason when it is not valid.
pub type SetFilter = dyn Fn(&str) -> Result<(), String> + Send + Sync;

/// Changes the log filter of the running server.
#[derive(Clone)]
pub struct LogControl(pub Arc<SetFilter>);

impl std::fmt::Debug for LogControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogControl")
    }
}

/// Answers monitor commands; cheap to clone.
#[derive(Clone)]
pub struct Monitor {
    outputs: OutputsHandle,
    store: Arc<dyn Storage>,
    log: Option<LogControl>,
    /// Where `dump devices` writes its files.
    dump_dir: PathBuf,
}

impl Monitor {
    pub fn new(
        outputs: OutputsHandle,
        store: Arc<dyn Storage>,
        log: Option<LogControl>,
        dump_dir: PathBuf,
    ) -> Self {
        Self { outputs, store, log, dump_dir }
    }

    /// The answer to `command` with `argument` (trimmed).
    pub async fn answer(&self, command: &str, argument: &str) -> String {
        let argument = argument.trim();
        if argument.len() > MAX_ARGUMENT {
            return format!("NAK: argument longer than {MAX_ARGUMENT} bytes");
        }
        let result = match command {
            "loglevel" => Ok(self.log_level(argument)),
            "dump" if argument == "devices" => self.dump().await,
            "dump" => Ok("NAK: unknown dump subcommand".to_owned()),
            "info" => self.info(argument).await,
            "imei" => self.imei(argument).await,
            _ => Ok("NAK".to_owned()),
        };
        tracing::info!(command, argument, "monitor command");
        result.unwrap_or_else(|error| {
            format!("Tell: cmd {command} with val {argument} failed: {error}")
        })
    }

    fn log_level(&self, name: &str) -> String {
        let level = match name.to_ascii_uppercase().as_str() {
            "TRACE" => "trace",
            "DEBUG" => "debug",
            "INFO" => "info",
            "WARN" | "WARNING" => "warn",
            "ERROR" | "CRITICAL" => "error",
            _ => return "Unchanged".to_owned(),
        };
        match &self.log {
            Some(control) if (control.0)(level).is_ok() => {
                tracing::warn!(level, "log level changed by the monitor");
                "thanks".to_owned()
            }
            _ => "Unchanged".to_owned(),
        }
    }

    async fn dump(&self) -> Result<String, String> {
        let objects = self.outputs.device_objects().await?;
        let devices: serde_json::Map<String, Value> =
            objects.into_iter().map(|device| (device.topic, device.object)).collect();
        let text = serde_json::to_string_pretty(&Value::Object(devices))
            .map_err(|error| error.to_string())?;
        std::fs::create_dir_all(&self.dump_dir)
            .map_err(|error| format!("cannot create {}: {error}", self.dump_dir.display()))?;
        let dir = std::fs::canonicalize(&self.dump_dir).map_err(|error| error.to_string())?;
        let file = tempfile::Builder::new()
            .prefix("o2s-devicedump-")
            .suffix(".json")
            .tempfile_in(&dir)
            .map_err(|error| format!("cannot create a file in {}: {error}", dir.display()))?;
        std::fs::write(file.path(), text).map_err(|error| error.to_string())?;
        let (_, path) = file.keep().map_err(|error| error.to_string())?;
        prune_dumps(&dir);
        Ok(path.display().to_string())
    }

    /// The device objects whose tracker id is `tid`, by device topic.
    async fn with_tid(&self, tid: &str) -> Result<Vec<(String, Value)>, String> {
        let objects = self.outputs.device_objects().await?;
        Ok(objects
            .into_iter()
            .map(|device| (device.topic, device.object))
            .filter(|(_, object)| object.get("tid").and_then(Value::as_str) == Some(tid))
            .collect())
    }

    async fn info(&self, tid: &str) -> Result<String, String> {
        Ok(match self.with_tid(tid).await?.into_iter().next() {
            Some((_, object)) => pista_derive::wire::compact(&object),
            None => format!("TID {tid} not found"),
        })
    }

    async fn imei(&self, tid: &str) -> Result<String, String> {
        let found = self.with_tid(tid).await?;
        let inventory = self.store.inventory().await.map_err(|error| error.to_string())?;
        for (topic, object) in &found {
            let imei = object.get("imei").and_then(Value::as_str).map(str::to_owned);
            let user_device = topic_key(topic);
            let stored = inventory.iter().find(|item| {
                let key = (item.key.user.as_str(), item.key.device.as_str());
                user_device.as_ref().is_some_and(|(user, device)| key == (user, device))
            });
            if let Some(imei) = imei.or_else(|| stored.map(|item| item.imei.clone())) {
                return Ok(format!("TID={tid} IMEI={imei} topic={topic}"));
            }
        }
        Ok(format!("unknown TID={tid}"))
    }
}

/// Keeps the newest [`KEPT_DUMPS`] dump files in `dir` and deletes older ones.
fn prune_dumps(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut dumps: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("o2s-devicedump-"))
        .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
        .collect();
    dumps.sort_by_key(|dump| std::cmp::Reverse(dump.0));
    for (_, old) in dumps.into_iter().skip(KEPT_DUMPS) {
        if let Err(error) = std::fs::remove_file(&old) {
            tracing::warn!(path = %old.display(), %error, "old device dump not removed");
        }
    }
}

/// The user and device of a device topic (its last two levels, in lower case).
fn topic_key(topic: &str) -> Option<(String, String)> {
    let mut levels = topic.rsplit('/');
    let device = levels.next()?.to_lowercase();
    let user = levels.next()?.to_lowercase();
    Some((user, device))
}

/// Where monitor commands are read over MQTT.
#[derive(Debug, Clone)]
pub struct MonitorMqtt {
    pub url: BrokerUrl,
    pub ca_pem: Option<Vec<u8>>,
    pub client_id: String,
    /// Commands arrive on `<topic>/<command>`.
    pub topic: String,
}

/// Subscribes to `<topic>/+` and answers each command on `<received topic>/out` until
/// `shutdown` becomes true; reconnects after a second when the broker goes away.
pub async fn run_monitor(
    config: MonitorMqtt,
    monitor: Monitor,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut options = config.url.client_options(&config.client_id, config.ca_pem.as_deref());
    // Large enough that an oversized command is read (and refused) instead of dropping the
    // connection and the commands behind it.
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_max_packet_size(16 << 20, 16 << 20);
    let (client, mut events) = AsyncClient::new(options, 64);
    let filter = format!("{}/+", config.topic);
    loop {
        let event = tokio::select! {
            _ = shutdown.changed() => break,
            event = events.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                if let Err(error) = client.try_subscribe(filter.clone(), QoS::AtLeastOnce) {
                    tracing::error!(%error, "cannot queue the monitor subscription");
                }
                tracing::info!(topic = %filter, "monitor listening");
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                if publish.retain || publish.payload.is_empty() {
                    continue;
                }
                let Some(command) = publish.topic.rsplit('/').next().map(str::to_owned) else {
                    continue;
                };
                let argument = String::from_utf8_lossy(&publish.payload).into_owned();
                let reply_topic = format!("{}/out", publish.topic);
                let (client, monitor) = (client.clone(), monitor.clone());
                tokio::spawn(async move {
                    let reply = monitor.answer(&command, &argument).await;
                    if let Err(error) =
                        client.publish(reply_topic, QoS::AtLeastOnce, false, reply).await
                    {
                        tracing::warn!(%error, "monitor reply not sent");
                    }
                });
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, broker = %config.url.masked(), "monitor connection lost");
                tokio::select! {
                    _ = shutdown.changed() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    let _ = client.try_disconnect();
}
