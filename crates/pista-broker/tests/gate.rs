//! The embedded broker through real sockets: the gate runs before the acknowledgement, a refusal
//! closes the connection without one, a withheld publish is acknowledged but reaches nobody,
//! retained messages reach later subscribers, and a taken port is reported as such.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pista_broker::{Admission, BrokerConfig, EmbeddedBroker, InboundPublish, PublishGate, Refusal};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(String, Vec<u8>, bool)>>,
}

#[async_trait]
impl PublishGate for Recorder {
    async fn admit(&self, publish: InboundPublish) -> Result<Admission, Refusal> {
        if publish.topic.ends_with("/refuse") {
            return Err(Refusal { reason: "storage unavailable".to_owned() });
        }
        let withhold = publish.topic.ends_with("/withhold");
        self.seen.lock().unwrap().push((publish.topic, publish.payload.to_vec(), publish.retained));
        if withhold {
            return Ok(Admission::Withhold { reason: "kept in quarantine as no_key".to_owned() });
        }
        Ok(Admission::Forward)
    }
}

async fn start() -> (EmbeddedBroker, Arc<Recorder>) {
    let gate = Arc::new(Recorder::default());
    let config = BrokerConfig { listen: "127.0.0.1:0".parse().unwrap(), max_packet_size: 1 << 20 };
    (EmbeddedBroker::start(config, gate.clone()).await.unwrap(), gate)
}

fn connect(broker: &EmbeddedBroker, id: &str) -> (AsyncClient, EventLoop) {
    let options = MqttOptions::new(id, "127.0.0.1", broker.local_addr().port());
    AsyncClient::new(options, 10)
}

/// Polls until `want` returns a value or the deadline passes.
async fn until<T>(
    events: &mut EventLoop,
    mut want: impl FnMut(&Result<Event, rumqttc::ConnectionError>) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let event =
            tokio::time::timeout_at(deadline, events.poll()).await.expect("deadline passed");
        if let Some(value) = want(&event) {
            return value;
        }
        if event.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn admitted_publishes_are_acknowledged_after_the_gate() {
    let (broker, gate) = start().await;
    let (client, mut events) = connect(&broker, "pub1");
    client.publish("owntracks/jane/phone", QoS::AtLeastOnce, true, "hello").await.unwrap();
    until(&mut events, |e| matches!(e, Ok(Event::Incoming(Packet::PubAck(_)))).then_some(())).await;
    assert_eq!(
        *gate.seen.lock().unwrap(),
        [("owntracks/jane/phone".to_owned(), b"hello".to_vec(), true)]
    );

    // The retained message reaches a subscriber that comes later.
    let (sub, mut sub_events) = connect(&broker, "sub1");
    sub.subscribe("owntracks/#", QoS::AtLeastOnce).await.unwrap();
    let got = until(&mut sub_events, |e| match e {
        Ok(Event::Incoming(Packet::Publish(p))) => {
            Some((p.topic.clone(), p.payload.to_vec(), p.retain))
        }
        _ => None,
    })
    .await;
    assert_eq!(got, ("owntracks/jane/phone".to_owned(), b"hello".to_vec(), true));
    broker.shutdown().await;
}

#[tokio::test]
async fn a_refused_publish_gets_no_acknowledgement_and_the_connection_closes() {
    let (broker, gate) = start().await;
    let (client, mut events) = connect(&broker, "pub2");
    client.publish("owntracks/jane/refuse", QoS::AtLeastOnce, false, "x").await.unwrap();
    let acked = until(&mut events, |e| match e {
        Ok(Event::Incoming(Packet::PubAck(_))) => Some(true),
        Err(_) => Some(false),
        _ => None,
    })
    .await;
    assert!(!acked, "a refused publish must not be acknowledged");
    assert!(gate.seen.lock().unwrap().is_empty());
    broker.shutdown().await;
}

#[tokio::test]
async fn a_withheld_publish_is_acknowledged_but_reaches_no_subscriber_and_is_not_retained() {
    let (broker, gate) = start().await;
    let (sub, mut sub_events) = connect(&broker, "sub3");
    sub.subscribe("owntracks/#", QoS::AtLeastOnce).await.unwrap();
    until(&mut sub_events, |e| matches!(e, Ok(Event::Incoming(Packet::SubAck(_)))).then_some(()))
        .await;

    let (client, mut events) = connect(&broker, "pub3");
    client.publish("owntracks/jane/withhold", QoS::AtLeastOnce, true, "sealed").await.unwrap();
    client.publish("owntracks/jane/phone", QoS::AtLeastOnce, false, "plain").await.unwrap();
    let mut acks = 0;
    until(&mut events, |e| {
        if matches!(e, Ok(Event::Incoming(Packet::PubAck(_)))) {
            acks += 1;
        }
        (acks == 2).then_some(())
    })
    .await;
    assert_eq!(gate.seen.lock().unwrap().len(), 2);
    // Only the plain message arrives; the withheld one came first, so it would have too.
    let got = until(&mut sub_events, |e| match e {
        Ok(Event::Incoming(Packet::Publish(p))) => Some(p.topic.clone()),
        _ => None,
    })
    .await;
    assert_eq!(got, "owntracks/jane/phone");

    // Nor was it retained for later subscribers.
    let (late, mut late_events) = connect(&broker, "sub4");
    late.subscribe("owntracks/jane/withhold", QoS::AtLeastOnce).await.unwrap();
    until(&mut late_events, |e| matches!(e, Ok(Event::Incoming(Packet::SubAck(_)))).then_some(()))
        .await;
    let next = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            if let Ok(Event::Incoming(Packet::Publish(p))) = late_events.poll().await {
                return p.topic;
            }
        }
    })
    .await;
    assert!(next.is_err(), "withheld message was retained: {next:?}");
    broker.shutdown().await;
}

#[tokio::test]
async fn a_taken_address_is_reported_as_in_use() {
    let (broker, _gate) = start().await;
    let config = BrokerConfig { listen: broker.local_addr(), max_packet_size: 1 << 20 };
    let error = EmbeddedBroker::start(config, Arc::new(Recorder::default())).await.err().unwrap();
    assert!(error.is_addr_in_use(), "{error}");
    assert_eq!(error.to_string(), format!("cannot listen on {}", broker.local_addr()));
    let cause = std::error::Error::source(&error).map(ToString::to_string);
    assert_eq!(cause.as_deref(), Some("Address already in use (os error 98)"));
    broker.shutdown().await;
}

#[tokio::test]
async fn a_last_will_goes_through_the_gate() {
    let (broker, gate) = start().await;
    let mut options = MqttOptions::new("phone-with-will", "127.0.0.1", broker.local_addr().port());
    let will = rumqttc::LastWill::new(
        "owntracks/jane/phone",
        r#"{"_type":"lwt"}"#,
        QoS::AtLeastOnce,
        false,
    );
    options.set_last_will(will);
    let (client, mut events) = AsyncClient::new(options, 10);
    until(&mut events, |e| matches!(e, Ok(Event::Incoming(Packet::ConnAck(_)))).then_some(()))
        .await;
    // Vanish without DISCONNECT, as a phone losing its network does.
    drop(events);
    drop(client);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if !gate.seen.lock().unwrap().is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the will never reached the gate");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = gate.seen.lock().unwrap().clone();
    assert_eq!(seen, [("owntracks/jane/phone".to_owned(), br#"{"_type":"lwt"}"#.to_vec(), false)]);
    broker.shutdown().await;
}
