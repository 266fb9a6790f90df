//! Write throughput of the storage: batches of locations from many devices, as the ingest writer
//! hands them over (one transaction per batch), into a fresh SQLite file — and into PostgreSQL or
//! MariaDB when `PISTA_BENCH_PG_URL` / `PISTA_BENCH_MYSQL_URL` name a database to fill.
//!
//! `cargo bench -p pista-store --bench write`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicI64, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pista_core::{DeviceKey, Location, Replay, Source};
use pista_store::{NewBody, NewMessage, SqlStore, Storage};
use serde_json::{Value, json};

const DEVICES: usize = 50;

/// The `n`th fix of `device`, as the decoder hands it to storage.
fn message(device: usize, n: i64) -> NewMessage {
    let key = DeviceKey::parse("bench", &format!("d{device}")).unwrap();
    let angle = n as f64 * 0.01 + device as f64;
    let json = json!({
        "_type": "location", "tid": "bb", "tst": 1_700_000_000 + n,
        "lat": 48.0 + device as f64 * 0.05 + 0.01 * angle.sin(),
        "lon": 11.0 + 0.01 * angle.cos(), "acc": 5 + n % 20, "vel": 30, "cog": 90,
        "batt": 80, "t": "u", "conn": "m",
    });
    let Value::Object(object) = json else { unreachable!() };
    let location = Location::from_json(object, || key.device.default_tid()).unwrap();
    let payload = serde_json::to_string(&location.json).unwrap();
    NewMessage {
        topic: format!("owntracks/{}/{}", key.user, key.device),
        key: Some(key),
        subtopic: None,
        source: Source::Mqtt,
        retained: false,
        replay: Replay::Fresh,
        received_at: 1_700_000_000 + n,
        body: NewBody::Location { location: Box::new(location), payload, original: None },
    }
}

fn batches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut targets = vec![("sqlite", format!("sqlite://{}", dir.path().join("b.db").display()))];
    for (name, var) in [("postgres", "PISTA_BENCH_PG_URL"), ("mariadb", "PISTA_BENCH_MYSQL_URL")] {
        if let Ok(url) = std::env::var(var) {
            targets.push((name, url));
        }
    }
    let mut group = c.benchmark_group("write");
    group.sample_size(20);
    for (name, url) in targets {
        let store = runtime.block_on(SqlStore::open(&url)).unwrap();
        let next = AtomicI64::new(0);
        for size in [100usize, 1000] {
            group.throughput(Throughput::Elements(size as u64));
            group.bench_with_input(BenchmarkId::new(name, size), &size, |b, &size| {
                b.to_async(&runtime).iter_batched(
                    || {
                        let start = next.fetch_add((size / DEVICES) as i64 + 1, Ordering::Relaxed);
                        (0..size)
                            .map(|i| message(i % DEVICES, start + (i / DEVICES) as i64))
                            .collect::<Vec<_>>()
                    },
                    |batch| {
                        let store = &store;
                        async move { store.write(&batch).await.unwrap() }
                    },
                    criterion::BatchSize::SmallInput,
                );
            });
        }
    }
    group.finish();
}

criterion_group!(benches, batches);
criterion_main!(benches);
