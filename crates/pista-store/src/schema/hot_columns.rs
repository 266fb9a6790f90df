//! SQLite's `locations` rebuilt with the columns that history reads take first. SQLite finds a
//! column of a row by walking the record's header from the first column, so `received_at`,
//! `payload` and `addr` at the 33rd to 37th place cost a month of one device (90,000 rows)
//! some 9 ms more to read than at the 5th to 7th: a tenth of the OwnTracks Frontend's start-up
//! burst. The rebuild copies every row with its id, keeps the id counter (AUTOINCREMENT never
//! hands out an id again, not even one of a deleted row) and both indexes, and what a user added
//! to the table by hand (columns, indexes, triggers; views keep working). It is announced as a
//! warning, so that a command-line tool that happens to open the file first shows it too.
//! PostgreSQL and MariaDB keep their table: the migration does nothing there.

use sea_orm_migration::SchemaManagerConnection;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

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
    /// One transaction: a failed copy leaves the old table as it was.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        // Writing first takes the file's write lock, waiting for another process's write as any
        // write does; a read first would fail at once if another process wrote meanwhile.
        let declared: Vec<String> = COLUMNS
            .iter()
            .map(|(name, declaration)| format!("{} {declaration}", quoted(name)))
            .collect();
        db.execute_unprepared(&format!("CREATE TABLE \"locations_hot\" ({})", declared.join(", ")))
            .await?;
        // Another process may have rebuilt it while this one waited for the lock.
        let done = "SELECT 'done', name FROM pragma_table_info('locations') \
                    WHERE name = 'received_at' AND cid = 5";
        if !texts(db, done).await?.is_empty() {
            db.execute_unprepared("DROP TABLE \"locations_hot\"").await?;
            return Ok(());
        }
        let count = Query::select().expr(Expr::col("id").count()).from("locations").to_owned();
        let rows = db
            .query_one(&count)
            .await?
            .map(|row| row.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        tracing::warn!(
            rows,
            "rebuilding table locations once, with the columns history reads take first; other \
             processes using the database wait until it is done"
        );

        // Columns, indexes and triggers added to `locations` by hand come along; views on it
        // stay as they are (the rename below leaves them alone).
        let mut names: Vec<String> = COLUMNS.iter().map(|(name, _)| quoted(name)).collect();
        for column in texts(db, ADDED_COLUMNS).await? {
            let [name, declaration] = column;
            db.execute_unprepared(&format!(
                "ALTER TABLE \"locations_hot\" ADD COLUMN {} {declaration}",
                quoted(&name)
            ))
            .await?;
            names.push(quoted(&name));
        }
        let added = texts(db, ADDED_OBJECTS).await?;
        let names = names.join(", ");
        let statements = [
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
        for statement in statements.into_iter().chain(added.into_iter().map(|[sql, _]| sql)) {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }
}

/// Columns of `locations` that Pista did not make, with their declarations (type, `NOT NULL`,
/// default: what `ALTER TABLE ... ADD COLUMN`, the only way to add one, can declare).
const ADDED_COLUMNS: &str = "SELECT name, trim(type || CASE WHEN \"notnull\" THEN ' NOT NULL' \
    ELSE '' END || coalesce(' DEFAULT ' || dflt_value, '')) FROM pragma_table_info('locations') \
    WHERE name NOT IN (SELECT name FROM pragma_table_info('locations_hot')) ORDER BY cid";

/// Indexes and triggers on `locations` that Pista did not make, as the SQL that made them.
const ADDED_OBJECTS: &str = "SELECT sql, name FROM sqlite_master WHERE tbl_name = 'locations' \
    AND type IN ('index', 'trigger') AND sql IS NOT NULL \
    AND name NOT IN ('locations_fix', 'locations_geo') ORDER BY type, name";

/// The rows of a query of two text columns.
async fn texts(db: &SchemaManagerConnection<'_>, sql: &str) -> Result<Vec<[String; 2]>, DbErr> {
    let statement = Statement::from_string(DbBackend::Sqlite, sql);
    let rows = db.query_all_raw(statement).await?;
    rows.iter().map(|row| Ok([row.try_get_by_index(0)?, row.try_get_by_index(1)?])).collect()
}

/// `name` as an SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use sea_orm_migration::sea_orm::{Database, DatabaseConnection};

    use super::*;
    use crate::schema::Migrator;

    async fn texts(db: &DatabaseConnection, sql: &str) -> Vec<String> {
        let rows = db
            .query_all_raw(sea_orm_migration::sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                sql,
            ))
            .await
            .unwrap();
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
             CREATE VIEW my_tracks AS SELECT id, note FROM locations WHERE tid = 'ph'",
        )
        .await
        .unwrap();

        Migrator::up(&db, None).await.unwrap();
        let order =
            texts(&db, "SELECT name FROM pragma_table_info('locations') ORDER BY cid").await;
        let mut want: Vec<&str> = COLUMNS.iter().map(|(name, _)| *name).collect();
        want.push("note");
        assert_eq!(order, want);
        assert_eq!(texts(&db, ROWS).await, rows);
        let indexes = texts(
            &db,
            "SELECT name || ':' || \"unique\" FROM pragma_index_list('locations') ORDER BY name",
        )
        .await;
        assert_eq!(indexes, ["locations_fix:1", "locations_geo:0", "my_rcv:0"]);
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
