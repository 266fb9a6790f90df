//! The real `pista` binary: it starts with flags only, logs one line per listener, serves HTTP
//! mode and the API, stops on SIGTERM, and explains a taken port, a bad value or a database it
//! may not write and exits 1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const PISTA: &str = env!("CARGO_BIN_EXE_pista");

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|word| word.strip_prefix(name))
}

#[tokio::test]
async fn serve_logs_its_listeners_takes_a_point_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(PISTA)
        .args(["serve", "--http", "127.0.0.1:0", "--broker", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("PISTA_CONFIG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut http, mut broker) = (None, None);
    let mut log = String::new();
    while http.is_none() || broker.is_none() {
        let line = lines.next().expect("pista exited early").unwrap();
        if line.contains("http listening") {
            http = field(&line, "addr=").map(str::to_owned);
        }
        if line.contains("embedded mqtt broker listening") {
            broker = field(&line, "addr=").map(str::to_owned);
        }
        log.push_str(&line);
    }
    // The first start makes the admin; the generated password is in a file of the owner's
    // only, and (stderr not being a terminal here) nowhere in the output.
    let file = dir.path().join("admin-password");
    let password = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert_eq!(password.len(), 24, "{password}");
    assert!(!log.contains(&password), "{log}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let (http, broker) = (http.unwrap(), broker.unwrap());
    assert!(broker.starts_with("127.0.0.1:") && broker != "127.0.0.1:0", "{broker}");

    let client = reqwest::Client::new();
    let body = r#"{"_type":"location","lat":52.1,"lon":5.1,"tst":1758260278,"tid":"JD"}"#;
    let anonymous = client.get(format!("http://{http}/api/0/last")).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401, "logins are on by default");
    let response = client
        .post(format!("http://{http}/pub"))
        .basic_auth("admin", Some(&password))
        .header("X-Limit-U", "jane@example.org")
        .header("X-Limit-D", "iphone")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let last: serde_json::Value = client
        .get(format!("http://{http}/api/0/last"))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&last[0]["username"], &last[0]["device"], &last[0]["lat"]),
        (&"jane@example.org".into(), &"iphone".into(), &52.1.into())
    );

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
    assert!(dir.path().join("pista.db").exists());
}

/// The suggested address is on the same IP, a few ports up, and free.
fn assert_suggestion(taken: std::net::SocketAddr, suggested: &str) {
    let suggested: std::net::SocketAddr = suggested.parse().unwrap();
    assert_eq!(suggested.ip(), taken.ip());
    assert!((taken.port() + 1..=taken.port() + 20).contains(&suggested.port()), "{suggested}");
    assert!(std::net::TcpListener::bind(suggested).is_ok(), "{suggested} is not free");
}

#[test]
fn a_taken_broker_port_is_explained() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(PISTA)
        .args(["serve", "--http", "127.0.0.1:0", "--broker", &addr.to_string(), "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let want = format!(
        "error: the embedded MQTT broker cannot listen on {addr}: the address is in use (is Mosquitto or another broker running there?)\n  to use that broker instead, add:  --mqtt mqtt://{addr}\n  to move the embedded broker, add: --broker "
    );
    let rest = stderr.split_once(&want).unwrap_or_else(|| panic!("{stderr}")).1;
    let (suggested, tail) = rest.split_once(' ').unwrap();
    assert_eq!(tail, "  (or --broker off)\n");
    assert_suggestion(addr, suggested);
    // Nothing was started: not even the database was created.
    assert!(!dir.path().join("pista.db").exists());
}

#[test]
fn a_taken_http_port_and_a_bad_flag_are_explained() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output =
            Command::new(PISTA).args(args).arg("--data-dir").arg(dir.path()).output().unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (code, stderr) = run(&["serve", "--broker", "off", "--http", &addr.to_string()]);
    assert_eq!(code, Some(1));
    let want = format!(
        "error: the HTTP server cannot listen on {addr}: the address is in use\n  to use another address, add: --http "
    );
    let suggested = stderr.split_once(&want).unwrap_or_else(|| panic!("{stderr}")).1;
    assert_suggestion(addr, suggested.trim_end());
    let (code, stderr) = run(&["serve", "--broker", "nowhere"]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            Some(1),
            "error: invalid broker.listen = \"nowhere\" (from flag --broker): off, or an IP address and port such as 127.0.0.1:1883\n"
        )
    );
}

#[test]
fn config_prints_the_example_and_the_effective_settings() {
    let example = Command::new(PISTA).args(["config", "--example"]).output().unwrap();
    assert_eq!(
        String::from_utf8(example.stdout).unwrap(),
        include_str!("../../../pista.example.toml")
    );
    let effective = Command::new(PISTA)
        .args(["config", "--mqtt", "mqtt://a:b@h:1"])
        .env("PISTA_HTTP", "127.0.0.1:9")
        .output()
        .unwrap();
    let text = String::from_utf8(effective.stdout).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:9\"  # environment PISTA_HTTP\n"), "{text}");
    assert!(text.contains("url = \"mqtt://a:***@h:1\"  # flag --mqtt\n"), "{text}");
}

/// Runs a copy of the binary in `dir` (wherever the build is, that user may run it) as the
/// unprivileged user 65534 (root writes any file whatever its mode): whether it succeeded, and
/// its standard error.
fn as_nobody(args: &[&str], dir: &std::path::Path) -> (bool, String) {
    let copy = dir.join("pista");
    if !copy.exists() {
        std::fs::copy(PISTA, &copy).unwrap();
    }
    let copy = copy.display().to_string();
    // A server that started by mistake is stopped, and the test fails instead of waiting.
    let nobody = [
        "timeout",
        "30",
        "setpriv",
        "--reuid",
        "65534",
        "--regid",
        "65534",
        "--clear-groups",
        &copy,
    ];
    let (ok, _, err) = crate::common::pista_as(&nobody, dir, args);
    (ok, err)
}

/// A GPX file of one point in `dir`, for imports; its path.
fn one_point_gpx(dir: &std::path::Path) -> String {
    let gpx = dir.join("t.gpx");
    std::fs::write(
        &gpx,
        r#"<gpx version="1.1" creator="t"><trk><trkseg><trkpt lat="1" lon="2"><time>2024-01-01T00:00:00Z</time></trkpt></trkseg></trk></gpx>"#,
    )
    .unwrap();
    gpx.display().to_string()
}

#[tokio::test]
async fn a_database_this_user_may_not_write_is_refused_before_anything_starts() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pista.db");
    let store = pista_store::SqlStore::open(&format!("sqlite://{}", file.display())).await.unwrap();
    store.close().await;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
    let gpx = one_point_gpx(dir.path());
    let refusal = format!(
        "error: database check writing failed on {}: attempt to write a readonly database\n  \
         the database cannot be written: its URL opens it read-only (mode=ro), or this user may \
         not write the file or its directory (SQLite makes its -wal and -shm files there, even \
         to read)\n",
        file.display()
    );
    let serve = ["serve", "--http", "127.0.0.1:0", "--broker", "off"];
    assert_eq!(as_nobody(&serve, dir.path()), (false, refusal.clone()));
    let import = ["import", "gpx", gpx.as_str(), "--user", "jane", "--device", "phone"];
    assert_eq!(as_nobody(&import, dir.path()), (false, refusal));
    // Reading needs no writing.
    assert_eq!(as_nobody(&["ocat", "--list"], dir.path()), (true, String::new()));
}

#[test]
fn a_data_directory_named_with_url_characters_holds_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("100%20 a?b#c");
    let gpx = one_point_gpx(dir.path());
    let import = ["import", "gpx", gpx.as_str(), "--user", "jane", "--device", "phone"];
    let (ok, _, err) = crate::common::pista_in(&data, &import);
    assert!(ok, "{err}");
    assert!(data.join("pista.db").exists());
    let (ok, out, err) = crate::common::pista_in(&data, &["ocat", "--list"]);
    assert!(ok, "{err}");
    assert_eq!(out, "{\"results\":[\"jane\"]}\n");
}
