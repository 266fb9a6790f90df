//! History export end to end: `GET /api/0/export` in every format with its headers, in fix-time
//! order whatever the arrival order (B37), GPX's schema order (B47), empty documents (B55), an
//! aborted transfer when storage fails part way (B50), the busy answer, named errors; the
//! streamed `/api/0/locations`; and `pista export` of the real binary, to stdout and to a file,
//! with its `.rec` output replayed into another device as the round trip (B11, B50).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::{FlakyStore, TestServer, unique};
use pista_store::SqlStore;
use serde_json::{Value, json};

const PISTA: &str = env!("CARGO_BIN_EXE_pista");

/// B37's fixes, in the order they arrive; the last one has an altitude (B47).
const ARRIVALS: [(f64, f64, i64); 3] =
    [(40.3585, -110.0, 1635796800), (40.36, -110.02, 1635797400), (40.3592, -110.01, 1635797100)];

async fn post_arrivals(server: &TestServer, user: &str, device: &str) {
    for (n, (lat, lon, tst)) in ARRIVALS.into_iter().enumerate() {
        let mut fix = json!({"_type": "location", "lat": lat, "lon": lon, "tst": tst, "tid": "AP"});
        if n == 2 {
            fix["alt"] = json!(179);
        }
        let path = format!("/pub?u={user}&d={device}");
        assert_eq!(server.post(&path, &[], fix.to_string()).await.status(), 200);
    }
}

/// Status, content type, content disposition and body of a GET.
async fn get_text(server: &TestServer, path: &str) -> (u16, String, String, String) {
    let response = reqwest::get(format!("{}{path}", server.http)).await.unwrap();
    let header = |name: &str| {
        response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    };
    let (kind, disposition) = (header("content-type"), header("content-disposition"));
    (response.status().as_u16(), kind, disposition, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_api_streams_every_format_in_fix_time_order() {
    let server = TestServer::start(|_| {}).await;
    let user = unique("ex");
    post_arrivals(&server, &user, "phone").await;
    let path = |format: &str| format!("/api/0/export?user={user}&device=phone&format={format}");

    let (status, kind, disposition, gpx) = get_text(&server, &path("gpx")).await;
    assert_eq!((status, kind.as_str()), (200, "application/gpx+xml"));
    assert_eq!(disposition, format!("attachment; filename=\"{user}-phone.gpx\""));
    let points: Vec<&str> = gpx.lines().filter(|l| l.starts_with("<trkpt")).collect();
    assert_eq!(
        points,
        [
            "<trkpt lat=\"40.3585\" lon=\"-110\"><time>2021-11-01T20:00:00Z</time></trkpt>",
            "<trkpt lat=\"40.3592\" lon=\"-110.01\"><ele>179</ele><time>2021-11-01T20:05:00Z</time></trkpt>",
            "<trkpt lat=\"40.36\" lon=\"-110.02\"><time>2021-11-01T20:10:00Z</time></trkpt>",
        ]
    );
    assert!(gpx.ends_with("</trkseg></trk>\n</gpx>\n"), "{gpx}");

    let (_, kind, _, csv) = get_text(&server, &path("csv")).await;
    assert_eq!(kind, "text/csv; charset=utf-8; header=present");
    let tsts: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').nth(2).unwrap()).collect();
    assert_eq!(tsts, ["1635796800", "1635797100", "1635797400"]);

    let (_, kind, _, json) = get_text(&server, &path("json")).await;
    assert_eq!(kind, "application/json");
    let items: Vec<Value> = serde_json::from_str(&json).unwrap();
    let tsts: Vec<i64> = items.iter().map(|i| i["tst"].as_i64().unwrap()).collect();
    assert_eq!(tsts, [1635796800, 1635797100, 1635797400]);
    assert_eq!(
        (items[0]["username"].as_str(), items[0]["device"].as_str()),
        (Some(&*user), Some("phone"))
    );

    let (_, kind, _, geojson) = get_text(&server, &path("geojson")).await;
    assert_eq!(kind, "application/geo+json");
    let collection: Value = serde_json::from_str(&geojson).unwrap();
    assert_eq!(collection["features"][1]["geometry"]["coordinates"], json!([-110.01, 40.3592]));

    let (_, kind, _, kml) = get_text(&server, &path("kml")).await;
    assert_eq!(kind, "application/vnd.google-earth.kml+xml");
    assert_eq!(kml.matches("<Placemark>").count(), 3);

    let (_, kind, disposition, rec) = get_text(&server, &path("rec")).await;
    assert_eq!(
        (kind.as_str(), disposition),
        ("text/plain; charset=utf-8", format!("attachment; filename=\"{user}-phone.rec\""))
    );
    let first = rec.lines().next().unwrap();
    assert_eq!(
        first,
        "2021-11-01T20:00:00Z\t*                 \t{\"_type\":\"location\",\"lat\":40.3585,\"lon\":-110.0,\"tst\":1635796800,\"tid\":\"AP\"}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_ranges_unknown_names_and_bad_parameters_have_exact_answers() {
    let server = TestServer::start(|_| {}).await;
    let user = unique("ee");
    post_arrivals(&server, &user, "phone").await;

    // B55: an empty window is a valid, empty collection.
    let empty = format!("/api/0/export?user={user}&device=phone&from=2030-01-01&to=2030-01-02");
    let (status, _, _, body) = get_text(&server, &format!("{empty}&format=geojson")).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "{\"type\":\"FeatureCollection\",\"features\":[]}\n")
    );
    let (_, _, _, gpx) = get_text(&server, &format!("{empty}&format=gpx")).await;
    assert!(
        gpx.ends_with(&format!(
            "<trk><name>{user}/phone</name><trkseg>\n</trkseg></trk>\n</gpx>\n"
        )),
        "{gpx}"
    );

    let cases = [
        (
            format!("/api/0/export?user={user}&format=shp"),
            400,
            "unknown format \"shp\"; known: rec, gpx, geojson, csv, kml, json, txt".to_owned(),
        ),
        (
            "/api/0/export?user=nobody&format=gpx".to_owned(),
            404,
            "unknown user \"nobody\"".to_owned(),
        ),
        (
            format!("/api/0/export?user={user}&device=tablet"),
            404,
            format!("unknown device \"tablet\" of user \"{user}\""),
        ),
        (
            format!("/api/0/export?user={user}&format=rec"),
            400,
            format!("format rec holds one device's history; name a device of user \"{user}\""),
        ),
        (
            format!("/api/0/export?user={user}&from=2024-01-02&to=2024-01-01"),
            400,
            "impossible range: from 2024-01-02T00:00:00Z is after to 2024-01-01T00:00:00Z"
                .to_owned(),
        ),
    ];
    for (path, status, message) in cases {
        assert_eq!(
            server.get(&path).await,
            (status, json!({"error": message, "status": status})),
            "{path}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_devices_are_exported_together_in_fix_time_order() {
    let server = TestServer::start(|_| {}).await;
    let user = unique("eu");
    post_arrivals(&server, &user, "phone").await;
    let watch = json!({"_type": "location", "lat": 1.5, "lon": 2.5, "tst": 1635797000});
    server.post(&format!("/pub?u={user}&d=watch"), &[], watch.to_string()).await;

    let (_, _, disposition, csv) =
        get_text(&server, &format!("/api/0/export?user={user}&format=csv")).await;
    assert_eq!(disposition, format!("attachment; filename=\"{user}.csv\""));
    let rows: Vec<String> =
        csv.lines().skip(1).map(|l| l.split(',').take(3).collect::<Vec<_>>().join(",")).collect();
    assert_eq!(
        rows,
        [
            format!("{user},phone,1635796800"),
            format!("{user},watch,1635797000"),
            format!("{user},phone,1635797100"),
            format!("{user},phone,1635797400"),
        ]
    );
    server.stop().await;
}

/// Status and body of a GET, or the error that broke the transfer.
async fn transfer(url: &str) -> Result<(u16, bytes::Bytes), reqwest::Error> {
    let response = reqwest::get(url).await?;
    let status = response.status().as_u16();
    Ok((status, response.bytes().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_failure_part_way_aborts_the_transfer() {
    // B50: the client must see a broken transfer, never a complete-looking cut file.
    let dir = tempfile::tempdir().unwrap();
    let store = FlakyStore::open(dir.path()).await;
    let server = TestServer::start_with(|_| {}, Some(store.clone())).await;
    post_arrivals(&server, "flaky", "phone").await;

    let url = format!("{}/api/0/export?user=flaky&device=phone&format=gpx", server.http);
    let whole = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(whole.ends_with("</gpx>\n"));

    // The headers may or may not have left before the failure; either way the transfer breaks.
    store.break_history.store(true, Ordering::SeqCst);
    let error = transfer(&url).await.expect_err("the transfer must not end cleanly");
    assert!(error.is_body() || error.is_decode() || error.is_request(), "{error:?}");

    let locations = format!(
        "{}/api/0/locations?user=flaky&device=phone&from=2021-11-01&to=2021-11-02",
        server.http
    );
    assert!(transfer(&locations).await.is_err(), "/api/0/locations aborts the same way");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_beyond_the_read_bound_are_answered_busy() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/busy.db", dir.path().display());
    let store = SqlStore::open(&url).await.unwrap().with_heavy_reads(0, Duration::from_millis(20));
    let server = TestServer::start_with(|_| {}, Some(Arc::new(store))).await;
    post_arrivals(&server, "busy", "phone").await;

    let response =
        reqwest::get(format!("{}/api/0/export?user=busy&format=gpx", server.http)).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "10");
    let body: Value = response.json().await.unwrap();
    let message = "too many history reads are running (at most 0 at once); retry later";
    assert_eq!(body, json!({"error": message, "status": 503}));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_stream_the_recorders_shape_with_count_and_limit() {
    let server = TestServer::start(|_| {}).await;
    let user = unique("el");
    post_arrivals(&server, &user, "phone").await;
    let base = format!("/api/0/locations?user={user}&device=phone&from=2021-11-01&to=2021-11-02");

    let response = reqwest::get(format!("{}{base}", server.http)).await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    let tsts: Vec<i64> =
        body["data"].as_array().unwrap().iter().map(|i| i["tst"].as_i64().unwrap()).collect();
    assert_eq!((body["count"].clone(), tsts), (json!(3), vec![1635796800, 1635797100, 1635797400]));
    assert_eq!(
        (body["status"].clone(), body["version"].clone()),
        (json!(200), json!(env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(body["data"][0]["isotst"], "2021-11-01T20:00:00Z");

    let (_, limited) = server.get(&format!("{base}&limit=2")).await;
    let tsts: Vec<i64> =
        limited["data"].as_array().unwrap().iter().map(|i| i["tst"].as_i64().unwrap()).collect();
    assert_eq!((limited["count"].clone(), tsts), (json!(2), vec![1635797100, 1635797400]));

    let (status, none) = server.get("/api/0/locations?user=nobody&device=x&from=2021-11-01").await;
    assert_eq!((status, none["count"].clone(), none["data"].clone()), (200, json!(0), json!([])));
    server.stop().await;
}

fn pista(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(PISTA).args(args).env_remove("PISTA_CONFIG").output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pista_export_writes_stdout_or_a_whole_file_and_its_rec_replays() {
    let server = TestServer::start(|_| {}).await;
    let user = unique("ec");
    post_arrivals(&server, &user, "phone").await;
    let data = server.dir.path().to_str().unwrap().to_owned();
    let base = ["export", "--data-dir", &data, "--user", &user];

    let (ok, stdout, stderr) = pista(
        &[&base[..], &["--device", "phone", "--format", "csv", "--from", "2021-11-01T20:05:00"]]
            .concat(),
    );
    assert!(ok, "{stderr}");
    let rows: Vec<&str> = stdout.lines().map(|l| l.split(',').nth(2).unwrap()).collect();
    assert_eq!(rows, ["tst", "1635797100", "1635797400"]);

    // TXT in a zone: 20:05 UTC is 16:05 in New York (daylight saving time until 7 November).
    let txt = ["--device", "phone", "--format", "txt", "--from", "2021-11-01T20:05:00"];
    let (ok, stdout, stderr) = pista(&[&base[..], &txt, &["--tz", "America/New_York"]].concat());
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].contains("Timestamp(America/New_York)"), "{stdout}");
    assert!(lines[1].contains("2021-11-01 16:05:00"), "{stdout}");
    assert!(lines[2].contains("2021-11-01 16:10:00"), "{stdout}");
    let (ok, utc, _) = pista(&[&base[..], &txt].concat());
    assert!(ok && utc.lines().nth(1).unwrap().contains("2021-11-01 20:05:00"), "{utc}");

    let file = server.dir.path().join("2021-11.rec");
    let out = file.to_str().unwrap();
    let (ok, stdout, stderr) =
        pista(&[&base[..], &["--device", "phone", "--format", "rec", "--out", out]].concat());
    assert!(ok, "{stderr}");
    let rec = std::fs::read_to_string(&file).unwrap();
    assert_eq!(stdout, format!("exported {user}/phone as rec to {out} ({} bytes)\n", rec.len()));
    assert_eq!(rec.lines().count(), 3);

    let bad = [
        (vec!["--format", "shp"], "error: --format: unknown format \"shp\"; known: rec, gpx, geojson, csv, kml, json, txt\n".to_owned()),
        (vec!["--format", "gpx", "--device", "tablet"], format!("error: unknown device \"tablet\" of user \"{user}\"\n")),
        (vec!["--format", "gpx", "--from", "soon"], "error: --from: \"soon\" is not a time; use YYYY-MM-DDTHH:MM:SS (UTC), YYYY-MM-DD, YYYY-MM, an RFC 3339 time with offset, or epoch seconds\n".to_owned()),
        (vec!["--format", "gpx", "--tz", "Europe/Paris"], "error: --tz \"Europe/Paris\" is for --format txt (the others write UTC)\n".to_owned()),
        (vec!["--format", "txt", "--tz", "Mars/Olympus"], "error: --tz: unknown time zone \"Mars/Olympus\"; use an IANA name such as Europe/Berlin or UTC\n".to_owned()),
        (vec!["--format", "rec"], format!("error: format rec of a whole user is a tree of files (rec/USER/DEVICE/YYYY-MM.rec): give --out DIRECTORY, or name a --device of user \"{user}\"\n")),
    ];
    for (args, want) in bad {
        let (ok, stdout, stderr) = pista(&[&base[..], &args[..]].concat());
        assert_eq!((ok, stdout.as_str(), stderr.as_str()), (false, "", want.as_str()), "{args:?}");
    }
    let (ok, _, stderr) =
        pista(&["export", "--data-dir", &data, "--user", "nobody", "--format", "gpx"]);
    assert_eq!((ok, stderr.as_str()), (false, "error: unknown user \"nobody\"\n"));

    // The round trip: the exported .rec replayed into another device gives the same track.
    let target = format!("{}/pub", server.http);
    let (ok, _, stderr) =
        pista(&["replay", out, "--user", &user, "--device", "copy", "--to", &target, "--fast"]);
    assert!(ok, "{stderr}");
    let json_of = |device: &str| {
        let (ok, stdout, stderr) =
            pista(&[&base[..], &["--device", device, "--format", "json"]].concat());
        assert!(ok, "{stderr}");
        let items: Vec<Value> = serde_json::from_str(&stdout).unwrap();
        items.iter().map(|i| json!([i["tst"], i["lat"], i["lon"], i["alt"]])).collect::<Vec<_>>()
    };
    assert_eq!(json_of("copy"), json_of("phone"));
    server.stop().await;
}

/// A whole user's `.rec` export is the Recorder's tree, a file per device and UTC month; it
/// never overwrites an earlier tree, and `pista import recorder` reads it back into the same
/// history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_rec_export_is_the_recorders_tree_and_imports_back() {
    let server = TestServer::start(|_| {}).await;
    let user = unique("tree");
    post_arrivals(&server, &user, "phone").await;
    // The car: two fixes on either side of the turn of the month (UTC), one of them late.
    for tst in [1635724800, 1635724799, 1635811200] {
        let fix = json!({"_type": "location", "lat": 52.1, "lon": 13.2, "tst": tst, "tid": "CR"});
        let path = format!("/pub?u={user}&d=car");
        assert_eq!(server.post(&path, &[], fix.to_string()).await.status(), 200);
    }
    // A device whose name cannot be a directory is left out, and said so.
    let fix = json!({"_type": "location", "lat": 52.1, "lon": 13.2, "tst": 1635724800});
    let path = format!("/pub?u={user}&d=..");
    assert_eq!(server.post(&path, &[], fix.to_string()).await.status(), 200);
    let data = server.dir.path().to_str().unwrap().to_owned();
    let out = server.dir.path().join("backup");
    let out_text = out.to_str().unwrap();
    let export =
        ["export", "--data-dir", &data, "--user", &user, "--format", "rec", "--out", out_text];

    let (ok, stdout, stderr) = pista(&export);
    assert!(ok, "{stderr}");
    let root = out.join("rec").join(&user);
    let read = |device: &str, month: &str| {
        std::fs::read_to_string(root.join(device).join(format!("{month}.rec"))).unwrap()
    };
    let car_october = read("car", "2021-10");
    let car_november = read("car", "2021-11");
    let phone = read("phone", "2021-11");
    let bytes = car_october.len() + car_november.len() + phone.len();
    assert_eq!(
        stdout,
        format!(
            "exported {user} as rec to {}: 6 points of 2 devices in 3 files ({bytes} bytes)\n  \
             left out device \"..\": its name cannot be a directory (export it with --device \
             \"..\" --out FILE)\n",
            root.display()
        )
    );
    let mut files: Vec<String> = walk(&out);
    files.sort();
    assert_eq!(
        files,
        [
            format!("rec/{user}/car/2021-10.rec"),
            format!("rec/{user}/car/2021-11.rec"),
            format!("rec/{user}/phone/2021-11.rec"),
        ]
    );
    let times = |text: &str| text.lines().map(|l| l[..20].to_owned()).collect::<Vec<_>>();
    assert_eq!(times(&car_october), ["2021-10-31T23:59:59Z"]);
    assert_eq!(times(&car_november), ["2021-11-01T00:00:00Z", "2021-11-02T00:00:00Z"]);
    assert_eq!(phone.lines().count(), 3);
    assert!(
        car_october
            .starts_with("2021-10-31T23:59:59Z\t*                 \t{\"_type\":\"location\"")
    );

    // A second export into the same directory changes nothing.
    let (ok, stdout, stderr) = pista(&export);
    assert_eq!(
        (ok, stdout.as_str(), stderr),
        (
            false,
            "",
            format!(
                "error: {} exists already; export into another directory or move it away\n",
                root.display()
            )
        )
    );
    assert_eq!(read("car", "2021-10"), car_october);
    // A range without points writes nothing, not even the user's directory.
    let empty = server.dir.path().join("empty");
    let range = ["--from", "2030-01-01", "--out", empty.to_str().unwrap()];
    let (ok, stdout, stderr) = pista(&[&export[..7], &range[..]].concat());
    assert_eq!(
        (ok, stdout, stderr),
        (
            true,
            format!(
                "nothing to export: {user} has no points in the range\n  left out device \
                 \"..\": its name cannot be a directory (export it with --device \"..\" --out \
                 FILE)\n"
            ),
            String::new()
        )
    );
    assert_eq!(walk(&empty), Vec::<String>::new());

    // Imported into an empty database, the tree gives each device the same history.
    let copy = tempfile::tempdir().unwrap();
    let copy_data = copy.path().to_str().unwrap();
    let rec = out.join("rec");
    let (ok, _, stderr) =
        pista(&["import", "recorder", rec.to_str().unwrap(), "--data-dir", copy_data, "--quiet"]);
    assert!(ok, "{stderr}");
    for device in ["car", "phone"] {
        let json_of = |data: &str| {
            let args = [
                "export",
                "--data-dir",
                data,
                "--user",
                &user,
                "--device",
                device,
                "--format",
                "json",
            ];
            let (ok, stdout, stderr) = pista(&args);
            assert!(ok, "{stderr}");
            let items: Vec<Value> = serde_json::from_str(&stdout).unwrap();
            items
                .iter()
                .map(|i| json!([i["tst"], i["lat"], i["lon"], i["alt"], i["tid"]]))
                .collect::<Vec<_>>()
        };
        assert_eq!(json_of(copy_data), json_of(&data), "{device}");
    }
    server.stop().await;
}

/// Every file under `dir`, relative to it.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().to_str().unwrap().to_owned());
            }
        }
    }
    found
}
