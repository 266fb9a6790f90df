//! History reads for exports, on every backend: fix order (`tst`, then position) whatever the arrival order
//! (bug B37), inclusive bounds, empty ranges, a user's devices merged, pages of `PAGE_ROWS`,
//! `limit`, the snapshot at opening, the typed columns, named errors and the busy bound.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::time::Duration;

use common::{key, location};
use futures::{StreamExt, TryStreamExt};
use pista_core::{DeviceKey, DeviceName, UserName};
use pista_store::{
    DerivedStore, HistoryColumns, HistoryPoint, HistoryQuery, MessageWriter, NewMessage, PAGE_ROWS,
    PointMessage, SqlStore, Storage, StoreError,
};
use serde_json::json;

fn fix(key: &DeviceKey, lat: f64, tst: i64) -> NewMessage {
    location(key, json!({"_type":"location","lat":lat,"lon":-110.0,"tst":tst}), tst + 5)
}

fn query(user: &str, device: Option<&str>, from: Option<i64>, to: Option<i64>) -> HistoryQuery {
    HistoryQuery {
        from,
        to,
        ..HistoryQuery::new(
            UserName::parse(user).unwrap(),
            device.map(|d| DeviceName::parse(d).unwrap()),
        )
    }
}

async fn read(store: &SqlStore, query: &HistoryQuery) -> Vec<HistoryPoint> {
    let history = store.history(query).await.unwrap();
    let pages: Vec<Vec<HistoryPoint>> = history.pages.try_collect().await.unwrap();
    pages.concat()
}

fn tsts(points: &[HistoryPoint]) -> Vec<i64> {
    points.iter().map(|p| p.tst).collect()
}

async fn late_fixes_come_out_in_fix_time_order(store: &SqlStore) {
    // B37: the third fix arrives last but belongs in the middle.
    let k = key("alice", "phone");
    for (lat, tst) in [(40.3585, 1635796800), (40.36, 1635797400), (40.3592, 1635797100)] {
        store.write(&[fix(&k, lat, tst)]).await.unwrap();
    }
    // Two fixes at one time (different places) come out by position, whatever the order they
    // were stored in.
    store.write(&[fix(&k, 40.0, 1635797100)]).await.unwrap();

    let points = read(store, &query("alice", Some("phone"), None, None)).await;
    assert_eq!(tsts(&points), [1635796800, 1635797100, 1635797100, 1635797400]);
    let lats: Vec<f64> = points.iter().map(|p| p.lat).collect();
    assert_eq!(lats, [40.3585, 40.0, 40.3592, 40.36]);
    assert!(points[1].id > points[2].id);
}

async fn bounds_are_inclusive_and_an_empty_range_is_empty(store: &SqlStore) {
    let k = key("bob", "car");
    let batch: Vec<_> = (0..5).map(|n| fix(&k, 10.0 + n as f64, 1_700_000_000 + n * 100)).collect();
    store.write(&batch).await.unwrap();

    let mut within = query("bob", Some("car"), Some(1_700_000_100), Some(1_700_000_300));
    within.count = true;
    let history = store.history(&within).await.unwrap();
    assert_eq!(history.count, Some(3));
    let points: Vec<Vec<HistoryPoint>> = history.pages.try_collect().await.unwrap();
    assert_eq!(tsts(&points.concat()), [1_700_000_100, 1_700_000_200, 1_700_000_300]);

    let mut empty = query("bob", Some("car"), Some(1_800_000_000), Some(1_800_000_100));
    empty.count = true;
    let history = store.history(&empty).await.unwrap();
    assert_eq!(history.count, Some(0));
    let pages: Vec<Vec<HistoryPoint>> = history.pages.try_collect().await.unwrap();
    assert!(pages.is_empty(), "no page at all for an empty range: {pages:?}");

    let mut newest = query("bob", Some("car"), None, Some(1_700_000_300));
    newest.limit = Some(2);
    newest.count = true;
    let history = store.history(&newest).await.unwrap();
    assert_eq!(history.count, Some(2));
    let points: Vec<Vec<HistoryPoint>> = history.pages.try_collect().await.unwrap();
    assert_eq!(tsts(&points.concat()), [1_700_000_200, 1_700_000_300]);

    newest.limit = Some(0);
    assert_eq!(read(store, &newest).await, []);
    newest.limit = Some(50);
    assert_eq!(read(store, &newest).await.len(), 4);
    // Beyond what a database counts in (signed 64 bits): everything (`ocat -N` panicked).
    for limit in [i64::MAX.unsigned_abs() + 2, u64::MAX] {
        newest.limit = Some(limit);
        assert_eq!(read(store, &newest).await.len(), 4, "{limit}");
    }
}

async fn a_users_devices_are_merged_in_fix_time_order(store: &SqlStore) {
    let (phone, watch, other) = (key("carol", "phone"), key("carol", "watch"), key("dave", "x"));
    let batch = vec![
        fix(&phone, 1.0, 1_700_000_000),
        fix(&phone, 2.0, 1_700_000_300),
        fix(&watch, 3.0, 1_700_000_100),
        fix(&watch, 4.0, 1_700_000_400),
        fix(&other, 5.0, 1_700_000_200),
    ];
    store.write(&batch).await.unwrap();

    let points = read(store, &query("carol", None, None, None)).await;
    let seen: Vec<(String, i64)> =
        points.iter().map(|p| (p.key.device.to_string(), p.tst)).collect();
    let want = [
        ("phone", 1_700_000_000),
        ("watch", 1_700_000_100),
        ("phone", 1_700_000_300),
        ("watch", 1_700_000_400),
    ];
    assert_eq!(seen, want.map(|(d, t)| (d.to_owned(), t)));

    let mut counted = query("carol", None, Some(1_700_000_100), Some(1_700_000_300));
    counted.count = true;
    let history = store.history(&counted).await.unwrap();
    assert_eq!(history.count, Some(2));
}

async fn long_histories_come_in_full_pages_and_merge_across_them(store: &SqlStore) {
    let (a, b) = (key("erin", "a"), key("erin", "b"));
    let total = PAGE_ROWS as i64 + 500;
    let mut batch = Vec::new();
    for n in 0..total {
        // Device a has the even seconds, b the odd ones, so the merge alternates.
        batch.push(fix(&a, 1.0 + n as f64 * 1e-5, 1_700_000_000 + 2 * n));
        batch.push(fix(&b, 2.0 + n as f64 * 1e-5, 1_700_000_001 + 2 * n));
    }
    for chunk in batch.chunks(1000) {
        store.write(chunk).await.unwrap();
    }

    let history = store.history(&query("erin", None, None, None)).await.unwrap();
    let pages: Vec<Vec<HistoryPoint>> = history.pages.try_collect().await.unwrap();
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [2000, 2000, 1000]);
    let points = pages.concat();
    let want: Vec<i64> = (0..2 * total).map(|n| 1_700_000_000 + n).collect();
    assert_eq!(tsts(&points), want);
    assert_eq!(points[1].key.device.as_str(), "b");

    let one = read(store, &query("erin", Some("a"), None, None)).await;
    assert_eq!(one.len(), total as usize);
}

async fn fixes_of_one_second_are_neither_lost_nor_repeated_across_pages(store: &SqlStore) {
    // Fixes 1980 to 2039 share one second (a device that sent many places with one time), so
    // the first page ends inside that run: the next one must go on after the last place read.
    let k = key("jo", "phone");
    let total = PAGE_ROWS as i64 + 100;
    let tst = |n: i64| match n {
        ..1980 => 1_700_000_000 + n,
        1980..2040 => 1_700_010_000,
        _ => 1_700_020_000 + n,
    };
    let lat = |n: i64| 1.0 + n as f64 * 1e-5;
    let batch: Vec<NewMessage> = (0..total).map(|n| fix(&k, lat(n), tst(n))).collect();
    for chunk in batch.chunks(1000) {
        store.write(chunk).await.unwrap();
    }
    let place = |p: &HistoryPoint| (p.tst, (p.lat - 1.0) * 1e5);
    let want = |from: i64| -> Vec<(i64, i64)> { (from..total).map(|n| (tst(n), n)).collect() };
    let got = |points: &[HistoryPoint]| -> Vec<(i64, i64)> {
        points.iter().map(place).map(|(t, n)| (t, n.round() as i64)).collect()
    };

    let history = store.history(&query("jo", Some("phone"), None, None)).await.unwrap();
    let pages: Vec<Vec<HistoryPoint>> = history.pages.try_collect().await.unwrap();
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2000, 100]);
    assert_eq!(got(&pages.concat()), want(0));

    // The newest 100 start inside the run too; and so do the newest 2050 (their page ends
    // inside it once more).
    for limit in [100, 2050] {
        let mut newest = query("jo", Some("phone"), None, None);
        newest.limit = Some(limit);
        assert_eq!(got(&read(store, &newest).await), want(total - limit as i64), "{limit}");
    }
}

async fn a_history_shows_what_was_stored_when_it_opened(store: &SqlStore) {
    let k = key("fay", "phone");
    store.write(&[fix(&k, 1.0, 1_700_000_000)]).await.unwrap();
    let mut counted = query("fay", Some("phone"), None, None);
    counted.count = true;
    let history = store.history(&counted).await.unwrap();
    store.write(&[fix(&k, 2.0, 1_700_000_100)]).await.unwrap();

    let pages: Vec<Vec<HistoryPoint>> = history.pages.try_collect().await.unwrap();
    assert_eq!((history.count, tsts(&pages.concat())), (Some(1), vec![1_700_000_000]));
}

async fn points_carry_their_typed_columns_and_stored_json(store: &SqlStore) {
    let k = key("gus", "van");
    let json = json!({"_type":"location","lat":48.858334,"lon":2.295134,"tst":1700000000,
        "acc":10,"alt":35.5,"vel":12,"cog":90,"batt":79,"t":"u","conn":"w","tid":"GV"});
    store.write(&[location(&k, json, 1_700_000_007)]).await.unwrap();

    let points = read(store, &query("gus", Some("van"), None, None)).await;
    let p = &points[0];
    assert_eq!((p.key.user.as_str(), p.key.device.as_str()), ("gus", "van"));
    assert_eq!((p.tst, p.lat, p.lon, p.received_at), (1700000000, 48.858334, 2.295134, 1700000007));
    assert_eq!(
        (p.acc, p.alt, p.vel, p.cog, p.batt),
        (Some(10.0), Some(35.5), Some(12.0), Some(90.0), Some(79.0))
    );
    assert_eq!(
        (p.tid.as_str(), p.trigger.as_deref(), p.conn.as_deref(), p.addr.as_deref()),
        ("GV", Some("u"), Some("w"), None)
    );
    assert_eq!(
        p.payload,
        r#"{"_type":"location","lat":48.858334,"lon":2.295134,"tst":1700000000,"acc":10,"alt":35.5,"vel":12,"cog":90,"batt":79,"t":"u","conn":"w","tid":"GV"}"#
    );
}

async fn message_columns_leave_the_typed_fields_empty(store: &SqlStore) {
    let k = key("gus", "van");
    let json = json!({"_type":"location","lat":48.858334,"lon":2.295134,"tst":1700000000,
        "acc":10,"alt":35.5,"t":"u","conn":"w","tid":"GV","desc":"Zürich \"Hb\"\n"});
    store.write(&[location(&k, json, 1_700_000_007)]).await.unwrap();
    store.write(&[fix(&k, 1.5, 1_700_000_100)]).await.unwrap();

    let mut q = query("gus", Some("van"), None, None);
    q.columns = HistoryColumns::Message;
    let points = read(store, &q).await;
    let bare = |p: &HistoryPoint| {
        (p.tid.clone(), p.trigger.clone(), p.acc, p.alt, p.vel, p.cog, p.batt, p.conn.clone())
    };
    let empty = (String::new(), None, None, None, None, None, None, None);
    assert_eq!(bare(&points[0]), empty);
    assert_eq!(bare(&points[1]), empty);
    assert_eq!(points[0].addr, None);
    // Only the times are read with the message; id, lat and lon may be left 0.
    let times: Vec<_> = points.iter().map(|p| (p.tst, p.received_at)).collect();
    assert_eq!(times, [(1700000000, 1700000007), (1700000100, 1700000105)]);
    assert_eq!(
        points[0].payload,
        r#"{"_type":"location","lat":48.858334,"lon":2.295134,"tst":1700000000,"acc":10,"alt":35.5,"t":"u","conn":"w","tid":"GV","desc":"Zürich \"Hb\"\n"}"#
    );
    assert_eq!(
        points[1].payload,
        r#"{"_type":"location","lat":1.5,"lon":-110.0,"tst":1700000100,"tid":"an"}"#
    );

    // With the address: the same, and the address the geocoder set.
    let first = read(store, &query("gus", Some("van"), None, Some(1700000000))).await;
    let fix = [(first[0].id, Some("CH".to_owned()), Some("Zürich".to_owned()))];
    store.record_addresses(&[], &fix, 1_700_000_200).await.unwrap();
    q.columns = HistoryColumns::MessageAndAddress;
    let addressed = read(store, &q).await;
    assert_eq!(bare(&addressed[0]), empty);
    let addrs: Vec<_> = addressed.iter().map(|p| p.addr.as_deref()).collect();
    assert_eq!(addrs, [Some("Zürich"), None]);
    assert_eq!(addressed[0].payload, points[0].payload);
}

async fn a_closed_store_ends_a_long_history_with_an_error(store: &SqlStore) {
    let k = key("ida", "phone");
    let total = 5 * PAGE_ROWS as i64;
    let batch: Vec<_> = (0..total).map(|n| fix(&k, n as f64 * 1e-5, 1_700_000_000 + n)).collect();
    for chunk in batch.chunks(1000) {
        store.write(chunk).await.unwrap();
    }

    let mut pages = store.history(&query("ida", Some("phone"), None, None)).await.unwrap().pages;
    assert_eq!(pages.next().await.unwrap().unwrap().len() as u64, PAGE_ROWS);
    store.close().await;
    let rest: Vec<Result<Vec<HistoryPoint>, StoreError>> = pages.collect().await;
    // Up to two pages may have been read ahead before the close; the next read fails, and
    // nothing comes after the error.
    let (last, read_ahead) = rest.split_last().unwrap();
    assert!(last.is_err(), "the history must end with the error: {last:?}");
    assert!(read_ahead.len() <= 2, "{} pages after the close", read_ahead.len());
    assert!(read_ahead.iter().all(|page| page.as_ref().is_ok_and(|p| p.len() as u64 == PAGE_ROWS)));
}

/// Writes `tst received_at payload addr` lines between `[` and `]`; fails on message `fail_at`.
struct Lines {
    written: usize,
    fail_at: Option<usize>,
}

impl MessageWriter for Lines {
    fn begin(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        out.extend_from_slice(b"[\n");
        Ok(())
    }

    fn message(&mut self, out: &mut Vec<u8>, m: &PointMessage<'_>) -> std::io::Result<()> {
        self.written += 1;
        if self.fail_at == Some(self.written) {
            return Err(std::io::Error::other(format!("message {} refused", self.written)));
        }
        let line = format!("{} {} {} {} {:?}\n", m.key, m.tst, m.received_at, m.payload, m.addr);
        out.extend_from_slice(line.as_bytes());
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        out.extend_from_slice(b"]\n");
        Ok(())
    }
}

async fn written(
    store: &SqlStore,
    query: &HistoryQuery,
    fail_at: Option<usize>,
) -> Vec<Result<String, String>> {
    let history = store.history(query).await.unwrap();
    let chunks = history.written(Box::new(Lines { written: 0, fail_at }));
    let chunks: Vec<_> = chunks.collect().await;
    let text = |bytes: bytes::Bytes| String::from_utf8(bytes.to_vec()).unwrap();
    chunks.into_iter().map(|chunk| chunk.map(text).map_err(|e| e.to_string())).collect()
}

async fn a_written_history_is_its_pages_written(store: &SqlStore) {
    // One device's history in a SQLite file is written where it is read, others from their
    // pages: the same bytes either way, across pages and a run of fixes of one second.
    let k = key("kim", "phone");
    let total = PAGE_ROWS as i64 + 100;
    let tst = |n: i64| if (1990..2010).contains(&n) { 1_700_010_000 } else { 1_700_000_000 + n };
    let batch: Vec<_> = (0..total).map(|n| fix(&k, 1.0 + n as f64 * 1e-5, tst(n))).collect();
    for chunk in batch.chunks(1000) {
        store.write(chunk).await.unwrap();
    }
    store.write(&[fix(&key("kim", "watch"), 5.0, 1_700_000_500)]).await.unwrap();
    let first = read(store, &query("kim", Some("phone"), None, Some(1_700_000_000))).await;
    let fix = [(first[0].id, Some("US".to_owned()), Some("Elm St".to_owned()))];
    store.record_addresses(&[], &fix, 1_700_100_000).await.unwrap();

    for (device, columns) in [
        (Some("phone"), HistoryColumns::MessageAndAddress),
        (Some("phone"), HistoryColumns::Message),
        (Some("phone"), HistoryColumns::All),
        (None, HistoryColumns::MessageAndAddress),
    ] {
        let mut q = query("kim", device, None, None);
        q.columns = columns;
        let mut want = vec![Ok("[\n".to_owned())];
        for page in store.history(&q).await.unwrap().pages.try_collect::<Vec<_>>().await.unwrap() {
            let mut lines = Lines { written: 0, fail_at: None };
            let mut out = Vec::new();
            for point in &page {
                lines.message(&mut out, &point.message()).unwrap();
            }
            want.push(Ok(String::from_utf8(out).unwrap()));
        }
        want.push(Ok("]\n".to_owned()));
        let got = written(store, &q, None).await;
        // Chunks may be cut differently (the direct writer sends the start and the end with
        // a page); the document and its end are the same.
        let document = |chunks: &[Result<String, String>]| -> String {
            chunks.iter().map(|c| c.clone().unwrap()).collect()
        };
        assert_eq!(document(&got), document(&want), "{device:?} {columns:?}");
        let lines = document(&got).lines().count();
        let points = if device.is_some() { total } else { total + 1 };
        assert_eq!(lines, points as usize + 2, "{device:?} {columns:?}");
        let addressed = document(&got).lines().nth(1).unwrap().ends_with(r#"Some("Elm St")"#);
        assert_eq!(addressed, columns != HistoryColumns::Message, "{device:?} {columns:?}");
    }

    // A writer's failure ends the chunks with the error, and the end never comes.
    let got = written(store, &query("kim", Some("phone"), None, None), Some(2050)).await;
    let (last, before) = got.split_last().unwrap();
    assert_eq!(last.clone().unwrap_err(), "writing the history failed");
    let text: String = before.iter().map(|c| c.clone().unwrap()).collect();
    assert_eq!(text.lines().count(), 1 + 2000, "the start and the first page");
}

async fn unknown_users_and_devices_are_named(store: &SqlStore) {
    store.write(&[fix(&key("hal", "phone"), 1.0, 1_700_000_000)]).await.unwrap();
    let error = store.history(&query("nobody", None, None, None)).await.unwrap_err();
    assert_eq!(error.to_string(), r#"unknown user "nobody""#);
    let error = store.history(&query("hal", Some("tablet"), None, None)).await.unwrap_err();
    assert_eq!(error.to_string(), r#"unknown device "tablet" of user "hal""#);
}

backends!(
    late_fixes_come_out_in_fix_time_order,
    bounds_are_inclusive_and_an_empty_range_is_empty,
    a_users_devices_are_merged_in_fix_time_order,
    long_histories_come_in_full_pages_and_merge_across_them,
    a_history_shows_what_was_stored_when_it_opened,
    fixes_of_one_second_are_neither_lost_nor_repeated_across_pages,
    points_carry_their_typed_columns_and_stored_json,
    message_columns_leave_the_typed_fields_empty,
    a_closed_store_ends_a_long_history_with_an_error,
    a_written_history_is_its_pages_written,
    unknown_users_and_devices_are_named,
);

#[tokio::test]
async fn too_many_history_reads_at_once_are_refused_as_busy() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/busy.db", dir.path().display());
    let store = SqlStore::open(&url).await.unwrap().with_heavy_reads(1, Duration::from_millis(50));
    store.write(&[fix(&key("ivy", "phone"), 1.0, 1_700_000_000)]).await.unwrap();
    let q = query("ivy", Some("phone"), None, None);

    let running = store.history(&q).await.unwrap();
    let error = store.history(&q).await.unwrap_err();
    assert!(matches!(error, StoreError::Busy { permits: 1 }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "too many history reads are running (at most 1 at once); retry later"
    );

    // The turn comes back when the running read is dropped.
    drop(running);
    assert_eq!(read(&store, &q).await.len(), 1);
}
