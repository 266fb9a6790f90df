//! The webhook delivery log over HTTP: `GET /api/0/webhooks[?alert=ID]` lists every POST of a
//! geofence alert to a webhook (and every delivery dropped before one), oldest first, with the
//! receiver's status or the error, so an operator can see why a receiver did not hear of an
//! alert. URLs are shown with their passwords masked, as logged.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use pista_store::StoredDelivery;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;

/// `GET /api/0/webhooks[?alert=ID]`: the delivery log, oldest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    // Webhook addresses may hold credentials.
    caller.require_admin("list webhook deliveries")?;
    let params = Params::new(query.as_deref())?;
    let alert = match params.query("alert") {
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!("alert {text:?} is not an alert id (a whole number)"))
        })?),
        None => None,
    };
    let derived = state
        .derived
        .as_deref()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_IMPLEMENTED, "webhooks are not available"))?;
    let deliveries = derived.deliveries(alert).await?;
    Ok(Json(Value::Array(deliveries.iter().map(delivery_json).collect())))
}

fn delivery_json(delivery: &StoredDelivery) -> Value {
    json!({
        "id": delivery.id,
        "alert": delivery.alert_id,
        "url": delivery.url,
        "attempt": delivery.attempt,
        "status": delivery.status,
        "error": delivery.error,
        "delivered": delivery.delivered,
        "at": delivery.at,
        "isoat": pista_core::time::iso(delivery.at),
    })
}
