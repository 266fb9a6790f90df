//! `POST /api/0/cmd` queues a command for a device and publishes it over MQTT to the device's
//! `…/cmd` topic; `GET /api/0/cmd?user=U&device=D` lists commands with their delivery (when the
//! broker accepted them, why not, and when HTTP mode handed them over). The same endpoint backs
//! `pista cmd`. Credentials in a command (a `setConfiguration` carries the device's passwords)
//! are stored for delivery but never shown. Sending needs the right to command the device (its
//! owner, a superuser, or an ACL entry that lets the caller write its `cmd` topic); the list
//! holds the commands of devices the caller may see.

use axum::Json;
use axum::extract::{RawQuery, State};
use bytes::Bytes;
use pista_core::DeviceKey;
use pista_store::StoredCommand;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;
use crate::{AppState, answer};

/// Queues and publishes a command. Body: `{"user":..,"device":..,"action":..,...}`; members
/// other than `user` and `device` become the command.
pub async fn send(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&body) else {
        return Err(ApiError::bad_request(
            "body must be a JSON object with user, device and action",
        ));
    };
    let text = |object: &mut Map<String, Value>, name: &str| match object.remove(name) {
        Some(Value::String(text)) => Ok(text),
        _ => Err(ApiError::bad_request(format!("{name} is missing or not text"))),
    };
    let user = text(&mut object, "user")?;
    let device = text(&mut object, "device")?;
    let action = text(&mut object, "action")?;
    let key = DeviceKey::parse(&user, &device)
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    caller.require_command(&key)?;
    let command = answer::command(&action, Some(object)).map_err(ApiError::bad_request)?;
    let payload = command.to_string();

    let now = pista_ingest::now();
    let id = state.store.queue_command(&key, &action, &payload, now).await?;
    let mqtt = match &state.commands {
        Some(publisher) => {
            let topic = answer::command_topic(&key);
            let result = publisher.publish(&topic, payload.clone().into_bytes()).await;
            let status = match &result {
                Ok(()) => "published".to_owned(),
                Err(error) => format!("not published: {error}"),
            };
            tracing::info!(device = %key, id, action, mqtt = status, "command queued");
            state.store.command_published(id, result, pista_ingest::now()).await?;
            status
        }
        None => "no broker configured; waiting for the device's next HTTP post".to_owned(),
    };
    let shown = masked(command);
    Ok(Json(json!({"id": id, "device": key.to_string(), "command": shown, "mqtt": mqtt})))
}

/// A command as the API shows it: a configuration's credentials are delivered to the device but
/// never shown.
fn masked(mut command: Value) -> Value {
    if let Value::Object(object) = &mut command {
        pista_core::secrets::mask_json(object);
    }
    command
}

/// Lists commands, optionally of one device.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::new(query.as_deref())?;
    let key = params.device_key()?;
    let now = pista_ingest::now();
    if let Some(key) = &key {
        caller.require_read(key, now)?;
    }
    let commands = state.store.commands(key.as_ref()).await?;
    let visible = commands.iter().filter(|c| caller.reads(&c.key, now)).map(describe).collect();
    Ok(Json(Value::Array(visible)))
}

fn describe(command: &StoredCommand) -> Value {
    let payload = masked(serde_json::from_str::<Value>(&command.payload).unwrap_or(Value::Null));
    json!({
        "id": command.id,
        "user": command.key.user.as_str(),
        "device": command.key.device.as_str(),
        "action": command.action,
        "command": payload,
        "created_at": command.created_at,
        "mqtt_at": command.mqtt_at,
        "mqtt_error": command.mqtt_error,
        "http_at": command.http_at,
    })
}
