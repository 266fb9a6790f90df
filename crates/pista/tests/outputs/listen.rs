//! An MQTT client that records what a broker delivers on a filter, for asserting outputs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::common::{eventually, unique};

/// One delivered message.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

/// Records every message on `filter` at a broker.
pub struct Listener {
    heard: Arc<Mutex<Vec<Heard>>>,
    client: AsyncClient,
}

impl Listener {
    /// Connects, subscribes and waits for the SUBACK.
    pub async fn start(port: u16, filters: &[&str]) -> Self {
        let mut options = MqttOptions::new(unique("listen"), "127.0.0.1", port);
        options.set_max_packet_size(16 << 20, 16 << 20);
        let (client, mut events) = AsyncClient::new(options, 100);
        for filter in filters {
            client.subscribe(*filter, QoS::AtLeastOnce).await.unwrap();
        }
        let heard = Arc::new(Mutex::new(Vec::new()));
        let (subscribed, mut ready) = tokio::sync::mpsc::channel(8);
        let sink = heard.clone();
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        sink.lock().unwrap().push(Heard {
                            topic: publish.topic.clone(),
                            payload: String::from_utf8_lossy(&publish.payload).into_owned(),
                            retain: publish.retain,
                        });
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = subscribed.send(()).await;
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        for _ in filters {
            tokio::time::timeout(Duration::from_secs(10), ready.recv()).await.expect("no SUBACK");
        }
        Self { heard, client }
    }

    /// The payloads heard on `topic`, in order.
    pub fn on(&self, topic: &str) -> Vec<Heard> {
        self.heard.lock().unwrap().iter().filter(|h| h.topic == topic).cloned().collect()
    }

    /// Waits until `count` messages were heard on `topic` and returns them.
    pub async fn wait(&self, topic: &str, count: usize) -> Vec<Heard> {
        eventually(&format!("{count} messages on {topic}"), || async {
            let heard = self.on(topic);
            (heard.len() >= count).then_some(heard)
        })
        .await
    }

    /// Waits until a message on `topic` satisfies `check` and returns it.
    pub async fn wait_for(&self, topic: &str, check: impl Fn(&Heard) -> bool) -> Heard {
        eventually(&format!("a matching message on {topic}"), || async {
            self.on(topic).into_iter().find(|h| check(h))
        })
        .await
    }

    pub async fn stop(self) {
        let _ = self.client.disconnect().await;
    }
}
