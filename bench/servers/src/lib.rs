//! What every bench server shares: where to listen and which store to use.

use std::net::SocketAddr;
use std::sync::Arc;

use hallpass::MemoryStore;
use hallpass::store::{MemoryStoreConfig, SessionStore};

/// `127.0.0.1:$PORT` (default 8000). Loopback only.
pub fn addr() -> SocketAddr {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8000);
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `--store VALUE` from the command line, or `default`.
pub fn store_arg(default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|w| w[0] == "--store")
        .map_or_else(|| default.to_owned(), |w| w[1].clone())
}

/// `REDIS_URL`, default the local server's database 15 (run.sh flushes it).
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/15".to_owned())
}

/// The hallpass store `--store` names (default `memory`): the memory store with room
/// for the scale run's million sessions, or any URL `hallpass-stores` opens (a Redis
/// URL means run.sh's database, [`redis_url`]).
///
/// # Errors
///
/// The store cannot be opened.
pub async fn hallpass_store() -> Result<Arc<dyn SessionStore>, hallpass_stores::OpenError> {
    let url = store_arg("memory");
    if url == "memory" || url == "memory:" {
        return Ok(Arc::new(MemoryStore::with_config(
            MemoryStoreConfig::default().with_capacity(2_000_000),
        )));
    }
    let url = if url.starts_with("redis") {
        redis_url()
    } else {
        url
    };
    hallpass_stores::open_in(&url, "hallpass_bench").await
}
