//! `pista import` end to end: each format's sample in `testdata/import/` (hand-made in the real
//! layouts) goes through the real binary into SQLite, the summary is checked line by line, the
//! stored values are read back, and a second run stores nothing new. The o2s source reads a
//! MariaDB database made here with the original's schema.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use pista_core::{DeviceKey, UserName};
use pista_store::{Access, AccountStore, Acl, DerivedStore, LocationQuery, SqlStore, Storage};
use sea_orm::{ConnectionTrait, Database};

const PISTA: &str = env!("CARGO_BIN_EXE_pista");

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/import").join(name)
}

/// Runs `pista import ARGS --quiet` on the database in `dir`; returns its output, as `Err` when
/// it failed.
fn import(dir: &Path, args: &[&str]) -> Result<String, String> {
    let (code, text) = outcome(dir, args);
    if code == 0 { Ok(text) } else { Err(text) }
}

/// Runs `pista import ARGS --quiet` on the database in `dir`; returns the exit status and
/// stdout followed by stderr.
fn outcome(dir: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(PISTA)
        .arg("import")
        .args(args)
        .arg("--quiet")
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    let text =
        String::from_utf8(output.stdout).unwrap() + &String::from_utf8(output.stderr).unwrap();
    (output.status.code().unwrap(), text)
}

async fn store(dir: &Path) -> SqlStore {
    SqlStore::open(&format!("sqlite://{}/pista.db", dir.display())).await.unwrap()
}

fn key(user: &str, device: &str) -> DeviceKey {
    DeviceKey::parse(user, device).unwrap()
}

/// A device's stored track as `(tst, lat, lon, payload)`.
async fn track(store: &SqlStore, user: &str, device: &str) -> Vec<(i64, f64, f64, String)> {
    let query = LocationQuery { key: key(user, device), from: None, to: None, limit: None };
    let stored = store.locations(&query).await.unwrap();
    stored
        .into_iter()
        .map(|l| (l.tst, l.lat, l.lon, serde_json::to_string(&l.json).unwrap()))
        .collect()
}

async fn last_tst(store: &SqlStore, user: &str, device: &str) -> i64 {
    let user = UserName::parse(user).unwrap();
    let last = store.last(Some(&user), Some(&key(user.as_str(), device).device)).await.unwrap();
    last[0].location.tst
}

const NOTHING_NEW: &str = "nothing new: everything read was already stored\n";

#[tokio::test]
async fn a_recorder_store_comes_in_once() {
    let dir = tempfile::tempdir().unwrap();
    let source = sample("recorder");
    let first = import(dir.path(), &["recorder", source.to_str().unwrap()]).unwrap();
    assert_eq!(
        first,
        "read 13, stored 10, already present 1, skipped 2\n  skipped 1: bad JSON\n  skipped 1: \
         invalid_message\n  line 4 of rec/jane/phone/2024-08.rec: bad JSON: EOF while parsing a \
         value at line 1 column 59\n  line 7 of rec/jane/phone/2024-08.rec: invalid_message: \
         location lat 95 is out of range -90..=90\n"
    );

    let store = store(dir.path()).await;
    let jane = track(&store, "jane", "phone").await;
    let points: Vec<(i64, f64, f64)> = jane.iter().map(|(t, la, lo, _)| (*t, *la, *lo)).collect();
    assert_eq!(
        points,
        [
            (1_725_033_401, 47.1, 8.1),
            (1_725_033_460, 47.1, 8.1),
            // B01: the ISO 8601 `tst` is read by ingest's time rule, its fraction dropped.
            (1_725_033_600, 47.2, 8.2),
            (1_725_177_600, 47.3, 8.3),
        ]
    );
    assert!(jane[3].3.contains(r#""acc":5,"batt":80"#), "{}", jane[3].3);
    // The newest fix is the last position, whatever the order the lines came in.
    assert_eq!(last_tst(&store, "jane", "phone").await, 1_725_177_600);
    assert_eq!(track(&store, "bob", "tablet").await.len(), 2);
    assert_eq!(last_tst(&store, "bob", "tablet").await, 1_725_105_600);
    let messages = store.messages(Some(&key("jane", "phone"))).await.unwrap();
    let types: Vec<_> = messages.iter().map(|m| m.msg_type.clone().unwrap_or_default()).collect();
    assert_eq!(types, ["transition", "lwt", "card", "waypoints"]);
    assert!(messages.iter().all(|m| m.source == pista_core::Source::Import));
    let quarantined = store.quarantined(None).await.unwrap();
    assert_eq!(quarantined.len(), 1);
    store.close().await;

    // B34: a second run adds nothing and says so; the line that cannot be read is still named.
    let second = import(dir.path(), &["recorder", source.to_str().unwrap()]).unwrap();
    // F10: the refused line is still skipped, not "already present".
    assert_eq!(
        second,
        "read 13, stored 0, already present 11, skipped 2\n  skipped 1: bad JSON\n  skipped 1: \
         invalid_message\n  line 4 of rec/jane/phone/2024-08.rec: bad JSON: EOF while parsing a \
         value at line 1 column 59\n  line 7 of rec/jane/phone/2024-08.rec: invalid_message: \
         location lat 95 is out of range -90..=90 (already in quarantine)\n"
    );
}

#[tokio::test]
async fn gpx_tracks_stream_in_and_skip_what_has_no_time() {
    let dir = tempfile::tempdir().unwrap();
    let gpx = sample("track.gpx");
    let gpx = gpx.to_str().unwrap();
    assert_eq!(
        import(dir.path(), &["gpx", gpx]).unwrap_err(),
        "error: gpx files do not say whose they are; pass --user and --device\n"
    );
    let args = ["gpx", gpx, "--user", "jane", "--device", "bike"];
    assert_eq!(
        import(dir.path(), &args).unwrap(),
        "read 7, stored 4, already present 0, skipped 3\n  skipped 1: no timestamp\n  skipped \
         1: time without zone\n  skipped 1: unreadable coordinates\n  repaired 1: decimal \
         comma\n  point 4 of track.gpx (byte 646): no timestamp: no <time>\n  point 6 of \
         track.gpx (byte 791): unreadable coordinates: lat \"north\" lon \"11.504\"\n  point 7 of \
         track.gpx (byte 871): time without zone: \"2023-05-01 14:38:11\"\n"
    );
    let store = store(dir.path()).await;
    let points = track(&store, "jane", "bike").await;
    let payloads: Vec<&str> = points.iter().map(|p| p.3.as_str()).collect();
    assert_eq!(
        payloads,
        [
            r#"{"_type":"location","lat":48.137154,"lon":11.576124,"tst":1682951400,"tid":"ke"}"#,
            r#"{"_type":"location","lat":48.1,"lon":11.5,"tst":1682951841,"alt":520,"tid":"ke"}"#,
            r#"{"_type":"location","lat":48.1005,"lon":11.5012,"tst":1682951851,"alt":521,"vel":18,"cog":45,"tid":"ke"}"#,
            // B64: one comma and no point can only be a decimal comma.
            r#"{"_type":"location","lat":48.1015,"lon":11.5031,"tst":1682951871,"tid":"ke"}"#,
        ]
    );
    store.close().await;
    assert_eq!(
        import(dir.path(), &args).unwrap(),
        "read 7, stored 0, already present 4, skipped 3\n  skipped 1: no timestamp\n  skipped 1: time without zone\n  skipped 1: \
         unreadable coordinates\n  repaired 1: decimal comma\n  point 4 of track.gpx (byte 646): \
         no timestamp: no <time>\n  point 6 of track.gpx (byte 791): unreadable coordinates: lat \
         \"north\" lon \"11.504\"\n  point 7 of track.gpx (byte 871): time without zone: \
         \"2023-05-01 14:38:11\"\n"
    );

    // B50: a file cut off keeps the points before the cut and says so; exit status 2.
    let cut = sample("cut.gpx");
    let args = ["gpx", cut.to_str().unwrap(), "--user", "jane", "--device", "cut"];
    assert_eq!(
        outcome(dir.path(), &args),
        (
            2,
            "read 2, stored 2, already present 0, skipped 0\nincomplete: part of the input was \
             not read (see below)\n  cut.gpx ends before its closing tags (cut off?); the \
             points read are imported\n"
                .into()
        )
    );
}

#[tokio::test]
async fn geojson_points_and_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = sample("track.geojson");
    let args = ["geojson", file.to_str().unwrap(), "--user", "jj", "--device", "phone"];
    assert_eq!(
        import(dir.path(), &args).unwrap(),
        "read 6, stored 4, already present 0, skipped 2\n  skipped 1: no timestamp\n  skipped \
         1: not a point or line\n  feature 4 of track.geojson, line 5: no timestamp: no time property\n  \
         feature 5 of track.geojson, line 6: not a point or line: geometry Polygon\n"
    );
    let store = store(dir.path()).await;
    let points = track(&store, "jj", "phone").await;
    let payloads: Vec<&str> = points.iter().map(|p| p.3.as_str()).collect();
    assert_eq!(
        payloads,
        [
            r#"{"_type":"location","lat":48.8606,"lon":2.3376,"tst":1796393400,"batt":77,"alt":42,"tid":"ne"}"#,
            r#"{"_type":"location","lat":48.86,"lon":2.34,"tst":1796394000,"tid":"ne"}"#,
            r#"{"_type":"location","lat":48.861,"lon":2.341,"tst":1796394010,"tid":"ne"}"#,
            r#"{"_type":"location","lat":48.85833,"lon":2.29513,"tst":1796396619,"acc":5,"alt":35,"vel":12,"tid":"ne"}"#,
        ]
    );
    store.close().await;
    let again = import(dir.path(), &args).unwrap();
    assert!(
        again.starts_with(
            "read 6, stored 0, already present 4, skipped 2\n  skipped 1: no timestamp"
        ),
        "{again}"
    );
}

#[tokio::test]
async fn takeout_records_and_both_timeline_exports() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample("Records.json");
    let args = ["takeout", records.to_str().unwrap(), "--user", "al", "--device", "pixel"];
    assert_eq!(
        import(dir.path(), &args).unwrap(),
        "read 4, stored 2, already present 0, skipped 2\n  skipped 1: no coordinates\n  skipped \
         1: no timestamp\n  locations[2] of Records.json, line 22: no coordinates: no \
         latitudeE7/longitudeE7\n  locations[3] of Records.json, line 26: no timestamp: no timestamp or \
         timestampMs\n"
    );
    let store = store(dir.path()).await;
    let payloads: Vec<String> =
        track(&store, "al", "pixel").await.into_iter().map(|p| p.3).collect();
    assert_eq!(
        payloads,
        [
            r#"{"_type":"location","lat":66.8421,"lon":25.5685,"tst":1616411463,"acc":42,"tid":"el"}"#,
            r#"{"_type":"location","lat":66.8422,"lon":25.569,"tst":1616411523,"acc":12,"alt":85,"vel":18,"cog":270,"vac":3,"tid":"el"}"#,
        ]
    );

    let timeline = sample("Timeline.json");
    let args = ["takeout", timeline.to_str().unwrap(), "--user", "al", "--device", "android"];
    assert_eq!(
        import(dir.path(), &args).unwrap(),
        "read 9, stored 6, already present 0, skipped 3\n  skipped 1: no position in segment\n  \
         skipped 2: raw signal without position\n  semanticSegments[3] of Timeline.json, line \
         22: no position in segment: startTime\n  rawSignals[1] of Timeline.json, line 30: raw \
         signal without position: wifiScan\n  rawSignals[2] of Timeline.json, line 31: raw signal without position: \
         activityRecord\n"
    );
    let android: Vec<(i64, f64, f64)> =
        track(&store, "al", "android").await.into_iter().map(|p| (p.0, p.1, p.2)).collect();
    assert_eq!(
        android,
        [
            (1_714_543_200, 48.137154, 11.576124),
            (1_714_543_205, 48.137154, 11.576124),
            (1_714_543_800, 48.14, 11.58),
            (1_714_550_400, 48.15, 11.59),
            (1_714_557_600, 48.15, 11.59),
            (1_714_559_400, 48.137154, 11.576124),
        ]
    );

    // The iOS export: the same day as a top-level array with "geo:" points timed by offsets.
    let ios = sample("location-history.json");
    let args = ["takeout", ios.to_str().unwrap(), "--user", "al", "--device", "iphone"];
    assert_eq!(
        import(dir.path(), &args).unwrap(),
        "read 5, stored 5, already present 0, skipped 0\n"
    );
    let iphone: Vec<(i64, f64, f64)> =
        track(&store, "al", "iphone").await.into_iter().map(|p| (p.0, p.1, p.2)).collect();
    let without_raw: Vec<_> = android.iter().copied().filter(|p| p.0 != 1_714_543_205).collect();
    assert_eq!(iphone, without_raw);
    store.close().await;
    assert_eq!(
        import(dir.path(), &args).unwrap(),
        format!("read 5, stored 0, already present 5, skipped 0\n{NOTHING_NEW}")
    );
}

/// The original's tables as peewee created them on MySQL (seed-inventory.md §2.17).
const O2S_SCHEMA: &[&str] = &[
    "CREATE TABLE `user` (id INTEGER AUTO_INCREMENT PRIMARY KEY, username VARCHAR(255) NOT NULL UNIQUE, pwhash VARCHAR(255) NOT NULL, superuser INTEGER NOT NULL, org INTEGER NULL, token VARCHAR(255) NULL, note VARCHAR(255) NULL, tstamp DATETIME NOT NULL)",
    "CREATE TABLE acl (id INTEGER AUTO_INCREMENT PRIMARY KEY, username VARCHAR(255) NOT NULL, topic VARCHAR(255) NOT NULL, rw INTEGER NOT NULL, note VARCHAR(255) NULL, tstamp DATETIME NOT NULL, UNIQUE INDEX acl_username_topic (username, topic))",
    "CREATE TABLE geo (id INTEGER AUTO_INCREMENT PRIMARY KEY, ghash VARCHAR(8) NOT NULL UNIQUE, src INTEGER NULL, cc VARCHAR(2) NULL, addr VARCHAR(255) NOT NULL)",
    "CREATE TABLE location (id INTEGER AUTO_INCREMENT PRIMARY KEY, topic VARCHAR(255) NOT NULL, tid VARCHAR(2) NOT NULL, lat NUMERIC(10,7) NOT NULL, lon NUMERIC(10,7) NOT NULL, tst DATETIME NOT NULL, vel INTEGER NULL, alt INTEGER NULL, cog INTEGER NULL, trip INTEGER NULL, dist INTEGER NULL, t VARCHAR(1) NULL, ghash VARCHAR(8) NULL, cc VARCHAR(2) NULL, INDEX location_topic (topic), INDEX location_tst (tst))",
    "CREATE TABLE lastloc (id INTEGER AUTO_INCREMENT PRIMARY KEY, topic VARCHAR(255) NOT NULL UNIQUE, tid VARCHAR(2) NOT NULL, lat NUMERIC(10,7) NOT NULL, lon NUMERIC(10,7) NOT NULL, tst DATETIME NOT NULL, vel INTEGER NULL, alt INTEGER NULL, cog INTEGER NULL, trip INTEGER NULL, dist INTEGER NULL, t VARCHAR(1) NULL, ghash VARCHAR(8) NULL, cc VARCHAR(2) NULL)",
    "CREATE TABLE waypoint (id INTEGER AUTO_INCREMENT PRIMARY KEY, topic VARCHAR(255) NOT NULL, tid VARCHAR(2) NOT NULL, lat NUMERIC(10,7) NOT NULL, lon NUMERIC(10,7) NOT NULL, tst DATETIME NOT NULL UNIQUE, rad INTEGER NULL, waypoint VARCHAR(255) NULL)",
    "CREATE TABLE inventory (id INTEGER AUTO_INCREMENT PRIMARY KEY, topic VARCHAR(255) NOT NULL, imei VARCHAR(15) NOT NULL UNIQUE, tid VARCHAR(2) NULL, version VARCHAR(10) NULL, startup DATETIME NULL, odo NUMERIC(7,0) NOT NULL DEFAULT 0, vbatt NUMERIC(4,1) NULL DEFAULT 0, vext NUMERIC(4,1) NULL DEFAULT 0, label VARCHAR(255) NULL, tstamp DATETIME NOT NULL)",
];

const O2S_ROWS: &[&str] = &[
    "INSERT INTO `user` (username, pwhash, superuser, tstamp) VALUES ('jane', 'PBKDF2$sha256$10000$c2FsdHNhbHRzYWx0$nOH9hDiBEAIOcpfyWKR8cpV1WbvXvMJ0', 1, '2015-05-04 10:00:00'), ('bob', 'secret', 0, '2015-05-05 10:00:00'), ('bad/name', 'x', 0, '2015-05-05 10:00:00')",
    "INSERT INTO acl (username, topic, rw, tstamp) VALUES ('jane', 'owntracks/#', 2, '2015-05-04 10:00:00'), ('bob', 'owntracks/bob/#', 1, '2015-05-04 10:00:00'), ('bob', 'owntracks/%u/+', 7, '2015-05-04 10:00:00'), ('bob', 'owntracks/#/x', 1, '2015-05-04 10:00:00')",
    "INSERT INTO geo (ghash, src, cc, addr) VALUES ('sp3e9', 2, 'ES', 'Calle Mayor, Madrid')",
    "INSERT INTO location (topic, tid, lat, lon, tst, vel, alt, cog, trip, dist, t) VALUES ('owntracks/gw/K2', 'K2', 40.3658540, 4.5757690, '2014-09-30 05:59:06', 4, 70, 260, 8000, 5, 'k'), ('owntracks/gw/K2', 'K2', 40.3660000, 4.5760000, '2014-09-30 06:04:06', NULL, NULL, NULL, NULL, NULL, NULL), ('owntracks/jane/phone', 'JP', 48.8583340, 2.2951340, '2015-05-04 10:00:00', 0, 35, 0, NULL, NULL, 'u')",
    "INSERT INTO lastloc (topic, tid, lat, lon, tst) VALUES ('owntracks/gw/K2', 'K2', 40.3660000, 4.5760000, '2014-09-30 06:04:06')",
    "INSERT INTO waypoint (topic, tid, lat, lon, tst, rad, waypoint) VALUES ('owntracks/jane/phone/waypoints', 'JP', 48.8583340, 2.2951340, '2015-05-01 09:00:00', 100, 'Tower')",
    "INSERT INTO inventory (topic, imei, tid, version, startup, tstamp) VALUES ('owntracks/gw/K2', '123456789012345', 'K2', '1.31', '2014-09-30 05:00:00', '2014-09-30 05:00:00')",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_o2s_database_on_mariadb() {
    let admin = std::env::var("PISTA_TEST_MYSQL_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "mysql://root@127.0.0.1:3306/test".to_owned());
    let name = format!("pista_o2s_{}", std::process::id());
    let server = Database::connect(admin.as_str()).await.unwrap();
    server.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
    server
        .execute_unprepared(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"))
        .await
        .unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let o2s = Database::connect(url.as_str()).await.unwrap();
    for statement in O2S_SCHEMA.iter().chain(O2S_ROWS) {
        o2s.execute_unprepared(statement).await.unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let first = import(dir.path(), &["o2s", &url]).unwrap();
    assert_eq!(
        first,
        "read 14, stored 5, already present 1, skipped 3\n  skipped 1: bad rw\n  skipped 1: bad \
         topic\n  skipped 1: bad user name\n  acls: added 2, already present 0, skipped 2\n  geo \
         cache: added 1, already present 0, skipped 0\n  users: added 2, already present 0, \
         skipped 1\n  user row id 3: bad user name: user name \"bad/name\" contains '/', which \
         is not allowed in names\n  acl row id 3: bad rw: acl rw 7 is neither 1 (read) nor 2 \
         (read and write)\n  acl row id 4: bad topic: acl topic \"owntracks/#/x\" has '#' that \
         is not a whole level at the end\n"
    );

    let store = store(dir.path()).await;
    let users = store.accounts().await.unwrap();
    let hashes: Vec<(&str, &str, bool)> =
        users.iter().map(|u| (u.name.as_str(), u.password.as_str(), u.superuser)).collect();
    assert_eq!(
        hashes,
        [
            ("bob", "secret", false),
            ("jane", "PBKDF2$sha256$10000$c2FsdHNhbHRzYWx0$nOH9hDiBEAIOcpfyWKR8cpV1WbvXvMJ0", true),
        ]
    );
    assert_eq!(users[1].created_at, 1_430_733_600);
    let user = |name| UserName::parse(name).unwrap();
    assert_eq!(
        store.acls(None).await.unwrap(),
        [
            Acl::new(user("bob"), "owntracks/bob/#", Access::Read).unwrap(),
            Acl::new(user("jane"), "owntracks/#", Access::ReadWrite).unwrap(),
        ]
    );
    let cell = store.geo_cell("sp3e9").await.unwrap().unwrap();
    assert_eq!(
        (cell.cc.as_deref(), cell.addr.as_deref()),
        (Some("ES"), Some("Calle Mayor, Madrid"))
    );

    let k2: Vec<String> = track(&store, "gw", "K2").await.into_iter().map(|p| p.3).collect();
    assert_eq!(
        k2,
        [
            r#"{"_type":"location","tid":"K2","lat":40.365854,"lon":4.575769,"tst":1412056746,"vel":4,"alt":70,"cog":260,"trip":8000,"dist":5,"t":"k"}"#,
            r#"{"_type":"location","tid":"K2","lat":40.366,"lon":4.576,"tst":1412057046}"#,
        ]
    );
    assert_eq!(last_tst(&store, "gw", "K2").await, 1_412_057_046);
    let inventory = store.inventory().await.unwrap();
    assert_eq!(inventory.len(), 1);
    assert_eq!(inventory[0].imei, "123456789012345");
    let regions = store.waypoints(&key("jane", "phone")).await.unwrap();
    assert_eq!(regions.len(), 1);
    store.close().await;

    let second = import(dir.path(), &["o2s", &url]).unwrap();
    assert!(
        second.starts_with("read 14, stored 0, already present 6, skipped 3\n  skipped 1: bad rw"),
        "{second}"
    );
    assert!(second.contains("users: added 0, already present 2, skipped 1\n"), "{second}");
    server.execute_unprepared(&format!("DROP DATABASE {name}")).await.unwrap();
}

/// Writes `contents` to `name` in `dir`; returns the path as a string.
fn write(dir: &Path, name: &str, contents: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_owned()
}

fn as_device<'a>(format: &'a str, file: &'a str, device: &'a str) -> [&'a str; 6] {
    [format, file, "--user", "u", "--device", device]
}

#[test]
fn a_syntax_error_costs_one_record_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let point = |lat: u32, end: &str| {
        format!("<trkpt lat=\"{lat}\" lon=\"8\"><time>2023-05-01T14:3{lat}:00Z</{end}></trkpt>\n")
    };
    let gpx = format!(
        "<gpx><trk><trkseg>\n{}{}{}</trkseg></trk></gpx>\n",
        point(1, "time"),
        point(2, "tme"),
        point(3, "time")
    );
    let gpx = write(files.path(), "broken.gpx", gpx.as_bytes());
    assert_eq!(
        outcome(dir.path(), &as_device("gpx", &gpx, "g")),
        (
            0,
            "read 3, stored 2, already present 0, skipped 1\n  skipped 1: bad XML\n  point 2 of \
             broken.gpx (byte 84): bad XML: ill-formed document: expected `</time>`, but \
             `</tme>` was found\n"
                .into()
        )
    );

    // F1, F2: a trailing comma in record 2 and a Latin-1 byte in record 3 of a Takeout file
    // with a byte order mark; records 3 and 4 still come in.
    let records = b"\xEF\xBB\xBF{\"locations\":[\n\
        {\"latitudeE7\":481371540,\"longitudeE7\":115761240,\"timestamp\":\"2024-05-01T08:00:00Z\"},\n\
        {\"latitudeE7\":481371541,\"longitudeE7\":115761240,\"timestamp\":\"2024-05-01T08:01:00Z\",},\n\
        {\"latitudeE7\":481371542,\"longitudeE7\":115761240,\"timestamp\":\"2024-05-01T08:02:00Z\",\"source\":\"Caf\xe9\"},\n\
        {\"latitudeE7\":4294967295,\"longitudeE7\":\"115761240\",\"timestamp\":\"2024-05-01T08:03:00Z\"}\n]}";
    let records = write(files.path(), "Records.json", records);
    assert_eq!(
        outcome(dir.path(), &as_device("takeout", &records, "t")),
        (
            0,
            "read 4, stored 3, already present 0, skipped 1\n  skipped 1: bad JSON\n  \
             repaired 1: invalid UTF-8 replaced\n  locations[1] of Records.json, line 3: bad \
             JSON: trailing comma at line 3 column 84\n"
                .into()
        )
    );
    let lats: Vec<f64> = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { track(&store(dir.path()).await, "u", "t").await })
        .into_iter()
        .map(|p| p.1)
        .collect();
    // F15: 4294967295 is -1 stored unsigned.
    assert_eq!(lats, [48.137154, 48.1371542, -1e-7]);

    // A file cut off inside a record says where reading stopped, and exits 2.
    let cut = write(files.path(), "cut.geojson", b"{\"features\":[\n{\"type\":\"Feature\",");
    assert_eq!(
        outcome(dir.path(), &as_device("geojson", &cut, "c")),
        (
            2,
            "read 0, stored 0, already present 0, skipped 0\nincomplete: part of the input was \
             not read (see below)\n  cut.geojson ends at line 2 (byte 32) inside element 1 of \
             \"features\" (from line 2): cut off?\n"
                .into()
        )
    );
}

#[test]
fn what_is_not_the_format_fails_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let empty = write(files.path(), "empty.gpx", b"");
    let records = write(files.path(), "Records.json", b"{\"locations\":[]}");
    let geojson =
        write(files.path(), "t.geojson", b"{\"type\":\"FeatureCollection\",\"features\":[]}");
    let garbage = write(files.path(), "garbage.bin", b"\x00\x01\xff<\x02\x9c");
    let readme = write(files.path(), "README.md", b"# Title\n\nSee <b>this</b>.\n");
    let gpx = sample("track.gpx");
    let folder = files.path().to_str().unwrap();
    let incomplete = "incomplete: part of the input was not read (see below)\n";
    let zero = "read 0, stored 0, already present 0, skipped 0\n";
    let cases: Vec<([&str; 6], i32, String)> = vec![
        (as_device("gpx", &empty, "d"), 2, format!("{zero}{incomplete}  empty.gpx is empty\n")),
        (
            as_device("gpx", &records, "d"),
            2,
            format!(
                "{zero}{incomplete}  Records.json is not GPX: it looks like JSON (GeoJSON or \
                 Takeout?)\n"
            ),
        ),
        (
            as_device("gpx", &garbage, "d"),
            2,
            format!(
                "{zero}{incomplete}  garbage.bin is not GPX: bad XML at byte 3: syntax error: tag not \
                 closed: `>` not found before end of input\n"
            ),
        ),
        (
            as_device("gpx", &readme, "d"),
            2,
            format!("{zero}{incomplete}  README.md is not GPX: it starts with <b>\n"),
        ),
        (
            as_device("gpx", folder, "d"),
            1,
            format!("error: {folder} is a directory, not a gpx file\n"),
        ),
        (
            as_device("takeout", gpx.to_str().unwrap(), "d"),
            2,
            format!(
                "{zero}{incomplete}  track.gpx is not JSON: it starts with '<' (it looks like \
                 XML: a GPX file?)\n"
            ),
        ),
        (
            as_device("takeout", &geojson, "d"),
            2,
            format!(
                "{zero}{incomplete}  t.geojson has no locations, segments or signals: it looks \
                 like GeoJSON (import it as geojson)\n"
            ),
        ),
        (
            as_device("geojson", &records, "d"),
            2,
            format!(
                "{zero}{incomplete}  Records.json has no features: it looks like Google \
                 location history (import it as takeout)\n"
            ),
        ),
        (as_device("takeout", "/dev/null", "d"), 2, format!("{zero}{incomplete}  null is empty\n")),
    ];
    for (args, code, text) in cases {
        assert_eq!(outcome(dir.path(), &args), (code, text), "{args:?}");
    }
}

#[test]
fn recorder_paths_say_whose_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let device = files.path().join("store/rec/alice/phone");
    std::fs::create_dir_all(&device).unwrap();
    std::fs::create_dir_all(files.path().join("nothing")).unwrap();
    let line = "2024-08-30T15:56:41Z\t*\t{\"_type\":\"location\",\"tst\":1725033401,\"lat\":47.1,\"lon\":8.1}\n";
    std::fs::write(device.join("2024-08.rec"), line).unwrap();
    let store = files.path().join("store");
    let store = store.to_str().unwrap();
    // F6: an override for a whole store is refused, not ignored.
    assert_eq!(
        outcome(dir.path(), &["recorder", store, "--user", "x", "--device", "y"]),
        (
            1,
            format!(
                "error: --user and --device apply to one device's directory or one .rec file, \
                 not to {store}, which holds several devices\n"
            )
        )
    );
    // F7: a user's directory brings that user's devices.
    let alice = format!("{store}/rec/alice");
    assert_eq!(
        outcome(dir.path(), &["recorder", &alice]),
        (0, "read 1, stored 1, already present 0, skipped 0\n".into())
    );
    let nothing = files.path().join("nothing");
    let nothing = nothing.to_str().unwrap();
    assert_eq!(
        outcome(dir.path(), &["recorder", nothing]),
        (1, format!("error: {nothing} holds no .rec files and no device directories\n"))
    );
    // One device under another name is fine.
    let phone = format!("{alice}/phone");
    assert_eq!(
        outcome(dir.path(), &["recorder", &phone, "--user", "alice", "--device", "live"]),
        (0, "read 1, stored 1, already present 0, skipped 0\n".into())
    );
}

#[test]
fn unreadable_points_are_counted_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    // F3: path points and a raw signal whose positions cannot be read.
    let timeline = r#"{"semanticSegments":[{"startTime":"2024-05-01T08:00:00Z","timelinePath":[
{"point":"48.1°, 11.5°","time":"2024-05-01T08:00:00Z"},{"point":"abc","time":"2024-05-01T08:01:00Z"},
{"point":"48,1371540°, 11,5761240°","time":"2024-05-01T08:02:00Z"},{"point":"geo:abc","time":"2024-05-01T08:03:00Z"}]}],
"rawSignals":[{"position":{"LatLng":"zzz","timestamp":"2024-05-01T08:04:00Z"}},{"position":{"timestamp":"2024-05-01T08:05:00Z"}}]}"#;
    let timeline = write(files.path(), "Timeline.json", timeline.as_bytes());
    assert_eq!(
        outcome(dir.path(), &as_device("takeout", &timeline, "t")),
        (
            0,
            "read 6, stored 2, already present 0, skipped 4\n  skipped 1: no coordinates\n  \
             skipped 3: unreadable coordinates\n  semanticSegments[0] of Timeline.json, line 1, \
             path point 2: unreadable coordinates: \"abc\"\n  semanticSegments[0] of \
             Timeline.json, line 1, path point 4: unreadable coordinates: \"geo:abc\"\n  \
             rawSignals[0] of Timeline.json, line 4: unreadable coordinates: \"zzz\"\n  \
             rawSignals[1] of Timeline.json, line 4: no coordinates: position without LatLng\n"
                .into()
        )
    );

    // F16: @tmcw/togeojson's times, also per line of a MultiLineString.
    let geojson = r#"{"type":"FeatureCollection","features":[
{"type":"Feature","geometry":{"type":"LineString","coordinates":[[8.1,47.1],[8.2,47.2]]},
 "properties":{"coordinateProperties":{"times":["2024-05-01T08:00:00Z","2024-05-01T08:01:00Z"]}}},
{"type":"Feature","geometry":{"type":"MultiLineString","coordinates":[[[8.3,47.3]],[[8.4,47.4]]]},
 "properties":{"coordinateProperties":{"times":[["2024-05-01T08:02:00Z"],["2024-05-01T08:03:00Z"]]}}}]}"#;
    let geojson = write(files.path(), "togeojson.geojson", geojson.as_bytes());
    assert_eq!(
        outcome(dir.path(), &as_device("geojson", &geojson, "g")),
        (0, "read 4, stored 4, already present 0, skipped 0\n".into())
    );

    // F13: 25 refused points: no warning a record on stderr, 20 named and the rest counted.
    let points: String = (0..25)
        .map(|i| format!("<wpt lat=\"95\" lon=\"8\"><time>2024-05-01T08:{i:02}:00Z</time></wpt>"))
        .collect();
    let gpx = write(files.path(), "far.gpx", format!("<gpx>{points}</gpx>").as_bytes());
    let (code, text) = outcome(dir.path(), &as_device("gpx", &gpx, "f"));
    assert_eq!(code, 0);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 23, "{text}");
    assert_eq!(lines[0], "read 25, stored 0, already present 0, skipped 25");
    assert_eq!(
        lines[2],
        "  point 1 of far.gpx (byte 5): invalid_message: location lat 95 is out of range -90..=90"
    );
    assert_eq!(lines[22], "  ... and 5 more skipped records, counted above but not listed");
}

#[tokio::test]
async fn an_o2s_database_with_only_its_history() {
    let files = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/o2s.db?mode=rwc", files.path().display());
    let o2s = Database::connect(url.as_str()).await.unwrap();
    o2s.execute_unprepared(
        "CREATE TABLE location (id INTEGER PRIMARY KEY, topic TEXT, tid TEXT, lat REAL, lon REAL, \
         tst TEXT, vel INTEGER, alt INTEGER, cog INTEGER, trip INTEGER, dist INTEGER, t TEXT)",
    )
    .await
    .unwrap();
    o2s.execute_unprepared(
        "INSERT INTO location (topic, tid, lat, lon, tst) VALUES ('owntracks/gw/K2', 'K2', 40.5, \
         4.5, '2014-09-30 05:59:06')",
    )
    .await
    .unwrap();
    o2s.close().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = outcome(dir.path(), &["o2s", &url]);
    assert_eq!(code, 0, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "read 1, stored 1, already present 0, skipped 0");
    // F14: every missing table is named and skipped.
    let skipped: Vec<&str> =
        lines[1..].iter().map(|line| line.split(" (skipped)").next().unwrap()).collect();
    assert_eq!(
        skipped,
        [
            "  table user not read",
            "  table acl not read",
            "  table geo not read",
            "  table lastloc not read",
            "  table waypoint not read",
            "  table inventory not read",
        ]
    );
}

/// An o2s server that refuses connections is reported within the connection wait (5 s, not the
/// pool's 30 s), with each reason once.
#[test]
fn an_o2s_server_that_refuses_is_reported_with_each_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("mysql://root@127.0.0.1:{port}/o2s");
    assert_eq!(
        outcome(dir.path(), &["o2s", &url]),
        (
            1,
            format!(
                "error: import stopped; so far: read 0, stored 0, already present 0, skipped 0: \
                 cannot connect to the o2s database {url}: Connection Error: pool timed out \
                 while waiting for an open connection\n"
            )
        )
    );
}

/// A `.rec` line's time is when the Recorder received the message: it is kept as the arrival
/// (the Recorder API's `isorcv`, the device's last-seen time), except that a time after now
/// counts as now, so a line dated in the future is still caught by the time rule.
#[tokio::test]
async fn recorder_lines_keep_their_arrival_time() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let device = files.path().join("rec/alice/phone");
    std::fs::create_dir_all(&device).unwrap();
    let lines = [
        "2024-08-30T15:56:41Z\t*                 \t{\"_type\":\"location\",\"tst\":1725033401,\"lat\":47.1,\"lon\":8.1}",
        "2024-08-30T16:00:00Z\tinfo              \t{\"_type\":\"card\",\"name\":\"Alice\"}",
    ];
    std::fs::write(device.join("2024-08.rec"), lines.join("\n") + "\n").unwrap();
    // Another device's line from the future (its arrival is now; it would make the phone's
    // last-seen time now as well).
    let watch = files.path().join("rec/alice/watch");
    std::fs::create_dir_all(&watch).unwrap();
    let future = "2090-01-01T00:00:00Z\t*                 \t{\"_type\":\"location\",\"tst\":3786912000,\"lat\":47.2,\"lon\":8.2}\n";
    std::fs::write(watch.join("2090-01.rec"), future).unwrap();
    let (status, summary) = outcome(dir.path(), &["recorder", files.path().to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    assert!(summary.starts_with("read 3, stored 2, already present 0, skipped 1\n"), "{summary}");
    assert!(summary.contains("  skipped 1: tst_in_future\n"), "{summary}");

    let store = store(dir.path()).await;
    let phone = key("alice", "phone");
    let query =
        pista_store::LocationQuery { key: phone.clone(), from: None, to: None, limit: None };
    let points = store.locations(&query).await.unwrap();
    let arrivals: Vec<(i64, i64)> = points.iter().map(|p| (p.tst, p.received_at)).collect();
    assert_eq!(arrivals, [(1725033401, 1725033401)]);
    let messages = store.messages(Some(&phone)).await.unwrap();
    let arrivals: Vec<(Option<String>, i64)> =
        messages.iter().map(|m| (m.msg_type.clone(), m.received_at)).collect();
    assert_eq!(arrivals, [(Some("card".to_owned()), 1725033600)]);
    let state = store.device_state(&phone).await.unwrap().unwrap();
    assert_eq!((state.first_seen, state.last_seen), (1725033401, 1725033600));
}
