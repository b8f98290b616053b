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
    // Admission (cap, generation) on Redis is not yet one atomic step: the Redis
    // store v2 issue moves it into the session's write.
    hallpass_testkit::store_conformance!(
        super::fresh(),
        admission_not_atomic = "the principal index and generation live in other slots than the session; the Redis store v2 issue makes admission one step"
    );
}

mod http {
    hallpass_testkit::http_conformance!(
        super::fresh(),
        admission_not_atomic = "the principal index and generation live in other slots than the session; the Redis store v2 issue makes admission one step"
    );
}
