//! `POST /api/0/monitor` with `{"command": "info", "argument": "K2"}`: the o2smonitor commands
//! over HTTP, answered `{"reply": "..."}` with the same text MQTT gets (see
//! `pista_ingest::Monitor`). `pista monitor` uses it. `GET /api/0/monitor` is the Recorder's
//! monitor line, `<epoch> <topic>` of the newest location received that the caller may see, or
//! `not available`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

pub async fn last_received(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<([(header::HeaderName, &'static str); 1], String), ApiError> {
    let now = pista_ingest::now();
    let newest = state
        .store
        .last(None, None)
        .await?
        .into_iter()
        .filter(|entry| caller.reads(&entry.key, now))
        .max_by_key(|entry| entry.location.received_at);
    let text = match newest {
        Some(entry) => format!("{} {}\n", entry.location.received_at, entry.location.topic),
        None => "not available\n".to_owned(),
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}

pub async fn command(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin("send monitor commands")?;
    let object = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(ApiError::bad_request("a monitor command is a JSON object")),
        Err(error) => {
            return Err(ApiError::bad_request(format!("monitor body is not JSON: {error}")));
        }
    };
    let text = |key: &str| match object.get(key) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(text)) => Ok(text.as_str()),
        Some(other) => Err(ApiError::bad_request(format!("monitor {key} {other} is not text"))),
    };
    let command = text("command")?;
    if command.is_empty() {
        return Err(ApiError::bad_request("monitor command is required, e.g. \"info\""));
    }
    let argument = text("argument")?;
    let monitor = state.monitor.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_IMPLEMENTED, "the monitor is not available")
    })?;
    let reply = monitor.answer(command, argument).await;
    Ok(Json(json!({"reply": reply})))
}
