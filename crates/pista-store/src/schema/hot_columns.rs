//! SQLite's `locations` rebuilt with the columns that history reads take first. SQLite finds a
//! column of a row by walking the record's header from the first column, so `received_at`,
//! `payload` and `addr` at the 33rd to 37th place cost a month of one device (90,000 rows)
//! some 9 ms more to read than at the 5th to 7th: a tenth of the OwnTracks Frontend's start-up
//! burst. The rebuild copies every row with its id, keeps the id counter (AUTOINCREMENT never
//! hands out an id again, not even one of a deleted row) and both indexes. PostgreSQL and
//! MariaDB keep their table: the migration does nothing there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

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
        let declared: Vec<String> =
            COLUMNS.iter().map(|(name, declaration)| format!("\"{name}\" {declaration}")).collect();
        let names: Vec<String> = COLUMNS.iter().map(|(name, _)| format!("\"{name}\"")).collect();
        let names = names.join(", ");
        let count = Query::select().expr(Expr::col("id").count()).from("locations").to_owned();
        let rows = db
            .query_one(&count)
            .await?
            .map(|row| row.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        tracing::info!(rows, "reordering the columns of locations for faster history reads");
        let statements = [
            format!("CREATE TABLE \"locations_hot\" ({})", declared.join(", ")),
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
            "ALTER TABLE \"locations_hot\" RENAME TO \"locations\"".to_owned(),
            "CREATE UNIQUE INDEX \"locations_fix\" ON \"locations\" \
             (\"device_id\", \"tst\", \"lat_e7\", \"lon_e7\")"
                .to_owned(),
            "CREATE INDEX \"locations_geo\" ON \"locations\" (\"geo_at\", \"id\")".to_owned(),
        ];
        for statement in statements {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }
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

        Migrator::up(&db, None).await.unwrap();
        let order =
            texts(&db, "SELECT name FROM pragma_table_info('locations') ORDER BY cid").await;
        let want: Vec<&str> = COLUMNS.iter().map(|(name, _)| *name).collect();
        assert_eq!(order, want);
        assert_eq!(texts(&db, ROWS).await, rows);
        let indexes = texts(
            &db,
            "SELECT name || ':' || \"unique\" FROM pragma_index_list('locations') ORDER BY name",
        )
        .await;
        assert_eq!(indexes, ["locations_fix:1", "locations_geo:0"]);
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
    }
}
