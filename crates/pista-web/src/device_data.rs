//! Pista's own read API for everything a device sends besides its track, each answered as a JSON
//! array in time order: `GET /api/0/messages?user=U&device=D[&type=T][&from=..&to=..]` (every
//! other message type, typed, with the client's original when it differed),
//! `/api/0/transitions[?from=..&to=..]`,
//! `/api/0/waypoints`, `/api/0/state` (liveness and Greenwich values), and, without parameters,
//! `/api/0/cards` and `/api/0/inventory` (Greenwich devices by IMEI, with their device's odometer
//! base). `from`/`to` take the same
//! forms as the Recorder API and bound the message's own time, or its arrival when it has none.
//! A device the caller may not see is refused (`403`); the lists hold only what they may see.

use axum::Json;
use axum::extract::{RawQuery, State};
use pista_core::time::{iso, parse_bound};
use pista_core::{DeviceKey, DeviceName, UserName};
use pista_store::{MessageQuery, Storage, StoredMessage};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;

/// The device asked for, if the caller may see it.
fn device(params: &Params, caller: &Caller) -> Result<DeviceKey, ApiError> {
    let key = match (params.query("user"), params.query("device")) {
        (Some(user), Some(device)) => DeviceKey::parse(user, device)
            .map_err(|error| ApiError::bad_request(error.to_string()))?,
        _ => return Err(ApiError::bad_request("user and device are required")),
    };
    caller.require_read(&key, pista_ingest::now())?;
    Ok(key)
}

fn bound(params: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .query(name)
        .map(|value| parse_bound(value).map_err(|error| ApiError::bad_request(error.to_string())))
        .transpose()
}

pub async fn messages(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::new(query.as_deref())?;
    let key = device(&params, &caller)?;
    let (from, to) = (bound(&params, "from")?, bound(&params, "to")?);
    let msg_type = params.query("type").map(str::to_owned);
    let stored = state.store.device_messages(&MessageQuery { key, msg_type, from, to }).await?;
    Ok(Json(Value::Array(stored.iter().map(describe).collect())))
}

fn describe(message: &StoredMessage) -> Value {
    let body = serde_json::from_str::<Value>(&message.payload).unwrap_or(Value::Null);
    let original = message.original.as_ref().map(|bytes| String::from_utf8_lossy(bytes));
    json!({
        "id": message.id,
        "type": message.msg_type,
        "topic": message.topic,
        "subtopic": message.subtopic,
        "tst": message.tst,
        "isorcv": iso(message.received_at),
        "source": message.source.as_str(),
        "retained": message.retained,
        "message": body,
        "original": original,
        "repairs": message.repairs,
    })
}

pub async fn transitions(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::new(query.as_deref())?;
    let key = device(&params, &caller)?;
    let (from, to) = (bound(&params, "from")?, bound(&params, "to")?);
    let items = state.store.transitions(&key).await?;
    Ok(Json(json!(
        items
            .iter()
            .filter(|t| from.is_none_or(|f| t.tst >= f) && to.is_none_or(|limit| t.tst <= limit))
            .map(|t| json!({"tst": t.tst, "wtst": t.wtst, "event": t.event, "desc": t.desc,
                "lat": t.lat, "lon": t.lon, "acc": t.acc, "t": t.trigger, "rid": t.rid,
                "isotst": iso(t.tst)}))
            .collect::<Vec<_>>()
    )))
}

pub async fn waypoints(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let key = device(&Params::new(query.as_deref())?, &caller)?;
    let items = state.store.waypoints(&key).await?;
    Ok(Json(json!(
        items
            .iter()
            .map(|w| json!({"tst": w.tst, "desc": w.desc, "lat": w.lat, "lon": w.lon,
                "rad": w.rad, "rid": w.rid, "updated": iso(w.updated_at)}))
            .collect::<Vec<_>>()
    )))
}

pub async fn state(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let key = device(&Params::new(query.as_deref())?, &caller)?;
    let Some(s) = state.store.device_state(&key).await? else {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!("device {key} has sent nothing"),
        ));
    };
    Ok(Json(json!({
        "user": key.user.as_str(), "device": key.device.as_str(),
        "first_seen": s.first_seen, "last_seen": s.last_seen, "online": s.online,
        "online_at": s.online_at, "info": s.info, "imei": s.imei, "vbatt": s.vbatt, "vext": s.vext,
    })))
}

pub async fn cards(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let items = state.store.cards(None).await?;
    let now = pista_ingest::now();
    let mut visible = Vec::new();
    for card in items {
        let Ok(user) = UserName::parse(&card.user) else { continue };
        let shown =
            match &card.device {
                Some(device) => DeviceName::parse(device)
                    .is_ok_and(|device| caller.reads(&DeviceKey { user, device }, now)),
                // A user's card goes with any device of theirs the caller may see.
                None => {
                    caller.is_admin()
                        || state.store.devices(&user).await?.into_iter().any(|device| {
                            caller.reads(&DeviceKey { user: user.clone(), device }, now)
                        })
                }
            };
        if shown {
            visible.push(card);
        }
    }
    Ok(Json(json!(
        visible
            .iter()
            .map(|c| json!({"user": c.user, "device": c.device, "name": c.name, "face": c.face,
                "tid": c.tid, "updated": iso(c.updated_at)}))
            .collect::<Vec<_>>()
    )))
}

pub async fn inventory(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let store: &dyn Storage = state.store.as_ref();
    let items = store.inventory().await?;
    let now = pista_ingest::now();
    Ok(Json(json!(
        items
            .iter()
            .filter(|i| caller.reads(&i.key, now))
            .map(|i| json!({"imei": i.imei, "user": i.key.user.as_str(),
                "device": i.key.device.as_str(), "version": i.version, "startup": i.startup,
                "vbatt": i.vbatt, "vext": i.vext, "odo": i.odo, "updated": iso(i.updated_at)}))
            .collect::<Vec<_>>()
    )))
}
