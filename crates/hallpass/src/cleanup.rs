//! Purging expired sessions: a one-shot [`purge_expired`] in bounded batches, and a
//! background task that keeps doing it and survives store errors.
//!
//! Every store refuses to serve an expired session whether or not it was purged; this
//! only frees space.

use std::sync::Arc;
use std::time::Duration;

use crate::store::{SessionStore, StoreError};
use crate::time::Clock;

/// How the background cleanup runs.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let config = hallpass::CleanupConfig::default().with_every(Duration::from_secs(300));
/// # let _ = config;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CleanupConfig {
    every: Duration,
    batch: usize,
    max_backoff: Duration,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(60),
            batch: 1_000,
            max_backoff: Duration::from_secs(600),
        }
    }
}

impl CleanupConfig {
    /// Time between runs (default 60 s).
    #[must_use]
    pub fn with_every(mut self, every: Duration) -> Self {
        self.every = every.max(Duration::from_millis(1));
        self
    }

    /// Sessions deleted per store call (default 1,000).
    #[must_use]
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// The longest wait after repeated failures (default 10 minutes); the wait doubles
    /// from `every` after each failed run and resets after a good one.
    #[must_use]
    pub fn with_max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }
}

/// Deletes every session expired at the clock's `now`, `batch` at a time, calling
/// `progress` with the running total after each batch. Returns the total.
///
/// # Errors
///
/// The first store error; what was purged before it stays purged, and running again
/// carries on (purging is idempotent).
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use hallpass::MemoryStore;
/// use hallpass::time::SystemClock;
/// let store = MemoryStore::new();
/// let purged = hallpass::store::purge_expired(&store, &SystemClock, 1_000, |_| {}).await?;
/// assert_eq!(purged, 0);
/// # Ok::<(), hallpass::store::StoreError>(())
/// # }).unwrap();
/// ```
pub async fn purge_expired(
    store: &dyn SessionStore,
    clock: &dyn Clock,
    batch: usize,
    mut progress: impl FnMut(u64),
) -> Result<u64, StoreError> {
    let batch = batch.max(1);
    let now = clock.now();
    let mut total = 0u64;
    loop {
        let purged = store.purge_expired(now, batch).await?;
        total += purged;
        progress(total);
        if usize::try_from(purged).is_ok_and(|p| p < batch) {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// Starts a task on the current tokio runtime that purges expired sessions every
/// [`CleanupConfig::with_every`]. A failed run is logged as a `cleanup_failed` event
/// under `hallpass::event` and retried with exponential backoff; the task never
/// stops by itself (abort the handle to stop it).
///
/// # Panics
///
/// When called outside a tokio runtime, as `tokio::spawn` does.
pub fn spawn_cleanup(
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    config: CleanupConfig,
) -> tokio::task::JoinHandle<()> {
    let store = crate::telemetry::metered(store);
    tokio::spawn(async move {
        let mut wait = config.every;
        loop {
            tokio::time::sleep(wait).await;
            match purge_expired(&*store, &*clock, config.batch, |_| {}).await {
                Ok(purged) => {
                    if purged > 0 {
                        tracing::debug!(target: "hallpass::event", event = "purged", purged, "expired sessions purged");
                    }
                    if crate::telemetry::ON {
                        // The gauge of live sessions: one count per purge round (a
                        // SCAN on Redis, an indexed COUNT in SQL).
                        if let Ok(live) = store.count(clock.now()).await {
                            crate::telemetry::live_sessions(live);
                        }
                    }
                    wait = config.every;
                }
                Err(err) => {
                    wait = (wait * 2).min(config.max_backoff.max(config.every));
                    tracing::warn!(
                        target: "hallpass::event",
                        event = "cleanup_failed",
                        error = %err,
                        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "purging expired sessions failed; will retry"
                    );
                }
            }
        }
    })
}
