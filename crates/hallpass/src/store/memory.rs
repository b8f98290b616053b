//! `MemoryStore`: sharded, bounded, exact; for tests and single-process apps.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use super::{
    Applied, Created, Loaded, SessionPage, SessionStore, SessionSummary, StoreError,
    StoreErrorKind, StoreFuture,
};
use crate::clock::Clock;
use crate::delta::{Delta, Touch};
use crate::record::{Expiry, Record, Timestamp};
use crate::token::{Handle, StoreKey};

/// Sizing of a [`MemoryStore`].
///
/// # Examples
///
/// ```
/// use hallpass::{MemoryStore, MemoryStoreConfig};
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
/// checked on every call); [`MemoryStore::spawn_sweeper`] frees their memory in the
/// background.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hallpass::{Handle, MemoryStore, Record, SessionStore, Timestamp, Token, Loaded};
///
/// # tokio_test_block_on(async {
/// let store = MemoryStore::new();
/// let now = Timestamp::from_unix_millis(0);
/// let record = Record::new(Handle::generate(), now, Duration::from_secs(60), Duration::from_secs(600));
/// let key = Token::generate().store_key(&record.handle);
/// store.create(&key, &record).await?;
/// assert!(matches!(store.load(&key, now).await?, Loaded::Live(_)));
/// # Ok::<(), hallpass::StoreError>(())
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
    principals: Mutex<HashMap<String, HashSet<StoreKey>>>,
    tick: AtomicU64,
}

#[derive(Debug, Default)]
struct Shard {
    entries: HashMap<StoreKey, Entry>,
    by_expiry: BTreeSet<(Timestamp, StoreKey)>,
    anonymous_lru: BTreeMap<u64, StoreKey>,
}

#[derive(Debug)]
struct Entry {
    record: Record,
    tick: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a shard lock cannot leave a half-applied record: every
    // mutation builds the new record first and swaps it in.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shard {
    fn insert(&mut self, key: StoreKey, record: Record, tick: u64) {
        self.by_expiry.insert((record.expires_at(), key));
        if record.principal.is_none() {
            self.anonymous_lru.insert(tick, key);
        }
        self.entries.insert(key, Entry { record, tick });
    }

    fn remove(&mut self, key: &StoreKey) -> Option<Record> {
        let entry = self.entries.remove(key)?;
        self.by_expiry.remove(&(entry.record.expires_at(), *key));
        self.anonymous_lru.remove(&entry.tick);
        Some(entry.record)
    }

    /// The live record under `key`; an expired one is removed and reported.
    /// Marks the live entry under `key` as just used and returns it; otherwise says
    /// why not (`None`: missing). Only the LRU index changes, and only for anonymous
    /// sessions: the common read path does no re-insertion.
    fn use_live(
        &mut self,
        key: &StoreKey,
        now: Timestamp,
        tick: u64,
    ) -> Result<&Record, Option<Expiry>> {
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

    /// Changes the live record under `key` in place with `change` (which must be
    /// all-or-nothing), keeping the shard's indexes in step. Returns the record as it
    /// now stands and its principal before the change; `None` when not live.
    fn modify(
        &mut self,
        key: &StoreKey,
        now: Timestamp,
        tick: u64,
        change: impl FnOnce(&mut Record) -> Result<(), StoreError>,
    ) -> Result<Option<(Record, Option<String>)>, StoreError> {
        let Some(entry) = self.entries.get_mut(key) else {
            return Ok(None);
        };
        if entry.record.expired_by(now).is_some() {
            return Ok(None);
        }
        let old_expiry = entry.record.expires_at();
        let old_principal = entry.record.principal.clone();
        change(&mut entry.record)?;
        let new_expiry = entry.record.expires_at();
        if old_expiry != new_expiry {
            self.by_expiry.remove(&(old_expiry, *key));
            self.by_expiry.insert((new_expiry, *key));
        }
        if old_principal.is_none() {
            self.anonymous_lru.remove(&entry.tick);
        }
        if entry.record.principal.is_none() {
            self.anonymous_lru.insert(tick, *key);
        }
        entry.tick = tick;
        Ok(Some((entry.record.clone(), old_principal)))
    }

    /// The live record under `key`, taken out; otherwise why not (`None`: missing).
    fn take_live(&mut self, key: &StoreKey, now: Timestamp) -> Result<Record, Option<Expiry>> {
        let Some(entry) = self.entries.get(key) else {
            return Err(None);
        };
        if let Some(expiry) = entry.record.expired_by(now) {
            return Err(Some(expiry));
        }
        self.remove(key).ok_or(None)
    }
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
                principals: Mutex::default(),
                tick: AtomicU64::new(0),
            }),
        }
    }

    /// Starts a background task on the current tokio runtime that purges expired
    /// sessions every `every`. The task ends by itself when the last clone of the
    /// store is dropped.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tokio runtime, as `tokio::spawn` does.
    pub fn spawn_sweeper(
        &self,
        every: Duration,
        clock: Arc<dyn Clock>,
    ) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every.max(Duration::from_millis(10)));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                let store = Self { inner };
                // The memory store cannot fail: the purge's error type is never built.
                let purged = crate::purge_expired(&store, &*clock, 1_000, |_| {})
                    .await
                    .unwrap_or(0);
                if purged > 0 {
                    tracing::debug!(target: "hallpass::store", purged, "memory store swept expired sessions");
                }
            }
        })
    }

    fn next_tick(&self) -> u64 {
        self.inner.tick.fetch_add(1, Ordering::Relaxed)
    }

    fn shard_of(&self, key: &StoreKey) -> usize {
        usize::from(key.hash()[0]) % self.inner.shards.len()
    }

    fn handle_map(&self, handle: &Handle) -> MutexGuard<'_, HashMap<Handle, StoreKey>> {
        lock(&self.inner.handles[usize::from(handle.as_bytes()[0]) % self.inner.handles.len()])
    }

    fn index(&self, key: StoreKey, record: &Record) {
        self.handle_map(&record.handle).insert(record.handle, key);
        if let Some(principal) = &record.principal {
            lock(&self.inner.principals)
                .entry(principal.clone())
                .or_default()
                .insert(key);
        }
    }

    fn unindex(&self, key: &StoreKey, record: &Record) {
        {
            let mut handles = self.handle_map(&record.handle);
            if handles.get(&record.handle) == Some(key) {
                handles.remove(&record.handle);
            }
        }
        if let Some(principal) = &record.principal {
            self.unindex_principal(key, principal);
        }
    }

    fn unindex_principal(&self, key: &StoreKey, principal: &str) {
        let mut principals = lock(&self.inner.principals);
        if let Some(keys) = principals.get_mut(principal) {
            keys.remove(key);
            if keys.is_empty() {
                principals.remove(principal);
            }
        }
    }

    /// Makes room in a full shard: expired first, then the least recently used
    /// anonymous session. `false` when only live authenticated sessions remain.
    fn make_room(&self, shard: &mut Shard, now: Timestamp) -> bool {
        if shard.entries.len() < self.inner.per_shard_capacity {
            return true;
        }
        if let Some(&(deadline, key)) = shard.by_expiry.first() {
            if deadline <= now {
                if let Some(record) = shard.remove(&key) {
                    self.unindex(&key, &record);
                }
                return true;
            }
        }
        if let Some((_, key)) = shard.anonymous_lru.pop_first() {
            if let Some(record) = shard.remove(&key) {
                self.unindex(&key, &record);
                tracing::debug!(target: "hallpass::store", handle = %record.handle, "memory store evicted the least recently used anonymous session");
            }
            return true;
        }
        false
    }

    fn purge_now(&self, now: Timestamp, batch: usize) -> u64 {
        let mut purged = 0u64;
        for shard in &*self.inner.shards {
            let mut shard = lock(shard);
            while usize::try_from(purged).unwrap_or(usize::MAX) < batch {
                let Some(&(deadline, key)) = shard.by_expiry.first() else {
                    break;
                };
                if deadline > now {
                    break;
                }
                if let Some(record) = shard.remove(&key) {
                    self.unindex(&key, &record);
                }
                purged += 1;
            }
        }
        purged
    }

    /// Runs `change` on the live record under `key` with the shard locked.
    fn update(
        &self,
        key: &StoreKey,
        now: Timestamp,
        change: impl FnOnce(&mut Record) -> Result<(), StoreError>,
    ) -> Result<Option<Record>, StoreError> {
        let tick = self.next_tick();
        let mut shard = lock(&self.inner.shards[self.shard_of(key)]);
        let Some((record, old_principal)) = shard.modify(key, now, tick, change)? else {
            return Ok(None);
        };
        if old_principal != record.principal {
            if let Some(old) = &old_principal {
                self.unindex_principal(key, old);
            }
            if let Some(new) = &record.principal {
                lock(&self.inner.principals)
                    .entry(new.clone())
                    .or_default()
                    .insert(*key);
            }
        }
        Ok(Some(record))
    }

    fn remove_key(&self, key: &StoreKey) -> Option<Record> {
        let mut shard = lock(&self.inner.shards[self.shard_of(key)]);
        let record = shard.remove(key)?;
        self.unindex(key, &record);
        Some(record)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionStore for MemoryStore {
    fn create<'a>(&'a self, key: &'a StoreKey, record: &'a Record) -> StoreFuture<'a, Created> {
        Box::pin(async move {
            let mut shard = lock(&self.inner.shards[self.shard_of(key)]);
            if shard.entries.contains_key(key) {
                return Ok(Created::KeyTaken);
            }
            if !self.make_room(&mut shard, record.last_seen_at) {
                tracing::warn!(target: "hallpass::event", event = "store_full", "memory store is full of authenticated sessions; refusing a new session");
                return Err(StoreError::msg(
                    StoreErrorKind::CapacityExceeded,
                    "every slot holds a live authenticated session",
                ));
            }
            self.index(*key, record);
            let tick = self.next_tick();
            shard.insert(*key, record.clone(), tick);
            Ok(Created::Inserted)
        })
    }

    fn load<'a>(&'a self, key: &'a StoreKey, now: Timestamp) -> StoreFuture<'a, Loaded> {
        Box::pin(async move {
            let tick = self.next_tick();
            let mut shard = lock(&self.inner.shards[self.shard_of(key)]);
            Ok(match shard.use_live(key, now, tick) {
                Ok(record) => Loaded::Live(record.clone()),
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
            let updated = self.update(key, now, |record| Ok(delta.apply_to(record)?))?;
            Ok(updated.map_or(Applied::Gone, Applied::Updated))
        })
    }

    fn touch<'a>(
        &'a self,
        key: &'a StoreKey,
        touch: Touch,
        now: Timestamp,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let updated = self.update(key, now, |record| {
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
    ) -> StoreFuture<'a, Applied> {
        Box::pin(async move {
            let (a, b) = (self.shard_of(old), self.shard_of(new));
            // Lock both shards in index order so concurrent rotations cannot deadlock.
            let (mut first, mut second) = match a.cmp(&b) {
                std::cmp::Ordering::Equal => (lock(&self.inner.shards[a]), None),
                std::cmp::Ordering::Less => {
                    let first = lock(&self.inner.shards[a]);
                    (first, Some(lock(&self.inner.shards[b])))
                }
                std::cmp::Ordering::Greater => {
                    let first = lock(&self.inner.shards[b]);
                    (first, Some(lock(&self.inner.shards[a])))
                }
            };
            let (old_shard, new_shard): (&mut Shard, &mut Shard) = match (&mut second, a.cmp(&b)) {
                (None, _) => {
                    let shard = &mut *first;
                    if shard.entries.contains_key(new) {
                        return Ok(Applied::KeyTaken);
                    }
                    let Ok(mut record) = shard.take_live(old, now) else {
                        return Ok(Applied::Gone);
                    };
                    let before = record.clone();
                    if let Err(err) = delta.apply_to(&mut record) {
                        shard.insert(*old, before, self.next_tick());
                        return Err(err.into());
                    }
                    self.unindex(old, &before);
                    self.index(*new, &record);
                    shard.insert(*new, record.clone(), self.next_tick());
                    return Ok(Applied::Updated(record));
                }
                (Some(second), std::cmp::Ordering::Less) => (&mut *first, &mut **second),
                (Some(second), _) => (&mut **second, &mut *first),
            };
            if new_shard.entries.contains_key(new) {
                return Ok(Applied::KeyTaken);
            }
            if !self.make_room(new_shard, now) {
                return Err(StoreError::msg(
                    StoreErrorKind::CapacityExceeded,
                    "no room for the rotated session",
                ));
            }
            let Ok(mut record) = old_shard.take_live(old, now) else {
                return Ok(Applied::Gone);
            };
            let before = record.clone();
            if let Err(err) = delta.apply_to(&mut record) {
                old_shard.insert(*old, before, self.next_tick());
                return Err(err.into());
            }
            self.unindex(old, &before);
            self.index(*new, &record);
            new_shard.insert(*new, record.clone(), self.next_tick());
            Ok(Applied::Updated(record))
        })
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, bool> {
        Box::pin(async move { Ok(self.remove_key(key).is_some()) })
    }

    fn load_handle<'a>(
        &'a self,
        handle: &'a Handle,
        now: Timestamp,
    ) -> StoreFuture<'a, Option<(StoreKey, Record)>> {
        Box::pin(async move {
            let Some(key) = self.handle_map(handle).get(handle).copied() else {
                return Ok(None);
            };
            let shard = lock(&self.inner.shards[self.shard_of(&key)]);
            Ok(shard
                .entries
                .get(&key)
                .filter(|entry| {
                    entry.record.handle == *handle && entry.record.expired_by(now).is_none()
                })
                .map(|entry| (key, entry.record.clone())))
        })
    }

    fn revoke<'a>(&'a self, handle: &'a Handle) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            // A concurrent rotation can move the session between reading the handle
            // index and locking the shard: follow it until it is gone.
            for _ in 0..8 {
                let Some(key) = self.handle_map(handle).get(handle).copied() else {
                    return Ok(false);
                };
                let mut shard = lock(&self.inner.shards[self.shard_of(&key)]);
                if shard
                    .entries
                    .get(&key)
                    .is_some_and(|entry| entry.record.handle == *handle)
                {
                    if let Some(record) = shard.remove(&key) {
                        self.unindex(&key, &record);
                    }
                    return Ok(true);
                }
            }
            Err(StoreError::msg(
                StoreErrorKind::Backend,
                "session kept moving while being revoked",
            ))
        })
    }

    fn list_principal<'a>(
        &'a self,
        principal: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, Vec<SessionSummary>> {
        Box::pin(async move {
            let keys: Vec<StoreKey> = lock(&self.inner.principals)
                .get(principal)
                .map(|keys| keys.iter().copied().collect())
                .unwrap_or_default();
            let mut found: Vec<SessionSummary> = keys
                .iter()
                .filter_map(|key| {
                    let shard = lock(&self.inner.shards[self.shard_of(key)]);
                    shard
                        .entries
                        .get(key)
                        .filter(|entry| {
                            entry.record.principal.as_deref() == Some(principal)
                                && entry.record.expired_by(now).is_none()
                        })
                        .map(|entry| SessionSummary::from(&entry.record))
                })
                .collect();
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
            let mut revoked = 0u64;
            // Repeat until the index holds nothing to revoke, so a session rotated
            // while we work is caught under its new key.
            loop {
                let keys: Vec<StoreKey> = lock(&self.inner.principals)
                    .get(principal)
                    .map(|keys| keys.iter().copied().collect())
                    .unwrap_or_default();
                let mut round = 0u64;
                for key in keys {
                    let mut shard = lock(&self.inner.shards[self.shard_of(&key)]);
                    let spare = shard.entries.get(&key).is_none_or(|entry| {
                        entry.record.principal.as_deref() != Some(principal)
                            || Some(&entry.record.handle) == except
                    });
                    if spare {
                        continue;
                    }
                    if let Some(record) = shard.remove(&key) {
                        self.unindex(&key, &record);
                        round += 1;
                    }
                }
                revoked += round;
                if round == 0 {
                    return Ok(revoked);
                }
            }
        })
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
                    page.insert(record.handle, SessionSummary::from(record));
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
