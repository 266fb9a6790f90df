//! Activo job history over HTTP: `GET /api/0/jobs[?user=U&device=D][&running=true]` lists the
//! jobs devices ran, oldest start first, each with its device, tracker id, job (a number, or
//! `job/task/place/machine`), name, start, end and duration in seconds (null while it runs).

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use pista_store::StoredJob;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::new(query.as_deref())?;
    let key = params.device_key()?;
    let now = pista_ingest::now();
    let running = match params.query("running") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!("running {other:?} is not true or false")));
        }
    };
    let derived = state
        .derived
        .as_deref()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_IMPLEMENTED, "jobs are not available"))?;
    let jobs = derived.jobs(key.as_ref(), running).await?;
    let visible = jobs.iter().filter(|job| caller.reads(&job.key, now)).map(job_json).collect();
    Ok(Json(Value::Array(visible)))
}

fn job_json(job: &StoredJob) -> Value {
    json!({
        "id": job.id,
        "user": job.key.user.as_str(),
        "device": job.key.device.as_str(),
        "tid": job.tid,
        "job": pista_ingest::job_value(&job.job),
        "jobname": job.jobname,
        "start": job.started_at,
        "end": job.ended_at,
        "duration": job.duration,
    })
}
