//! Compaction through the store (see `pista_store::Compacted`): three devices reporting together,
//! two days old, put in device order in chunks, with every history read, count, last position
//! and address lookup giving what it gave before; a read open across a compaction reads on
//! unchanged; a URL that opens the file read-only reads it and refuses to compact or write by
//! name; a percent-encoded file name is one file for every handle; PostgreSQL and MariaDB keep
//! their rows as they are.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(unused_macros)]
mod common;

use common::{Backend, key, location, open};
use futures::TryStreamExt;
use pista_core::{DeviceKey, UserName};
use pista_store::{
    Compacted, DerivedStore, HistoryPoint, HistoryQuery, LastLocation, SqlStore, Storage,
};
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

const DAY: i64 = 86_400;

fn now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(since.as_secs()).unwrap()
}
const T: i64 = 1_700_000_000;

fn devices() -> [DeviceKey; 3] {
    [key("ann", "phone"), key("ann", "watch"), key("ann", "car")]
}

/// `count` fixes of each device, 30 s apart, in batches of 300 where the devices alternate (as
/// when they report at the same time), received two days before `now`.
async fn report_together(store: &SqlStore, count: i64, now: i64) {
    let fixes: Vec<_> = (0..count)
        .flat_map(|n| {
            devices().into_iter().enumerate().map(move |(d, k)| {
                let lat = 40.0 + d as f64 + n as f64 * 1e-5;
                let fix = json!({"_type": "location", "lat": lat, "lon": 2.0, "tst": T + 30 * n});
                location(&k, fix, now - 2 * DAY)
            })
        })
        .collect();
    for batch in fixes.chunks(300) {
        store.write(batch).await.unwrap();
    }
}

/// Every device's whole history and the user's, without the ids (which compaction changes).
async fn histories(store: &SqlStore) -> Vec<Vec<HistoryPoint>> {
    let mut queries: Vec<HistoryQuery> = devices()
        .into_iter()
        .map(|k| HistoryQuery::new(k.user.clone(), Some(k.device.clone())))
        .collect();
    queries.push(HistoryQuery::new(UserName::parse("ann").unwrap(), None));
    let mut all = Vec::new();
    for query in queries {
        let history = store.history(&query).await.unwrap();
        let pages: Vec<Vec<HistoryPoint>> = history.pages.try_collect().await.unwrap();
        all.push(without_ids(pages.concat()));
    }
    all
}

fn without_ids(mut points: Vec<HistoryPoint>) -> Vec<HistoryPoint> {
    for point in &mut points {
        point.id = 0;
    }
    points
}

async fn last(store: &SqlStore) -> Vec<(String, i64, f64)> {
    let last: Vec<LastLocation> = store.last(None, None).await.unwrap();
    last.iter().map(|l| (l.key.to_string(), l.location.tst, l.location.lat)).collect()
}

/// Per device: in how many runs of consecutive ids its fixes lie, and whether all are below 0.
async fn runs(url: &str) -> Vec<(i64, bool)> {
    let db = Database::connect(url).await.unwrap();
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT sum(NOT EXISTS (SELECT 1 FROM locations p \
                 WHERE p.id = l.id - 1 AND p.device_id = l.device_id)), max(l.id) < 0 \
             FROM locations l GROUP BY l.device_id ORDER BY l.device_id",
        ))
        .await
        .unwrap();
    db.close().await.unwrap();
    rows.iter()
        .map(|row| {
            let get = |index| row.try_get_by_index::<i64>(index).unwrap();
            (get(0), get(1) == 1)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_put_each_device_together_and_every_read_gives_what_it_gave() {
    let test = open(Backend::Sqlite).await;
    let store = &test.store;
    let now = now();
    // 21,000 fixes: a full chunk of 20,000, then 1,000 moved for being a day old.
    report_together(store, 7_000, now).await;
    let before = (histories(store).await, last(store).await);
    assert_eq!(before.0[3].len(), 21_000);
    assert_eq!(runs(&test.url).await, [(7_000, false), (7_000, false), (7_000, false)]);

    assert_eq!(store.compact(now).await.unwrap(), Compacted::Moved { rows: 20_000 });
    assert_eq!(store.compact(now).await.unwrap(), Compacted::Moved { rows: 1_000 });
    assert_eq!(store.compact(now).await.unwrap(), Compacted::Nothing);
    assert_eq!(runs(&test.url).await, [(2, true), (2, true), (2, true)]);
    assert_eq!((histories(store).await, last(store).await), before);

    // Counted and limited reads too.
    let mut query = HistoryQuery::new(devices()[1].user.clone(), Some(devices()[1].device.clone()));
    (query.count, query.limit, query.from) = (true, Some(10), Some(T + 30 * 100));
    let history = store.history(&query).await.unwrap();
    assert_eq!(history.count, Some(10));
    let pages: Vec<Vec<HistoryPoint>> = history.pages.try_collect().await.unwrap();
    let tsts: Vec<i64> = pages.concat().iter().map(|p| p.tst).collect();
    assert_eq!(tsts, (6_990..7_000).map(|n| T + 30 * n).collect::<Vec<_>>());

    // New fixes get ingest's next ids and lie after the moved ones.
    let k = &devices()[0];
    let fix = json!({"_type": "location", "lat": 1.0, "lon": 2.0, "tst": T + 30 * 7_000});
    let outcome = store.write(&[location(k, fix, now)]).await.unwrap();
    assert_eq!(format!("{outcome:?}"), "[Location { id: 21001, newest: true }]");
    let phone = last(store).await.into_iter().find(|(key, ..)| key == "ann/phone");
    assert_eq!(phone, Some(("ann/phone".to_owned(), T + 30 * 7_000, 1.0)));
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_open_across_a_compaction_reads_on_unchanged() {
    let test = open(Backend::Sqlite).await;
    let store = &test.store;
    let now = now();
    report_together(store, 5_000, now).await;
    let k = &devices()[2];
    let mut query = HistoryQuery::new(k.user.clone(), Some(k.device.clone()));
    query.count = true;
    let whole = histories(store).await;

    let (first, rest) = {
        let mut history = store.history(&query).await.unwrap();
        assert_eq!(history.count, Some(5_000));
        let first = history.pages.try_next().await.unwrap().unwrap();
        // Fixes stored after the read opened (two days old, so ready to move) stay where they are
        // while it is open: moved, their ids would fall below its snapshot and join it.
        let later: Vec<_> = (5_000..5_100)
            .map(|n| {
                let fix = json!({"_type": "location", "lat": 3.0, "lon": 2.0, "tst": T + 30 * n});
                location(k, fix, now - 2 * DAY)
            })
            .collect();
        store.write(&later).await.unwrap();
        assert_eq!(store.compact(now).await.unwrap(), Compacted::Moved { rows: 15_000 });
        assert_eq!(store.compact(now).await.unwrap(), Compacted::Nothing);
        let rest: Vec<Vec<HistoryPoint>> = history.pages.try_collect().await.unwrap();
        (first, rest)
    };
    assert_eq!(without_ids([first, rest.concat()].concat()), whole[2]);
    // The read is over: they move now.
    assert_eq!(store.compact(now).await.unwrap(), Compacted::Moved { rows: 100 });
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_backfill_finds_moved_fixes() {
    let test = open(Backend::Sqlite).await;
    let store = &test.store;
    let now = now();
    report_together(store, 2, now).await;
    assert_eq!(store.compact(now).await.unwrap(), Compacted::Moved { rows: 6 });
    let waiting = store.ungeocoded(i64::MIN, now, 100).await.unwrap();
    let ids: Vec<i64> = waiting.iter().map(|w| w.id).collect();
    let floor = -(1 << 62);
    assert_eq!(ids, (floor..floor + 6).collect::<Vec<_>>());
    let addressed = [(ids[0], Some("fr".to_owned()), Some("Rue 1".to_owned()))];
    store.record_addresses(&[], &addressed, now).await.unwrap();
    assert_eq!(store.ungeocoded(i64::MIN, now, 100).await.unwrap().len(), 5);
    let query = HistoryQuery::new(UserName::parse("ann").unwrap(), None);
    let pages: Vec<Vec<HistoryPoint>> =
        store.history(&query).await.unwrap().pages.try_collect().await.unwrap();
    let points = pages.concat();
    let addrs: Vec<Option<&str>> = points.iter().map(|p| p.addr.as_deref()).collect();
    // The phone's first fix, first of the user's by time and then position.
    assert_eq!(addrs, [Some("Rue 1"), None, None, None, None, None]);
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_url_reads_and_refuses_every_write_by_name() {
    let test = open(Backend::Sqlite).await;
    let now = now();
    report_together(&test.store, 100, now).await;
    let whole = histories(&test.store).await;
    let path = test.url.strip_prefix("sqlite://").unwrap();
    let read_only = format!("{}?mode=ro", test.url);
    let store = SqlStore::open(&read_only).await.unwrap();
    assert_eq!(histories(&store).await, whole);
    let refusal =
        format!("database {path} is opened read-only (mode=ro in its URL); this writes to it");
    assert_eq!(store.compact(now).await.unwrap_err().to_string(), refusal);
    let fix = json!({"_type": "location", "lat": 1.0, "lon": 2.0, "tst": T - 30});
    let error = store.write(&[location(&devices()[0], fix, now)]).await.unwrap_err();
    assert_eq!(error.to_string(), refusal);
    // Writes through the pool fail in SQLite, named for what was asked.
    let phone = &devices()[0];
    let error = store.set_secret(phone, Some("s3cret"), now).await.unwrap_err();
    assert_eq!(error.to_string(), "database replace secret failed");
    let error = store.set_secret(phone, None, now).await.unwrap_err();
    assert_eq!(error.to_string(), "database delete secret failed");
    store.close().await;

    // immutable=1 would read the file without its write-ahead log: an old state.
    let immutable = format!("{}?immutable=1", test.url);
    let error = SqlStore::open(&immutable).await.err().expect("immutable refused");
    assert_eq!(
        error.to_string(),
        format!(
            "database {immutable} is not supported: immutable=1 makes SQLite ignore the \
             write-ahead log, which holds the newest data; use mode=ro to read without writing"
        )
    );
    assert_eq!(runs(&test.url).await, [(100, false), (100, false), (100, false)]);
    assert_eq!(histories(&test.store).await, whole);

    // A file that lacks a migration cannot get it read-only: the message names it.
    let db = Database::connect(test.url.as_str()).await.unwrap();
    let newest = "SELECT version FROM seaql_migrations ORDER BY version DESC LIMIT 1";
    let row = db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), newest));
    let newest: String = row.await.unwrap().unwrap().try_get_by_index(0).unwrap();
    let forget = format!("DELETE FROM seaql_migrations WHERE version = '{newest}'");
    db.execute_unprepared(&forget).await.unwrap();
    db.close().await.unwrap();
    let error = SqlStore::open(&read_only).await.err().expect("an outdated file refused");
    assert_eq!(
        error.to_string(),
        format!(
            "database {path} is opened read-only (mode=ro in its URL) but lacks 1 \
             migration(s), the first {newest}; open it once without mode=ro to migrate it"
        )
    );

    // A missing file is not made.
    let missing = format!("{}?mode=ro", test.url.replace("pista.db", "missing.db"));
    let error = SqlStore::open(&missing).await.err().expect("no store on a missing file");
    assert_eq!(error.to_string(), format!("cannot open database {missing}"));
    let missing_path = std::path::Path::new(path).with_file_name("missing.db");
    assert!(!missing_path.exists());
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_percent_encoded_file_name_is_the_one_file_every_handle_opens() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/my%20pista%3F.db", dir.path().display());
    let store = SqlStore::open(&url).await.unwrap();
    // Locations go through the store's own writer and reader, the rest through sqlx's pool.
    report_together(&store, 10, now()).await;
    assert_eq!(histories(&store).await[3].len(), 30);
    assert_eq!(last(&store).await.len(), 3);
    store.close().await;
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["my pista?.db"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_mariadb_keep_their_rows_as_they_are() {
    for backend in [Backend::Postgres, Backend::Mysql] {
        let test = open(backend).await;
        let now = now();
        report_together(&test.store, 2, now).await;
        assert_eq!(test.store.compact(now).await.unwrap(), Compacted::Unsupported, "{backend:?}");
        test.finish().await;
    }
}
