//! The one way errors leave the HTTP server: a status and a short, safe message as JSON
//! (`{"error": "...", "status": N}`). Causes that clients must not see (database messages) are
//! logged here instead.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pista_store::StoreError;
use serde_json::json;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds after which the client should retry (sent as `Retry-After`).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// The Recorder answers 416 to missing or impossible parameters; its clients expect it.
    pub fn unsatisfiable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::RANGE_NOT_SATISFIABLE, message)
    }

    /// Storage is down: the client should keep its data and retry.
    pub fn unavailable() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "storage is unavailable, retry later".to_owned(),
            retry_after: Some(5),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::UnknownUser { .. } | StoreError::UnknownDevice { .. } => {
                Self::new(StatusCode::NOT_FOUND, error.to_string())
            }
            StoreError::Busy { .. } => {
                tracing::warn!(%error, "history read refused");
                Self {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: error.to_string(),
                    retry_after: Some(10),
                }
            }
            _ => {
                let cause = std::error::Error::source(&error);
                tracing::error!(%error, ?cause, "storage query failed");
                Self::unavailable()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.message, "status": self.status.as_u16()});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Gives every error answer the JSON shape, also those made outside the handlers: axum's `405`
/// (with the allowed methods) and `413`, and the `500` of a handler that panicked.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }

    let allow = response.headers().get(header::ALLOW).cloned();
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = allow.as_ref().and_then(|v| v.to_str().ok()).unwrap_or_default();
            format!("method {method} is not allowed on {path}; allowed: {allowed}")
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            "request body is larger than the server accepts (http.max_body)".to_owned()
        }
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let mut answer = ApiError::new(status, message).into_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    answer
}

/// The answer when a handler panics: logged as an error, shown as a plain `500`.
pub fn panicked(cause: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = cause
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| cause.downcast_ref::<&str>().copied())
        .unwrap_or("unknown");
    tracing::error!(detail, "request handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

/// Answer for paths nothing serves.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("nothing here: {}", uri.path()))
}
