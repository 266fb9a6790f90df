//! The Recorder's `/api/0/locations` over HTTP with every `format=` and `fields=`, and its bugs
//! from the research notes (§5.1) as cases: T1 (`limit` across months), T2 (`limit` without
//! `from`), T3 (inclusive bounds), T4 (points out of order), T5 (CSV columns and quoting),
//! T25 (field names keep their case, also from `X-Limit-Fields`), T26 (a line over 32 KiB); and
//! `/api/0/last` from memory: new points at once, cards and `fields`, other writers within a
//! second.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common::{FlakyStore, TestServer, eventually, eventually_within};
use serde_json::{Value, json};

async fn post(server: &TestServer, user: &str, device: &str, body: &str) {
    let headers = [("X-Limit-U", user), ("X-Limit-D", device)];
    let response = server.post("/pub", &headers, body.to_owned()).await;
    assert_eq!(response.status().as_u16(), 200, "{body}");
}

/// Status, content type and body of a GET.
async fn fetch(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", server.http));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

fn location(lat: f64, tst: i64, extra: &str) -> String {
    format!(r#"{{"_type":"location","lat":{lat},"lon":{lat},"tst":{tst}{extra}}}"#)
}

#[tokio::test]
async fn limit_reaches_across_months_and_needs_no_from_and_bounds_are_inclusive() {
    let server = TestServer::start(|_| {}).await;
    // T1: two points in October, one in November 2023.
    for (lat, tst) in [(1.0, 1_697_000_000), (2.0, 1_697_003_600), (3.0, 1_700_000_000)] {
        post(&server, "t1", "p", &location(lat, tst, "")).await;
    }
    let path = "/api/0/locations?user=t1&device=p&from=2023-10-01&to=2023-12-01&limit=3&fields=tst";
    let (status, body) = server.get(path).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"count":3,"data":[{"tst":1697000000},{"tst":1697003600},{"tst":1700000000}],
            "status":200,"version":env!("CARGO_PKG_VERSION")})
    );
    // The newest two, oldest first.
    let (_, body) = server.get(&path.replace("limit=3", "limit=2")).await;
    assert_eq!(body["data"], json!([{"tst":1697003600},{"tst":1700000000}]));
    // T2: with limit and no from there is no six-hour floor.
    let (_, body) = server.get("/api/0/locations?user=t1&device=p&limit=1&fields=tst").await;
    assert_eq!(body["data"], json!([{"tst":1700000000}]));
    // T3: both bounds inclusive, to the second (1697000000 = 2023-10-11T04:53:20Z).
    let path = "/api/0/locations?user=t1&device=p&from=2023-10-11T04:53:20&to=2023-10-11T05:53:20&fields=lat";
    let (_, body) = server.get(path).await;
    assert_eq!(body["data"], json!([{"lat":1},{"lat":2}]));
    server.stop().await;
}

#[tokio::test]
async fn every_format_comes_in_fix_order_with_its_media_type() {
    let server = TestServer::start(|_| {}).await;
    // T4: posted out of order.
    for (lat, tst) in [(1.0, 1_700_000_300), (2.0, 1_700_000_100), (3.0, 1_700_000_200)] {
        post(&server, "t4", "p", &location(lat, tst, r#","tid":"T4","alt":7"#)).await;
    }
    let base = "/api/0/locations?user=t4&device=p&from=2023-11-14&to=2023-11-15";
    let (status, content_type, body) =
        fetch(&server, &format!("{base}&format=linestring"), &[]).await;
    assert_eq!((status, content_type.as_str()), (200, "application/geo+json"));
    assert_eq!(
        body,
        r#"{"type":"Feature","properties":{},"geometry":{"coordinates":[[2.0,2.0],[3.0,3.0],[1.0,1.0]],"type":"LineString"}}"#
    );
    let (_, _, body) = fetch(&server, &format!("{base}&format=json&fields=lat"), &[]).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["data"], json!([{"lat":2},{"lat":3},{"lat":1}]));

    let (status, content_type, body) = fetch(&server, &format!("{base}&format=GPX"), &[]).await;
    assert_eq!((status, content_type.as_str()), (200, "application/gpx+xml"));
    let times: Vec<&str> = body.lines().filter(|l| l.starts_with("\t<time>")).collect();
    assert_eq!(
        times,
        [
            "\t<time>2023-11-14T22:15:00Z</time>",
            "\t<time>2023-11-14T22:16:40Z</time>",
            "\t<time>2023-11-14T22:18:20Z</time>"
        ]
    );
    let (_, content_type, body) = fetch(&server, &format!("{base}&format=geojson"), &[]).await;
    assert_eq!(content_type, "application/geo+json");
    let body: Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&Value> =
        body["features"].as_array().unwrap().iter().map(|f| &f["properties"]["tst"]).collect();
    assert_eq!(names, [&json!(1_700_000_100), &json!(1_700_000_200), &json!(1_700_000_300)]);
    let (_, content_type, body) =
        fetch(&server, &format!("{base}&format=xml&fields=tst"), &[]).await;
    assert_eq!(content_type, "application/xml");
    assert_eq!(body.matches("<tst>").count(), 3, "{body}");

    // An unknown format is refused by name; a device the caller cannot see (here: none) is an
    // empty document of the asked format.
    let (status, _, body) = fetch(&server, &format!("{base}&format=kml"), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        json!(
            "unknown format \"kml\"; known: json, geojson, geojsonpoi, linestring, csv, xml, gpx"
        )
    );
    let (status, _, body) =
        fetch(&server, "/api/0/locations?user=nobody&device=p&format=linestring", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        r#"{"type":"Feature","properties":{},"geometry":{"coordinates":[],"type":"LineString"}}"#
    );
    server.stop().await;
}

#[tokio::test]
async fn csv_columns_are_stable_and_quoted_and_fields_keep_their_case() {
    let server = TestServer::start(|_| {}).await;
    // T5: the second point has members the first lacks, and an address with quotes.
    post(&server, "t5", "p", &location(1.0, 1_700_000_000, r#","cog":90,"SSID":"home""#)).await;
    let second = r#","poi":"Cafe","addr":"1 \"Main\" St, Town""#;
    post(&server, "t5", "p", &location(2.0, 1_700_000_100, second)).await;
    let base = "/api/0/locations?user=t5&device=p&from=2023-11-14&to=2023-11-15&format=csv";
    let (status, content_type, body) = fetch(&server, base, &[]).await;
    assert_eq!((status, content_type.as_str()), (200, "text/csv; charset=utf-8; header=present"));
    let want = concat!(
        "_type,tid,lat,lon,tst,acc,alt,batt,vel,cog,t,conn,SSID,BSSID,poi,tag,\"addr\",isorcv,isotst,disptst\n",
        "location,p,1.000000,1.000000,1700000000,,,,,90,,,home,,,,,ISORCV,2023-11-14T22:13:20Z,2023-11-14 22:13:20\n",
        "location,p,2.000000,2.000000,1700000100,,,,,,,,,,Cafe,,\"1 \"\"Main\"\" St, Town\",ISORCV,2023-11-14T22:15:00Z,2023-11-14 22:15:00\n",
    );
    let rows: Vec<String> = body
        .lines()
        .map(|line| {
            // isorcv is the arrival time: blank it out (the 18th column).
            let mut cells: Vec<&str> = line.split(',').collect();
            let at = cells.len() - 3;
            if line.starts_with("location") {
                cells[at] = "ISORCV";
            }
            cells.join(",") + "\n"
        })
        .collect();
    assert_eq!(rows.concat(), want);

    // T25: case kept, from the query and from X-Limit-Fields (which beats the query).
    let (_, _, body) = fetch(&server, &format!("{base}&fields=tst,SSID,cog"), &[]).await;
    assert_eq!(body, "tst,SSID,cog\n1700000000,home,90\n1700000100,,\n");
    let header = [("X-Limit-Fields", "SSID,tst")];
    let (_, _, body) = fetch(&server, &format!("{base}&fields=tst"), &header).await;
    assert_eq!(body, "SSID,tst\nhome,1700000000\n,1700000100\n");
    server.stop().await;
}

#[tokio::test]
async fn a_point_with_a_forty_kilobyte_image_comes_back_whole() {
    let server = TestServer::start(|_| {}).await;
    // T26: the Recorder split lines over 32 KiB and lost the point.
    let image = "A".repeat(40_000);
    let big = format!(r#","poi":"big","image":"{image}","imagename":"x.jpg""#);
    post(&server, "big", "poi", &location(3.0, 1_700_000_000, &big)).await;
    post(&server, "big", "poi", &location(3.0, 1_700_000_001, "")).await;
    let path =
        "/api/0/locations?user=big&device=poi&from=2023-11-14&to=2023-11-15&fields=tst,lat,poi";
    let (_, body) = server.get(path).await;
    assert_eq!(
        body["data"],
        json!([{"tst":1700000000,"lat":3,"poi":"big"},{"tst":1700000001,"lat":3}])
    );
    let (_, body) = server.get(&path.replace("&fields=tst,lat,poi", "")).await;
    assert_eq!(body["data"][0]["image"].as_str().map(str::len), Some(40_000));
    server.stop().await;
}

#[tokio::test]
async fn the_address_found_for_a_fix_is_in_its_items() {
    let server = TestServer::start(|s| s.geocode = "offline".to_owned()).await;
    let eiffel = r#"{"_type":"location","lat":48.858334,"lon":2.295134,"tst":1700000000}"#;
    post(&server, "geo", "p", eiffel).await;
    let path = "/api/0/locations?user=geo&device=p&from=2023-11-14&to=2023-11-15";
    let addr = eventually("the address", || async {
        let (_, body) = server.get(path).await;
        body["data"][0]["addr"].as_str().map(str::to_owned)
    })
    .await;
    assert_eq!(addr, "Neuilly-sur-Seine, Ile-de-France");
    let (_, _, csv) = fetch(&server, &format!("{path}&format=csv&fields=tst,addr"), &[]).await;
    assert_eq!(csv, format!("tst,\"addr\"\n1700000000,\"{addr}\"\n"));
    server.stop().await;
}

/// `/api/0/last` is answered from memory: a point stored through this server shows at once, the
/// store is read at most about once a second however often callers ask, the card's `name` and
/// `face` and the `ghash` are added, `fields` keeps the named members in its order, and `kill`
/// empties it at once.
#[tokio::test(flavor = "multi_thread")]
async fn last_is_answered_from_memory_and_follows_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = FlakyStore::open(dir.path()).await;
    let server = TestServer::start_with(|_| {}, Some(store.clone())).await;

    post(&server, "mem", "phone", &location(48.5, 1_700_000_000, r#","tid":"MP""#)).await;
    let (_, last) = server.get("/api/0/last").await;
    assert_eq!(last[0]["lat"], json!(48.5));
    assert_eq!(last[0]["tst"], json!(1_700_000_000));
    assert_eq!(last[0]["ghash"], json!("v0d7zth"));
    // The next point is there the moment its POST is answered, without a store read.
    let reads = store.last_reads.load(Ordering::SeqCst);
    post(&server, "mem", "phone", &location(48.25, 1_700_000_060, r#","tid":"MP""#)).await;
    let (_, last) = server.get("/api/0/last?user=mem&device=phone").await;
    assert_eq!(
        (last[0]["lat"].clone(), last[0]["tst"].clone()),
        (json!(48.25), json!(1_700_000_060))
    );
    assert_eq!(last[0]["ghash"], json!("v0d63zw"));
    assert_eq!(last.as_array().unwrap().len(), 1);

    // Forty asks in a row read the store about once a second, not forty times.
    let started = Instant::now();
    for _ in 0..40 {
        let (status, last) = server.get("/api/0/last").await;
        assert_eq!((status, last[0]["tst"].clone()), (200, json!(1_700_000_060)));
    }
    let reads = store.last_reads.load(Ordering::SeqCst) - reads;
    let allowed = started.elapsed().as_secs() as u32 + 1;
    assert!(reads <= allowed, "{reads} store reads for 40 asks in {:?}", started.elapsed());

    // The card shows within a second (cards are not events), not over the message's members.
    let face = "iVBORw0KGgo=";
    let card = format!(r#"{{"_type":"card","name":"Mem Phone","face":"{face}"}}"#);
    post(&server, "mem", "phone", &card).await;
    let item = eventually_within(Duration::from_secs(5), "the card in last", || async {
        let (_, last) = server.get("/api/0/last").await;
        (last[0]["name"] == json!("Mem Phone")).then(|| last[0].clone())
    })
    .await;
    assert_eq!(item["face"], json!(face));
    assert_eq!(item["tid"], json!("MP"));
    let (_, last) = server.get("/api/0/last?fields=tst,name,lat,nothing").await;
    assert_eq!(last, json!([{"tst": 1_700_000_060, "name": "Mem Phone", "lat": 48.25}]));
    let keys: Vec<&str> = last[0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["tst", "name", "lat"]);
}

/// A second server writing into the same database (another ingest worker) is seen by the first
/// one's `/api/0/last` within about a second; a kill through the first shows there at once.
#[tokio::test(flavor = "multi_thread")]
async fn last_shows_another_workers_points_within_a_second() {
    let first = TestServer::start(|_| {}).await;
    post(&first, "two", "a", &location(10.0, 1_700_000_000, "")).await;
    let (_, last) = first.get("/api/0/last").await;
    assert_eq!(last.as_array().unwrap().len(), 1);

    let database = format!("sqlite://{}/pista.db", first.dir.path().display());
    let second = TestServer::start(move |settings| settings.database = database).await;
    post(&second, "two", "b", &location(20.0, 1_700_000_100, "")).await;
    let started = Instant::now();
    let devices = eventually_within(Duration::from_secs(5), "b in the first's last", || async {
        let (_, last) = first.get("/api/0/last").await;
        let devices: Vec<Value> =
            last.as_array().unwrap().iter().map(|i| i["device"].clone()).collect();
        (devices.len() == 2).then_some(devices)
    })
    .await;
    assert_eq!(devices, [json!("a"), json!("b")]);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());

    // A kill through the first server leaves its last at once.
    let response = reqwest::Client::new()
        .post(format!("{}/api/0/kill?user=two&device=a", first.http))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (_, last) = first.get("/api/0/last").await;
    let devices: Vec<&Value> = last.as_array().unwrap().iter().map(|i| &i["device"]).collect();
    assert_eq!(devices, [&json!("b")]);
    second.stop().await;
}
