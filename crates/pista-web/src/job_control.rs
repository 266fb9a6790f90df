//! Starting and ending an Activo box's job over HTTP, as the original's Jobedit page did:
//! `PUT /api/0/jobs/{user}/{device}/active` with `{"job": 4}` publishes `4` retained with QoS 2
//! to the device's `<device topic>/proxy/jobs/active` (`0` ends the running job); the Greenwich
//! proxy hands it to the box, which echoes it. Ingest subscribes to that topic as well, so the
//! job history shows the change through the normal path (the box's echo of the running job
//! is no new start).
//! The command is recorded with the device's other commands (`GET /api/0/cmd`). HTTP-mode
//! answers leave it out: the apps' parsers break on an action they do not know, and a box sits
//! behind a Greenwich, which speaks MQTT. `PUT /api/0/jobs/{user}/{device}/names/{job}` with
//! `{"name": "Gravel run"}` renames a job the same way (retained, QoS 2, on
//! `…/proxy/jobs/<job>`, which the box reads as its list). `GET /api/0/jobs/names` lists the
//! job names Pista learnt from the boxes of the devices the caller may see. Only the owner or a
//! superuser may start, end or rename; a share, or an ACL that lets someone command the device,
//! gives no say over its jobs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
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
    #[error("job {0} cannot be named (jobs are numbered 1 to {MAX_JOB})")]
    NotNameable(String),
    #[error("name {0:?} must be 1 to {MAX_NAME} characters on one line")]
    BadName(String),
    #[error("name is missing or not text")]
    NoName,
}

/// Longest job name accepted, in characters (the box's display has 20 columns).
pub const MAX_NAME: usize = 40;

/// A job's new name from a request's `name` field.
pub fn parse_name(value: Option<&Value>) -> Result<String, JobError> {
    let Some(Value::String(name)) = value else { return Err(JobError::NoName) };
    let trimmed = name.trim();
    let count = trimmed.chars().count();
    if count == 0 || count > MAX_NAME || trimmed.chars().any(char::is_control) {
        return Err(JobError::BadName(name.clone()));
    }
    Ok(trimmed.to_owned())
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
    let key = caller.managed_device(&user, &device)?;
    let fields = fields(&headers, &body, &["job"])?;
    let job = parse_job(fields.get("job")).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let topic = format!("{}/proxy/jobs/active", device_topic(&state, &key).await);
    let command = json!({"_type": "cmd", "action": "jobs/active", "job": job});
    let mqtt = send(&state, &key, &topic, &command, job.to_string()).await?;
    tracing::info!(device = %key, job, %topic, mqtt = %mqtt["mqtt"],
        by = ?caller.user().map(UserName::as_str), "activo job set over http");
    Ok(Json(json!({"id": mqtt["id"], "user": key.user.as_str(), "device": key.device.as_str(),
        "topic": topic, "job": job, "mqtt": mqtt["mqtt"]})))
}

pub async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, device, job)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let key = caller.managed_device(&user, &device)?;
    let number = match job.parse::<i64>() {
        Ok(number) if (1..=MAX_JOB).contains(&number) => number,
        _ => return Err(ApiError::bad_request(JobError::NotNameable(job).to_string())),
    };
    let fields = fields(&headers, &body, &["name"])?;
    let name = parse_name(fields.get("name")).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let topic = format!("{}/proxy/jobs/{number}", device_topic(&state, &key).await);
    let command = json!({"_type": "cmd", "action": "jobs/name", "job": number, "name": name});
    let mqtt = send(&state, &key, &topic, &command, name.clone()).await?;
    tracing::info!(device = %key, job = number, %topic, mqtt = %mqtt["mqtt"],
        by = ?caller.user().map(UserName::as_str), "activo job renamed over http");
    Ok(Json(json!({"id": mqtt["id"], "user": key.user.as_str(), "device": key.device.as_str(),
        "topic": topic, "job": number, "name": name, "mqtt": mqtt["mqtt"]})))
}

/// The job names of the devices the caller may see: `[{"user", "device", "job", "name"}]`,
/// sorted by device and job.
pub async fn names(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let derived = state
        .derived
        .as_deref()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_IMPLEMENTED, "jobs are not available"))?;
    let now = pista_ingest::now();
    let mut names: Vec<_> = derived
        .job_names()
        .await?
        .into_iter()
        .filter(|name| name.kind == "job" && caller.reads(&name.key, now))
        .collect();
    names.sort_by(|a, b| (&a.key, a.number).cmp(&(&b.key, b.number)));
    Ok(Json(Value::Array(
        names
            .iter()
            .map(|n| {
                json!({"user": n.key.user.as_str(), "device": n.key.device.as_str(),
                "job": n.number, "name": n.name})
            })
            .collect(),
    )))
}

/// Records the command with the device's others and publishes `payload` retained with QoS 2
/// on `topic`; answers the command's `id` and what became of the publish (`mqtt`).
async fn send(
    state: &AppState,
    key: &DeviceKey,
    topic: &str,
    command: &Value,
    payload: String,
) -> Result<Value, ApiError> {
    let action = command["action"].as_str().unwrap_or_default();
    let now = pista_ingest::now();
    let id = state.store.queue_command(key, action, &command.to_string(), now).await?;
    let mqtt = match &state.commands {
        Some(publisher) => {
            let result = publisher.publish_retained_exactly_once(topic, payload.into_bytes()).await;
            let status = match &result {
                Ok(()) => "published".to_owned(),
                Err(error) => format!("not published: {error}"),
            };
            state.store.command_published(id, result, pista_ingest::now()).await?;
            status
        }
        None => "no broker configured; waiting for the device's next HTTP post".to_owned(),
    };
    Ok(json!({"id": id, "mqtt": mqtt}))
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
        assert_eq!(parse_name(Some(&json!(" Sand run "))), Ok("Sand run".to_owned()));
        for bad in ["", "   ", "two\nlines", &"x".repeat(41)] {
            assert_eq!(parse_name(Some(&json!(bad))), Err(JobError::BadName(bad.to_owned())));
        }
        assert_eq!(parse_name(Some(&json!(7))), Err(JobError::NoName));
    }
}
