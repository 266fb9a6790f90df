//! Device encryption secrets over HTTP, the API twin of `pista secret`:
//! `GET /api/0/secrets` lists the devices that have one (`user` and `device`, never the secret),
//! `PUT /api/0/secrets/{user}/{device}` with `{"secret": "..."}` sets or replaces one, and
//! `DELETE /api/0/secrets/{user}/{device}` removes it. A superuser manages every device's
//! secret, everyone else their own devices' (the rule of deletion and retention), and the list
//! holds what the caller manages. A device need not have sent anything yet: an app set to
//! encrypt sends nothing Pista can read before its secret is there. The ingest pipeline and the
//! answers to devices read the secret from the store for every encrypted message, so a change is
//! seen by the next one, as one made with the CLI is; nothing is cached that would need a
//! reload. The secret appears in no answer, log line or error message.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use pista_core::UserName;
use pista_core::crypto::Secret;
use serde_json::{Value, json};

use crate::AppState;
use crate::accounts::fields;
use crate::auth::Caller;
use crate::error::ApiError;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let keys = state.store.secrets().await?;
    let list = keys
        .iter()
        .filter(|key| caller.manages(&key.user))
        .map(|key| json!({"user": key.user.as_str(), "device": key.device.as_str()}))
        .collect();
    Ok(Json(Value::Array(list)))
}

pub async fn set(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, device)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let key = caller.managed_device(&user, &device)?;
    let fields = fields(&headers, &body, &["secret"])?;
    // The value is never echoed: a number sent by mistake may still be the secret.
    let secret = match fields.get("secret") {
        None | Some(Value::Null) => return Err(ApiError::bad_request("secret is missing")),
        Some(Value::String(secret)) => secret.as_str(),
        Some(_) => return Err(ApiError::bad_request("secret must be a string")),
    };
    Secret::new(secret).map_err(|_| ApiError::bad_request("the secret is empty"))?;
    existing(&state, &key.user).await?;
    let replaced = state.store.set_secret(&key, Some(secret), pista_ingest::now()).await?;
    tracing::info!(device = %key, by = ?caller.user().map(UserName::as_str), replaced,
        "device secret set over http");
    Ok(Json(
        json!({"user": key.user.as_str(), "device": key.device.as_str(), "replaced": replaced}),
    ))
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, device)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let key = caller.managed_device(&user, &device)?;
    if !state.store.set_secret(&key, None, pista_ingest::now()).await? {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("{key} has no secret")));
    }
    tracing::info!(device = %key, by = ?caller.user().map(UserName::as_str),
        "device secret removed over http");
    Ok(StatusCode::NO_CONTENT)
}

/// Refuses a user no account has (when accounts are on): a secret for a typo would wait for a
/// device that never comes.
async fn existing(state: &AppState, user: &UserName) -> Result<(), ApiError> {
    let Some(guard) = &state.guard else { return Ok(()) };
    match guard.accounts().user(user).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no user {user}"))),
    }
}
