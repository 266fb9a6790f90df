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
//! alert webhooks. At most [`RUNNING`] alarms are handled at once; beyond that they are dropped
//! and counted, so a device flooding alarms cannot fork a process per message.

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
use crate::webhooks::{WebhookError, WebhookOptions, masked, targets};

/// The header carrying the alarm message's id, the same on every retry.
pub const ALARM_HEADER: &str = "x-pista-alarm";

/// Alarms handled at once.
pub const RUNNING: usize = 16;

/// Environment variables a hook command keeps from Pista's own environment.
const KEPT_ENV: [&str; 3] = ["PATH", "HOME", "LANG"];

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
        let (urls, client) = targets(&options.webhooks, options.timeout)?;
        let inner = Inner {
            options,
            urls,
            client,
            geocoder,
            running: Arc::new(Semaphore::new(RUNNING)),
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
            inner.handle(id, object).await;
            drop(permit);
        });
    }
}

impl Inner {
    async fn handle(&self, id: i64, mut object: Map<String, Value>) {
        self.address(&mut object).await;
        let json = pista_derive::wire::compact(&Value::Object(object.clone()));
        if !self.options.command.is_empty() && !self.run_command(id, &object, &json).await {
            self.stats.command_failures.fetch_add(1, Ordering::Relaxed);
        }
        for url in &self.urls {
            if !self.deliver(id, url, &json).await {
                self.stats.webhook_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
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

    /// Runs the command; returns whether it exited with success in time.
    async fn run_command(&self, id: i64, object: &Map<String, Value>, json: &str) -> bool {
        let [program, args @ ..] = self.options.command.as_slice() else { return true };
        let text = |key: &str| match object.get(key) {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let mut command = Command::new(program);
        command.args(args).env_clear().kill_on_drop(true);
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
        match tokio::time::timeout(self.options.timeout, child.wait_with_output()).await {
            Ok(Ok(output)) if output.status.success() => {
                tracing::info!(alarm = id, program, "alarm command ran");
                true
            }
            Ok(Ok(output)) => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let stderr: String = stderr.trim().chars().take(500).collect();
                tracing::error!(alarm = id, program, status = %output.status, %stderr,
                    "alarm command failed");
                false
            }
            Ok(Err(error)) => {
                tracing::error!(alarm = id, program, %error, "alarm command failed");
                false
            }
            Err(_) => {
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

impl std::fmt::Debug for AlarmHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self.inner.urls.iter().map(masked).collect();
        f.debug_struct("AlarmHook")
            .field("command", &self.inner.options.command)
            .field("webhooks", &urls)
            .finish_non_exhaustive()
    }
}
