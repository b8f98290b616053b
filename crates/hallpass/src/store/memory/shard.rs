//! One shard: its sessions, their expiry index and the anonymous sessions' LRU.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::record::{Expiry, Record};
use crate::store::StoreError;
use crate::time::Timestamp;
use crate::token::StoreKey;

#[derive(Debug, Default)]
pub(super) struct Shard {
    pub(super) entries: HashMap<StoreKey, Entry>,
    pub(super) by_expiry: BTreeSet<(Timestamp, StoreKey)>,
    pub(super) anonymous_lru: BTreeMap<u64, StoreKey>,
}

#[derive(Debug)]
pub(super) struct Entry {
    /// Shared with the snapshots `load` handed out; a write copies it only while one
    /// is still held (`Arc::make_mut`).
    pub(super) record: Arc<Record>,
    pub(super) tick: u64,
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave a half-applied record: every mutation
    // checks first and then changes in place.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sessions taken out of a shard whose principal index entries are still to be
/// removed, once the shard is unlocked (the gate is never taken under a shard).
pub(super) type Removed = Vec<(StoreKey, Option<String>)>;

impl Shard {
    pub(super) fn insert(&mut self, key: StoreKey, record: Arc<Record>, tick: u64) {
        self.by_expiry.insert((record.expires_at(), key));
        if record.principal.is_none() {
            self.anonymous_lru.insert(tick, key);
        }
        self.entries.insert(key, Entry { record, tick });
    }

    pub(super) fn remove(&mut self, key: &StoreKey) -> Option<Arc<Record>> {
        let entry = self.entries.remove(key)?;
        self.by_expiry.remove(&(entry.record.expires_at(), *key));
        self.anonymous_lru.remove(&entry.tick);
        Some(entry.record)
    }

    /// Marks the live entry under `key` as just used and returns it; otherwise says
    /// why not (`None`: missing). Only the LRU index changes, and only for anonymous
    /// sessions: the common read path does no re-insertion.
    pub(super) fn use_live(
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
    pub(super) fn live(&self, key: &StoreKey, now: Timestamp) -> Option<&Record> {
        self.entries
            .get(key)
            .map(|entry| &*entry.record)
            .filter(|record| record.expired_by(now).is_none())
    }

    /// Changes the live record under `key` in place with `change` (which must be
    /// all-or-nothing), keeping the shard's indexes in step. Returns the record as it
    /// now stands; `None` when not live.
    pub(super) fn modify(
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
