//! `pista ocat` as scripts call the Recorder's `ocat`: list, last, and a device's locations in
//! each format, with `OCAT_*` variables, read from the database of a running server. The
//! command runs as a child process awaited on the test's runtime.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::TestServer;
use serde_json::{Value, json};
use tokio::process::Command;

const PISTA: &str = env!("CARGO_BIN_EXE_pista");

async fn post(server: &TestServer, device: &str, body: &str) {
    let headers = [("X-Limit-U", "jane"), ("X-Limit-D", device)];
    let response = server.post("/pub", &headers, body.to_owned()).await;
    assert_eq!(response.status().as_u16(), 200);
}

/// Runs `pista ocat ARGS` on the server's data directory; its standard output, or the error.
async fn ocat(server: &TestServer, args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
    ocat_with_input(server, args, env, "").await
}

async fn ocat_with_input(
    server: &TestServer,
    args: &[&str],
    env: &[(&str, &str)],
    input: &str,
) -> Result<String, String> {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new(PISTA)
        .arg("ocat")
        .arg("--data-dir")
        .arg(server.dir.path())
        .args(args)
        .env_remove("OCAT_USERNAME")
        .env_remove("OCAT_DEVICE")
        .env_remove("OCAT_FORMAT")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap())
    } else {
        Err(String::from_utf8(output.stderr).unwrap())
    }
}

#[tokio::test]
async fn ocat_lists_and_reads_every_format() {
    let server = TestServer::start(|_| {}).await;
    // T1: two points in October, one in November 2023, posted out of order.
    post(
        &server,
        "phone",
        r#"{"_type":"location","lat":3.5,"lon":3.5,"tst":1700000000,"tid":"jp"}"#,
    )
    .await;
    post(
        &server,
        "phone",
        r#"{"_type":"location","lat":1.5,"lon":1.5,"tst":1697000000,"tid":"jp"}"#,
    )
    .await;
    post(
        &server,
        "phone",
        r#"{"_type":"location","lat":2.5,"lon":2.5,"tst":1697003600,"tid":"jp","alt":12}"#,
    )
    .await;
    post(&server, "tablet", r#"{"_type":"location","lat":9.5,"lon":9.5,"tst":1697000000}"#).await;

    let list: Value =
        serde_json::from_str(&ocat(&server, &["--list"], &[]).await.unwrap()).unwrap();
    assert_eq!(list, json!({"results": ["jane"]}));
    let list = ocat(&server, &["-l", "-u", "jane"], &[]).await.unwrap();
    assert_eq!(list, "{\"results\":[\"phone\",\"tablet\"]}\n");
    let last: Value =
        serde_json::from_str(&ocat(&server, &["--last", "--user", "jane"], &[]).await.unwrap())
            .unwrap();
    let picked: Vec<Value> = last
        .as_array()
        .unwrap()
        .iter()
        .map(|i| json!([i["device"], i["tst"], i["topic"]]))
        .collect();
    assert_eq!(
        picked,
        [
            json!(["phone", 1700000000, "owntracks/jane/phone"]),
            json!(["tablet", 1697000000, "owntracks/jane/tablet"])
        ]
    );

    // --last as CSV and XML (the Recorder's writers), and with --fields as JSON too.
    let last = |args: &'static [&'static str]| {
        let server = &server;
        async move { ocat(server, args, &[]).await.unwrap() }
    };
    assert_eq!(
        last(&["--last", "--user", "jane", "-f", "csv", "--fields", "device,tst,lat,tid"]).await,
        "device,tst,lat,tid\nphone,1700000000,3.500000,jp\ntablet,1697000000,9.500000,et\n"
    );
    assert_eq!(
        last(&["--last", "--user", "jane", "--device", "tablet", "-f", "xml", "--fields", "topic"])
            .await,
        concat!(
            "<?xml version='1.0' encoding='UTF-8'?>\n\t<?xml-stylesheet type='text/xsl' ",
            "href='owntracks.xsl'?>\n<owntracks>\n <point>\n  <topic>owntracks/jane/tablet</topic>\n",
            " </point>\n\n</owntracks>\n"
        )
    );
    assert_eq!(
        last(&["--last", "--user", "jane", "--fields", "device,tst,ghash"]).await,
        concat!(
            "[{\"device\":\"phone\",\"tst\":1700000000,\"ghash\":\"s0d7zth\"},",
            "{\"device\":\"tablet\",\"tst\":1697000000,\"ghash\":\"s1wy01m\"}]\n"
        )
    );

    // --limit across months, no --from needed; the user and device from OCAT_*.
    let env = [("OCAT_USERNAME", "jane"), ("OCAT_DEVICE", "phone")];
    let json = ocat(&server, &["-N", "3", "--fields", "tst,lat"], &env).await.unwrap();
    assert_eq!(
        json,
        concat!(
            r#"{"count":3,"locations":[{"tst":1697000000,"lat":1.5},{"tst":1697003600,"lat":2.5},"#,
            r#"{"tst":1700000000,"lat":3.5}]}"#,
            "\n"
        )
    );
    let range = ["-F", "2023-10-01", "-T", "2023-10-31"];
    let csv = ocat(&server, &[&range[..], &["-f", "csv", "--fields", "tst,alt"]].concat(), &env)
        .await
        .unwrap();
    assert_eq!(csv, "tst,alt\n1697000000,\n1697003600,12\n");
    // OCAT_FORMAT by first letter, as ocat reads it.
    let line = ocat(&server, &range, &[env[0], env[1], ("OCAT_FORMAT", "l")]).await.unwrap();
    assert_eq!(
        line,
        r#"{"type":"Feature","properties":{},"geometry":{"coordinates":[[1.5,1.5],[2.5,2.5]],"type":"LineString"}}"#
    );
    let raw = ocat(&server, &[&range[..], &["-f", "raw"]].concat(), &env).await.unwrap();
    let raw: Vec<&str> = raw.lines().collect();
    assert_eq!(
        raw,
        [
            "2023-10-11T04:53:20Z\t*                 \t{\"_type\":\"location\",\"lat\":1.5,\"lon\":1.5,\"tst\":1697000000,\"tid\":\"jp\"}",
            "2023-10-11T05:53:20Z\t*                 \t{\"_type\":\"location\",\"lat\":2.5,\"lon\":2.5,\"tst\":1697003600,\"tid\":\"jp\",\"alt\":12}"
        ]
    );
    let payload = ocat(&server, &[&range[..], &["-f", "payload"]].concat(), &env).await.unwrap();
    let tsts: Vec<Value> =
        payload.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["tst"].clone()).collect();
    assert_eq!(tsts, [json!(1697000000), json!(1697003600)]);
    let gpx = ocat(&server, &[&range[..], &["--format", "gpx"]].concat(), &env).await.unwrap();
    assert_eq!(gpx.matches("<trkpt ").count(), 2);
    assert!(gpx.contains("\t<ele>12.00</ele>\n"), "{gpx}");

    // Bad input names what is wrong.
    let error = ocat(&server, &["-f", "kml"], &env).await.unwrap_err();
    assert!(
        error.contains(
            "--format \"kml\" is not one of json, csv, geojson, geojsonpoi, linestring, gpx, \
             xml, raw, payload"
        ),
        "{error}"
    );
    let error = ocat(&server, &[], &[]).await.unwrap_err();
    assert!(error.contains("give --user and --device"), "{error}");
    let error = ocat(&server, &["-F", "2023-11", "-T", "2023-10"], &env).await.unwrap_err();
    assert!(
        error.contains(
            "impossible range: --from 2023-11-01T00:00:00Z is after --to 2023-10-01T00:00:00Z"
        ),
        "{error}"
    );
    let error = ocat(&server, &["--last", "-f", "gpx"], &[]).await.unwrap_err();
    assert!(error.contains("--last writes json, csv or xml, not --format \"gpx\""), "{error}");
    // Empty values count as none.
    let empty = [("OCAT_USERNAME", ""), ("OCAT_DEVICE", "")];
    let error = ocat(&server, &["-N", "1"], &empty).await.unwrap_err();
    assert!(error.contains("give --user and --device"), "{error}");
    let error = ocat(&server, &["--list", "--last"], &[]).await.unwrap_err();
    assert!(error.contains("cannot be used with"), "{error}");
    server.stop().await;
}

#[tokio::test]
async fn ocat_dumps_and_loads_friends_keys_and_cards_in_its_lines() {
    let server = TestServer::start(|_| {}).await;
    post(&server, "phone", r#"{"_type":"location","lat":1.5,"lon":1.5,"tst":1700000000}"#).await;
    post(&server, "my-tablet", r#"{"_type":"location","lat":1.5,"lon":1.5,"tst":1700000000}"#)
        .await;
    let headers = [("X-Limit-U", "john"), ("X-Limit-D", "android")];
    let body = r#"{"_type":"location","lat":2.5,"lon":2.5,"tst":1700000000}"#;
    assert_eq!(server.post("/pub", &headers, body).await.status().as_u16(), 200);

    // T8: what the Recorder's ocat --load=friends took; a device's own entry is left out.
    let friends = "# from the Recorder\njane-phone [\"john/android\",\"jane/phone\"]\n\n";
    let loaded = ocat_with_input(&server, &["--load", "friends"], &[], friends).await.unwrap();
    assert_eq!(loaded, "loaded 1 friends from 1 lines\n");
    let dumped = ocat(&server, &["--dump", "friends"], &[]).await.unwrap();
    assert_eq!(dumped, "jane-my-tablet [\"john/android\"]\njane-phone [\"john/android\"]\n");
    // A friend entry for all of john's devices names each once, beside the device's own entry.
    let headers = [("X-Limit-U", "john"), ("X-Limit-D", "web")];
    assert_eq!(server.post("/pub", &headers, body).await.status().as_u16(), 200);
    let (jane, john) = (pista_core::UserName::parse("jane"), pista_core::UserName::parse("john"));
    server.server.store.add_friend(&jane.unwrap(), &john.unwrap(), None).await.unwrap();
    let dumped = ocat(&server, &["--dump", "friends"], &[]).await.unwrap();
    let both = "[\"john/android\",\"john/web\"]";
    assert_eq!(dumped, format!("jane-my-tablet {both}\njane-phone {both}\n"));
    let keys = "john-android s3cr3t with spaces\njane-my-tablet other\n";
    let loaded = ocat_with_input(&server, &["--load", "keys"], &[], keys).await.unwrap();
    assert_eq!(loaded, "loaded 2 keys from 2 lines\n");
    let dumped = ocat(&server, &["--dump", "keys"], &[]).await.unwrap();
    assert_eq!(dumped, "jane-my-tablet ********\njohn-android ********\n");
    let secret = server
        .server
        .store
        .secret(&pista_core::DeviceKey::parse("john", "android").unwrap())
        .await
        .unwrap();
    assert_eq!(secret.as_deref(), Some("s3cr3t with spaces"));

    // Bad lines are named, and nothing of the input is stored.
    for (input, error) in [
        ("nobody-x [\"john/android\"]\n", "line 1: \"nobody-x\" names no user Pista knows"),
        (
            "jane-phone [\"jane/x\"]\njane-phone [\"john/web\"]\njane-phone [\"john\"]\n",
            "line 3: jane/phone: \"john\" is not \"user/device\"",
        ),
        ("jane-phone\n", "line 1: \"jane-phone\" is not `user-device VALUE`"),
        ("jane-phone [\"john\"]\n", "jane/phone: \"john\" is not \"user/device\""),
        ("jane-phone {}\n", "jane/phone: \"{}\" is not a JSON list of \"user/device\""),
    ] {
        let refused = ocat_with_input(&server, &["--load", "friends"], &[], input).await;
        let refused = refused.unwrap_err();
        assert!(refused.contains(error), "{input}: {refused}");
    }
    let dumped = ocat(&server, &["--dump", "friends"], &[]).await.unwrap();
    let both = "[\"john/android\",\"john/web\"]";
    assert_eq!(dumped, format!("jane-my-tablet {both}\njane-phone {both}\n"));
    let error = ocat(&server, &["--dump", "photos"], &[]).await.unwrap_err();
    assert!(error.contains("--dump \"photos\" is not friends, keys or cards"), "{error}");

    // Cards: a device's, and a user's own (keyed by the user alone); they show in `last`.
    let cards = concat!(
        "jane-phone {\"_type\":\"card\",\"name\":\"Jane\",\"face\":\"iVBORw0KGgo=\",\"tid\":\"JP\"}\n",
        "john {\"name\":\"John\"}\n",
    );
    let loaded = ocat_with_input(&server, &["--load", "cards"], &[], cards).await.unwrap();
    assert_eq!(loaded, "loaded 2 cards from 2 lines\n");
    let dumped = ocat(&server, &["--dump", "cards"], &[]).await.unwrap();
    assert_eq!(
        dumped,
        concat!(
            "jane-phone {\"_type\":\"card\",\"name\":\"Jane\",\"face\":\"iVBORw0KGgo=\",\"tid\":\"JP\"}\n",
            "john {\"_type\":\"card\",\"name\":\"John\"}\n",
        )
    );
    let name = crate::common::eventually("jane's card in last", || async {
        let (_, last) = server.get("/api/0/last?user=jane&device=phone").await;
        last[0]["name"].as_str().map(str::to_owned)
    })
    .await;
    assert_eq!(name, "Jane");
    let args = ["--last", "--user", "jane", "--device", "phone", "--fields", "name,face"];
    let last = ocat(&server, &args, &[]).await.unwrap();
    assert_eq!(last, "[{\"name\":\"Jane\",\"face\":\"iVBORw0KGgo=\"}]\n");
    for (input, error) in [
        ("jane-phone [1]\n", "line 1: jane-phone: \"[1]\" is not a JSON object"),
        (
            "jane-phone {\"_type\":\"location\"}\n",
            "line 1: jane-phone: _type \"location\" is not \"card\"",
        ),
        ("john {\"face\":\"not base64!\"}\n", "line 1: john: the face is not base64 image data"),
        ("jane-phone {\"name\":\" \"}\n", "line 1: jane-phone: name is empty"),
        (
            "jane-phone {\"name\":\"a\\u0000b\"}\n",
            "line 1: jane-phone: name \"a\\0b\" holds a control character",
        ),
        ("jane-phone {\"name\":7}\n", "line 1: jane-phone: name 7 is not a text"),
        ("jane-phone {\"tid\":\"JP\"}\n", "line 1: jane-phone: a card needs a name or a face"),
        ("nobody {\"name\":\"N\"}\n", "line 1: \"nobody\" is not user-device"),
    ] {
        let refused = ocat_with_input(&server, &["--load", "cards"], &[], input).await;
        let refused = refused.unwrap_err();
        assert!(refused.contains(error), "{input}: {refused}");
    }
    server.stop().await;
}

/// `--load` takes users that have an account but no device yet (a phone's key is loaded before
/// it first sends), names with `-` included, and `DELETE` deletes a key or a card as in ocat.
#[tokio::test]
async fn ocat_loads_for_accounts_without_devices_and_deletes_with_delete() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(|_| {}).await;
    let mut child = Command::new(PISTA)
        .args(["user", "add", "ann-lee", "--data-dir"])
        .arg(server.dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"ann-lee-password\n").await.unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let key = pista_core::DeviceKey::parse("ann-lee", "phone").unwrap();
    let load = |what: &'static str, input: &'static str| {
        let server = &server;
        async move { ocat_with_input(server, &["--load", what], &[], input).await }
    };
    assert_eq!(
        load("keys", "ann-lee-phone s3cret\n").await.unwrap(),
        "loaded 1 keys from 1 lines\n"
    );
    assert_eq!(server.server.store.secret(&key).await.unwrap().as_deref(), Some("s3cret"));
    assert_eq!(
        load("keys", "ann-lee-phone DELETE\n").await.unwrap(),
        "loaded 1 keys from 1 lines\n"
    );
    assert_eq!(server.server.store.secret(&key).await.unwrap(), None);

    assert_eq!(
        load("cards", "ann-lee {\"name\":\"Ann\"}\n").await.unwrap(),
        "loaded 1 cards from 1 lines\n"
    );
    let dumped = ocat(&server, &["--dump", "cards"], &[]).await.unwrap();
    assert_eq!(dumped, "ann-lee {\"_type\":\"card\",\"name\":\"Ann\"}\n");
    assert_eq!(load("cards", "ann-lee DELETE\n").await.unwrap(), "loaded 1 cards from 1 lines\n");
    assert_eq!(ocat(&server, &["--dump", "cards"], &[]).await.unwrap(), "");

    let refused = load("friends", "ann-lee-phone DELETE\n").await.unwrap_err();
    assert!(
        refused.contains("line 1: ann-lee-phone: DELETE is not taken for friends"),
        "{refused}"
    );
    server.stop().await;
}

#[tokio::test]
async fn ocat_into_a_reader_that_stops_early_ends_quietly() {
    // `pista ocat ... | head`: the rest of the answer has nowhere to go; that is no error.
    use tokio::io::AsyncReadExt;
    let server = TestServer::start(|_| {}).await;
    for batch in 0..10 {
        let points: Vec<Value> = (0..100)
            .map(|n| {
                let tst = 1_700_000_000 + 60 * (batch * 100 + n);
                json!({"_type":"location","lat":48.1,"lon":11.5,"tst":tst,"tid":"jp"})
            })
            .collect();
        post(&server, "phone", &Value::Array(points).to_string()).await;
    }
    // A thousand points are some 200 kB of JSON: more than a pipe holds.
    let mut child = Command::new(PISTA)
        .args(["ocat", "--data-dir"])
        .arg(server.dir.path())
        .args(["-u", "jane", "-d", "phone", "-F", "2023-11-01", "-T", "2023-12-31"])
        .args(["-f", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut start = [0; 12];
    stdout.read_exact(&mut start).await.unwrap();
    assert_eq!(&start, b"{\"count\":100");
    drop(stdout);
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!((output.status.code(), stderr.as_str()), (Some(0), ""));
    server.stop().await;
}
