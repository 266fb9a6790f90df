//! The alarm hook. A Greenwich device that is moved while switched off publishes its position
//! on `<device topic>/alarm`; once such a message is stored, the outputs stage hands its
//! decoded position here, and the hook looks up its address, then runs the configured command
//! and POSTs to the configured webhooks, beside ingest so neither ever slows it.
//!
//! The alarm object has the original's location keys (`tid`, `lat`, `lon`, `tst`, `tstamp`,
//! `addr`, `cc`, `topic`, ...) with `_type: "alarm"`. The command is run directly (no shell)
//! with the object as JSON on its standard input and the main values in `PISTA_ALARM_*`
//! variables; its environment is otherwise only `PATH`, `HOME` and `LANG`, so Pista's own
//! secrets never reach it. It may run for the configured timeout, then it is killed. Webhooks
//! get the same JSON with an `X-Pista-Alarm` header (the stored message's id), retried like
//! alert webhooks while Pista runs (unlike alert deliveries they are not resumed after a
//! restart). At most [`RUNNING`] alarms are handled at once; beyond that they are dropped and
//! counted, so a device flooding alarms cannot fork a process per message. A command runs in a
//! process group of its own, killed whole when it runs too long.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pista_geo::Geocoder;
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::Semaphore;
use url::Url;

use crate::webhooks::post::{pause, post};
use crate::webhooks::{WebhookError, WebhookOptions, masked, parse_urls};

/// The header carrying the alarm message's id, the same on every retry.
pub const ALARM_HEADER: &str = "x-pista-alarm";

/// Alarms handled at once.
pub const RUNNING: usize = 16;

/// Environment variables a hook command keeps from Pista's own environment.
const KEPT_ENV: [&str; 3] = ["PATH", "HOME", "LANG"];

/// Longest value of a `PISTA_ALARM_*` variable, in characters.
const ENV_CHARS: usize = 1024;

/// Webhook deliveries of alarms waiting or between retries, at most; beyond, they are dropped.
pub const DELIVERING: usize = 256;

/// What is done with an alarm.
#[derive(Debug, Clone, Default)]
pub struct AlarmOptions {
    /// The program and its arguments; empty for none.
    pub command: Vec<String>,
    /// URLs the alarm is POSTed to.
    pub webhooks: Vec<String>,
    /// How long the command may run, and one POST may take.
    pub timeout: Duration,
    /// Most POSTs per webhook, the first included.
    pub attempts: u16,
    /// Wait before the first retry; it doubles for each further one, up to a minute.
    pub backoff: Duration,
}

/// Counters of the alarm hook since start.
#[derive(Debug, Default)]
pub struct AlarmStats {
    pub alarms: AtomicU64,
    /// Commands that could not start, failed or ran too long.
    pub command_failures: AtomicU64,
    /// Webhook deliveries that failed after every attempt.
    pub webhook_failures: AtomicU64,
    /// Alarms dropped because [`RUNNING`] were being handled.
    pub dropped: AtomicU64,
}

/// A cheap handle on the alarm hook.
#[derive(Clone)]
pub struct AlarmHook {
    inner: Arc<Inner>,
}

struct Inner {
    options: AlarmOptions,
    urls: Vec<Url>,
    client: reqwest::Client,
    geocoder: Option<Arc<dyn Geocoder>>,
    running: Arc<Semaphore>,
    /// Webhook deliveries under way, apart from the commands' slots.
    delivering: Arc<Semaphore>,
    stats: AlarmStats,
}

impl AlarmHook {
    /// `None` when neither a command nor a webhook is configured. A URL that is not http(s)
    /// is an error that names it (password masked).
    pub fn new(
        options: AlarmOptions,
        geocoder: Option<Arc<dyn Geocoder>>,
    ) -> Result<Option<Self>, WebhookError> {
        if options.command.is_empty() && options.webhooks.is_empty() {
            return Ok(None);
        }
        let (urls, client) = parse_urls(&options.webhooks, options.timeout)?;
        let inner = Inner {
            options,
            urls,
            client,
            geocoder,
            running: Arc::new(Semaphore::new(RUNNING)),
            delivering: Arc::new(Semaphore::new(DELIVERING)),
            stats: AlarmStats::default(),
        };
        Ok(Some(Self { inner: Arc::new(inner) }))
    }

    pub fn stats(&self) -> &AlarmStats {
        &self.inner.stats
    }

    /// Handles the alarm of stored message `id` in the background.
    pub fn fire(&self, id: i64, object: Map<String, Value>) {
        self.inner.stats.alarms.fetch_add(1, Ordering::Relaxed);
        let Ok(permit) = self.inner.running.clone().try_acquire_owned() else {
            self.inner.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(alarm = id, running = RUNNING, "alarm dropped: too many running");
            return;
        };
        let inner = self.inner.clone();
        tokio::spawn(async move {
            inner.handle(id, object, permit).await;
        });
    }
}

impl Inner {
    /// Looks up the address and runs the command while holding one of the [`RUNNING`] slots,
    /// then lets the slot go: webhook retries, which may take minutes, wait apart (at most
    /// [`DELIVERING`] at once), so a dead receiver never keeps alarms from running.
    async fn handle(
        self: Arc<Self>,
        id: i64,
        mut object: Map<String, Value>,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) {
        self.address(&mut object).await;
        let json = pista_derive::wire::compact(&Value::Object(object.clone()));
        if !self.options.command.is_empty() && !self.run_command(id, &object, &json).await {
            self.stats.command_failures.fetch_add(1, Ordering::Relaxed);
        }
        drop(slot);
        if self.urls.is_empty() {
            return;
        }
        let Ok(delivering) = self.delivering.clone().try_acquire_owned() else {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(alarm = id, "alarm webhooks dropped: too many deliveries waiting");
            return;
        };
        for url in &self.urls {
            if !self.deliver(id, url, &json).await {
                self.stats.webhook_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(delivering);
    }

    /// Fills in `addr` and `cc` from the geocoder, if it answers in time.
    async fn address(&self, object: &mut Map<String, Value>) {
        let Some(geocoder) = &self.geocoder else { return };
        let number = |key: &str| object.get(key).and_then(Value::as_f64);
        let (Some(lat), Some(lon)) = (number("lat"), number("lon")) else { return };
        match tokio::time::timeout(self.options.timeout, geocoder.reverse(lat, lon)).await {
            Ok(Ok(Some(address))) => {
                object.insert("addr".into(), address.addr.into());
                if let Some(cc) = address.cc {
                    object.insert("cc".into(), cc.into());
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(error)) => tracing::debug!(%error, "alarm address not found"),
            Err(_) => tracing::debug!("alarm address not found in time"),
        }
    }

    /// Runs the command in a process group of its own; returns whether it exited with success
    /// in time. When it runs too long the whole group is killed, so nothing it started lives on.
    async fn run_command(&self, id: i64, object: &Map<String, Value>, json: &str) -> bool {
        let [program, args @ ..] = self.options.command.as_slice() else { return true };
        let text = |key: &str| match object.get(key) {
            Some(Value::String(text)) => env_value(text),
            Some(other) => env_value(&other.to_string()),
            None => String::new(),
        };
        let mut command = Command::new(program);
        command.args(args).env_clear().kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        for name in KEPT_ENV {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command.env("PISTA_ALARM_ID", id.to_string());
        for key in ["topic", "tid", "lat", "lon", "tst", "addr", "cc"] {
            command.env(format!("PISTA_ALARM_{}", key.to_ascii_uppercase()), text(key));
        }
        command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                tracing::error!(alarm = id, program, %error, "alarm command did not start");
                return false;
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its input is fine.
            let _ = stdin.write_all(json.as_bytes()).await;
        }
        // Its error output is read on the side (the first 4 KiB): a child it leaves running
        // may keep the pipe open long after the command itself has exited.
        let stderr = child.stderr.take().map(|mut pipe| {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let _ = tokio::io::AsyncReadExt::read_to_end(
                    &mut tokio::io::AsyncReadExt::take(&mut pipe, 4096),
                    &mut head,
                )
                .await;
                head
            })
        });
        let status = tokio::time::timeout(self.options.timeout, child.wait()).await;
        let said = || async {
            let Some(reader) = stderr else { return String::new() };
            match tokio::time::timeout(Duration::from_millis(200), reader).await {
                Ok(Ok(head)) => String::from_utf8_lossy(&head).trim().chars().take(500).collect(),
                _ => String::new(),
            }
        };
        match status {
            Ok(Ok(status)) if status.success() => {
                tracing::info!(alarm = id, program, "alarm command ran");
                true
            }
            Ok(Ok(status)) => {
                let stderr = said().await;
                tracing::error!(alarm = id, program, %status, %stderr, "alarm command failed");
                false
            }
            Ok(Err(error)) => {
                tracing::error!(alarm = id, program, %error, "alarm command failed");
                false
            }
            Err(_) => {
                kill_group(&child);
                let _ = child.kill().await;
                let seconds = self.options.timeout.as_secs_f64();
                tracing::error!(alarm = id, program, seconds, "alarm command killed: too slow");
                false
            }
        }
    }

    /// POSTs the alarm to one webhook with retries; returns whether it was delivered.
    async fn deliver(&self, id: i64, url: &Url, json: &str) -> bool {
        let retry = WebhookOptions { backoff: self.options.backoff, ..WebhookOptions::default() };
        let shown = masked(url);
        for number in 1..=self.options.attempts.max(1) {
            let header = (ALARM_HEADER, id);
            let attempt = post(&self.client, url, header, json, self.options.timeout).await;
            if attempt.delivered() {
                tracing::info!(alarm = id, url = %shown, attempt = number, "alarm delivered");
                return true;
            }
            let error = attempt.error.clone().unwrap_or_default();
            tracing::warn!(alarm = id, url = %shown, attempt = number, %error,
                "alarm not delivered");
            if !attempt.worth_retrying() || number == self.options.attempts {
                break;
            }
            tokio::time::sleep(pause(&retry, number, attempt.retry_after)).await;
        }
        false
    }
}

/// A device's value as an environment variable: control characters become spaces, and at most
/// [`ENV_CHARS`] characters are kept (an environment has a size limit).
fn env_value(text: &str) -> String {
    text.chars().take(ENV_CHARS).map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Kills the command's whole process group (it leads a group of its own).
#[cfg(unix)]
fn kill_group(child: &tokio::process::Child) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_child: &tokio::process::Child) {}

impl std::fmt::Debug for AlarmHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self.inner.urls.iter().map(masked).collect();
        f.debug_struct("AlarmHook")
            .field("command", &self.inner.options.command)
            .field("webhooks", &urls)
            .finish_non_exhaustive()
    }
}
