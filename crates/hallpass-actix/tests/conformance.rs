//! The HTTP conformance suite — every lifecycle rule and every race case — on
//! actix-web, over a loopback socket, against the memory store, SQLite and Redis
//! (`REDIS_URL`, default `redis://127.0.0.1:6379`). The same cases run on axum in each
//! store's own crate; the handlers are the same code on both frameworks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use std::sync::atomic::{AtomicUsize, Ordering};

use hallpass_redis::{RedisOptions, RedisStore};
use hallpass_sql::SqlOptions;
use hallpass_sql::sqlite::SqliteStore;
use hallpass_testkit::isolation;

async fn sqlite() -> SqliteStore {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("actix-sqlite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.db", N.fetch_add(1, Ordering::SeqCst)));
    hallpass_sql::sqlite::connect(
        &format!("sqlite://{}", path.display()),
        SqlOptions::default(),
    )
    .await
    .unwrap()
}

async fn redis() -> RedisStore {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let options = RedisOptions::default()
        .with_prefix(&format!("{}:", isolation::next_prefix()))
        .unwrap();
    hallpass_redis::connect(&url, options)
        .await
        .expect("Redis reachable at REDIS_URL")
}

mod memory {
    hallpass_testkit::http_conformance!(async { hallpass::MemoryStore::new() }, on = Actix);
}

mod sqlite {
    hallpass_testkit::http_conformance!(super::sqlite(), on = Actix);
}

mod redis {
    hallpass_testkit::http_conformance!(super::redis(), on = Actix);
}
