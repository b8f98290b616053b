//! Every URL form opens a working store over the real servers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use std::time::Duration;

use hallpass::Handle;
use hallpass::store::{Loaded, Record, StoreKey};

async fn round_trip(url: &str) {
    let store = hallpass_stores::open(url)
        .await
        .unwrap_or_else(|err| panic!("{url}: {err}"));
    let now = hallpass::time::Clock::now(&hallpass::time::SystemClock);
    let record = Record::new(
        Handle::generate(),
        now,
        Duration::from_secs(60),
        Duration::from_secs(600),
    );
    let key = StoreKey::random(&record.handle);
    store
        .create(&key, &record, &hallpass::store::Admission::default())
        .await
        .unwrap();
    assert_eq!(
        store.load(&key, now).await.unwrap(),
        Loaded::Live(std::sync::Arc::new(record))
    );
    assert!(store.delete(&key).await.unwrap().is_some());
}

#[tokio::test]
async fn every_scheme_opens_a_working_store() {
    let dir = tempfile::tempdir().unwrap();
    round_trip("memory:").await;
    round_trip("sqlite::memory:").await;
    round_trip(&format!("sqlite://{}", dir.path().join("s.db").display())).await;
    let pg = std::env::var("DATABASE_URL_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    round_trip(&pg).await;
    let my = std::env::var("DATABASE_URL_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    round_trip(&my).await;
    round_trip(&my.replacen("mysql:", "mariadb:", 1)).await;
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    round_trip(&redis).await;
    let status = std::process::Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/redis-cluster"
        ))
        .arg("start")
        .status()
        .unwrap();
    assert!(status.success());
    round_trip("redis-cluster://127.0.0.1:7101,127.0.0.1:7102").await;
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error() {
    let err = hallpass_stores::open("postgres://postgres@127.0.0.1:1/test")
        .await
        .err()
        .unwrap();
    assert!(!err.is_bad_url());
    assert!(
        err.to_string().starts_with("cannot connect to PostgreSQL"),
        "{err}"
    );
    assert!(hallpass_stores::open("sqlite://").await.is_err());
    assert!(
        hallpass_stores::open("nope://x")
            .await
            .err()
            .unwrap()
            .is_bad_url()
    );
}
