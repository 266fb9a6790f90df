//! Starting and ending an Activo box's job over HTTP, as the original's Jobedit page did:
//! `PUT /api/0/jobs/{user}/{device}/active` with `{"job": 4}` publishes `4` retained with QoS 2
//! to the device's `<device topic>/proxy/jobs/active` (`0` ends the running job); the Greenwich
//! proxy hands it to the box, which echoes it. Ingest subscribes to that topic as well, so the
//! job history shows the change through the normal path (a box's identical echo is a copy).
//! The command is recorded with the device's other commands (`GET /api/0/cmd`), so an HTTP-mode
//! device gets it in its next answer. Only the owner or a superuser may do this; a share, or an
//! ACL that lets someone command the device, gives no say over its jobs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use bytes::Bytes;
use pista_core::{DeviceKey, UserName};
use serde_json::{Value, json};

use crate::AppState;
use crate::accounts::fields;
use crate::auth::Caller;
use crate::error::ApiError;

/// Highest job number accepted (the box shows 16 jobs; its numbers are small integers).
pub const MAX_JOB: i64 = 9999;

/// Why a job number was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    #[error("job is missing")]
    Missing,
    #[error("job {0} is not a job number (0 ends the running job, 1 to {MAX_JOB} start one)")]
    NotAJob(String),
}

/// The job number of a request's `job` field.
pub fn parse_job(value: Option<&Value>) -> Result<i64, JobError> {
    let number = match value {
        None | Some(Value::Null) => return Err(JobError::Missing),
        Some(Value::Number(number)) => number.as_i64(),
        Some(Value::String(text)) => text.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    match number {
        Some(job) if (0..=MAX_JOB).contains(&job) => Ok(job),
        _ => Err(JobError::NotAJob(value.map(Value::to_string).unwrap_or_default())),
    }
}

pub async fn set_active(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, device)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let key = DeviceKey::parse(&user, &device).map_err(|e| ApiError::bad_request(e.to_string()))?;
    caller.require_manage(&key.user)?;
    let fields = fields(&headers, &body, &["job"])?;
    let job = parse_job(fields.get("job")).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let topic = format!("{}/proxy/jobs/active", device_topic(&state, &key).await);
    let command = json!({"_type": "cmd", "action": "jobs/active", "job": job});
    let now = pista_ingest::now();
    let id = state.store.queue_command(&key, "jobs/active", &command.to_string(), now).await?;
    let mqtt = match &state.commands {
        Some(publisher) => {
            let payload = job.to_string().into_bytes();
            let result = publisher.publish_retained_exactly_once(&topic, payload).await;
            let status = match &result {
                Ok(()) => "published".to_owned(),
                Err(error) => format!("not published: {error}"),
            };
            state.store.command_published(id, result, pista_ingest::now()).await?;
            status
        }
        None => "no broker configured; waiting for the device's next HTTP post".to_owned(),
    };
    tracing::info!(device = %key, job, %topic, mqtt, by = ?caller.user().map(UserName::as_str),
        "activo job set over http");
    Ok(Json(json!({"id": id, "user": key.user.as_str(), "device": key.device.as_str(),
        "topic": topic, "job": job, "mqtt": mqtt})))
}

/// The device's topic as it sends on (`owntracks/gw/B2`, capitals kept), else the usual one.
async fn device_topic(state: &AppState, key: &DeviceKey) -> String {
    let known = match &state.outputs {
        Some(outputs) => outputs.device_objects().await.ok().and_then(|objects| {
            objects.into_iter().find(|object| object.key == *key).map(|object| object.topic)
        }),
        None => None,
    };
    known.unwrap_or_else(|| format!("owntracks/{}/{}", key.user, key.device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_numbers_are_whole_and_within_reason() {
        let not = |text: &str| Err(JobError::NotAJob(text.to_owned()));
        let cases: [(Value, Result<i64, JobError>); 7] = [
            (json!(4), Ok(4)),
            (json!("0"), Ok(0)),
            (json!(9999), Ok(9999)),
            (json!(-1), not("-1")),
            (json!(10000), not("10000")),
            (json!(2.5), not("2.5")),
            (json!("four"), not("\"four\"")),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_job(Some(&value)), expected, "{value}");
        }
        assert_eq!(parse_job(None), Err(JobError::Missing));
    }
}
