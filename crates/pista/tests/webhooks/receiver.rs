//! A fake webhook receiver on a free loopback port: it records every POST (body and the headers
//! Pista sends) and answers as its script says.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use crate::common::eventually;

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Script {
    /// The first `count` POSTs get `status`, later ones 200.
    FailFirst(usize, u16),
    /// Every POST gets `status`.
    Always(u16),
    /// Every POST waits this long, then gets 200.
    Slow(Duration),
}

/// One POST as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    pub body: String,
    /// `X-Pista-Alert`.
    pub alert: String,
    /// `X-Pista-Alarm`.
    pub alarm: String,
    pub content_type: String,
    pub user_agent: String,
    pub authorization: String,
}

struct Shared {
    script: Script,
    heard: Mutex<Vec<Heard>>,
    /// Set once a slow answer has been sent.
    answered: AtomicBool,
}

/// A running receiver; it stops with the test's runtime.
pub struct Receiver {
    /// Where it listens: `http://127.0.0.1:<port>/hook`.
    pub url: String,
    shared: Arc<Shared>,
}

impl Receiver {
    pub async fn start(script: Script) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let shared =
            Arc::new(Shared { script, heard: Mutex::default(), answered: AtomicBool::new(false) });
        let router = Router::new().route("/hook", post(receive)).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url, shared }
    }

    /// Its URL with a user and password in it.
    pub fn url_with(&self, userinfo: &str) -> String {
        self.url.replacen("http://", &format!("http://{userinfo}@"), 1)
    }

    /// Every POST so far, in arrival order.
    pub fn heard(&self) -> Vec<Heard> {
        self.shared.heard.lock().unwrap().clone()
    }

    /// Waits until `count` POSTs arrived and returns them.
    pub async fn wait(&self, count: usize) -> Vec<Heard> {
        eventually(&format!("{count} posts at {}", self.url), || async {
            let heard = self.heard();
            (heard.len() >= count).then_some(heard)
        })
        .await
    }

    /// Whether a slow answer has gone out.
    pub fn answered(&self) -> bool {
        self.shared.answered.load(Ordering::SeqCst)
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let header =
        |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let count = {
        let mut heard = shared.heard.lock().unwrap();
        heard.push(Heard {
            body,
            alert: header("x-pista-alert"),
            alarm: header("x-pista-alarm"),
            content_type: header("content-type"),
            user_agent: header("user-agent"),
            authorization: header("authorization"),
        });
        heard.len()
    };
    match shared.script {
        Script::FailFirst(failing, status) if count <= failing => status_code(status),
        Script::FailFirst(..) => StatusCode::OK,
        Script::Always(status) => status_code(status),
        Script::Slow(pause) => {
            tokio::time::sleep(pause).await;
            shared.answered.store(true, Ordering::SeqCst);
            StatusCode::OK
        }
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap()
}
