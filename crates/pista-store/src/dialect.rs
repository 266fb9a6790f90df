//! What differs between the three databases, kept in one place. Inserting a row and learning its
//! id: PostgreSQL and SQLite answer `RETURNING id`, MySQL/MariaDB reports the last insert id.
//! Inserting a row that may already exist under a unique key: PostgreSQL and SQLite skip it
//! with `ON CONFLICT DO NOTHING` (and return no id); MySQL has no such clause that leaves other
//! errors alone (`INSERT IGNORE` would also turn a too-long value into a warning), so there the
//! insert runs plainly and a duplicate-key error, which MySQL confines to that statement,
//! means the row was there.

use sea_orm::sea_query::{InsertStatement, OnConflict};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, SqlErr};

/// Inserts one row and returns its `id`.
pub(crate) async fn insert_id<C: ConnectionTrait>(
    conn: &C,
    mut insert: InsertStatement,
) -> Result<i64, DbErr> {
    if conn.get_database_backend() == DbBackend::MySql {
        let result = conn.execute(&insert).await?;
        return i64::try_from(result.last_insert_id())
            .map_err(|_| DbErr::Custom("insert id out of range".to_owned()));
    }
    insert.returning_col("id");
    let row = conn.query_one(&insert).await?;
    let row = row.ok_or_else(|| DbErr::Custom("no id returned".to_owned()))?;
    row.try_get_by_index::<i64>(0)
}

/// Inserts one row unless a row with the same `unique` columns exists; returns the new row's
/// `id`, or `None` when it existed (nothing is changed then).
pub(crate) async fn insert_new<C: ConnectionTrait>(
    conn: &C,
    mut insert: InsertStatement,
    unique: &[&'static str],
) -> Result<Option<i64>, DbErr> {
    if conn.get_database_backend() == DbBackend::MySql {
        return match conn.execute(&insert).await {
            Ok(result) => i64::try_from(result.last_insert_id())
                .map(Some)
                .map_err(|_| DbErr::Custom("insert id out of range".to_owned())),
            Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Ok(None)
            }
            Err(error) => Err(error),
        };
    }
    insert.on_conflict(OnConflict::columns(unique.iter().copied()).do_nothing().to_owned());
    insert.returning_col("id");
    let row = conn.query_one(&insert).await?;
    row.map(|row| row.try_get_by_index::<i64>(0)).transpose()
}
