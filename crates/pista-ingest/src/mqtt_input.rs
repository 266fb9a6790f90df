//! An external MQTT broker as an input. Pista subscribes at QoS 1 with a persistent session and
//! a stable client id, so messages published while it is down wait in the broker. Each message
//! is acknowledged only after the pipeline committed it, and acknowledgements go out in arrival
//! order. When a commit fails, nothing later on that connection is acknowledged: the connection
//! is dropped and re-opened so that the broker delivers the unacknowledged messages again.
//! Reconnects back off exponentially and are logged.

use std::sync::Arc;
use std::time::Duration;

use pista_core::{Inbound, Replay, Source, topic_matches};
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS,
    SubscribeFilter, SubscribeReasonCode, TlsConfiguration, Transport,
};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::pipeline::{Pipeline, Ticket};

/// A broker address from `mqtt://[user[:password]@]host[:port]` or `mqtts://...`.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Why a broker URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("{url:?} is not a URL: {reason}")]
    Syntax { url: String, reason: String },
    #[error("{url:?} has scheme {scheme:?}; allowed: mqtt, mqtts")]
    Scheme { url: String, scheme: String },
    #[error("{url:?} has no host")]
    NoHost { url: String },
    #[error("{url:?} has port 0")]
    PortZero { url: String },
    #[error("{url:?} has a {part}, which a broker address cannot have")]
    Extra { url: String, part: &'static str },
}

impl BrokerUrl {
    /// Client options for this broker: its address, the credentials and, for `mqtts`, TLS
    /// trusting `ca_pem`. Callers add session and keepalive settings.
    pub fn client_options(&self, client_id: &str, ca_pem: Option<&[u8]>) -> MqttOptions {
        let mut options = MqttOptions::new(client_id, self.host.clone(), self.port);
        if let Some(user) = &self.username {
            options.set_credentials(user.clone(), self.password.clone().unwrap_or_default());
        }
        if self.tls {
            let ca = ca_pem.map(<[u8]>::to_vec).unwrap_or_default();
            let tls = TlsConfiguration::Simple { ca, alpn: None, client_auth: None };
            options.set_transport(Transport::Tls(tls));
        }
        options
    }

    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let url = url::Url::parse(text)
            .map_err(|e| UrlError::Syntax { url: text.to_owned(), reason: e.to_string() })?;
        let tls = match url.scheme() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" => true,
            other => {
                return Err(UrlError::Scheme { url: text.to_owned(), scheme: other.to_owned() });
            }
        };

        let host = url.host_str().filter(|h| !h.is_empty());
        let host = host.ok_or_else(|| UrlError::NoHost { url: text.to_owned() })?;
        let extra = |part| UrlError::Extra { url: text.to_owned(), part };
        if !matches!(url.path(), "" | "/") {
            return Err(extra("path"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(extra(if url.query().is_some() { "query" } else { "fragment" }));
        }
        if url.port() == Some(0) {
            return Err(UrlError::PortZero { url: text.to_owned() });
        }
        let decode = |s: &str| {
            Some(percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        };
        let username = Some(url.username()).filter(|u| !u.is_empty()).and_then(decode);

        Ok(Self {
            tls,
            host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
            port: url.port().unwrap_or(if tls { 8883 } else { 1883 }),
            username,
            password: url.password().and_then(decode),
        })
    }

    /// The URL with the password replaced by `***`, for logs and `pista config`.
    pub fn masked(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        let auth = match (&self.username, &self.password) {
            (Some(user), Some(_)) => format!("{user}:***@"),
            (Some(user), None) => format!("{user}@"),
            _ => String::new(),
        };
        format!("{scheme}://{auth}{}:{}", self.host, self.port)
    }
}

/// How to subscribe to an external broker.
#[derive(Debug, Clone)]
pub struct SubscriberConfig {
    pub url: BrokerUrl,
    /// PEM CA certificates for `mqtts`.
    pub ca_pem: Option<Vec<u8>>,
    pub client_id: String,
    /// Subscription filters, e.g. `owntracks/#`.
    pub topics: Vec<String>,
    pub keep_alive: Duration,
    pub max_packet_size: usize,
}

/// The largest packet MQTT can carry (256 MiB).
const MAX_MQTT_PACKET: usize = 268_435_455;

/// A message handed to the pipeline, waiting for its commit before it can be acknowledged.
struct Pending {
    publish: Publish,
    /// Which connection it arrived on; acknowledgements never cross connections.
    epoch: u64,
    /// The commit to wait for; `None` for a message outside the base topics, acknowledged
    /// without being stored (a filter left in the broker's persistent session by an earlier
    /// configuration).
    ticket: Option<Ticket>,
}

/// How long a stopping subscriber keeps sending acknowledgements for committed messages.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Subscribes and feeds the pipeline until `shutdown` becomes true.
pub async fn run_subscriber(
    config: SubscriberConfig,
    pipeline: Pipeline,
    mut shutdown: watch::Receiver<bool>,
) {
    let (client, mut events) = AsyncClient::new(mqtt_options(&config), 4096);
    // Unbounded on purpose: the event loop must never wait on the acknowledger, which itself
    // needs the event loop to send its acknowledgements. The broker's in-flight window bounds
    // how much can wait here.
    let (pending_tx, pending_rx) = mpsc::unbounded_channel::<Pending>();
    let reconnect = Arc::new(Notify::new());
    let acker = tokio::spawn(acknowledge_in_order(client.clone(), pending_rx, reconnect.clone()));
    let mut session =
        Session { epoch: 0, backoff: Backoff::default(), broker: config.url.masked() };

    loop {
        let event = tokio::select! {
            _ = shutdown.changed() => break,
            () = reconnect.notified() => {
                // A commit failed: drop the connection so the broker redelivers what we hold.
                events.clean();
                session.epoch += 1;
                let delay = session.backoff.next();
                tracing::warn!(
                    broker = %session.broker,
                    retry_in = ?delay,
                    "storage failed; reconnecting so the broker redelivers unacknowledged messages"
                );
                if sleep_or_shutdown(delay, &mut shutdown).await { break; }
                continue;
            }
            event = events.poll() => event,
        };

        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                session.connected(&config, ack.session_present);
                let filters =
                    config.topics.iter().map(|t| SubscribeFilter::new(t.clone(), QoS::AtLeastOnce));
                if let Err(error) = client.try_subscribe_many(filters) {
                    tracing::error!(%error, "cannot queue the subscription");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                log_suback(&session.broker, &config.topics, &ack.return_codes)
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let wanted = config.topics.iter().any(|f| topic_matches(f, &publish.topic));
                let ticket = match wanted {
                    true => Some(pipeline.submit(inbound(&publish)).await),
                    false => {
                        tracing::debug!(topic = ?publish.topic, "outside the base topics; not stored");
                        None
                    }
                };
                if pending_tx.send(Pending { publish, epoch: session.epoch, ticket }).is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(error) => {
                let delay = session.backoff.next();
                log_connection_error(&session.broker, &error, delay);
                if sleep_or_shutdown(delay, &mut shutdown).await {
                    break;
                }
            }
        }
    }

    drop(pending_tx);
    drain(&mut events, acker, &client).await;
    tracing::info!(broker = %session.broker, "mqtt subscriber stopped");
}

/// The state of the connection loop.
struct Session {
    /// Counts connections; acknowledgements are only sent on the one a message came from.
    epoch: u64,
    backoff: Backoff,
    /// The broker URL for logs, password masked.
    broker: String,
}

impl Session {
    fn connected(&mut self, config: &SubscriberConfig, session_present: bool) {
        self.epoch += 1;
        self.backoff.reset();
        tracing::info!(
            broker = %self.broker,
            client_id = %config.client_id,
            session_present,
            "connected to mqtt broker"
        );
    }
}

/// Keeps the event loop running while the acknowledger sends what it can for messages already
/// committed (bounded by [`DRAIN_TIME`]), then disconnects. Anything not acknowledged by then is
/// redelivered by the broker after the next start and recognised as a copy.
async fn drain(events: &mut EventLoop, mut acker: JoinHandle<()>, client: &AsyncClient) {
    let deadline = tokio::time::sleep(DRAIN_TIME);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut acker => break,
            () = &mut deadline => {
                acker.abort();
                break;
            }
            event = events.poll() => {
                if event.is_err() {
                    acker.abort();
                    break;
                }
            }
        }
    }

    if client.try_disconnect().is_ok() {
        let flushed = async {
            while let Ok(event) = events.poll().await {
                if matches!(event, Event::Outgoing(Outgoing::Disconnect)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(500), flushed).await;
    }
}

fn inbound(publish: &Publish) -> Inbound {
    Inbound {
        source: Source::Mqtt,
        topic: publish.topic.clone(),
        identity: None,
        payload: publish.payload.clone(),
        retained: publish.retain,
        // Delivered to an established subscription, a message has retain unset; a set flag means
        // the broker's stored copy, sent again on every (re)subscription.
        replay: match (publish.dup, publish.retain) {
            (true, _) => Replay::Redelivered,
            (false, true) => Replay::Retained,
            (false, false) => Replay::Fresh,
        },
        received_at: crate::now(),
    }
}

/// Waits for each message's commit in arrival order and acknowledges it. After a failure it
/// acknowledges nothing more from that connection and asks for a reconnect.
async fn acknowledge_in_order(
    client: AsyncClient,
    mut pending: mpsc::UnboundedReceiver<Pending>,
    reconnect: Arc<Notify>,
) {
    let mut failed_epoch = None;
    while let Some(Pending { publish, epoch, ticket }) = pending.recv().await {
        let result = match ticket {
            Some(ticket) => ticket.wait().await.map(|_| ()),
            None => Ok(()),
        };
        if failed_epoch == Some(epoch) {
            continue;
        }

        match result {
            Ok(_) => {
                if let Err(error) = client.ack(&publish).await {
                    tracing::warn!(topic = ?publish.topic, %error, "cannot send acknowledgement");
                }
            }
            Err(error) => {
                tracing::warn!(
                    topic = ?publish.topic,
                    %error,
                    "message not committed, not acknowledged"
                );
                failed_epoch = Some(epoch);
                reconnect.notify_one();
            }
        }
    }
}

fn mqtt_options(config: &SubscriberConfig) -> MqttOptions {
    let mut options = config.url.client_options(&config.client_id, config.ca_pem.as_deref());
    options
        .set_keep_alive(config.keep_alive)
        .set_clean_session(false)
        .set_manual_acks(true)
        // Take whatever the broker delivers: refusing a large message would make the broker
        // redeliver it forever and block everything behind it.
        .set_max_packet_size(MAX_MQTT_PACKET, config.max_packet_size);
    options
}

fn log_suback(broker: &str, topics: &[String], codes: &[SubscribeReasonCode]) {
    for (topic, code) in topics.iter().zip(codes) {
        match code {
            SubscribeReasonCode::Success(qos) => {
                tracing::info!(%broker, %topic, ?qos, "subscribed")
            }
            SubscribeReasonCode::Failure => {
                tracing::error!(
                    %broker,
                    %topic,
                    "broker refused the subscription; check its ACL for this user"
                )
            }
        }
    }
}

fn log_connection_error(broker: &str, error: &ConnectionError, delay: Duration) {
    tracing::warn!(%broker, %error, retry_in = ?delay, "mqtt connection failed");
}

/// Sleeps unless shutdown comes first; returns true on shutdown.
async fn sleep_or_shutdown(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = shutdown.changed() => true,
        () = tokio::time::sleep(delay) => false,
    }
}

/// Exponential reconnect delay: 0.5 s doubling to 30 s.
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: Backoff::MIN }
    }
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(30);

    fn next(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        delay
    }

    fn reset(&mut self) {
        self.next = Self::MIN;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults_and_mask_passwords() {
        let url = BrokerUrl::parse("mqtt://jane:s%40c+ret@broker.example:1884").unwrap();
        assert_eq!((url.host.as_str(), url.port, url.tls), ("broker.example", 1884, false));
        assert_eq!(
            (url.username.as_deref(), url.password.as_deref()),
            (Some("jane"), Some("s@c+ret"))
        );
        assert_eq!(url.masked(), "mqtt://jane:***@broker.example:1884");
        let tls = BrokerUrl::parse("mqtts://10.0.0.1").unwrap();
        assert_eq!(
            (tls.port, tls.tls, tls.masked().as_str()),
            (8883, true, "mqtts://10.0.0.1:8883")
        );
        assert_eq!(
            BrokerUrl::parse("http://x").unwrap_err().to_string(),
            "\"http://x\" has scheme \"http\"; allowed: mqtt, mqtts"
        );
        assert!(matches!(
            BrokerUrl::parse("127.0.0.1:1883"),
            Err(UrlError::Scheme { .. } | UrlError::Syntax { .. })
        ));
        let refused = [
            ("mqtt://h:0", "\"mqtt://h:0\" has port 0"),
            ("mqtt://h/x", "\"mqtt://h/x\" has a path, which a broker address cannot have"),
            ("mqtt://h?a=b", "\"mqtt://h?a=b\" has a query, which a broker address cannot have"),
        ];
        for (text, want) in refused {
            assert_eq!(BrokerUrl::parse(text).unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..9).map(|_| backoff.next().as_millis() as u64).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(500));
    }
}
