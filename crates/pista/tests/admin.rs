//! The administration commands of the real binary: `pista secret` reads the secret from stdin
//! and never prints it, `pista friend` and `pista card` edit the database directly, and
//! `pista cmd`, `pista quarantine` and its replay work against a running `pista serve`, or say
//! clearly that none is running.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const PISTA: &str = env!("CARGO_BIN_EXE_pista");

fn pista(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(PISTA)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("PISTA_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> (bool, String, String) {
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn serve(dir: &Path, http: &str) -> Child {
    let mut child = Command::new(PISTA)
        .args(["serve", "--http", http, "--broker", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env_remove("PISTA_CONFIG")
        .env("PISTA_ADMIN_PASSWORD", "admin-test-pw")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("pista exited early").unwrap();
        if line.contains("http listening") {
            break;
        }
    }
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

#[tokio::test]
async fn secrets_friends_and_cards_are_managed_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    // Run elsewhere (no database there yet), a command refuses rather than make a second one.
    let (ok, _, err) = text(&pista(dir.path(), &["secret", "list"], None));
    assert_eq!(
        (ok, err),
        (
            false,
            format!(
                "error: there is no database at {}/pista.db; give the --data-dir or --config \
                 that pista serve uses (and start it once to create the database)\n",
                dir.path().display()
            )
        )
    );
    let url = format!("sqlite://{}/pista.db", dir.path().display());
    pista_store::SqlStore::open(&url).await.unwrap().close().await;
    let set = pista(dir.path(), &["secret", "set", "Jane", "Phone"], Some("s3cr3t-Value\n"));
    let (ok, out, err) = text(&set);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "secret set for jane/phone; messages quarantined as no_key or bad_key can now be \
         replayed with: pista quarantine replay --user jane --device phone\n"
    );
    assert!(!out.contains("s3cr3t") && !err.contains("s3cr3t"));
    let (_, out, _) = text(&pista(dir.path(), &["secret", "list"], None));
    assert_eq!(out, "jane/phone\n");
    let (ok, _, err) = text(&pista(dir.path(), &["secret", "set", "bob", "car"], Some("\n")));
    assert!(!ok);
    assert_eq!(err, "error: the secret is empty; type it on standard input\n");

    let (_, out, _) = text(&pista(dir.path(), &["friend", "add", "dad", "kid"], None));
    assert_eq!(out, "dad now sees every device of kid in HTTP mode\n");
    let (_, out, _) = text(&pista(dir.path(), &["friend", "add", "dad", "mum", "car"], None));
    assert_eq!(out, "dad now sees mum/car in HTTP mode\n");
    let (_, out, _) = text(&pista(dir.path(), &["friend", "list", "dad"], None));
    assert_eq!(out, "kid (all devices)\nmum/car\n");
    let (ok, _, err) = text(&pista(dir.path(), &["friend", "del", "dad", "nobody"], None));
    assert_eq!(
        (ok, err.as_str()),
        (false, "error: dad had no friend entry for every device of nobody\n")
    );

    let face = dir.path().join("face.png");
    std::fs::write(&face, b"\x89PNG\r\n\x1a\nrest").unwrap();
    let args = ["card", "set", "kid", "--name", "Kid", "--face", face.to_str().unwrap()];
    let (ok, out, err) = text(&pista(dir.path(), &args, None));
    assert!(ok, "{err}");
    assert_eq!(out, "card set for kid (used for devices without their own)\n");
    let (_, out, _) = text(&pista(dir.path(), &["card", "list"], None));
    assert_eq!(out, "kid (user): name \"Kid\", face 16 base64 characters\n");
    let (ok, _, err) =
        text(&pista(dir.path(), &["card", "set", "kid", "--face", "Cargo.toml"], None));
    assert_eq!(
        (ok, err.as_str()),
        (false, "error: Cargo.toml is neither a PNG nor a JPEG image\n")
    );
    let (ok, _, err) = text(&pista(dir.path(), &["card", "set", "kid", "--name", " "], None));
    assert_eq!((ok, err.as_str()), (false, "error: the name is empty\n"));
    let (_, out, _) = text(&pista(dir.path(), &["card", "del", "kid"], None));
    assert_eq!(out, "card removed for kid\n");
    let (_, out, _) = text(&pista(dir.path(), &["card", "list"], None));
    assert_eq!(out, "");
}

#[tokio::test]
async fn commands_and_the_quarantine_go_through_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let http = format!("127.0.0.1:{}", free_port());
    let path = dir.path().to_owned();

    let run = |args: Vec<String>| {
        let path = path.clone();
        let http = http.clone();
        tokio::task::spawn_blocking(move || {
            let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
            all.extend(["--http", &http]);
            text(&pista(&path, &all, None))
        })
    };
    let words = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();

    let (ok, _, err) = run(words("cmd jane phone reportLocation")).await.unwrap();
    assert!(!ok);
    assert_eq!(
        err,
        format!(
            "error: cannot reach http://{http}/api/0/cmd; is pista serve running with this \
             config?: error sending request for url (http://{http}/api/0/cmd): client error \
             (Connect): tcp connect error: Connection refused (os error 111)\n"
        )
    );

    let mut server = serve(dir.path(), &http);
    let (ok, out, err) = run(words("cmd jane phone reportLocation")).await.unwrap();
    assert!(ok, "{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&answer["device"], &answer["command"], &answer["mqtt"]),
        (
            &serde_json::json!("jane/phone"),
            &serde_json::json!({"_type":"cmd","action":"reportLocation"}),
            &serde_json::json!("published")
        )
    );
    let (ok, _, err) = run(words("cmd jane phone explode")).await.unwrap();
    assert!(!ok);
    assert!(err.starts_with(&format!("error: http://{http}/api/0/cmd answered 400 Bad Request: unknown command action \"explode\"")), "{err}");
    let args = vec![
        "cmd".into(),
        "jane".into(),
        "phone".into(),
        "dump".into(),
        r#"{"action":"status"}"#.into(),
    ];
    let (ok, _, err) = run(args).await.unwrap();
    assert_eq!(
        (ok, err.as_str()),
        (false, "error: the extra members may not set action; give it as an argument\n")
    );

    let client = reqwest::Client::new();
    let response = client
        .post(format!("http://{http}/pub?u=jane&d=phone"))
        .basic_auth("admin", Some("admin-test-pw"))
        .body(r#"{"_type":"encrypted","data":"AAAA"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let (_, out, _) = run(words("quarantine")).await.unwrap();
    assert!(
        out.ends_with(
            " jane/phone owntracks/jane/phone no_key: no encryption secret is set for jane/phone\n"
        ),
        "{out}"
    );
    let (ok, out, err) = run(words("quarantine replay --user jane --device phone")).await.unwrap();
    assert!(ok, "{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["replayed"], serde_json::json!([]));
    assert_eq!(answer["still_quarantined"][0]["reason"], serde_json::json!("no_key"));

    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    server.wait().unwrap();
}

/// `pista user`: passwords from standard input, stored as Argon2id hashes and never printed; a
/// generated password printed once; the original's PBKDF2 hashes (imported) listed by form.
#[tokio::test]
async fn accounts_are_added_changed_listed_and_removed() {
    use pista_core::password::{Verified, verify};
    use pista_store::AccountStore;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/pista.db", dir.path().display());
    pista_store::SqlStore::open(&url).await.unwrap().close().await;

    let (ok, out, err) =
        text(&pista(dir.path(), &["user", "add", "Jane", "--admin"], Some("s3cr3t pw\n")));
    assert_eq!((ok, out.as_str(), err.as_str()), (true, "administrator jane added\n", ""));
    let (ok, out, _) = text(&pista(dir.path(), &["user", "add", "bob"], None));
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "user bob added");
    let generated = lines[1].strip_prefix("password: ").unwrap().to_owned();
    assert_eq!(generated.len(), 24);
    assert_eq!(lines[2], "(shown only now; pista user passwd bob changes it)");

    let (ok, _, err) = text(&pista(dir.path(), &["user", "add", "jane"], Some("other\n")));
    assert_eq!(
        (ok, err.as_str()),
        (false, "error: user jane exists already; pista user passwd jane sets a new password\n")
    );
    let (ok, out, err) = text(&pista(dir.path(), &["user", "passwd", "jane"], Some("new pw\n")));
    assert_eq!(
        (ok, out.as_str(), err.as_str()),
        (true, "password of jane changed; 0 browser session(s) ended\n", "")
    );
    for (args, input, want) in [
        (&["user", "passwd", "nobody"][..], "x\n", "error: unknown user \"nobody\"\n"),
        (
            &["user", "passwd", "jane"][..],
            "\n",
            "error: the password is empty; type it on standard input\n",
        ),
        (&["user", "del", "nobody"][..], "", "error: unknown user \"nobody\"\n"),
        (
            &["user", "add", "a/b"][..],
            "x\n",
            "error: user name \"a/b\" contains '/', which is not allowed in names\n",
        ),
    ] {
        let (ok, out, err) = text(&pista(dir.path(), args, Some(input)));
        assert_eq!((ok, out.as_str(), err.as_str()), (false, "", want), "{args:?}");
    }

    let store = pista_store::SqlStore::open(&url).await.unwrap();
    let accounts = store.accounts().await.unwrap();
    let stored = |name: &str| {
        accounts.iter().find(|a| a.name.as_str() == name).unwrap().password.as_str().to_owned()
    };
    assert_eq!(verify(&stored("jane"), "new pw"), Ok(Verified::Yes { rehash: false }));
    assert_eq!(verify(&stored("jane"), "s3cr3t pw"), Ok(Verified::No));
    assert_eq!(verify(&stored("bob"), &generated), Ok(Verified::Yes { rehash: false }));
    // An account as the o2s import brings it: the original's hash, kept as it was.
    let old = pista_store::Account {
        name: pista_core::UserName::parse("old").unwrap(),
        password: pista_store::PasswordHash::new(
            "PBKDF2$sha256$10000$c2FsdHNhbHRzYWx0$nOH9hDiBEAIOcpfyWKR8cpV1WbvXvMJ0",
        )
        .unwrap(),
        superuser: false,
        created_at: 1_430_733_600,
    };
    assert!(store.add_user(&old).await.unwrap());
    store.close().await;

    let (ok, out, err) = text(&pista(dir.path(), &["user", "list"], None));
    assert!(ok, "{err}");
    let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    let shown: Vec<(&str, &str, &str)> = lines.iter().map(|l| (l[0], l[1], l[3])).collect();
    assert_eq!(
        shown,
        [
            ("bob", "user", "argon2id password"),
            ("jane", "admin", "argon2id password"),
            ("old", "user", "PBKDF2 password")
        ]
    );
    assert_eq!(lines[2][2], "created 2015-05-04T10:00:00Z");
    assert!(!out.contains("new pw") && !out.contains('$'), "{out}");

    let (ok, out, _) = text(&pista(dir.path(), &["user", "del", "bob"], None));
    assert_eq!(
        (ok, out.as_str()),
        (
            true,
            "user bob removed with its ACL entries, groups, tokens and shares; its history stays\n"
        )
    );
    let (_, out, _) = text(&pista(dir.path(), &["user", "list"], None));
    assert_eq!(out.lines().count(), 2);
}

/// `pista acl`: entries of existing users, checked as MQTT filters (with `%u` and `%c`),
/// listed per user, removed.
#[tokio::test]
async fn acl_entries_are_added_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/pista.db", dir.path().display());
    pista_store::SqlStore::open(&url).await.unwrap().close().await;
    let run = |args: &[&str]| text(&pista(dir.path(), args, Some("pw\n")));
    assert!(run(&["user", "add", "jane"]).0);
    assert!(run(&["user", "add", "bob"]).0);

    let added = [
        (
            &["acl", "add", "jane", "owntracks/%u/#", "--write"][..],
            "jane\towntracks/%u/#\tread and write\n",
        ),
        (&["acl", "add", "jane", "owntracks/bob/+"][..], "jane\towntracks/bob/+\tread\n"),
        (&["acl", "add", "bob", "owntracks/bob/%c"][..], "bob\towntracks/bob/%c\tread\n"),
    ];
    for (args, want) in added {
        assert_eq!(run(args), (true, want.to_owned(), String::new()), "{args:?}");
    }
    let refused = [
        (
            &["acl", "add", "jane", "owntracks/#/x"][..],
            "error: acl topic \"owntracks/#/x\" has '#' that is not a whole level at the end\n",
        ),
        (
            &["acl", "add", "nobody", "owntracks/#"][..],
            "error: unknown user \"nobody\"; add it first with pista user add nobody\n",
        ),
        (
            &["acl", "add", "jane", "owntracks/bob/+", "--write"][..],
            "error: jane has an entry for owntracks/bob/+ already: jane\towntracks/bob/+\tread\n",
        ),
        (
            &["acl", "del", "jane", "owntracks/none"][..],
            "error: jane has no acl entry \"owntracks/none\"\n",
        ),
    ];
    for (args, want) in refused {
        assert_eq!(run(args), (false, String::new(), want.to_owned()), "{args:?}");
    }
    let (_, all, _) = run(&["acl", "list"]);
    assert_eq!(
        all,
        "bob\towntracks/bob/%c\tread\njane\towntracks/%u/#\tread and write\njane\towntracks/bob/+\tread\n"
    );
    assert_eq!(
        run(&["acl", "del", "jane", "owntracks/bob/+"]).1,
        "jane no longer has owntracks/bob/+\n"
    );
    assert_eq!(run(&["acl", "list", "jane"]).1, "jane\towntracks/%u/#\tread and write\n");
    // Removing a user takes its entries.
    assert!(run(&["user", "del", "jane"]).0);
    assert_eq!(run(&["acl", "list"]).1, "bob\towntracks/bob/%c\tread\n");
}
