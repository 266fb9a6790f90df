//! The HTTP side of Pista: HTTP-mode ingest (`POST /pub`, the OwnTracks apps' alternative to
//! MQTT) and the OwnTracks Recorder's read API (`/api/0/...`), so the Recorder's clients work
//! against Pista. Handlers are thin: ingest goes through the shared pipeline, reads through the
//! storage interface, and every error leaves through one mapping (`error`).

mod accounts;
pub mod answer;
mod api;
pub mod auth;
mod commands;
pub mod ctrld;
mod deletion;
mod device_data;
mod error;
mod export;
mod fences;
mod job_control;
mod jobs;
pub mod last;
mod live;
mod map;
mod metrics;
mod monitor;
mod odometer;
mod params;
mod publish;
mod quarantine;
mod recorder_extras;
mod secrets;
pub mod tls;
mod tours;
mod track;
pub mod ui;
mod views;
mod webhooks;
mod ws;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::routing::{any, delete, get, post, put};
use pista_ingest::{
    CommandPublisher, Guard, Monitor, OutputsHandle, Pipeline, RedisCounters, Retention,
};
use pista_store::{DerivedStore, Storage};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

pub use api::live_item;
pub use error::ApiError;
pub use fences::fence_from_object;

/// What every handler can reach. Handlers get a copy per request, so every member is cheap to
/// copy: a flag, a number, or shared (`Arc`).
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Pipeline,
    pub store: Arc<dyn Storage>,
    /// Where commands are published over MQTT; `None` leaves them for HTTP mode only.
    pub commands: Option<CommandPublisher>,
    /// Fences, alerts and addresses; `None` when the server runs without them.
    pub derived: Option<Arc<dyn DerivedStore>>,
    /// The outputs stage, for live streams and fence changes.
    pub outputs: Option<OutputsHandle>,
    /// The Redis statistics' counters, when they run (for `/metrics`).
    pub redis: Option<Arc<RedisCounters>>,
    /// Answers o2smonitor commands, when the outputs stage runs.
    pub monitor: Option<Monitor>,
    /// Deletion, the deletion log and retention rules; `None` when the server runs without.
    pub retention: Option<Retention>,
    /// Logins and the access rules; `None` only when authentication is turned off.
    pub guard: Option<Arc<Guard>>,
    /// What ctrld says about this server (broker ports, CA certificate).
    pub ctrld: Option<Arc<ctrld::CtrldConfig>>,
    /// Whether this router answers on HTTPS (for the addresses ctrld hands out).
    pub https: bool,
    /// Geohash length of the address cache's cells (for `/api/0/q`).
    pub geo_precision: usize,
    /// Where the Recorder's view definitions are, when views are on.
    pub views_dir: Option<Arc<std::path::Path>>,
    /// Other origins whose pages may open the live socket (`http.cors_origins`, listed ones).
    pub socket_origins: Arc<Vec<String>>,
    /// Every device's newest location, in memory (`/api/0/last`, `LAST`).
    pub last: Arc<last::LastLocations>,
}

/// HTTP settings.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Largest accepted request body in bytes.
    pub max_body: usize,
    /// Which other origins' pages may call the API from a browser.
    pub cors: Cors,
    /// A directory of static files (such as the OwnTracks Frontend) and the path it is served at.
    pub static_files: Option<StaticFiles>,
    /// The web UI's settings.
    pub ui: ui::UiConfig,
}

/// Cross-origin requests from browsers (CORS).
#[derive(Debug, Clone, Default)]
pub enum Cors {
    /// None: pages of other origins cannot read answers (the default).
    #[default]
    Off,
    /// Pages of any origin, without credentials (no cookies, no stored Basic logins).
    AnyOrigin,
    /// Pages of these origins (`https://map.example.org`), with credentials.
    Origins(Vec<axum::http::HeaderValue>),
}

/// Static files served without a login: they hold no data, and the data they ask for does.
#[derive(Debug, Clone)]
pub struct StaticFiles {
    /// The URL path they are served at: `/`, or a prefix such as `/frontend`.
    pub path: String,
    pub dir: std::path::PathBuf,
}

/// The route table.
pub fn router(state: AppState, config: WebConfig) -> Router {
    let routes = Router::new()
        .route("/pub", post(publish::publish))
        .route("/metrics", get(metrics::scrape))
        .route("/api/0/version", get(api::version))
        .route("/api/0/list", get(api::list))
        .route("/api/0/last", get(api::last))
        .route("/api/0/locations", get(api::locations).delete(deletion::delete))
        .route("/api/0/export", get(export::export))
        .route("/api/0/track", get(track::track))
        .route("/api/0/deletions", get(deletion::log))
        .route(
            "/api/0/retention",
            get(deletion::rules).put(deletion::set_rule).delete(deletion::remove_rule),
        )
        .route("/api/0/cmd", post(commands::send).get(commands::list))
        .route("/api/0/quarantine", get(quarantine::list))
        .route("/api/0/messages", get(device_data::messages))
        .route("/api/0/transitions", get(device_data::transitions))
        .route("/api/0/waypoints", get(device_data::waypoints))
        .route("/api/0/state", get(device_data::state))
        .route("/api/0/cards", get(device_data::cards))
        .route("/api/0/inventory", get(device_data::inventory))
        .route("/api/0/odometer/{user}/{device}", put(odometer::set).delete(odometer::clear))
        .route("/api/0/quarantine/replay", post(quarantine::replay))
        .route("/api/0/fences", get(fences::list).post(fences::create))
        .route("/api/0/fences/{id}", put(fences::replace).delete(fences::remove))
        .route("/api/0/alerts", get(fences::alerts))
        .route("/api/0/webhooks", get(webhooks::list))
        .route("/api/0/jobs", get(jobs::list))
        .route("/api/0/jobs/names", get(job_control::names))
        .route("/api/0/jobs/{user}/{device}/active", put(job_control::set_active))
        .route("/api/0/jobs/{user}/{device}/names/{job}", put(job_control::rename))
        .route("/api/0/map", get(map::list))
        .route("/api/0/monitor", get(monitor::last_received).post(monitor::command))
        .route("/api/0/live", get(live::stream))
        .route("/api/0/login", post(accounts::login))
        .route("/api/0/logout", post(accounts::logout))
        .route("/api/0/me", get(accounts::me))
        .route("/api/0/tokens", get(accounts::tokens).post(accounts::create_token))
        .route("/api/0/tokens/{id}", delete(accounts::revoke_token))
        .route("/api/0/users", get(accounts::users).post(accounts::create_user))
        .route("/api/0/users/{name}", delete(accounts::remove_user))
        .route("/api/0/users/{name}/password", put(accounts::set_password))
        .route(
            "/api/0/acls",
            get(accounts::acls).post(accounts::add_acl).delete(accounts::remove_acl),
        )
        .route(
            "/api/0/groups",
            get(accounts::groups).post(accounts::add_member).delete(accounts::remove_member),
        )
        .route("/api/0/shares", get(accounts::shares).post(accounts::add_share))
        .route("/api/0/shares/{id}", delete(accounts::remove_share))
        .route("/api/0/secrets", get(secrets::list))
        .route("/api/0/secrets/{user}/{device}", put(secrets::set).delete(secrets::remove))
        .route("/ctrld/conf", post(ctrld::conf).get(ctrld::conf))
        .route("/ctrld/cacert.pem", get(ctrld::cacert))
        .route("/ctrld/tracks/{user}", post(ctrld::tracks))
        .route("/api/0/q", get(recorder_extras::q))
        .route("/api/0/photo", get(recorder_extras::photo))
        .route("/api/0/photo/", get(recorder_extras::photo))
        .route(
            "/api/0/kill",
            get(recorder_extras::kill).post(recorder_extras::kill).delete(recorder_extras::kill),
        )
        .route("/view/{name}", get(views::view))
        .route("/ws/last", get(ws::last))
        .route("/ws", get(ws::last))
        .route("/api/0/{*verb}", any(api::unknown))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(state.guard.clone(), auth::authenticate))
        .layer(DefaultBodyLimit::max(config.max_body))
        .layer(CatchPanicLayer::custom(error::panicked))
        .with_state(state);
    // Static files are looked for first at `/` (a missing file falls through to the routes),
    // or under their prefix.
    // The UI's routes come first: the static directory cannot hide them. `/` goes to the UI
    // unless the static directory is served there.
    let root_free = config.static_files.as_ref().is_none_or(|files| files.path != "/");
    let ui = ui::routes(config.ui, root_free);
    let app = match config.static_files {
        None => ui.fallback_service(routes),
        Some(files) => {
            // What the files may not lead to is checked against the directory's real path.
            let root = std::fs::canonicalize(&files.dir).unwrap_or_else(|_| files.dir.clone());
            let prefix = files.path.trim_end_matches('/').to_owned();
            let app = if files.path == "/" {
                ui.fallback_service(
                    ServeDir::new(&root).call_fallback_on_method_not_allowed(true).fallback(routes),
                )
            } else {
                ui.nest_service(&prefix, ServeDir::new(&root)).fallback_service(routes)
            };
            app.layer(axum::middleware::from_fn(move |request, next| {
                let (root, prefix) = (root.clone(), prefix.clone());
                async move { static_guard(&root, &prefix, request, next).await }
            }))
        }
    };
    // The error shaping wraps the whole router so that it also sees the `Allow` header axum
    // adds to its own 405 answers; CORS answers preflights before any login is asked for.
    let app = app
        .layer(axum::middleware::from_fn(recorder_extras::form_as_query))
        .layer(axum::middleware::from_fn(error::json_errors));
    let app = match config.cors {
        Cors::Off => app,
        cors => app.layer(cors_layer(cors)),
    };
    app.layer(TraceLayer::new_for_http())
}

/// Refuses static paths with a hidden part (`.git`, `.env`) or that lead outside the
/// directory through a symbolic link; everything else goes on.
async fn static_guard(
    root: &std::path::Path,
    prefix: &str,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let safe = matches!(*request.method(), axum::http::Method::GET | axum::http::Method::HEAD);
    let path = request.uri().path();
    // `/map` itself goes to `/map/`, so that the page's relative links work.
    if safe && !prefix.is_empty() && path == prefix {
        return axum::response::Redirect::permanent(&format!("{prefix}/")).into_response();
    }
    let Some(relative) = path.strip_prefix(prefix).filter(|_| safe) else {
        return next.run(request).await;
    };
    let decoded = percent_encoding::percent_decode_str(relative).decode_utf8_lossy();
    let parts: Vec<&str> = decoded.split('/').filter(|p| !p.is_empty()).collect();
    let hidden = parts.iter().any(|part| part.starts_with('.'));
    let outside =
        match tokio::fs::canonicalize(parts.iter().fold(root.to_owned(), |p, s| p.join(s))).await {
            Ok(real) => !real.starts_with(root),
            Err(_) => false,
        };
    if hidden || outside {
        return error::not_found(request.uri().clone()).await.into_response();
    }
    next.run(request).await
}

/// The CORS answers: the origin echoed (never `*` with credentials), preflights answered with
/// the asked methods and headers, for ten minutes.
fn cors_layer(cors: Cors) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([header::CONTENT_DISPOSITION, header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(600));
    match cors {
        Cors::Origins(origins) => {
            layer.allow_origin(AllowOrigin::list(origins)).allow_credentials(true)
        }
        Cors::AnyOrigin | Cors::Off => layer.allow_origin(AllowOrigin::any()),
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes open requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer's address is the key that failed logins are throttled by.
    let service = router.into_make_service_with_connect_info::<tls::Peer>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await
}

/// Serves `router` over TLS on `listener` until `shutdown` completes.
pub async fn serve_tls(
    listener: tls::TlsListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = router.into_make_service_with_connect_info::<tls::Peer>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await
}
