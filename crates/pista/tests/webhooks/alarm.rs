//! The alarm hook: a Greenwich alarm (JSON or CSV) runs the configured command (the alarm as
//! JSON on its input, its values in `PISTA_ALARM_*`, none of Pista's own environment) and is
//! POSTed to the alarm webhooks with retries; a copy the broker sends again fires nothing; a
//! failing command is counted, a slow one killed with its children, and a dead webhook holds
//! no command slot.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestServer, eventually, publish_v311};
use crate::receiver::{Receiver, Script};

const ALARM: &str =
    r#"{"_type":"location","t":"a","lat":51.17,"lon":4.39,"tst":1414692409,"tid":"dB","vel":12}"#;

/// The alarm object, as the command and the webhook get it.
fn alarm_object() -> Value {
    json!({"_type": "alarm", "addr": "unknown location", "alt": 0, "cc": "??", "cog": 0,
           "compass": "N", "dist": 0, "dstamp": "30/18:06:49", "lat": 51.17, "lon": 4.39,
           "status": 1, "t": "a", "tid": "dB", "topic": "owntracks/demo/dB", "trip": 0,
           "tst": 1_414_692_409, "tstamp": "2014-10-30T18:06:49Z", "vel": 12})
}

#[tokio::test]
async fn an_alarm_runs_the_command_and_reaches_the_webhook() {
    let receiver = Receiver::start(Script::FailFirst(1, 503)).await;
    let out = tempfile::tempdir().unwrap();
    let script = out.path().join("alarm.sh");
    std::fs::write(&script, "cat > \"$1.json\"\nenv | sort > \"$1.env\"\n").unwrap();
    let record = out.path().join("alarm").display().to_string();
    let command = vec!["/bin/sh".to_owned(), script.display().to_string(), record.clone()];
    let url = receiver.url.clone();
    let server = TestServer::start(move |s| {
        s.alarm_command = command;
        s.alarm_webhooks = vec![url];
        s.webhook_backoff = Duration::from_millis(50);
    })
    .await;
    let topic = "owntracks/demo/dB/alarm";
    publish_v311(server.broker_port(), &[(topic, ALARM.as_bytes(), false)]).await;

    let heard = receiver.wait(2).await;
    assert_eq!(heard[0].body, heard[1].body, "the retry sends the same alarm");
    let body: Value = serde_json::from_str(&heard[1].body).unwrap();
    assert_eq!(body, alarm_object());
    let id = server.server.store.messages(None).await.unwrap()[0].id;
    assert_eq!((heard[1].alarm.as_str(), heard[1].alert.as_str()), (id.to_string().as_str(), ""));

    let json_file = format!("{record}.json");
    let env_file = format!("{record}.env");
    let written = eventually("the alarm command's output", || async {
        let env = std::fs::read_to_string(&env_file).ok()?;
        let json = std::fs::read_to_string(&json_file).ok()?;
        Some((json, env))
    })
    .await;
    assert_eq!(serde_json::from_str::<Value>(&written.0).unwrap(), alarm_object());
    let env: Vec<&str> = written
        .1
        .lines()
        .filter(|line| {
            !["PATH=", "HOME=", "LANG=", "PWD=", "SHLVL=", "_="].iter().any(|p| line.starts_with(p))
        })
        .collect();
    assert_eq!(
        env,
        [
            "PISTA_ALARM_ADDR=unknown location",
            "PISTA_ALARM_CC=??",
            &*format!("PISTA_ALARM_ID={id}"),
            "PISTA_ALARM_LAT=51.17",
            "PISTA_ALARM_LON=4.39",
            "PISTA_ALARM_TID=dB",
            "PISTA_ALARM_TOPIC=owntracks/demo/dB",
            "PISTA_ALARM_TST=1414692409",
        ]
    );

    // The same message again (a QoS 1 redelivery) is stored once and fires nothing more.
    publish_retained_twice(&server).await;
    let metrics =
        reqwest::get(format!("{}/metrics", server.http)).await.unwrap().text().await.unwrap();
    let samples: Vec<&str> = metrics.lines().filter(|l| l.starts_with("pista_alarm")).collect();
    assert_eq!(
        samples,
        [
            "pista_alarms_total 2",
            "pista_alarm_command_failures_total 0",
            "pista_alarm_webhook_failures_total 0",
            "pista_alarms_dropped_total 0",
        ]
    );
    server.stop().await;
}

/// Publishes a second alarm, retained, twice: the broker's copy is not a new alarm.
async fn publish_retained_twice(server: &TestServer) {
    let topic = "owntracks/demo/dB/alarm";
    let second = ALARM.replace("1414692409", "1414692500");
    publish_v311(server.broker_port(), &[(topic, second.as_bytes(), true)]).await;
    publish_v311(server.broker_port(), &[(topic, second.as_bytes(), true)]).await;
    eventually("two stored alarms", || async {
        let messages = server.server.store.messages(None).await.unwrap();
        (messages.len() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_failing_or_slow_command_is_counted_and_ingest_goes_on() {
    let out = tempfile::tempdir().unwrap();
    let script = out.path().join("slow.sh");
    std::fs::write(&script, "echo 'no pager configured' >&2\nexit 3\n").unwrap();
    let command = vec!["/bin/sh".to_owned(), script.display().to_string()];
    let server = TestServer::start(move |s| {
        s.alarm_command = command;
        s.alarm_timeout = 1;
    })
    .await;
    let port = server.broker_port();
    publish_v311(port, &[("owntracks/demo/dB/alarm", ALARM.as_bytes(), false)]).await;
    let metrics = eventually("a failed alarm command", || async {
        let text =
            reqwest::get(format!("{}/metrics", server.http)).await.ok()?.text().await.ok()?;
        text.contains("pista_alarm_command_failures_total 1").then_some(text)
    })
    .await;
    assert!(metrics.contains("pista_alarms_total 1\n"), "{metrics}");
    // Ingest is not held up: a location right after is stored.
    let fix = br#"{"_type":"location","lat":1,"lon":2,"tst":1414692600}"#;
    publish_v311(port, &[("owntracks/demo/dB", fix, false)]).await;
    assert_eq!(server.wait_points("demo", "db", 1).await[0].tst, 1_414_692_600);
    server.stop().await;
}

/// A receiver that takes the connection and never answers does not keep alarms from running:
/// the command's slot is let go before the webhook's retries. Greenwich alarms come in CSV.
#[tokio::test]
async fn a_dead_alarm_webhook_holds_no_command_slot() {
    let held = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", held.local_addr().unwrap());
    let keep = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = held.accept().await {
            open.push(socket);
        }
    });
    let out = tempfile::tempdir().unwrap();
    let script = out.path().join("count.sh");
    std::fs::write(&script, "cat > \"$1/$PISTA_ALARM_TST.json\"\n").unwrap();
    let record = out.path().display().to_string();
    let command = vec!["/bin/sh".to_owned(), script.display().to_string(), record.clone()];
    let server = TestServer::start(move |s| {
        s.alarm_command = command;
        s.alarm_webhooks = vec![url];
        s.alarm_timeout = 30;
    })
    .await;
    let alarms: Vec<String> = (0..20)
        .map(|n| format!("K2,{:X},a,40365854,4575769,26,4,7,5,872", 1_414_692_409 + n))
        .collect();
    let messages: Vec<(&str, &[u8], bool)> =
        alarms.iter().map(|a| ("owntracks/gw/K2/alarm", a.as_bytes(), false)).collect();
    publish_v311(server.broker_port(), &messages).await;
    let written = |tst: i64| std::fs::read_to_string(out.path().join(format!("{tst}.json")));
    eventually("20 alarm commands", || async {
        (0..20).all(|n| written(1_414_692_409 + n).is_ok()).then_some(())
    })
    .await;
    let first: Value = serde_json::from_str(&written(1_414_692_409).unwrap()).unwrap();
    assert_eq!(
        (&first["_type"], &first["tid"], &first["t"], &first["lat"], &first["topic"]),
        (&json!("alarm"), &json!("K2"), &json!("a"), &json!(40.365854), &json!("owntracks/gw/K2"))
    );
    let metrics =
        reqwest::get(format!("{}/metrics", server.http)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("pista_alarms_dropped_total 0\n"), "{metrics}");
    server.stop().await;
    keep.abort();
}

/// A command that runs too long is killed with everything it started.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_slow_command_is_killed_with_its_children() {
    let out = tempfile::tempdir().unwrap();
    let script = out.path().join("hang.sh");
    // A marker no other process has, to find the children by.
    let marker = format!("{}.{}", 40 + std::process::id() % 50, std::process::id());
    std::fs::write(&script, format!("sleep {marker} &\nsleep {marker}\n")).unwrap();
    let command = vec!["/bin/sh".to_owned(), script.display().to_string()];
    let server = TestServer::start(move |s| {
        s.alarm_command = command;
        s.alarm_timeout = 1;
    })
    .await;
    publish_v311(server.broker_port(), &[("owntracks/demo/dB/alarm", ALARM.as_bytes(), false)])
        .await;
    let running = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
            .filter(|cmdline| String::from_utf8_lossy(cmdline).contains(&marker))
            .count()
    };
    eventually("the command's children", || async { (running() == 2).then_some(()) }).await;
    eventually("the killed command", || async {
        let text =
            reqwest::get(format!("{}/metrics", server.http)).await.ok()?.text().await.ok()?;
        text.contains("pista_alarm_command_failures_total 1").then_some(())
    })
    .await;
    eventually("no child left", || async { (running() == 0).then_some(()) }).await;
    server.stop().await;
}
