//! Sending commands to devices over MQTT: one short connection per command, publishing QoS 1
//! (not retained) to the device's `…/cmd` topic and waiting for the broker's acknowledgement, so
//! the delivery record says what the broker really accepted. Commands are rare; a connection each
//! keeps no state to go stale. Devices with a persistent session (the apps' default) receive a
//! command when they next connect. An Activo job is set the original's way instead: retained,
//! with QoS 2, on the Greenwich proxy's `…/proxy/jobs/active`.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, Packet, QoS};

use crate::mqtt_input::BrokerUrl;

/// Where commands are published.
#[derive(Debug, Clone)]
pub struct CommandPublisher {
    pub url: BrokerUrl,
    /// PEM CA certificates for `mqtts`.
    pub ca_pem: Option<Vec<u8>>,
    pub client_id: String,
    pub timeout: Duration,
    /// The largest packet the broker takes (the client's own limit is 10 KiB otherwise, which
    /// a `setWaypoints` or a list of tours can pass).
    pub max_packet: usize,
}

impl CommandPublisher {
    /// Publishes `payload` to `topic` and waits for the broker's PUBACK.
    pub async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        self.publish_with(topic, payload, QoS::AtLeastOnce, false).await
    }

    /// Publishes retained with QoS 2 and waits for the broker's PUBCOMP: how the original set
    /// an Activo box's job through the Greenwich proxy (`…/proxy/jobs/active`).
    pub async fn publish_retained_exactly_once(
        &self,
        topic: &str,
        payload: Vec<u8>,
    ) -> Result<(), String> {
        self.publish_with(topic, payload, QoS::ExactlyOnce, true).await
    }

    /// Publishes with the given QoS and retain flag and waits for the broker's
    /// acknowledgement (PUBACK for QoS 1, PUBCOMP for QoS 2; none for QoS 0).
    async fn publish_with(
        &self,
        topic: &str,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
    ) -> Result<(), String> {
        let mut options = self.url.client_options(&self.client_id, self.ca_pem.as_deref());
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_max_packet_size(self.max_packet, self.max_packet);
        let (client, mut events) = AsyncClient::new(options, 10);
        client
            .publish(topic, qos, retain, payload)
            .await
            .map_err(|error| format!("could not queue the command: {error}"))?;
        let broker = self.url.masked();
        let waited = tokio::time::timeout(self.timeout, async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) if qos == QoS::AtLeastOnce => {
                        return Ok(());
                    }
                    Ok(Event::Incoming(Packet::PubComp(_))) if qos == QoS::ExactlyOnce => {
                        return Ok(());
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Publish(_)))
                        if qos == QoS::AtMostOnce =>
                    {
                        return Ok(());
                    }
                    Ok(_) => {}
                    Err(error) => return Err(format!("broker {broker}: {error}")),
                }
            }
        })
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "broker {} did not acknowledge within {:?}",
                self.url.masked(),
                self.timeout
            ))
        });
        let _ = client.disconnect().await;
        // Let the DISCONNECT go out before the connection is dropped.
        let _ = tokio::time::timeout(Duration::from_millis(200), events.poll()).await;
        waited
    }
}
