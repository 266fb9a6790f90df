//! The one ingest path. Every input — a subscription on an external MQTT broker, clients of the
//! embedded broker, HTTP mode — hands raw messages to the [`Pipeline`], which decodes them
//! (`pista_core`), stores them in batches with one commit per batch (`pista_store`), and then
//! publishes what was stored to in-process listeners. An input acknowledges a message to its
//! sender only after the pipeline reports it committed.

mod broker_input;
mod commands;
mod mqtt_input;
mod pipeline;
mod prepare;
mod writer;

pub use broker_input::BrokerGate;
pub use commands::CommandPublisher;
pub use mqtt_input::{BrokerUrl, SubscriberConfig, UrlError, run_subscriber};
pub use pipeline::{
    IngestError, Pipeline, PipelineOptions, Problem, Receipt, Stats, StoredEvent, Ticket,
};

/// The current time as UNIX seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
