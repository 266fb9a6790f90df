//! Fuzz-style properties of the decoder, run with proptest since cargo-fuzz needs a nightly
//! toolchain: arbitrary bytes on every kind of subtopic and near-valid OwnTracks JSON never make
//! `decode` panic, it answers one result per message (never more than `MAX_ARRAY + 1`), every
//! quarantine carries a known reason code and words, and every location it lets through has
//! coordinates in range, a plausible time and a tracker id. The time reader and the envelope
//! crypto get the same treatment. `PISTA_FUZZ_CASES` sets the number of cases per property
//! (default 1024); failing cases are shrunk and printed, never written to disk.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use pista_core::crypto::{self, Secret};
use pista_core::time::{TimeRule, read_epoch};
use pista_core::{Context, Decoded, DeviceName, MAX_ARRAY, decode};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

/// Every reason code `decode` may quarantine a message with.
const REASONS: &[&str] = &[
    "invalid_json",
    "not_a_message",
    "invalid_message",
    "too_many_messages",
    "invalid_greenwich",
    "tst_missing",
    "tst_zero",
    "tst_unreadable",
    "tst_too_old",
    "tst_in_future",
];

const SUBTOPICS: &[Option<&str>] = &[
    None,
    Some("event"),
    Some("info"),
    Some("status"),
    Some("cmd"),
    Some("cmd/out"),
    Some("voltage/ext"),
    Some("voltage/batt"),
    Some("gpio/7"),
    Some("gpio/99999999999999999999"),
    Some("temperature/0"),
    Some("temperature/x"),
    Some("obd2/000007e8/01/0c"),
    Some("obd2/7e8/01"),
    Some("obd2/zz/01/0c/a/b"),
    Some("fms/data/rpm0"),
    Some("fms/rpm0"),
    Some("operators"),
    Some("operators/26201"),
    Some("cellinfo"),
    Some("start"),
    Some("log/E"),
    Some("raw"),
    Some("alarm"),
    Some("waypoints"),
    Some("pico"),
    Some("proxy/at"),
    Some("x/y/z"),
];

/// Small array elements for the array limit: messages of several kinds and a non-object.
const SMALL_ITEMS: &[&str] =
    &[r#"{"_type":"lwt"}"#, "{}", "1", r#"{"_type":"location","lat":1,"lon":2,"tst":1700000000}"#];

/// Subtopics where JSON objects are read as app messages.
const JSON_SUBTOPICS: &[Option<&str>] =
    &[None, Some("event"), Some("cmd"), Some("waypoints"), Some("alarm")];

const DEVICES: &[&str] = &["jjolie", "K2", "x", "Jürgen's-phone", "é"];

const TYPES: &[&str] = &[
    "location",
    "transition",
    "waypoint",
    "waypoints",
    "card",
    "cmd",
    "lwt",
    "steps",
    "beacon",
    "status",
    "configuration",
    "dump",
    "encrypted",
    "request",
    "msg",
    "",
    "Location",
];

/// Number tokens serde_json reads oddly or refuses.
const ODD_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-0.0",
    "1e400",
    "-1e400",
    "1.7976931348623157e308",
    "5e-324",
    "123456789012345678901234567890",
    "-9223372036854775809",
    "18446744073709551616",
    "1E2",
];

/// Number-like tokens that are not JSON, as sloppy encoders write them.
const NOT_JSON: &[&str] = &["NaN", "Infinity", "-Infinity", "inf", "01", "1.", ".5", "+1", "0x10"];

const ODD_TEXTS: &[&str] = &[
    "",
    " ",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e400",
    "-1e400",
    "1e308",
    "-0",
    "+5",
    "１２",
    "0x1F",
    "1,5",
    "48.8.5",
    ".",
    "..",
    "-",
    "e",
    "999999999999999999999999999999",
    "1700000000",
    "1700000000000",
    " 1700000000 ",
    "1700000000.999",
    "17000000000000000",
    "2023-11-14T22:13:20Z",
    "2023-11-14T22:13:20+14:00",
    "2023-11-14T22:13:20",
    "2023-11-14",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "enter",
    "leave",
    "location",
    "\u{0}",
    "\u{feff}",
    "🦀🦀🦀",
];

fn config() -> ProptestConfig {
    let cases = match std::env::var("PISTA_FUZZ_CASES") {
        Ok(text) => text.parse().expect("PISTA_FUZZ_CASES must be a whole number"),
        Err(_) => 1024,
    };
    ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(cases) }
}

fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// A JSON scalar as text: ordinary values, odd numbers and texts, numbers written as text, and
/// now and then a token that is not JSON.
fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just("null".to_owned()),
        2 => any::<bool>().prop_map(|b| b.to_string()),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        2 => any::<u64>().prop_map(|n| n.to_string()),
        2 => finite().prop_map(|f| f.to_string()),
        2 => select(ODD_NUMBERS).prop_map(str::to_owned),
        2 => select(ODD_TEXTS).prop_map(quote),
        2 => ".{0,40}".prop_map(|s| quote(&s)),
        2 => any::<f64>().prop_map(|f| quote(&f.to_string())),
        2 => any::<i64>().prop_map(|n| quote(&n.to_string())),
        1 => prop_oneof![
            select(NOT_JSON).prop_map(str::to_owned),
            any::<f64>().prop_map(|f| f.to_string()),
        ],
    ]
}

fn finite() -> impl Strategy<Value = f64> {
    use prop::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
}

/// Any JSON value as text, nested arrays and objects included.
fn value() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|items| array(&items)),
            prop::collection::vec((key(), inner), 0..6).prop_map(|pairs| object(&pairs)),
        ]
    })
}

fn array(items: &[String]) -> String {
    format!("[{}]", items.join(","))
}

fn object(pairs: &[(String, String)]) -> String {
    let fields: Vec<String> = pairs.iter().map(|(k, v)| format!("{}:{v}", quote(k))).collect();
    format!("{{{}}}", fields.join(","))
}

fn key() -> impl Strategy<Value = String> {
    const KNOWN: &[&str] =
        &["_type", "lat", "lon", "tst", "tid", "acc", "batt", "event", "desc", "data"];
    prop_oneof![select(KNOWN).prop_map(str::to_owned), "[a-zA-Z_]{0,8}"]
}

/// A coordinate: mostly in range, sometimes just outside it, as text or anything at all.
fn coordinate(max: f64) -> impl Strategy<Value = String> {
    let near = move |f: f64| f * max * 1.001;
    prop_oneof![
        8 => (-max..=max).prop_map(|f| f.to_string()),
        1 => select(vec![max, -max, near(1.0), near(-1.0), 0.0, -0.0]).prop_map(|f| f.to_string()),
        1 => (-max..=max).prop_map(|f| quote(&f.to_string())),
        1 => value(),
    ]
}

/// A fix time around the arrival times used below, in the forms clients send.
fn tst() -> impl Strategy<Value = String> {
    let seconds = 1_150_000_000i64..1_820_000_000;
    prop_oneof![
        8 => seconds.clone().prop_map(|s| s.to_string()),
        1 => seconds.clone().prop_map(|s| (s * 1000 + 123).to_string()),
        1 => seconds.clone().prop_map(|s| format!("{s}.5")),
        1 => seconds.clone().prop_map(|s| quote(&s.to_string())),
        1 => seconds.prop_map(|s| quote(&iso(s))),
        1 => select(&["0", "-1", "0.9", "\"0\"", "-1700000000", "\"1969-12-31T23:59:59Z\""][..])
            .prop_map(str::to_owned),
        1 => value(),
    ]
}

fn iso(seconds: i64) -> String {
    let time = chrono::DateTime::from_timestamp(seconds, 0).unwrap();
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// One field of a message with a value of the kind it usually has, or of any kind.
fn field() -> impl Strategy<Value = (String, String)> {
    let named = |name: &'static str, values: BoxedStrategy<String>| {
        values.prop_map(move |v| (name.to_owned(), v))
    };
    let text = prop_oneof!["[A-Za-z0-9]{0,3}".prop_map(|s| quote(&s)), value()].boxed();
    prop_oneof![
        named("lat", coordinate(90.0).boxed()),
        named("lon", coordinate(180.0).boxed()),
        named("tst", tst().boxed()),
        named("wtst", tst().boxed()),
        named("created_at", tst().boxed()),
        named("tid", text.clone()),
        named("t", text.clone()),
        named("trigger", text.clone()),
        named("desc", text.clone()),
        named("action", text),
        named("acc", leaf().boxed()),
        named("batt", leaf().boxed()),
        named(
            "event",
            prop_oneof![select(&["\"enter\"", "\"leave\""][..]).prop_map(str::to_owned), value()]
                .boxed()
        ),
        named("data", prop_oneof!["[A-Za-z0-9+/=]{0,80}".prop_map(|s| quote(&s)), value()].boxed()),
        named("waypoints", prop::collection::vec(waypoint(), 0..4).prop_map(|w| array(&w)).boxed()),
        named("inregions", value().boxed()),
        (key(), value()),
    ]
}

fn waypoint() -> impl Strategy<Value = String> {
    let fields = (tst(), coordinate(90.0), coordinate(180.0), leaf(), value());
    fields.prop_map(|(tst, lat, lon, rad, desc)| {
        let pairs = [("tst", tst), ("lat", lat), ("lon", lon), ("rad", rad), ("desc", desc)];
        object(&pairs.map(|(k, v)| (k.to_owned(), v)))
    })
}

/// A location that is often valid: its three required fields are usually there.
fn location() -> impl Strategy<Value = String> {
    let required = (
        prop::option::weighted(0.95, coordinate(90.0)),
        prop::option::weighted(0.95, coordinate(180.0)),
        prop::option::weighted(0.95, tst()),
    );
    (required, prop::collection::vec(field(), 0..6)).prop_flat_map(|((lat, lon, tst), extra)| {
        let mut pairs = vec![("_type".to_owned(), quote("location"))];
        let named = [("lat", lat), ("lon", lon), ("tst", tst)];
        pairs.extend(named.into_iter().filter_map(|(k, v)| Some((k.to_owned(), v?))));
        pairs.extend(extra);
        Just(pairs).prop_shuffle().prop_map(|pairs| object(&pairs))
    })
}

/// Any other message: a known or made-up `_type` (or none, or not text) and random fields.
fn other_message() -> impl Strategy<Value = String> {
    let msg_type = prop::option::weighted(
        0.9,
        prop_oneof![
            4 => select(TYPES).prop_map(quote),
            1 => ".{0,10}".prop_map(|s| quote(&s)),
            1 => value(),
        ],
    );
    (msg_type, prop::collection::vec(field(), 0..8)).prop_map(|(msg_type, mut pairs)| {
        if let Some(msg_type) = msg_type {
            pairs.insert(0, ("_type".to_owned(), msg_type));
        }
        object(&pairs)
    })
}

fn message() -> impl Strategy<Value = String> {
    prop_oneof![3 => location(), 2 => other_message()]
}

/// A Greenwich CSV line: ten fields, mostly plausible.
fn csv_line() -> impl Strategy<Value = String> {
    let text = prop_oneof!["[A-Za-z0-9]{1,3}", ".{0,4}"];
    let tst = prop_oneof![
        (1_100_000_000i64..1_900_000_000).prop_map(|s| format!("{s:X}")),
        "[-+0-9A-Fa-fxz]{0,18}",
    ];
    let int = prop_oneof![any::<i64>().prop_map(|n| n.to_string()), "[-0-9]{0,22}"];
    let micro =
        prop_oneof![(-180_000_000i64..=180_000_000).prop_map(|n| n.to_string()), int.clone()];
    let rest = prop::collection::vec(int, 5);
    (text.clone(), tst, text, micro.clone(), micro, rest).prop_map(
        |(tid, tst, t, lat, lon, rest)| format!("{tid},{tst},{t},{lat},{lon},{}", rest.join(",")),
    )
}

/// A payload as a client might send it: one message, an array of them, any JSON, JSON cut
/// short, or a CSV line; sometimes behind a byte-order mark or before trailing white space.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    let body = prop_oneof![
        4 => message().prop_map(String::into_bytes),
        2 => prop::collection::vec(prop_oneof![4 => message(), 1 => value()], 0..6)
            .prop_map(|items| array(&items).into_bytes()),
        1 => value().prop_map(String::into_bytes),
        1 => (message(), any::<prop::sample::Index>()).prop_map(|(text, cut)| {
            let bytes = text.into_bytes();
            bytes[..cut.index(bytes.len() + 1)].to_vec()
        }),
        1 => csv_line().prop_map(String::into_bytes),
    ];
    let bom = prop::option::weighted(0.1, Just(b"\xEF\xBB\xBF".to_vec()));
    let tail = select(&["", "\n", " \r\n\t", "\x0c"][..]);
    (bom, body, tail).prop_map(|(bom, body, tail)| {
        [bom.unwrap_or_default(), body, tail.as_bytes().to_vec()].concat()
    })
}

/// Words of the Greenwich text payloads (status, start line, networks, NMEA, command replies),
/// with odd numbers among them.
const GREENWICH_WORDS: &[&str] = &[
    "1",
    "0",
    "-1",
    "12.5",
    "-3.2e1",
    "1e999",
    "NaN",
    "inf",
    "123456789012345",
    "0.8.1",
    "20140930T085913Z",
    "20141302T084939Z",
    "2014-09-01",
    "08:37:04",
    "26201",
    "+26202",
    "-310410",
    "?1234",
    "+",
    "262",
    "$GPGGA,1*4F",
    "$*",
    "$GPRMC*zz",
    "NACK:",
    "NACK: bad",
    "KEY=\"v\"",
    "=x",
    "login",
    "secret",
    "é",
    "\u{0}",
];

fn greenwich_text() -> impl Strategy<Value = Vec<u8>> {
    let word = prop_oneof![4 => select(GREENWICH_WORDS).prop_map(str::to_owned), 1 => ".{0,6}"];
    let space = select(&[" ", "  ", "\t", "\n", ""][..]);
    prop::collection::vec((word, space), 0..6).prop_map(|words| {
        words.into_iter().flat_map(|(w, s)| [w, s.to_owned()]).collect::<String>().into_bytes()
    })
}

fn received_at() -> impl Strategy<Value = i64> {
    prop_oneof![Just(1_700_000_000i64), 1_199_145_600i64..1_800_000_000]
}

fn run(payload: &[u8], device: &str, subtopic: Option<&str>, received_at: i64) -> Vec<Decoded> {
    let device = DeviceName::parse(device).unwrap();
    let context = Context { device: &device, subtopic, received_at, time: TimeRule::default() };
    decode(&Bytes::copy_from_slice(payload), &context)
}

/// How many results `payload` must give: one per element of a readable array of at most
/// `MAX_ARRAY` elements, one for anything else.
fn expected_count(payload: &[u8], results: &[Decoded]) -> usize {
    let text = payload.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(payload);
    let end = text.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    let ignored = matches!(results, [Decoded::Ignored { .. }]);
    match serde_json::from_slice::<Value>(&text[..end]) {
        Ok(Value::Array(items)) if !ignored && (1..=MAX_ARRAY).contains(&items.len()) => {
            items.len()
        }
        _ => 1,
    }
}

/// The invariants every decoded result holds.
fn check(results: &[Decoded], received_at: i64) -> Result<(), TestCaseError> {
    prop_assert!(!results.is_empty() && results.len() <= MAX_ARRAY + 1, "{}", results.len());
    for result in results {
        match result {
            Decoded::Quarantined { reason, problem, .. } => {
                prop_assert!(REASONS.contains(reason), "unknown reason {reason}: {problem}");
                prop_assert!(!problem.is_empty(), "{reason} without words");
            }
            Decoded::Ignored { problem } => prop_assert!(!problem.is_empty()),
            Decoded::Location { location, .. } => check_location(location, received_at)?,
            Decoded::Message { .. } | Decoded::Empty { .. } => {}
        }
    }
    Ok(())
}

fn check_location(location: &pista_core::Location, received_at: i64) -> Result<(), TestCaseError> {
    let (lat, lon, tst) = (location.lat, location.lon, location.tst);
    prop_assert!(lat.is_finite() && (-90.0..=90.0).contains(&lat), "lat {lat}");
    prop_assert!(lon.is_finite() && (-180.0..=180.0).contains(&lon), "lon {lon}");
    prop_assert!(TimeRule::default().check(tst, received_at).is_ok(), "tst {tst}");
    prop_assert!(!location.tid.is_empty());

    let json = &location.json;
    prop_assert_eq!(json["tid"].as_str(), Some(location.tid.as_str()), "{:?}", json);
    prop_assert_eq!(json["lat"].as_f64(), Some(lat), "{:?}", json);
    prop_assert_eq!(json["lon"].as_f64(), Some(lon), "{:?}", json);
    prop_assert_eq!(json["tst"].as_i64(), Some(tst), "{:?}", json);

    // serde_json is built with `float_roundtrip`, so the stored text reads back to the very
    // same coordinates (without it, `10.014331223591737` came back as `...736`).
    let text = serde_json::to_string(json).unwrap();
    let reread: Value = serde_json::from_str(&text).unwrap();
    prop_assert_eq!(reread["tid"].as_str(), Some(location.tid.as_str()), "{}", text);
    prop_assert_eq!(reread["lat"].as_f64(), Some(lat), "{}", text);
    prop_assert_eq!(reread["lon"].as_f64(), Some(lon), "{}", text);
    prop_assert_eq!(reread["tst"].as_i64(), Some(tst), "{}", text);
    Ok(())
}

/// The key the apps derive from a secret: its bytes cut at 32 and padded with zeros.
fn key_bytes(secret: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    let bytes = &secret.as_bytes()[..secret.len().min(32)];
    key[..bytes.len()].copy_from_slice(bytes);
    key
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(
        payload in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..4096),
            "[0-9a-zA-Z,.:;/+ -]{0,200}".prop_map(String::into_bytes),
            ".{0,300}".prop_map(String::into_bytes),
            greenwich_text(),
        ],
        subtopic in select(SUBTOPICS),
        device in select(DEVICES),
        received_at in prop_oneof![any::<i64>(), received_at()],
    ) {
        let results = run(&payload, device, subtopic, received_at);
        check(&results, received_at)?;
        prop_assert_eq!(results.len(), expected_count(&payload, &results));
    }

    #[test]
    fn near_valid_json_decodes_to_checked_results(
        payload in payload(),
        subtopic in prop_oneof![Just(None), select(SUBTOPICS)],
        device in select(DEVICES),
        received_at in received_at(),
    ) {
        let results = run(&payload, device, subtopic, received_at);
        check(&results, received_at)?;
        prop_assert_eq!(results.len(), expected_count(&payload, &results));
    }

    #[test]
    fn app_subtopics_read_every_json_message(
        items in prop::collection::vec(message(), 1..8),
        subtopic in select(JSON_SUBTOPICS),
        received_at in received_at(),
    ) {
        // The generators also write tokens that are not JSON (`NaN`); keep the readable ones.
        let mut items: Vec<String> =
            items.into_iter().filter(|i| serde_json::from_str::<Value>(i).is_ok()).collect();
        if items.is_empty() {
            items.push("{}".to_owned());
        }
        let results = run(array(&items).as_bytes(), "jjolie", subtopic, received_at);
        check(&results, received_at)?;
        prop_assert_eq!(results.len(), items.len());
        let ignored = results.iter().any(|r| matches!(r, Decoded::Ignored { .. }));
        prop_assert!(!ignored, "{:?}", results);
    }

    #[test]
    fn arrays_over_the_limit_are_quarantined_whole(
        count in (MAX_ARRAY - 3)..(MAX_ARRAY * 3),
        item in select(SMALL_ITEMS),
    ) {
        let payload = array(&vec![item.to_owned(); count]);
        let results = run(payload.as_bytes(), "jjolie", None, 1_700_000_000);
        check(&results, 1_700_000_000)?;
        if count <= MAX_ARRAY {
            prop_assert_eq!(results.len(), count);
        } else {
            prop_assert_eq!(results.len(), 1);
            let is_too_many = matches!(
                &results[0],
                Decoded::Quarantined { reason: "too_many_messages", .. }
            );
            prop_assert!(is_too_many, "{:?}", results[0]);
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow(
        depth in 1usize..20_000,
        open in select(&["[", "{\"a\":"][..]),
    ) {
        let close = if open == "[" { "]" } else { "}" };
        let payload = format!("{}{}", open.repeat(depth), close.repeat(depth));
        let results = run(payload.as_bytes(), "jjolie", None, 1_700_000_000);
        check(&results, 1_700_000_000)?;
        prop_assert_eq!(results.len(), 1);
    }

    #[test]
    fn read_epoch_gives_positive_seconds(
        text in prop_oneof![value(), leaf(), tst()],
        raw in "[-+0-9.:TZ ]{0,30}|.{0,30}",
    ) {
        let json = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
        for value in [json, Value::String(raw)] {
            if let Ok((seconds, _)) = read_epoch("tst", Some(&value)) {
                prop_assert!(seconds > 0, "{value} read as {seconds}");
            }
        }
    }

    #[test]
    fn read_epoch_keeps_whole_seconds(seconds in 1i64..100_000_000_000) {
        prop_assert_eq!(read_epoch("tst", Some(&Value::from(seconds))), Ok((seconds, None)));
    }

    #[test]
    fn opening_arbitrary_text_never_panics(
        data in prop_oneof![".{0,200}", "[A-Za-z0-9+/= \n]{0,200}"],
    ) {
        let secret = Secret::new("k").unwrap();
        // Random text authenticating would mean a forged tag.
        prop_assert!(crypto::open(&secret, &data).is_err());
    }

    #[test]
    fn sealed_plaintexts_open_with_their_key_only(
        plaintext in prop::collection::vec(any::<u8>(), 0..2048),
        secret in ".{1,40}",
        other in ".{1,40}",
    ) {
        let sealed = crypto::seal(&Secret::new(&secret).unwrap(), &plaintext);
        let opened = crypto::open(&Secret::new(&secret).unwrap(), &sealed);
        prop_assert_eq!(opened, Ok(plaintext.clone()));

        let by_other = crypto::open(&Secret::new(&other).unwrap(), &sealed);
        if key_bytes(&other) == key_bytes(&secret) {
            prop_assert_eq!(by_other, Ok(plaintext));
        } else {
            prop_assert_eq!(by_other, Err(crypto::CryptoError::BadKey));
        }
    }
}
