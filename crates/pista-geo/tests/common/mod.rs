//! A fake geocoding provider for the tests: an axum server on 127.0.0.1, port 0, that answers
//! every request with one fixed status and body (after an optional delay) and records what it
//! was asked.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::IntoResponse;

/// Settings for a provider at `base` (a fake), fast enough for tests.
pub fn config(base: &str, key: Option<&str>) -> pista_geo::OnlineConfig {
    pista_geo::OnlineConfig {
        base_url: Some(base.to_owned()),
        key: key.map(str::to_owned),
        rate_per_sec: 100.0,
        timeout: Duration::from_secs(5),
        language: None,
    }
}

/// The API key the tests configure; it must reach the fake and no error.
pub const KEY: &str = "sekret-key-4711";

/// What the fake answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    /// A 200 answer with `body`, at once.
    pub fn ok(body: &str) -> Self {
        Self { status: 200, body: body.to_owned(), delay: Duration::ZERO }
    }

    /// An answer with `status` and `body`, at once.
    pub fn status(status: u16, body: &str) -> Self {
        Self { status, body: body.to_owned(), delay: Duration::ZERO }
    }
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    /// The raw query string.
    pub query: String,
    pub user_agent: String,
}

#[derive(Clone)]
struct Shared {
    reply: Reply,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// A running fake provider.
pub struct Fake {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    /// Starts a fake answering `reply` to every request.
    pub async fn start(reply: Reply) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared { reply, seen: seen.clone() };
        let app = Router::new().fallback(answer).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, seen }
    }

    /// The requests received so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer(State(shared): State<Shared>, uri: Uri, headers: HeaderMap) -> impl IntoResponse {
    let user_agent =
        headers.get(header::USER_AGENT).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let seen = Seen {
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        user_agent,
    };
    shared.seen.lock().unwrap().push(seen);
    tokio::time::sleep(shared.reply.delay).await;
    let status = StatusCode::from_u16(shared.reply.status).unwrap();
    (status, [(header::CONTENT_TYPE, "application/json")], shared.reply.body)
}

/// A loopback URL on which nothing listens (a port just bound and released).
pub async fn closed_base() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    base
}
