//! Geofences end to end: fences from the API and from an app's regions, alerts through the real
//! Mosquitto with exact payloads, overlapping fences, drift across an edge, a late point, a
//! restart between points, fence objects published and removed, and the API's answers to bad
//! fences.

use serde_json::{Value, json};

use super::listen::Listener;
use crate::common::{
    TestServer, forget_session, publish_mosquitto, publish_v311, unique, use_mosquitto,
    wait_for_subscription,
};

fn fix(lat: f64, lon: f64, tst: i64) -> String {
    json!({"_type": "location", "lat": lat, "lon": lon, "tst": tst, "tid": "BB", "t": "t",
           "trip": 30700, "dist": 1, "alt": 12, "cog": 0, "vel": 0})
    .to_string()
}

async fn add_fence(server: &TestServer, body: Value) -> i64 {
    let response = server.post("/api/0/fences", &[], body.to_string()).await;
    assert_eq!(response.status().as_u16(), 201);
    response.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

/// The LOADays alert of the seed vectors, through Mosquitto, with the device's topic added.
#[tokio::test]
async fn alerts_through_mosquitto() {
    let user = unique("fence");
    let client_id = unique("pista-fence");
    let prefix = unique("_pf");
    let topics = vec![format!("owntracks/{user}/#")];
    let server = TestServer::start(|s| {
        use_mosquitto(s, &client_id, &topics);
        s.map_topic = format!("{prefix}/_map");
        s.look_topic = format!("{prefix}/_look");
        s.alert_topic = format!("{prefix}/_alerts");
    })
    .await;
    wait_for_subscription(&server, &user).await;
    let url = pista_ingest::BrokerUrl::parse(&crate::common::mosquitto_url()).unwrap();
    let listener = Listener::start(url.port, &[&format!("{prefix}/#")]).await;
    let id = add_fence(
        &server,
        json!({"name": "LOADays", "lat": 51.1694, "lon": 4.38942, "radius": 300}),
    )
    .await;

    let device = format!("owntracks/{user}/bb");
    let far = fix(51.2, 4.5, 1_414_692_000);
    let inside = fix(51.17, 4.39, 1_414_692_409);
    publish_mosquitto(&[(&device, far.as_bytes(), false), (&device, inside.as_bytes(), false)])
        .await;

    let alerts = listener.wait(&format!("{prefix}/_alerts"), 1).await;
    let expected = format!(
        concat!(
            r#"{{"_type": "alert", "addr": "unknown location", "alt": 12, "cc": "??", "#,
            r#""cog": 0, "compass": "N", "dist": 1, "dstamp": "30/18:06:49", "#,
            r#""event": "enters", "km": "0.08", "lat": 51.17, "lon": 4.39, "meters": 78, "#,
            r#""status": 1, "t": "t", "tid": "BB", "topic": "{device}", "trigger": 1, "#,
            r#""trip": 30700, "tst": 1414692409, "tstamp": "2014-10-30T18:06:49Z", "vel": 0, "#,
            r#""wplat": 51.1694, "wplon": 4.38942, "wpname": "LOADays", "#,
            r#""wptopic": "pista/fences"}}"#
        ),
        device = device
    );
    assert_eq!(alerts[0].payload, expected);
    // The alert's line is the original's plain text (no stamp, no topic column).
    let line = listener.wait(&format!("{prefix}/_look/{device}/_alert"), 1).await;
    assert_eq!(line[0].payload, "ALERT: BB: enters LOADays at 2014-10-30T18:06:49Z. Distance: 78m");

    // The fence object is retained under the server's owner topic and its id.
    let object = listener.wait(&format!("{prefix}/_map/pista/fences/{id}"), 1).await;
    assert_eq!(
        object[0].payload,
        r#"{"lat": 51.1694, "radius": 300, "_type": "fence", "lon": 4.38942, "waypoint": "LOADays"}"#
    );

    let (status, stored) = server.get(&format!("/api/0/alerts?user={user}&device=bb")).await;
    assert_eq!(status, 200);
    assert_eq!(stored.as_array().unwrap().len(), 1);
    assert_eq!(stored[0]["event"], "enter");
    assert_eq!(stored[0]["fence"], id);
    assert_eq!(stored[0]["alert"]["meters"], 78);

    listener.stop().await;
    server.stop().await;
    forget_session(&client_id).await;
    let topic = format!("{prefix}/_map/pista/fences/{id}");
    publish_mosquitto(&[(&topic, b"", true)]).await;
}

fn fence_hash(owner: &str, lat: f64, lon: f64) -> String {
    pista_derive::fence::fence_topic_hash(owner, lat, lon)
}

/// Events as `(fence name, event, tst)` from the API.
async fn events(server: &TestServer, user: &str, device: &str) -> Vec<(String, String, i64)> {
    let (_, fences) = server.get("/api/0/fences").await;
    let name = |id: &Value| {
        fences
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == *id)
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (_, alerts) = server.get(&format!("/api/0/alerts?user={user}&device={device}")).await;
    alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (name(&a["fence"]), a["event"].as_str().unwrap().to_owned(), a["tst"].as_i64().unwrap())
        })
        .collect()
}

/// Overlapping fences, drift along an edge, a late point and a restart in between.
#[tokio::test]
async fn overlapping_fences_drift_late_points_and_a_restart() {
    let server = TestServer::start(|_| {}).await;
    let port = server.broker_port();
    // Two overlapping circles around the same square and a polygon inside both.
    add_fence(&server, json!({"name": "big", "lat": 50.0, "lon": 8.0, "radius": 1000})).await;
    add_fence(&server, json!({"name": "small", "lat": 50.0, "lon": 8.0, "radius": 200})).await;
    add_fence(&server, json!({"name": "square", "polygon": [[49.999, 7.999], [49.999, 8.001], [50.001, 8.001], [50.001, 7.999]]})).await;
    // A fence for another user's devices never fires for this one.
    add_fence(
        &server,
        json!({"name": "theirs", "user": "someone", "lat": 50.0, "lon": 8.0, "radius": 5000}),
    )
    .await;

    let topic = "owntracks/jane/phone";
    let at = |lat: f64, tst: i64| fix(lat, 8.0, tst);
    // 1 km north is 0.008993°; the big fence's edge is at 50.008993.
    let points = [
        at(50.02, 1_700_000_000),    // far outside: states set, nothing fires
        at(50.0, 1_700_000_100),     // centre: enters all three
        at(50.00905, 1_700_000_200), // ~6 m beyond the big edge: inside the margin, no leave
        at(50.00895, 1_700_000_300), // back inside: nothing
        at(50.00908, 1_700_000_400), // drift again: nothing
    ];
    let messages: Vec<(&str, &[u8], bool)> =
        points.iter().map(|p| (topic, p.as_bytes(), false)).collect();
    publish_v311(port, &messages).await;
    let entered = vec![
        ("big".to_owned(), "enter".to_owned(), 1_700_000_100),
        ("small".to_owned(), "enter".to_owned(), 1_700_000_100),
        ("square".to_owned(), "enter".to_owned(), 1_700_000_100),
    ];
    crate::common::eventually("three enters", || async {
        (events(&server, "jane", "phone").await.len() >= 3).then_some(())
    })
    .await;
    // The leaves for small and square fired on the drift points (beyond their margins).
    let expected_after_drift = {
        let mut all = entered.clone();
        all.push(("small".to_owned(), "leave".to_owned(), 1_700_000_200));
        all.push(("square".to_owned(), "leave".to_owned(), 1_700_000_200));
        all
    };
    let got = crate::common::eventually("the drift events", || async {
        let got = events(&server, "jane", "phone").await;
        (got.len() >= 5).then_some(got)
    })
    .await;
    assert_eq!(got, expected_after_drift);

    // Restart, then a late point (older than the newest) inside small: nothing fires.
    let server = server.restart().await;
    let port = server.broker_port();
    publish_v311(port, &[(topic, at(50.0, 1_700_000_050).as_bytes(), false)]).await;
    // A new point well outside the big fence fires its leave, remembered across the restart.
    publish_v311(port, &[(topic, at(50.02, 1_700_000_500).as_bytes(), false)]).await;
    let got = crate::common::eventually("the leave after the restart", || async {
        let got = events(&server, "jane", "phone").await;
        (got.len() >= 6).then_some(got)
    })
    .await;
    let mut expected = expected_after_drift.clone();
    expected.push(("big".to_owned(), "leave".to_owned(), 1_700_000_500));
    assert_eq!(got, expected);
    server.stop().await;
}

/// An app's region becomes a fence with its retained object under the owner's topic; the API
/// refuses to edit it, and deleting it clears the object.
#[tokio::test]
async fn app_regions_become_fences() {
    let server = TestServer::start(|_| {}).await;
    let port = server.broker_port();
    let hash = fence_hash("owntracks/jane/phone", 51.1694, 4.38942);
    let object_topic = format!("_owntracks/_map/owntracks/jane/phone/{hash}");
    let listener = Listener::start(port, &["_owntracks/_map/owntracks/jane/phone/+"]).await;
    let waypoint = r#"{"_type":"waypoint","desc":"LOADays","lat":51.1694,"lon":4.38942,"rad":300,"tst":1414600000}"#;
    publish_v311(port, &[("owntracks/jane/phone/waypoint", waypoint.as_bytes(), false)]).await;

    let heard = listener.wait(&object_topic, 1).await;
    assert_eq!(
        heard[0].payload,
        r#"{"lat": 51.1694, "radius": 300, "_type": "fence", "lon": 4.38942, "waypoint": "LOADays"}"#
    );
    let (_, fences) = server.get("/api/0/fences").await;
    assert_eq!(
        fences,
        json!([{"id": 1, "source": "app", "name": "LOADays", "user": "jane", "lat": 51.1694,
                "lon": 4.38942, "radius": 300.0, "owner": {"user": "jane", "device": "phone"},
                "wtst": 1414600000, "updated": fences[0]["updated"]}])
    );

    let response = reqwest::Client::new()
        .put(format!("{}/api/0/fences/1", server.http))
        .body(json!({"name": "x", "lat": 1.0, "lon": 1.0, "radius": 10}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "fence 1 is a region of jane/phone; change it in the app"
    );

    let response = reqwest::Client::new()
        .delete(format!("{}/api/0/fences/1", server.http))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    listener.wait_for(&object_topic, |h| h.payload.is_empty()).await;
    assert_eq!(server.get("/api/0/fences").await.1, json!([]));
    listener.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn bad_fences_are_refused_with_the_reason() {
    let server = TestServer::start(|_| {}).await;
    let cases = [
        ("[1]", "a fence is a JSON object"),
        (r#"{"lat":1,"lon":1,"radius":5}"#, "fence name is required (a non-empty string)"),
        (r#"{"name":"a","lat":1,"lon":1}"#, "fence radius is required (or give a polygon)"),
        (r#"{"name":"a","lat":"x","lon":1,"radius":5}"#, r#"fence lat "x" is not a number"#),
        (
            r#"{"name":"a","lat":91,"lon":1,"radius":5}"#,
            "fence latitude 91 is not a number within -90..=90",
        ),
        (
            r#"{"name":"a","lat":1,"lon":1,"radius":0}"#,
            "fence radius 0 m is not a number within 0 (exclusive) ..= 1000000",
        ),
        (
            r#"{"name":"a","polygon":[[1,1],[2,2]]}"#,
            "fence polygon has 2 distinct points, at least 3 are needed",
        ),
        (r#"{"name":"a","polygon":[[1,1],"x"]}"#, r#"fence polygon corner "x" is not [lat, lon]"#),
        (
            r#"{"name":"a","lat":1,"lon":1,"radius":5,"webhook":"ftp://x"}"#,
            r#"fence webhook "ftp://x" is not an http(s) URL"#,
        ),
        (
            r#"{"name":"a","lat":1,"lon":1,"radius":5,"user":"a/b"}"#,
            r#"user name "a/b" contains '/', which is not allowed in names"#,
        ),
        (
            r#"{"name":"a","radius":5,"polygon":[[1,1],[2,1],[2,2]]}"#,
            "a fence has a radius or a polygon, not both",
        ),
        (
            r#"{"name":"a","lat":1,"lon":1,"radius":5,"colour":"red"}"#,
            r#"fence field "colour" is unknown; fields: name, lat, lon, radius, polygon, user, webhook"#,
        ),
        (
            r#"{"name":"a","lat":1,"lon":1,"radius":5,"webhook":"ftp://jane:s3cret@x"}"#,
            r#"fence webhook "ftp://jane:***@x/" is not an http(s) URL"#,
        ),
    ];
    for (body, message) in cases {
        let response = server.post("/api/0/fences", &[], body).await;
        assert_eq!(response.status().as_u16(), 400, "{body}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], message, "{body}");
    }
    let response = reqwest::Client::new()
        .delete(format!("{}/api/0/fences/99", server.http))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    server.stop().await;
}

fn configured(name: &str, lat: f64, radius: f64) -> pista_store::NewFence {
    pista_store::NewFence {
        source: pista_store::FenceSource::Config,
        user: None,
        name: name.to_owned(),
        lat,
        lon: 8.0,
        radius: Some(radius),
        polygon: None,
        webhook: None,
    }
}

/// Fences of the configuration file: stored at start, kept by name across restarts (an unchanged
/// one keeps its id and every device's side of it), changed or removed with the file, and not
/// editable through the API.
#[tokio::test]
async fn configured_fences_follow_the_file_across_restarts() {
    let server = TestServer::start(|s| {
        s.fences = vec![configured("depot", 50.0, 300.0), configured("yard", 51.0, 100.0)];
    })
    .await;
    let topic = "owntracks/jane/van";
    publish_v311(
        server.broker_port(),
        &[(topic, fix(50.02, 8.0, 1_700_000_000).as_bytes(), false)],
    )
    .await;
    publish_v311(server.broker_port(), &[(topic, fix(50.0, 8.0, 1_700_000_100).as_bytes(), false)])
        .await;
    let entered = vec![("depot".to_owned(), "enter".to_owned(), 1_700_000_100)];
    let got = crate::common::eventually("the enter", || async {
        let got = events(&server, "jane", "van").await;
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(got, entered);

    let (_, fences) = server.get("/api/0/fences").await;
    let listed: Vec<(i64, &str, &str, f64)> = fences
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let (id, source) = (f["id"].as_i64().unwrap(), f["source"].as_str().unwrap());
            (id, source, f["name"].as_str().unwrap(), f["radius"].as_f64().unwrap())
        })
        .collect();
    assert_eq!(listed, [(1, "config", "depot", 300.0), (2, "config", "yard", 100.0)]);
    let client = reqwest::Client::new();
    let put = client
        .put(format!("{}/api/0/fences/1", server.http))
        .body(json!({"name": "depot", "lat": 1.0, "lon": 1.0, "radius": 10}).to_string())
        .send()
        .await
        .unwrap();
    let delete = client.delete(format!("{}/api/0/fences/2", server.http)).send().await.unwrap();
    for response in [put, delete] {
        assert_eq!(response.status().as_u16(), 409);
        let error = response.json::<Value>().await.unwrap()["error"].clone();
        assert!(
            error.as_str().unwrap().ends_with("comes from the configuration file; change it there"),
            "{error}"
        );
    }

    // The file changes: depot unchanged, yard gone, gate new. Depot keeps its id and the van
    // is still inside it, so the restart fires nothing; leaving it fires a leave.
    let server = server
        .restart_with(|s| {
            s.fences = vec![configured("depot", 50.0, 300.0), configured("gate", 52.0, 50.0)];
        })
        .await;
    let (_, fences) = server.get("/api/0/fences").await;
    let names: Vec<(i64, &str)> = fences
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_i64().unwrap(), f["name"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [(1, "depot"), (3, "gate")]);
    publish_v311(server.broker_port(), &[(topic, fix(50.0, 8.0, 1_700_000_200).as_bytes(), false)])
        .await;
    publish_v311(
        server.broker_port(),
        &[(topic, fix(50.02, 8.0, 1_700_000_300).as_bytes(), false)],
    )
    .await;
    let got = crate::common::eventually("the leave", || async {
        let got = events(&server, "jane", "van").await;
        (got.len() >= 2).then_some(got)
    })
    .await;
    let mut expected = entered;
    expected.push(("depot".to_owned(), "leave".to_owned(), 1_700_000_300));
    assert_eq!(got, expected);
    server.stop().await;
}

/// Two server fences with one centre keep apart on MQTT, a fence's webhook password is never
/// listed, moving a fence forgets every device's side of it (no alert for a device that did
/// not move), and an app's region larger than the API allows is no fence.
#[tokio::test]
async fn fence_objects_passwords_moves_and_oversized_regions() {
    let server = TestServer::start(|_| {}).await;
    let port = server.broker_port();
    let listener = Listener::start(port, &["_owntracks/_map/pista/fences/+"]).await;
    let near = add_fence(
        &server,
        json!({"name": "near", "lat": 50.0, "lon": 8.0, "radius": 500,
        "webhook": "https://jane:s3cret@hooks.example/near"}),
    )
    .await;
    let at = add_fence(&server, json!({"name": "at", "lat": 50.0, "lon": 8.0, "radius": 50})).await;
    let first = listener.wait(&format!("_owntracks/_map/pista/fences/{near}"), 1).await;
    let second = listener.wait(&format!("_owntracks/_map/pista/fences/{at}"), 1).await;
    assert!(first[0].payload.contains(r#""waypoint": "near""#), "{}", first[0].payload);
    assert!(second[0].payload.contains(r#""waypoint": "at""#), "{}", second[0].payload);
    let (_, fences) = server.get("/api/0/fences").await;
    assert_eq!(fences[0]["webhook"], "https://jane:***@hooks.example/near");

    // The device sits inside both; then "at" is moved 1 km north, away from it.
    let topic = "owntracks/jane/phone";
    for (lat, tst) in [(50.02, 1_700_000_000), (50.0, 1_700_000_100)] {
        publish_v311(port, &[(topic, fix(lat, 8.0, tst).as_bytes(), false)]).await;
    }
    crate::common::eventually("two enters", || async {
        (events(&server, "jane", "phone").await.len() >= 2).then_some(())
    })
    .await;
    let moved = reqwest::Client::new()
        .put(format!("{}/api/0/fences/{at}", server.http))
        .body(json!({"name": "at", "lat": 50.009, "lon": 8.0, "radius": 50}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status().as_u16(), 200);
    // Only the moved fence's object is published again.
    listener.wait(&format!("_owntracks/_map/pista/fences/{at}"), 2).await;
    assert_eq!(listener.on(&format!("_owntracks/_map/pista/fences/{near}")).len(), 1);
    // A new webhook alone keeps every device's side of the fence.
    let rehooked = reqwest::Client::new()
        .put(format!("{}/api/0/fences/{near}", server.http))
        .body(
            json!({"name": "near", "lat": 50.0, "lon": 8.0, "radius": 500,
                   "webhook": "https://hooks.example/other"})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(rehooked.status().as_u16(), 200);
    publish_v311(port, &[(topic, fix(50.0, 8.0, 1_700_000_200).as_bytes(), false)]).await;
    publish_v311(port, &[(topic, fix(50.02, 8.0, 1_700_000_300).as_bytes(), false)]).await;
    let got = crate::common::eventually("the leave of near", || async {
        let got = events(&server, "jane", "phone").await;
        (got.len() >= 3).then_some(got)
    })
    .await;
    assert_eq!(
        got,
        [
            ("near".to_owned(), "enter".to_owned(), 1_700_000_100),
            ("at".to_owned(), "enter".to_owned(), 1_700_000_100),
            ("near".to_owned(), "leave".to_owned(), 1_700_000_300),
        ]
    );

    // A region of 5000 km is kept as a waypoint but is no fence.
    let region = json!({"_type": "waypoint", "tst": 1_700_000_400, "lat": 50.0, "lon": 8.0,
                        "rad": 5_000_000, "desc": "Europe"});
    publish_v311(port, &[("owntracks/jane/phone/waypoint", region.to_string().as_bytes(), false)])
        .await;
    crate::common::eventually("the stored region", || async {
        let (_, points) = server.get("/api/0/waypoints?user=jane&device=phone").await;
        (points.as_array().is_some_and(|p| !p.is_empty())).then_some(())
    })
    .await;
    let (_, fences) = server.get("/api/0/fences").await;
    let names: Vec<&str> =
        fences.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["near", "at"]);
    listener.stop().await;
    server.stop().await;
}
