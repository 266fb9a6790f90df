//! Checks of who a message belongs to (B19, B20): user and device names match without case but
//! keep their joining characters apart, and an e-mail address is a user name, from a header or
//! from the Basic user.

use serde_json::{Value, json};

use super::Check;
use super::helpers::{
    EMPTY_ANSWER, basic_auth, bytes_of, headers_of, json_bytes, post, post_like, publish,
    publish_messages, tsts, with,
};
use crate::common::TestServer;

/// B19: names match without case (the topic is kept as sent), and `a-b/c` and `a/b-c` are two
/// devices.
pub async fn b19(input: Value, server: &TestServer) -> Check {
    publish_messages(server, &input).await;
    let same = br#"{"_type":"location","tst":1700000100,"lat":1.5,"lon":1.5}"#;
    publish(server, "owntracks/alice/phone", same).await;
    publish(server, "owntracks/ALICE/PHONE", &same.to_ascii_lowercase()[..]).await;
    let points = server.points("alice", "phone").await;
    ensure_eq!(
        points.iter().map(|p| (p.tst, p.topic.as_str())).collect::<Vec<_>>(),
        [(1700000000, "owntracks/Alice/Phone"), (1700000100, "owntracks/alice/phone")]
    );
    ensure_eq!(tsts(server, "a-b", "c").await, [1700000001]);
    ensure_eq!(tsts(server, "a", "b-c").await, [1700000002]);

    // Other joining characters and non-ASCII letters stay apart too.
    let more: [(&str, &[u8]); 3] = [
        ("owntracks/a.b/c", br#"{"_type":"location","tst":1700000003,"lat":4,"lon":4}"#),
        ("owntracks/Jürgen/Handy", br#"{"_type":"location","tst":1700000004,"lat":5,"lon":5}"#),
        ("owntracks/jürgen/handy", br#"{"_type":"location","tst":1700000005,"lat":6,"lon":6}"#),
    ];
    for (topic, payload) in more {
        publish(server, topic, payload).await;
    }
    ensure_eq!(
        server.get("/api/0/list").await.1,
        json!({"results": ["a", "a-b", "a.b", "alice", "jürgen"]})
    );
    ensure_eq!(server.get("/api/0/list?user=a").await.1, json!({"results": ["b-c"]}));
    ensure_eq!(tsts(server, "JÜRGEN", "HANDY").await, [1700000004, 1700000005]);
    Ok(())
}

/// B20 (identity only; there are no logins yet): an e-mail address is a user name, from the
/// `X-Limit-U` header or from the Basic user.
pub async fn b20(input: Value, server: &TestServer) -> Check {
    let headers = headers_of(&input);
    ensure_eq!(headers[0], basic_auth("jane@example.org:pw"));
    ensure_eq!(post_like(server, &input, &bytes_of(&input)).await.summary(), EMPTY_ANSWER);
    let points = server.points("jane@example.org", "iphone").await;
    ensure_eq!(points.len(), 1);
    ensure_eq!((points[0].tst, points[0].lat, points[0].lon), (1758260278, 52.1, 5.1));
    ensure_eq!(points[0].json["tid"], json!("JD"));
    ensure_eq!(points[0].topic, "owntracks/jane@example.org/iphone");

    // The Basic user alone, with dots and dashes; `+` is an MQTT wildcard and refused.
    let body = json_bytes(&with(&input["body"], json!({"tst": 1758260300})));
    let headers = [basic_auth("jane.doe-x@example.org:p:w")];
    let reply = post(server, "/pub?d=iphone", &headers, &body).await;
    ensure_eq!(reply.summary(), EMPTY_ANSWER);
    ensure_eq!(tsts(server, "jane.doe-x@example.org", "iphone").await, [1758260300]);
    let plus = [("X-Limit-U".to_owned(), "jane+tag@example.org".to_owned())];
    let reply = post(server, "/pub", &plus, &body).await;
    ensure_eq!(
        (reply.status, reply.json()),
        (
            400,
            json!({"error": "user name \"jane+tag@example.org\" contains '+', which is not allowed in names", "status": 400})
        )
    );
    Ok(())
}
