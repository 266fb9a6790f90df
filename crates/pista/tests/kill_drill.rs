//! The kill drill: the `pista` binary subscribes to a Mosquitto of the test's own (configured to
//! queue without limit for a disconnected client, as the operations docs ask), `pista replay`
//! publishes a burst of QoS 1 locations to it as a separate process, and the server is killed
//! with SIGKILL in the middle and started again. Every location the publisher saw acknowledged
//! must be stored exactly once. The burst has `PISTA_DRILL_MESSAGES` locations (20,000 by
//! default, to keep CI short; the drill is 100,000).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{OwnMosquitto, eventually_within};
use pista_core::DeviceKey;
use pista_store::{LocationQuery, SqlStore, Storage};

const PISTA: &str = env!("CARGO_BIN_EXE_pista");
const DEVICES: usize = 10;
/// The first start's admin, who posts the HTTP burst (as a superuser, for user `drill`).
const ADMIN_PW: &str = "drill-admin-pw";

/// The server binary, subscribed to `broker` if given; its embedded broker is off.
fn serve(data: &std::path::Path, http: u16, broker: Option<&str>) -> Child {
    let mut command = Command::new(PISTA);
    command.args(["serve", "--data-dir"]).arg(data).env("PISTA_ADMIN_PASSWORD", ADMIN_PW);
    command.args(["--http", &format!("127.0.0.1:{http}"), "--broker", "off"]);
    if let Some(broker) = broker {
        command.args(["--mqtt", broker, "--mqtt-client-id", "pista-drill"]);
        command.args(["--mqtt-base-topics", "owntracks/#"]);
    }
    command
        .args(["--geocode", "off", "--log", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_up(http: u16) {
    let url = format!("http://127.0.0.1:{http}/api/0/version");
    eventually_within(Duration::from_secs(30), "the server", || async {
        reqwest::get(&url).await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
}

async fn stored(store: &SqlStore) -> usize {
    let mut total = 0;
    for device in 0..DEVICES {
        let key = DeviceKey::parse("drill", &format!("d{device}")).unwrap();
        let query = LocationQuery { key, from: None, to: None, limit: None };
        total += store.locations(&query).await.map_or(0, |points| points.len());
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_burst_loses_nothing_acknowledged() {
    let messages: usize =
        std::env::var("PISTA_DRILL_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let mosquitto =
        OwnMosquitto::start(dir.path(), "max_queued_messages 0\nmax_inflight_messages 100\n");
    let broker = mosquitto.url();
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let data = dir.path().join("data");

    let burst = dir.path().join("burst.jsonl");
    let lines: Vec<String> = (0..messages)
        .map(|n| {
            let payload = serde_json::json!({"_type": "location", "lat": 50.0, "lon": 8.0,
                                             "tst": 1_700_000_000 + n as i64, "tid": "dr"});
            serde_json::json!({"topic": format!("owntracks/drill/d{}", n % DEVICES),
                               "payload": payload})
            .to_string()
        })
        .collect();
    std::fs::write(&burst, lines.join("\n")).unwrap();

    let mut server = serve(&data, http, Some(&broker));
    wait_up(http).await;
    let publisher = Command::new(PISTA)
        .arg("replay")
        .arg(&burst)
        .args(["--fast", "--to", &broker])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Kill the server once a quarter of the burst is stored, then start it again.
    let store = SqlStore::open(&format!("sqlite://{}/pista.db", data.display())).await.unwrap();
    eventually_within(Duration::from_secs(120), "a quarter stored", || async {
        (stored(&store).await >= messages / 4).then_some(())
    })
    .await;
    server.kill().unwrap();
    server.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut server = serve(&data, http, Some(&broker));
    wait_up(http).await;

    let output = tokio::task::spawn_blocking(move || publisher.wait_with_output()).await.unwrap();
    let output = output.unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{said} {}", String::from_utf8_lossy(&output.stderr));
    assert!(said.contains(&format!("replayed {messages} of {messages} messages")), "{said}");

    let total = eventually_within(Duration::from_secs(180), "every location stored", || async {
        let total = stored(&store).await;
        (total >= messages).then_some(total)
    })
    .await;
    assert_eq!(total, messages);
    server.kill().unwrap();
    server.wait().unwrap();
}

/// The same over HTTP mode: a client posts points one after another and sends a point again
/// until it gets `200` (as the apps do); the server is killed in the middle and started again.
/// Every point is stored exactly once: those answered `200` before the kill, and those whose
/// answer the kill swallowed (sent again, recognised as the same fix).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_posts_around_a_kill_are_stored_once() {
    let points: i64 = 3_000;
    let dir = tempfile::tempdir().unwrap();
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let data = dir.path().join("data");
    let server = std::sync::Arc::new(std::sync::Mutex::new(serve(&data, http, None)));
    wait_up(http).await;

    // The kill comes while requests are in flight: some commit without their answer.
    let killer = {
        let (server, data) = (server.clone(), data.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let mut child = server.lock().unwrap();
            child.kill().unwrap();
            child.wait().unwrap();
            *child = serve(&data, http, None);
        })
    };

    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{http}/pub?u=drill&d=d0");
    let mut refused = 0;
    for n in 0..points {
        let body = serde_json::json!({"_type": "location", "lat": 50.0, "lon": 8.0,
                                      "tst": 1_700_000_000 + n, "tid": "dr"});
        loop {
            let answer = client
                .post(&url)
                .basic_auth("admin", Some(ADMIN_PW))
                .body(body.to_string())
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            if answer.is_ok_and(|a| a.status().as_u16() == 200) {
                break;
            }
            refused += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    killer.await.unwrap();
    assert!(refused > 0, "the kill refused nothing");
    let store = SqlStore::open(&format!("sqlite://{}/pista.db", data.display())).await.unwrap();
    let key = DeviceKey::parse("drill", "d0").unwrap();
    let query = LocationQuery { key, from: None, to: None, limit: None };
    let tsts: Vec<i64> = store.locations(&query).await.unwrap().iter().map(|p| p.tst).collect();
    let expected: Vec<i64> = (0..points).map(|n| 1_700_000_000 + n).collect();
    assert_eq!(tsts, expected);
    let mut child = server.lock().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}
