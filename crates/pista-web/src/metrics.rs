//! `GET /metrics`: the server's counters in the Prometheus text format (version 0.0.4), read
//! from the pipeline's and the outputs stage's atomics at scrape time. The text is written
//! here rather than through a metrics library: every value already lives in our own counters,
//! so a registry would only wrap them, and nothing is global, so several servers in one process
//! keep apart. A scrape takes a few locks; storage is read once, at the first scrape, to seed the
//! devices' last-seen times from their last stored locations (after that the writer keeps them).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use pista_ingest::{AlarmStats, GeocodeStats, OutputStats, RedisCounters, Stats, WebhookStats};

use crate::AppState;
use crate::auth::Caller;

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The handler.
pub async fn scrape(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, crate::ApiError> {
    // Per-device series name users and devices: superusers only (Prometheus can send an API
    // token of one as a bearer token).
    caller.require_admin("read the metrics")?;
    let stats = state.pipeline.stats();
    seed_last_seen(&state, stats).await;
    let mut text = Text::default();
    pipeline(&mut text, stats);
    if let Some(outputs) = &state.outputs {
        self::outputs(&mut text, outputs.stats());
        if let Some(dropped) = outputs.mqtt_dropped() {
            let name = "pista_mqtt_outputs_dropped_total";
            let help = "MQTT outputs dropped: the broker took them slower than they came, or \
                        one was larger than it takes.";
            text.family(name, "counter", help);
            text.sample(name, &[], dropped);
        }
        if let Some(geocode) = outputs.geocode_stats() {
            geocoder(&mut text, geocode);
        }
        if let Some(webhooks) = outputs.webhook_stats() {
            self::webhooks(&mut text, webhooks);
        }
        if let Some(alarm) = outputs.alarm_stats() {
            self::alarm(&mut text, alarm);
        }
    }
    if let Some(counters) = &state.redis {
        redis(&mut text, counters);
    }
    devices(&mut text, stats);
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text.out))
}

/// Reads the devices' last locations at the first scrape (tried again while it fails).
async fn seed_last_seen(state: &AppState, stats: &Stats) {
    if stats.last_seen.is_seeded() {
        return;
    }
    match state.store.last(None, None).await {
        Ok(last) => {
            let times = last.into_iter().map(|item| (item.key, item.location.received_at));
            stats.last_seen.seed(times);
        }
        Err(error) => tracing::warn!(%error, "last-seen times not read for /metrics"),
    }
}

fn pipeline(text: &mut Text, stats: &Stats) {
    let by_type = "Messages other than locations stored, by type (empty: zero-length payloads).";
    text.family("pista_messages_total", "counter", by_type);
    for (kind, count) in stats.by_type.snapshot() {
        text.sample("pista_messages_total", &[("type", &kind)], count);
    }
    counter(text, "pista_locations_total", "Locations stored.", &stats.locations);
    let duplicates = "Messages not stored because the device had already sent them.";
    counter(text, "pista_duplicates_total", duplicates, &stats.duplicates);
    text.family("pista_quarantined_total", "counter", "Messages quarantined, by reason.");
    for (reason, count) in stats.by_reason.snapshot() {
        text.sample("pista_quarantined_total", &[("reason", &reason)], count);
    }
    let ignored = "Messages deliberately not stored (t_ignore, skip_retained, unknown subtopics).";
    counter(text, "pista_ignored_total", ignored, &stats.ignored);
    let failed = "Storage writes that failed; their messages were not acknowledged.";
    counter(text, "pista_failed_batches_total", failed, &stats.failed_batches);
}

fn outputs(text: &mut Text, stats: &OutputStats) {
    let name = "pista_outputs_total";
    text.family(name, "counter", "Outputs made: device objects, watcher lines, alerts, jobs.");
    let kinds = [
        ("alert", &stats.alerts),
        ("job", &stats.jobs),
        ("look", &stats.looks),
        ("map", &stats.maps),
    ];
    for (kind, value) in kinds {
        text.sample(name, &[("kind", kind)], value.load(Ordering::Relaxed));
    }
    let failures = "Fence changes, alerts and jobs the outputs stage could not read or record.";
    counter(text, "pista_output_failures_total", failures, &stats.failures);
    let retries = "Fence evaluations done again because another worker had moved a stored side.";
    counter(text, "pista_fence_retries_total", retries, &stats.fence_retries);
}

fn geocoder(text: &mut Text, stats: &GeocodeStats) {
    counters(
        text,
        &[
            ("pista_geocode_hits_total", "Addresses found in the geocoding cache.", &stats.hits),
            ("pista_geocode_misses_total", "Addresses asked of the geocoder.", &stats.misses),
            ("pista_geocode_failures_total", "Geocoder requests that failed.", &stats.failures),
            (
                "pista_geocode_dropped_total",
                "Geocoding requests dropped because the queue was full.",
                &stats.dropped,
            ),
        ],
    );
}

fn webhooks(text: &mut Text, stats: &WebhookStats) {
    counters(
        text,
        &[
            (
                "pista_webhook_deliveries_total",
                "Webhook deliveries a receiver accepted.",
                &stats.deliveries,
            ),
            ("pista_webhook_failures_total", "Webhook deliveries given up.", &stats.failures),
            (
                "pista_webhook_dropped_total",
                "Webhook deliveries dropped because their queue was full.",
                &stats.dropped,
            ),
        ],
    );
}

fn alarm(text: &mut Text, stats: &AlarmStats) {
    counters(
        text,
        &[
            ("pista_alarms_total", "Greenwich alarms handed to the alarm hook.", &stats.alarms),
            (
                "pista_alarm_command_failures_total",
                "Alarm commands that did not start, failed or ran too long.",
                &stats.command_failures,
            ),
            (
                "pista_alarm_webhook_failures_total",
                "Alarm webhook deliveries given up.",
                &stats.webhook_failures,
            ),
            (
                "pista_alarms_dropped_total",
                "Alarms (or their webhook deliveries) dropped because too many were waiting.",
                &stats.dropped,
            ),
        ],
    );
}

fn redis(text: &mut Text, counters_of: &RedisCounters) {
    counters(
        text,
        &[
            ("pista_redis_updates_total", "Device objects written to Redis.", &counters_of.updates),
            (
                "pista_redis_failures_total",
                "Device objects not written to Redis because it failed.",
                &counters_of.failures,
            ),
            (
                "pista_redis_skipped_total",
                "Outputs the Redis statistics missed because they fell behind.",
                &counters_of.skipped,
            ),
        ],
    );
}

/// Several plain counters, each with its help text, in order.
fn counters(text: &mut Text, rows: &[(&str, &str, &AtomicU64)]) {
    for (name, help, value) in rows {
        counter(text, name, help, value);
    }
}

fn devices(text: &mut Text, stats: &Stats) {
    let name = "pista_device_last_seen_seconds";
    let help = "When the device last had a location or message stored (UNIX time).";
    text.family(name, "gauge", help);
    for (key, at) in stats.last_seen.snapshot() {
        let labels = [("user", key.user.as_str()), ("device", key.device.as_str())];
        text.sample(name, &labels, at);
    }
}

fn counter(text: &mut Text, name: &str, help: &str, value: &AtomicU64) {
    text.family(name, "counter", help);
    text.sample(name, &[], value.load(Ordering::Relaxed));
}

/// The exposition text being written.
#[derive(Default)]
struct Text {
    out: String,
}

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', r"\\").replace('\n', r"\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(label, value)| format!("{label}=\"{}\"", escape(value)))
                .collect();
            let _ = write!(self.out, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// A label value as the text format quotes it.
fn escape(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', r#"\""#).replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_quote_their_label_values() {
        let mut text = Text::default();
        text.family("x_total", "counter", "A \\ help\nline.");
        text.sample("x_total", &[("type", "a\"b\\c\nd"), ("k", "v")], 3);
        text.sample("x_total", &[], 4);
        let expected = concat!(
            "# HELP x_total A \\\\ help\\nline.\n",
            "# TYPE x_total counter\n",
            "x_total{type=\"a\\\"b\\\\c\\nd\",k=\"v\"} 3\n",
            "x_total 4\n",
        );
        assert_eq!(text.out, expected);
    }
}
