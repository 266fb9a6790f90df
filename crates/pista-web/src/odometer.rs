//! A device's odometer base over HTTP: `PUT /api/0/odometer/{user}/{device}` with
//! `{"odo": 123456.7}` (km, form fields too) sets it, `DELETE` on the same path clears it. The
//! original kept this number in its Greenwich inventory, typed in by an operator, and put it into
//! the device object when the device started; the Table adds the Greenwich trip to it. Here it is
//! kept per device (a swapped Greenwich box keeps the vehicle's odometer), answered in
//! `/api/0/inventory`, and shown in the device object (`_map`, `/api/0/map`) at once. The owner
//! of the device or a superuser may change it, as other device settings; a share gives no say.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use pista_core::{DeviceKey, UserName};
use serde_json::{Value, json};

use crate::AppState;
use crate::accounts::fields;
use crate::auth::Caller;
use crate::error::ApiError;

/// Highest accepted odometer base in km: more than any road vehicle runs in its life.
pub const MAX_ODO_KM: f64 = 10_000_000.0;

/// Why an odometer value was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OdometerError {
    #[error("odo is missing")]
    Missing,
    #[error("odo {0} is not a number of km")]
    NotANumber(String),
    #[error("odo {0} is negative")]
    Negative(f64),
    #[error("odo {0} is more than {MAX_ODO_KM} km")]
    TooLarge(f64),
}

/// The odometer base in km of a request's `odo` field.
pub fn parse_odo(value: Option<&Value>) -> Result<f64, OdometerError> {
    let odo = match value {
        None | Some(Value::Null) => return Err(OdometerError::Missing),
        Some(Value::Number(number)) => number.as_f64(),
        Some(Value::String(text)) => text.trim().parse::<f64>().ok(),
        Some(other) => return Err(OdometerError::NotANumber(other.to_string())),
    };
    let Some(odo) = odo.filter(|odo| odo.is_finite()) else {
        return Err(OdometerError::NotANumber(value.map(Value::to_string).unwrap_or_default()));
    };
    if odo < 0.0 {
        return Err(OdometerError::Negative(odo));
    }
    if odo > MAX_ODO_KM {
        return Err(OdometerError::TooLarge(odo));
    }
    Ok(odo)
}

pub async fn set(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, device)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let key = caller.managed_device(&user, &device)?;
    let fields = fields(&headers, &body, &["odo"])?;
    let odo = parse_odo(fields.get("odo")).map_err(|e| ApiError::bad_request(e.to_string()))?;
    store(&state, &caller, &key, Some(odo)).await?;
    Ok(Json(json!({"user": key.user.as_str(), "device": key.device.as_str(), "odo": odo})))
}

pub async fn clear(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, device)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let key = caller.managed_device(&user, &device)?;
    store(&state, &caller, &key, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stores the value and hands it to the device objects.
async fn store(
    state: &AppState,
    caller: &Caller,
    key: &DeviceKey,
    odo: Option<f64>,
) -> Result<(), ApiError> {
    if !state.store.set_odometer(key, odo).await? {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("device {key} has sent nothing")));
    }
    if let Some(outputs) = &state.outputs {
        outputs.odometer_changed(key, odo);
    }
    tracing::info!(device = %key, odo, by = ?caller.user().map(UserName::as_str),
        "odometer base set over http");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odometer_values_are_numbers_of_km_within_reason() {
        let cases: [(Value, Result<f64, OdometerError>); 8] = [
            (json!(123456.7), Ok(123456.7)),
            (json!("  42 "), Ok(42.0)),
            (json!(0), Ok(0.0)),
            (json!(-1), Err(OdometerError::Negative(-1.0))),
            (json!(10_000_001), Err(OdometerError::TooLarge(10_000_001.0))),
            (json!("12 km"), Err(OdometerError::NotANumber("\"12 km\"".into()))),
            (json!("NaN"), Err(OdometerError::NotANumber("\"NaN\"".into()))),
            (json!(true), Err(OdometerError::NotANumber("true".into()))),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_odo(Some(&value)), expected, "{value}");
        }
        assert_eq!(parse_odo(None), Err(OdometerError::Missing));
        assert_eq!(
            OdometerError::TooLarge(2e7).to_string(),
            "odo 20000000 is more than 10000000 km"
        );
    }
}
