//! The embedded broker through real sockets: the gate runs before the acknowledgement, a refusal
//! closes the connection without one, a withheld publish is acknowledged but reaches nobody,
//! retained messages reach later subscribers, and a taken port is reported as such. With a
//! gatekeeper: anonymous and wrong credentials are refused at CONNECT, a publish outside the
//! client's topics is acknowledged but neither stored nor passed on, a refused subscription is
//! answered as such, and a message (retained too) reaches only receivers allowed to read it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pista_broker::{
    Admission, BrokerConfig, Client, EmbeddedBroker, Gatekeeper, InboundPublish, PublishGate,
    Refusal,
};
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
    let config = BrokerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        max_packet_size: 1 << 20,
        anonymous: true,
        tls: None,
        ws: None,
        wss: None,
    };
    (EmbeddedBroker::start(config, gate.clone(), None).await.unwrap(), gate)
}

/// Users `a` and `b` (password: the name twice), each publishing under `<name>/`; `b` may
/// subscribe to anything but receives only `b/...`; nobody may subscribe to `secret/#`.
struct TwoUsers;

#[async_trait]
impl Gatekeeper for TwoUsers {
    async fn connect(
        &self,
        client: Client<'_>,
        password: Option<&[u8]>,
        _from: Option<std::net::SocketAddr>,
    ) -> bool {
        match (client.username, password) {
            (Some(user @ ("a" | "b")), Some(password)) => password == user.repeat(2).as_bytes(),
            _ => false,
        }
    }

    fn may_publish(&self, client: Client<'_>, topic: &str) -> bool {
        client.username.is_some_and(|user| topic.starts_with(&format!("{user}/")))
    }

    fn may_subscribe(&self, _client: Client<'_>, filter: &str) -> bool {
        !filter.starts_with("secret/")
    }

    fn may_receive(&self, client: Client<'_>, topic: &str) -> bool {
        client.username.is_some_and(|user| topic.starts_with(&format!("{user}/")))
    }
}

async fn start_guarded() -> (EmbeddedBroker, Arc<Recorder>) {
    let gate = Arc::new(Recorder::default());
    let config = BrokerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        max_packet_size: 1 << 20,
        anonymous: false,
        tls: None,
        ws: None,
        wss: None,
    };
    let broker = EmbeddedBroker::start(config, gate.clone(), Some(Arc::new(TwoUsers)));
    (broker.await.unwrap(), gate)
}

fn login(
    broker: &EmbeddedBroker,
    id: &str,
    user: &str,
    password: &str,
) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(id, "127.0.0.1", broker.local_addr().port());
    options.set_credentials(user, password);
    AsyncClient::new(options, 10)
}

/// The CONNACK code a connection gets.
async fn connack(events: &mut EventLoop) -> String {
    until(events, |e| match e {
        Ok(Event::Incoming(Packet::ConnAck(ack))) => Some(format!("{:?}", ack.code)),
        Err(rumqttc::ConnectionError::ConnectionRefused(code)) => Some(format!("{code:?}")),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn the_gatekeeper_decides_who_connects_and_who_publishes_subscribes_and_receives() {
    let (broker, gate) = start_guarded().await;
    let (_anon, mut anon_events) = connect(&broker, "anon");
    assert_eq!(connack(&mut anon_events).await, "BadUserNamePassword");
    let (_wrong, mut wrong_events) = login(&broker, "wrong", "a", "nope");
    assert_eq!(connack(&mut wrong_events).await, "BadUserNamePassword");

    let (b, mut b_events) = login(&broker, "b1", "b", "bb");
    assert_eq!(connack(&mut b_events).await, "Success");
    b.subscribe("#", QoS::AtLeastOnce).await.unwrap();
    b.subscribe("secret/#", QoS::AtLeastOnce).await.unwrap();
    let codes = until(&mut b_events, |e| match e {
        Ok(Event::Incoming(Packet::SubAck(ack))) => Some(format!("{:?}", ack.return_codes)),
        _ => None,
    })
    .await;
    assert_eq!(codes, "[Success(AtLeastOnce)]");
    let codes = until(&mut b_events, |e| match e {
        Ok(Event::Incoming(Packet::SubAck(ack))) => Some(format!("{:?}", ack.return_codes)),
        _ => None,
    })
    .await;
    assert_eq!(codes, "[Failure]");

    let (a, mut a_events) = login(&broker, "a1", "a", "aa");
    assert_eq!(connack(&mut a_events).await, "Success");
    // Outside a's topics: acknowledged, but not through the gate and not delivered.
    a.publish("b/phone", QoS::AtLeastOnce, true, "forged").await.unwrap();
    until(&mut a_events, |e| matches!(e, Ok(Event::Incoming(Packet::PubAck(_)))).then_some(()))
        .await;
    a.publish("a/phone", QoS::AtLeastOnce, true, "own").await.unwrap();
    until(&mut a_events, |e| matches!(e, Ok(Event::Incoming(Packet::PubAck(_)))).then_some(()))
        .await;
    assert_eq!(*gate.seen.lock().unwrap(), [("a/phone".to_owned(), b"own".to_vec(), true)]);

    // b publishes its own, and gets only that: a's message is not b's to read.
    b.publish("b/tablet", QoS::AtLeastOnce, false, "mine").await.unwrap();
    let got = until(&mut b_events, |e| match e {
        Ok(Event::Incoming(Packet::Publish(p))) => Some((p.topic.clone(), p.payload.to_vec())),
        _ => None,
    })
    .await;
    assert_eq!(got, ("b/tablet".to_owned(), b"mine".to_vec()));

    // A new subscriber of a's: the retained own message arrives, b's forged one never existed.
    let (a2, mut a2_events) = login(&broker, "a2", "a", "aa");
    a2.subscribe("#", QoS::AtLeastOnce).await.unwrap();
    let got = until(&mut a2_events, |e| match e {
        Ok(Event::Incoming(Packet::Publish(p))) => Some((p.topic.clone(), p.payload.to_vec())),
        _ => None,
    })
    .await;
    assert_eq!(got, ("a/phone".to_owned(), b"own".to_vec()));
    broker.shutdown().await;
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
    let config = BrokerConfig {
        listen: broker.local_addr(),
        max_packet_size: 1 << 20,
        anonymous: true,
        tls: None,
        ws: None,
        wss: None,
    };
    let error =
        EmbeddedBroker::start(config, Arc::new(Recorder::default()), None).await.err().unwrap();
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
