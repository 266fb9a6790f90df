//! `POST /api/0/quarantine/replay`: feeds quarantined messages through the ingest pipeline again,
//! after the cause was fixed (a device secret added, a wrong clock understood). Each message keeps
//! its topic, source and arrival time; one that now goes through is marked released, one that
//! still cannot be used stays where it is. `GET /api/0/quarantine` lists them: a user sees what
//! was quarantined of their own devices, a superuser everything; only superusers replay.

use axum::Json;
use axum::extract::{RawQuery, State};
use bytes::Bytes;
use pista_core::{Inbound, Replay, Source};
use pista_store::Quarantined;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;

/// Replays what matches the optional `user`, `device` and `reason` members of the JSON body.
pub async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin("replay quarantined messages")?;
    let filter = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(object)) => object,
        _ if body.is_empty() => serde_json::Map::new(),
        _ => return Err(ApiError::bad_request("body must be a JSON object (or empty)")),
    };
    let text = |name: &str| filter.get(name).and_then(Value::as_str);
    let key = crate::params::device_key(text("user"), text("device"))?;
    let reason = text("reason");

    let mut replayed = Vec::new();
    let mut still = Vec::new();
    for item in state.store.quarantined(key.as_ref()).await? {
        if item.released_at.is_some() || reason.is_some_and(|r| r != item.reason) {
            continue;
        }
        let Some(device) = item.key.clone() else { continue };
        let inbound = Inbound {
            source: item.source,
            topic: item.topic.clone(),
            identity: (item.source == Source::Http).then_some(device),
            payload: Bytes::from(item.payload.clone()),
            retained: item.retained,
            replay: Replay::Fresh,
            received_at: item.received_at,
        };
        let receipt = state.pipeline.ingest(inbound).await.map_err(|_| ApiError::unavailable())?;
        match receipt.problems.first() {
            None => replayed.push(item.id),
            Some(problem) => still.push(json!({"id": item.id, "reason": problem.reason,
                "problem": problem.text})),
        }
    }
    state.store.release(&replayed, pista_ingest::now()).await?;
    tracing::info!(replayed = replayed.len(), still = still.len(), "quarantine replayed");
    Ok(Json(json!({"replayed": replayed, "still_quarantined": still})))
}

/// Lists quarantined messages (`user` and `device` optional, `all=1` includes released ones).
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::new(query.as_deref())?;
    let key = params.device_key()?;
    let all = params.query("all").is_some_and(|v| v == "1" || v == "true");
    let items = state.store.quarantined(key.as_ref()).await?;
    let own = |item: &&Quarantined| {
        caller.is_admin() || item.key.as_ref().is_some_and(|key| caller.manages(&key.user))
    };
    let shown =
        items.iter().filter(|i| all || i.released_at.is_none()).filter(own).map(describe).collect();
    Ok(Json(Value::Array(shown)))
}

fn describe(item: &Quarantined) -> Value {
    json!({
        "id": item.id,
        "user": item.key.as_ref().map(|k| k.user.to_string()),
        "device": item.key.as_ref().map(|k| k.device.to_string()),
        "topic": item.topic,
        "source": item.source.as_str(),
        "received_at": item.received_at,
        "reason": item.reason,
        "problem": item.problem,
        "payload": String::from_utf8_lossy(&item.payload),
        "released_at": item.released_at,
    })
}
