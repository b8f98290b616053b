//! `hallpass purge` over 100,000 expired sessions: every one deleted, in batches of
//! at most `--batch`, in bounded memory (the binary's peak RSS, read from /proc while
//! it runs), with live sessions left alone. The progress bar itself only draws on a
//! terminal; `--log-batches` gives the batches as lines, which is what is asserted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{env_or, seed, suffix};
use hallpass::time::{Clock as _, SystemClock};

const EXPIRED: u64 = 100_000;
/// Peak resident memory allowed for the purging process.
const MAX_RSS_KIB: u64 = 64 * 1024;

const SQLITE_BULK: &str = "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 100000) \
     INSERT INTO {t} (token_hash, handle, principal, data, created_at, last_seen_at, idle_deadline, \
     absolute_deadline, expires_at, version, remember) SELECT randomblob(32), randomblob(16), NULL, '{}', 0, 0, 1000, 2000, 1000, 1, 0 FROM g";

const POSTGRES_BULK: &str = "INSERT INTO {t} (token_hash, handle, principal, data, created_at, last_seen_at, idle_deadline, \
     absolute_deadline, expires_at, version, remember) SELECT sha256(int8send(g)), decode(lpad(to_hex(g), 32, '0'), 'hex'), \
     NULL, '{}', 0, 0, 1000, 2000, 1000, 1, false FROM generate_series(1, 100000) AS g";

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the purge, sampling the child's high-water mark until it exits.
fn purge_watched(url: &str, ns: &str) -> (String, String, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args([
            "--store",
            url,
            "--namespace",
            ns,
            "purge",
            "--batch",
            "1000",
            "--log-batches",
        ])
        .env_remove("HALLPASS_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap());
    while child.try_wait().unwrap().is_none() {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = std::io::read_to_string(child.stdout.take().unwrap()).unwrap();
    let err = reader.join().unwrap();
    assert!(child.wait().unwrap().success(), "{out}\n{err}");
    (out, err, peak)
}

async fn purge_100k(url: &str, bulk: &str) {
    let dir = tempfile::tempdir().unwrap();
    let url = url.replace("{dir}", &dir.path().display().to_string());
    let ns = format!("cli_{}", suffix());
    let store = hallpass_stores::open_in(&url, &ns).await.unwrap();
    for _ in 0..5 {
        seed(
            &store,
            Some("keeper"),
            Duration::from_secs(3600),
            "192.0.2.1",
            "live",
            &[],
        )
        .await;
    }
    let insert = bulk.replace("{t}", &format!("{ns}_sessions"));
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(insert))
        .execute(&pool)
        .await
        .unwrap();
    let epoch = hallpass::time::Timestamp::from_unix_millis(0);
    assert_eq!(store.count(epoch).await.unwrap(), EXPIRED + 5);

    let (out, err, peak) = purge_watched(&url, &ns);
    assert!(
        out.starts_with(&format!(
            "purged {EXPIRED} expired sessions in 101 batches of at most 1000"
        )),
        "{out}"
    );
    let batches: Vec<u64> = err
        .lines()
        .filter(|l| l.starts_with("batch "))
        .map(|l| l.split_whitespace().nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(batches.len(), 101, "{err}");
    assert!(
        batches.iter().all(|&n| n <= 1000),
        "a batch over 1000: {batches:?}"
    );
    assert_eq!(batches.iter().sum::<u64>(), EXPIRED);
    assert!(peak > 0, "the child's memory was never sampled");
    assert!(peak < MAX_RSS_KIB, "peak RSS {peak} KiB");
    assert_eq!(store.count(SystemClock.now()).await.unwrap(), 5);
    assert_eq!(
        store.count(epoch).await.unwrap(),
        5,
        "only the live sessions are left"
    );
    eprintln!("purged {EXPIRED} at a peak RSS of {peak} KiB");
}

#[tokio::test]
async fn sqlite_file() {
    sqlx::any::install_default_drivers();
    purge_100k("sqlite://{dir}/big.db", SQLITE_BULK).await;
}

#[tokio::test]
async fn postgres() {
    sqlx::any::install_default_drivers();
    purge_100k(
        &env_or(
            "DATABASE_URL_POSTGRES",
            "postgres://postgres@127.0.0.1:5432/test",
        ),
        POSTGRES_BULK,
    )
    .await;
}
