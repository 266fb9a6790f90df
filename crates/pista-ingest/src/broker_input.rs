//! The embedded broker as an input: the gate the broker consults before acknowledging a
//! client's publish. Messages on the configured base topics go through the pipeline and are
//! admitted once committed; a storage failure refuses them, so the client keeps and resends
//! them. An encrypted message that could not be opened is acknowledged (it is safe in
//! quarantine) but withheld from other clients. Publishes on other topics are not Pista's
//! business and pass untouched.

use async_trait::async_trait;
use pista_broker::{Admission, InboundPublish, PublishGate, Refusal};
use pista_core::{Inbound, Replay, Source, topic_matches};

use crate::pipeline::Pipeline;

/// Admits publishes to the embedded broker through the pipeline.
pub struct BrokerGate {
    pipeline: Pipeline,
    /// Subscription filters whose messages Pista stores (e.g. `owntracks/#`).
    topics: Vec<String>,
}

impl BrokerGate {
    pub fn new(pipeline: Pipeline, topics: Vec<String>) -> Self {
        Self { pipeline, topics }
    }
}

#[async_trait]
impl PublishGate for BrokerGate {
    async fn admit(&self, publish: InboundPublish) -> Result<Admission, Refusal> {
        if !self.topics.iter().any(|filter| topic_matches(filter, &publish.topic)) {
            return Ok(Admission::Forward);
        }
        let inbound = Inbound {
            source: Source::Broker,
            topic: publish.topic,
            identity: None,
            payload: publish.payload,
            retained: publish.retained,
            replay: Replay::Fresh,
            received_at: crate::now(),
        };
        match self.pipeline.ingest(inbound).await {
            Ok(receipt) => match receipt.problems.iter().find(|p| p.withhold()) {
                Some(problem) => Ok(Admission::Withhold {
                    reason: format!("kept in quarantine as {}", problem.reason),
                }),
                None => Ok(Admission::Forward),
            },
            Err(error) => Err(Refusal { reason: error.to_string() }),
        }
    }
}
