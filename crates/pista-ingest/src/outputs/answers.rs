//! Answers to the devices' requests (tours) that came over MQTT: the store queued each answer as
//! a command in the transaction that stored its request, and this publishes it to the device's
//! `cmd` topic the way `POST /api/0/cmd` publishes commands (a short connection, QoS 1, the
//! broker's acknowledgement recorded on the command). An answer to an encrypted request is
//! sealed with the device's secret, as HTTP mode seals its replies: a tour's link is its only
//! key. A request that came over HTTP is answered in the reply to its own post instead, so
//! nothing is published for it.

use std::sync::Arc;

use pista_core::crypto::{self, Secret};
use pista_core::{DeviceKey, Source};
use pista_store::{NewBody, NewMessage, Storage};
use serde_json::{Value, json};

use super::Outputs;

impl Outputs {
    /// Publishes the answer `command` to the request `message`, in a task of its own: waiting
    /// for a broker must not hold up the outputs.
    pub(super) fn publish_answer(&self, key: &DeviceKey, message: &NewMessage, command: i64) {
        if !matches!(message.source, Source::Mqtt | Source::Broker) {
            return;
        }
        let Some(publisher) = self.options.answers.clone() else {
            tracing::warn!(device = %key, command, "no broker to publish a request's answer to");
            return;
        };
        let topic = format!("{}/cmd", base_topic(message));
        let sealed = matches!(&message.body, NewBody::Message { message, .. }
            if message.json.get("_decrypted") == Some(&Value::Bool(true)));
        let store = self.store.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let Some(payload) = payload(store.as_ref(), &key, command, sealed).await else {
                return;
            };
            let result = publisher.publish(&topic, payload).await;
            match &result {
                Ok(()) => tracing::debug!(device = %key, command, topic, "answer published"),
                Err(error) => {
                    tracing::warn!(device = %key, command, topic, %error, "answer not published")
                }
            }
            record(store, &key, command, result).await;
        });
    }
}

/// The bytes to publish for the queued answer `command`, sealed when asked; `None` (logged)
/// when it cannot be read or sealed.
async fn payload(
    store: &dyn Storage,
    key: &DeviceKey,
    command: i64,
    sealed: bool,
) -> Option<Vec<u8>> {
    let queued = match store.commands(Some(key)).await {
        Ok(commands) => commands.into_iter().find(|c| c.id == command),
        Err(error) => {
            tracing::error!(device = %key, command, %error, "cannot read an answer");
            return None;
        }
    };
    let Some(queued) = queued else {
        tracing::warn!(device = %key, command, "answer gone before it was published");
        return None;
    };
    if !sealed {
        return Some(queued.payload.into_bytes());
    }
    let secret = match store.secret(key).await {
        Ok(Some(secret)) => Secret::new(&secret).ok(),
        Ok(None) => None,
        Err(error) => {
            tracing::error!(device = %key, command, %error, "cannot read the device's secret");
            return None;
        }
    };
    let Some(secret) = secret else {
        tracing::warn!(device = %key, command, "answer not published: the device has no secret now");
        return None;
    };
    let data = crypto::seal(&secret, queued.payload.as_bytes());
    Some(json!({"_type": "encrypted", "data": data}).to_string().into_bytes())
}

async fn record(
    store: Arc<dyn Storage>,
    key: &DeviceKey,
    command: i64,
    result: Result<(), String>,
) {
    if let Err(error) = store.command_published(command, result, crate::now()).await {
        tracing::error!(device = %key, command, %error, "cannot record an answer's delivery");
    }
}

/// The device's own topic of a message: its topic without the subtopic (`owntracks/jane/phone`
/// for `owntracks/jane/phone/request`), so the answer goes where that device listens.
fn base_topic(message: &NewMessage) -> &str {
    let topic = message.topic.as_str();
    match &message.subtopic {
        Some(sub) => topic.strip_suffix(sub.as_str()).map_or(topic, |t| t.trim_end_matches('/')),
        None => topic,
    }
}
