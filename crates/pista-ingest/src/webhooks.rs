//! Geofence alerts POSTed to webhooks, beside ingest so that a slow or dead receiver never slows
//! it. The outputs stage hands each recorded alert over without waiting; every webhook URL (the
//! global ones and the fence's own) gets a lane of its own: a bounded queue and one task that
//! POSTs its alerts in order, so one receiver's outage neither delays the others nor reorders
//! its own alerts. A POST succeeds on a 2xx answer; a network error, a timeout, 408, 429 and 5xx
//! are retried with exponential backoff (a longer `Retry-After` is honoured) up to the
//! configured attempts; any other answer ends the delivery at once. Every attempt, and every
//! delivery dropped because its lane was full, is logged in `webhook_deliveries` with the URL's
//! password masked. Each delivery is queued in storage with its alert (`webhook_queue`) and taken
//! off when it ends, so deliveries still waiting or between retries when Pista stops are resumed
//! at the next start ([`Webhooks::resume`]), counting the attempts already made.

pub(crate) mod post;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pista_store::{DerivedStore, NewDelivery};
use tokio::sync::mpsc;
use url::Url;

use post::{Attempt, pause, post};

/// The User-Agent of every POST.
pub const USER_AGENT: &str = concat!("pista/", env!("CARGO_PKG_VERSION"));

/// The header carrying the alert's id, the same on every retry, so receivers can drop copies.
pub const ALERT_HEADER: &str = "x-pista-alert";

/// How long a lane with nothing to do keeps its task.
const LANE_IDLE: Duration = Duration::from_secs(60);

/// How alerts are delivered.
#[derive(Clone)]
pub struct WebhookOptions {
    /// URLs every alert is POSTed to, besides its fence's own webhook.
    pub urls: Vec<String>,
    /// Most POSTs of one alert to one URL, the first included.
    pub attempts: u16,
    /// Limit on one POST, connection to last byte.
    pub timeout: Duration,
    /// Wait before the first retry; it doubles for each further one, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Deliveries that may wait per URL; further ones are dropped (and logged).
    pub queue: usize,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            attempts: 5,
            timeout: Duration::from_secs(10),
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            queue: 1000,
        }
    }
}

/// Counters of the webhook deliveries since start (one delivery is one alert to one URL).
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Deliveries a receiver accepted.
    pub deliveries: AtomicU64,
    /// Deliveries given up: attempts exhausted, an answer not worth retrying, or a URL that
    /// cannot be used. Dropped ones are counted apart.
    pub failures: AtomicU64,
    /// Deliveries dropped before any POST because their URL's queue was full.
    pub dropped: AtomicU64,
    /// POSTs made, retries included.
    pub attempts: AtomicU64,
}

/// Why webhooks cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook {url:?} is not an http(s) URL")]
    Url { url: String },
    #[error("cannot build the webhook http client")]
    Client(#[source] reqwest::Error),
}

/// The delivery side of the outputs stage; cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    options: WebhookOptions,
    /// The global URLs, parsed.
    global: Vec<Url>,
    derived: Arc<dyn DerivedStore>,
    stats: WebhookStats,
    /// The queue of each URL's lane, by URL. A lane whose task ended (idle) is started again.
    lanes: Mutex<HashMap<String, mpsc::Sender<Job>>>,
    /// Lets one log write through at a time, so that however many lanes there are, webhooks
    /// hold at most one of the database's pooled connections and ingest keeps the others.
    log_gate: tokio::sync::Mutex<()>,
}

/// One alert for one lane.
struct Job {
    alert_id: i64,
    payload: Arc<str>,
    /// Its row in the stored queue, taken off when the delivery ends.
    queue_id: Option<i64>,
    /// The number of its first POST (above 1 when resumed after earlier attempts).
    first: u16,
}

impl Webhooks {
    /// Checks the URLs and builds the HTTP client; lanes start with their first alert.
    pub fn new(
        options: WebhookOptions,
        derived: Arc<dyn DerivedStore>,
    ) -> Result<Self, WebhookError> {
        let (global, client) = parse_urls(&options.urls, options.timeout)?;
        let inner = Inner {
            client,
            options,
            global,
            derived,
            stats: WebhookStats::default(),
            lanes: Mutex::default(),
            log_gate: tokio::sync::Mutex::default(),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The deliveries' counters since start.
    pub fn stats(&self) -> &WebhookStats {
        &self.inner.stats
    }

    /// Where an alert goes: the global webhooks and the fence's own, each URL once. A fence
    /// webhook that is no http(s) URL (the fence API refuses those) is skipped with a warning.
    pub fn targets(&self, fence_webhook: Option<&str>) -> Vec<String> {
        let mut targets = self.inner.global.clone();
        if let Some(text) = fence_webhook {
            match parse(text) {
                Some(url) => targets.push(url),
                None => {
                    let shown = mask_text(text);
                    tracing::warn!(url = %shown, "fence webhook is not an http(s) URL; skipped");
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        targets.retain(|url| seen.insert(url.as_str().to_owned()));
        targets.into_iter().map(String::from).collect()
    }

    /// Queues a recorded alert for its targets, given as (stored queue id, URL). Never waits.
    pub fn deliver(&self, alert_id: i64, payload: &str, targets: &[(Option<i64>, String)]) {
        let payload: Arc<str> = Arc::from(payload);
        for (queue_id, text) in targets {
            let job = Job { alert_id, payload: payload.clone(), queue_id: *queue_id, first: 1 };
            match parse(text) {
                Some(url) => self.enqueue(url, job),
                None => self.inner.finish_later(job.queue_id),
            }
        }
    }

    /// Queues again every delivery that had not ended when Pista stopped, continuing after the
    /// attempts the log shows; one whose attempts are used up is taken off the queue.
    pub async fn resume(&self) {
        let queued = match self.inner.derived.queued_deliveries().await {
            Ok(queued) => queued,
            Err(error) => {
                tracing::error!(%error, "queued webhook deliveries not read");
                return;
            }
        };
        if !queued.is_empty() {
            tracing::info!(deliveries = queued.len(), "resuming webhook deliveries");
        }
        for delivery in queued {
            let Some(url) = parse(&delivery.url) else {
                self.inner.finish(Some(delivery.id)).await;
                continue;
            };
            let shown = masked(&url);
            let made = match self.inner.derived.deliveries(Some(delivery.alert_id)).await {
                Ok(log) => log.iter().filter(|d| d.url == shown && d.attempt > 0).count(),
                Err(error) => {
                    tracing::error!(%error, alert = delivery.alert_id, "delivery log not read");
                    continue;
                }
            };
            let made = u16::try_from(made).unwrap_or(u16::MAX);
            if made >= self.inner.options.attempts.max(1) {
                self.inner.finish(Some(delivery.id)).await;
                continue;
            }
            let job = Job {
                alert_id: delivery.alert_id,
                payload: Arc::from(delivery.payload.as_str()),
                queue_id: Some(delivery.id),
                first: made + 1,
            };
            self.enqueue(url, job);
        }
    }

    fn enqueue(&self, url: Url, job: Job) {
        let mut lanes = self.inner.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        let job = match lanes.get(url.as_str()) {
            Some(lane) => match lane.try_send(job) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(job)) => return self.dropped(&url, job),
                Err(mpsc::error::TrySendError::Closed(job)) => job,
            },
            None => job,
        };
        lanes.retain(|_, lane| !lane.is_closed());
        let (sender, receiver) = mpsc::channel(self.inner.options.queue.max(1));
        // A new, empty queue always has room for its first job.
        let _ = sender.try_send(job);
        lanes.insert(url.as_str().to_owned(), sender);
        tokio::spawn(lane(self.inner.clone(), url, receiver));
    }

    /// Logs a delivery dropped because its lane was full, without waiting for the log.
    fn dropped(&self, url: &Url, job: Job) {
        self.inner.stats.dropped.fetch_add(1, Ordering::Relaxed);
        let shown = masked(url);
        tracing::warn!(url = %shown, alert = job.alert_id, "webhook queue full, alert dropped");
        let queue = self.inner.options.queue;
        let error = format!("dropped: the queue for this webhook was full ({queue} waiting)");
        let delivery = NewDelivery {
            alert_id: job.alert_id,
            url: shown,
            attempt: 0,
            status: None,
            error: Some(error),
            delivered: false,
            at: crate::now(),
        };
        let inner = self.inner.clone();
        tokio::spawn(async move {
            inner.log(&delivery).await;
            inner.finish(job.queue_id).await;
        });
    }
}

impl fmt::Debug for WebhookOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let urls: Vec<String> = self.urls.iter().map(|url| mask_text(url)).collect();
        f.debug_struct("WebhookOptions")
            .field("urls", &urls)
            .field("attempts", &self.attempts)
            .field("timeout", &self.timeout)
            .field("backoff", &self.backoff)
            .field("max_backoff", &self.max_backoff)
            .field("queue", &self.queue)
            .finish()
    }
}

impl fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let urls: Vec<String> = self.inner.global.iter().map(masked).collect();
        f.debug_struct("Webhooks")
            .field("urls", &urls)
            .field("attempts", &self.inner.options.attempts)
            .field("timeout", &self.inner.options.timeout)
            .finish_non_exhaustive()
    }
}

/// One URL's task: delivers its alerts in order, and ends once idle for [`LANE_IDLE`] (after
/// delivering what was queued meanwhile).
async fn lane(inner: Arc<Inner>, url: Url, mut jobs: mpsc::Receiver<Job>) {
    let shown = masked(&url);
    loop {
        match tokio::time::timeout(LANE_IDLE, jobs.recv()).await {
            Ok(Some(job)) => inner.deliver(&url, &shown, &job).await,
            Ok(None) => return,
            Err(_) => {
                jobs.close();
                while let Ok(job) = jobs.try_recv() {
                    inner.deliver(&url, &shown, &job).await;
                }
                return;
            }
        }
    }
}

impl Inner {
    /// POSTs one alert to one URL until it is accepted, an answer is not worth retrying, or
    /// the attempts run out; logs every attempt.
    async fn deliver(&self, url: &Url, shown: &str, job: &Job) {
        self.post_until_done(url, shown, job).await;
        self.finish(job.queue_id).await;
    }

    async fn post_until_done(&self, url: &Url, shown: &str, job: &Job) {
        let attempts = self.options.attempts.max(1);
        // A resumed delivery waits as its last attempt would have, so that a crash loop does
        // not use up the attempts at once.
        if job.first > 1 {
            tokio::time::sleep(pause(&self.options, job.first - 1, None)).await;
        }
        for number in job.first..=attempts {
            let attempt = post(
                &self.client,
                url,
                (ALERT_HEADER, job.alert_id),
                &job.payload,
                self.options.timeout,
            )
            .await;
            self.stats.attempts.fetch_add(1, Ordering::Relaxed);
            self.log_attempt(shown, job.alert_id, number, &attempt).await;
            let alert = job.alert_id;
            if attempt.delivered() {
                self.stats.deliveries.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(url = %shown, alert, attempt = number, "webhook delivered");
                return;
            }
            if number == attempts || !attempt.worth_retrying() {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                let error = attempt.error.as_deref().unwrap_or_default();
                tracing::warn!(url = %shown, alert, attempts = number, %error, "webhook given up");
                return;
            }
            tokio::time::sleep(pause(&self.options, number, attempt.retry_after)).await;
        }
    }

    async fn log_attempt(&self, shown: &str, alert_id: i64, number: u16, attempt: &Attempt) {
        let delivery = NewDelivery {
            alert_id,
            url: shown.to_owned(),
            attempt: number,
            status: attempt.status.map(|status| status.as_u16()),
            error: attempt.error.clone(),
            delivered: attempt.delivered(),
            at: crate::now(),
        };
        self.log(&delivery).await;
    }

    async fn log(&self, delivery: &NewDelivery) {
        let _turn = self.log_gate.lock().await;
        if let Err(error) = self.derived.record_delivery(delivery).await {
            let (url, alert) = (&delivery.url, delivery.alert_id);
            tracing::error!(%url, alert, %error, "webhook delivery not logged");
        }
    }

    /// Takes an ended delivery off the stored queue.
    async fn finish(&self, queue_id: Option<i64>) {
        let Some(id) = queue_id else { return };
        let _turn = self.log_gate.lock().await;
        if let Err(error) = self.derived.finish_delivery(id).await {
            tracing::error!(queued = id, %error, "ended webhook delivery not taken off the queue");
        }
    }

    fn finish_later(self: &Arc<Self>, queue_id: Option<i64>) {
        let inner = self.clone();
        tokio::spawn(async move { inner.finish(queue_id).await });
    }
}

/// Parses webhook URLs (an error names the first unusable one, password masked) and builds
/// the client that POSTs to them: redirects not followed, every request within `timeout`.
pub(crate) fn parse_urls(
    urls: &[String],
    timeout: Duration,
) -> Result<(Vec<Url>, reqwest::Client), WebhookError> {
    let parsed = urls
        .iter()
        .map(|text| parse(text).ok_or_else(|| WebhookError::Url { url: mask_text(text) }))
        .collect::<Result<Vec<_>, _>>()?;
    let client = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(WebhookError::Client)?;
    Ok((parsed, client))
}

/// An http(s) URL with a host, or `None`.
pub(crate) fn parse(text: &str) -> Option<Url> {
    Url::parse(text.trim())
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

/// The URL as logs and the delivery log show it: any password replaced by `***`.
pub(crate) fn masked(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// Text that should be a URL, masked even when it is no URL with a host: everything before the
/// last `@` is hidden then.
pub fn mask_text(text: &str) -> String {
    let url = Url::parse(text.trim()).ok().filter(|url| url.host().is_some());
    match (url, text.rfind('@')) {
        (Some(url), _) if url.password().is_some() => masked(&url),
        (Some(_), _) => text.to_owned(),
        (None, Some(at)) => format!("***{}", &text[at..]),
        (None, None) => text.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_also_in_text_that_is_no_url() {
        let url = Url::parse("https://jane:s3cret@hooks.example/alert?x=1").unwrap();
        assert_eq!(masked(&url), "https://jane:***@hooks.example/alert?x=1");
        assert_eq!(mask_text("https://token@hooks.example/"), "https://token@hooks.example/");
        assert_eq!(mask_text("jane:s3cret@hooks example"), "***@hooks example");
        assert_eq!(mask_text("ftp:/x"), "ftp:/x");
    }

    #[test]
    fn only_http_and_https_urls_with_a_host_are_used() {
        let texts = ["http://a/hook", " https://b ", "ftp://c", "http://", "mailto:x@y", "hooks"];
        let parsed: Vec<Option<String>> =
            texts.iter().map(|text| parse(text).map(|url| url.to_string())).collect();
        assert_eq!(
            parsed,
            [Some("http://a/hook".into()), Some("https://b/".into()), None, None, None, None]
        );
    }
}
