//! `MemoryStore`: sharded, bounded, exact; for tests and single-process apps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::delta::Admission;
use crate::store::Refusal;
use crate::time::Timestamp;
use crate::token::{Handle, StoreKey};

mod labels;
mod principals;
mod session_store;
mod shard;

use principals::Principals;
use shard::{Removed, Shard, lock};

/// Sizing of a [`MemoryStore`].
///
/// # Examples
///
/// ```
/// use hallpass::MemoryStore;
/// use hallpass::store::MemoryStoreConfig;
///
/// let store = MemoryStore::with_config(MemoryStoreConfig::default().with_capacity(10_000));
/// # let _ = store;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MemoryStoreConfig {
    capacity: usize,
    shards: usize,
}

impl Default for MemoryStoreConfig {
    fn default() -> Self {
        Self {
            capacity: 1_000_000,
            shards: 16,
        }
    }
}

impl MemoryStoreConfig {
    /// The most sessions held at once (default 1,000,000). When full, a new session
    /// first displaces expired ones, then the least recently used anonymous one; if
    /// only authenticated sessions remain, creation fails with
    /// [`StoreErrorKind::CapacityExceeded`](crate::store::StoreErrorKind::CapacityExceeded) and an event, and none is dropped (SR-34).
    #[must_use]
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// The number of independently locked shards (default 16, at least 1).
    #[must_use]
    pub fn with_shards(mut self, shards: usize) -> Self {
        self.shards = shards.clamp(1, 256);
        self
    }
}

/// An in-memory session store, bounded and sharded.
///
/// Clones share the same sessions. Expired sessions are never served (the deadline is
/// checked on every call); [`spawn_cleanup`](crate::spawn_cleanup) frees their memory
/// in the background, as it does for every store.
///
/// # Locking
///
/// A session lives in the shard its handle picks, under that handle, beside the hash
/// of the token that opens it; a rotation swaps the hash in place, so a session never
/// moves between shards or keys.
///
/// Reads, writes, touches and rotations that keep the principal lock one shard.
/// Everything that changes which sessions a principal has — a create or rotation that
/// logs in, a write that logs out, a revoke — first takes the principal gate, which
/// also holds the per-principal index (of handles) and generations; so admission,
/// the cap and "log out everywhere" see no interleaving. The order is always gate,
/// then one shard at a time; no path takes the gate while it holds a shard.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hallpass::{Handle, MemoryStore};
/// use hallpass::store::{Admission, Loaded, Record, SessionStore, StoreKey};
/// use hallpass::time::Timestamp;
///
/// # tokio_test_block_on(async {
/// let store = MemoryStore::new();
/// let now = Timestamp::from_unix_millis(0);
/// let record = Record::new(Handle::generate(), now, Duration::from_secs(60), Duration::from_secs(600));
/// let key = StoreKey::random(&record.handle);
/// store.create(&key, &record, &Admission::default()).await?;
/// assert!(matches!(store.load(&key, now).await?, Loaded::Live(_)));
/// # Ok::<(), hallpass::store::StoreError>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shards: Box<[Mutex<Shard>]>,
    per_shard_capacity: usize,
    gate: Mutex<Principals>,
    labels: labels::LabelIndex,
    tick: AtomicU64,
}

impl MemoryStore {
    /// A store with the default sizing (1,000,000 sessions, 16 shards).
    #[must_use]
    pub fn new() -> Self {
        Self::with_config(MemoryStoreConfig::default())
    }

    /// A store with the given sizing.
    #[must_use]
    pub fn with_config(config: MemoryStoreConfig) -> Self {
        let shards = config.shards;
        Self {
            inner: Arc::new(Inner {
                shards: (0..shards).map(|_| Mutex::default()).collect(),
                per_shard_capacity: config.capacity.div_ceil(shards).max(1),
                gate: Mutex::default(),
                labels: Mutex::default(),
                tick: AtomicU64::new(0),
            }),
        }
    }

    fn next_tick(&self) -> u64 {
        self.inner.tick.fetch_add(1, Ordering::Relaxed)
    }

    /// The shard of a session is chosen by its handle, which a rotation keeps.
    fn shard_of(&self, handle: &Handle) -> MutexGuard<'_, Shard> {
        lock(&self.inner.shards[usize::from(handle.as_bytes()[0]) % self.inner.shards.len()])
    }

    fn shard(&self, key: &StoreKey) -> MutexGuard<'_, Shard> {
        self.shard_of(key.handle())
    }

    fn gate(&self) -> MutexGuard<'_, Principals> {
        lock(&self.inner.gate)
    }

    /// Unindexes removed sessions; takes the gate, so call it with no shard held.
    fn unindex_removed(&self, removed: Removed) {
        if removed.iter().all(|(_, principal)| principal.is_none()) {
            return;
        }
        self.gate().remove_all(removed);
    }

    /// Makes room in a full shard: expired first, then the least recently used
    /// anonymous session. `false` when only live authenticated sessions remain.
    fn make_room(&self, shard: &mut Shard, now: Timestamp, removed: &mut Removed) -> bool {
        if shard.len() < self.inner.per_shard_capacity {
            return true;
        }
        if shard.take_expired(now, usize::MAX, removed) > 0 {
            return true;
        }
        if let Some(handle) = shard.evict_anonymous() {
            tracing::debug!(target: "hallpass::store", handle = %handle, "memory store evicted the least recently used anonymous session");
            return true;
        }
        false
    }

    fn purge_now(&self, now: Timestamp, batch: usize) -> u64 {
        let mut purged = 0usize;
        let mut removed = Removed::new();
        for shard in &*self.inner.shards {
            if purged >= batch {
                break;
            }
            purged += lock(shard).take_expired(now, batch - purged, &mut removed);
        }
        self.unindex_removed(removed);
        self.prune_labels(now);
        u64::try_from(purged).unwrap_or(u64::MAX)
    }

    /// The principal's live sessions other than `own`, as (last seen, created,
    /// handle), read under the gate.
    fn live_sessions_of(
        &self,
        gate: &Principals,
        principal: &str,
        own: Option<&Handle>,
        now: Timestamp,
    ) -> Vec<(Timestamp, Timestamp, Handle)> {
        gate.keys(principal)
            .into_iter()
            .filter(|handle| Some(handle) != own)
            .filter_map(|handle| {
                let shard = self.shard_of(&handle);
                shard
                    .live_handle(&handle, now)
                    .map(|entry| &entry.record)
                    .filter(|record| record.principal.as_deref() == Some(principal))
                    .map(|record| (record.last_seen_at, record.created_at, handle))
            })
            .collect()
    }

    /// Admission of a login of `principal` (under the gate): the generation check,
    /// then the cap. `Ok` holds the sessions to evict once the login is written.
    fn admit(
        &self,
        gate: &Principals,
        principal: &str,
        admission: &Admission,
        own: Option<&Handle>,
        now: Timestamp,
    ) -> Result<Vec<Handle>, Refusal> {
        if admission
            .generation
            .is_some_and(|expected| expected != gate.generation(principal))
        {
            return Err(Refusal::CredentialsChanged);
        }
        let Some(cap) = admission.cap else {
            return Ok(Vec::new());
        };
        cap.victims(self.live_sessions_of(gate, principal, own, now))
    }

    /// Ends the sessions `admit` chose (under the gate); their handles.
    fn evict(&self, gate: &mut Principals, principal: &str, victims: Vec<Handle>) -> Vec<Handle> {
        let mut evicted = Vec::with_capacity(victims.len());
        for handle in victims {
            if self.shard_of(&handle).remove_handle(&handle).is_some() {
                gate.remove(principal, &handle);
                evicted.push(handle);
            }
        }
        evicted
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}
