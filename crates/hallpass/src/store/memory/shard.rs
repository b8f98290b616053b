//! One shard: its sessions by handle, their expiry index and the anonymous sessions'
//! LRU.
//!
//! A session lives under its public handle, with the hash of the token that opens
//! it beside the record (as the Redis layout v2 keeps it): a rotation swaps that
//! hash in place, so the session never moves, and no second map points from handles
//! to keys.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use subtle::ConstantTimeEq;

use crate::record::{Expiry, Record};
use crate::store::StoreError;
use crate::time::Timestamp;
use crate::token::{Handle, StoreKey};

/// The maps' hasher. Handles are minted by the server from the OS CSPRNG, so a
/// client cannot choose the keys it would need to make buckets collide; foldhash
/// (seeded per map) spares each lookup SipHash's cost.
pub(super) type Hasher = foldhash::fast::RandomState;

#[derive(Debug, Default)]
pub(super) struct Shard {
    pub(super) entries: HashMap<Handle, Entry, Hasher>,
    pub(super) by_expiry: BTreeSet<(Timestamp, Handle)>,
    pub(super) anonymous_lru: BTreeMap<u64, Handle>,
}

#[derive(Debug)]
pub(super) struct Entry {
    /// `SHA-256(token)` of the token that opens this session (SR-37).
    hash: [u8; 32],
    /// Shared with the snapshots `load` handed out; a write copies it only while one
    /// is still held (`Arc::make_mut`).
    pub(super) record: Arc<Record>,
    tick: u64,
}

impl Entry {
    /// Whether `key` opens this session; in constant time, as the token behind the
    /// key is the secret.
    fn opens(&self, key: &StoreKey) -> bool {
        bool::from(self.hash.ct_eq(key.hash()))
    }

    /// The key that opens this session.
    pub(super) fn key(&self) -> StoreKey {
        StoreKey::new(self.record.handle, self.hash)
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave a half-applied record: every mutation
    // checks first and then changes in place.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sessions taken out of a shard whose principal index entries are still to be
/// removed, once the shard is unlocked (the gate is never taken under a shard).
pub(super) type Removed = Vec<(Handle, Option<String>)>;

impl Shard {
    /// Whether a live session holds `handle`. An expired one that still does is
    /// taken out (into `removed`), so that its handle can be reused.
    pub(super) fn holds(&mut self, handle: &Handle, now: Timestamp, removed: &mut Removed) -> bool {
        if self.live_handle(handle, now).is_some() {
            return true;
        }
        if let Some(record) = self.remove_handle(handle) {
            removed.push((*handle, record.principal.clone()));
        }
        false
    }

    pub(super) fn insert(&mut self, key: &StoreKey, record: Arc<Record>, tick: u64) {
        let handle = *key.handle();
        self.by_expiry.insert((record.expires_at(), handle));
        if record.principal.is_none() {
            self.anonymous_lru.insert(tick, handle);
        }
        let entry = Entry {
            hash: *key.hash(),
            record,
            tick,
        };
        if let Some(old) = self.entries.insert(handle, entry) {
            // Callers check `holds` first; should one not, the indexes stay exact.
            self.unindex(&handle, &old);
        }
    }

    fn unindex(&mut self, handle: &Handle, entry: &Entry) {
        self.by_expiry.remove(&(entry.record.expires_at(), *handle));
        if entry.record.principal.is_none() {
            self.anonymous_lru.remove(&entry.tick);
        }
    }

    /// Removes the session `key` opens.
    pub(super) fn remove(&mut self, key: &StoreKey) -> Option<Arc<Record>> {
        if !self.entries.get(key.handle())?.opens(key) {
            return None;
        }
        self.remove_handle(key.handle())
    }

    /// Removes the session under `handle`, whatever token opens it.
    pub(super) fn remove_handle(&mut self, handle: &Handle) -> Option<Arc<Record>> {
        let entry = self.entries.remove(handle)?;
        self.unindex(handle, &entry);
        Some(entry.record)
    }

    /// Marks the live entry `key` opens as just used and returns it; otherwise says
    /// why not (`None`: missing). Only the LRU index changes, and only for anonymous
    /// sessions: the common read path does no re-insertion.
    pub(super) fn use_live(
        &mut self,
        key: &StoreKey,
        now: Timestamp,
        tick: u64,
    ) -> Result<&Arc<Record>, Option<Expiry>> {
        let Some(entry) = self
            .entries
            .get_mut(key.handle())
            .filter(|entry| entry.opens(key))
        else {
            return Err(None);
        };
        if let Some(expiry) = entry.record.expired_by(now) {
            return Err(Some(expiry));
        }
        if entry.record.principal.is_none() {
            self.anonymous_lru.remove(&entry.tick);
            self.anonymous_lru.insert(tick, entry.record.handle);
        }
        entry.tick = tick;
        Ok(&entry.record)
    }

    /// The live session under `handle`, if any.
    pub(super) fn live_handle(&self, handle: &Handle, now: Timestamp) -> Option<&Entry> {
        self.entries
            .get(handle)
            .filter(|entry| entry.record.expired_by(now).is_none())
    }

    /// Changes the live record `key` opens in place with `change` (which must be
    /// all-or-nothing), keeping the shard's indexes in step; with `rekey`, the
    /// session is opened by that key from now on (a rotation: same handle, new
    /// token). Returns the record as it now stands; `None` when not live.
    pub(super) fn modify(
        &mut self,
        key: &StoreKey,
        rekey: Option<&StoreKey>,
        now: Timestamp,
        tick: u64,
        change: impl FnOnce(&mut Record) -> Result<(), StoreError>,
    ) -> Result<Option<Arc<Record>>, StoreError> {
        let handle = *key.handle();
        let Some(entry) = self
            .entries
            .get_mut(&handle)
            .filter(|entry| entry.opens(key))
        else {
            return Ok(None);
        };
        if entry.record.expired_by(now).is_some() {
            return Ok(None);
        }
        let old_expiry = entry.record.expires_at();
        let was_anonymous = entry.record.principal.is_none();
        change(Arc::make_mut(&mut entry.record))?;
        if let Some(new) = rekey {
            entry.hash = *new.hash();
        }
        let new_expiry = entry.record.expires_at();
        if old_expiry != new_expiry {
            self.by_expiry.remove(&(old_expiry, handle));
            self.by_expiry.insert((new_expiry, handle));
        }
        let is_anonymous = entry.record.principal.is_none();
        if was_anonymous {
            self.anonymous_lru.remove(&entry.tick);
        }
        if is_anonymous {
            self.anonymous_lru.insert(tick, handle);
        }
        entry.tick = tick;
        Ok(Some(Arc::clone(&entry.record)))
    }
}
