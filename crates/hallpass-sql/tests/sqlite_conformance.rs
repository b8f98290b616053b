//! The conformance suite against SQLite files, one per test, in cargo's test tmpdir.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use std::sync::atomic::{AtomicUsize, Ordering};

use hallpass_sql::SqlOptions;
use hallpass_sql::sqlite::SqliteStore;

async fn fresh() -> SqliteStore {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sqlite-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.db", N.fetch_add(1, Ordering::SeqCst)));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    hallpass_sql::sqlite::connect(
        &format!("sqlite://{}", path.display()),
        SqlOptions::default(),
    )
    .await
    .unwrap()
}

mod store {
    hallpass_testkit::store_conformance!(super::fresh());
}

mod http {
    hallpass_testkit::http_conformance!(super::fresh());
}

mod in_memory {
    hallpass_testkit::store_conformance!(async {
        hallpass_sql::sqlite::connect("sqlite::memory:", hallpass_sql::SqlOptions::default())
            .await
            .unwrap()
    });
}

const BULK_INSERT: &str = "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 100000) \
     INSERT INTO {t} (token_hash, handle, principal, data, created_at, last_seen_at, idle_deadline, \
     absolute_deadline, expires_at, version, remember) SELECT randomblob(32), randomblob(16), NULL, '{{}}', 0, 0, 1000, 2000, 1000, 1, 0 FROM g";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_of_100k_expired_sessions_runs_in_bounded_batches() {
    let store = fresh().await;
    let insert = BULK_INSERT
        .replace("{t}", &store.options().table("sessions"))
        .replace("{{}}", "{}");
    sqlx::query(sqlx::AssertSqlSafe(insert))
        .execute(store.pool())
        .await
        .unwrap();
    hallpass_testkit::store_cases::purge_bulk_in_bounded_batches(
        std::sync::Arc::new(store),
        100_000,
    )
    .await;
}
