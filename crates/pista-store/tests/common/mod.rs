//! The storage backends the suites run against: SQLite in a temporary directory, and a fresh
//! database of its own on the PostgreSQL and the MySQL/MariaDB server of the machine
//! (`PISTA_TEST_PG_URL`, `PISTA_TEST_MYSQL_URL`: a URL of a database the test user may create
//! databases from; defaults are the local servers). Each case gets its own database, dropped
//! when the case ends. [`backends!`] turns a list of cases into one test per case and backend.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use pista_core::{DeviceKey, Location, Replay, Source};
use pista_store::{NewBody, NewMessage, SqlStore};
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;

pub fn key(user: &str, device: &str) -> DeviceKey {
    DeviceKey::parse(user, device).expect("a valid device key")
}

/// A location message of `key` as the decoder hands it to storage.
pub fn location(key: &DeviceKey, json: Value, received_at: i64) -> NewMessage {
    let Value::Object(object) = json else { panic!("object expected") };
    let location = Location::from_json(object, || key.device.default_tid()).expect("a location");
    let payload = serde_json::to_string(&location.json).expect("JSON");
    NewMessage {
        key: Some(key.clone()),
        topic: format!("owntracks/{}/{}", key.user, key.device),
        subtopic: None,
        source: Source::Http,
        retained: false,
        replay: Replay::Fresh,
        received_at,
        body: NewBody::Location { location: Box::new(location), payload, original: None },
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

/// A store for one case, and what to clean up after it.
pub struct TestStore {
    pub store: SqlStore,
    /// Where the store is, for opening a second one on it (another worker or process).
    pub url: String,
    _dir: tempfile::TempDir,
    /// The server database to drop: (admin URL, name).
    server: Option<(String, String)>,
}

impl TestStore {
    /// Closes the store and drops its server database.
    pub async fn finish(self) {
        self.store.close().await;
        if let Some((admin, name)) = self.server {
            let force = if admin.starts_with("postgres") { " WITH (FORCE)" } else { "" };
            let admin = Database::connect(admin.as_str()).await.expect("admin connection");
            admin.execute_unprepared(&format!("DROP DATABASE {name}{force}")).await.expect("drop");
        }
    }
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

/// A database name no other test or run uses.
fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("pista_t{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Replaces the database of `url` (its path) with `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("a server URL with a database");
    let query = url.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    format!("{base}/{name}{query}")
}

pub async fn open(backend: Backend) -> TestStore {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (url, server) = match backend {
        Backend::Sqlite => (format!("sqlite://{}/sub/pista.db", dir.path().display()), None),
        Backend::Postgres | Backend::Mysql => {
            let (var, default, create) = match backend {
                Backend::Postgres => {
                    ("PISTA_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres", "")
                }
                _ => (
                    "PISTA_TEST_MYSQL_URL",
                    "mysql://root@127.0.0.1:3306/test",
                    " CHARACTER SET utf8mb4",
                ),
            };
            let admin = env_or(var, default);
            let name = unique_name();
            let connection = Database::connect(admin.as_str()).await.expect("admin connection");
            connection
                .execute_unprepared(&format!("CREATE DATABASE {name}{create}"))
                .await
                .expect("create the test database");
            (with_database(&admin, &name), Some((admin, name)))
        }
    };
    let store = SqlStore::open(&url).await.expect("open the test store");
    TestStore { store, url, _dir: dir, server }
}

/// One test per case and backend: `backends!(case_a, case_b)` runs `case_a(store)` on SQLite,
/// PostgreSQL and MySQL/MariaDB, each in modules named after the backend.
macro_rules! backends {
    ($($case:ident),* $(,)?) => {
        backends!(@on sqlite Sqlite; $($case),*);
        backends!(@on postgres Postgres; $($case),*);
        backends!(@on mysql Mysql; $($case),*);
    };
    (@on $module:ident $backend:ident; $($case:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let test = crate::common::open(crate::common::Backend::$backend).await;
                    super::$case(&test.store).await;
                    test.finish().await;
                }
            )*
        }
    };
}
