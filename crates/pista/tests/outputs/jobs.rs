//! Activo job tracking end to end through the real Mosquitto: names, the current-job form with
//! its time in the topic, the active-job form, the `_job` objects and the device object's job,
//! the job history API, and names and the running job kept across a restart.

use serde_json::{Value, json};

use super::listen::Listener;
use crate::common::{
    TestServer, eventually, forget_session, publish_mosquitto, unique, use_mosquitto,
    wait_for_subscription,
};

/// Publishes `(subtopic, payload, retained)` under the device topic.
async fn publish(device: &str, messages: &[(&str, &str, bool)]) {
    let topics: Vec<(String, &[u8], bool)> = messages
        .iter()
        .map(|(sub, payload, retain)| {
            let topic = if sub.is_empty() { device.to_owned() } else { format!("{device}/{sub}") };
            (topic, payload.as_bytes(), *retain)
        })
        .collect();
    let refs: Vec<(&str, &[u8], bool)> =
        topics.iter().map(|(topic, payload, retain)| (topic.as_str(), *payload, *retain)).collect();
    publish_mosquitto(&refs).await;
}

fn parsed(payload: &str) -> Value {
    serde_json::from_str(payload).unwrap()
}

#[tokio::test]
async fn jobs_through_mosquitto_with_history_and_restart() {
    let user = unique("jobs");
    let client_id = unique("pista-jobs");
    let prefix = unique("_pj");
    let topics = vec![format!("owntracks/{user}/#")];
    let configure = |s: &mut pista::settings::Settings| {
        use_mosquitto(s, &client_id, &topics);
        s.map_topic = format!("{prefix}/_map");
        s.look_topic = format!("{prefix}/_look");
        s.job_topic = format!("{prefix}/_job");
    };
    let server = TestServer::start(configure).await;
    wait_for_subscription(&server, &user).await;
    let url = pista_ingest::BrokerUrl::parse(&crate::common::mosquitto_url()).unwrap();
    let listener = Listener::start(url.port, &[&format!("{prefix}/#")]).await;

    let device = format!("owntracks/{user}/truck");
    let fix = json!({"_type": "location", "lat": 52.1, "lon": 13.2, "tst": 1_430_726_000,
                     "tid": "TR", "t": "t"})
    .to_string();
    publish(
        &device,
        &[
            ("", &fix, false),
            // The box's lists are retained, so they survive its reboots.
            ("proxy/jobs/job/3", "Gravel run", true),
            ("proxy/jobs/job/3/2", "Unload", true),
            ("proxy/jobs/place/1", "North quarry", true),
            ("proxy/jobs/machine/4", "Excavator", true),
            ("proxy/jobs/currentjob/1430726400", "3 2 1 4", false),
            ("proxy/jobs/currentjob/1430727000", "0 0 0 0", false),
        ],
    )
    .await;

    let job_topic = format!("{prefix}/_job/{device}");
    let objects = listener.wait(&job_topic, 2).await;
    let name = "Gravel run Unload North quarry Excavator";
    assert_eq!(
        objects[0].payload,
        format!(
            r#"{{"job":"3/2/1/4","jobduration":null,"jobend":null,"jobname":"{name}","jobstart":1430726400,"tid":"TR","topic":"{device}"}}"#
        )
    );
    assert_eq!(
        objects[1].payload,
        format!(
            r#"{{"job":"3/2/1/4","jobduration":600,"jobend":1430727000,"jobname":"{name}","jobstart":1430726400,"tid":"TR","topic":"{device}"}}"#
        )
    );
    // Retained: a client subscribing later gets the last one.
    let late = Listener::start(url.port, &[&job_topic]).await;
    assert_eq!(late.wait(&job_topic, 1).await[0].payload, objects[1].payload);
    late.stop().await;

    // The device object carried the job while it ran, and job 0 once it ended.
    let map_topic = format!("{prefix}/_map/{device}");
    let maps: Vec<Value> =
        listener.wait(&map_topic, 3).await.iter().map(|h| parsed(&h.payload)).collect();
    let jobs: Vec<(Value, Value)> = maps
        .iter()
        .map(|m| {
            (
                m.get("job").cloned().unwrap_or(Value::Null),
                m.get("jobname").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    assert_eq!(
        jobs,
        [(Value::Null, Value::Null), (json!("3/2/1/4"), json!(name)), (json!(0), Value::Null)]
    );

    // The first firmware's form: a job number, started when it arrives.
    publish(&device, &[("proxy/jobs/active", "3", false)]).await;
    let started = listener.wait(&job_topic, 3).await[2].payload.clone();
    let started = parsed(&started);
    assert_eq!(
        (&started["job"], &started["jobname"], &started["jobend"]),
        (&json!(3), &json!("Gravel run"), &Value::Null)
    );
    let start = started["jobstart"].as_i64().unwrap();
    assert!((pista_ingest::now() - start).abs() < 60, "started at arrival, not {start}");

    let (status, history) = server.get(&format!("/api/0/jobs?user={user}&device=truck")).await;
    assert_eq!(status, 200);
    assert_eq!(
        history,
        json!([
            {"id": 1, "user": user, "device": "truck", "tid": "TR", "job": "3/2/1/4",
             "jobname": name, "start": 1_430_726_400, "end": 1_430_727_000, "duration": 600},
            {"id": 2, "user": user, "device": "truck", "tid": "TR", "job": 3,
             "jobname": "Gravel run", "start": start, "end": null, "duration": null},
        ])
    );
    let (_, running) = server.get("/api/0/jobs?running=true").await;
    assert_eq!(running.as_array().unwrap().len(), 1);
    assert_eq!(running[0]["id"], 2);
    let (status, error) = server.get("/api/0/jobs?running=maybe").await;
    assert_eq!((status, &error["error"]), (400, &json!(r#"running "maybe" is not true or false"#)));

    // After a restart the running job is published again, and the names are still known: a new
    // current job on this device is named from them, and ends the running one at its time.
    listener.stop().await;
    let server = server.restart().await;
    wait_for_subscription(&server, &user).await;
    let listener = Listener::start(url.port, &[&format!("{prefix}/#")]).await;
    let again = listener.wait_for(&job_topic, |h| parsed(&h.payload)["job"] == json!(3)).await;
    assert_eq!(parsed(&again.payload)["jobstart"], json!(start));
    let later = start + 100;
    publish(&device, &[(&format!("proxy/jobs/currentjob/{later}"), "3 2 9 9", false)]).await;
    let named =
        listener.wait_for(&job_topic, |h| parsed(&h.payload)["job"] == json!("3/2/9/9")).await;
    assert_eq!(parsed(&named.payload)["jobname"], json!("Gravel run Unload"));
    let (_, history) = server.get(&format!("/api/0/jobs?user={user}&device=truck")).await;
    assert_eq!(history[1]["end"], json!(later));
    assert_eq!(history[1]["duration"], json!(100));
    assert_eq!(history[2]["end"], Value::Null);

    // A retained `active` the broker sends again after a restart is an old event: job 7 ran
    // and ended before the restart, and does not start again.
    publish(&device, &[("proxy/jobs/active", "7", true), ("proxy/jobs/active", "0", false)]).await;
    let ended = |history: &Value| history.as_array().unwrap().iter().all(|j| !j["end"].is_null());
    eventually("job 7 ended", || async {
        let (_, history) = server.get(&format!("/api/0/jobs?user={user}&device=truck")).await;
        (history.as_array().unwrap().len() == 4 && ended(&history)).then_some(())
    })
    .await;
    listener.stop().await;
    let server = server.restart().await;
    wait_for_subscription(&server, &user).await;
    let (_, history) = server.get(&format!("/api/0/jobs?user={user}&device=truck")).await;
    assert_eq!(history.as_array().unwrap().len(), 4, "{history}");
    assert!(ended(&history), "{history}");
    let listener = Listener::start(url.port, &[&format!("{prefix}/#")]).await;

    listener.stop().await;
    server.stop().await;
    forget_session(&client_id).await;
    // Leave no retained messages behind on the shared broker.
    let names = ["job/3", "job/3/2", "place/1", "machine/4", "active"];
    let mut retained: Vec<String> =
        names.iter().map(|name| format!("{device}/proxy/jobs/{name}")).collect();
    retained.push(job_topic);
    retained.push(map_topic);
    let cleared: Vec<(&str, &[u8], bool)> =
        retained.iter().map(|topic| (topic.as_str(), &b""[..], true)).collect();
    publish_mosquitto(&cleared).await;
}
