//! The conformance suite against `MemoryStore`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod store {
    hallpass_testkit::store_conformance!(async { hallpass::MemoryStore::new() });
}

mod store_single_shard {
    // One shard puts every key in the same lock: rotation within a shard is covered.
    hallpass_testkit::store_conformance!(async {
        hallpass::MemoryStore::with_config(
            hallpass::store::MemoryStoreConfig::default().with_shards(1),
        )
    });
}

mod http {
    hallpass_testkit::http_conformance!(async { hallpass::MemoryStore::new() });
}
