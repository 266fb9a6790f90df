//! Every entry of the vector corpora (`testdata/vectors/protocol-payloads.jsonl` and
//! `testdata/vectors/seed-payloads.jsonl`) is fed, one at a time, to a real in-process server,
//! and what was stored, quarantined or ignored is compared, with exact values, with what a small
//! independent reading of the published rules expects: routing by `_type` first and subtopic
//! second, the one time rule (seconds, milliseconds divided, RFC 3339 converted, 2008-01-01
//! floor, at most a day ahead of arrival), Greenwich text and CSV, and topics outside
//! `owntracks/#` left alone. Server outputs in the seed corpus are fed too, on their own topics.
//! Each corpus goes through three transports with the same expectations: the embedded broker,
//! the shared test Mosquitto (under a root of the test's own), and HTTP mode (`POST /pub`, for
//! entries on a device's own topic, with the answer checked too). The totals per outcome are
//! pinned, equal for both brokers, and cross-checked with the pipeline's counters; the corpus's
//! own labels are checked against the expectations.
//!
//! This file holds the run over a corpus and the tests; `expect` is the reading of the rules,
//! `labels` what the corpora's labels promise, and `transports` how a vector is delivered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod expect;
mod labels;
mod transports;

use std::sync::atomic::Ordering;

use crate::common::eventually;
use pista_store::StoredMessage;
use serde_json::Value;

use expect::{KINDS, Outcome, expect, now};
use labels::label_mismatch;
use transports::{Feed, Target, Transport, check_answer};

/// Where the server and the expectations (`expect`) disagree and the server is wrong by the spec. Each
/// entry is (file, vector index). The test checks that they still differ, so the list cannot go
/// stale once the product is fixed.
const KNOWN_WRONG: &[(&str, usize)] = &[];

/// Where the server and the expectations disagree on one transport only (the product must
/// treat every input alike). Each entry is (transport, file, vector index), with a `FIXME(#3)`
/// comment saying what differs. The test checks that they still differ, so the list cannot go
/// stale once the product is fixed. None so far: every entry agrees on every transport.
const KNOWN_TRANSPORT_DIFFERENCES: &[(Transport, &str, usize)] = &[];

/// Feeds every entry of `corpus` through `transport` and returns the totals per outcome kind and
/// how many posts HTTP mode answered `403`.
async fn run_corpus(file: &str, corpus: &str, transport: Transport) -> ([usize; 5], usize) {
    let feed = Feed::start(transport).await;
    let stats = feed.server.server.pipeline.stats();
    let name = transport.name();
    let mut totals = [0usize; 5];
    let mut wrong = Vec::new();
    let mut labels = Vec::new();
    let mut known = Vec::new();
    let mut refused = 0;
    // Requests answered over MQTT: each answer comes back on its device's `cmd` topic.
    let mut echoes = 0;
    let probes_before = feed.probe_count().await;

    for (index, line) in corpus.lines().enumerate() {
        let entry: Value = serde_json::from_str(line).unwrap();
        let kind = entry["kind"].as_str().unwrap();
        let payload = entry["payload"].as_str().unwrap();
        let topic = entry["topic"]
            .as_str()
            .map_or_else(|| format!("owntracks/vectors/v{index}"), str::to_owned);
        let Some(target) = feed.target(&topic) else { continue };
        let want = expect(&topic, payload, now());
        if transport != Transport::Http
            && matches!(&want[..], [Outcome::Message(k)] if k == "request")
        {
            echoes += 1;
        }
        // The labels do not depend on the transport; the embedded run checks them.
        if transport == Transport::Embedded {
            labels.extend(label_mismatch(file, index, &entry, &topic, &want));
        }
        let stored_topic = target.stored_topic.as_str();
        let at = format!("{name} {file} vector {index}");

        let (mut got, answer) = observe(&feed, &target, payload, want.len() == 1, &at).await;

        let mut want_sorted = want.clone();
        want_sorted.sort_by_key(Outcome::rank);
        got.sort_by_key(Outcome::rank);
        let mut problems = Vec::new();
        if got != want_sorted {
            problems.push(format!("expected {want_sorted:?}\n  got      {got:?}"));
        }
        if let Some((status, body)) = &answer {
            refused += usize::from(*status == 403);
            if let Err(difference) = check_answer(&want, payload, *status, body) {
                problems.push(difference);
            }
        }
        let listed = KNOWN_WRONG.contains(&(file, index))
            || KNOWN_TRANSPORT_DIFFERENCES.contains(&(transport, file, index));
        if listed && problems.is_empty() {
            known.push(format!("{at} is fixed: drop it from its list"));
        } else if !listed && !problems.is_empty() {
            wrong.push(format!(
                "{at} ({kind}) on {stored_topic}: payload {payload:?}\n  {}",
                problems.join("\n  ")
            ));
        }
        for outcome in &want {
            totals[outcome.rank()] += 1;
        }
    }
    assert!(
        labels.is_empty() && wrong.is_empty() && known.is_empty(),
        "{} label mismatches:\n{}\n{} disagreements with the server ({name}):\n{}\n{}",
        labels.len(),
        labels.join("\n"),
        wrong.len(),
        wrong.join("\n"),
        known.join("\n")
    );

    // The pipeline counted exactly what was stored (empty payloads are counted as messages),
    // the probes through Mosquitto being locations too.
    let probes = feed.probe_count().await;
    let store = &feed.server.server.store;
    eventually(&format!("{name} {file}: {echoes} answers back from the broker"), || async {
        let messages = store.messages(None).await.unwrap();
        let back = messages.iter().filter(|m| m.topic.ends_with("/cmd")).count();
        (back >= echoes).then_some(())
    })
    .await;
    let counted = [
        stats.locations.load(Ordering::SeqCst),
        stats.messages.load(Ordering::SeqCst),
        stats.quarantined.load(Ordering::SeqCst),
        stats.ignored.load(Ordering::SeqCst),
        stats.duplicates.load(Ordering::SeqCst),
    ];
    let expected = [totals[0] + probes, totals[1] + totals[3] + echoes, totals[2], totals[4], 0]
        .map(|n| n as u64);
    assert_eq!(
        counted, expected,
        "{name} {file}: locations, messages, quarantined, ignored, duplicates"
    );
    if transport == Transport::Mosquitto {
        // One probe per vector, after those that proved the subscription.
        assert_eq!(probes - probes_before, corpus.lines().count(), "{name} {file}: probes");
    }
    feed.stop().await;
    (totals, refused)
}

/// Delivers one vector to `target` and returns what the server made of it (stored locations,
/// stored and empty messages, quarantined and ignored payloads) with, over HTTP, the answer of
/// `/pub`. On the way it asserts that everything is filed under the target's topic with the
/// transport's source, and, when the payload is a `single` message, that a quarantined copy is
/// the payload as it came.
async fn observe(
    feed: &Feed,
    target: &Target,
    payload: &str,
    single: bool,
    at: &str,
) -> (Vec<Outcome>, Option<(u16, Value)>) {
    let store = &feed.server.server.store;
    let stats = feed.server.server.pipeline.stats();
    let transport = feed.transport;
    let stored_topic = target.stored_topic.as_str();

    let points_before: Vec<i64> = feed.points(target).await.iter().map(|p| p.id).collect();
    let messages_before = store.messages(None).await.unwrap().len();
    let quarantined_before = store.quarantined(None).await.unwrap().len();
    let ignored_before = stats.ignored.load(Ordering::SeqCst);
    let locations_before = stats.locations.load(Ordering::SeqCst);

    let answer = feed.deliver(target, payload).await;

    let mut got = Vec::new();
    let new_points: Vec<_> =
        feed.points(target).await.into_iter().filter(|p| !points_before.contains(&p.id)).collect();
    // The location counter moves right after the commit; through Mosquitto the probe is
    // counted too.
    let probe = usize::from(transport == Transport::Mosquitto);
    let counted = eventually(&format!("{at}: the location counter"), || async {
        let counted = stats.locations.load(Ordering::SeqCst) - locations_before;
        (counted >= (new_points.len() + probe) as u64).then_some(counted)
    })
    .await;
    assert_eq!(
        counted,
        (new_points.len() + probe) as u64,
        "{at}: every stored location is on the topic's device"
    );
    for point in &new_points {
        assert_eq!(point.topic, stored_topic, "{at}");
        got.push(Outcome::Location {
            lat: point.lat,
            lon: point.lon,
            tst: point.tst,
            tid: point.json["tid"].as_str().unwrap_or_default().to_owned(),
            batt: point.json.get("batt").and_then(Value::as_f64),
        });
    }
    // A request's answer, published to its device's `cmd` topic, comes back through the
    // subscription and is stored as that device's `cmd` message, maybe during a later vector.
    let echo = |topic: &str| topic.ends_with("/cmd") && topic != stored_topic;
    let new_messages: Vec<_> = store
        .messages(None)
        .await
        .unwrap()
        .into_iter()
        .skip(messages_before)
        .filter(|message| !echo(&message.topic))
        .collect();
    for message in &new_messages {
        assert_eq!(message.topic, stored_topic, "{at}");
        assert_eq!(message.source, transport.source(), "{at}");
        got.push(message_outcome(message, at));
    }
    let new_quarantined: Vec<_> =
        store.quarantined(None).await.unwrap().into_iter().skip(quarantined_before).collect();
    for item in &new_quarantined {
        assert_eq!(item.topic, stored_topic, "{at}");
        assert_eq!(item.source, transport.source(), "{at}");
        assert!(!item.problem.is_empty(), "{at}: quarantined without words");
        if single {
            // A single message is kept as it came, apart from trailing white space and with
            // any credentials in it masked.
            let sent = payload.trim_end().as_bytes();
            let kept = pista_core::secrets::mask_text(sent).unwrap_or_else(|| sent.to_vec());
            assert_eq!(item.payload, kept, "{at}");
        }
        got.push(Outcome::Quarantined(item.reason.clone()));
    }
    for _ in ignored_before..stats.ignored.load(Ordering::SeqCst) {
        got.push(Outcome::Ignored);
    }
    (got, answer)
}

/// A stored message as an outcome: its type, or empty for a zero-length payload.
fn message_outcome(message: &StoredMessage, at: &str) -> Outcome {
    match &message.msg_type {
        Some(t) => {
            // The typed message is a JSON object; JSON input keeps its `_type`.
            let typed: Value = serde_json::from_str(&message.payload).unwrap();
            let object = typed.as_object().expect("typed message is an object");
            if !t.starts_with("gw-") && t != "alarm" {
                assert_eq!(object["_type"], Value::from(t.as_str()), "{at}");
            }
            Outcome::Message(t.clone())
        }
        None => {
            assert_eq!(message.payload, "", "{at}: empty message");
            Outcome::Empty
        }
    }
}

const PROTOCOL: &str = include_str!("../../../../testdata/vectors/protocol-payloads.jsonl");
const SEED: &str = include_str!("../../../../testdata/vectors/seed-payloads.jsonl");

/// 211 entries, 214 messages (array elements count one by one).
const PROTOCOL_TOTALS: [usize; 5] = [41, 141, 29, 3, 0];
/// 129 entries; the 35 published outside `owntracks/#` (server outputs, operator commands to
/// o2s, `tt/...` simulator topics, abbreviated `../` and `<base>/` topics) give nothing.
const SEED_TOTALS: [usize; 5] = [5, 78, 10, 0, 1];

#[tokio::test]
async fn every_protocol_vector_is_stored_as_the_rules_say() {
    let totals = run_corpus("protocol", PROTOCOL, Transport::Embedded).await;
    assert_eq!(totals, (PROTOCOL_TOTALS, 0), "protocol totals {KINDS:?}");
}

#[tokio::test]
async fn every_seed_vector_is_stored_as_the_rules_say() {
    let totals = run_corpus("seed", SEED, Transport::Embedded).await;
    assert_eq!(totals, (SEED_TOTALS, 0), "seed totals {KINDS:?}");
}

#[tokio::test]
async fn every_protocol_vector_through_mosquitto_is_stored_alike() {
    let totals = run_corpus("protocol", PROTOCOL, Transport::Mosquitto).await;
    assert_eq!(totals, (PROTOCOL_TOTALS, 0), "protocol totals through mosquitto {KINDS:?}");
}

#[tokio::test]
async fn every_seed_vector_through_mosquitto_is_stored_alike() {
    let totals = run_corpus("seed", SEED, Transport::Mosquitto).await;
    assert_eq!(totals, (SEED_TOTALS, 0), "seed totals through mosquitto {KINDS:?}");
}

#[tokio::test]
async fn every_protocol_vector_on_a_device_topic_posted_over_http_is_stored_alike() {
    let totals = run_corpus("protocol", PROTOCOL, Transport::Http).await;
    // The 172 entries on a device's own topic (the 39 Greenwich text subtopics cannot be
    // posted). Six envelopes are refused with 403: five with `data` cannot be opened without a
    // secret (vectors 28, 30, 68, 84, 111), and the one without `data` (29) is an
    // invalid_message envelope.
    assert_eq!(totals, ([41, 102, 29, 3, 0], 6), "protocol totals over http {KINDS:?}, 403s");
}

#[tokio::test]
async fn every_seed_vector_on_a_device_topic_posted_over_http_is_stored_alike() {
    let totals = run_corpus("seed", SEED, Transport::Http).await;
    // The 11 entries on a device's own topic under `owntracks/` (`tt/simu/...` is outside it).
    assert_eq!(totals, ([5, 2, 4, 0, 0], 0), "seed totals over http {KINDS:?}, 403s");
}
