//! `GET /api/0/map[?user=U[&device=D]]`: the device objects as the outputs stage holds them
//! (the same JSON as on `_map`), each with its `user` and `device`, sorted by device topic. What
//! a page needs to draw every device without a broker connection.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::Value;

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
    let (user, device) = params.user_device()?;
    let outputs = state.outputs.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_IMPLEMENTED, "device objects are not available")
    })?;
    let objects = outputs
        .device_objects()
        .await
        .map_err(|error| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error))?;
    let now = pista_ingest::now();
    let shown = objects
        .into_iter()
        .filter(|o| caller.reads(&o.key, now))
        .filter(|o| user.as_ref().is_none_or(|user| o.key.user == *user))
        .filter(|o| device.as_ref().is_none_or(|device| o.key.device == *device))
        .map(|o| {
            let mut object = o.object;
            if let Value::Object(map) = &mut object {
                map.insert("user".into(), o.key.user.as_str().into());
                map.insert("device".into(), o.key.device.as_str().into());
            }
            object
        })
        .collect();
    Ok(Json(Value::Array(shown)))
}
