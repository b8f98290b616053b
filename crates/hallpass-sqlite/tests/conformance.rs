//! The conformance suite against SQLite files, one per test, in cargo's test tmpdir.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use std::sync::atomic::{AtomicUsize, Ordering};

use hallpass_sql::SqlOptions;
use hallpass_sqlite::SqliteStore;

async fn fresh() -> SqliteStore {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sqlite-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.db", N.fetch_add(1, Ordering::SeqCst)));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    hallpass_sqlite::connect(
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
        hallpass_sqlite::connect("sqlite::memory:", hallpass_sql::SqlOptions::default())
            .await
            .unwrap()
    });
}
