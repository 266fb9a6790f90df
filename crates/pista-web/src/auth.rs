//! Who is asking, for every request. A middleware in front of every route reads the
//! credentials — HTTP Basic (apps and scripts; an API token may stand in for the password), a
//! `Bearer` API token, or the browser's `pista_session` cookie — checks them through the
//! [`Guard`], and hands the handlers a [`Caller`] that answers the access questions by the one
//! rule set. Without credentials the answer is `401` with a Basic challenge; wrong ones are
//! `401` too (the same answer for an unknown user), too many failures `429` with
//! `Retry-After`; a request from the web UI (`X-Requested-With`, or the session cookie) is
//! refused without the challenge, so the browser shows the UI's login page instead of its own
//! dialog. A request made with the session cookie that changes anything must carry the
//! session's CSRF value in `X-CSRF-Token` (the cookie is also `SameSite=Strict`). Only
//! `/api/0/version`, the login itself and ctrld (whose app sends its credentials in the form;
//! ctrld checks them itself) are open. With authentication off (an explicit
//! setting) every caller may do everything.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pista_core::{DeviceKey, DeviceName, UserName};
use pista_ingest::{Guard, Login, LoginError};
use pista_store::TokenKind;

use crate::error::ApiError;

/// The browser session's cookie.
pub const SESSION_COOKIE: &str = "pista_session";

/// The header that carries the session's CSRF value.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Sent by the UI's pages with every call: a refusal then comes without a Basic challenge.
pub const REQUESTED_WITH: &str = "x-requested-with";

/// Paths answered without credentials.
const OPEN: &[&str] = &["/api/0/version", "/api/0/login"];

/// The address a request came from (unspecified when the server was not told).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// The caller of one request and the rules as they were when it came.
#[derive(Clone)]
pub struct Caller {
    who: Who,
}

#[derive(Clone)]
enum Who {
    /// Authentication is off.
    Anyone,
    /// Nobody logged in, on an open path.
    Nobody,
    /// The rules are read from the guard at each question, so that a long stream follows
    /// changes to them.
    User { login: Login, guard: Arc<Guard>, session: Option<String> },
}

impl Caller {
    /// A caller who may do everything (authentication off; tests of one handler).
    pub fn anyone() -> Self {
        Self { who: Who::Anyone }
    }

    /// The logged-in user; `None` with authentication off or on an open path.
    pub fn user(&self) -> Option<&UserName> {
        match &self.who {
            Who::User { login, .. } => Some(&login.user),
            _ => None,
        }
    }

    /// Whether the caller may do everything: a superuser, or anyone with authentication off.
    pub fn is_admin(&self) -> bool {
        match &self.who {
            Who::Anyone => true,
            Who::Nobody => false,
            Who::User { login, guard, .. } => {
                guard.book().viewer(&login.user, None).is_some_and(|v| v.superuser())
            }
        }
    }

    /// The browser session's raw token, when the caller came with the cookie.
    pub fn session(&self) -> Option<&str> {
        match &self.who {
            Who::User { session, .. } => session.as_deref(),
            _ => None,
        }
    }

    fn check(&self, rule: impl FnOnce(&pista_core::access::Viewer<'_>) -> bool) -> bool {
        match &self.who {
            Who::Anyone => true,
            Who::Nobody => false,
            Who::User { login, guard, .. } => {
                guard.book().viewer(&login.user, None).is_some_and(|v| rule(&v))
            }
        }
    }

    /// The devices shared with the caller at `now` (an owner with a device, or all of theirs).
    pub fn shared_with_me(&self, now: i64) -> Vec<(UserName, Option<DeviceName>)> {
        match &self.who {
            Who::User { login, guard, .. } => guard
                .book()
                .viewer(&login.user, None)
                .map(|v| v.shared_with_me(now))
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Whether the caller may see the device's data at `now`.
    pub fn reads(&self, key: &DeviceKey, now: i64) -> bool {
        self.check(|viewer| viewer.reads_device(key, now))
    }

    /// Whether the caller may receive a message on `topic` at `now`.
    pub fn reads_topic(&self, topic: &str, now: i64) -> bool {
        self.check(|viewer| viewer.reads_topic(topic, now))
    }

    /// Whether the caller may publish on `topic`.
    pub fn writes_topic(&self, topic: &str) -> bool {
        self.check(|viewer| viewer.writes_topic(topic))
    }

    /// Refuses unless the caller may see the device.
    pub fn require_read(&self, key: &DeviceKey, now: i64) -> Result<(), ApiError> {
        if self.reads(key, now) {
            return Ok(());
        }
        Err(self.forbidden(&format!("see device {key}")))
    }

    /// Whether the caller may change `user`'s data (is that user, or a superuser).
    pub fn manages(&self, user: &UserName) -> bool {
        self.check(|viewer| viewer.manages(user))
    }

    /// Refuses unless the caller may change `user`'s data.
    pub fn require_manage(&self, user: &UserName) -> Result<(), ApiError> {
        if self.manages(user) {
            return Ok(());
        }
        Err(self.forbidden(&format!("change the data of user {user}")))
    }

    /// The device a route's path names (`/{user}/{device}`), if the caller may change its
    /// settings (its owner or a superuser); a bad name is refused by what is wrong with it.
    pub fn managed_device(&self, user: &str, device: &str) -> Result<DeviceKey, ApiError> {
        let key =
            DeviceKey::parse(user, device).map_err(|e| ApiError::bad_request(e.to_string()))?;
        self.require_manage(&key.user)?;
        Ok(key)
    }

    /// Refuses unless the caller may send the device a command.
    pub fn require_command(&self, key: &DeviceKey) -> Result<(), ApiError> {
        if self.check(|viewer| viewer.commands_device(key)) {
            return Ok(());
        }
        Err(self.forbidden(&format!("send commands to device {key}")))
    }

    /// Refuses unless the caller is a superuser (or authentication is off).
    pub fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        if self.is_admin() {
            return Ok(());
        }
        Err(self.forbidden(what))
    }

    fn forbidden(&self, what: &str) -> ApiError {
        let who = self.user().map_or_else(|| "nobody".to_owned(), |u| format!("user {u}"));
        ApiError::new(StatusCode::FORBIDDEN, format!("{who} may not {what}"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The middleware puts one in every request; a request that got past it without one is
        // refused rather than let through.
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "request was not authenticated")
        })
    }
}

/// The middleware: authenticates the request and puts its [`Caller`] into it.
/// It is given the guard alone: the whole [`crate::AppState`] would be copied for every request.
pub async fn authenticate(
    State(guard): State<Option<Arc<Guard>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let from = request
        .extensions()
        .get::<ConnectInfo<crate::tls::Peer>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.0.ip());
    request.extensions_mut().insert(ClientAddr(from));
    let Some(guard) = guard else {
        request.extensions_mut().insert(Caller::anyone());
        return next.run(request).await;
    };
    // The UI's pages log in with a form of their own: a browser that is shown a Basic
    // challenge opens its login dialog over them, so they are refused without one.
    let form_page = request.headers().contains_key(REQUESTED_WITH)
        || cookie(request.headers(), SESSION_COOKIE).is_some();
    let path = request.uri().path();
    // A view asks for its own login, when it has one.
    let open = OPEN.contains(&path) || path.starts_with("/view/");
    // ctrld takes credentials in its form too; Basic ones, when given, must be right.
    let form_login = path.starts_with("/ctrld/");
    let caller = match identify(&guard, request.headers(), request.method(), from).await {
        Ok(Some((login, session))) => {
            Caller { who: Who::User { login, guard: guard.clone(), session } }
        }
        Ok(None) if open || form_login => Caller { who: Who::Nobody },
        Ok(None) => {
            let refusal =
                challenge("log in: give a user name and password (HTTP Basic) or a token");
            return without_challenge(refusal, form_page);
        }
        Err(refusal) if open => {
            tracing::debug!(status = %refusal.status(), "credentials refused on an open path");
            Caller { who: Who::Nobody }
        }
        Err(refusal) => return without_challenge(refusal, form_page),
    };
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Drops the Basic challenge from a refusal when `form_page` asked.
fn without_challenge(mut refusal: Response, form_page: bool) -> Response {
    if form_page {
        refusal.headers_mut().remove(header::WWW_AUTHENTICATE);
    }
    refusal
}

/// The credentials' user, and the session token when they came as the cookie; `None` without
/// credentials.
async fn identify(
    guard: &Guard,
    headers: &HeaderMap,
    method: &Method,
    from: IpAddr,
) -> Result<Option<(Login, Option<String>)>, Response> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value =
            value.to_str().map_err(|_| challenge("the Authorization header is not text"))?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let login = if scheme.eq_ignore_ascii_case("basic") {
            let (name, password) = basic(rest.trim()).ok_or_else(|| {
                challenge("the Basic credentials are not Base64 of UTF-8 user:password")
            })?;
            guard.login(&name, &password, from).await
        } else if scheme.eq_ignore_ascii_case("bearer") {
            match guard.token(rest.trim(), &[TokenKind::Api]).await {
                Ok(Some(login)) => Ok(login),
                Ok(None) => Err(LoginError::Refused),
                Err(error) => Err(LoginError::Store(error)),
            }
        } else {
            return Err(challenge(&format!(
                "authorization scheme {scheme:?} is not Basic or Bearer"
            )));
        };
        return login.map(|login| Some((login, None))).map_err(refused);
    }
    let Some(session) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
    let login = match guard.token(&session, &[TokenKind::Session]).await {
        Ok(Some(login)) => login,
        Ok(None) => return Err(challenge("the session has ended; log in again")),
        Err(error) => return Err(refused(LoginError::Store(error))),
    };
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        let problem = match sent {
            None => Some("a change made with the session cookie needs its X-CSRF-Token header"),
            Some(value) if value != csrf(&session) => {
                Some("the X-CSRF-Token header is not this session's (see /api/0/me)")
            }
            Some(_) => None,
        };
        if let Some(problem) = problem {
            return Err(ApiError::new(StatusCode::FORBIDDEN, problem).into_response());
        }
    }
    Ok(Some((login, Some(session))))
}

/// The CSRF value of a session: derived from its token, so nothing more is stored.
pub fn csrf(session: &str) -> String {
    pista_ingest::digest(&format!("csrf:{session}"))
}

fn basic(encoded: &str) -> Option<(String, String)> {
    let decoded = STANDARD.decode(encoded).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, password) = text.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

/// The value of one cookie.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|line| {
        line.split(';').find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name && !value.is_empty()).then(|| value.to_owned())
        })
    })
}

fn challenge(message: &str) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"pista\""));
    response
}

fn refused(error: LoginError) -> Response {
    match error {
        LoginError::Refused => challenge("the user name or password is wrong"),
        LoginError::Throttled { retry_after } => ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: error.to_string(),
            retry_after: Some(u32::try_from(retry_after).unwrap_or(u32::MAX)),
        }
        .into_response(),
        LoginError::Store(error) => ApiError::from(error).into_response(),
    }
}
