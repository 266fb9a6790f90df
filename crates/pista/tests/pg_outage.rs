//! The PostgreSQL outage drill: a private PostgreSQL cluster (made with the machine's `initdb`
//! as the `postgres` user, on a free port) is stopped while a client posts locations over HTTP
//! mode. While it is down Pista answers `503` with `Retry-After`, so the apps keep their points;
//! when it is back Pista resumes by itself; every point answered `200` is stored exactly once.
//! The outage lasts `PISTA_DRILL_OUTAGE_SECS` seconds (5 by default, to keep CI short; the
//! issue's drill is 30).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::TestServer;
use serde_json::json;

const BIN: &str = "/usr/lib/postgresql";

/// A PostgreSQL cluster of the test's own, stopped and removed on drop.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
}

impl Cluster {
    fn start() -> Self {
        let version = std::fs::read_dir(BIN)
            .expect("PostgreSQL is installed")
            .flatten()
            .map(|entry| entry.path())
            .max()
            .expect("a PostgreSQL version");
        let bin = version.join("bin");
        let dir = tempfile::tempdir().unwrap();
        run("chown", &["postgres", &dir.path().display().to_string()]);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let data = dir.path().join("data").display().to_string();
        as_postgres(&bin.join("initdb"), &["-D", &data, "-A", "trust", "-U", "postgres"]);
        let cluster = Self { dir, port, bin };
        cluster.up();
        cluster
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data").display().to_string();
        let mut all = vec!["-D", &data, "-w"];
        all.extend_from_slice(args);
        as_postgres(&self.bin.join("pg_ctl"), &all);
    }

    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.pg_ctl(&["-o", &options, "-l", &log, "start"]);
    }

    fn down(&self) {
        self.pg_ctl(&["-m", "fast", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        let pg_ctl = self.bin.join("pg_ctl");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(pg_ctl)
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(output.status.success(), "{program} {args:?}: {output:?}");
}

fn as_postgres(program: &Path, args: &[&str]) {
    let output = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{} {args:?}: {output:?}", program.display());
}

/// What the client was told for each point it posted: (tst, status, had Retry-After).
type Answers = Arc<Mutex<Vec<(i64, u16, bool)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_stopped_under_load_loses_nothing_acknowledged() {
    let outage: u64 =
        std::env::var("PISTA_DRILL_OUTAGE_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let url = cluster.url();
    let server = TestServer::start(move |s| s.database = url).await;

    let answers: Answers = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = {
        let (answers, stop, http) = (answers.clone(), stop.clone(), server.http.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut tst = 1_700_000_000;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                tst += 1;
                let body = json!({"_type": "location", "lat": 50.0, "lon": 8.0, "tst": tst});
                let response = client
                    .post(format!("{http}/pub?u=drill&d=phone"))
                    .body(body.to_string())
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                let (status, retry) = match response {
                    Ok(response) => {
                        (response.status().as_u16(), response.headers().contains_key("retry-after"))
                    }
                    Err(_) => (0, false),
                };
                answers.lock().unwrap().push((tst, status, retry));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    tokio::time::sleep(Duration::from_secs(1)).await;
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.down();
        cluster
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(outage)).await;
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.up();
        cluster
    })
    .await
    .unwrap();
    // It resumes by itself: points are acknowledged again soon after the database is back.
    let back = answers.lock().unwrap().len();
    crate::common::eventually_within(Duration::from_secs(30), "acknowledgements again", || async {
        let answers = answers.lock().unwrap();
        answers[back..].iter().filter(|(_, status, _)| *status == 200).nth(20).map(|_| ())
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    client.await.unwrap();

    let answers = answers.lock().unwrap().clone();
    let refused: Vec<&(i64, u16, bool)> = answers.iter().filter(|(_, s, _)| *s != 200).collect();
    assert!(!refused.is_empty(), "the outage refused nothing");
    assert!(
        refused.iter().all(|(_, status, retry)| *status == 503 && *retry),
        "while down, every answer is 503 with Retry-After: {refused:?}"
    );
    let acknowledged: Vec<i64> =
        answers.iter().filter(|(_, s, _)| *s == 200).map(|(tst, _, _)| *tst).collect();
    let stored: Vec<i64> = server.points("drill", "phone").await.iter().map(|p| p.tst).collect();
    for tst in &acknowledged {
        assert_eq!(stored.iter().filter(|s| *s == tst).count(), 1, "point {tst} stored once");
    }
    let mut unique = stored.clone();
    unique.dedup();
    assert_eq!(unique, stored, "nothing stored twice");
    server.stop().await;
    drop(cluster);
}
