//! `MemoryStore`: sharded, bounded, exact; for tests and single-process apps.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::{
    Applied, Created, Deleted, Loaded, Refusal, Rotated, SessionPage, SessionStore, SessionSummary,
    StoreError, StoreErrorKind, StoreFuture,
};
use crate::delta::{Admission, Delta, PrincipalChange, Touch};
use crate::record::{Expiry, Record};
use crate::time::Timestamp;
use crate::token::{Handle, StoreKey};

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

/// The per-principal index and generations, behind the gate.
#[derive(Debug, Default)]
struct Principals {
    map: HashMap<String, PrincipalEntry>,
}

#[derive(Debug, Default)]
struct PrincipalEntry {
    keys: KeySet,
    generation: u64,
}

/// A principal's session keys. One principal may have a million sessions (every
/// bench session is alice's), and an insert must never rehash them all while the
/// gate is held: past [`KeySet::SPLIT_AT`] keys the set is split into
/// [`KeySet::PARTS`] parts by key, so a growing part rehashes a 64th of them. (A
/// B-tree never rehashes, but cost a tenth of the login rate.)
#[derive(Debug)]
enum KeySet {
    Small(HashSet<StoreKey>),
    Split(Box<[HashSet<StoreKey>]>),
}

impl Default for KeySet {
    fn default() -> Self {
        Self::Small(HashSet::new())
    }
}

impl KeySet {
    const SPLIT_AT: usize = 4096;
    const PARTS: usize = 64;

    fn part(key: &StoreKey) -> usize {
        usize::from(key.hash()[1]) % Self::PARTS
    }

    fn insert(&mut self, key: StoreKey) {
        match self {
            Self::Small(keys) => {
                keys.insert(key);
                if keys.len() > Self::SPLIT_AT {
                    let mut parts: Box<[HashSet<StoreKey>]> =
                        (0..Self::PARTS).map(|_| HashSet::new()).collect();
                    for key in keys.drain() {
                        parts[Self::part(&key)].insert(key);
                    }
                    *self = Self::Split(parts);
                }
            }
            Self::Split(parts) => {
                parts[Self::part(&key)].insert(key);
            }
        }
    }

    fn remove(&mut self, key: &StoreKey) {
        match self {
            Self::Small(keys) => keys.remove(key),
            Self::Split(parts) => parts[Self::part(key)].remove(key),
        };
    }

    fn is_empty(&self) -> bool {
        match self {
            Self::Small(keys) => keys.is_empty(),
            Self::Split(parts) => parts.iter().all(HashSet::is_empty),
        }
    }

    fn to_vec(&self) -> Vec<StoreKey> {
        match self {
            Self::Small(keys) => keys.iter().copied().collect(),
            Self::Split(parts) => parts.iter().flatten().copied().collect(),
        }
    }
}

impl Principals {
    fn add(&mut self, principal: &str, key: StoreKey) {
        self.map
            .entry(principal.to_owned())
            .or_default()
            .keys
            .insert(key);
    }

    fn remove(&mut self, principal: &str, key: &StoreKey) {
        if let Some(entry) = self.map.get_mut(principal) {
            entry.keys.remove(key);
            if entry.keys.is_empty() && entry.generation == 0 {
                self.map.remove(principal);
            }
        }
    }

    fn keys(&self, principal: &str) -> Vec<StoreKey> {
        self.map
            .get(principal)
            .map(|entry| entry.keys.to_vec())
            .unwrap_or_default()
    }

    fn generation(&self, principal: &str) -> u64 {
        self.map.get(principal).map_or(0, |entry| entry.generation)
    }
}

#[derive(Debug, Default)]
struct Shard {
    entries: HashMap<StoreKey, Entry>,
    by_expiry: BTreeSet<(Timestamp, StoreKey)>,
    anonymous_lru: BTreeMap<u64, StoreKey>,
}

#[derive(Debug)]
struct Entry {
    /// Shared with the snapshots `load` handed out; a write copies it only while one
    /// is still held (`Arc::make_mut`).
    record: Arc<Record>,
    tick: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave a half-applied record: every mutation
    // checks first and then changes in place.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sessions taken out of a shard whose principal index entries are still to be
/// removed, once the shard is unlocked (the gate is never taken under a shard).
type Removed = Vec<(StoreKey, Option<String>)>;

impl Shard {
    fn insert(&mut self, key: StoreKey, record: Arc<Record>, tick: u64) {
        self.by_expiry.insert((record.expires_at(), key));
        if record.principal.is_none() {
            self.anonymous_lru.insert(tick, key);
        }
        self.entries.insert(key, Entry { record, tick });
    }

    fn remove(&mut self, key: &StoreKey) -> Option<Arc<Record>> {
        let entry = self.entries.remove(key)?;
        self.by_expiry.remove(&(entry.record.expires_at(), *key));
        self.anonymous_lru.remove(&entry.tick);
        Some(entry.record)
    }

    /// Marks the live entry under `key` as just used and returns it; otherwise says
    /// why not (`None`: missing). Only the LRU index changes, and only for anonymous
    /// sessions: the common read path does no re-insertion.
    fn use_live(
        &mut self,
        key: &StoreKey,
        now: Timestamp,
        tick: u64,
    ) -> Result<&Arc<Record>, Option<Expiry>> {
        let Some(entry) = self.entries.get_mut(key) else {
            return Err(None);
        };
        if let Some(expiry) = entry.record.expired_by(now) {
            return Err(Some(expiry));
        }
        if entry.record.principal.is_none() {
            self.anonymous_lru.remove(&entry.tick);
            self.anonymous_lru.insert(tick, *key);
        }
        entry.tick = tick;
        Ok(&entry.record)
    }

    /// The live record under `key`, if any.
    fn live(&self, key: &StoreKey, now: Timestamp) -> Option<&Record> {
        self.entries
            .get(key)
            .map(|entry| &*entry.record)
            .filter(|record| record.expired_by(now).is_none())
    }

    /// Changes the live record under `key` in place with `change` (which must be
    /// all-or-nothing), keeping the shard's indexes in step. Returns the record as it
    /// now stands; `None` when not live.
    fn modify(
        &mut self,
        key: &StoreKey,
        now: Timestamp,
        tick: u64,
        change: impl FnOnce(&mut Record) -> Result<(), StoreError>,
    ) -> Result<Option<Arc<Record>>, StoreError> {
        let Some(entry) = self.entries.get_mut(key) else {
            return Ok(None);
        };
        if entry.record.expired_by(now).is_some() {
            return Ok(None);
        }
        let old_expiry = entry.record.expires_at();
        let was_anonymous = entry.record.principal.is_none();
        change(Arc::make_mut(&mut entry.record))?;
        let new_expiry = entry.record.expires_at();
        if old_expiry != new_expiry {
            self.by_expiry.remove(&(old_expiry, *key));
            self.by_expiry.insert((new_expiry, *key));
        }
        if was_anonymous {
            self.anonymous_lru.remove(&entry.tick);
        }
        if entry.record.principal.is_none() {
            self.anonymous_lru.insert(tick, *key);
        }
        entry.tick = tick;
        Ok(Some(Arc::clone(&entry.record)))
    }
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

impl SessionStore for MemoryStore {
    fn create<'a>(
        &'a self,
        key: &'a StoreKey,
        record: &'a Record,
        admission: &'a Admission,
    ) -> StoreFuture<'a, Created> {
        Box::pin(async move {
            let now = record.last_seen_at;
            // A login takes the gate first; an anonymous session never does.
            let mut gate = record.principal.as_ref().map(|_| self.gate());
            let victims = match (&gate, &record.principal) {
                (Some(gate), Some(principal)) => {
                    match self.admit(gate, principal, admission, None, now) {
                        Ok(victims) => victims,
                        Err(refusal) => return Ok(Created::Refused(refusal)),
                    }
                }
                _ => Vec::new(),
            };
            let mut removed = Removed::new();
            {
                let mut shard = self.shard(key);
                if shard.entries.contains_key(key) {
                    return Ok(Created::KeyTaken);
                }
                if !self.make_room(&mut shard, now, &mut removed) {
                    tracing::warn!(target: "hallpass::event", event = "store_full", "memory store is full of authenticated sessions; refusing a new session");
                    return Err(StoreError::msg(
                        StoreErrorKind::CapacityExceeded,
                        "every slot holds a live authenticated session",
                    ));
                }
                self.point_handle(record.handle, *key);
                let tick = self.next_tick();
                shard.insert(*key, Arc::new(record.clone()), tick);
            }
            let evicted = match (&mut gate, &record.principal) {
                (Some(gate), Some(principal)) => {
                    gate.add(principal, *key);
                    for (key, principal) in removed.drain(..) {
                        if let Some(principal) = principal {
                            gate.remove(&principal, &key);
                        }
                    }
                    self.evict(gate, principal, victims)
                }
                _ => Vec::new(),
            };
            drop(gate);
            self.unindex_removed(removed);
            Ok(Created::Inserted { evicted })
        })
    }

    fn load<'a>(&'a self, key: &'a StoreKey, now: Timestamp) -> StoreFuture<'a, Loaded> {
        Box::pin(async move {
            let tick = self.next_tick();
            let mut shard = self.shard(key);
            Ok(match shard.use_live(key, now, tick) {
                Ok(record) => Loaded::Live(Arc::clone(record)),
                Err(None) => Loaded::Missing,
                Err(Some(expiry)) => Loaded::Expired(expiry),
            })
        })
    }

    fn apply<'a>(
        &'a self,
        key: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, Applied> {
        Box::pin(async move {
            let clears = match &delta.principal {
                Some(PrincipalChange::Login { .. }) => {
                    return Err(StoreError::login_needs_rotation());
                }
                Some(PrincipalChange::Clear) => true,
                None => false,
            };
            let mut gate = clears.then(|| self.gate());
            let tick = self.next_tick();
            let mut old = None;
            let updated = self.shard(key).modify(key, now, tick, |record| {
                old.clone_from(&record.principal);
                Ok(delta.apply_to(record)?)
            })?;
            let Some(record) = updated else {
                return Ok(Applied::Gone);
            };
            if let (Some(gate), Some(old)) = (&mut gate, &old) {
                gate.remove(old, key);
            }
            Ok(Applied::Updated(record))
        })
    }

    fn touch<'a>(
        &'a self,
        key: &'a StoreKey,
        touch: Touch,
        now: Timestamp,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let tick = self.next_tick();
            let updated = self.shard(key).modify(key, now, tick, |record| {
                touch.apply_to(record);
                Ok(())
            })?;
            Ok(updated.is_some())
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
            if old.handle() != new.handle() {
                return Err(StoreError::msg(
                    StoreErrorKind::InvalidData,
                    "a rotation keeps the session's handle",
                ));
            }
            // Every rotation takes the gate: it moves a session that a revoke may be
            // looking for, and a login changes the principal's sessions.
            let mut gate = self.gate();
            let victims = match &delta.principal {
                Some(PrincipalChange::Login {
                    principal,
                    admission,
                }) => match self.admit(&gate, principal, admission, Some(old.handle()), now) {
                    Ok(victims) => victims,
                    Err(refusal) => return Ok(Rotated::Refused(refusal)),
                },
                _ => Vec::new(),
            };
            let (a, b) = (self.shard_of(old), self.shard_of(new));
            let moved = if a == b {
                let mut shard = lock(&self.inner.shards[a]);
                self.rotate_locked(&mut shard, None, (old, new), delta, now)?
            } else {
                // Lock both shards in index order so concurrent callers cannot deadlock.
                let (low, high) = (a.min(b), a.max(b));
                let mut low = lock(&self.inner.shards[low]);
                let mut high = lock(&self.inner.shards[high]);
                let (old_shard, new_shard) = if a < b {
                    (&mut *low, &mut *high)
                } else {
                    (&mut *high, &mut *low)
                };
                self.rotate_locked(old_shard, Some(new_shard), (old, new), delta, now)?
            };
            Ok(match moved {
                Ok(moved) => self.finish_rotation(&mut gate, (old, new), moved, victims),
                Err(outcome) => outcome,
            })
        })
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, Option<Deleted>> {
        Box::pin(async move {
            let record = {
                let mut shard = self.shard(key);
                self.take(&mut shard, key)
            };
            let Some(record) = record else {
                return Ok(None);
            };
            self.unindex_removed(vec![(*key, record.principal.clone())]);
            Ok(Some(Deleted::new(record.principal.clone())))
        })
    }

    fn load_handle<'a>(
        &'a self,
        handle: &'a Handle,
        now: Timestamp,
    ) -> StoreFuture<'a, Option<(StoreKey, Record)>> {
        Box::pin(async move {
            // Under the gate no rotation can move the session between the two looks.
            let _gate = self.gate();
            let Some(key) = self.handle_map(handle).get(handle).copied() else {
                return Ok(None);
            };
            let shard = self.shard(&key);
            Ok(shard
                .live(&key, now)
                .filter(|record| record.handle == *handle)
                .map(|record| (key, record.clone())))
        })
    }

    fn revoke<'a>(&'a self, handle: &'a Handle) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            // Under the gate no rotation can move the session between the handle
            // lookup and the delete: what is found is what is deleted.
            let mut gate = self.gate();
            let Some(key) = self.handle_map(handle).get(handle).copied() else {
                return Ok(false);
            };
            let record = {
                let mut shard = self.shard(&key);
                let owned = shard
                    .entries
                    .get(&key)
                    .is_some_and(|entry| entry.record.handle == *handle);
                if owned {
                    self.take(&mut shard, &key)
                } else {
                    None
                }
            };
            let Some(record) = record else {
                return Ok(false);
            };
            if let Some(principal) = &record.principal {
                gate.remove(principal, &key);
            }
            Ok(true)
        })
    }

    fn list_principal<'a>(
        &'a self,
        principal: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, Vec<SessionSummary>> {
        Box::pin(async move {
            let gate = self.gate();
            let mut found: Vec<SessionSummary> = gate
                .keys(principal)
                .iter()
                .filter_map(|key| {
                    let shard = self.shard(key);
                    shard
                        .live(key, now)
                        .filter(|record| record.principal.as_deref() == Some(principal))
                        .map(SessionSummary::from)
                })
                .collect();
            drop(gate);
            found.sort_by_key(|summary| (summary.created_at, summary.handle));
            Ok(found)
        })
    }

    fn revoke_principal<'a>(
        &'a self,
        principal: &'a str,
        except: Option<&'a Handle>,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            // Under the gate: no login is admitted and no session moves until every
            // session of the principal is gone.
            let mut gate = self.gate();
            let entry = gate.map.entry(principal.to_owned()).or_default();
            entry.generation = entry.generation.saturating_add(1);
            let mut revoked = 0u64;
            for key in gate.keys(principal) {
                let record = {
                    let mut shard = self.shard(&key);
                    let spare = shard.entries.get(&key).is_none_or(|entry| {
                        entry.record.principal.as_deref() != Some(principal)
                            || Some(&entry.record.handle) == except
                    });
                    if spare {
                        None
                    } else {
                        self.take(&mut shard, &key)
                    }
                };
                if record.is_some() {
                    gate.remove(principal, &key);
                    revoked += 1;
                }
            }
            Ok(revoked)
        })
    }

    fn generation<'a>(&'a self, principal: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move { Ok(self.gate().generation(principal)) })
    }

    fn purge_expired(&self, now: Timestamp, batch: usize) -> StoreFuture<'_, u64> {
        Box::pin(async move { Ok(self.purge_now(now, batch)) })
    }

    fn list_sessions<'a>(
        &'a self,
        cursor: Option<&'a str>,
        limit: usize,
        now: Timestamp,
    ) -> StoreFuture<'a, SessionPage> {
        Box::pin(async move {
            let after = match cursor {
                Some(text) => Some(
                    text.parse::<Handle>()
                        .map_err(|_| StoreError::bad_cursor())?,
                ),
                None => None,
            };
            let limit = limit.max(1);
            // The `limit` smallest handles after the cursor, in handle order.
            let mut page: BTreeMap<Handle, SessionSummary> = BTreeMap::new();
            for shard in &*self.inner.shards {
                let shard = lock(shard);
                for entry in shard.entries.values() {
                    let record = &entry.record;
                    if after.is_some_and(|after| record.handle <= after)
                        || record.expired_by(now).is_some()
                        || page
                            .last_key_value()
                            .is_some_and(|(last, _)| page.len() >= limit && record.handle > *last)
                    {
                        continue;
                    }
                    page.insert(record.handle, SessionSummary::from(&**record));
                    if page.len() > limit {
                        page.pop_last();
                    }
                }
            }
            let next = (page.len() >= limit)
                .then(|| page.last_key_value().map(|(handle, _)| handle.to_string()))
                .flatten();
            Ok(SessionPage::new(page.into_values().collect(), next))
        })
    }

    fn count(&self, now: Timestamp) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let mut live = 0u64;
            for shard in &*self.inner.shards {
                let shard = lock(shard);
                let expired = shard
                    .by_expiry
                    .range(
                        ..(
                            now.saturating_add(Duration::from_millis(1)),
                            StoreKey::new(Handle::from_bytes([0; 16]), [0; 32]),
                        ),
                    )
                    .count();
                live +=
                    u64::try_from(shard.entries.len().saturating_sub(expired)).unwrap_or(u64::MAX);
            }
            Ok(live)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Token;

    /// Past the split every key is still found once, and removing them all empties it.
    #[test]
    fn a_key_set_splits_and_keeps_every_key() {
        let mut set = KeySet::default();
        let keys: Vec<StoreKey> = (0..KeySet::SPLIT_AT * 3)
            .map(|_| Token::generate().store_key(&Handle::generate()))
            .collect();
        for key in &keys {
            set.insert(*key);
        }
        assert!(matches!(set, KeySet::Split(_)));
        let mut listed = set.to_vec();
        listed.sort();
        let mut expected = keys.clone();
        expected.sort();
        assert_eq!(listed, expected);
        for key in &keys {
            set.remove(key);
        }
        assert!(set.is_empty());
    }
}
