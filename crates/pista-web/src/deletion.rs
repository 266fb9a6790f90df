//! Deletion and retention over HTTP. `DELETE /api/0/locations?user=U[&device=D]` with
//! `from`/`to` (fix times, inclusive, in the forms `GET /api/0/locations` reads) deletes a user's
//! or device's history in that range; with `all=true` instead it deletes everything of the user
//! or device, registry rows included. Neither is refused, so a missing parameter never deletes
//! everything. `GET /api/0/deletions[?limit=N]` reads the deletion log, newest first.
//! `GET /api/0/retention` lists the default and the rules with every device's effective days;
//! `PUT /api/0/retention` (`{"user", "device"?, "days"}`) sets a rule and
//! `DELETE /api/0/retention?user=U[&device=D]` removes one.
//! Users delete and set rules for their own data only (superusers for anyone's), and see the log
//! entries and rules of their own data.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use pista_core::time::{iso, parse_bound};
use pista_core::{DeviceName, UserName};
use pista_ingest::Retention;
use pista_store::{DeletedBy, Selector, Span, StoredDeletion, effective_days};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;

/// Most retention days a rule may keep (100 years); more is a typo.
const MAX_DAYS: u64 = 36_500;

/// Deletion log entries shown when no limit is given.
const DEFAULT_LOG: u64 = 100;

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::new(query.as_deref())?;
    let selector = selector(&params, &headers)?;
    caller.require_manage(&selector.user)?;
    let deleted = retention(&state)?.delete(&selector, DeletedBy::Api).await?;
    state.last.forget().await;
    let keys = |keys: &[pista_core::DeviceKey]| keys.iter().map(ToString::to_string).collect();
    let devices: Vec<String> = keys(&deleted.devices);
    let removed: Vec<String> = keys(&deleted.removed);
    Ok(Json(json!({
        "deleted": deleted.counts,
        "total": deleted.total(),
        "devices": devices,
        "removed": removed,
        "log": deleted.log_id,
    })))
}

/// The selector of a deletion request: a user, optionally a device, and a range or `all=true`.
fn selector(params: &Params, headers: &HeaderMap) -> Result<Selector, ApiError> {
    let (user, device) = params.user_device()?;
    let user = user.ok_or_else(|| ApiError::bad_request("user is required"))?;
    let bound = |name: &str| -> Result<Option<i64>, ApiError> {
        let text = params.limited(headers, name)?;
        text.map(|text| {
            parse_bound(text).map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
        })
        .transpose()
    };
    let (from, to) = (bound("from")?, bound("to")?);
    let all = match params.query("all") {
        None => false,
        Some(text) if text.eq_ignore_ascii_case("true") => true,
        Some(text) => return Err(ApiError::bad_request(format!("all {text:?} is not true"))),
    };
    let span = match (all, from, to) {
        (true, None, None) => Span::All,
        (true, _, _) => {
            return Err(ApiError::bad_request("give from/to or all=true, not both"));
        }
        (false, None, None) => {
            return Err(ApiError::bad_request(
                "give from and/or to (fix times) to delete a range, or all=true to delete \
                 everything of the user or device",
            ));
        }
        (false, Some(from), Some(to)) if from > to => {
            return Err(ApiError::bad_request(format!(
                "impossible range: from {} is after to {}",
                iso(from),
                iso(to)
            )));
        }
        (false, from, to) => Span::Range { from, to },
    };
    Ok(Selector { user, device, span })
}

pub async fn log(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::new(query.as_deref())?;
    let limit = match params.query("limit") {
        None => DEFAULT_LOG,
        Some(text) => match text.parse::<u64>() {
            Ok(limit) if (1..=100_000).contains(&limit) => limit,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "limit {text:?} is not a whole number from 1 to 100000"
                )));
            }
        },
    };
    let entries = retention(&state)?.store.deletions(limit).await?;
    let own = |entry: &&StoredDeletion| {
        caller.is_admin() || UserName::parse(&entry.user).is_ok_and(|user| caller.manages(&user))
    };
    Ok(Json(Value::Array(entries.iter().filter(own).map(deletion_json).collect())))
}

/// A deletion log entry as the API shows it.
pub fn deletion_json(entry: &StoredDeletion) -> Value {
    let mut item = Map::new();
    item.insert("id".into(), entry.id.into());
    item.insert("at".into(), iso(entry.at).into());
    item.insert("by".into(), entry.by.as_str().into());
    item.insert("user".into(), entry.user.clone().into());
    if let Some(device) = &entry.device {
        item.insert("device".into(), device.clone().into());
    }
    item.insert("everything".into(), entry.everything.into());
    if let Some(from) = entry.from {
        item.insert("from".into(), iso(from).into());
    }
    if let Some(to) = entry.to {
        item.insert("to".into(), iso(to).into());
    }
    item.insert("counts".into(), json!(entry.counts));
    item.insert("total".into(), entry.total.into());
    if let Some(error) = &entry.error {
        item.insert("error".into(), error.clone().into());
    }
    Value::Object(item)
}

pub async fn rules(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let retention = retention(&state)?;
    let default = retention.options.default_days;
    let rules = retention.store.retention_rules().await?;
    let devices = retention.store.known_devices().await?;
    let rules_json: Vec<Value> = rules
        .iter()
        .filter(|rule| caller.manages(&rule.user))
        .map(|rule| {
            let mut item = json!({"user": rule.user.to_string(), "days": rule.days,
                "updated": iso(rule.updated_at)});
            if let Some(device) = &rule.device {
                item["device"] = device.to_string().into();
            }
            item
        })
        .collect();
    let devices: Vec<Value> = devices
        .iter()
        .filter(|key| caller.manages(&key.user))
        .map(|key| {
            json!({"user": key.user.to_string(), "device": key.device.to_string(),
                "days": effective_days(&rules, key, default)})
        })
        .collect();
    Ok(Json(json!({"days": default, "rules": rules_json, "devices": devices})))
}

pub async fn set_rule(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let object: Map<String, Value> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not a JSON object: {e}")))?;
    let text = |name: &str| object.get(name).and_then(Value::as_str);
    let user = UserName::parse(text("user").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("user: {e}")))?;
    let device = text("device")
        .map(DeviceName::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("device: {e}")))?;
    caller.require_manage(&user)?;
    let days = match object.get("days").and_then(Value::as_u64) {
        Some(days) if days <= MAX_DAYS => days,
        _ => {
            let given = object.get("days").map_or_else(|| "nothing".to_owned(), Value::to_string);
            return Err(ApiError::bad_request(format!(
                "days {given} is not a whole number from 0 (keep everything) to {MAX_DAYS}"
            )));
        }
    };
    let store = &retention(&state)?.store;
    let replaced =
        store.set_retention_rule(&user, device.as_ref(), days, pista_ingest::now()).await?;
    Ok(Json(json!({"replaced": replaced})))
}

pub async fn remove_rule(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, ApiError> {
    let params = Params::new(query.as_deref())?;
    let (user, device) = params.user_device()?;
    let user = user.ok_or_else(|| ApiError::bad_request("user is required"))?;
    caller.require_manage(&user)?;
    if retention(&state)?.store.remove_retention_rule(&user, device.as_ref()).await? {
        return Ok(StatusCode::NO_CONTENT);
    }
    let owner = device.map_or_else(|| user.to_string(), |device| format!("{user}/{device}"));
    Err(ApiError::new(StatusCode::NOT_FOUND, format!("{owner} has no retention rule")))
}

fn retention(state: &AppState) -> Result<&Retention, ApiError> {
    state
        .retention
        .as_ref()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_IMPLEMENTED, "deletion is not available"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Selector, String> {
        let params = Params::new(Some(text)).map_err(|e| e.message)?;
        selector(&params, &HeaderMap::new()).map_err(|e| e.message)
    }

    #[test]
    fn a_deletion_names_a_range_or_everything() {
        let selector = parsed("user=Jane&device=phone&from=2023-11-14&to=2023-11-15").unwrap();
        assert_eq!(
            (selector.to_string(), selector.span),
            (
                "jane/phone, 2023-11-14T00:00:00Z to 2023-11-15T00:00:00Z".to_owned(),
                Span::Range { from: Some(1_699_920_000), to: Some(1_700_006_400) }
            )
        );
        let all = parsed("user=jane&all=true").unwrap();
        assert_eq!((all.device, all.span), (None, Span::All));
        let open = parsed("user=jane&to=1700000000").unwrap();
        assert_eq!(open.span, Span::Range { from: None, to: Some(1_700_000_000) });
    }

    #[test]
    fn unclear_deletions_are_refused_by_name() {
        let cases = [
            ("device=phone", "device needs user"),
            ("all=true", "user is required"),
            (
                "user=jane",
                "give from and/or to (fix times) to delete a range, or all=true to delete \
                 everything of the user or device",
            ),
            ("user=jane&all=yes", "all \"yes\" is not true"),
            ("user=jane&all=true&from=2023-01-01", "give from/to or all=true, not both"),
            (
                "user=jane&from=2023-11-15&to=2023-11-14",
                "impossible range: from 2023-11-15T00:00:00Z is after to 2023-11-14T00:00:00Z",
            ),
            (
                "user=jane&to=soon",
                "to: \"soon\" is not a time; use YYYY-MM-DDTHH:MM:SS (UTC), YYYY-MM-DD, \
                 YYYY-MM, an RFC 3339 time with offset, or epoch seconds",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parsed(text).unwrap_err(), want, "{text}");
        }
    }
}
