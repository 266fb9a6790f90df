//! Outputs as they are made, as server-sent events: `GET /api/0/live` streams every `_look`
//! line, device object, geofence alert and job object (event names `look`, `map`, `alert`,
//! `job`; the data is the MQTT payload), and every fence created, replaced or deleted (`fence`,
//! `{"change": "created", "id": 7}`); the event id counts from 1. `kinds=look,alert` picks
//! kinds and `user=U[&device=D]` one user's or one device's outputs (fences that apply to them).
//! A listener that falls behind is told how many events it missed (`lagged`) instead of slowing
//! ingest. Streams end when the server stops. A listener gets only the events of devices it may
//! see at the time of each event (an expired share stops the flow mid-stream), and the fence
//! events of the fences `GET /api/0/fences` would show it; other events of no device go to
//! superusers only.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use pista_ingest::{LiveEvent, LiveKind};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;

/// Which events a listener wants.
struct Filter {
    kinds: Vec<LiveKind>,
    user: Option<String>,
    device: Option<String>,
}

impl Filter {
    fn read(params: &Params) -> Result<Self, ApiError> {
        let all = [LiveKind::Look, LiveKind::Map, LiveKind::Alert, LiveKind::Job, LiveKind::Fence];
        let kinds = match params.query("kinds") {
            None => all.to_vec(),
            Some(list) => list
                .split(',')
                .map(|name| {
                    all.into_iter().find(|kind| kind.as_str() == name.trim()).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "kind {name:?} is not one of look, map, alert, job, fence"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let (user, device) = params.user_device()?;
        let user = user.map(|user| user.as_str().to_owned());
        let device = device.map(|device| device.as_str().to_owned());
        Ok(Self { kinds, user, device })
    }

    fn wants(&self, event: &LiveEvent) -> bool {
        if event.kind == LiveKind::Fence {
            return self.kinds.contains(&event.kind) && self.fence_applies(event);
        }
        let key = event.device.as_ref();
        let user_ok =
            self.user.as_deref().is_none_or(|u| key.is_some_and(|k| k.user.as_str() == u));
        let device_ok =
            self.device.as_deref().is_none_or(|d| key.is_some_and(|k| k.device.as_str() == d));
        self.kinds.contains(&event.kind) && user_ok && device_ok
    }

    /// Whether a fence applies to the user and device asked for: a region to its own device, a
    /// server fence to its user's devices (or everyone's).
    fn fence_applies(&self, event: &LiveEvent) -> bool {
        match (&event.device, &event.user) {
            (Some(owner), _) => {
                self.user.as_deref().is_none_or(|u| owner.user.as_str() == u)
                    && self.device.as_deref().is_none_or(|d| owner.device.as_str() == d)
            }
            (None, Some(user)) => self.user.as_deref().is_none_or(|u| user.as_str() == u),
            (None, None) => true,
        }
    }
}

pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let params = Params::new(query.as_deref())?;
    let filter = Filter::read(&params)?;
    let outputs = state
        .outputs
        .as_ref()
        .ok_or_else(|| ApiError::new(axum::http::StatusCode::NOT_IMPLEMENTED, "no live outputs"))?;
    let mut next_id = 0u64;
    let events = BroadcastStream::new(outputs.subscribe()).filter_map(move |item| {
        let event = match item {
            Ok(event) => {
                (filter.wants(&event) && allowed(&caller, &event)).then(|| sse_event(&event))
            }
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                Some(Event::default().event("lagged").data(missed.to_string()))
            }
        };
        let event = event.map(|event| {
            next_id += 1;
            Ok(event.id(next_id.to_string()))
        });
        std::future::ready(event)
    });
    let stopped = {
        let outputs = outputs.clone();
        async move { outputs.stopped().await }
    };
    Ok(Sse::new(events.take_until(stopped)).keep_alive(KeepAlive::default()))
}

fn allowed(caller: &Caller, event: &LiveEvent) -> bool {
    let now = pista_ingest::now();
    if event.kind == LiveKind::Fence {
        return crate::fences::may_see(caller, event.device.as_ref(), event.user.as_ref(), now);
    }
    match &event.device {
        Some(key) => caller.reads(key, now),
        None => caller.is_admin(),
    }
}

fn sse_event(event: &Arc<LiveEvent>) -> Event {
    // A line of data may not hold a newline; payloads here have none, but keep it safe.
    let data = event.text.replace(['\r', '\n'], " ");
    Event::default().event(event.kind.as_str()).data(data)
}
