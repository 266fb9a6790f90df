//! Checks of encrypted payloads (B28, B29, B31): the answer to an encrypted post is sealed with
//! the poster's secret, an envelope Pista cannot open waits in quarantine until a replay, and
//! encrypted and plain messages of one device are handled alike.

use serde_json::{Value, json};

use super::Check;
use super::helpers::{
    NO_TSTS, basic_auth, envelope, held, json_bytes, key, messages, post, post_like, publish,
    quarantine, reasons, set_secret, stat, store, stored_json, text, tsts,
};
use crate::common::TestServer;
use pista_core::crypto::{self, Secret};

/// The plaintext of `BASE64(secretbox of {...})`, or `None` for other placeholders.
fn sealed_plaintext(placeholder: &str) -> Option<&str> {
    placeholder.strip_prefix("BASE64(secretbox of ")?.strip_suffix(')')
}

/// B28: an encrypted post without topic or `X-Limit` headers: the identity is the Basic user
/// (device `phone`), the answer is sealed with that device's secret, the point stored there.
pub async fn b28(input: Value, server: &TestServer) -> Check {
    let placeholder = input["body"]["data"].as_str().unwrap();
    let plain = sealed_plaintext(placeholder).expect("a secretbox placeholder");
    let secret = set_secret(server, &key("alice", "phone"), "b28 secret", 1).await;
    let body = envelope(&input["body"], &secret, plain.as_bytes());
    let reply = post_like(server, &input, &json_bytes(&body)).await;
    ensure_eq!((reply.status, reply.content_type.as_str()), (200, "application/json"));
    let answer = reply.json();
    ensure_eq!(answer["_type"], json!("encrypted"), "{answer}");
    let opened = crypto::open(&secret, answer["data"].as_str().unwrap_or_default());
    ensure_eq!(opened, Ok(b"[]".to_vec()));
    let points = server.points("alice", "phone").await;
    ensure_eq!(points.len(), 1);
    ensure_eq!((points[0].tst, points[0].lat, points[0].lon), (1710236829, 52.52, 13.405));
    ensure_eq!(points[0].json["_decrypted"], json!(true));

    // Another user with no secret: 403 and the envelope kept, never an answer as if it worked.
    let reply = post(server, "/pub", &[basic_auth("bob:pw")], &json_bytes(&body)).await;
    ensure_eq!(
        (reply.status, reply.json()),
        (
            403,
            json!({"error": "no encryption secret is set for bob/phone (kept in quarantine as no_key)", "status": 403})
        )
    );
    let kept = quarantine(server, Some(&key("bob", "phone"))).await;
    ensure_eq!(kept.len(), 1);
    ensure_eq!((kept[0].0.as_str(), &kept[0].3), ("no_key", &json_bytes(&body)));
    Ok(())
}

/// B29: an envelope for a device without a secret is quarantined as `no_key` and counted; once
/// the secret is set, a replay stores what was waiting. A wrong secret is `bad_key`.
pub async fn b29(input: Value, server: &TestServer) -> Check {
    let topic = text(&input, "topic");
    let secret = Secret::new("b29 secret").unwrap();
    let seal = |tst: i64| {
        let plain = json!({"_type":"location","tst":tst,"lat":52.52,"lon":13.405});
        json_bytes(&envelope(&input["payload"], &secret, &json_bytes(&plain)))
    };
    let (later, earlier) = (seal(1700000600), seal(1700000000));
    publish(server, &topic, &later).await;
    publish(server, &topic, &earlier).await;
    let alice = key("alice", "phone");
    let no_key = |payload: &[u8]| {
        let problem = "no encryption secret is set for alice/phone";
        held("no_key", problem, Some("encrypted"), payload)
    };
    ensure_eq!(quarantine(server, Some(&alice)).await, [no_key(&later), no_key(&earlier)]);
    ensure_eq!(stat(server, |s| &s.quarantined), 2);
    ensure_eq!(tsts(server, "alice", "phone").await, NO_TSTS);

    // A device whose secret differs.
    let tablet = key("alice", "tablet");
    set_secret(server, &tablet, "another", 1).await;
    publish(server, "owntracks/alice/tablet", &later).await;
    ensure_eq!(
        reasons(server, Some(&tablet)).await,
        [["bad_key", "data does not authenticate: wrong secret or altered data"]]
    );

    set_secret(server, &alice, "b29 secret", 2).await;
    let reply = post(
        server,
        "/api/0/quarantine/replay",
        &[("Content-Type".to_owned(), "application/json".to_owned())],
        br#"{"user":"alice","device":"phone"}"#,
    )
    .await;
    ensure_eq!(reply.status, 200, "{}", reply.text);
    ensure_eq!(reply.json()["replayed"].as_array().map(Vec::len), Some(2), "{}", reply.text);
    ensure_eq!(tsts(server, "alice", "phone").await, [1700000000, 1700000600]);
    let released = store(server).quarantined(Some(&alice)).await.unwrap();
    ensure!(released.iter().all(|q| q.released_at.is_some()), "released: {released:?}");
    Ok(())
}

/// B31: an encrypted location and a plain last will from a device with a secret are both
/// handled; the last will marks the device offline.
pub async fn b31(input: Value, server: &TestServer) -> Check {
    let topic = text(&input, "topic");
    let alice = key("alice", "phone");
    let secret = set_secret(server, &alice, "b31 secret", 1).await;
    let sequence = input["sequence"].as_array().unwrap();
    let plain = json!({"_type":"location","tst":1702568500,"lat":52.52,"lon":13.405,"tid":"al"});
    let sealed_location = envelope(&sequence[0], &secret, &json_bytes(&plain));
    publish(server, &topic, &json_bytes(&sealed_location)).await;
    publish(server, &topic, &json_bytes(&sequence[1])).await;

    let points = server.points("alice", "phone").await;
    ensure_eq!(points.iter().map(|p| p.tst).collect::<Vec<_>>(), [1702568500]);
    ensure_eq!(points[0].json["_decrypted"], json!(true));
    ensure_eq!(
        messages(server, Some(&alice))
            .await
            .iter()
            .map(|m| (m.msg_type.as_deref(), m.tst))
            .collect::<Vec<_>>(),
        [(Some("lwt"), Some(1702568586))]
    );
    let state = store(server).device_state(&alice).await.unwrap().unwrap_or_default();
    ensure_eq!(state.online, Some(0));

    // A plain location and an encrypted last will work the same way.
    let plain_location = json!({"_type":"location","tst":1702568600,"lat":52.5,"lon":13.4});
    let lwt = json!({"_type":"lwt","tst":1702568700});
    let sealed_lwt = envelope(&sequence[0], &secret, &json_bytes(&lwt));
    publish(server, &topic, &json_bytes(&plain_location)).await;
    publish(server, &topic, &json_bytes(&sealed_lwt)).await;
    ensure_eq!(tsts(server, "alice", "phone").await, [1702568500, 1702568600]);
    let messages = messages(server, Some(&alice)).await;
    ensure_eq!(messages.len(), 2);
    ensure_eq!(
        stored_json(&messages[1]),
        json!({"_type":"lwt","tst":1702568700,"_decrypted":true})
    );
    ensure!(quarantine(server, None).await.is_empty(), "nothing quarantined");
    Ok(())
}
