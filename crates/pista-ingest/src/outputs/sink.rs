//! Where derived outputs go: MQTT (the external broker, or the embedded one through a loopback
//! client) and the in-process live stream that the web server turns into server-sent events.
//! Publishing never waits: when the broker is away and the client's queue is full, the output
//! is dropped and counted, because outputs must never hold up ingest. Retained objects are
//! published again at every start, so the broker catches up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pista_core::{DeviceKey, UserName};
use rumqttc::{AsyncClient, Event, Packet, QoS};
use tokio::sync::{broadcast, watch};

use crate::mqtt_input::BrokerUrl;

/// One MQTT message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    pub topic: String,
    pub payload: Bytes,
    pub retain: bool,
}

impl Publication {
    pub fn new(topic: String, payload: impl Into<Bytes>, retain: bool) -> Self {
        Self { topic, payload: payload.into(), retain }
    }
}

/// What an output is, for live listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveKind {
    /// A `_look` line.
    Look,
    /// A device object (`_map`).
    Map,
    /// A geofence alert.
    Alert,
    /// An Activo job object (`_job`).
    Job,
    /// A fence created, replaced or deleted: `{"change": "created", "id": 7}` (no MQTT
    /// publication of its own; the retained fence objects are that).
    Fence,
}

impl LiveKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Look => "look",
            Self::Map => "map",
            Self::Alert => "alert",
            Self::Job => "job",
            Self::Fence => "fence",
        }
    }
}

/// An output as live listeners see it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEvent {
    pub kind: LiveKind,
    /// The device it is about (for a fence event: the device whose region it is).
    pub device: Option<DeviceKey>,
    /// For a fence event of a fence made on the server: the user whose devices it applies to
    /// (`None` with no `device`: everyone's). Always `None` for other kinds.
    pub user: Option<UserName>,
    /// The MQTT topic it has (or would have, when MQTT outputs are off).
    pub topic: String,
    pub text: String,
}

/// An MQTT client that publishes outputs without ever blocking its caller.
pub struct MqttSink {
    client: AsyncClient,
    /// The largest packet the broker takes; a larger output is dropped on its own (a broker
    /// disconnects a client that sends one, which would lose the outputs queued behind it).
    max_packet: usize,
    /// Outputs dropped because the client's queue was full or they were too large.
    dropped: AtomicU64,
    /// When a full queue was last reported: a burst drops thousands, and one line per drop
    /// would bury the log.
    full_reported: Throttle,
}

/// Says at most once per [`Throttle::EVERY`] that it is time to report, and how many times it
/// was asked since the last report.
#[derive(Debug)]
struct Throttle {
    started: Instant,
    /// Milliseconds after `started` of the last report, plus one (0: never reported).
    reported_at: AtomicU64,
    /// Asks since the last report.
    quiet: AtomicU64,
}

impl Throttle {
    const EVERY: Duration = Duration::from_secs(10);

    fn new() -> Self {
        Self { started: Instant::now(), reported_at: AtomicU64::new(0), quiet: AtomicU64::new(0) }
    }

    /// `Some(asks since the last report, this one included)` when a report is due now.
    fn due(&self) -> Option<u64> {
        self.due_at(self.started.elapsed())
    }

    fn due_at(&self, elapsed: Duration) -> Option<u64> {
        let asked = self.quiet.fetch_add(1, Ordering::Relaxed) + 1;
        let now = elapsed.as_millis() as u64 + 1;
        let last = self.reported_at.load(Ordering::Relaxed);
        let every = Self::EVERY.as_millis() as u64;
        if last != 0 && now < last + every {
            return None;
        }
        // One of several callers at the same moment wins the report.
        self.reported_at.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).ok()?;
        self.quiet.fetch_sub(asked, Ordering::Relaxed);
        Some(asked)
    }
}

/// Bytes an MQTT publish adds to its topic and payload, at most (fixed header, topic length,
/// packet id).
const PUBLISH_OVERHEAD: usize = 16;

impl MqttSink {
    /// Connects (and keeps reconnecting) to `url` until `stop` turns true. `max_packet` is the
    /// largest packet the broker accepts.
    pub fn start(
        url: &BrokerUrl,
        ca_pem: Option<Vec<u8>>,
        client_id: String,
        max_packet: usize,
        stop: watch::Receiver<bool>,
    ) -> Arc<Self> {
        let mut options = url.client_options(&client_id, ca_pem.as_deref());
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_max_packet_size(max_packet, max_packet);
        let (client, events) = AsyncClient::new(options, 4096);
        tokio::spawn(drive(events, url.masked(), stop));
        Arc::new(Self {
            client,
            max_packet,
            dropped: AtomicU64::new(0),
            full_reported: Throttle::new(),
        })
    }

    /// Queues `publication`: QoS 1 for retained objects (they must arrive), QoS 0 for lines.
    pub fn publish(&self, publication: &Publication) {
        let size = publication.topic.len() + publication.payload.len() + PUBLISH_OVERHEAD;
        if size > self.max_packet {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            let limit = self.max_packet;
            tracing::warn!(topic = %publication.topic, size, limit, dropped,
                "mqtt output dropped: larger than the broker takes");
            return;
        }
        let qos = if publication.retain { QoS::AtLeastOnce } else { QoS::AtMostOnce };
        let queued = self.client.try_publish(
            publication.topic.clone(),
            qos,
            publication.retain,
            publication.payload.clone(),
        );
        if let Err(error) = queued {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            match self.full_reported.due() {
                Some(since) => tracing::warn!(topic = %publication.topic, %error, dropped, since,
                    "mqtt outputs dropped: the broker is not taking them as fast as they come \
                     (`since`: dropped since the last such line, at most one every 10 s)"),
                None => tracing::debug!(topic = %publication.topic, dropped, "mqtt output dropped"),
            }
        }
    }

    /// Outputs dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Runs the client's event loop, reconnecting after a pause, until `stop`.
async fn drive(mut events: rumqttc::EventLoop, broker: String, mut stop: watch::Receiver<bool>) {
    loop {
        let stopped = async {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        let event = tokio::select! {
            () = stopped => break,
            event = events.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                tracing::info!(%broker, "output publisher connected");
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%broker, %error, "output publisher disconnected; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// The outputs' destinations.
#[derive(Clone)]
pub struct Sinks {
    pub mqtt: Option<Arc<MqttSink>>,
    pub live: broadcast::Sender<Arc<LiveEvent>>,
    /// Turns true when the server stops, so live listeners are let go.
    pub stop: Option<watch::Receiver<bool>>,
}

impl Sinks {
    /// Sinks with only the live stream (no MQTT).
    pub fn live_only() -> Self {
        Self { mqtt: None, live: broadcast::channel(4096).0, stop: None }
    }

    pub(crate) fn send(
        &self,
        kind: LiveKind,
        device: Option<&DeviceKey>,
        publication: Publication,
    ) {
        if self.live.receiver_count() > 0 {
            let event = LiveEvent {
                kind,
                device: device.cloned(),
                user: None,
                topic: publication.topic.clone(),
                text: String::from_utf8_lossy(&publication.payload).into_owned(),
            };
            let _ = self.live.send(Arc::new(event));
        }
        if let Some(mqtt) = &self.mqtt {
            mqtt.publish(&publication);
        }
    }

    /// Sends a live event that has no MQTT publication of its own (a fence change).
    pub(crate) fn live_event(&self, event: LiveEvent) {
        if self.live.receiver_count() > 0 {
            let _ = self.live.send(Arc::new(event));
        }
    }

    /// Publishes on MQTT only (fence objects and removals are not live events).
    pub(crate) fn mqtt_only(&self, publication: Publication) {
        if let Some(mqtt) = &self.mqtt {
            mqtt.publish(&publication);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Throttle;

    #[test]
    fn a_throttle_reports_the_first_time_then_once_per_window_with_the_count() {
        let throttle = Throttle::new();
        let at = Duration::from_millis;
        assert_eq!(throttle.due_at(at(0)), Some(1));
        assert_eq!(throttle.due_at(at(5)), None);
        assert_eq!(throttle.due_at(at(9_999)), None);
        // Three asks since the first report: two held back, this one.
        assert_eq!(throttle.due_at(at(10_000)), Some(3));
        assert_eq!(throttle.due_at(at(10_001)), None);
        assert_eq!(throttle.due_at(at(25_000)), Some(2));
    }
}
