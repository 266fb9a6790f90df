//! SQLite's `locations` rebuilt with the columns that history reads take first. SQLite finds a
//! column of a row by walking the record's header from the first column, so `received_at`,
//! `payload` and `addr` at the 33rd to 37th place cost a month of one device (90,000 rows)
//! some 9 ms more to read than at the 5th to 7th: a tenth of the OwnTracks Frontend's start-up
//! burst. The rebuild copies every row with its id, keeps the id counter (AUTOINCREMENT never
//! hands out an id again, not even one of a deleted row) and both indexes, and what a user added
//! by hand: columns (their definitions word for word), indexes, triggers, the rows of tables
//! that refer to `locations` (foreign keys are off for the rebuild); views keep working. It is
//! announced as a warning, so that a command-line tool that happens to open the file first shows
//! it too.
//! PostgreSQL and MariaDB keep their table: the migration does nothing there.

use sea_orm_migration::SchemaManagerConnection;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::sea_orm::sqlx::{self, SqliteConnection};

/// The columns in their new order: what a history read takes (in the order it takes them),
/// then the rest. The declarations are those of the first migration's table.
const COLUMNS: [(&str, &str); 39] = [
    ("id", "integer NOT NULL PRIMARY KEY AUTOINCREMENT"),
    ("device_id", "integer NOT NULL"),
    ("tst", "integer NOT NULL"),
    ("lat_e7", "integer NOT NULL"),
    ("lon_e7", "integer NOT NULL"),
    ("received_at", "integer NOT NULL"),
    ("payload", "text NOT NULL"),
    ("addr", "text NULL"),
    ("tid", "text NOT NULL"),
    ("trig", "text NULL"),
    ("acc", "double NULL"),
    ("alt", "double NULL"),
    ("vel", "double NULL"),
    ("cog", "double NULL"),
    ("batt", "double NULL"),
    ("conn", "text NULL"),
    ("lat", "double NOT NULL"),
    ("lon", "double NOT NULL"),
    ("vac", "double NULL"),
    ("bs", "smallint NULL"),
    ("mode", "smallint NULL"),
    ("pressure", "double NULL"),
    ("ssid", "text NULL"),
    ("bssid", "text NULL"),
    ("created_at", "integer NULL"),
    ("provider", "text NULL"),
    ("poi", "text NULL"),
    ("tag", "text NULL"),
    ("imagename", "text NULL"),
    ("inregions", "text NULL"),
    ("inrids", "text NULL"),
    ("client_id", "text NULL"),
    ("topic", "text NOT NULL"),
    ("source", "varchar(16) NOT NULL"),
    ("retained", "smallint NOT NULL"),
    ("original", "blob NULL"),
    ("repairs", "text NULL"),
    ("cc", "varchar(8) NULL"),
    ("geo_at", "integer NULL"),
];

pub(super) struct HotColumns;

impl MigrationName for HotColumns {
    fn name(&self) -> &str {
        "m20261211_000001_locations_hot_columns"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for HotColumns {
    /// Its own transaction, on a connection with foreign keys off (which cannot change inside
    /// a transaction): with them on, dropping the old table would delete or fail on the rows of
    /// any table a user made that refers to `locations`.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let SchemaManagerConnection::Connection(db) = manager.get_connection() else {
            return Err(DbErr::Migration("the locations rebuild needs its own connection".into()));
        };
        let mut connection = db.get_sqlite_connection_pool().acquire().await.map_err(sqlx_error)?;
        execute(&mut connection, "PRAGMA foreign_keys = OFF").await?;
        // BEGIN IMMEDIATE takes the write lock at once, waiting for another process's write as
        // any write does; a read first would fail at once if another process wrote meanwhile.
        execute(&mut connection, "BEGIN IMMEDIATE").await?;
        let rebuilt = rebuild(&mut connection).await;
        let end = if rebuilt.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = execute(&mut connection, end).await;
        let restored = execute(&mut connection, "PRAGMA foreign_keys = ON").await;
        rebuilt.and(ended).and(restored)
    }
}

/// The rebuild, inside the transaction.
async fn rebuild(connection: &mut SqliteConnection) -> Result<(), DbErr> {
    // Another process may have rebuilt it while this one waited for the lock.
    let done =
        "SELECT name FROM pragma_table_info('locations') WHERE name = 'received_at' AND cid = 5";
    if !texts(connection, done).await?.is_empty() {
        return Ok(());
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM locations")
        .fetch_one(&mut *connection)
        .await
        .map_err(sqlx_error)?;
    // A new database's empty table is rebuilt at once, with nothing to say.
    if rows > 0 {
        tracing::warn!(
            rows,
            "rebuilding table locations once, with the columns history reads take first; other \
             processes using the database wait until it is done"
        );
    }

    // Columns a user added by hand (`ALTER TABLE ... ADD COLUMN` appends their definitions to
    // the table's SQL, after Pista's last column) keep their definitions word for word; the
    // generated ones among them are computed again instead of copied. Their indexes and
    // triggers are made again; views stay as they are (the rename leaves them alone).
    let table = "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'locations'";
    let table = texts(connection, table).await?.concat();
    let added_columns = added_columns(&table)?;
    let copied = texts(connection, COPIED_COLUMNS).await?;
    let copied: Vec<String> = copied.iter().map(|name| quoted(name)).collect();
    let added_objects = texts(connection, ADDED_OBJECTS).await?;

    let declared: Vec<String> = COLUMNS
        .iter()
        .map(|(name, declaration)| format!("{} {declaration}", quoted(name)))
        .collect();
    let names = copied.join(", ");
    let statements = [
        format!("CREATE TABLE \"locations_hot\" ({}{added_columns})", declared.join(", ")),
        format!(
            "INSERT INTO \"locations_hot\" ({names}) SELECT {names} FROM \"locations\" \
             ORDER BY \"id\""
        ),
        // The copy's counter is its highest id; the old one may be higher (its newest rows
        // deleted), or the old table may be empty with a counter.
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'locations_hot', 0 \
         WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'locations_hot')"
            .to_owned(),
        "UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence \
         WHERE name = 'locations'), 0)) WHERE name = 'locations_hot'"
            .to_owned(),
        "DROP TABLE \"locations\"".to_owned(),
        // Without this the rename checks every view and trigger naming `locations`, which
        // fails while that table is gone.
        "PRAGMA legacy_alter_table = ON".to_owned(),
        "ALTER TABLE \"locations_hot\" RENAME TO \"locations\"".to_owned(),
        "PRAGMA legacy_alter_table = OFF".to_owned(),
        "CREATE UNIQUE INDEX \"locations_fix\" ON \"locations\" \
         (\"device_id\", \"tst\", \"lat_e7\", \"lon_e7\")"
            .to_owned(),
        "CREATE INDEX \"locations_geo\" ON \"locations\" (\"geo_at\", \"id\")".to_owned(),
    ];
    for statement in statements.into_iter().chain(added_objects) {
        // Built from Pista's own names and what the file's own schema says.
        execute(connection, sqlx::AssertSqlSafe(statement)).await?;
    }
    Ok(())
}

/// How the first migration's table SQL ends: Pista's last column, then whatever a user added.
const LAST_COLUMN: &str = "\"geo_at\" integer NULL";

/// The column definitions a user added to `locations`, each with its leading comma, as the
/// table's SQL holds them (empty when there are none).
fn added_columns(table: &str) -> Result<String, DbErr> {
    let added = table
        .find(LAST_COLUMN)
        .map(|at| &table[at + LAST_COLUMN.len()..])
        .and_then(|rest| rest.trim_end().strip_suffix(')'))
        .ok_or_else(|| {
            DbErr::Migration(format!(
                "cannot rebuild table locations: its definition was changed by hand in a way \
                 this upgrade does not know (it does not end with Pista's column {LAST_COLUMN}): \
                 {table}"
            ))
        })?;
    Ok(added.trim_end().to_owned())
}

/// Every stored column of `locations` (not the generated ones), in order.
const COPIED_COLUMNS: &str =
    "SELECT name FROM pragma_table_xinfo('locations') WHERE hidden = 0 ORDER BY cid";

/// Indexes and triggers on `locations` that Pista did not make, as the SQL that made them.
const ADDED_OBJECTS: &str = "SELECT sql FROM sqlite_master WHERE tbl_name = 'locations' \
    AND type IN ('index', 'trigger') AND sql IS NOT NULL \
    AND name NOT IN ('locations_fix', 'locations_geo') ORDER BY type, name";

/// The first column of a query's rows, as text.
async fn texts(connection: &mut SqliteConnection, sql: &'static str) -> Result<Vec<String>, DbErr> {
    sqlx::query_scalar(sql).fetch_all(&mut *connection).await.map_err(sqlx_error)
}

/// Runs one statement that returns no rows.
async fn execute(
    connection: &mut SqliteConnection,
    sql: impl sqlx::SqlSafeStr,
) -> Result<(), DbErr> {
    sqlx::raw_sql(sql).execute(&mut *connection).await.map_err(sqlx_error)?;
    Ok(())
}

fn sqlx_error(error: sqlx::Error) -> DbErr {
    DbErr::Migration(format!("rebuilding table locations: {error}"))
}

/// `name` as an SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

    use super::*;
    use crate::schema::Migrator;

    async fn texts(db: &DatabaseConnection, sql: &str) -> Vec<String> {
        let rows = db.query_all_raw(Statement::from_string(DbBackend::Sqlite, sql)).await.unwrap();
        rows.iter().map(|row| row.try_get_by_index::<String>(0).unwrap()).collect()
    }

    /// Every row as text, column by column by name, in id order.
    const ROWS: &str = "SELECT id || '|' || device_id || '|' || tst || '|' || lat_e7 || '|' || \
        lon_e7 || '|' || lat || '|' || lon || '|' || tid || '|' || coalesce(trig, '-') || '|' || \
        coalesce(acc, '-') || '|' || coalesce(batt, '-') || '|' || coalesce(conn, '-') || '|' || \
        topic || '|' || source || '|' || retained || '|' || received_at || '|' || payload || '|' \
        || coalesce(hex(original), '-') || '|' || coalesce(repairs, '-') || '|' || \
        coalesce(addr, '-') || '|' || coalesce(cc, '-') || '|' || coalesce(geo_at, '-') \
        FROM locations ORDER BY id";

    #[tokio::test]
    async fn the_rebuild_keeps_every_row_its_id_and_the_id_counter() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/old.db?mode=rwc", dir.path().display());
        let db = Database::connect(url.as_str()).await.unwrap();
        let before = Migrator::migrations().len() as u32 - 1;
        Migrator::up(&db, Some(before)).await.unwrap();
        db.execute_unprepared(
            "INSERT INTO locations (device_id, tst, lat_e7, lon_e7, lat, lon, tid, trig, acc, \
             batt, conn, topic, source, retained, received_at, payload, original, repairs, addr, \
             cc, geo_at) VALUES \
             (1, 100, 481000000, 115000000, 48.1, 11.5, 'ph', 'p', 5.0, 80.0, 'w', \
              'owntracks/a/ph', 'mqtt', 0, 102, '{\"tst\":100}', NULL, NULL, 'Main St 1', 'DE', 7), \
             (2, 90, -1, 2, -0.0000001, 0.0000002, 'x', NULL, NULL, NULL, NULL, \
              'owntracks/b/x', 'http', 1, 95, '{}', X'7B7D0A', '[\"lat\"]', NULL, NULL, NULL), \
             (1, 300, 1, 1, 0.0000001, 0.0000001, 'ph', NULL, NULL, NULL, NULL, \
              'owntracks/a/ph', 'mqtt', 0, 301, '{\"tst\":300}', NULL, NULL, NULL, NULL, NULL)",
        )
        .await
        .unwrap();
        db.execute_unprepared("DELETE FROM locations WHERE id = 3").await.unwrap();
        let rows = texts(&db, ROWS).await;
        assert_eq!(rows.len(), 2);
        // What a user may have added by hand: a column with values, an index, a trigger, a view.
        db.execute_unprepared(
            "ALTER TABLE locations ADD COLUMN note text NOT NULL DEFAULT 'none'; \
             UPDATE locations SET note = 'kept ' || id; \
             CREATE INDEX my_rcv ON locations (received_at); \
             CREATE TABLE audit (location_id integer); \
             CREATE TRIGGER loc_audit AFTER INSERT ON locations \
             BEGIN INSERT INTO audit VALUES (NEW.id); END; \
             CREATE VIEW my_tracks AS SELECT id, note FROM locations WHERE tid = 'ph'; \
             ALTER TABLE locations ADD COLUMN code text COLLATE NOCASE CHECK (code <> 'bad'); \
             UPDATE locations SET code = 'Ab'; \
             ALTER TABLE locations ADD COLUMN day integer GENERATED ALWAYS AS (tst / 86400); \
             CREATE INDEX my_day ON locations (day); \
             CREATE TABLE photos (location_id integer REFERENCES locations (id) \
             ON DELETE CASCADE, name text); \
             INSERT INTO photos VALUES (1, 'a.jpg'), (2, 'b.jpg')",
        )
        .await
        .unwrap();

        Migrator::up(&db, None).await.unwrap();
        let order =
            texts(&db, "SELECT name FROM pragma_table_info('locations') ORDER BY cid").await;
        let mut want: Vec<&str> = COLUMNS.iter().map(|(name, _)| *name).collect();
        want.extend(["note", "code"]);
        assert_eq!(order, want);
        assert_eq!(texts(&db, ROWS).await, rows);
        let indexes = texts(
            &db,
            "SELECT name || ':' || \"unique\" FROM pragma_index_list('locations') ORDER BY name",
        )
        .await;
        assert_eq!(indexes, ["locations_fix:1", "locations_geo:0", "my_day:0", "my_rcv:0"]);
        // The rows of a table that refers to `locations` stay; the added columns keep their
        // collation, check and generation.
        let photos = texts(&db, "SELECT group_concat(location_id || name) FROM photos").await;
        assert_eq!(photos, ["1a.jpg,2b.jpg"]);
        let codes = "SELECT count(*) || ' ' || sum(day) FROM locations WHERE code = 'AB'";
        assert_eq!(texts(&db, codes).await, ["2 0"]);
        let refused = db.execute_unprepared("UPDATE locations SET code = 'bad'").await;
        assert!(refused.is_err(), "{refused:?}");
        let notes = texts(&db, "SELECT id || ' ' || note FROM my_tracks ORDER BY id").await;
        assert_eq!(notes, ["1 kept 1"]);
        // The deleted third row's id is not handed out again.
        db.execute_unprepared(
            "INSERT INTO locations (device_id, tst, lat_e7, lon_e7, lat, lon, tid, topic, source, \
             retained, received_at, payload) VALUES \
             (1, 400, 0, 0, 0, 0, 'ph', 'owntracks/a/ph', 'mqtt', 0, 401, '{}')",
        )
        .await
        .unwrap();
        assert_eq!(
            texts(&db, "SELECT group_concat(id) FROM (SELECT id FROM locations ORDER BY id)").await,
            ["1,2,4"]
        );
        // The trigger came along, and the new row has the column's default.
        let added = texts(
            &db,
            "SELECT location_id || ' ' || note FROM audit, locations ON id = location_id",
        )
        .await;
        assert_eq!(added, ["4 none"]);
    }

    /// Two processes of a new version starting at once on an old file: one rebuilds, the other
    /// waits or tries again, and both open.
    #[tokio::test]
    async fn two_stores_opening_an_old_file_at_once_both_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let db = Database::connect(format!("sqlite://{}?mode=rwc", path.display()).as_str())
            .await
            .unwrap();
        let before = Migrator::migrations().len() as u32 - 1;
        Migrator::up(&db, Some(before)).await.unwrap();
        db.execute_unprepared(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000) \
             INSERT INTO locations (device_id, tst, lat_e7, lon_e7, lat, lon, tid, topic, source, \
             retained, received_at, payload) SELECT 1, i, 0, 0, 0, 0, 'ph', 'owntracks/a/ph', \
             'mqtt', 0, i, '{\"tst\":' || i || '}' FROM n",
        )
        .await
        .unwrap();
        // As every file Pista made: in WAL mode (changing to it takes a lock that no one waits
        // for, so two stores switching a new file at once would fail for that reason instead).
        db.execute_unprepared("PRAGMA journal_mode = WAL").await.unwrap();
        db.close().await.unwrap();

        let url = format!("sqlite://{}", path.display());
        let (first, second) =
            tokio::join!(crate::SqlStore::open(&url), crate::SqlStore::open(&url));
        let (first, second) = (first.unwrap(), second.unwrap());
        let rows = texts(&first.db, "SELECT count(*) || ' ' || max(id) FROM locations").await;
        assert_eq!(rows, ["60000 60000"]);
        let order =
            texts(&second.db, "SELECT name FROM pragma_table_info('locations') WHERE cid = 5")
                .await;
        assert_eq!(order, ["received_at"]);
    }
}
