//! Setting an Activo box's job over HTTP (`PUT /api/0/jobs/{user}/{device}/active`): the command
//! reaches the broker as the original sent it (retained, QoS 2, on the Greenwich proxy's
//! `…/proxy/jobs/active`, the number as text), the job history shows the job through ingest,
//! `0` ends it, a rename goes out on `…/proxy/jobs/<n>` and comes back as the job's name, and
//! bad numbers and names are refused by name. Who may is in `access`.

use std::time::Duration;

use reqwest::Client;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};

use crate::common::{TestServer, eventually, publish_v311, unique};

const FIX: &[u8] = b"B2,542A46AA,k,40365854,4575769,26,4,7,5,8";
const ACTIVE: &str = "owntracks/gw/B2/proxy/jobs/active";

async fn set(server: &TestServer, body: Value) -> (u16, Value) {
    let url = format!("{}/api/0/jobs/gw/b2/active", server.http);
    let response = Client::new().put(url).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// What a new subscriber to `topic` gets first: topic, payload, QoS and retain flag.
async fn retained(port: u16, topic: &str) -> (String, String, QoS, bool) {
    let mut options = MqttOptions::new(unique("jobs"), "127.0.0.1", port);
    options.set_clean_session(true);
    let (client, mut events) = AsyncClient::new(options, 10);
    client.subscribe(topic, QoS::ExactlyOnce).await.unwrap();
    let publish = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::Incoming(Packet::Publish(publish)) = events.poll().await.unwrap() {
                return publish;
            }
        }
    })
    .await
    .unwrap();
    let _ = client.disconnect().await;
    let payload = String::from_utf8(publish.payload.to_vec()).unwrap();
    (publish.topic, payload, publish.qos, publish.retain)
}

async fn running(server: &TestServer) -> Value {
    server.get("/api/0/jobs?user=gw&device=b2&running=true").await.1
}

#[tokio::test]
async fn a_job_is_started_and_ended_the_originals_way() {
    let server = TestServer::start(|_| {}).await;
    let port = server.broker_port();
    let name: &[u8] = b"Gravel run";
    publish_v311(
        port,
        &[("owntracks/gw/B2", FIX, false), ("owntracks/gw/B2/proxy/jobs/4", name, true)],
    )
    .await;
    eventually("the device object", || async {
        let (_, objects) = server.get("/api/0/map?user=gw&device=b2").await;
        (objects[0]["topic"] == "owntracks/gw/B2").then_some(())
    })
    .await;

    let (status, answer) = set(&server, json!({"job": 4})).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["id"].clone();
    assert_eq!(
        answer,
        json!({"id": id, "user": "gw", "device": "b2", "topic": ACTIVE, "job": 4,
            "mqtt": "published"})
    );
    assert_eq!(
        retained(port, ACTIVE).await,
        (ACTIVE.to_owned(), "4".to_owned(), QoS::ExactlyOnce, true)
    );
    let started = eventually("the job started", || async {
        let jobs = running(&server).await;
        (jobs.as_array().unwrap().len() == 1).then_some(jobs)
    })
    .await;
    assert_eq!((&started[0]["job"], &started[0]["jobname"]), (&json!(4), &json!("Gravel run")));
    // The box's echo (the same retained number) is no second start.
    publish_v311(port, &[(ACTIVE, b"4", true)]).await;
    let (_, all) = server.get("/api/0/jobs?user=gw&device=b2").await;
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");

    let (status, answer) = set(&server, json!({"job": "0"})).await;
    assert_eq!((status, &answer["job"], &answer["mqtt"]), (200, &json!(0), &json!("published")));
    assert_eq!(retained(port, ACTIVE).await.1, "0");
    eventually("the job ended", || async {
        running(&server).await.as_array().unwrap().is_empty().then_some(())
    })
    .await;
    let (_, all) = server.get("/api/0/jobs?user=gw&device=b2").await;
    assert_eq!((all.as_array().unwrap().len(), all[0]["end"].is_i64()), (1, true), "{all}");

    for (body, want) in [
        (
            json!({"job": -1}),
            "job -1 is not a job number (0 ends the running job, 1 to 9999 start one)",
        ),
        (
            json!({"job": 10000}),
            "job 10000 is not a job number (0 ends the running job, 1 to 9999 start one)",
        ),
        (
            json!({"job": "four"}),
            "job \"four\" is not a job number (0 ends the running job, 1 to 9999 start one)",
        ),
        (json!({}), "job is missing"),
    ] {
        let (status, answer) = set(&server, body.clone()).await;
        assert_eq!((status, &answer["error"]), (400, &json!(want)), "{body}");
    }
    // A rename goes out the same way, on the job's own topic, and comes back as the name.
    let url = format!("{}/api/0/jobs/gw/b2/names/4", server.http);
    let response =
        Client::new().put(&url).json(&json!({"name": " Sand run "})).send().await.unwrap();
    let answer: Value = response.json().await.unwrap();
    assert_eq!((&answer["name"], &answer["mqtt"]), (&json!("Sand run"), &json!("published")));
    let topic = "owntracks/gw/B2/proxy/jobs/4";
    assert_eq!(
        retained(port, topic).await,
        (topic.to_owned(), "Sand run".to_owned(), QoS::ExactlyOnce, true)
    );
    eventually("the new name", || async {
        let (_, names) = server.get("/api/0/jobs/names").await;
        (names == json!([{"user": "gw", "device": "b2", "job": 4, "name": "Sand run"}]))
            .then_some(())
    })
    .await;
    for (path, body, want) in [
        ("names/0", json!({"name": "x"}), "job 0 cannot be named (jobs are numbered 1 to 9999)"),
        ("names/x", json!({"name": "x"}), "job x cannot be named (jobs are numbered 1 to 9999)"),
        ("names/4", json!({"name": ""}), "name \"\" must be 1 to 40 characters on one line"),
        ("names/4", json!({}), "name is missing or not text"),
    ] {
        let url = format!("{}/api/0/jobs/gw/b2/{path}", server.http);
        let response = Client::new().put(&url).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap();
        assert_eq!((status, &answer["error"]), (400, &json!(want)), "{path} {body}");
    }

    // The three commands are on record with the device's others.
    let (_, commands) = server.get("/api/0/cmd?user=gw&device=b2").await;
    let actions: Vec<(Value, Value)> = commands
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["action"].clone(), c["payload"].clone()))
        .collect();
    let actions: Vec<&Value> = actions.iter().map(|(action, _)| action).collect();
    assert_eq!(actions, [&json!("jobs/active"), &json!("jobs/active"), &json!("jobs/name")]);
    // An HTTP-mode answer leaves them out: no app reads them.
    let fix = r#"{"_type":"location","tid":"B2","lat":40.4,"lon":4.6,"tst":1412056800}"#;
    let headers = [("content-type", "application/json"), ("x-limit-u", "gw"), ("x-limit-d", "b2")];
    let response = server.post("/pub", &headers, fix).await;
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert!(answer.as_array().unwrap().iter().all(|item| item["_type"] != "cmd"), "{answer}");
    server.stop().await;
}
