//! Puts a SQLite file's settled locations in device order. SQLite keeps `locations` in id
//! order, which is arrival order, so devices that report at the same time leave one or two of a
//! device's fixes on each page, and reading a device's month searches the table from its root
//! for every fix. A step takes the oldest fixes not yet moved (a [`CHUNK`], or fewer once they
//! are a day old), deletes them and stores them again sorted by device and time, under new ids
//! that stay below every id ingest hands out: the moved fixes take ids from [`FLOOR`] upwards,
//! in the order they are stored, after those moved before. A device's fixes of one chunk then
//! lie together in the file.
//!
//! Everything else about a fix stays as it was: every stored column (also columns added by
//! hand), the fix's place in history order (time and position), the device's last position
//! (`devices.last_location_id` follows the move), and ingest's ids, which go on from the same
//! counter. A history read keeps its snapshot (the newest id when it opened): a moved fix's id
//! is below it, so a fix stored after the oldest read open in this process is not moved until
//! that read ends (it would join it). A step is one transaction, with foreign keys off; it
//! refuses (and says why) when something of the user's own would see the ids change: a trigger
//! on `locations`, or a table whose foreign key refers to it (names in any case).

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::LeanWrites;
use crate::error::StoreError;

/// Most fixes one step moves: about a quarter of a second of the write turn on the project's
/// machine, which ingest waits for.
pub const CHUNK: i64 = 20_000;

/// Fixes received less than this many seconds ago stay where they are, even in a full chunk.
pub const SETTLE_SECONDS: i64 = 600;

/// Fixes older than this many seconds are moved even when there are fewer than a chunk of
/// them, so that a quiet server's history is put in order too.
pub const AGE_SECONDS: i64 = 86_400;

/// The lowest id a moved fix gets; ingest's ids start at 1, so the two never meet.
pub const FLOOR: i64 = -(1 << 62);

/// What one compaction step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compacted {
    /// This many fixes were moved into device order.
    Moved { rows: u64 },
    /// Nothing to move yet: fewer than a chunk of settled fixes, none a day old.
    Nothing,
    /// Not a SQLite file: PostgreSQL and MariaDB keep their rows as they are.
    Unsupported,
    /// Something of the user's own depends on the ids of `locations` (named here).
    Refused { reason: String },
}

impl LeanWrites {
    /// Moves the next chunk of settled fixes (see the module) as of `now`, in one transaction;
    /// none with an id above `cap` (the oldest snapshot of a read open in this process).
    pub(crate) fn compact(&self, now: i64, cap: i64) -> Result<Compacted, StoreError> {
        self.with_connection(|connection| {
            // Off for the step (it cannot change inside a transaction): a moved fix is stored
            // again as it was, so nothing is checked or cascaded, and what refers to the table
            // refuses the step before. A failed step drops the connection, and with it the
            // setting.
            connection
                .execute_batch("PRAGMA foreign_keys = OFF")
                .map_err(self.fail("begin compaction"))?;
            let txn = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(self.fail("begin compaction"))?;
            let done = step(&txn, now, CHUNK, cap).map_err(self.fail("compact locations"))?;
            txn.commit().map_err(self.fail("commit compaction"))?;
            connection
                .execute_batch("PRAGMA foreign_keys = ON")
                .map_err(self.fail("end compaction"))?;
            Ok(done)
        })
    }
}

/// Objects that would see a moved fix's id change: a trigger on `locations` or a foreign key
/// to it. Pista has neither.
const DEPENDENTS: &str = "SELECT 'trigger ' || name FROM sqlite_schema \
     WHERE type = 'trigger' AND lower(tbl_name) = 'locations' \
     UNION ALL \
     SELECT 'the foreign key of table ' || m.name FROM sqlite_schema m, \
         pragma_foreign_key_list(m.name) f \
     WHERE m.type = 'table' AND lower(f.\"table\") = 'locations' \
     LIMIT 1";

/// Whether a full chunk of fixes not yet moved has settled (`?1`: the settle time; `?3`: the
/// cap).
const FULL_CHUNK: &str = "SELECT count(*) FROM (SELECT 1 FROM locations \
     WHERE id > 0 AND id <= ?3 AND received_at < ?1 ORDER BY id LIMIT ?2)";

/// The chunk (fixes not yet moved, up to the cap `?4`, received before `?1`, oldest first, at
/// most `?2`) with each fix's new id: from `?3` upwards in device, time and storage order.
const CHOOSE: &str = "INSERT INTO temp.pista_compact_ids (old_id, new_id) \
     SELECT id, ?3 - 1 + row_number() OVER (ORDER BY device_id, tst, id) \
     FROM (SELECT id, device_id, tst FROM locations \
           WHERE id > 0 AND id <= ?4 AND received_at < ?1 ORDER BY id LIMIT ?2)";

/// The first id free for moved fixes.
const NEXT_MOVED_ID: &str = "SELECT max(id) + 1 FROM locations WHERE id < 0";

fn step(connection: &Connection, now: i64, chunk: i64, cap: i64) -> rusqlite::Result<Compacted> {
    let dependent: Option<String> =
        connection.query_row(DEPENDENTS, [], |row| row.get(0)).optional()?;
    if let Some(what) = dependent {
        return Ok(Compacted::Refused {
            reason: format!("{what} depends on the ids of locations, which compaction changes"),
        });
    }
    let settled = now.saturating_sub(SETTLE_SECONDS);
    let full: i64 =
        connection.query_row(FULL_CHUNK, params![settled, chunk, cap], |row| row.get(0))?;
    let before = if full >= chunk { settled } else { now.saturating_sub(AGE_SECONDS) };

    let first: Option<i64> = connection.query_row(NEXT_MOVED_ID, [], |row| row.get(0))?;
    let first = first.unwrap_or(FLOOR);
    connection.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS pista_compact_ids \
             (old_id INTEGER PRIMARY KEY, new_id INTEGER NOT NULL); \
         DELETE FROM temp.pista_compact_ids;",
    )?;
    let rows = connection.execute(CHOOSE, params![before, chunk, first, cap])?;
    if rows == 0 {
        return Ok(Compacted::Nothing);
    }
    let last: i64 =
        connection
            .query_row("SELECT max(new_id) FROM temp.pista_compact_ids", [], |row| row.get(0))?;
    if last >= 0 {
        // Only rows stored by hand with ids near zero could bring this about.
        connection.execute("DELETE FROM temp.pista_compact_ids", [])?;
        return Ok(Compacted::Refused {
            reason: format!(
                "no room below the ids ingest hands out (a moved fix would get {last})"
            ),
        });
    }

    // The copy has the table's own stored columns and nothing else, so no name of it can
    // meet one the user chose.
    let columns = stored_columns(connection)?;
    let copied = columns.iter().map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", ");
    let listed = columns.join(", ");
    connection.execute_batch(&format!(
        "DROP TABLE IF EXISTS temp.pista_compact_rows; \
         CREATE TEMP TABLE pista_compact_rows AS SELECT id, {listed} FROM locations \
             WHERE id IN (SELECT old_id FROM temp.pista_compact_ids); \
         DELETE FROM locations WHERE id IN (SELECT old_id FROM temp.pista_compact_ids); \
         INSERT INTO locations (id, {listed}) \
             SELECT c.new_id, {copied} FROM temp.pista_compact_rows r \
             JOIN temp.pista_compact_ids c ON c.old_id = r.id ORDER BY c.new_id; \
         UPDATE devices SET last_location_id = \
             (SELECT new_id FROM temp.pista_compact_ids WHERE old_id = devices.last_location_id) \
             WHERE last_location_id IN (SELECT old_id FROM temp.pista_compact_ids); \
         DROP TABLE temp.pista_compact_rows; \
         DELETE FROM temp.pista_compact_ids;"
    ))?;
    Ok(Compacted::Moved { rows: rows as u64 })
}

/// The stored columns of `locations` but `id`, quoted (generated ones are computed again).
fn stored_columns(connection: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut select = connection.prepare(
        "SELECT name FROM pragma_table_xinfo('locations') WHERE hidden = 0 AND name <> 'id' \
         ORDER BY cid",
    )?;
    let names = select.query_map([], |row| row.get::<_, String>(0))?;
    names.map(|name| name.map(|name| format!("\"{}\"", name.replace('"', "\"\"")))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `locations` and `devices` table as Pista's, reduced to what a step touches.
    fn database() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch(
                "CREATE TABLE devices (id integer PRIMARY KEY, last_location_id integer); \
                 CREATE TABLE locations (id integer PRIMARY KEY AUTOINCREMENT, \
                     device_id integer NOT NULL, tst integer NOT NULL, received_at integer NOT NULL, \
                     payload text NOT NULL, note text COLLATE NOCASE, \
                     twice integer GENERATED ALWAYS AS (tst * 2) VIRTUAL); \
                 INSERT INTO devices (id) VALUES (1), (2), (3);",
            )
            .unwrap();
        connection
    }

    /// `(id, device, tst, received_at, payload, note)` of every row, by id.
    fn rows(connection: &Connection) -> Vec<(i64, i64, i64, i64, String, Option<String>)> {
        let mut select = connection
            .prepare(
                "SELECT id, device_id, tst, received_at, payload, note FROM locations ORDER BY id",
            )
            .unwrap();
        select
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Three devices reporting together every 30 s from 1,000, received 2 s later.
    fn fill(connection: &Connection, fixes: i64) {
        for n in 0..fixes {
            for device in 1..=3 {
                let tst = 1_000 + 30 * n;
                connection
                    .execute(
                        "INSERT INTO locations (device_id, tst, received_at, payload, note) \
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![device, tst, tst + 2, format!("{{\"tst\":{tst}}}"), "x"],
                    )
                    .unwrap();
            }
        }
        connection
            .execute_batch(
                "UPDATE devices SET last_location_id = \
                 (SELECT max(id) FROM locations WHERE device_id = devices.id)",
            )
            .unwrap();
    }

    #[test]
    fn a_step_puts_each_devices_settled_fixes_together_and_keeps_them_whole() {
        let connection = database();
        fill(&connection, 4);
        // 12 fixes; a chunk of 5 is full once they settled.
        let now = 1_000 + 30 * 3 + 2 + SETTLE_SECONDS + 1;
        assert_eq!(step(&connection, now, 5, i64::MAX).unwrap(), Compacted::Moved { rows: 5 });
        let after = rows(&connection);
        let ids: Vec<i64> = after.iter().map(|r| r.0).collect();
        assert_eq!(
            ids,
            [FLOOR, FLOOR + 1, FLOOR + 2, FLOOR + 3, FLOOR + 4, 6, 7, 8, 9, 10, 11, 12]
        );
        // Ids 1-5 were devices 1,2,3,1,2 at 1000,1000,1000,1030,1030: now by device and time.
        let moved: Vec<(i64, i64)> = after[..5].iter().map(|r| (r.1, r.2)).collect();
        assert_eq!(moved, [(1, 1_000), (1, 1_030), (2, 1_000), (2, 1_030), (3, 1_000)]);
        assert!(after.iter().all(|r| r.3 == r.2 + 2 && r.4 == format!("{{\"tst\":{}}}", r.2)));
        assert!(after.iter().all(|r| r.5.as_deref() == Some("x")));
        let twice: i64 = connection
            .query_row("SELECT twice FROM locations WHERE id = ?1", [FLOOR], |r| r.get(0))
            .unwrap();
        assert_eq!(twice, 2_000);

        // The next step goes on above the moved ones; the last 2 stay (fewer than a chunk).
        assert_eq!(step(&connection, now, 5, i64::MAX).unwrap(), Compacted::Moved { rows: 5 });
        assert_eq!(step(&connection, now, 5, i64::MAX).unwrap(), Compacted::Nothing);
        let after = rows(&connection);
        let order: Vec<(i64, i64, i64)> = after.iter().map(|r| (r.0 - FLOOR, r.1, r.2)).collect();
        assert_eq!(
            &order[5..10],
            [(5, 1, 1_060), (6, 1, 1_090), (7, 2, 1_060), (8, 3, 1_030), (9, 3, 1_060)]
        );
        assert_eq!(after[10..].iter().map(|r| r.0).collect::<Vec<_>>(), [11, 12]);
        // The devices' last positions followed their fixes; ingest's next id is 13.
        let last: Vec<(i64, i64)> = connection
            .prepare("SELECT l.device_id, l.tst FROM devices d JOIN locations l ON l.id = d.last_location_id ORDER BY d.id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(last, [(1, 1_090), (2, 1_090), (3, 1_090)]);
        connection
            .execute("INSERT INTO locations (device_id, tst, received_at, payload) VALUES (1, 5, 5, '{}')", [])
            .unwrap();
        assert_eq!(connection.last_insert_rowid(), 13);
    }

    #[test]
    fn fixes_a_day_old_are_moved_even_when_fewer_than_a_chunk() {
        let connection = database();
        fill(&connection, 2);
        // Received at 1,002 (three) and 1,032 (three).
        assert_eq!(
            step(&connection, 1_002 + AGE_SECONDS, 100, i64::MAX).unwrap(),
            Compacted::Nothing
        );
        assert_eq!(
            step(&connection, 1_032 + AGE_SECONDS + 1, 100, i64::MAX).unwrap(),
            Compacted::Moved { rows: 6 }
        );
        assert_eq!(rows(&connection).iter().filter(|r| r.0 > 0).count(), 0);
    }

    #[test]
    fn a_trigger_or_a_foreign_key_of_the_users_stops_it_by_name() {
        let connection = database();
        fill(&connection, 2);
        let now = 1_000_000;
        connection
            .execute_batch(
                "CREATE TABLE photos (location_id integer REFERENCES Locations (id) \
                 ON DELETE CASCADE); \
                 INSERT INTO photos VALUES (1);",
            )
            .unwrap();
        let refused = step(&connection, now, 100, i64::MAX).unwrap();
        assert_eq!(
            refused,
            Compacted::Refused {
                reason: "the foreign key of table photos depends on the ids of locations, which \
                     compaction changes"
                    .to_owned()
            }
        );
        connection
            .execute_batch(
                "DROP TABLE photos; CREATE TRIGGER audit AFTER DELETE ON LOCATIONS \
                 BEGIN SELECT 1; END;",
            )
            .unwrap();
        let refused = step(&connection, now, 100, i64::MAX).unwrap();
        assert_eq!(
            refused,
            Compacted::Refused {
                reason: "trigger audit depends on the ids of locations, which compaction changes"
                    .to_owned()
            }
        );
        assert_eq!(rows(&connection).iter().filter(|r| r.0 > 0).count(), 6);
    }
}
