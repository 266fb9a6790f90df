//! The SQL backend: connection set-up (SQLite in WAL mode with full sync, so a commit survives a
//! crash or power loss), migrations, and the device-id cache shared by writes.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};

use crate::answers::Answers;
use crate::error::StoreError;
use crate::history::LeanReads;
use crate::schema::Migrator;
use crate::write::LeanWrites;

/// How long a PostgreSQL or MySQL operation waits for a connection before it fails.
const SERVER_WAIT: Duration = Duration::from_secs(3);

/// How many history reads (exports, location answers) may run at once by default. Two cores
/// serve ingest and the API; more readers than this would only take turns on the CPU and the
/// connection pool, and slow ingest down.
pub const HEAVY_READS: usize = 4;

/// How long a history read waits for a free turn before it is refused as busy. Short reads (a
/// Frontend asking for every device at once) get a turn within it; a queue of long exports does
/// not grow behind it.
pub const HEAVY_READ_WAIT: Duration = Duration::from_secs(2);

/// How often a SQLite file's migrations are tried again while another process holds the file.
const MIGRATE_TRIES: u32 = 20;

/// Applies a SQLite file's pending migrations. Another process migrating the same file (two
/// commands of a new version started at once) makes a migration fail: SQLite fails it at once
/// ("database is locked") when the other wrote between its read and its first write, and a
/// migration that waited for the other's lock finds its version recorded by the other when it
/// records it. Its transaction is rolled back, so the whole run is tried again, and finds what
/// the other process migrated done.
async fn migrate_sqlite(db: &DatabaseConnection) -> Result<(), StoreError> {
    let mut tries = 1;
    loop {
        match Migrator::up(db, None).await {
            Ok(()) => return Ok(()),
            Err(error) if tries < MIGRATE_TRIES && migrated_meanwhile(&error) => {
                tracing::info!(tries, %error, "another process holds the database; migrating again");
                tries += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(source) => return Err(StoreError::Migrate { source }),
        }
    }
}

/// For a SQLite file opened read-only, which cannot be migrated: fails, naming the first
/// migration it lacks, unless it has them all.
async fn check_migrated(
    db: &DatabaseConnection,
    path: &str,
    parameter: &str,
) -> Result<(), StoreError> {
    let pending = Migrator::get_pending_migrations_read_only(db)
        .await
        .map_err(|source| StoreError::Migrate { source })?;
    let Some(first) = pending.first() else { return Ok(()) };
    Err(StoreError::ReadOnlyOutdated {
        path: path.to_owned(),
        parameter: parameter.to_owned(),
        pending: pending.len(),
        first: first.name().to_owned(),
    })
}

/// Whether a SQLite migration failed because another process migrated (or wrote) meanwhile.
fn migrated_meanwhile(error: &sea_orm::DbErr) -> bool {
    let text = error.to_string();
    text.contains("database is locked") || text.contains("seaql_migrations.version")
}

/// A store on a SQL database reached through sea-orm.
pub struct SqlStore {
    pub(crate) db: DatabaseConnection,
    /// Device ids by (user, device) name; ids never change once assigned.
    pub(crate) device_ids: Mutex<HashMap<(String, String), i64>>,
    /// Held by every write. SQLite has one writer at a time anyway, and a transaction that reads
    /// before it writes (the batch write checks for copies first) fails with "database is locked"
    /// instead of waiting when another connection commits in between; taking turns in-process
    /// avoids that between ingest, the geocoder, fences and the API.
    pub(crate) writes: Mutex<()>,
    /// The `last_seen` each device has at least (committed by this process; the column only
    /// grows), so a batch skips touching a device whose time has not moved.
    pub(crate) last_seen: std::sync::Mutex<HashMap<i64, i64>>,
    /// The revisions the last batch read, and what HTTP-mode answers read kept in memory.
    answers: std::sync::Mutex<Answers>,
    /// Turns for history reads; a stream holds its permit until it is dropped.
    heavy_reads: Arc<Semaphore>,
    /// The size of `heavy_reads` and how long a read waits for a turn.
    heavy_limit: (usize, Duration),
    /// History pages of a SQLite file are read through these instead of the pool.
    pub(crate) lean: Option<Arc<LeanReads>>,
    /// Batches of locations into a SQLite file are written through this instead of the pool.
    pub(crate) lean_writes: Option<LeanWrites>,
    /// The snapshot ids of the history reads open in this process (see [`OpenRead`]).
    pub(crate) snapshots: Arc<std::sync::Mutex<BTreeMap<i64, usize>>>,
}

/// A history read's turn (its heavy-read permit) and its snapshot id, registered with the store
/// while the read is open: compaction leaves the fixes stored after the oldest open snapshot
/// where they are, since moving them below it would make them part of that read.
pub(crate) struct OpenRead {
    _permit: OwnedSemaphorePermit,
    snapshots: Arc<std::sync::Mutex<BTreeMap<i64, usize>>>,
    until_id: i64,
}

impl OpenRead {
    pub(crate) fn new(
        permit: OwnedSemaphorePermit,
        snapshots: &Arc<std::sync::Mutex<BTreeMap<i64, usize>>>,
        until_id: i64,
    ) -> Self {
        *snapshots.lock().unwrap_or_else(|e| e.into_inner()).entry(until_id).or_default() += 1;
        Self { _permit: permit, snapshots: Arc::clone(snapshots), until_id }
    }
}

impl Drop for OpenRead {
    fn drop(&mut self) {
        let mut snapshots = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = snapshots.get_mut(&self.until_id) {
            *count -= 1;
            if *count == 0 {
                snapshots.remove(&self.until_id);
            }
        }
    }
}

impl SqlStore {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    /// Supported: `sqlite://PATH` (the directory is created) and `sqlite::memory:`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let server = ["postgres://", "postgresql://", "mysql://", "mariadb://"];
        if server.iter().any(|scheme| url.starts_with(scheme)) {
            return Self::open_server(url).await;
        }
        let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))
        else {
            return Err(StoreError::Unsupported {
                url: url.to_owned(),
                reason: "expected sqlite://PATH, postgres://... or mysql://...".to_owned(),
            });
        };

        // A file opened read-only is not made: a missing one is an error of its own.
        let read_only = read_only_parameter(url, path)?;
        let file = sqlite_file(url);
        if let Some(file) = file.as_deref().filter(|_| read_only.is_none()) {
            create_parent_dir(file)?;
            create_private_file(file)?;
        }

        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(if path == ":memory:" { 1 } else { 4 })
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|opts| {
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10))
                    .statement_cache_capacity(SQLITE_STATEMENT_CACHE)
            });

        let db = Database::connect(options)
            .await
            .map_err(|source| StoreError::Open { url: url.to_owned(), source })?;
        match &read_only {
            None => migrate_sqlite(&db).await?,
            Some(parameter) => {
                let shown = file.as_deref().map(|f| f.display().to_string());
                check_migrated(&db, shown.as_deref().unwrap_or(path), parameter).await?
            }
        }

        let mut store = Self::with_connection(db);
        if let Some(file) = &file {
            store.lean = Some(Arc::new(LeanReads::new(file)));
            store.lean_writes = Some(LeanWrites::new(file, read_only));
        }
        Ok(store)
    }

    /// Opens a PostgreSQL or MySQL/MariaDB database (which must exist) and migrates it.
    async fn open_server(url: &str) -> Result<Self, StoreError> {
        let url =
            url.replacen("mariadb://", "mysql://", 1).replacen("postgresql://", "postgres://", 1);
        let mut options = ConnectOptions::new(url.clone());
        // While the server is away a write fails within seconds (the client is told to retry)
        // instead of waiting for it; the pool reconnects by itself when it is back.
        options
            .max_connections(8)
            .connect_timeout(SERVER_WAIT)
            .acquire_timeout(SERVER_WAIT)
            .sqlx_logging(false);
        let db = Database::connect(options)
            .await
            .map_err(|source| StoreError::Open { url: masked(&url), source })?;
        Migrator::up(&db, None).await.map_err(|source| StoreError::Migrate { source })?;
        Ok(Self::with_connection(db))
    }

    fn with_connection(db: DatabaseConnection) -> Self {
        Self {
            db,
            device_ids: Mutex::new(HashMap::new()),
            writes: Mutex::new(()),
            heavy_reads: Arc::new(Semaphore::new(HEAVY_READS)),
            heavy_limit: (HEAVY_READS, HEAVY_READ_WAIT),
            last_seen: std::sync::Mutex::default(),
            answers: std::sync::Mutex::default(),
            lean: None,
            lean_writes: None,
            snapshots: Arc::default(),
        }
    }

    /// Begins a transaction that writes. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), waiting up to the busy timeout while another process (a
    /// `pista delete` beside the server, or the server beside it) writes: a transaction that
    /// reads first and writes later would instead fail at once ("database is locked") whenever
    /// another process committed in between. PostgreSQL and MySQL ignore the mode.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        self.db.begin_with_options(options).await.map_err(StoreError::query("begin"))
    }

    /// The revisions seen last and the answers' copies.
    pub(crate) fn answers(&self) -> std::sync::MutexGuard<'_, Answers> {
        self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets how many history reads may run at once and how long one waits for a turn.
    pub fn with_heavy_reads(mut self, permits: usize, wait: Duration) -> Self {
        self.heavy_reads = Arc::new(Semaphore::new(permits));
        self.heavy_limit = (permits, wait);
        self
    }

    /// A turn for a history read, or [`StoreError::Busy`] when none came free in time.
    pub(crate) async fn heavy_read_permit(&self) -> Result<OwnedSemaphorePermit, StoreError> {
        let (permits, wait) = self.heavy_limit;
        let acquire = Arc::clone(&self.heavy_reads).acquire_owned();
        match tokio::time::timeout(wait, acquire).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a timeout is the only way to get here.
            _ => {
                tracing::warn!(permits, wait_ms = wait.as_millis(), "history read refused: busy");
                Err(StoreError::Busy { permits })
            }
        }
    }

    /// Fails unless this process can write to the SQLite file: a URL with `mode=ro` (by that
    /// name, as every write then fails), or a file
    /// or directory this user may not write (SQLite opens those read-only without a word, and
    /// only the first write fails). Checked with a write that changes nothing, rolled back.
    /// PostgreSQL and MariaDB: nothing to check here (their grants fail the first write).
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let Some(lean) = &self.lean_writes else { return Ok(()) };
        let _write = self.writes.lock().await;
        crate::write::run_blocking(|| lean.check_writable())
    }

    /// Closes the connection pool; later operations fail. Used to drill storage outages.
    pub async fn close(&self) {
        if let Some(lean) = &self.lean {
            lean.close();
        }
        if let Some(lean) = &self.lean_writes {
            lean.close();
        }
        let _ = self.db.clone().close().await;
    }
}

/// The URL with its password (between `user:` and `@`) replaced by `***`.
pub(crate) fn masked(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some(at) = rest.rfind('@') else { return url.to_owned() };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// The file a SQLite URL names (`sqlite://PATH` or `sqlite:PATH`, before any `?`), decoded as
/// sqlx decodes it (`my%20pista.db` is `my pista.db`), so that Pista's own handles open the
/// file sqlx opens; `None` for another URL and for `sqlite::memory:`.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    let path = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    (path != ":memory:").then(|| PathBuf::from(path.as_ref()))
}

/// What a SQLite URL's query asks of the file: `Ok(Some("mode=ro"))` when it opens it
/// read-only. `immutable=1` is refused: SQLite then ignores the write-ahead log, which holds the
/// newest of what Pista wrote, and would read an old state without a word; `mode=memory` too,
/// which leaves the file aside for an empty database in memory. Every pair counts,
/// decoded as sqlx decodes them (`mode=%72%6f` is `mode=ro`).
fn read_only_parameter(url: &str, path: &str) -> Result<Option<String>, StoreError> {
    let Some((_, query)) = path.split_once('?') else { return Ok(None) };
    let mut read_only = None;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match (name.as_ref(), value.as_ref()) {
            ("mode", "ro") => read_only = Some("mode=ro".to_owned()),
            ("mode", "memory") => {
                return Err(StoreError::Unsupported {
                    url: url.to_owned(),
                    reason: "mode=memory opens an empty database in memory instead of the file \
                             (sqlite::memory: is that database)"
                        .to_owned(),
                });
            }
            ("immutable", "true" | "1") => {
                return Err(StoreError::Unsupported {
                    url: url.to_owned(),
                    reason: format!(
                        "immutable={value} makes SQLite ignore the write-ahead log, which holds \
                         the newest data; use mode=ro to read without writing"
                    ),
                });
            }
            _ => {}
        }
    }
    Ok(read_only)
}

/// Creates the database's directory, readable by its owner only (it holds device secrets and
/// everyone's history). An existing directory keeps its permissions.
fn create_parent_dir(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(dir)
                .map_err(|source| StoreError::CreateDir { path: dir.display().to_string(), source })
        }
        _ => Ok(()),
    }
}

/// Prepared statements each SQLite connection keeps. sqlx keeps 100 by default, and batch
/// writes make a new SQL text for every batch size (one placeholder a value), so the cache
/// filled with large statements: a 200k-point GPX import (debug build) peaked at 73 MB on a
/// first run and 200 MB on a re-run (all duplicates). With 8: 57 and 60 MB, as fast (16: 75 MB
/// both; 4: 46 MB both).
const SQLITE_STATEMENT_CACHE: usize = 8;

/// Creates a missing database file readable by its owner only; SQLite gives its `-wal` and
/// `-shm` files the same permissions.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::CreateFile { path: path.display().to_string(), source }),
    }
}

#[cfg(test)]
mod tests {
    use super::read_only_parameter;

    #[test]
    fn every_pair_of_a_sqlite_query_counts_decoded() {
        let read_only = Ok(Some("mode=ro".to_owned()));
        let cases = [
            ("/d/pista.db", Ok(None)),
            ("/d/pista.db?mode=ro", read_only.clone()),
            ("/d/pista.db?cache=shared&mode=ro", read_only.clone()),
            ("/d/pista.db?mode=%72%6f", read_only.clone()),
            ("/d/pista.db?mode=rw&mode=ro", read_only.clone()),
            ("/d/pista.db?mode=rwc", Ok(None)),
            ("/d/pista.db?immutable=0", Ok(None)),
            ("/d/pista.db?immutable=false&mode=ro", read_only),
            ("/d/pista.db?immutable=1", Err("immutable=1")),
            ("/d/pista.db?mode=ro&immutable=true", Err("immutable=true")),
            ("/d/pista.db?mode=ro&immutable=%31", Err("immutable=1")),
            ("/d/pista.db?mode=ro&mode=memory", Err("memory")),
        ];
        for (path, expected) in cases {
            let url = format!("sqlite://{path}");
            let answer = read_only_parameter(&url, path).map_err(|error| error.to_string());
            let expected = expected.map_err(|pair| match pair {
                "memory" => format!(
                    "database {url} is not supported: mode=memory opens an empty database in \
                     memory instead of the file (sqlite::memory: is that database)"
                ),
                pair => format!(
                    "database {url} is not supported: {pair} makes SQLite ignore the \
                     write-ahead log, which holds the newest data; use mode=ro to read without \
                     writing"
                ),
            });
            assert_eq!(answer, expected, "{path}");
        }
    }
}
