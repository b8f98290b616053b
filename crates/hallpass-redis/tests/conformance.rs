//! The conformance suite against standalone Redis (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`), each test under its own key prefix.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use hallpass_redis::{RedisOptions, RedisStore};
use hallpass_testkit::isolation;

async fn fresh() -> RedisStore {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let options = RedisOptions::default()
        .with_prefix(&format!("{}:", isolation::next_prefix()))
        .unwrap();
    hallpass_redis::connect(&url, options)
        .await
        .expect("Redis reachable at REDIS_URL")
}

mod store {
    hallpass_testkit::store_conformance!(super::fresh());
}

mod http {
    hallpass_testkit::http_conformance!(super::fresh());
}
