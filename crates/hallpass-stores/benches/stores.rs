//! Store call latency against the local servers: `load`, `apply` (one increment) and
//! `create`, for SQLite (a file), PostgreSQL and MySQL/MariaDB.
//!
//! ```text
//! cargo bench -p hallpass-stores --bench stores
//! ```

#![allow(
    clippy::unwrap_used,
    missing_docs,
    reason = "a benchmark harness: a setup failure should abort the run"
)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hallpass::Handle;
use hallpass::store::{Delta, Record, SessionStore, StoreKey};

fn targets(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        (
            "sqlite",
            format!("sqlite://{}", dir.join("bench.db").display()),
        ),
        (
            "postgres",
            std::env::var("DATABASE_URL_POSTGRES")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
        ),
        (
            "mysql",
            std::env::var("DATABASE_URL_MYSQL")
                .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into()),
        ),
    ]
}

fn record() -> Record {
    let now = hallpass::time::Clock::now(&hallpass::time::SystemClock);
    let mut record = Record::new(
        Handle::generate(),
        now,
        Duration::from_secs(3600),
        Duration::from_secs(7200),
    );
    record.principal = Some("alice".into());
    record.data.insert("views".into(), 0.into());
    record
}

fn stores(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in targets(dir.path()) {
        let store: Arc<dyn SessionStore> = runtime.block_on(hallpass_stores::open(&url)).unwrap();
        let keys: Vec<StoreKey> = runtime.block_on(async {
            let mut keys = Vec::new();
            for _ in 0..1_000 {
                let record = record();
                let key = StoreKey::random(&record.handle);
                store
                    .create(&key, &record, &hallpass::store::Admission::default())
                    .await
                    .unwrap();
                keys.push(key);
            }
            keys
        });
        let mut group = c.benchmark_group(name);
        group.measurement_time(Duration::from_secs(4));
        let mut i = 0usize;
        group.bench_function("load", |b| {
            b.iter(|| {
                i = (i + 1) % keys.len();
                runtime
                    .block_on(store.load(
                        &keys[i],
                        hallpass::time::Clock::now(&hallpass::time::SystemClock),
                    ))
                    .unwrap()
            })
        });
        let mut delta = Delta::default();
        delta.increment("views", 1);
        group.bench_function("apply", |b| {
            b.iter(|| {
                i = (i + 1) % keys.len();
                runtime
                    .block_on(store.apply(
                        &keys[i],
                        &delta,
                        hallpass::time::Clock::now(&hallpass::time::SystemClock),
                    ))
                    .unwrap()
            })
        });
        let mut created = Vec::new();
        group.bench_function("create", |b| {
            b.iter(|| {
                let record = record();
                let key = StoreKey::random(&record.handle);
                runtime
                    .block_on(store.create(&key, &record, &hallpass::store::Admission::default()))
                    .unwrap();
                created.push(key);
            })
        });
        group.finish();
        runtime.block_on(async {
            for key in keys.iter().chain(&created) {
                store.delete(key).await.unwrap();
            }
        });
    }
}

criterion_group!(benches, stores);
criterion_main!(benches);
