//! [`InstrumentedStore`]: wraps a real store, counts calls, and can simulate an outage.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hallpass::store::{
    Admission, Applied, Created, Delta, Loaded, Record, Rotated, SessionStore, StoreError,
    StoreErrorKind, StoreFuture, StoreKey, Touch,
};
use hallpass::time::Timestamp;
use hallpass::{Handle, SessionSummary};

/// Counts of store calls, by method.
#[derive(Debug, Default)]
pub struct Calls {
    /// `create` calls.
    pub create: AtomicU64,
    /// `load` calls.
    pub load: AtomicU64,
    /// `apply` calls.
    pub apply: AtomicU64,
    /// `touch` calls.
    pub touch: AtomicU64,
    /// `rotate` calls.
    pub rotate: AtomicU64,
    /// `delete` calls.
    pub delete: AtomicU64,
    /// Every other call.
    pub other: AtomicU64,
}

impl Calls {
    /// The total of all calls.
    pub fn total(&self) -> u64 {
        [
            &self.create,
            &self.load,
            &self.apply,
            &self.touch,
            &self.rotate,
            &self.delete,
            &self.other,
        ]
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum()
    }

    /// Writes: create, apply, touch, rotate, delete.
    pub fn writes(&self) -> u64 {
        [
            &self.create,
            &self.apply,
            &self.touch,
            &self.rotate,
            &self.delete,
        ]
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum()
    }
}

/// A decorator over a real store: counts every call and, while [`set_down`](Self::set_down)
/// is on, fails every call with [`StoreErrorKind::Unavailable`] without reaching the
/// store (fault injection for the layer's fail-closed paths; the store crates test
/// real outages of real servers).
#[derive(Debug, Clone)]
pub struct InstrumentedStore {
    inner: Arc<dyn SessionStore>,
    calls: Arc<Calls>,
    down: Arc<AtomicBool>,
    writes_down: Arc<AtomicBool>,
    /// Milliseconds slept before and again after every call (a slow store).
    latency_ms: Arc<AtomicU64>,
}

impl InstrumentedStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn SessionStore>) -> Self {
        Self {
            inner,
            calls: Arc::default(),
            down: Arc::default(),
            writes_down: Arc::default(),
            latency_ms: Arc::default(),
        }
    }

    /// The call counters.
    pub fn calls(&self) -> &Calls {
        &self.calls
    }

    /// Switches the simulated outage of every call on or off.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Switches a simulated failure of writes only (loads still work).
    pub fn set_writes_down(&self, down: bool) {
        self.writes_down.store(down, Ordering::SeqCst);
    }

    /// Makes every call slow: it waits `latency` before it reaches the store and again
    /// after the store answered, so a request can be cancelled (a client gone, a
    /// timeout) at any point of its commit: before it, while it runs, or after it.
    pub fn set_latency(&self, latency: std::time::Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.latency_ms.store(ms, Ordering::SeqCst);
    }

    async fn slow<T>(&self, call: impl Future<Output = T>) -> T {
        let ms = self.latency_ms.load(Ordering::SeqCst);
        if ms == 0 {
            return call.await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        let out = call.await;
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        out
    }

    fn gate(&self, counter: &AtomicU64, write: bool) -> Result<(), StoreError> {
        counter.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) || (write && self.writes_down.load(Ordering::SeqCst)) {
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "simulated outage"),
            ));
        }
        Ok(())
    }
}

impl SessionStore for InstrumentedStore {
    fn create<'a>(
        &'a self,
        key: &'a StoreKey,
        record: &'a Record,
        admission: &'a Admission,
    ) -> StoreFuture<'a, Created> {
        Box::pin(async move {
            self.gate(&self.calls.create, true)?;
            self.slow(self.inner.create(key, record, admission)).await
        })
    }
    fn create_shared<'a>(
        &'a self,
        key: &'a StoreKey,
        record: &'a mut Arc<Record>,
        admission: &'a Admission,
    ) -> StoreFuture<'a, Created> {
        Box::pin(async move {
            self.gate(&self.calls.create, true)?;
            self.slow(self.inner.create_shared(key, record, admission))
                .await
        })
    }
    fn load<'a>(&'a self, key: &'a StoreKey, now: Timestamp) -> StoreFuture<'a, Loaded> {
        Box::pin(async move {
            self.gate(&self.calls.load, false)?;
            self.slow(self.inner.load(key, now)).await
        })
    }
    fn apply<'a>(
        &'a self,
        key: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, Applied> {
        Box::pin(async move {
            self.gate(&self.calls.apply, true)?;
            self.slow(self.inner.apply(key, delta, now)).await
        })
    }
    /// Counted as an apply: it is one.
    fn increment<'a>(
        &'a self,
        key: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, hallpass::store::Incremented> {
        Box::pin(async move {
            self.gate(&self.calls.apply, true)?;
            self.slow(self.inner.increment(key, delta, now)).await
        })
    }
    /// Counted as an apply: it is one.
    fn take<'a>(
        &'a self,
        key: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, hallpass::store::Taken> {
        Box::pin(async move {
            self.gate(&self.calls.apply, true)?;
            self.slow(self.inner.take(key, delta, now)).await
        })
    }
    fn touch<'a>(
        &'a self,
        key: &'a StoreKey,
        touch: Touch,
        now: Timestamp,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.gate(&self.calls.touch, true)?;
            self.slow(self.inner.touch(key, touch, now)).await
        })
    }
    fn rotate<'a>(
        &'a self,
        old: &'a StoreKey,
        new: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, Rotated> {
        Box::pin(async move {
            self.gate(&self.calls.rotate, true)?;
            self.slow(self.inner.rotate(old, new, delta, now)).await
        })
    }
    fn delete<'a>(
        &'a self,
        key: &'a StoreKey,
    ) -> StoreFuture<'a, Option<hallpass::store::Deleted>> {
        Box::pin(async move {
            self.gate(&self.calls.delete, true)?;
            self.slow(self.inner.delete(key)).await
        })
    }
    fn load_handle<'a>(
        &'a self,
        handle: &'a Handle,
        now: Timestamp,
    ) -> StoreFuture<'a, Option<(StoreKey, Record)>> {
        Box::pin(async move {
            self.gate(&self.calls.other, false)?;
            self.slow(self.inner.load_handle(handle, now)).await
        })
    }
    fn revoke<'a>(&'a self, handle: &'a Handle) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.gate(&self.calls.other, true)?;
            self.slow(self.inner.revoke(handle)).await
        })
    }
    fn list_principal<'a>(
        &'a self,
        principal: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, Vec<SessionSummary>> {
        Box::pin(async move {
            self.gate(&self.calls.other, false)?;
            self.slow(self.inner.list_principal(principal, now)).await
        })
    }
    fn list_sessions<'a>(
        &'a self,
        cursor: Option<&'a str>,
        limit: usize,
        now: Timestamp,
    ) -> StoreFuture<'a, hallpass::store::SessionPage> {
        Box::pin(async move {
            self.gate(&self.calls.other, false)?;
            self.slow(self.inner.list_sessions(cursor, limit, now))
                .await
        })
    }
    fn revoke_principal<'a>(
        &'a self,
        principal: &'a str,
        except: Option<&'a Handle>,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            self.gate(&self.calls.other, true)?;
            self.slow(self.inner.revoke_principal(principal, except))
                .await
        })
    }
    fn generation<'a>(&'a self, principal: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            self.gate(&self.calls.other, false)?;
            self.slow(self.inner.generation(principal)).await
        })
    }
    fn purge_expired(&self, now: Timestamp, batch: usize) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            self.gate(&self.calls.other, true)?;
            self.slow(self.inner.purge_expired(now, batch)).await
        })
    }
    fn count(&self, now: Timestamp) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            self.gate(&self.calls.other, false)?;
            self.slow(self.inner.count(now)).await
        })
    }

    fn revoke_label<'a>(
        &'a self,
        name: &'a str,
        value: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            self.gate(&self.calls.other, true)?;
            self.slow(self.inner.revoke_label(name, value, now)).await
        })
    }
}
