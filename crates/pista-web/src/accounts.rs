//! Accounts over HTTP. For everyone: `POST /api/0/login` (a JSON or form body with `user` and
//! `password`; sets the session cookie and answers the CSRF value), `POST /api/0/logout`,
//! `GET /api/0/me`, their own API tokens (`GET`/`POST /api/0/tokens`,
//! `DELETE /api/0/tokens/{id}`), their own password (`PUT /api/0/users/{name}/password` with
//! `current` and `password`) and the shares they give (`GET`/`POST /api/0/shares`,
//! `DELETE /api/0/shares/{id}`). For superusers: users (`GET`/`POST /api/0/users`,
//! `DELETE /api/0/users/{name}`), ACL entries (`GET`/`POST`/`DELETE /api/0/acls`), groups
//! (`GET`/`POST`/`DELETE /api/0/groups`) and everyone's shares. Every change reloads the rules
//! at once. Passwords and tokens appear only in the answer that creates them.

use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use pista_core::access::{Grantee, Share};
use pista_core::password;
use pista_core::time::parse_bound;
use pista_core::{DeviceName, GroupName, UserName};
use pista_ingest::{Guard, LoginError};
use pista_store::{Access, Account, Acl, PasswordHash, TokenKind};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::{Caller, ClientAddr, SESSION_COOKIE, csrf};
use crate::error::ApiError;
use crate::params::Params;

/// How long a browser session lasts.
const SESSION_LIFETIME: Duration = Duration::from_secs(14 * 24 * 3600);

fn guard(state: &AppState) -> Result<&Guard, ApiError> {
    state.guard.as_deref().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "accounts are off: the server runs with --auth off")
    })
}

/// The fields of a JSON object body (whatever its content type says: `curl -d` calls JSON a
/// form), or of a form body; a field not in `known` is refused by name.
pub(crate) fn fields(
    headers: &HeaderMap,
    body: &[u8],
    known: &[&str],
) -> Result<Map<String, Value>, ApiError> {
    let json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let form = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/x-www-form-urlencoded"));
    let fields = if form && !json {
        url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err(ApiError::bad_request("the body must be a JSON object")),
            Err(error) => {
                return Err(ApiError::bad_request(format!("the body is not JSON: {error}")));
            }
        }
    };
    if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
        // A body that carries a secret does not have its names repeated either: a bare secret
        // sent as a form (`curl -d 'hunter2'`) arrives as a field name.
        let named = match known.iter().any(|name| SECRET_FIELDS.contains(name)) {
            true => "an unknown field (its name is not repeated: the body carries a secret)".into(),
            false => format!("unknown field {unknown:?}"),
        };
        return Err(ApiError::bad_request(format!("{named}; known: {}", known.join(", "))));
    }
    Ok(fields)
}

/// Fields whose values are passwords or secrets: an error about one never shows its value.
const SECRET_FIELDS: [&str; 3] = ["password", "current", "secret"];

fn text<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str())),
        Some(_) if SECRET_FIELDS.contains(&name) => {
            Err(ApiError::bad_request(format!("{name} must be a string (its value is not shown)")))
        }
        Some(other) => Err(ApiError::bad_request(format!("{name} must be a string, not {other}"))),
    }
}

fn required<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str, ApiError> {
    text(fields, name)?.ok_or_else(|| ApiError::bad_request(format!("{name} is missing")))
}

fn flag(fields: &Map<String, Value>, name: &str) -> Result<bool, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(value)) => Ok(*value),
        Some(Value::String(value)) if value == "true" || value == "1" => Ok(true),
        Some(Value::String(value)) if value == "false" || value == "0" => Ok(false),
        Some(other) => {
            Err(ApiError::bad_request(format!("{name} must be true or false, not {other}")))
        }
    }
}

/// A whole number given as a number or as text (a form's fields are text).
fn number(value: &Value) -> Option<u64> {
    match value {
        Value::String(text) => text.trim().parse().ok(),
        other => other.as_u64(),
    }
}

fn user_name(raw: &str) -> Result<UserName, ApiError> {
    UserName::parse(raw).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn group_name(raw: &str) -> Result<GroupName, ApiError> {
    GroupName::parse(raw).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Refuses a user name no account has.
async fn existing(guard: &Guard, user: &UserName) -> Result<(), ApiError> {
    match guard.accounts().user(user).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no user {user}"))),
    }
}

async fn reload(guard: &Guard) -> Result<(), ApiError> {
    guard.reload().await.map_err(ApiError::from)
}

pub async fn login(
    State(state): State<AppState>,
    Extension(ClientAddr(from)): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let guard = guard(&state)?;
    let fields = fields(&headers, &body, &["user", "password"])?;
    let name = required(&fields, "user")?;
    let password = required(&fields, "password")?;
    let login = guard.login(name, password, from).await.map_err(|error| match error {
        LoginError::Refused => ApiError::new(StatusCode::UNAUTHORIZED, error.to_string()),
        LoginError::Throttled { retry_after } => ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: error.to_string(),
            retry_after: Some(u32::try_from(retry_after).unwrap_or(u32::MAX)),
        },
        LoginError::Store(error) => error.into(),
    })?;
    let (raw, _) = guard
        .new_token(&login.user, TokenKind::Session, "", Some(SESSION_LIFETIME))
        .await
        .map_err(token_error)?;
    let cookie = format!(
        "{SESSION_COOKIE}={raw}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_LIFETIME.as_secs()
    );
    let body =
        json!({"user": login.user.as_str(), "superuser": login.superuser, "csrf": csrf(&raw)});
    let mut response = Json(body).into_response();
    let cookie = HeaderValue::from_str(&cookie)
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "session cookie"))?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

fn token_error(error: pista_ingest::NewTokenError) -> ApiError {
    match error {
        pista_ingest::NewTokenError::Store(error) => error.into(),
        pista_ingest::NewTokenError::Invalid(error) => ApiError::bad_request(error.to_string()),
        pista_ingest::NewTokenError::Random(reason) => {
            tracing::error!(reason, "no random bytes for a token");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "cannot make a token")
        }
    }
}

pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let guard = guard(&state)?;
    if let Some(session) = caller.session()
        && let Some(token) = guard.accounts().token(&pista_ingest::digest(session)).await?
    {
        guard.accounts().remove_token(token.id).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

pub async fn me(caller: Caller) -> Json<Value> {
    let mut answer = json!({
        "user": caller.user().map(UserName::as_str),
        "superuser": caller.is_admin(),
    });
    if let Some(session) = caller.session() {
        answer["csrf"] = json!(csrf(session));
    }
    Json(answer)
}

fn me_or_refused(caller: &Caller) -> Result<UserName, ApiError> {
    caller.user().cloned().ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "log in first"))
}

pub async fn tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let guard = guard(&state)?;
    let user = me_or_refused(&caller)?;
    let tokens = guard.accounts().tokens(&user, TokenKind::Api).await?;
    let list = tokens
        .iter()
        .map(|t| json!({"id": t.id, "label": t.label, "created_at": t.created_at, "expires_at": t.expires_at}))
        .collect();
    Ok(Json(Value::Array(list)))
}

pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let guard = guard(&state)?;
    let user = me_or_refused(&caller)?;
    let fields = fields(&headers, &body, &["label", "days"])?;
    let label = text(&fields, "label")?.unwrap_or_default();
    let lifetime = match fields.get("days") {
        None | Some(Value::Null) => None,
        Some(days) => match number(days).filter(|d| (1..=3650).contains(d)) {
            Some(days) => Some(Duration::from_secs(days * 86_400)),
            None => {
                return Err(ApiError::bad_request(format!(
                    "days must be a whole number from 1 to 3650, not {days}"
                )));
            }
        },
    };
    let (raw, token) =
        guard.new_token(&user, TokenKind::Api, label, lifetime).await.map_err(token_error)?;
    let answer =
        json!({"id": token.id, "token": raw, "label": token.label, "expires_at": token.expires_at});
    Ok((StatusCode::CREATED, Json(answer)))
}

pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let guard = guard(&state)?;
    let user = me_or_refused(&caller)?;
    let own = guard.accounts().tokens(&user, TokenKind::Api).await?.iter().any(|t| t.id == id);
    if !own {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("you have no token {id}")));
    }
    guard.accounts().remove_token(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn users(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let guard = guard(&state)?;
    caller.require_admin("list users")?;
    let list = guard
        .accounts()
        .accounts()
        .await?
        .iter()
        .map(|a| {
            json!({
                "name": a.name.as_str(),
                "superuser": a.superuser,
                "created_at": a.created_at,
                "password_form": password::form(a.password.as_str()),
            })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let guard = guard(&state)?;
    caller.require_admin("add users")?;
    let fields = fields(&headers, &body, &["name", "password", "superuser"])?;
    let name = user_name(required(&fields, "name")?)?;
    let superuser = flag(&fields, "superuser")?;
    let (plain, generated) = match text(&fields, "password")? {
        Some(given) => (given.to_owned(), false),
        None => (password::generate().map_err(password_error)?, true),
    };
    let hash = hash(plain.clone()).await?;
    let account =
        Account { name: name.clone(), password: hash, superuser, created_at: pista_ingest::now() };
    if !guard.accounts().add_user(&account).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("user {name} exists")));
    }
    reload(guard).await?;
    let mut answer = json!({"name": name.as_str(), "superuser": superuser});
    if generated {
        answer["password"] = json!(plain);
    }
    Ok((StatusCode::CREATED, Json(answer)))
}

fn password_error(error: password::PasswordError) -> ApiError {
    match error {
        password::PasswordError::Empty => ApiError::bad_request(error.to_string()),
        other => {
            tracing::error!(error = %other, "password hashing failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "cannot hash the password")
        }
    }
}

async fn hash(plain: String) -> Result<PasswordHash, ApiError> {
    let hashed = tokio::task::spawn_blocking(move || password::hash(&plain))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "cannot hash the password"))?
        .map_err(password_error)?;
    PasswordHash::new(&hashed).map_err(|e| ApiError::bad_request(e.to_string()))
}

pub async fn remove_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let guard = guard(&state)?;
    caller.require_admin("remove users")?;
    let name = user_name(&name)?;
    if caller.user() == Some(&name) {
        return Err(ApiError::new(StatusCode::CONFLICT, "you cannot remove yourself"));
    }
    if !guard.accounts().remove_user(&name).await? {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no user {name}")));
    }
    reload(guard).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn set_password(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ClientAddr(from)): Extension<ClientAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let guard = guard(&state)?;
    let name = user_name(&name)?;
    let fields = fields(&headers, &body, &["current", "password"])?;
    let new = required(&fields, "password")?;
    if caller.user() == Some(&name) && !caller.is_admin() {
        // A stolen session alone must not be enough to take the account over.
        let current = required(&fields, "current")?;
        guard.login(name.as_str(), current, from).await.map_err(|error| match error {
            LoginError::Store(error) => error.into(),
            other => ApiError::new(StatusCode::FORBIDDEN, format!("current password: {other}")),
        })?;
    } else {
        caller.require_admin(&format!("change the password of user {name}"))?;
    }
    let hash = hash(new.to_owned()).await?;
    if !guard.accounts().set_password(&name, &hash).await? {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no user {name}")));
    }
    // Whoever had the old password may have a session: it ends, except the one changing it.
    let keep = caller.session().filter(|_| caller.user() == Some(&name)).map(pista_ingest::digest);
    let ended = guard.accounts().end_sessions(&name, keep.as_deref()).await?;
    tracing::info!(user = %name, sessions_ended = ended, "password changed");
    reload(guard).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn acls(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let guard = guard(&state)?;
    caller.require_admin("list acl entries")?;
    let params = Params::new(query.as_deref())?;
    let user = params.query("user").map(user_name).transpose()?;
    let list = guard
        .accounts()
        .acls(user.as_ref())
        .await?
        .iter()
        .map(|a| json!({"user": a.user.as_str(), "topic": a.topic, "write": a.access == Access::ReadWrite}))
        .collect();
    Ok(Json(Value::Array(list)))
}

pub async fn add_acl(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let guard = guard(&state)?;
    caller.require_admin("add acl entries")?;
    let fields = fields(&headers, &body, &["user", "topic", "write"])?;
    let user = user_name(required(&fields, "user")?)?;
    let access = if flag(&fields, "write")? { Access::ReadWrite } else { Access::Read };
    let acl = Acl::new(user.clone(), required(&fields, "topic")?, access)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    existing(guard, &user).await?;
    if !guard.accounts().add_acl(&acl).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("user {user} has an entry for {:?}", acl.topic),
        ));
    }
    reload(guard).await?;
    let answer =
        json!({"user": user.as_str(), "topic": acl.topic, "write": access == Access::ReadWrite});
    Ok((StatusCode::CREATED, Json(answer)))
}

pub async fn remove_acl(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, ApiError> {
    let guard = guard(&state)?;
    caller.require_admin("remove acl entries")?;
    let params = Params::new(query.as_deref())?;
    let user =
        user_name(params.query("user").ok_or_else(|| ApiError::bad_request("user is missing"))?)?;
    let topic = params.query("topic").ok_or_else(|| ApiError::bad_request("topic is missing"))?;
    if !guard.accounts().remove_acl(&user, topic).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("user {user} has no entry for {topic:?}"),
        ));
    }
    reload(guard).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn groups(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let guard = guard(&state)?;
    caller.require_admin("list groups")?;
    let mut groups = Map::new();
    for (group, user) in guard.accounts().members().await? {
        let members = groups.entry(group.as_str()).or_insert_with(|| json!([]));
        if let Value::Array(members) = members {
            members.push(json!(user.as_str()));
        }
    }
    Ok(Json(Value::Object(groups)))
}

pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let guard = guard(&state)?;
    caller.require_admin("change groups")?;
    let fields = fields(&headers, &body, &["group", "user"])?;
    let group = group_name(required(&fields, "group")?)?;
    let user = user_name(required(&fields, "user")?)?;
    existing(guard, &user).await?;
    guard.accounts().add_member(&group, &user).await?;
    reload(guard).await?;
    Ok((StatusCode::CREATED, Json(json!({"group": group.as_str(), "user": user.as_str()}))))
}

pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, ApiError> {
    let guard = guard(&state)?;
    caller.require_admin("change groups")?;
    let params = Params::new(query.as_deref())?;
    let group = group_name(
        params.query("group").ok_or_else(|| ApiError::bad_request("group is missing"))?,
    )?;
    let user = params.query("user").map(user_name).transpose()?;
    if guard.accounts().remove_members(&group, user.as_ref()).await? == 0 {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("group {group} has no such member"),
        ));
    }
    reload(guard).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A share as the API shows it.
pub fn share_json(share: &Share) -> Value {
    let (kind, to) = match &share.to {
        Grantee::User(user) => ("user", user.as_str()),
        Grantee::Group(group) => ("group", group.as_str()),
    };
    json!({
        "id": share.id,
        "owner": share.owner.as_str(),
        "device": share.device.as_ref().map(DeviceName::as_str),
        kind: to,
        "until": share.until,
        "created_at": share.created_at,
    })
}

pub async fn shares(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let guard = guard(&state)?;
    let owner = if caller.is_admin() { None } else { Some(me_or_refused(&caller)?) };
    let shares = guard.accounts().shares(owner.as_ref()).await?;
    Ok(Json(Value::Array(shares.iter().map(share_json).collect())))
}

pub async fn add_share(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let guard = guard(&state)?;
    let fields = fields(&headers, &body, &["owner", "device", "user", "group", "until"])?;
    let owner = match text(&fields, "owner")? {
        Some(owner) => user_name(owner)?,
        None => me_or_refused(&caller)?,
    };
    caller.require_manage(&owner)?;
    let device = text(&fields, "device")?
        .map(|d| DeviceName::parse(d).map_err(|e| ApiError::bad_request(e.to_string())))
        .transpose()?;
    let to = match (text(&fields, "user")?, text(&fields, "group")?) {
        (Some(user), None) => {
            let user = user_name(user)?;
            existing(guard, &user).await?;
            Grantee::User(user)
        }
        (None, Some(group)) => {
            let group = group_name(group)?;
            let members = guard.accounts().members().await?;
            if !members.iter().any(|(g, _)| *g == group) {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("there is no group {group} (a group exists while it has members)"),
                ));
            }
            Grantee::Group(group)
        }
        _ => return Err(ApiError::bad_request("give either user or group to share with")),
    };
    if to == Grantee::User(owner.clone()) {
        return Err(ApiError::bad_request("a user sees their own devices already"));
    }
    let now = pista_ingest::now();
    let until = match fields.get("until") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(text)) => {
            Some(parse_bound(text).map_err(|e| ApiError::bad_request(format!("until: {e}")))?)
        }
        Some(other) => return Err(ApiError::bad_request(format!("until {other} is not a time"))),
    };
    if until.is_some_and(|until| until <= now) {
        return Err(ApiError::bad_request("until is in the past"));
    }
    let mut share = Share { id: 0, owner, device, to, until, created_at: now };
    share.id = guard.accounts().add_share(&share).await?;
    reload(guard).await?;
    Ok((StatusCode::CREATED, Json(share_json(&share))))
}

pub async fn remove_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let guard = guard(&state)?;
    let share = guard.accounts().shares(None).await?.into_iter().find(|s| s.id == id);
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, format!("no share {id}"));
    let share = share.ok_or_else(not_found)?;
    if caller.require_manage(&share.owner).is_err() {
        // Someone else's share is not shown to exist.
        return Err(not_found());
    }
    guard.accounts().remove_share(id).await?;
    reload(guard).await?;
    Ok(StatusCode::NO_CONTENT)
}
