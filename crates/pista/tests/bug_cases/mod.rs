//! The ingest cases of the bug corpus (`testdata/vectors/bug-cases.jsonl`, read at compile time)
//! run against a real in-process server: each case's `input` (topic, payload, path, headers,
//! body) is taken from the corpus and sent as it is over MQTT to the embedded broker (or the
//! shared Mosquitto for the restart case) or over HTTP mode, and what the server stored,
//! quarantined, ignored or answered is compared with exact values against the behaviour the
//! case's `expected` describes, in the variant the README documents. Each case also sends one or
//! two more inputs of the same kind of fault. Where the product does not (yet) behave as
//! documented, the check is listed in `KNOWN_GAPS`, and the test insists that it still fails so
//! the list cannot go stale. This file holds the table of checks and the runner; the checks
//! themselves live in one module per topic, and `helpers` reads the corpus and the server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::common::TestServer;
use serde_json::Value;

use helpers::{case, corpus, input};

const CORPUS: &str = include_str!("../../../../testdata/vectors/bug-cases.jsonl");

/// Checks (named by case id, with a suffix for a part of a case) where Pista does not behave as
/// the README documents. Each must still fail; remove an entry once its check passes.
const KNOWN_GAPS: &[(&str, &str)] = &[];

type Check = Result<(), String>;

/// Fails the check with both values when they differ.
macro_rules! ensure_eq {
    ($got:expr, $want:expr $(,)?) => {
        ensure_eq!($got, $want, "values differ")
    };
    ($got:expr, $want:expr, $($what:tt)+) => {
        // A match keeps temporaries alive for the comparison.
        match (&$got, &$want) {
            (got, want) => {
                if got != want {
                    return Err(format!(
                        "line {}: {}\n   got: {:?}\n  want: {:?}",
                        line!(),
                        format!($($what)+),
                        got,
                        want
                    ));
                }
            }
        }
    };
}

/// Fails the check when the condition does not hold.
macro_rules! ensure {
    ($cond:expr, $($what:tt)+) => {
        if !$cond {
            return Err(format!("line {}: {}", line!(), format!($($what)+)));
        }
    };
}

// The macros above must come before the modules that use them.
mod delivery;
mod encryption;
mod fields;
mod helpers;
mod http;
mod identity;
mod payloads;
mod time;

/// A running check.
type Checking<'a> = Pin<Box<dyn Future<Output = Check> + Send + 'a>>;

/// How a check gets its server; either way it is given its case's `input`.
enum Run {
    /// On a server with the default settings, which the runner starts and stops.
    OnServer(for<'a> fn(Value, &'a TestServer) -> Checking<'a>),
    /// On servers the check starts itself.
    Alone(fn(Value) -> Checking<'static>),
}

use Run::{Alone, OnServer};

/// A table entry for a check that runs on a default server.
macro_rules! on_server {
    ($check:path) => {
        OnServer(|input, server| Box::pin($check(input, server)))
    };
}

/// Every check, in corpus order.
const CHECKS: &[(&str, Run)] = &[
    ("B01", on_server!(time::b01)),
    ("B02", on_server!(time::b02)),
    ("B04", on_server!(time::b04)),
    ("B05", on_server!(time::b05)),
    ("B07", on_server!(time::b07)),
    ("B08", on_server!(time::b08)),
    ("B11", on_server!(payloads::b11)),
    ("B13", on_server!(payloads::b13)),
    ("B14", on_server!(payloads::b14)),
    ("B14-transition-tst", on_server!(payloads::b14_transition_tst)),
    ("B16", on_server!(payloads::b16)),
    ("B17", on_server!(payloads::b17)),
    ("B19", on_server!(identity::b19)),
    ("B20", on_server!(identity::b20)),
    ("B25", on_server!(fields::b25)),
    ("B26", on_server!(fields::b26)),
    ("B28", on_server!(encryption::b28)),
    ("B29", on_server!(encryption::b29)),
    ("B31", on_server!(encryption::b31)),
    ("B32", on_server!(delivery::b32)),
    ("B35", Alone(|input| Box::pin(delivery::b35(input)))),
    ("B37", on_server!(delivery::b37)),
    ("B46", on_server!(fields::b46)),
    ("B56", on_server!(http::b56)),
    ("B58", on_server!(http::b58)),
    ("B59", Alone(|input| Box::pin(delivery::b59(input)))),
    ("B65", on_server!(http::b65)),
];

/// The corpus case a check belongs to: its name up to the first `-`.
fn case_id(name: &str) -> &str {
    name.split('-').next().unwrap()
}

/// Runs one check with its case's input, on a server of its own.
async fn run(name: &str, how: &Run) -> Check {
    let input = input(case_id(name));
    match how {
        Alone(check) => check(input).await,
        OnServer(check) => {
            let server = TestServer::start(|_| {}).await;
            let result = check(input, &server).await;
            server.stop().await;
            result
        }
    }
}

/// Runs every check at once, each on a server of its own, and reports all failures together.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ingest_bug_cases_behave_as_documented() {
    let mut running = tokio::task::JoinSet::new();
    for (name, how) in CHECKS {
        running.spawn(async move {
            let result = tokio::time::timeout(Duration::from_secs(50), run(name, how)).await;
            (*name, result.unwrap_or_else(|_| Err("timed out after 50 s".to_owned())))
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = running.join_next().await {
        let (name, result) = match joined {
            Ok(done) => done,
            Err(error) => {
                failures.push(format!("a check panicked: {error}"));
                continue;
            }
        };
        let gap = KNOWN_GAPS.iter().find(|(id, _)| *id == name);
        match (gap, result) {
            (None, Ok(())) | (Some(_), Err(_)) => {}
            (None, Err(error)) => failures.push(format!("{name}: {error}")),
            (Some((_, why)), Ok(())) => failures.push(format!(
                "{name} now behaves as documented; remove it from KNOWN_GAPS ({why})"
            )),
        }
    }
    failures.sort();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The table names real corpus cases, each once, and every known gap is one of its checks.
#[test]
fn the_table_follows_the_corpus() {
    let ids: Vec<String> =
        corpus().iter().map(|case| case["id"].as_str().unwrap().to_owned()).collect();
    let named = |name: &str| CHECKS.iter().filter(|(n, _)| *n == name).count();
    for (name, _) in CHECKS {
        let id = case_id(name);
        assert!(ids.iter().any(|known| known == id), "{name} is not a case of the corpus");
        assert_eq!(named(name), 1, "{name} twice");
        let transport = case(id)["input"]["transport"].as_str().map(str::to_owned);
        assert!(
            !matches!(
                transport.as_deref(),
                Some("osmand" | "traccar" | "gpslogger" | "import" | "api")
            ),
            "{name} is not an ingest case ({transport:?})"
        );
    }
    for (name, why) in KNOWN_GAPS {
        assert!(named(name) > 0, "known gap {name} is no check");
        assert!(why.starts_with("FIXME(#"), "{name}: say which issue tracks it");
    }
}
