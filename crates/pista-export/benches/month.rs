//! One device's month read from SQLite and written as JSON: 90,000 fixes (one every 30 s), the
//! size the target names (under 100 ms). The store is filled once, the way ingest
//! writes (batches of 1000), then each iteration opens the history and writes it as the server
//! does (`Exporter::written`: JSON on the thread that reads the rows), both as the export's JSON
//! array and as the Recorder's `/api/0/locations` answer, each reading only the columns it
//! writes. `read_only` reads every column and `read_message` the columns JSON needs, as pages of
//! points, without encoding.
//!
//! `cargo bench -p pista-export --bench month`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use pista_core::{DeviceKey, Location, Replay, Source, UserName};
use pista_export::{Exporter, Format, RecorderFormat, Subject};
use pista_store::{HistoryColumns, HistoryQuery, NewBody, NewMessage, SqlStore, Storage};
use serde_json::{Value, json};

/// The allocator of the `pista` binary, so the figures are the server's: the reading thread
/// allocates each point's message and the encoding task frees it, which glibc's malloc does
/// slowly across threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const POINTS: i64 = 90_000;
const START: i64 = 1_700_000_000;

/// The `n`th fix of the month, as the decoder hands it to storage.
fn message(key: &DeviceKey, n: i64) -> NewMessage {
    let angle = n as f64 * 0.001;
    let json = json!({
        "_type": "location", "tid": "bb", "tst": START + 30 * n,
        "lat": 48.1 + 0.05 * angle.sin(), "lon": 11.5 + 0.05 * angle.cos(),
        "acc": 5 + n % 20, "alt": 520, "vel": 30, "cog": 90, "batt": 80, "t": "u", "conn": "m",
    });
    let Value::Object(object) = json else { unreachable!() };
    let location = Location::from_json(object, || key.device.default_tid()).unwrap();
    let payload = serde_json::to_string(&location.json).unwrap();
    NewMessage {
        topic: format!("owntracks/{}/{}", key.user, key.device),
        key: Some(key.clone()),
        subtopic: None,
        source: Source::Mqtt,
        retained: false,
        replay: Replay::Fresh,
        received_at: START + 30 * n + 2,
        body: NewBody::Location { location: Box::new(location), payload, original: None },
    }
}

/// Reads the whole month with the columns `exporter` writes and encodes it; returns the bytes
/// written.
async fn encode(store: &SqlStore, exporter: Exporter, count: bool) -> usize {
    let key = DeviceKey::parse("bench", "phone").unwrap();
    let columns = exporter.columns();
    let query = HistoryQuery { count, columns, ..HistoryQuery::new(key.user, Some(key.device)) };
    let history = store.history(&query).await.unwrap();
    // As the server does: JSON is written where the rows are read (`History::written`).
    let mut chunks = exporter.written(history);
    let mut bytes = 0;
    while let Some(chunk) = chunks.next().await {
        bytes += chunk.unwrap().len();
    }
    bytes
}

fn month(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/month.db", dir.path().display());
    let store = runtime.block_on(SqlStore::open(&url)).unwrap();
    let key = DeviceKey::parse("bench", "phone").unwrap();
    let batch: Vec<NewMessage> = (0..POINTS).map(|n| message(&key, n)).collect();
    for chunk in batch.chunks(1000) {
        runtime.block_on(store.write(chunk)).unwrap();
    }
    let subject = Subject { user: UserName::parse("bench").unwrap(), device: Some(key.device) };

    let mut group = c.benchmark_group("month");
    group.sample_size(10);
    group.throughput(Throughput::Elements(POINTS as u64));
    for (name, columns) in
        [("read_only", HistoryColumns::All), ("read_message", HistoryColumns::Message)]
    {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                let query = HistoryQuery {
                    columns,
                    ..HistoryQuery::new(subject.user.clone(), subject.device.clone())
                };
                let history = store.history(&query).await.unwrap();
                let pages = history.pages.map(|page| page.unwrap().len());
                pages.fold(0, |a, n| async move { a + n }).await
            })
        });
    }
    group.bench_function("export_json", |b| {
        b.to_async(&runtime).iter(|| async {
            encode(&store, Exporter::new(Format::Json, &subject).unwrap(), false).await
        })
    });
    group.bench_function("recorder_locations_json", |b| {
        b.to_async(&runtime).iter(|| async {
            encode(&store, Exporter::recorder(RecorderFormat::Json, 0, "0.1.0", None), true).await
        })
    });
    group.bench_function("export_gpx", |b| {
        b.to_async(&runtime).iter(|| async {
            encode(&store, Exporter::new(Format::Gpx, &subject).unwrap(), false).await
        })
    });
    group.finish();
}

criterion_group!(benches, month);
criterion_main!(benches);
