//! The conformance suite against `MemoryStore`.

mod store {
    hallpass_testkit::store_conformance!(async { hallpass::MemoryStore::new() });
}

mod store_single_shard {
    // One shard puts every key in the same lock: rotation within a shard is covered.
    hallpass_testkit::store_conformance!(async {
        hallpass::MemoryStore::with_config(hallpass::MemoryStoreConfig::default().with_shards(1))
    });
}

mod http {
    hallpass_testkit::http_conformance!(async { hallpass::MemoryStore::new() });
}
