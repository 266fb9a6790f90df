//! HTTP edge cases found by trying to break the server: every error is JSON with a clear reason,
//! non-ASCII names work in headers, huge arrays and far-future fixes cannot flood storage or
//! freeze the last position.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::TestServer;
use serde_json::{Value, json};

async fn answer(response: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let allow = response.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
    (status, allow, response.json().await.unwrap())
}

#[tokio::test]
async fn errors_made_outside_the_handlers_are_json_too() {
    let server = TestServer::start(|s| s.http_max_body = 1024).await;
    let client = reqwest::Client::new();
    let got = answer(client.get(format!("{}/pub", server.http)).send().await.unwrap()).await;
    assert_eq!(
        got,
        (
            405,
            Some("POST".into()),
            json!({"error": "method GET is not allowed on /pub; allowed: POST", "status": 405})
        )
    );
    let got = answer(server.post("/pub?u=a&d=b", &[], vec![b' '; 2048]).await).await;
    assert_eq!(
        got,
        (
            413,
            None,
            json!({"error": "request body is larger than the server accepts (http.max_body)", "status": 413})
        )
    );
    let got = answer(
        client
            .get(format!(
                "{}/api/0/locations?user=x&device=y&limit=9223372036854775808",
                server.http
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got.0, 400);
    assert_eq!(
        got.2["error"],
        json!("limit \"9223372036854775808\" is not a whole number from 0 to 9223372036854775807")
    );
    let got = answer(client.get(format!("{}/nothing", server.http)).send().await.unwrap()).await;
    assert_eq!(got, (404, None, json!({"error": "nothing here: /nothing", "status": 404})));
    server.stop().await;
}

#[tokio::test]
async fn non_ascii_names_work_in_headers_and_bad_bytes_are_refused() {
    let server = TestServer::start(|_| {}).await;
    let body = r#"{"_type":"location","tst":1700001234,"lat":7,"lon":7}"#;
    let response = reqwest::Client::new()
        .post(format!("{}/pub", server.http))
        .header("X-Limit-U", reqwest::header::HeaderValue::from_bytes("Jürgen".as_bytes()).unwrap())
        .header("X-Limit-D", "Handy")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(server.points("jürgen", "handy").await.len(), 1);
    let (_, last) = server.get("/api/0/list").await;
    assert_eq!(last, json!({"results": ["jürgen"]}));

    let response = reqwest::Client::new()
        .post(format!("{}/pub", server.http))
        .header("X-Limit-U", reqwest::header::HeaderValue::from_bytes(&[0xff, 0xfe]).unwrap())
        .body(body)
        .send()
        .await
        .unwrap();
    let got = answer(response).await;
    assert_eq!(got.0, 400);
    assert_eq!(got.2["error"], json!("header x-limit-u is not valid UTF-8"));
    server.stop().await;
}

#[tokio::test]
async fn a_huge_array_is_quarantined_whole() {
    let server = TestServer::start(|_| {}).await;
    let body = format!("[{}{{}}]", "{},".repeat(5000));
    let response = server.post("/pub?u=flood&d=x", &[], body.clone()).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(server.server.store.messages(None).await.unwrap().is_empty());
    let kept = server.server.store.quarantined(None).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (kept[0].reason.as_str(), kept[0].problem.as_str()),
        ("too_many_messages", "array of 5001 messages; at most 1000 are read")
    );
    assert_eq!(kept[0].payload, body.as_bytes());
    server.stop().await;
}

#[tokio::test]
async fn times_are_repaired_or_quarantined_and_never_become_the_last_position() {
    let server = TestServer::start(|_| {}).await;
    let now = pista_ingest::now();
    let millis = format!(r#"{{"_type":"location","lat":1,"lon":1,"tst":{}}}"#, (now - 60) * 1000);
    let future = r#"{"_type":"location","lat":3,"lon":3,"tst":4102444800}"#;
    let apple = r#"{"_type":"location","lat":4,"lon":4,"tst":806434679}"#;
    let good = format!(r#"{{"_type":"location","lat":2,"lon":2,"tst":{}}}"#, now - 120);
    for body in [millis.as_str(), future, apple, good.as_str()] {
        let response = server.post("/pub?u=msuser&d=ph", &[], body.to_owned()).await;
        assert_eq!(response.status().as_u16(), 200, "{body}");
    }
    let (_, last) = server.get("/api/0/last").await;
    assert_eq!((&last[0]["lat"], &last[0]["tst"]), (&json!(1), &json!(now - 60)));
    let points = server.points("msuser", "ph").await;
    assert_eq!(points.iter().map(|p| p.tst).collect::<Vec<_>>(), [now - 120, now - 60]);
    let kept = server.server.store.quarantined(None).await.unwrap();
    let reasons: Vec<(&str, &str)> =
        kept.iter().map(|q| (q.reason.as_str(), q.problem.as_str())).collect();
    let future_problem = format!(
        "location tst 4102444800 (2100-01-01T00:00:00Z) is more than 86400 s after it arrived \
         ({})",
        pista_core::time::iso(kept[0].received_at)
    );
    assert_eq!(
        reasons,
        [
            ("tst_in_future", future_problem.as_str()),
            (
                "tst_too_old",
                "location tst 806434679 (1995-07-22T17:37:59Z) is before the floor \
                 2008-01-01T00:00:00Z"
            ),
        ]
    );
    server.stop().await;
}
