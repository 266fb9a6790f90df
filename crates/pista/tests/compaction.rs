//! Compaction end to end on a SQLite file: two devices reporting together, their fixes made two
//! days old, then `pista compact` run beside the running server, and the server's own pass at
//! its start (and none with `database.compact = false`). Every answer of the Recorder API stays
//! byte for byte what it was, each device's fixes end up with consecutive ids below zero, and
//! ingest goes on with its own ids. A URL that opens the file read-only (`mode=ro`) is refused
//! by `pista compact` and `pista serve` by name, and read by `pista ocat`.

use std::path::Path;
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

use crate::common::{TestServer, eventually_within, pista_in};

const DAY: i64 = 86_400;
const T: i64 = 1_700_000_000;

async fn post_fix(server: &TestServer, device: &str, lat: f64, tst: i64) {
    let fix = json!({"_type": "location", "lat": lat, "lon": 13.4, "tst": tst, "tid": "JP"});
    let headers = [("X-Limit-U", "jane"), ("X-Limit-D", device)];
    let response = server.post("/pub", &headers, fix.to_string()).await;
    assert_eq!(response.status(), 200);
}

/// `count` fixes of the phone and the tablet, 30 s apart from `first`, as they arrive when both
/// report at the same time.
async fn report_together(server: &TestServer, first: i64, count: i64) {
    for n in 0..count {
        let tst = first + 30 * n;
        post_fix(server, "phone", 52.0 + n as f64 * 1e-4, tst).await;
        post_fix(server, "tablet", 48.0 - n as f64 * 1e-4, tst).await;
    }
}

/// The answers compared before and after: both devices in every format, a `limit`, and the
/// user's last positions.
async fn answers(server: &TestServer) -> Vec<String> {
    let mut paths = Vec::new();
    for device in ["phone", "tablet"] {
        for format in ["json", "csv", "gpx", "geojson", "linestring", "xml"] {
            paths.push(format!(
                "/api/0/locations?user=jane&device={device}&from=2023-11-14&to=2023-11-20&\
                 format={format}"
            ));
        }
        paths.push(format!("/api/0/locations?user=jane&device={device}&limit=7"));
    }
    paths.push("/api/0/last?user=jane&fields=tst,lat,lon,tid".to_owned());
    let mut texts = Vec::new();
    for path in paths {
        let response = reqwest::get(format!("{}{path}", server.http)).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        texts.push(response.text().await.unwrap());
    }
    texts
}

async fn sql(dir: &Path, statement: &str) {
    let db = Database::connect(format!("sqlite://{}/pista.db", dir.display())).await.unwrap();
    db.execute_unprepared(statement).await.unwrap();
    db.close().await.unwrap();
}

/// Per device (phone, then tablet): its number of fixes, whether all their ids are below zero,
/// and in how many runs of consecutive ids they lie (one per compacted chunk; one per fix when
/// the two devices' fixes alternate).
async fn layout(dir: &Path) -> Vec<(i64, bool, i64)> {
    let db = Database::connect(format!("sqlite://{}/pista.db", dir.display())).await.unwrap();
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*), max(l.id) < 0, sum(NOT EXISTS (SELECT 1 FROM locations p \
                 WHERE p.id = l.id - 1 AND p.device_id = l.device_id)) \
             FROM locations l JOIN devices d ON d.id = l.device_id \
             GROUP BY d.device_name ORDER BY d.device_name",
        ))
        .await
        .unwrap();
    db.close().await.unwrap();
    rows.iter()
        .map(|row| {
            let get = |index| row.try_get_by_index::<i64>(index).unwrap();
            (get(0), get(1) == 1, get(2))
        })
        .collect()
}

#[tokio::test]
async fn pista_compact_and_the_servers_own_pass_change_no_answer() {
    let server = TestServer::start(|_| {}).await;
    let dir = server.dir.path().to_owned();
    report_together(&server, T, 150).await;
    // Fresh fixes stay where they are.
    let (ok, out, err) = pista_in(&dir, &["compact"]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "nothing to move yet: locations are moved once 20000 of them were received 10 minutes \
         ago or more, or once they were received 24 hours ago\n"
    );
    assert_eq!(layout(&dir).await, [(150, false, 150), (150, false, 150)]);

    sql(&dir, &format!("UPDATE locations SET received_at = received_at - {}", 2 * DAY)).await;
    let before = answers(&server).await;
    // A URL that opens the file read-only is refused by name, and nothing moves.
    let file = dir.join("pista.db");
    let read_only = format!("sqlite://{}?mode=ro", file.display());
    let (ok, _, err) = pista_in(&dir, &["compact", "--database", &read_only]);
    assert!(!ok);
    let refusal = format!(
        "database {} is opened read-only (mode=ro in its URL); this writes to it",
        file.display()
    );
    assert!(err.contains(&refusal), "{err}");
    assert_eq!(layout(&dir).await, [(150, false, 150), (150, false, 150)]);
    // A server would refuse every point: it does not start.
    let (ok, _, err) = pista_in(
        &dir,
        &["serve", "--database", &read_only, "--http", "127.0.0.1:0", "--broker", "off"],
    );
    assert!(!ok);
    assert!(err.contains(&refusal), "{err}");
    // Other writers end with SQLite's refusal and what causes it.
    let (ok, _, err) =
        pista_in(&dir, &["delete", "--database", &read_only, "--user", "jane", "--all"]);
    assert!(!ok);
    assert!(
        err.ends_with(
            "attempt to write a readonly database\n  the database cannot be written: its URL \
             opens it read-only (mode=ro), or this user may not write the file or its \
             directory (SQLite makes its -wal and -shm files there, even to read)\n"
        ),
        "{err}"
    );
    // Reading needs no writing: ocat lists the users.
    let (ok, out, err) = pista_in(&dir, &["ocat", "--database", &read_only, "--list"]);
    assert!(ok, "{err}");
    assert_eq!(out, "{\"results\":[\"jane\"]}\n");

    let (ok, out, err) = pista_in(&dir, &["compact"]);
    assert!(ok, "{err}");
    assert_eq!(out, "moved 300 locations into device order in 1 step\n");
    assert_eq!(err, "");
    assert_eq!(layout(&dir).await, [(150, true, 1), (150, true, 1)]);
    assert_eq!(answers(&server).await, before);

    // Ingest goes on: the new fix is the phone's last and in its history.
    post_fix(&server, "phone", 53.0, T + 30 * 150).await;
    let (_, last) = server.get("/api/0/last?user=jane&device=phone").await;
    assert_eq!(last[0]["lat"], 53.0);
    let (_, points) = server.get("/api/0/locations?user=jane&device=phone&limit=1").await;
    assert_eq!(points["data"][0]["tst"], T + 30 * 150);
    assert_eq!(layout(&dir).await, [(151, false, 2), (150, true, 1)]);

    // Off: a restarted server leaves two-day-old fixes where they are.
    report_together(&server, T + 30 * 200, 20).await;
    sql(&dir, &format!("UPDATE locations SET received_at = received_at - {}", 2 * DAY)).await;
    let server = server.restart_with(|settings| settings.compact = false).await;
    let before = answers(&server).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(layout(&dir).await, [(171, false, 21), (170, false, 21)]);

    // On: the server's pass at its start moves them.
    let server = server.restart_with(|settings| settings.compact = true).await;
    eventually_within(Duration::from_secs(20), "the server's compaction", || async {
        (layout(&dir).await == [(171, true, 2), (170, true, 2)]).then_some(())
    })
    .await;
    assert_eq!(answers(&server).await, before);
    server.stop().await;
}
