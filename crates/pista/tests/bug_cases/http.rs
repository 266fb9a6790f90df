//! Checks of what HTTP mode answers (B56, B58, B65): always a JSON array for what it takes or
//! keeps, `200 []` with the body kept in quarantine for what it cannot use, a JSON `404` off its
//! paths, and a JSON `405` naming `POST` for other methods.

use serde_json::{Value, json};

use super::Check;
use super::helpers::{
    EMPTY_ANSWER, Reply, bytes_of, headers_of, held, key, messages, post, post_like, quarantine,
    stat, text, tsts,
};
use crate::common::TestServer;

/// B56: HTTP mode always answers a JSON array with the JSON content type: for locations,
/// duplicates, types it only keeps, and bodies it quarantines.
pub async fn b56(input: Value, server: &TestServer) -> Check {
    let location = bytes_of(&input);
    let bodies: [&[u8]; 7] = [
        &location,
        &location,
        br#"{"_type":"lwt","tst":1778400001}"#,
        br#"{"_type":"steps","tst":1778400002,"steps":12}"#,
        br#"{"_type":"status","iOS":{"locationManager":{}}}"#,
        br#"{"_type":"waypoints","waypoints":[]}"#,
        b"not json",
    ];
    for body in bodies {
        let reply = post_like(server, &input, body).await;
        ensure_eq!(reply.summary(), EMPTY_ANSWER, "{}", String::from_utf8_lossy(body));
    }
    ensure_eq!(tsts(server, "alice", "phone").await, [1778400000]);
    ensure_eq!(stat(server, |s| &s.duplicates), 1);
    ensure_eq!(messages(server, None).await.len(), 4);
    ensure_eq!(quarantine(server, None).await.len(), 1);
    Ok(())
}

/// B58: a body Pista cannot use is answered `200 []` on `/pub` (the README's rule, so the apps
/// do not resend it) but kept in quarantine with the reason, never dropped; the case's own path
/// is no ingest path here and answers a JSON `404`.
pub async fn b58(input: Value, server: &TestServer) -> Check {
    let (headers, body) = (headers_of(&input), bytes_of(&input));
    let reply = post(server, "/pub?u=alice&d=phone", &headers, &body).await;
    ensure_eq!(reply.summary(), EMPTY_ANSWER);
    let array = br#"[{"unexpected":"other shape"},17]"#;
    ensure_eq!(post(server, "/pub?u=alice&d=phone", &headers, array).await.summary(), EMPTY_ANSWER);
    ensure_eq!(
        quarantine(server, Some(&key("alice", "phone"))).await,
        [
            held("not_a_message", "message has no _type", None, &body),
            held("not_a_message", "message has no _type", None, br#"{"unexpected":"other shape"}"#),
            held("not_a_message", "array element 1 is JSON a number, not an object", None, b"17"),
        ]
    );
    let path = text(&input, "path");
    let reply = post(server, &path, &headers, &body).await;
    ensure_eq!(
        (reply.status, reply.content_type.as_str(), reply.json()),
        (404, "application/json", json!({"error": format!("nothing here: {path}"), "status": 404}))
    );
    Ok(())
}

/// B65: probing `/pub` with other methods gets a JSON `405` naming `POST` (HEAD: no body),
/// never a `500` or HTML.
pub async fn b65(input: Value, server: &TestServer) -> Check {
    let client = reqwest::Client::new();
    let mut requests: Vec<String> = input["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    requests.extend(["PUT /pub".to_owned(), "DELETE /pub".to_owned()]);
    for request in requests {
        let (method, path) = request.split_once(' ').unwrap();
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response =
            client.request(method.clone(), format!("{}{path}", server.http)).send().await.unwrap();
        let reply = Reply::read(response).await;
        ensure_eq!((reply.status, reply.allow.as_deref()), (405, Some("POST")), "{request}");
        ensure_eq!(reply.content_type, "application/json", "{request}");
        let want = if method == reqwest::Method::HEAD {
            String::new()
        } else {
            let error = format!("method {method} is not allowed on /pub; allowed: POST");
            json!({"error": error, "status": 405}).to_string()
        };
        ensure_eq!(reply.text, want, "{request}");
    }
    Ok(())
}
