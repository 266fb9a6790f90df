//! The live stream's `fence` events and the pages of `/api/0/alerts`, in the authorization
//! matrix's world (see `access`): a fence change reaches exactly the listeners who may see the
//! fence, an app's region reaches its owner and those it is shared with, and a page of alerts
//! holds the newest its reader may see (oldest first), however many of the newest are hidden.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use pista_core::UserName;
use pista_store::{DerivedStore, FenceSource, NewFence, SqlStore};

use crate::access::{TST, World, password};

/// One viewer's `/api/0/live?kinds=fence` stream, read event by event.
struct Listener {
    response: reqwest::Response,
    buffer: String,
    /// Fences that existed before the stream opened: their late announcements are not counted.
    skip: Vec<i64>,
}

impl Listener {
    async fn open(world: &World, viewer: &str, skip: &[i64]) -> Self {
        Self::open_at(world, viewer, "/api/0/live?kinds=fence", skip).await
    }

    async fn open_at(world: &World, viewer: &str, path: &str, skip: &[i64]) -> Self {
        let response = world
            .http
            .get(world.url(path))
            .basic_auth(viewer, Some(password(viewer)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{viewer}'s stream");
        Self { response, buffer: String::new(), skip: skip.to_vec() }
    }

    /// The next fence event's data, as `change id` (for example `created 7`).
    async fn next(&mut self) -> String {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                    continue;
                };
                assert!(event.contains("event: fence"), "{event}");
                let data: Value = serde_json::from_str(data).unwrap();
                let id = data["id"].as_i64().unwrap();
                if !self.skip.contains(&id) {
                    return format!("{} {id}", data["change"].as_str().unwrap());
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("a fence event within 10 s")
                .unwrap()
                .expect("the stream open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    async fn take(&mut self, count: usize) -> Vec<String> {
        let mut events = Vec::new();
        for _ in 0..count {
            events.push(self.next().await);
        }
        events
    }
}

/// The ids of every fence there is now.
async fn fence_ids(world: &World) -> Vec<i64> {
    let (status, list) = world.get("admin", "/api/0/fences").await;
    assert_eq!(status, StatusCode::OK);
    list.as_array().unwrap().iter().map(|f| f["id"].as_i64().unwrap()).collect()
}

async fn create(world: &World, viewer: &str, fence: Value) -> i64 {
    let (status, body) = world.call(viewer, Method::POST, "/api/0/fences", Some(fence)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

/// An app's region arriving over HTTP mode; answers the id the fence list gives it.
async fn region(world: &World, user: &str, device: &str, desc: &str) -> i64 {
    let waypoint = json!({"_type": "waypoint", "desc": desc, "lat": 40.0, "lon": 10.0,
        "rad": 80, "tst": TST + 500});
    let response = world.publish(user, user, device, &waypoint).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, list) = world.get("admin", "/api/0/fences").await;
    let found = list.as_array().unwrap().iter().find(|f| f["name"] == desc);
    found.expect("the region listed")["id"].as_i64().unwrap()
}

#[tokio::test]
async fn fence_events_reach_exactly_those_who_may_see_the_fence() {
    let world = World::start().await;
    let before = fence_ids(&world).await;
    let mut jane = Listener::open(&world, "jane", &before).await;
    let mut bob = Listener::open(&world, "bob", &before).await;
    let mut carl = Listener::open(&world, "carl", &before).await;
    let mut admin = Listener::open(&world, "admin", &before).await;
    // The admin's stream narrowed to the fences that apply to bob's devices.
    let mut for_bob =
        Listener::open_at(&world, "admin", "/api/0/live?kinds=fence&user=bob", &before).await;

    // jane's own fence, made, changed and removed; each change is heard before the next, as
    // events report what the outputs stage found changed when it read the list.
    let home = json!({"name": "Home", "lat": 48.0, "lon": 11.0, "radius": 120, "user": "jane"});
    let j = create(&world, "jane", home).await;
    assert_eq!(jane.next().await, format!("created {j}"));
    let moved = json!({"name": "Home", "lat": 48.1, "lon": 11.0, "radius": 150, "user": "jane"});
    let path = format!("/api/0/fences/{j}");
    let (status, _) = world.call("jane", Method::PUT, &path, Some(moved)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jane.next().await, format!("replaced {j}"));
    let (status, _) = world.call("jane", Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(jane.next().await, format!("deleted {j}"));

    // A region of bob's car (shared with carl's group), then a fence of bob's own.
    let r = region(&world, "bob", "car", "Garage").await;
    assert_eq!(bob.next().await, format!("created {r}"));
    let b = create(
        &world,
        "bob",
        json!({"name": "Office", "lat": 1.0, "lon": 2.0, "radius": 50,
        "user": "bob"}),
    )
    .await;
    assert_eq!(bob.next().await, format!("created {b}"));
    // Markers: a fence of jane's and a region of her phone (which carl may see).
    let m = create(
        &world,
        "jane",
        json!({"name": "Gym", "lat": 3.0, "lon": 4.0, "radius": 60,
        "user": "jane"}),
    )
    .await;
    let p = region(&world, "jane", "phone", "Park").await;

    assert_eq!(jane.take(2).await, [format!("created {m}"), format!("created {p}")]);
    // carl manages nobody's fences: he hears of the regions of devices he may see only.
    assert_eq!(carl.take(2).await, [format!("created {r}"), format!("created {p}")]);
    let everything = [
        format!("created {j}"),
        format!("replaced {j}"),
        format!("deleted {j}"),
        format!("created {r}"),
        format!("created {b}"),
        format!("created {m}"),
        format!("created {p}"),
    ];
    assert_eq!(admin.take(7).await, everything);
    assert_eq!(for_bob.take(2).await, [format!("created {r}"), format!("created {b}")]);

    // bob's next event is his own next change, not jane's markers before it.
    let path = format!("/api/0/fences/{b}");
    let (status, _) = world.call("bob", Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(bob.next().await, format!("deleted {b}"));
    assert_eq!(for_bob.next().await, format!("deleted {b}"));

    // A fence the outputs stage never read (put in the database directly, as one created and
    // deleted again between two of its reloads would be): its deletion through the API is still
    // announced, so a page that listed it drops it; to those who may see it only.
    // The stage also reads the list on its own every few seconds when idle; should that read
    // fall between the insert and the deletion, the fence was seen after all (created, then
    // deleted), and the case is tried again with a new fence.
    let store = SqlStore::open(&world.database()).await.unwrap();
    assert_eq!(admin.next().await, format!("deleted {b}"));
    let mut announced_unseen = false;
    for attempt in 1..=5 {
        let unseen = NewFence {
            source: FenceSource::Api,
            user: Some(UserName::parse("jane").unwrap()),
            name: format!("Unseen {attempt}"),
            lat: 5.0,
            lon: 6.0,
            radius: Some(40.0),
            polygon: None,
            webhook: None,
        };
        let u = store.add_fence(&unseen, pista_ingest::now()).await.unwrap();
        let path = format!("/api/0/fences/{u}");
        let (status, _) = world.call("jane", Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let heard = jane.next().await;
        assert_eq!(admin.next().await, heard, "the admin hears what jane hears");
        if heard == format!("deleted {u}") {
            announced_unseen = true;
            break;
        }
        assert_eq!(heard, format!("created {u}"), "attempt {attempt}");
        assert_eq!(jane.next().await, format!("deleted {u}"));
        assert_eq!(admin.next().await, format!("deleted {u}"));
    }
    assert!(announced_unseen, "a deletion of a fence never read, within five tries");
    // bob heard nothing of it: his next event is his own next change.
    let yard = json!({"name": "Yard", "lat": 1.5, "lon": 2.5, "radius": 50, "user": "bob"});
    let y = create(&world, "bob", yard).await;
    assert_eq!(bob.next().await, format!("created {y}"));

    let (status, body) = world.get("jane", "/api/0/live?kinds=fence,fences").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "kind \"fences\" is not one of look, map, alert, job, fence");
}

/// `device tst` of each alert of a page.
fn page(body: &Value) -> Vec<String> {
    let items = body.as_array().unwrap_or_else(|| panic!("a list: {body}"));
    items.iter().map(|a| format!("{}/{} {}", a["user"], a["device"], a["tst"])).collect()
}

async fn alerts(world: &World, viewer: &str, query: &str) -> Vec<String> {
    let (status, body) = world.get(viewer, &format!("/api/0/alerts?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    page(&body).into_iter().map(|item| item.replace('"', "")).collect()
}

#[tokio::test]
async fn alert_pages_hold_the_newest_the_reader_may_see_oldest_first() {
    let world = World::start().await;
    // The world's three enters, one per device, at TST + its index.
    let all = crate::common::eventually("the three enters", || async {
        let page = alerts(&world, "admin", "").await;
        (page.len() == 3).then_some(page)
    })
    .await;
    let (phone, tablet, car) = (
        format!("jane/phone {TST}"),
        format!("jane/tablet {}", TST + 1),
        format!("bob/car {}", TST + 2),
    );
    assert_eq!(all, [phone.as_str(), tablet.as_str(), car.as_str()]);
    assert_eq!(alerts(&world, "admin", "limit=2").await, [tablet.as_str(), car.as_str()]);
    // carl may not see the tablet: his page of two goes on past it.
    assert_eq!(alerts(&world, "carl", "limit=2").await, [phone.as_str(), car.as_str()]);
    assert_eq!(alerts(&world, "carl", "limit=1").await, [car.as_str()]);
    assert_eq!(alerts(&world, "jane", "limit=1").await, [tablet.as_str()]);
    let range = format!("from={}&to={}", TST + 1, TST + 1);
    assert_eq!(alerts(&world, "admin", &range).await, [tablet.as_str()]);
    let from = format!("from={}", TST + 1);
    assert_eq!(alerts(&world, "carl", &from).await, [car.as_str()]);
    let to = format!("to={}&user=jane&device=phone", TST + 1);
    assert_eq!(alerts(&world, "jane", &to).await, [phone.as_str()]);
    assert_eq!(alerts(&world, "eve", "").await, Vec::<String>::new());

    // The pages after and before an alert, by id.
    let (_, body) = world.get("admin", "/api/0/alerts").await;
    let ids: Vec<i64> =
        body.as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    let (phone_id, car_id) = (ids[0], ids[2]);
    let after = format!("after={phone_id}");
    assert_eq!(alerts(&world, "admin", &after).await, [tablet.as_str(), car.as_str()]);
    let before = format!("before={car_id}&limit=1");
    assert_eq!(alerts(&world, "admin", &before).await, [tablet.as_str()]);
    let before = format!("before={car_id}");
    assert_eq!(alerts(&world, "carl", &before).await, [phone.as_str()]);
}

#[tokio::test]
async fn alert_pages_name_the_bad_parameter() {
    let world = World::start().await;
    let cases = [
        ("limit=0", "limit \"0\" is not a whole number from 1 to 5000"),
        ("limit=5001", "limit \"5001\" is not a whole number from 1 to 5000"),
        ("limit=ten", "limit \"ten\" is not a whole number from 1 to 5000"),
        ("before=-1", "before \"-1\" is not an alert id"),
        ("after=x", "after \"x\" is not an alert id"),
        (
            "from=yesterday",
            "from: \"yesterday\" is not a time; use YYYY-MM-DDTHH:MM:SS (UTC), YYYY-MM-DD, \
             YYYY-MM, an RFC 3339 time with offset, or epoch seconds",
        ),
        (
            "from=2024-12-02&to=2024-12-01",
            "impossible range: from 2024-12-02T00:00:00Z is after to 2024-12-01T00:00:00Z",
        ),
    ];
    for (query, message) in cases {
        let (status, body) = world.get("jane", &format!("/api/0/alerts?{query}")).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some(message)));
    }
}
