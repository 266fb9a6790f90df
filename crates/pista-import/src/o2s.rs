//! The original back end's database (o2s, seed-inventory.md §2.17), on MySQL/MariaDB,
//! PostgreSQL or SQLite. Users (with their password hashes exactly as stored: `PBKDF2$...` or
//! plain text), ACLs and the address cache (`geo`) are written straight to their tables; the
//! history (`location`, `lastloc`, `waypoint`) and the Greenwich `inventory` become the messages
//! the devices sent and go through ingest like any other record. Rows are read in pages by id,
//! every column as text, so the same queries serve all three databases and their decimal and
//! date types.

use std::sync::Arc;

use bytes::Bytes;
use pista_core::UserName;
use pista_ingest::Pipeline;
use pista_store::{
    Access, Account, AccountStore, Acl, DerivedStore, GeoCell, PasswordHash, StoreError,
};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::entry::{Entry, Progress, Record, Sink};
use crate::run::{ImportError, run};
use crate::summary::Summary;

/// How long connecting to the o2s database may take.
const CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// Rows read per query.
const PAGE: i64 = 1000;

/// Why the o2s import stopped.
#[derive(Debug, thiserror::Error)]
pub enum O2sError {
    #[error("cannot connect to the o2s database {url}")]
    Connect { url: String, source: sea_orm::DbErr },
    #[error("cannot read table {table} of the o2s database")]
    Read { table: &'static str, source: sea_orm::DbErr },
    #[error("cannot write {what}")]
    Store { what: &'static str, source: StoreError },
    #[error(transparent)]
    Ingest(#[from] ImportError),
}

/// One table: its name and the columns read, `id` first.
struct Table {
    name: &'static str,
    columns: &'static [&'static str],
}

const USERS: Table =
    Table { name: "user", columns: &["id", "username", "pwhash", "superuser", "tstamp"] };
const ACLS: Table = Table { name: "acl", columns: &["id", "username", "topic", "rw"] };
const GEO: Table = Table { name: "geo", columns: &["id", "ghash", "cc", "addr"] };
const FIX_COLUMNS: &[&str] =
    &["id", "topic", "tid", "lat", "lon", "tst", "vel", "alt", "cog", "trip", "dist", "t"];
const LOCATIONS: Table = Table { name: "location", columns: FIX_COLUMNS };
const LAST: Table = Table { name: "lastloc", columns: FIX_COLUMNS };
const WAYPOINTS: Table = Table {
    name: "waypoint",
    columns: &["id", "topic", "tid", "lat", "lon", "tst", "rad", "waypoint"],
};
const INVENTORY: Table =
    Table { name: "inventory", columns: &["id", "topic", "imei", "version", "startup", "tstamp"] };

/// A row: every column as text (`None` for NULL), in the table's column order.
type Row = Vec<Option<String>>;

/// Imports everything of the o2s database at `url`. `progress` counts rows.
pub async fn import_o2s(
    url: &str,
    pipeline: &Pipeline,
    accounts: &dyn AccountStore,
    derived: &dyn DerivedStore,
    summary: &mut Summary,
    progress: Arc<Progress>,
) -> Result<(), O2sError> {
    // A server that refuses or does not answer is reported within seconds, not after the
    // pool's default wait of 30 s.
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(2)
        .connect_timeout(CONNECT_WAIT)
        .acquire_timeout(CONNECT_WAIT)
        .sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .map_err(|source| O2sError::Connect { url: masked(url), source })?;
    let mut total = 0;
    let mut tables = Vec::new();
    for table in [&USERS, &ACLS, &GEO, &LOCATIONS, &LAST, &WAYPOINTS, &INVENTORY] {
        match count(&db, table).await {
            Ok(rows) => {
                total += rows;
                tables.push(table.name);
            }
            // Only the history is required; a database may lack the rest.
            Err(O2sError::Read { source, .. }) if table.name != LOCATIONS.name => {
                let note = format!("table {} not read (skipped): {source}", table.name);
                summary.notes.push(note);
            }
            Err(error) => return Err(error),
        }
    }
    progress.total.store(total, std::sync::atomic::Ordering::Relaxed);

    if tables.contains(&USERS.name) {
        users(&db, accounts, summary, &progress).await?;
    }
    if tables.contains(&ACLS.name) {
        acls(&db, accounts, summary, &progress).await?;
    }
    if tables.contains(&GEO.name) {
        geo(&db, derived, summary, &progress).await?;
    }

    let (out, entries) = mpsc::channel(512);
    // Both run on this task: the reader waits while the channel is full, and stops when the
    // import fails and drops the receiving end.
    let history = history(db, tables, Sink::new(out), progress);
    let (read, ran) = tokio::join!(history, run(pipeline, entries, summary));
    ran?;
    read
}

/// The URL with any password replaced by `***`.
fn masked(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if url[scheme + 3..at].contains(':') => {
            let user_end = scheme + 3 + url[scheme + 3..at].find(':').unwrap_or(0);
            format!("{}:***{}", &url[..user_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn quote(backend: DbBackend, name: &str) -> String {
    match backend {
        DbBackend::MySql => format!("`{name}`"),
        _ => format!("\"{name}\""),
    }
}

async fn count(db: &DatabaseConnection, table: &Table) -> Result<u64, O2sError> {
    let backend = db.get_database_backend();
    let sql = format!("SELECT COUNT(*) FROM {}", quote(backend, table.name));
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .map_err(|source| O2sError::Read { table: table.name, source })?;
    let count: i64 = match row {
        Some(row) => row
            .try_get_by_index(0)
            .map_err(|source| O2sError::Read { table: table.name, source })?,
        None => 0,
    };
    Ok(count.unsigned_abs())
}

/// The page of `table` after id `after`.
async fn page(db: &DatabaseConnection, table: &Table, after: i64) -> Result<Vec<Row>, O2sError> {
    let backend = db.get_database_backend();
    let text = if backend == DbBackend::MySql { "CHAR" } else { "TEXT" };
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|column| format!("CAST({} AS {text})", quote(backend, column)))
        .collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE {} > {after} ORDER BY {} LIMIT {PAGE}",
        columns.join(", "),
        quote(backend, table.name),
        quote(backend, "id"),
        quote(backend, "id"),
    );
    let error = |source| O2sError::Read { table: table.name, source };
    let rows = db.query_all_raw(Statement::from_string(backend, sql)).await.map_err(error)?;
    rows.iter()
        .map(|row| {
            (0..table.columns.len())
                .map(|i| row.try_get_by_index::<Option<String>>(i))
                .collect::<Result<Row, _>>()
                .map_err(error)
        })
        .collect()
}

/// Reads `table` page by page, calling `each` for every row.
async fn each_row(
    db: &DatabaseConnection,
    table: &Table,
    progress: &Progress,
    mut each: impl AsyncFnMut(Row) -> Result<bool, O2sError>,
) -> Result<(), O2sError> {
    let mut after = 0;
    loop {
        let rows = page(db, table, after).await?;
        let Some(last) = rows.last() else { return Ok(()) };
        after = last[0].as_deref().and_then(|id| id.parse().ok()).unwrap_or(i64::MAX);
        for row in rows {
            progress.advance(1);
            if !each(row).await? {
                return Ok(());
            }
        }
    }
}

fn text(row: &Row, index: usize) -> &str {
    row.get(index).and_then(Option::as_deref).unwrap_or_default()
}

/// An o2s time (`YYYY-MM-DD HH:MM:SS`, naive UTC) as UNIX seconds.
fn seconds(text: &str) -> Option<i64> {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .into_iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(text.trim(), format).ok())
        .map(|time| time.and_utc().timestamp())
}

fn at(table: &Table, row: &Row) -> String {
    format!("{} row id {}", table.name, text(row, 0))
}

async fn users(
    db: &DatabaseConnection,
    store: &dyn AccountStore,
    summary: &mut Summary,
    progress: &Progress,
) -> Result<(), O2sError> {
    each_row(db, &USERS, progress, async |row| {
        let name = UserName::parse(text(&row, 1));
        let password = PasswordHash::new(text(&row, 2));
        let (name, password) = match (name, password) {
            (Ok(name), Ok(password)) => (name, password),
            (Err(error), _) => {
                return skip(summary, "users", "bad user name", &USERS, &row, &error);
            }
            (_, Err(error)) => {
                return skip(summary, "users", "bad password hash", &USERS, &row, &error);
            }
        };
        let account = Account {
            name,
            password,
            superuser: text(&row, 3).trim() != "0" && !text(&row, 3).is_empty(),
            created_at: seconds(text(&row, 4)).unwrap_or_default(),
        };
        let added = store
            .add_user(&account)
            .await
            .map_err(|source| O2sError::Store { what: "user", source })?;
        tally(summary, "users", added);
        Ok(true)
    })
    .await
}

async fn acls(
    db: &DatabaseConnection,
    store: &dyn AccountStore,
    summary: &mut Summary,
    progress: &Progress,
) -> Result<(), O2sError> {
    each_row(db, &ACLS, progress, async |row| {
        let acl = UserName::parse(text(&row, 1))
            .map_err(|e| ("bad user name", e.to_string()))
            .and_then(|user| {
                let code = text(&row, 3).trim().parse::<i64>().unwrap_or(-1);
                let access = Access::from_code(code).map_err(|e| ("bad rw", e.to_string()))?;
                Acl::new(user, text(&row, 2), access).map_err(|e| ("bad topic", e.to_string()))
            });
        let acl = match acl {
            Ok(acl) => acl,
            Err((reason, detail)) => return skip(summary, "acls", reason, &ACLS, &row, &detail),
        };
        let added =
            store.add_acl(&acl).await.map_err(|source| O2sError::Store { what: "acl", source })?;
        tally(summary, "acls", added);
        Ok(true)
    })
    .await
}

async fn geo(
    db: &DatabaseConnection,
    store: &dyn DerivedStore,
    summary: &mut Summary,
    progress: &Progress,
) -> Result<(), O2sError> {
    let now = chrono::Utc::now().timestamp();
    each_row(db, &GEO, progress, async |row| {
        let ghash = text(&row, 1).trim().to_owned();
        if ghash.is_empty() {
            return skip(summary, "geo cache", "no geohash", &GEO, &row, &"empty ghash");
        }
        let known = store
            .geo_cell(&ghash)
            .await
            .map_err(|source| O2sError::Store { what: "address", source })?;
        if known.is_none() {
            let cell = GeoCell {
                cc: row[2].clone().filter(|cc| !cc.is_empty()),
                addr: Some(text(&row, 3).to_owned()),
                provider: "o2s".to_owned(),
            };
            store
                .record_addresses(&[(ghash, cell)], &[], now)
                .await
                .map_err(|source| O2sError::Store { what: "address", source })?;
        }
        tally(summary, "geo cache", known.is_none());
        Ok(true)
    })
    .await
}

fn tally(summary: &mut Summary, table: &'static str, added: bool) {
    summary.read += 1;
    let count = summary.table(table);
    if added {
        count.added += 1;
    } else {
        count.present += 1;
    }
}

fn skip(
    summary: &mut Summary,
    table_name: &'static str,
    reason: &str,
    table: &Table,
    row: &Row,
    detail: &dyn std::fmt::Display,
) -> Result<bool, O2sError> {
    summary.read += 1;
    summary.table(table_name).skipped += 1;
    summary.skip(reason, &at(table, row), &detail.to_string());
    Ok(true)
}

/// Reads the history tables into `sink` as the messages the devices sent.
async fn history(
    db: DatabaseConnection,
    tables: Vec<&'static str>,
    mut sink: Sink,
    progress: Arc<Progress>,
) -> Result<(), O2sError> {
    let history = [&LOCATIONS, &LAST, &WAYPOINTS, &INVENTORY];
    for table in history.into_iter().filter(|table| tables.contains(&table.name)) {
        each_row(&db, table, &progress, async |row| {
            let entry = match table.name {
                "waypoint" => waypoint(&row),
                "inventory" => inventory(&row),
                _ => fix(&row),
            };
            let entry = match entry {
                Ok((topic, payload)) => {
                    Entry::Record(Record { topic, payload, at: at(table, &row), received_at: None })
                }
                Err((reason, detail)) => {
                    Entry::Skip(crate::Skip { reason, at: at(table, &row), detail })
                }
            };
            Ok(sink.send_async(entry).await)
        })
        .await?;
    }
    Ok(())
}

type Message = Result<(String, Bytes), (&'static str, String)>;

/// Adds the numeric columns that are set to `object`.
fn numbers(object: &mut Map<String, Value>, row: &Row, columns: &[(&str, usize)]) {
    for (key, index) in columns {
        if let Some(number) = row[*index].as_deref().and_then(|t| t.trim().parse::<f64>().ok()) {
            let value = if number.fract() == 0.0 { json!(number as i64) } else { json!(number) };
            object.insert((*key).to_owned(), value);
        }
    }
}

fn time(row: &Row, index: usize) -> Result<i64, (&'static str, String)> {
    seconds(text(row, index)).ok_or_else(|| ("unreadable time", format!("{:?}", text(row, index))))
}

/// A `location` or `lastloc` row as the location message.
fn fix(row: &Row) -> Message {
    let tst = time(row, 5)?;
    let mut object = Map::new();
    object.insert("_type".into(), json!("location"));
    if !text(row, 2).is_empty() {
        object.insert("tid".into(), json!(text(row, 2)));
    }
    numbers(&mut object, row, &[("lat", 3), ("lon", 4)]);
    object.insert("tst".into(), json!(tst));
    let extras = [("vel", 6), ("alt", 7), ("cog", 8), ("trip", 9), ("dist", 10)];
    numbers(&mut object, row, &extras);
    if !text(row, 11).is_empty() {
        object.insert("t".into(), json!(text(row, 11)));
    }
    Ok((text(row, 1).to_owned(), Bytes::from(Value::Object(object).to_string())))
}

/// A `waypoint` row as the region the device published.
fn waypoint(row: &Row) -> Message {
    let tst = time(row, 5)?;
    let mut object = Map::new();
    object.insert("_type".into(), json!("waypoint"));
    object.insert("desc".into(), json!(text(row, 7)));
    numbers(&mut object, row, &[("lat", 3), ("lon", 4), ("rad", 6)]);
    object.insert("tst".into(), json!(tst));
    let topic = text(row, 1);
    let topic = if topic.ends_with("/waypoint") || topic.ends_with("/waypoints") {
        topic.to_owned()
    } else {
        format!("{topic}/waypoint")
    };
    Ok((topic, Bytes::from(Value::Object(object).to_string())))
}

/// An `inventory` row as the Greenwich start-up line it came from.
fn inventory(row: &Row) -> Message {
    let (imei, version) = (text(row, 2).trim(), text(row, 3).trim());
    if imei.is_empty() || version.is_empty() {
        return Err(("incomplete inventory", format!("imei {imei:?} version {version:?}")));
    }
    let started = time(row, 4).or_else(|_| time(row, 5))?;
    let stamp = chrono::DateTime::from_timestamp(started, 0).unwrap_or_default();
    let line = format!("{imei} {version} {}", stamp.format("%Y%m%dT%H%M%SZ"));
    Ok((format!("{}/start", text(row, 1)), Bytes::from(line)))
}
