//! The conformance suite against a 3-master Redis Cluster on loopback
//! (`REDIS_CLUSTER_NODES`, default the one `scripts/redis-cluster start` runs on
//! ports 7101-7103, which this test starts if it is not up).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use hallpass_redis::{RedisOptions, RedisStore};
use hallpass_testkit::isolation;

async fn ensure_cluster() {
    static STARTED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    STARTED
        .get_or_init(|| async {
            if std::env::var("REDIS_CLUSTER_NODES").is_ok() {
                return;
            }
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/redis-cluster");
            let status = tokio::process::Command::new("bash")
                .arg(script)
                .arg("start")
                .status()
                .await
                .unwrap();
            assert!(status.success(), "scripts/redis-cluster start failed");
        })
        .await;
}

async fn fresh() -> RedisStore {
    ensure_cluster().await;
    let nodes = std::env::var("REDIS_CLUSTER_NODES").unwrap_or_else(|_| {
        "redis://127.0.0.1:7101,redis://127.0.0.1:7102,redis://127.0.0.1:7103".to_owned()
    });
    let nodes: Vec<&str> = nodes.split(',').collect();
    let options = RedisOptions::default()
        .with_prefix(&format!("{}:", isolation::next_prefix()))
        .unwrap();
    hallpass_redis::connect_cluster(&nodes, options)
        .await
        .expect("the Redis Cluster is reachable")
}

mod store {
    hallpass_testkit::store_conformance!(super::fresh());
}

mod http {
    hallpass_testkit::http_conformance!(super::fresh());
}
