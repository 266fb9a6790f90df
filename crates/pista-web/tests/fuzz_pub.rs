//! Fuzz-style properties of HTTP mode, run with proptest through the real router (in process,
//! on an in-memory SQLite store and the real pipeline): whatever body, content type, identity
//! headers, `Authorization` and query string `POST /pub` gets, it never answers a 5xx or
//! panics; it answers 200 with a JSON array, 400 only for a bad identity or query (the same
//! request without a body gets the same 400), 403 only for an envelope that stays closed, and
//! 413 exactly when the body is over the limit, every error as JSON with a reason. Envelopes
//! sealed with the device's secret are answered sealed with it. `PISTA_FUZZ_CASES` sets the
//! number of cases per property (default 1024); failing cases are shrunk and printed, never
//! written to disk.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use pista_core::crypto::{self, Secret};
use pista_core::{DeviceKey, UserName};
use pista_ingest::{Pipeline, PipelineOptions};
use pista_store::{SqlStore, Storage};
use pista_web::{AppState, WebConfig};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::Value;
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// The body limit of the app under test, small so that oversized bodies are cheap.
const MAX_BODY: usize = 16 * 1024;

/// The one device with a secret; the other generators cannot produce its name.
const SEALED: (&str, &str) = ("fuzz-enclave", "vault");
const SECRET: &str = "correct horse battery staple";

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
    "request",
    "msg",
    "",
];

const ODD_TOKENS: &[&str] = &[
    "null",
    "true",
    "-0",
    "1e400",
    "123456789012345678901234567890",
    "\"NaN\"",
    "\"1e400\"",
    "\"-1\"",
    "\"\"",
    "\"2023-11-14T22:13:20Z\"",
    "NaN",
    "[]",
    "{}",
    "[[[[[]]]]]",
];

fn config() -> ProptestConfig {
    let cases = match std::env::var("PISTA_FUZZ_CASES") {
        Ok(text) => text.parse().expect("PISTA_FUZZ_CASES must be a whole number"),
        Err(_) => 1024,
    };
    ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(cases) }
}

/// The app under test, started once and shared by every case of every property.
struct App {
    runtime: Runtime,
    router: Router,
}

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let router = runtime.block_on(async {
            let store: Arc<dyn Storage> =
                Arc::new(SqlStore::open("sqlite::memory:").await.unwrap());
            let key = DeviceKey::parse(SEALED.0, SEALED.1).unwrap();
            store.set_secret(&key, Some(SECRET), pista_ingest::now()).await.unwrap();
            // Answers then carry the fuzzed devices' own last locations and cards.
            let owntracks = UserName::parse("owntracks").unwrap();
            for user in [&owntracks, &key.user] {
                store.add_friend(user, &owntracks, None).await.unwrap();
            }
            let (pipeline, _writer) = Pipeline::start(store.clone(), PipelineOptions::default());
            let state = AppState {
                last: Arc::new(pista_web::last::LastLocations::new(&pipeline)),
                geo_precision: 7,
                views_dir: None,
                socket_origins: Default::default(),
                pipeline,
                store,
                commands: None,
                derived: None,
                outputs: None,
                redis: None,
                monitor: None,
                retention: None,
                // The fuzzing is about the body and headers, not about logins.
                guard: None,
                ctrld: None,
                https: false,
            };
            pista_web::router(state, WebConfig { max_body: MAX_BODY, ..WebConfig::default() })
        });
        App { runtime, router }
    })
}

/// One `POST /pub` request; header values are raw bytes, as a client may send any.
#[derive(Debug, Clone)]
struct Post {
    query: Option<String>,
    content_type: Option<Bytes>,
    user: Option<Bytes>,
    device: Option<Bytes>,
    authorization: Option<Bytes>,
    body: Bytes,
}

/// What came back: the status and the body read as JSON (`Null` when it is not JSON).
#[derive(Debug)]
struct Answer {
    status: u16,
    json: Value,
}

impl App {
    fn post(&self, post: &Post) -> Answer {
        let uri = match &post.query {
            Some(query) => format!("/pub?{query}"),
            None => "/pub".to_owned(),
        };
        let mut request = Request::builder().method("POST").uri(uri);
        let headers = [
            ("content-type", &post.content_type),
            ("x-limit-u", &post.user),
            ("x-limit-d", &post.device),
            ("authorization", &post.authorization),
        ];
        for (name, value) in headers {
            if let Some(value) = value {
                request = request.header(name, HeaderValue::from_bytes(value).unwrap());
            }
        }
        let request = request.body(Body::from(post.body.clone())).unwrap();
        self.runtime.block_on(async {
            let response = self.router.clone().oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            Answer { status, json: serde_json::from_slice(&body).unwrap_or(Value::Null) }
        })
    }
}

/// A header value as clients send them: names, printable text, UTF-8, bytes that are not UTF-8.
fn header_value() -> impl Strategy<Value = Bytes> {
    let byte = prop_oneof![8 => 0x20u8..0x7f, 1 => 0x80u8..=0xff, 1 => Just(b'\t')];
    prop_oneof![
        6 => "[A-Za-z0-9 ._@-]{0,12}".prop_map(|s| Bytes::from(s.into_bytes())),
        3 => "[ -~]{0,12}".prop_map(|s| Bytes::from(s.into_bytes())),
        1 => prop::collection::vec(byte, 0..24).prop_map(Bytes::from),
        1 => select(vec!["Jürgen", "a/b", "#", "+", " ", ""].into_iter().map(String::from)
            .chain(["é".repeat(100)]).collect::<Vec<_>>())
            .prop_map(|s| Bytes::from(s.into_bytes())),
    ]
}

fn content_type() -> impl Strategy<Value = Option<Bytes>> {
    const KNOWN: &[&str] = &[
        "application/json",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/octet-stream",
    ];
    prop::option::of(prop_oneof![
        3 => select(KNOWN).prop_map(|s| Bytes::from_static(s.as_bytes())),
        1 => header_value(),
    ])
}

fn authorization() -> impl Strategy<Value = Bytes> {
    let basic = prop::collection::vec(any::<u8>(), 0..24)
        .prop_map(|raw| format!("Basic {}", STANDARD.encode(raw)).into_bytes());
    let user = "[a-zA-Z0-9:/#+ é]{0,12}"
        .prop_map(|u| format!("Basic {}", STANDARD.encode(u)).into_bytes());
    prop_oneof![
        basic.prop_map(Bytes::from),
        user.prop_map(Bytes::from),
        select(&["Basic !!!", "Basic", "basic ", "Bearer x", "Basic /w=="][..])
            .prop_map(|s| Bytes::from_static(s.as_bytes())),
        header_value(),
    ]
}

/// A query string: identity and other pairs, values raw or percent-encoded from any bytes.
fn query() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        select(&["u", "d", "U", "D", "from", "x"][..]).prop_map(str::to_owned),
        "[a-z%]{0,3}"
    ];
    let value = prop_oneof![
        "[A-Za-z0-9._~!$'()*+,;:@/?%-]{0,16}",
        prop::collection::vec(any::<u8>(), 0..12)
            .prop_map(|raw| raw.iter().map(|b| format!("%{b:02X}")).collect()),
    ];
    let pair = (name, prop::option::of(value)).prop_map(|(name, value)| match value {
        Some(value) => format!("{name}={value}"),
        None => name,
    });
    prop::collection::vec(pair, 0..4).prop_map(|pairs| pairs.join("&"))
}

fn number(range: std::ops::RangeInclusive<f64>) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => range.clone().prop_map(|f| f.to_string()),
        1 => range.prop_map(|f| format!("\"{f}\"")),
        1 => select(ODD_TOKENS).prop_map(str::to_owned),
    ]
}

/// A message much as the apps send it, with now and then a field that is wrong or odd.
fn message() -> impl Strategy<Value = String> {
    let now = pista_ingest::now();
    let tst = prop_oneof![
        4 => (now - 86_400 * 400..now + 86_400 * 2).prop_map(|s| s.to_string()),
        1 => (now - 86_400..now).prop_map(|s| (s * 1000).to_string()),
        1 => select(ODD_TOKENS).prop_map(str::to_owned),
    ];
    let msg_type = prop_oneof![
        4 => Just("location"),
        2 => select(TYPES),
        1 => select(&["Location", "gw-status", "\u{0}"][..]),
    ];
    let extra = prop::collection::vec(
        (select(&["tid", "acc", "batt", "event", "desc", "t", "wtst", "action", "x"][..]), {
            prop_oneof![
                "\"[A-Za-z0-9]{0,3}\"",
                select(ODD_TOKENS).prop_map(str::to_owned),
                any::<i64>().prop_map(|n| n.to_string())
            ]
        }),
        0..4,
    );
    let fields = (
        msg_type,
        prop::option::weighted(0.95, number(-90.0..=90.0)),
        prop::option::weighted(0.95, number(-180.0..=180.0)),
        prop::option::weighted(0.95, tst),
        extra,
    );
    fields.prop_map(|(msg_type, lat, lon, tst, extra)| {
        let mut pairs = vec![format!("\"_type\":{}", serde_json::to_string(msg_type).unwrap())];
        let named = [("lat", lat), ("lon", lon), ("tst", tst)];
        pairs.extend(named.into_iter().filter_map(|(k, v)| Some(format!("\"{k}\":{}", v?))));
        pairs.extend(extra.into_iter().map(|(k, v)| format!("\"{k}\":{v}")));
        format!("{{{}}}", pairs.join(","))
    })
}

/// A payload without envelopes: one message, an array, one cut short, or odd JSON.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => message().prop_map(String::into_bytes),
        2 => prop::collection::vec(message(), 0..5)
            .prop_map(|items| format!("[{}]", items.join(",")).into_bytes()),
        1 => (message(), any::<prop::sample::Index>()).prop_map(|(text, cut)| {
            let bytes = text.into_bytes();
            bytes[..cut.index(bytes.len() + 1)].to_vec()
        }),
        1 => select(ODD_TOKENS).prop_map(|s| s.as_bytes().to_vec()),
    ]
}

/// An envelope whose data is random, or sealed with a secret the device may not have.
fn envelope() -> impl Strategy<Value = Vec<u8>> {
    let data = prop_oneof![
        ".{0,80}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        (payload(), ".{1,20}").prop_map(|(inner, secret)| {
            format!("\"{}\"", crypto::seal(&Secret::new(&secret).unwrap(), &inner))
        }),
        select(ODD_TOKENS).prop_map(str::to_owned),
    ];
    data.prop_map(|data| format!("{{\"_type\":\"encrypted\",\"data\":{data}}}").into_bytes())
}

fn body() -> impl Strategy<Value = Bytes> {
    let oversized = (MAX_BODY - 64..MAX_BODY + 2048, select(&["{},", " ", "\u{e9}"][..]))
        .prop_map(|(len, fill)| fill.repeat(len).into_bytes()[..len].to_vec());
    prop_oneof![
        3 => payload(),
        2 => prop::collection::vec(any::<u8>(), 0..4096),
        1 => envelope(),
        1 => oversized,
    ]
    .prop_map(Bytes::from)
}

fn post() -> impl Strategy<Value = Post> {
    let parts = (
        prop::option::of(query()),
        content_type(),
        prop::option::weighted(0.3, header_value()),
        prop::option::weighted(0.3, header_value()),
        prop::option::weighted(0.2, authorization()),
        body(),
    );
    parts.prop_map(|(query, content_type, user, device, authorization, body)| Post {
        query,
        content_type,
        user,
        device,
        authorization,
        body,
    })
}

/// The `error` text of an error answer, checked to be a JSON object naming its status.
fn error_text(answer: &Answer) -> Result<String, TestCaseError> {
    let error = answer.json["error"].as_str().unwrap_or_default();
    prop_assert!(!error.is_empty(), "{} without an error text: {}", answer.status, answer.json);
    prop_assert_eq!(answer.json["status"].as_u64(), Some(u64::from(answer.status)));
    Ok(error.to_owned())
}

/// An HTTP-mode answer is an array the strictest app parser takes: cards and locations with
/// their required members, and commands.
fn check_answer(answer: &Value) -> Result<(), TestCaseError> {
    let Some(items) = answer.as_array() else {
        return Err(TestCaseError::fail(format!("answer is not an array: {answer}")));
    };
    for item in items {
        let tid = item["tid"].as_str().unwrap_or_default();
        match item["_type"].as_str() {
            Some("location") => {
                prop_assert!(!tid.is_empty(), "{}", item);
                let lat = item["lat"].as_f64().unwrap_or(f64::NAN);
                let lon = item["lon"].as_f64().unwrap_or(f64::NAN);
                prop_assert!((-90.0..=90.0).contains(&lat), "{}", item);
                prop_assert!((-180.0..=180.0).contains(&lon), "{}", item);
                prop_assert!(item["tst"].as_i64().is_some_and(|t| t > 0), "{}", item);
            }
            Some("card") => prop_assert!(!tid.is_empty(), "{}", item),
            Some("cmd") => prop_assert!(item["action"].is_string(), "{}", item),
            _ => prop_assert!(false, "unexpected answer item {}", item),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pub_answers_only_documented_statuses(post in post()) {
        let app = app();
        let answer = app.post(&post);
        prop_assert!(
            matches!(answer.status, 200 | 400 | 403 | 413),
            "status {} for {:?}: {}", answer.status, post, answer.json
        );
        prop_assert_eq!(answer.status == 413, post.body.len() > MAX_BODY, "{}", answer.json);
        if answer.status == 200 {
            return check_answer(&answer.json);
        }
        let error = error_text(&answer)?;

        // The same request without a body shows whether the identity alone is refused.
        let bodiless = app.post(&Post { body: Bytes::new(), ..post.clone() });
        match answer.status {
            400 => {
                prop_assert_eq!(bodiless.status, 400, "body-caused 400: {}", error);
                prop_assert_eq!(error_text(&bodiless)?, error);
            }
            403 => {
                prop_assert_eq!(bodiless.status, 200, "{}", error);
                let envelope = post.body.windows(9).any(|w| w == b"encrypted");
                prop_assert!(envelope, "403 without an envelope: {}", error);
            }
            _ => {}
        }
    }

    #[test]
    fn envelopes_open_only_with_the_device_secret(
        inner in payload(),
        sealer in select(&[SECRET, "another secret", "correct horse battery stapl"][..]),
        user in select(&["fuzz-enclave", "FUZZ-Enclave"][..]),
    ) {
        let data = crypto::seal(&Secret::new(sealer).unwrap(), &inner);
        let post = Post {
            query: Some(format!("u={user}&d={}", SEALED.1)),
            content_type: None,
            user: None,
            device: None,
            authorization: None,
            body: Bytes::from(format!("{{\"_type\":\"encrypted\",\"data\":\"{data}\"}}")),
        };
        let answer = app().post(&post);
        if sealer != SECRET {
            prop_assert_eq!(answer.status, 403, "{}", answer.json);
            prop_assert!(error_text(&answer)?.contains("bad_key"), "{}", answer.json);
            return Ok(());
        }
        prop_assert_eq!(answer.status, 200, "{}", answer.json);
        prop_assert_eq!(answer.json["_type"].as_str(), Some("encrypted"), "{}", answer.json);
        let sealed = answer.json["data"].as_str().unwrap_or_default();
        let opened = crypto::open(&Secret::new(SECRET).unwrap(), sealed);
        let array = opened.ok().and_then(|plain| serde_json::from_slice::<Value>(&plain).ok());
        check_answer(&array.unwrap_or_default())?;
    }
}
