//! Failing fast while a database server cannot be reached.
//!
//! sqlx's pool retries a refused connection until its acquire deadline (it takes a
//! refusal for a server still starting up), so with the server down every call would
//! wait out the whole call timeout before its 503. The breaker ends that: a call that
//! ends [`Unavailable`](StoreErrorKind::Unavailable) or timed out starts one probe, a
//! plain connect outside the pool. If the probe cannot connect, the breaker opens and
//! every call fails at once, [`Unavailable`](StoreErrorKind::Unavailable), until a
//! probe (one every [`PROBE_EVERY`]) connects again. A probe that connects leaves the
//! breaker closed: a timeout on a server that answers is slowness, not an outage, and
//! no request is turned away for it.
//!
//! Only the network databases have one: a SQLite file is opened, not reached.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use hallpass::store::{StoreError, StoreErrorKind};
use sqlx::{ConnectOptions, Connection, Database, Pool};

/// How often an open breaker tries to connect.
pub(crate) const PROBE_EVERY: Duration = Duration::from_millis(200);

/// Whether the database was unreachable at the last probe, and whether one runs.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    open: AtomicBool,
    probing: AtomicBool,
}

impl Breaker {
    /// `Err` at once while the breaker is open.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if self.open.load(Ordering::Acquire) {
            return Err(StoreError::msg(
                StoreErrorKind::Unavailable,
                "the database could not be reached at the last try; failing at once until it can",
            ));
        }
        Ok(())
    }

    /// Whether calls fail at once.
    #[cfg(test)]
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Whether a probe runs.
    #[cfg(test)]
    pub(crate) fn probing(&self) -> bool {
        self.probing.load(Ordering::Acquire)
    }

    /// Opens the breaker as a failed probe would.
    #[cfg(test)]
    pub(crate) fn force_open(&self) {
        self.open.store(true, Ordering::Release);
    }

    /// After a call that failed with `err`: starts a probe when the failure may
    /// mean the server is gone and none runs yet (needs a tokio runtime; without
    /// one nothing changes).
    pub(crate) fn failed<DB: Database>(
        self: &Arc<Self>,
        err: &StoreError,
        pool: &Pool<DB>,
        timeout: Duration,
    ) {
        if !matches!(
            err.kind(),
            StoreErrorKind::Unavailable | StoreErrorKind::Timeout
        ) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        runtime.spawn(probe::<DB>(
            Arc::downgrade(self),
            pool.connect_options(),
            timeout,
        ));
    }
}

/// Connects until a connection succeeds (the breaker closes) or the store is gone.
async fn probe<DB: Database>(
    breaker: Weak<Breaker>,
    options: Arc<<DB::Connection as Connection>::Options>,
    timeout: Duration,
) {
    loop {
        let reached = match tokio::time::timeout(timeout, options.connect()).await {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                Ok(())
            }
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("no connection within {timeout:?}")),
        };
        let Some(breaker) = breaker.upgrade() else {
            return;
        };
        match reached {
            Ok(()) => {
                if breaker.open.swap(false, Ordering::AcqRel) {
                    tracing::info!(target: "hallpass::store", "the database is reachable again; calls go through");
                }
                breaker.probing.store(false, Ordering::Release);
                return;
            }
            Err(reason) => {
                if !breaker.open.swap(true, Ordering::AcqRel) {
                    tracing::warn!(target: "hallpass::store", %reason, "the database cannot be reached; calls fail at once until a probe connects");
                }
            }
        }
        drop(breaker);
        tokio::time::sleep(PROBE_EVERY).await;
    }
}
