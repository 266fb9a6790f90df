//! The Recorder's live socket, `/ws/last` (also `/ws`), as the OwnTracks Frontend uses it: a
//! WebSocket that sends each new location as one JSON text frame (the item `/api/0/last`
//! shows), and on the text frame `LAST` the newest location of every device. Text frames are
//! echoed, as the Recorder does (the Frontend ignores what is not JSON); `exit` closes.
//!
//! Unlike the Recorder's, it sends only what the caller may see, when the location arrives; the
//! `user` and `device` filter (query or `X-Limit-User`/`X-Limit-Device`) applies to every frame,
//! not only to the `LAST` answer (its bug T23); and `LAST` is answered to the one who asked, not
//! to every connected socket (T24). A ping every 30 seconds keeps proxies from closing it.

use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use pista_core::{DeviceName, UserName};
use pista_ingest::StoredEvent;
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::api::{last_items, live_item, user_and_device};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;

/// Largest frame a client may send: the protocol has `LAST` and `exit`.
const MAX_FRAME: usize = 4096;

/// How often an idle socket is pinged.
const PING_EVERY: Duration = Duration::from_secs(30);

pub async fn last(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    check_origin(&headers, &state.socket_origins)?;
    let params = Params::new(query.as_deref())?;
    let (user, device) = user_and_device(&params, &headers)?;
    // Subscribed before the upgrade, so that nothing stored after the request is missed.
    let events = state.pipeline.subscribe();
    let socket = Socket { state, caller, user, device };
    Ok(upgrade
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |ws| socket.run(ws, events)))
}

/// A browser says which page opens a socket, and sends the user's cookie or stored login with
/// it whatever the page: only this server's own pages and the listed origins may open one.
/// Clients that are not browsers send no `Origin`.
fn check_origin(headers: &HeaderMap, listed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or_default();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let same = origin.split_once("://").is_some_and(|(_, authority)| authority == host);
    if same || listed.iter().any(|o| o == origin) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!("pages of {origin:?} may not open the live socket (see http.cors_origins)"),
    ))
}

/// One connected socket and what it may see.
struct Socket {
    state: AppState,
    caller: Caller,
    user: Option<UserName>,
    device: Option<DeviceName>,
}

impl Socket {
    async fn run(
        self,
        mut ws: WebSocket,
        mut events: tokio::sync::broadcast::Receiver<std::sync::Arc<StoredEvent>>,
    ) {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        loop {
            let sent = tokio::select! {
                frame = ws.recv() => match frame {
                    Some(Ok(Message::Text(text))) => self.answer(&mut ws, text).await,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                    Some(Ok(_)) => Ok(()),
                },
                event = events.recv() => match event {
                    Ok(event) => self.push(&mut ws, &event).await,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "a /ws/last listener fell behind");
                        Ok(())
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = ping.tick() => ws.send(Message::Ping(Default::default())).await,
            };
            if sent.is_err() {
                return;
            }
        }
    }

    /// Echoes a client's frame; `LAST` also sends every newest location, `exit` closes.
    async fn answer(&self, ws: &mut WebSocket, text: Utf8Bytes) -> Result<(), axum::Error> {
        if text.as_str() == "exit" {
            return ws.send(Message::Close(None)).await;
        }
        ws.send(Message::Text(text.clone())).await?;
        if !text.as_str().trim().eq_ignore_ascii_case("LAST") {
            return Ok(());
        }
        let items =
            match last_items(&self.state, &self.caller, self.user.as_ref(), self.device.as_ref())
                .await
            {
                Ok(items) => items,
                Err(error) => {
                    tracing::warn!(error = %error.message, "LAST not answered on /ws/last");
                    return Ok(());
                }
            };
        for item in items {
            ws.send(Message::Text(item.to_string().into())).await?;
        }
        Ok(())
    }

    /// Sends a stored location if the filter wants it and the caller may see it now.
    async fn push(&self, ws: &mut WebSocket, event: &StoredEvent) -> Result<(), axum::Error> {
        let wanted = self.user.as_ref().is_none_or(|u| *u == event.key.user)
            && self.device.as_ref().is_none_or(|d| *d == event.key.device);
        let now = pista_ingest::now();
        if !wanted || !self.caller.reads(&event.key, now) {
            return Ok(());
        }
        let item = live_item(event.json.clone(), &event.topic, &event.key, now);
        ws.send(Message::Text(item.to_string().into())).await
    }
}
