//! The tracks page's reads end to end, with logins on: `GET /api/0/track` simplifies a known
//! zigzag to known points for a zoom level and gives every point without one, counts and
//! measures the whole range, draws only the part inside a box, refuses bob on jane's device and
//! names bad parameters; `GET /api/0/export?format=txt&tz=` is the original's TXT, byte for
//! byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::TestServer;
use pista::settings::Hidden;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const ADMIN_PW: &str = "admin-pw-for-tracks";
/// 2026-03-10T00:00:00Z.
const T0: i64 = 1_773_100_800;

struct World {
    server: TestServer,
    http: Client,
}

impl World {
    async fn start() -> Self {
        let server = TestServer::start(|s| {
            s.auth = true;
            s.admin_password = Some(Hidden(ADMIN_PW.to_owned()));
        })
        .await;
        let world = Self { server, http: Client::new() };
        for user in ["jane", "bob"] {
            let body = json!({"name": user, "password": format!("{user}-pw")});
            let response = world
                .http
                .post(format!("{}/api/0/users", world.server.http))
                .basic_auth("admin", Some(ADMIN_PW))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED, "{user}");
        }
        world
    }

    async fn post(&self, user: &str, device: &str, fix: Value) {
        let response = self
            .http
            .post(format!("{}/pub?u={user}&d={device}", self.server.http))
            .basic_auth(user, Some(format!("{user}-pw")))
            .body(fix.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    async fn get(&self, user: &str, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.server.http))
            .basic_auth(user, Some(format!("{user}-pw")))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn json(&self, user: &str, path: &str) -> (StatusCode, Value) {
        let (status, text) = self.get(user, path).await;
        (status, serde_json::from_str(&text).unwrap())
    }
}

/// jane's bike: a zigzag one degree of longitude a step, with one tall tooth, a minute apart.
async fn zigzag(world: &World) {
    for (i, lat) in [0.0, 0.001, 0.0, 1.0, 0.0, 0.001, 0.0].into_iter().enumerate() {
        let fix = json!({"_type": "location", "tid": "JB", "lat": lat, "lon": i as f64,
            "tst": T0 + 60 * i as i64, "vel": 10 * i});
        world.post("jane", "bike", fix).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zigzag_is_simplified_for_a_zoom_level_and_whole_without_one() {
    let world = World::start().await;
    zigzag(&world).await;
    let range = format!("user=jane&device=bike&from={T0}&to={}", T0 + 3600);

    // Zoom 4: half a pixel is 0.0107°, so the small teeth (0.001°) go and the tall one stays.
    let (status, answer) =
        world.json("jane", &format!("/api/0/track?{range}&zoom=4&every=200")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({
            "user": "jane", "device": "bike", "from": T0, "to": T0 + 3600, "zoom": 4,
            "tolerance": 180.0 / 4096.0, "bbox": null,
            "points": 7, "returned": 5, "km": 759.27974, "bounds": [0.0, 0.0, 6.0, 1.0],
            "segments": [[
                [T0, 0.0, 0.0, 0.0],
                [T0 + 120, 0.0, 2.0, 222.390272],
                [T0 + 180, 1.0, 3.0, 379.63987],
                [T0 + 240, 0.0, 4.0, 536.889469],
                [T0 + 360, 0.0, 6.0, 759.27974]
            ]],
            "marks": [
                {"tst": T0, "lat": 0.0, "lon": 0.0, "km": 0.0, "addr": null},
                {"tst": T0 + 120, "lat": 0.0, "lon": 2.0, "km": 222.390272, "addr": null},
                {"tst": T0 + 240, "lat": 0.0, "lon": 4.0, "km": 536.889469, "addr": null},
                {"tst": T0 + 300, "lat": 0.001, "lon": 5.0, "km": 648.084604, "addr": null}
            ],
            "tzname": null
        })
    );

    // No zoom: every point; a box: the part inside it with the points just outside.
    let (_, full) = world.json("jane", &format!("/api/0/track?{range}")).await;
    assert_eq!(
        (&full["points"], &full["returned"], &full["tolerance"]),
        (&json!(7), &json!(7), &json!(0.0))
    );
    let (_, part) = world.json("jane", &format!("/api/0/track?{range}&bbox=1.5,-1,4.5,2")).await;
    let tsts: Vec<i64> = part["segments"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_i64().unwrap() - T0)
        .collect();
    assert_eq!(tsts, [60, 120, 180, 240, 300]);
    assert_eq!(
        (&part["points"], &part["returned"], &part["km"]),
        (&json!(7), &json!(5), &json!(759.27974))
    );
    world.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracks_are_refused_to_others_and_bad_parameters_are_named() {
    let world = World::start().await;
    zigzag(&world).await;

    let (status, answer) = world.json("bob", "/api/0/track?user=jane&device=bike&zoom=4").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(answer["error"], json!("user bob may not see device jane/bike"));
    let (status, _) = world.get("bob", "/api/0/export?user=jane&device=bike&format=txt").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let cases = [
        ("user=jane", "user and device are required"),
        ("user=jane&device=bike&zoom=x", "zoom \"x\" is not a whole number from 0 to 24"),
        (
            "user=jane&device=bike&bbox=5,1,6,0",
            "bbox \"5,1,6,0\" is not west,south,east,north in degrees (south below north; a west above east crosses the antimeridian)",
        ),
        ("user=jane&device=bike&every=0", "every \"0\" is not a distance in km from 0.1 to 10000"),
    ];
    for (query, want) in cases {
        let (status, answer) = world.json("jane", &format!("/api/0/track?{query}")).await;
        assert_eq!((status, &answer["error"]), (StatusCode::BAD_REQUEST, &json!(want)), "{query}");
    }
    let (status, answer) =
        world.json("jane", "/api/0/export?user=jane&device=bike&format=txt&tz=Mars/Base").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer["error"],
        json!("unknown time zone \"Mars/Base\"; use an IANA name such as Europe/Berlin or UTC")
    );
    let (status, answer) = world.json("jane", "/api/0/track?user=jane&device=car").await;
    assert_eq!(
        (status, &answer["error"]),
        (StatusCode::NOT_FOUND, &json!("unknown device \"car\" of user \"jane\""))
    );
    world.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_txt_download_is_the_originals_layout_in_the_zone_asked_for() {
    let world = World::start().await;
    zigzag(&world).await;
    let path = format!(
        "/api/0/export?user=jane&device=bike&from={T0}&to={}&format=txt&tz=America/New_York",
        T0 + 180
    );
    let response = world
        .http
        .get(format!("{}{path}", world.server.http))
        .basic_auth("jane", Some("jane-pw"))
        .send()
        .await
        .unwrap();
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(
        (header("content-type"), header("content-disposition")),
        (
            "text/plain; charset=utf-8".to_owned(),
            "attachment; filename=\"jane-bike.txt\"".to_owned()
        )
    );
    // 2026-03-10 00:00 UTC is 20:00 the day before in New York (EDT since 8 March).
    let want = concat!(
        "Latitude   Longitude  Timestamp(America/New_York) Speed Location\n",
        "0          0          2026-03-09 20:00:00         0             \n",
        "0.001      1          2026-03-09 20:01:00        10             \n",
        "0          2          2026-03-09 20:02:00        20             \n",
        "1          3          2026-03-09 20:03:00        30             \n",
        "\n",
        "Trip: 379.64 kilometers\n",
    );
    assert_eq!(response.text().await.unwrap(), want);
    world.server.stop().await;
}

/// `GET /api/0/last?fields=tzname` answers the zone a message names, or else the zone of its
/// position (what the tracks page's "device's local time" reads); without `tzname` among the
/// fields the answer is the stored message's, as the Recorder's.
#[tokio::test]
async fn a_device_zone_is_its_messages_or_that_of_its_position() {
    let world = World::start().await;
    let devices = [
        ("berlin", 52.52, 13.405, None),
        ("kolkata", 22.5726, 88.3639, None),
        ("newyork", 40.7128, -74.006, None),
        // Mid-Atlantic: nautical time, three hours behind UTC.
        ("sea", 30.0, -40.0, None),
        // A message's own zone wins over the position's.
        ("told", 52.52, 13.405, Some("Asia/Tokyo")),
    ];
    for (device, lat, lon, tzname) in devices {
        let mut fix = json!({"_type": "location", "tid": "zz", "lat": lat, "lon": lon, "tst": T0});
        if let Some(zone) = tzname {
            fix["tzname"] = json!(zone);
        }
        world.post("jane", device, fix).await;
    }
    let (status, body) = world.json("jane", "/api/0/last?user=jane&fields=device,tzname").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!([
            {"device": "berlin", "tzname": "Europe/Berlin"},
            {"device": "kolkata", "tzname": "Asia/Kolkata"},
            {"device": "newyork", "tzname": "America/New_York"},
            {"device": "sea", "tzname": "Etc/GMT+3"},
            {"device": "told", "tzname": "Asia/Tokyo"},
        ])
    );
    let (_, body) = world.json("jane", "/api/0/last?user=jane&device=berlin").await;
    assert_eq!(body[0].get("tzname"), None, "{body}");
    let (_, body) = world.json("bob", "/api/0/last?user=jane&fields=tzname").await;
    assert_eq!(body, json!([]));
}
