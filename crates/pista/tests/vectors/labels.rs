//! What the corpora's own labels promise, checked against the expectations: a label names the
//! kind of message an entry is, and the rules must give that kind (or refuse it for its time),
//! except where the spec overrules the label.

use serde_json::Value;

use super::expect::{Outcome, quarantined};

/// Entries whose label the spec overrules; checked to still disagree with the label.
const LABEL_OVERRULED: &[(&str, usize)] = &[
    // `{"_type":"waypoint"}` (json-schema test/w.json) is labelled `waypoint`, but protocol.md
    // §4.3 makes `desc` and `tst` required, so it is quarantined as invalid_message.
    ("protocol", 57),
];

/// Checks the label of one entry against `want`, what the rules give for it: a seed entry's by
/// assertion; for the others, a description of the mismatch (a label the spec overrules must
/// still disagree).
pub fn label_mismatch(
    file: &str,
    index: usize,
    entry: &Value,
    topic: &str,
    want: &[Outcome],
) -> Option<String> {
    if entry.get("direction").is_some() {
        check_seed_label(index, entry, topic, want);
        return None;
    }
    let kind = entry["kind"].as_str().unwrap();
    let payload = entry["payload"].as_str().unwrap();
    let overruled = LABEL_OVERRULED.contains(&(file, index));
    (check_label(kind, payload, want) == overruled)
        .then(|| format!("{file} vector {index}: label {kind} but the rules give {want:?}"))
}

/// What the corpus's own label promises for one entry.
fn check_label(kind: &str, payload: &str, want: &[Outcome]) -> bool {
    let all = |ok: &dyn Fn(&Outcome) -> bool| !want.is_empty() && want.iter().all(ok);
    let time_refused = |o: &Outcome| matches!(o, Outcome::Quarantined(r) if r.starts_with("tst_"));
    let has_type = payload.contains("\"_type\"");
    match kind {
        "location" | "gw-csv" => all(&|o| matches!(o, Outcome::Location { .. }) || time_refused(o)),
        "malformed-json" | "malformed-no-type" | "malformed-non-object" => {
            all(&|o| matches!(o, Outcome::Quarantined(_)))
        }
        "empty" => want == [Outcome::Empty],
        "encrypted" => want == [quarantined("no_key")],
        // Without a key the envelope is never opened, so a broken one waits in quarantine too.
        "malformed-encrypted" => all(&|o| matches!(o, Outcome::Quarantined(_))),
        k if k.starts_with("gw-") => {
            all(&|o| matches!(o, Outcome::Message(t) if t.starts_with("gw-")))
        }
        k if k.starts_with("http-response") || k.starts_with("doc-") => true,
        // An object without `_type` names no type, whatever the label says.
        _ if !has_type => want == [quarantined("not_a_message")],
        k => {
            let ty = k.trim_start_matches("malformed-").trim_start_matches("legacy-");
            let malformed = k.starts_with("malformed-");
            all(&|o| match o {
                Outcome::Message(t) => t == ty,
                Outcome::Location { .. } => ty == "location",
                Outcome::Quarantined(r) => {
                    (malformed && r == "invalid_message")
                        || time_refused(o)
                        || (ty == "location" && r == "invalid_message")
                }
                _ => false,
            })
        }
    }
}

/// What a seed entry's label promises: Greenwich text kinds on device subtopics, and server
/// outputs outside `owntracks/#` left alone.
fn check_seed_label(index: usize, entry: &Value, topic: &str, want: &[Outcome]) {
    let kind = entry["kind"].as_str().unwrap();
    let direction = entry["direction"].as_str().unwrap();
    let ours = topic.trim_start_matches('/').starts_with("owntracks/");
    if !ours {
        assert!(want.is_empty(), "seed vector {index}: {direction} on {topic} gives {want:?}");
        return;
    }
    let word = kind.split([' ', '(']).next().unwrap().split('/').next().unwrap();
    let gw_word = [
        "status",
        "start",
        "voltage",
        "temperature",
        "gpio",
        "operators",
        "cellinfo",
        "cmd",
        "obd2",
        "info",
    ];
    if gw_word.contains(&word) && !topic.ends_with("/proxy") {
        assert!(
            want.iter().all(|o| matches!(o, Outcome::Message(t) if t.starts_with("gw-"))
                || *o == quarantined("invalid_greenwich")),
            "seed vector {index}: {kind} gives {want:?}"
        );
    }
}
