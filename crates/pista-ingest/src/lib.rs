//! The one ingest path. Every input — a subscription on an external MQTT broker, clients of the
//! embedded broker, HTTP mode — hands raw messages to the [`Pipeline`], which decodes them
//! (`pista_core`), stores them in batches with one commit per batch (`pista_store`), and then
//! publishes what was stored to in-process listeners. An input acknowledges a message to its
//! sender only after the pipeline reports it committed.

mod alarm;
mod broker_input;
mod commands;
mod geocode;
mod guard;
mod login;
mod monitor;
mod mqtt_input;
mod outputs;
mod pipeline;
mod prepare;
mod redis_stats;
mod retention;
mod tally;
mod webhooks;
mod writer;

pub use alarm::{ALARM_HEADER, AlarmHook, AlarmOptions, AlarmStats};
pub use broker_input::BrokerGate;
pub use commands::CommandPublisher;
pub use geocode::{GeoCache, GeocodeStats, Geocoding};
pub use guard::{
    BrokerAccess, Guard, INTERNAL_USER, NewTokenError, RELOAD_EVERY, TOKEN_PREFIX, digest,
    make_token,
};
pub use login::{Login, LoginError, LoginLimits, Logins};
pub use monitor::{LogControl, Monitor, MonitorMqtt, run_monitor};
pub use mqtt_input::{BrokerUrl, SubscriberConfig, UrlError, run_subscriber};
pub use outputs::{
    DeviceObject, FenceSync, LiveEvent, LiveKind, MqttSink, OutputOptions, OutputStats, Outputs,
    OutputsHandle, Publication, SERVER_FENCE_OWNER, Sinks, job_value, sync_configured,
};
pub use pipeline::{
    IngestError, Pipeline, PipelineOptions, Problem, Receipt, Stats, StoredEvent, Ticket,
};
pub use redis_stats::{RedisCounters, RedisStats, RedisUrl, RedisUrlError};
pub use retention::{Retention, RetentionOptions};
pub use tally::{LastSeen, OTHER, Tally};
pub use webhooks::{WebhookError, WebhookOptions, WebhookStats, Webhooks, mask_text as mask_url};

/// The current time as UNIX seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
