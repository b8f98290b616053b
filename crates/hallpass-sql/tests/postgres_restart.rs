//! PostgreSQL stops and starts under a live store: calls during the outage fail fast
//! with a typed error, every session committed before it is intact after it, and the
//! store serves again without being rebuilt. Stops the local cluster with
//! `pg_ctlcluster` (set `HALLPASS_PG_CLUSTER`, e.g. `15/main`, to choose one); it is
//! its own test binary so no other PostgreSQL test runs meanwhile, and its two tests
//! take turns through [`SERVER`].

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hallpass::Handle;
use hallpass::store::{Applied, Delta, Loaded, Record, SessionStore, StoreErrorKind, StoreKey};
use hallpass_sql::SqlOptions;

fn cluster() -> (String, String) {
    if let Ok(spec) = std::env::var("HALLPASS_PG_CLUSTER") {
        let (version, name) = spec
            .split_once('/')
            .expect("HALLPASS_PG_CLUSTER is VERSION/NAME");
        return (version.to_owned(), name.to_owned());
    }
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("a Debian PostgreSQL cluster under /etc/postgresql (or set HALLPASS_PG_CLUSTER)")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .max()
        .expect("a PostgreSQL version under /etc/postgresql");
    (version, "main".to_owned())
}

fn pg_ctl(action: &str) {
    let (version, name) = cluster();
    let status = Command::new("pg_ctlcluster")
        .args([
            "--skip-systemctl-redirect",
            "-m",
            "fast",
            &version,
            &name,
            action,
        ])
        .status()
        .expect("pg_ctlcluster runs");
    assert!(status.success(), "pg_ctlcluster {action} failed: {status}");
}

/// The two tests here stop the same server: one at a time.
static SERVER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn url() -> String {
    std::env::var("DATABASE_URL_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Starts the server again however the test ends.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        let (version, name) = cluster();
        let _ = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, &name, "start"])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart_and_the_store_recovers_by_itself() {
    let _turn = SERVER.lock().await;
    let url = url();
    let prefix = format!("hpr{}_", std::process::id());
    let options = SqlOptions::default()
        .with_table_prefix(&prefix)
        .unwrap()
        .with_call_timeout(Duration::from_secs(2));
    let store = hallpass_sql::postgres::connect(&url, options)
        .await
        .expect("PostgreSQL reachable");
    let now = hallpass::time::Clock::now(&hallpass::time::SystemClock);
    let mut sessions = Vec::new();
    for i in 0..50i64 {
        let handle = Handle::generate();
        let key = StoreKey::random(&handle);
        let mut record = Record::new(
            handle,
            now,
            Duration::from_secs(600),
            Duration::from_secs(3600),
        );
        record.principal = Some(format!("user{i}").into());
        record.data.insert("n".into(), i.into());
        store
            .create(&key, &record, &hallpass::store::Admission::default())
            .await
            .unwrap();
        let mut delta = Delta::default();
        delta.increment("n", 1000);
        let Applied::Updated(record) = store.apply(&key, &delta, now).await.unwrap() else {
            panic!("apply")
        };
        sessions.push((key, record));
    }

    let guard = Restart;
    pg_ctl("stop");
    let started = Instant::now();
    let err = store.load(&sessions[0].0, now).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            StoreErrorKind::Unavailable | StoreErrorKind::Timeout
        ),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "failed fast: {:?}",
        started.elapsed()
    );
    pg_ctl("start");
    drop(guard);

    // The same store, not rebuilt, serves again once the server accepts connections.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match store.load(&sessions[0].0, now).await {
            Ok(_) => break,
            Err(err) if Instant::now() < deadline => {
                assert!(
                    matches!(
                        err.kind(),
                        StoreErrorKind::Unavailable | StoreErrorKind::Timeout
                    ),
                    "{err}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("the store did not recover within 30 s: {err}"),
        }
    }
    for (key, before) in &sessions {
        assert_eq!(
            store.load(key, now).await.unwrap(),
            Loaded::Live(before.clone()),
            "committed before the restart"
        );
    }
    let mut delta = Delta::default();
    delta.increment("n", 1);
    let Applied::Updated(after) = store.apply(&sessions[7].0, &delta, now).await.unwrap() else {
        panic!("apply")
    };
    assert_eq!(after.data["n"], 1008);
    common::drop_own_tables(store.pool(), store.options()).await;
}

/// Issue 8's fault test: concurrent requests through the layer while PostgreSQL stops
/// for three seconds and starts again — fast 503s without Set-Cookie during the
/// outage, service again after it without rebuilding anything, no session lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_during_a_restart_get_fast_503s_and_nothing_is_lost() {
    let _turn = SERVER.lock().await;
    let call_timeout = Duration::from_secs(1);
    let prefix = format!("hpo{}_", std::process::id());
    let options = SqlOptions::default()
        .with_table_prefix(&prefix)
        .unwrap()
        .with_call_timeout(call_timeout);
    let store = Arc::new(
        hallpass_sql::postgres::connect(&url(), options)
            .await
            .expect("PostgreSQL reachable"),
    );
    let guard = Restart;
    let outage = hallpass_testkit::fault_cases::outage_under_load(
        Arc::clone(&store) as Arc<dyn SessionStore>,
        call_timeout,
        || pg_ctl("stop"),
        || pg_ctl("start"),
    )
    .await;
    // The breaker: while the server is down a call fails at once instead of waiting
    // out its timeout in sqlx's connect retries (the median was the whole second
    // before it; 0.1 ms with it).
    assert!(
        outage.median_503() < call_timeout / 4,
        "503s took {:?} at the median, near the {call_timeout:?} call timeout: calls wait for a server that is down",
        outage.median_503()
    );
    drop(guard);
    common::drop_own_tables(store.pool(), store.options()).await;
}
