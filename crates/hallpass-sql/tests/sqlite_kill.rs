//! A process killed with SIGKILL in the middle of writing leaves the SQLite file
//! consistent: `PRAGMA integrity_check` is clean, every write the writer reported as
//! committed is there, and the store keeps working on the file.
//!
//! This binary is its own harness: run plainly it is the parent, which starts itself
//! again as the writer (`HALLPASS_KILL_WRITER`), lets it commit a few hundred
//! transactions, kills it, and checks the file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "a test harness"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use hallpass::Handle;
use hallpass::store::{Applied, Delta, Loaded, Record, SessionStore, StoreKey};
use hallpass_sql::SqlOptions;
use sqlx::Row;

fn url(path: &str) -> String {
    format!("sqlite://{path}")
}

/// The child: increments one session and creates another per iteration, printing
/// the committed counter after each commit, until killed.
async fn writer(path: &str, key: StoreKey) {
    let store = hallpass_sql::sqlite::connect(&url(path), SqlOptions::default())
        .await
        .unwrap();
    let now = hallpass::time::Clock::now(&hallpass::time::SystemClock);
    let mut out = std::io::stdout().lock();
    loop {
        let mut delta = Delta::default();
        delta.increment("n", 1);
        delta.set("padding", "x".repeat(2_000).into());
        let Applied::Updated(record) = store.apply(&key, &delta, now).await.unwrap() else {
            panic!("gone")
        };
        let extra = Record::new(
            Handle::generate(),
            now,
            Duration::from_secs(600),
            Duration::from_secs(3600),
        );
        store
            .create(
                &StoreKey::random(&extra.handle),
                &extra,
                &hallpass::store::Admission::default(),
            )
            .await
            .unwrap();
        writeln!(out, "{}", record.data["n"]).unwrap();
        out.flush().unwrap();
    }
}

async fn parent() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sqlite-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sessions.db").display().to_string();
    let now = hallpass::time::Clock::now(&hallpass::time::SystemClock);
    let handle = Handle::generate();
    let key = StoreKey::random(&handle);
    {
        let store = hallpass_sql::sqlite::connect(&url(&path), SqlOptions::default())
            .await
            .unwrap();
        let record = Record::new(
            handle,
            now,
            Duration::from_secs(600),
            Duration::from_secs(3600),
        );
        store
            .create(&key, &record, &hallpass::store::Admission::default())
            .await
            .unwrap();
        store.pool().close().await;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(
            "HALLPASS_KILL_WRITER",
            format!("{path}|{handle}|{}", key.to_hex()),
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last = 0i64;
    while last < 300 {
        last = lines
            .next()
            .expect("the writer keeps writing")
            .unwrap()
            .parse()
            .unwrap();
    }
    child.kill().unwrap(); // SIGKILL, most likely inside a transaction
    child.wait().unwrap();

    let store = hallpass_sql::sqlite::connect(&url(&path), SqlOptions::default())
        .await
        .unwrap();
    let check: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(check, "ok");
    let Loaded::Live(record) = store.load(&key, now).await.unwrap() else {
        panic!("the session is gone")
    };
    let n = record.data["n"].as_i64().unwrap();
    assert!(n >= last, "a reported commit was lost: {n} < {last}");
    assert_eq!(
        record.version,
        u64::try_from(n).unwrap() + 1,
        "version and counter moved together"
    );
    let count = store.count(now).await.unwrap();
    assert!(
        count >= u64::try_from(last).unwrap(),
        "{count} sessions for {last} iterations"
    );
    let mut delta = Delta::default();
    delta.increment("n", 1);
    assert!(matches!(
        store.apply(&key, &delta, now).await.unwrap(),
        Applied::Updated(_)
    ));
    std::fs::remove_dir_all(&dir).unwrap();
    println!(
        "test sqlite_killed_mid_write_leaves_a_consistent_file ... ok ({last} commits reported, {n} found)"
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match std::env::var("HALLPASS_KILL_WRITER") {
        Ok(spec) => {
            let mut parts = spec.split('|');
            let (path, handle, key) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            let key = StoreKey::from_hex(handle.parse().unwrap(), key).unwrap();
            runtime.block_on(writer(path, key));
        }
        Err(_) => runtime.block_on(parent()),
    }
}
