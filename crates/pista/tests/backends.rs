//! The whole server on PostgreSQL and on MySQL/MariaDB: locations over MQTT and HTTP mode,
//! the API's answers, device objects, a fence with its alert, a job, and everything still there
//! after a restart. Each run uses a database of its own on the machine's servers
//! (`PISTA_TEST_PG_URL`, `PISTA_TEST_MYSQL_URL`), dropped at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

use crate::common::{TestServer, eventually, publish_v311, unique};

/// Creates a database on the server of `admin`; returns the URL of the new database.
async fn create(admin: &str, name: &str, options: &str) -> String {
    let connection = Database::connect(admin).await.unwrap();
    connection.execute_unprepared(&format!("CREATE DATABASE {name}{options}")).await.unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// Drops the database; on PostgreSQL also the stopped server's idle pool connections to it.
async fn drop_database(admin: &str, name: &str) {
    let connection = Database::connect(admin).await.unwrap();
    let force = if admin.starts_with("postgres") { " WITH (FORCE)" } else { "" };
    connection.execute_unprepared(&format!("DROP DATABASE {name}{force}")).await.unwrap();
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

async fn whole_server_on(admin: &str, options: &str) {
    let name = unique("pista_srv").replace('x', "_");
    let url = create(admin, &name, options).await;
    let database = url.clone();
    let server = TestServer::start(move |s| s.database = database).await;
    let port = server.broker_port();

    let fence = json!({"name": "depot", "lat": 50.0, "lon": 8.0, "radius": 200});
    let response = server.post("/api/0/fences", &[], fence.to_string()).await;
    assert_eq!(response.status().as_u16(), 201);
    let far = json!({"_type": "location", "lat": 50.02, "lon": 8.0, "tst": 1_700_000_000,
                     "tid": "VN"});
    let inside = json!({"_type": "location", "lat": 50.0, "lon": 8.0, "tst": 1_700_000_100,
                        "tid": "VN"});
    publish_v311(
        port,
        &[
            ("owntracks/fleet/van", far.to_string().as_bytes(), false),
            ("owntracks/fleet/van", inside.to_string().as_bytes(), false),
            // The same fix again is stored once.
            ("owntracks/fleet/van", inside.to_string().as_bytes(), false),
            ("owntracks/fleet/van/proxy/jobs/job/3", b"Gravel run", false),
            ("owntracks/fleet/van/proxy/jobs/currentjob/1700000200", b"3 0 0 0", false),
        ],
    )
    .await;
    let posted = json!({"_type": "location", "lat": 50.01, "lon": 8.0, "tst": 1_700_000_300,
                        "tid": "VN"});
    let response = server.post("/pub?u=fleet&d=van", &[], posted.to_string()).await;
    assert_eq!(response.status().as_u16(), 200);

    let points = server.wait_points("fleet", "van", 3).await;
    let times: Vec<i64> = points.iter().map(|p| p.tst).collect();
    assert_eq!(times, [1_700_000_000, 1_700_000_100, 1_700_000_300]);
    let alerts = eventually("the enter alert", || async {
        let (_, alerts) = server.get("/api/0/alerts?user=fleet&device=van").await;
        (alerts.as_array().is_some_and(|a| !a.is_empty())).then_some(alerts)
    })
    .await;
    assert_eq!(alerts[0]["event"], "enter");
    assert_eq!(alerts[0]["alert"]["meters"], 0);
    let jobs = eventually("the job", || async {
        let (_, jobs) = server.get("/api/0/jobs?user=fleet&device=van").await;
        (jobs.as_array().is_some_and(|j| !j.is_empty())).then_some(jobs)
    })
    .await;
    assert_eq!((&jobs[0]["job"], &jobs[0]["jobname"]), (&json!("3/0/0/0"), &json!("Gravel run")));

    // A restart finds everything: the device object with its newest fix and running job.
    let server = server.restart().await;
    let (_, objects) = server.get("/api/0/map?user=fleet").await;
    let object = &objects[0];
    assert_eq!(
        (&object["tst"], &object["lat"], &object["job"], &object["jobname"]),
        (&json!(1_700_000_300), &json!(50.01), &json!("3/0/0/0"), &json!("Gravel run"))
    );
    let (_, last) = server.get("/api/0/last?user=fleet&device=van").await;
    assert_eq!(last[0]["tst"], json!(1_700_000_300));
    let (_, list) = server.get("/api/0/list").await;
    assert_eq!(list, json!({"results": ["fleet"]}));
    let (_, located) =
        server.get("/api/0/locations?user=fleet&device=van&from=2023-11-14&to=2023-11-15").await;
    let count = located.get("count").cloned().unwrap_or(Value::Null);
    assert_eq!(count, json!(3), "{located}");
    server.stop().await;
    drop_database(admin, &name).await;
}

#[tokio::test]
async fn the_whole_server_on_postgresql() {
    let admin = env_or("PISTA_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres");
    whole_server_on(&admin, "").await;
}

#[tokio::test]
async fn the_whole_server_on_mysql() {
    let admin = env_or("PISTA_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test");
    whole_server_on(&admin, " CHARACTER SET utf8mb4").await;
}
