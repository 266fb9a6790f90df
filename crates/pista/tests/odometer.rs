//! The odometer base of a Greenwich device (`/api/0/odometer/{user}/{device}`): set over the
//! API it is in the device object at once, after a restart, and in the inventory; one set behind
//! the server's back (another process) shows when the device starts again, as the original read
//! it from its inventory on `start`; clearing it takes it out of the object. Who may set it is
//! in `access` (`odometer_bases_are_set_by_owners_and_superusers_only`).

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use pista_core::DeviceKey;

use crate::common::{TestServer, eventually, publish_v311};

const START: &[u8] = b"356000000000009 0.8.1 20140930T085913Z";
/// A Greenwich CSV fix: K2 at 40.365854/4.575769, 8 km trip.
const FIX: &[u8] = b"K2,542A46AA,k,40365854,4575769,26,4,7,5,8";

/// The device object of gw/k2 as `/api/0/map` answers it, with `odo` (whole km) when set.
fn object(odo: Option<i64>) -> Value {
    let mut object = json!({"_type":"location","tid":"K2","lat":40.365854,"lon":4.575769,
        "cog":260,"vel":4,"alt":70,"dstamp":"30/05:59:06","tstamp":"2014-09-30T05:59:06Z",
        "compass":"SW","addr":"unknown location","cc":"??","status":1,"topic":"owntracks/gw/K2",
        "tst":1412056746,"t":"k","trip":8000,"dist":5,"imei":"356000000000009",
        "version":"0.8.1","user":"gw","device":"k2"});
    if let Some(odo) = odo {
        object["odo"] = json!(odo);
    }
    object
}

async fn map(server: &TestServer) -> Value {
    let (status, objects) = server.get("/api/0/map?user=gw&device=k2").await;
    assert_eq!(status, 200);
    objects[0].clone()
}

async fn send(server: &TestServer, method: reqwest::Method, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}/api/0/odometer/gw/k2", server.http);
    let mut request = Client::new().request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_odometer_base_goes_into_the_device_object_at_once_and_on_start() {
    let server = TestServer::start(|_| {}).await;
    let port = server.broker_port();
    publish_v311(port, &[("owntracks/gw/K2/start", START, false), ("owntracks/gw/K2", FIX, false)])
        .await;
    eventually("the device object", || async {
        let (_, objects) = server.get("/api/0/map?user=gw&device=k2").await;
        (objects[0]["version"] == "0.8.1").then_some(())
    })
    .await;
    assert_eq!(map(&server).await, object(None));

    let (status, answer) =
        send(&server, reqwest::Method::PUT, Some(json!({"odo": 123456.7}))).await;
    assert_eq!((status, answer), (200, json!({"user": "gw", "device": "k2", "odo": 123456.7})));
    // The object shows whole km, as the original's integer column did.
    assert_eq!(map(&server).await, object(Some(123456)));
    let (_, inventory) = server.get("/api/0/inventory").await;
    assert_eq!(
        (&inventory[0]["imei"], &inventory[0]["odo"]),
        (&json!(START_IMEI), &json!(123456.7))
    );

    // Kept across a restart.
    let server = server.restart().await;
    assert_eq!(map(&server).await, object(Some(123456)));

    // Changed behind the server's back: the object shows it once the device starts again.
    let store = server.server.store.clone();
    assert!(store.set_odometer(&DeviceKey::parse("gw", "k2").unwrap(), Some(200.0)).await.unwrap());
    assert_eq!(map(&server).await, object(Some(123456)));
    publish_v311(server.broker_port(), &[("owntracks/gw/K2/start", START, false)]).await;
    eventually("the odometer read on start", || async {
        (map(&server).await["odo"] == 200).then_some(())
    })
    .await;
    assert_eq!(map(&server).await, object(Some(200)));

    // Refusals name the value; nothing changes.
    for (body, want) in [
        (json!({"odo": -5}), "odo -5 is negative"),
        (json!({"odo": 20000000}), "odo 20000000 is more than 10000000 km"),
        (json!({"odo": "lots"}), "odo \"lots\" is not a number of km"),
        (json!({}), "odo is missing"),
    ] {
        let (status, answer) = send(&server, reqwest::Method::PUT, Some(body.clone())).await;
        assert_eq!((status, &answer["error"]), (400, &json!(want)), "{body}");
    }
    let url = format!("{}/api/0/odometer/gw/nothing", server.http);
    let response = Client::new().put(url).json(&json!({"odo": 1})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"], json!("device gw/nothing has sent nothing"));
    assert_eq!(map(&server).await, object(Some(200)));

    let (status, _) = send(&server, reqwest::Method::DELETE, None).await;
    assert_eq!(status, 204);
    assert_eq!(map(&server).await, object(None));
    let (_, inventory) = server.get("/api/0/inventory").await;
    assert_eq!(inventory[0]["odo"], Value::Null);
    server.stop().await;
}

const START_IMEI: &str = "356000000000009";
