//! `MemoryStore`: sharded, bounded, exact; for tests and single-process apps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::delta::{Admission, Delta};
use crate::record::Record;
use crate::store::{Refusal, Rotated, StoreError, StoreErrorKind};
use crate::time::Timestamp;
use crate::token::{Handle, StoreKey};

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
    /// [`StoreErrorKind::CapacityExceeded`] and an event, and none is dropped (SR-34).
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
/// Reads, writes and touches lock one shard. Everything that changes which sessions a
/// principal has — a create or rotation that logs in, a rotation, a revoke — first
/// takes the principal gate, which also holds the per-principal index and
/// generations; so admission, the cap and "log out everywhere" see no interleaving.
/// The order is always gate, then shards (in index order), then a handle map; no path
/// takes the gate while it holds a shard.
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
    handles: Box<[Mutex<HashMap<Handle, StoreKey>>]>,
    gate: Mutex<Principals>,
    tick: AtomicU64,
}

/// What a rotation did inside its shards, for [`MemoryStore::finish_rotation`].
struct Moved {
    before: Option<String>,
    record: Arc<Record>,
    removed: Removed,
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
                handles: (0..shards).map(|_| Mutex::default()).collect(),
                gate: Mutex::default(),
                tick: AtomicU64::new(0),
            }),
        }
    }

    fn next_tick(&self) -> u64 {
        self.inner.tick.fetch_add(1, Ordering::Relaxed)
    }

    fn shard_of(&self, key: &StoreKey) -> usize {
        usize::from(key.hash()[0]) % self.inner.shards.len()
    }

    fn shard(&self, key: &StoreKey) -> MutexGuard<'_, Shard> {
        lock(&self.inner.shards[self.shard_of(key)])
    }

    fn gate(&self) -> MutexGuard<'_, Principals> {
        lock(&self.inner.gate)
    }

    fn handle_map(&self, handle: &Handle) -> MutexGuard<'_, HashMap<Handle, StoreKey>> {
        lock(&self.inner.handles[usize::from(handle.as_bytes()[0]) % self.inner.handles.len()])
    }

    fn point_handle(&self, handle: Handle, key: StoreKey) {
        self.handle_map(&handle).insert(handle, key);
    }

    fn unpoint_handle(&self, handle: &Handle, key: &StoreKey) {
        let mut handles = self.handle_map(handle);
        if handles.get(handle) == Some(key) {
            handles.remove(handle);
        }
    }

    /// Removes `key` from its shard (and the handle map); the principal is returned
    /// for the caller to unindex under the gate.
    fn take(&self, shard: &mut Shard, key: &StoreKey) -> Option<Arc<Record>> {
        let record = shard.remove(key)?;
        self.unpoint_handle(&record.handle, key);
        Some(record)
    }

    /// Unindexes removed sessions; takes the gate, so call it with no shard held.
    fn unindex_removed(&self, removed: Removed) {
        if removed.iter().all(|(_, principal)| principal.is_none()) {
            return;
        }
        let mut gate = self.gate();
        for (key, principal) in removed {
            if let Some(principal) = principal {
                gate.remove(&principal, &key);
            }
        }
    }

    /// Makes room in a full shard: expired first, then the least recently used
    /// anonymous session. `false` when only live authenticated sessions remain.
    fn make_room(&self, shard: &mut Shard, now: Timestamp, removed: &mut Removed) -> bool {
        if shard.entries.len() < self.inner.per_shard_capacity {
            return true;
        }
        if let Some(&(deadline, key)) = shard.by_expiry.first() {
            if deadline <= now {
                if let Some(record) = self.take(shard, &key) {
                    removed.push((key, record.principal.clone()));
                }
                return true;
            }
        }
        if let Some((_, key)) = shard.anonymous_lru.pop_first() {
            if let Some(record) = self.take(shard, &key) {
                tracing::debug!(target: "hallpass::store", handle = %record.handle, "memory store evicted the least recently used anonymous session");
            }
            return true;
        }
        false
    }

    fn purge_now(&self, now: Timestamp, batch: usize) -> u64 {
        let mut purged = 0u64;
        let mut removed = Removed::new();
        for shard in &*self.inner.shards {
            let mut shard = lock(shard);
            while usize::try_from(purged).unwrap_or(usize::MAX) < batch {
                let Some(&(deadline, key)) = shard.by_expiry.first() else {
                    break;
                };
                if deadline > now {
                    break;
                }
                if let Some(record) = self.take(&mut shard, &key) {
                    removed.push((key, record.principal.clone()));
                }
                purged += 1;
            }
        }
        self.unindex_removed(removed);
        purged
    }

    /// The principal's live sessions other than `own`, as (last seen, created, key),
    /// read under the gate.
    fn live_sessions_of(
        &self,
        gate: &Principals,
        principal: &str,
        own: Option<&Handle>,
        now: Timestamp,
    ) -> Vec<(Timestamp, Timestamp, StoreKey)> {
        gate.keys(principal)
            .into_iter()
            .filter_map(|key| {
                let shard = self.shard(&key);
                shard
                    .live(&key, now)
                    .filter(|record| {
                        record.principal.as_deref() == Some(principal)
                            && Some(&record.handle) != own
                    })
                    .map(|record| (record.last_seen_at, record.created_at, key))
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
    ) -> Result<Vec<StoreKey>, Refusal> {
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
    fn evict(&self, gate: &mut Principals, principal: &str, victims: Vec<StoreKey>) -> Vec<Handle> {
        let mut evicted = Vec::with_capacity(victims.len());
        for key in victims {
            let record = {
                let mut shard = self.shard(&key);
                self.take(&mut shard, &key)
            };
            if let Some(record) = record {
                gate.remove(principal, &key);
                evicted.push(record.handle);
            }
        }
        evicted
    }

    /// The rotation itself, with the shard(s) locked: `new_shard` is `None` when both
    /// keys live in `old_shard`. `Err` inside `Ok` is an outcome that wrote nothing.
    fn rotate_locked(
        &self,
        old_shard: &mut Shard,
        mut new_shard: Option<&mut Shard>,
        (old, new): (&StoreKey, &StoreKey),
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Result<Moved, Rotated>, StoreError> {
        let taken = match new_shard.as_deref() {
            Some(shard) => shard.entries.contains_key(new),
            None => old_shard.entries.contains_key(new),
        };
        if taken {
            return Ok(Err(Rotated::KeyTaken));
        }
        let mut removed = Removed::new();
        // In one shard the old entry's slot is reused; another shard may be full.
        if let Some(shard) = new_shard.as_deref_mut() {
            if !self.make_room(shard, now, &mut removed) {
                return Err(StoreError::msg(
                    StoreErrorKind::CapacityExceeded,
                    "no room for the rotated session",
                ));
            }
        }
        if old_shard.live(old, now).is_none() {
            return Ok(Err(Rotated::Gone));
        }
        let Some(mut record) = old_shard.remove(old) else {
            return Ok(Err(Rotated::Gone));
        };
        let before = record.principal.clone();
        if let Err(err) = delta.apply_to(Arc::make_mut(&mut record)) {
            // `apply_to` changed nothing: the session goes back as it was.
            let tick = self.next_tick();
            old_shard.insert(*old, record, tick);
            return Err(err.into());
        }
        let tick = self.next_tick();
        new_shard
            .unwrap_or(old_shard)
            .insert(*new, Arc::clone(&record), tick);
        Ok(Ok(Moved {
            before,
            record,
            removed,
        }))
    }

    /// The index work of a rotation, under the gate, after the shards are unlocked.
    fn finish_rotation(
        &self,
        gate: &mut Principals,
        (old, new): (&StoreKey, &StoreKey),
        moved: Moved,
        victims: Vec<StoreKey>,
    ) -> Rotated {
        let Moved {
            before,
            record,
            removed,
        } = moved;
        self.point_handle(record.handle, *new);
        if let Some(before) = &before {
            gate.remove(before, old);
        }
        for (key, principal) in removed {
            if let Some(principal) = principal {
                gate.remove(&principal, &key);
            }
        }
        let evicted = match &record.principal {
            Some(principal) => {
                gate.add(principal, *new);
                self.evict(gate, principal, victims)
            }
            None => Vec::new(),
        };
        Rotated::Updated { record, evicted }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}
