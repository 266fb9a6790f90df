//! The seed vectors' `_map` and `_look` outputs, reproduced through both brokers, and device
//! objects that survive a restart.

use serde_json::Value;

use super::listen::Listener;
use crate::common::{
    TestServer, forget_session, publish_mosquitto, publish_v311, unique, use_mosquitto,
    wait_for_subscription,
};

const JJOLIE: &str = r#"{"cog":-1,"batt":"79","lon":"2.295134","acc":"10","vel":0,"vac":3,"lat":"48.858334","t":"t","tst":"1415719099","alt":171,"_type":"location","tid":"jj"}"#;
const CSV: &str = "K2,542A46AA,k,40365854,4575769,26,4,7,5,8";

/// The derived outputs of the seed vectors, by topic.
fn seed_output(topic: &str) -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/vectors/seed-payloads.jsonl"
    ))
    .unwrap();
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|v| v["topic"] == topic && v["derived"] == true)
        .map(|v| v["payload"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no derived seed output on {topic}"))
}

#[tokio::test]
async fn seed_map_and_look_through_the_embedded_broker() {
    let server = TestServer::start(|_| {}).await;
    let port = server.broker_port();
    let listener = Listener::start(port, &["_owntracks/#"]).await;
    publish_v311(
        port,
        &[
            ("owntracks/gw/jjolie", JJOLIE.as_bytes(), false),
            ("owntracks/gw/K2", CSV.as_bytes(), false),
        ],
    )
    .await;

    for device in ["jjolie", "K2"] {
        let map = format!("_owntracks/_map/owntracks/gw/{device}");
        let look = format!("_owntracks/_look/owntracks/gw/{device}/");
        let heard = listener.wait(&map, 1).await;
        assert_eq!(heard[0].payload, seed_output(&map), "{map}");
        // Retained: a client subscribing later gets it, flagged as retained.
        let late = Listener::start(port, &[&map]).await;
        let heard = late.wait(&map, 1).await;
        assert_eq!(heard[0].payload, seed_output(&map), "{map}");
        assert!(heard[0].retain, "{map} is retained");
        late.stop().await;
        let heard = listener.wait(&look, 1).await;
        assert_eq!(heard[0].payload, seed_output(&look), "{look}");
        assert!(!heard[0].retain);
    }
    listener.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn seed_map_and_look_through_mosquitto() {
    let user = unique("o2s");
    let client_id = unique("pista-o2s");
    let prefix = unique("_pt");
    let topics = vec![format!("owntracks/{user}/#")];
    let server = TestServer::start(|s| {
        use_mosquitto(s, &client_id, &topics);
        s.map_topic = format!("{prefix}/_map");
        s.look_topic = format!("{prefix}/_look");
    })
    .await;
    wait_for_subscription(&server, &user).await;
    let url = pista_ingest::BrokerUrl::parse(&crate::common::mosquitto_url()).unwrap();
    let listener = Listener::start(url.port, &[&format!("{prefix}/#")]).await;

    let device_topic = format!("owntracks/{user}/jjolie");
    publish_mosquitto(&[(&device_topic, JJOLIE.as_bytes(), false)]).await;

    let map = listener.wait(&format!("{prefix}/_map/{device_topic}"), 1).await;
    let expected = seed_output("_owntracks/_map/owntracks/gw/jjolie")
        .replace("owntracks/gw/jjolie", &device_topic);
    assert_eq!(map[0].payload, expected);
    let look = listener.wait(&format!("{prefix}/_look/{device_topic}/"), 1).await;
    let expected = seed_output("_owntracks/_look/owntracks/gw/jjolie/");
    // The topic column is 32 wide: a longer topic pushes the text along by one space.
    let expected =
        expected.replacen("owntracks/gw/jjolie              ", &format!("{device_topic} "), 1);
    assert_eq!(look[0].payload, expected);

    listener.stop().await;
    server.stop().await;
    forget_session(&client_id).await;
    // Leave nothing retained on the shared broker.
    publish_mosquitto(&[(&format!("{prefix}/_map/{device_topic}"), b"", true)]).await;
}

/// A device object is built from what is stored, so a restart (which empties the embedded
/// broker's retained store) publishes it again, with the status, info and voltages it had.
#[tokio::test]
async fn device_objects_survive_a_restart() {
    let server = TestServer::start(|_| {}).await;
    let port = server.broker_port();
    let info = "Van 17 (Jürgen)";
    publish_v311(
        port,
        &[
            ("owntracks/gw/K2/info", info.as_bytes(), false),
            ("owntracks/gw/K2", CSV.as_bytes(), false),
            ("owntracks/gw/K2/voltage/batt", b"4.1", false),
            ("owntracks/gw/K2/status", b"-1", false),
        ],
    )
    .await;
    let map = "_owntracks/_map/owntracks/gw/K2";
    let expected = concat!(
        r#"{"_type":"location","addr":"unknown location","alt":70,"cc":"??","cog":260,"#,
        r#""compass":"SW","dist":5,"dstamp":"30/05:59:06","info":"Van 17 (J\u00fcrgen)","#,
        r#""lat":40.365854,"lon":4.575769,"status":-1,"t":"k","tid":"K2","#,
        r#""topic":"owntracks/gw/K2","trip":8000,"tst":1412056746,"#,
        r#""tstamp":"2014-09-30T05:59:06Z","vbatt":4.1,"vel":4}"#
    );
    let listener = Listener::start(port, &[map]).await;
    listener.wait_for(map, |h| h.payload == expected).await;
    listener.stop().await;

    let server = server.restart().await;
    let listener = Listener::start(server.broker_port(), &[map]).await;
    let heard = listener.wait(map, 1).await;
    assert_eq!(heard[0].payload, expected);
    assert!(heard[0].retain);

    // The same object over HTTP, with its user and device.
    let mut object: serde_json::Value = serde_json::from_str(expected).unwrap();
    object["user"] = "gw".into();
    object["device"] = "k2".into();
    assert_eq!(server.get("/api/0/map").await, (200, serde_json::json!([object.clone()])));
    assert_eq!(server.get("/api/0/map?user=gw&device=k2").await.1, serde_json::json!([object]));
    assert_eq!(server.get("/api/0/map?user=jane").await.1, serde_json::json!([]));
    let (status, error) = server.get("/api/0/map?device=k2").await;
    assert_eq!((status, &error["error"]), (400, &serde_json::json!("device needs user")));
    listener.stop().await;
    server.stop().await;
}
