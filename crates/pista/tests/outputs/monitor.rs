//! The o2smonitor commands through the real Mosquitto (answers on `<topic>/out`, retained
//! commands ignored), over HTTP, and through `pista monitor`, with exact answers.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::listen::Listener;
use crate::common::{
    TestServer, forget_session, publish_mosquitto, unique, use_mosquitto, wait_for_subscription,
};

const PISTA: &str = env!("CARGO_BIN_EXE_pista");

#[tokio::test]
async fn monitor_commands_over_mqtt_http_and_the_cli() {
    let user = unique("mon");
    let client_id = unique("pista-mon");
    let prefix = unique("_pm");
    let topics = vec![format!("owntracks/{user}/#")];
    // A retained command (left by a client earlier) is ignored when the monitor subscribes.
    let command = |name: &str| format!("{prefix}/o2s/{name}");
    let retained = command("info");
    publish_mosquitto(&[(&retained, b"K2", true)]).await;
    let filters = Arc::new(Mutex::new(Vec::<String>::new()));
    let recorded = filters.clone();
    let server = TestServer::start(|s| {
        use_mosquitto(s, &client_id, &topics);
        s.map_topic = format!("{prefix}/_map");
        s.look_topic = format!("{prefix}/_look");
        s.monitor_topic = Some(format!("{prefix}/o2s"));
        s.log_control = Some(pista_ingest::LogControl(Arc::new(move |filter: &str| {
            recorded.lock().unwrap().push(filter.to_owned());
            Ok(())
        })));
    })
    .await;
    wait_for_subscription(&server, &user).await;
    let url = pista_ingest::BrokerUrl::parse(&crate::common::mosquitto_url()).unwrap();
    let replies = Listener::start(url.port, &[&format!("{prefix}/o2s/+/out")]).await;

    let device = format!("owntracks/{user}/K2");
    let start = format!("{device}/start");
    publish_mosquitto(&[
        (&device, b"K2,542A46AA,k,40365854,4575769,26,4,7,5,872", false),
        (&start, b"123456789012345 0.8.1 20140930T085913Z", false),
    ])
    .await;
    let map_topic = format!("{prefix}/_map/{device}");
    let map = Listener::start(url.port, &[&map_topic]).await;
    let object = map.wait_for(&map_topic, |h| h.payload.contains("0.8.1")).await.payload;
    map.stop().await;

    // Commands are answered in order.
    let asked: [(&str, &str); 8] = [
        ("info", "K2"),
        ("info", "XX"),
        ("imei", "K2"),
        ("imei", "XX"),
        ("loglevel", "debug"),
        ("loglevel", "LOUD"),
        ("dump", "stuff"),
        ("reboot", "now"),
    ];
    for (name, argument) in asked {
        publish_mosquitto(&[(&command(name), argument.as_bytes(), false)]).await;
        replies.wait(&format!("{}/out", command(name)), 1).await;
    }
    let answers = |name: &str| -> Vec<String> {
        replies.on(&format!("{}/out", command(name))).into_iter().map(|h| h.payload).collect()
    };
    assert_eq!(answers("info"), [object.clone(), "TID XX not found".to_owned()]);
    assert_eq!(
        answers("imei"),
        [format!("TID=K2 IMEI=123456789012345 topic={device}"), "unknown TID=XX".to_owned()]
    );
    assert_eq!(answers("loglevel"), ["thanks", "Unchanged"]);
    assert_eq!(*filters.lock().unwrap(), ["debug"]);
    assert_eq!(answers("dump"), ["NAK: unknown dump subcommand"]);
    assert_eq!(answers("reboot"), ["NAK"]);

    // `dump devices` writes every device object to a new file and answers its path.
    publish_mosquitto(&[(&command("dump"), b"devices", false)]).await;
    let path = replies.wait(&format!("{}/out", command("dump")), 2).await[1].payload.clone();
    assert!(path.contains("/dumps/o2s-devicedump-") && path.ends_with(".json"), "{path}");
    let dumped: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let want: Value = serde_json::from_str(&object).unwrap();
    assert_eq!(dumped, json!({ device.clone(): want }));

    // The same over HTTP and through the CLI.
    let response = server
        .post("/api/0/monitor", &[], json!({"command": "imei", "argument": "K2"}).to_string())
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"reply": format!("TID=K2 IMEI=123456789012345 topic={device}")})
    );
    let response = server.post("/api/0/monitor", &[], r#"{"argument":"K2"}"#).await;
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        r#"monitor command is required, e.g. "info""#
    );
    // An argument longer than any tracker id is refused; only the newest ten dumps are kept.
    let long = "x".repeat(300);
    let response = server
        .post("/api/0/monitor", &[], json!({"command": "info", "argument": long}).to_string())
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"reply": "NAK: argument longer than 256 bytes"})
    );
    for _ in 0..12 {
        let body = json!({"command": "dump", "argument": "devices"}).to_string();
        assert_eq!(server.post("/api/0/monitor", &[], body).await.status().as_u16(), 200);
    }
    let dumps = std::path::Path::new(&path).parent().unwrap().read_dir().unwrap().count();
    assert_eq!(dumps, 10);

    let addr = server.server.http_addr.to_string();
    let output = tokio::process::Command::new(PISTA)
        .args(["monitor", "info", "XX", "--http", &addr])
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "TID XX not found\n");
    assert!(output.status.success());

    replies.stop().await;
    server.stop().await;
    forget_session(&client_id).await;
    publish_mosquitto(&[(&retained, b"", true), (&map_topic, b"", true)]).await;
}
