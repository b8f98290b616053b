//! One shard: its sessions by handle, and the anonymous sessions' LRU.
//!
//! A session lives under its public handle, with the hash of the token that opens
//! it beside the record (as the Redis layout v2 keeps it): a rotation swaps that
//! hash in place, so the session never moves, and no second map points from handles
//! to keys.
//!
//! The layout is chosen for bytes per session (issue 12's 250 B target; the
//! figures are in docs/PERFORMANCE.md). The table's slot is the token hash and the
//! record pointer, 40 bytes: the handle is read from the record it points to, so it
//! is not stored twice, and the anonymous sessions' LRU ticks live in the LRU, which
//! authenticated sessions (never evicted) do not enter. There is no expiry index: the
//! shard keeps a lower bound of its sessions' deadlines, and a purge, or a full shard
//! that needs room, walks the table only once that bound has passed.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry as Slot;
use subtle::ConstantTimeEq;

use crate::principal::Principal;
use crate::record::{Expiry, Record};
use crate::store::StoreError;
use crate::time::Timestamp;
use crate::token::{Handle, StoreKey};

/// The maps' hasher. Handles are minted by the server from the OS CSPRNG, so a
/// client cannot choose the keys it would need to make buckets collide; foldhash
/// (seeded per map) spares each lookup SipHash's cost.
pub(super) type Hasher = foldhash::fast::RandomState;

#[derive(Debug)]
pub(super) struct Shard {
    entries: HashTable<Entry>,
    hasher: Hasher,
    anonymous: Lru,
    /// No session in the shard expires before this (a lower bound, not always the
    /// earliest deadline): until it passes, a purge has nothing to find here.
    expiry_floor: Timestamp,
}

impl Default for Shard {
    fn default() -> Self {
        Self {
            entries: HashTable::new(),
            hasher: Hasher::default(),
            anonymous: Lru::default(),
            expiry_floor: NEVER,
        }
    }
}

const NEVER: Timestamp = Timestamp::from_unix_millis(u64::MAX);

#[derive(Debug)]
pub(super) struct Entry {
    /// `SHA-256(token)` of the token that opens this session (SR-37).
    hash: [u8; 32],
    /// Shared with the snapshots `load` handed out; a write copies it only while one
    /// is still held (`Arc::make_mut`). Its handle is the entry's key.
    pub(super) record: Arc<Record>,
}

/// Matches the entry that lives under `handle` (the record's own handle is the key).
fn under(handle: &Handle) -> impl Fn(&Entry) -> bool + '_ {
    move |entry| entry.record.handle == *handle
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

/// The anonymous sessions in least-recently-used order: the ones a full shard may
/// evict (SR-34: an authenticated session is never evicted silently).
#[derive(Debug, Default)]
struct Lru {
    ticks: HashMap<Handle, u64, Hasher>,
    order: BTreeMap<u64, Handle>,
}

impl Lru {
    fn used(&mut self, handle: Handle, tick: u64) {
        if let Some(old) = self.ticks.insert(handle, tick) {
            self.order.remove(&old);
        }
        self.order.insert(tick, handle);
    }

    fn forget(&mut self, handle: &Handle) {
        if let Some(old) = self.ticks.remove(handle) {
            self.order.remove(&old);
        }
    }

    fn pop(&mut self) -> Option<Handle> {
        let (_, handle) = self.order.pop_first()?;
        self.ticks.remove(&handle);
        Some(handle)
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave a half-applied record: every mutation
    // checks first and then changes in place.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sessions taken out of a shard whose principal index entries are still to be
/// removed, once the shard is unlocked (the gate is never taken under a shard).
pub(super) type Removed = Vec<(Handle, Option<Principal>)>;

impl Shard {
    fn hash_of(&self, handle: &Handle) -> u64 {
        self.hasher.hash_one(handle)
    }

    /// The number of sessions held, live or expired.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry under `handle`, live or expired.
    pub(super) fn get(&self, handle: &Handle) -> Option<&Entry> {
        self.entries.find(self.hash_of(handle), under(handle))
    }

    fn get_mut(&mut self, handle: &Handle) -> Option<&mut Entry> {
        let hash = self.hash_of(handle);
        self.entries.find_mut(hash, under(handle))
    }

    /// Every entry, live or expired, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

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
        self.expiry_floor = self.expiry_floor.min(record.expires_at());
        let anonymous = record.principal.is_none();
        let entry = Entry {
            hash: *key.hash(),
            record,
        };
        let hasher = &self.hasher;
        let slot = self
            .entries
            .entry(hasher.hash_one(handle), under(&handle), |entry| {
                hasher.hash_one(entry.record.handle)
            });
        match slot {
            Slot::Vacant(slot) => {
                slot.insert(entry);
            }
            Slot::Occupied(mut slot) => {
                // Callers check `holds` first; should one not, the entry is replaced
                // and the LRU stays exact.
                *slot.get_mut() = entry;
                self.anonymous.forget(&handle);
            }
        }
        if anonymous {
            self.anonymous.used(handle, tick);
        }
    }

    /// Removes the session `key` opens.
    pub(super) fn remove(&mut self, key: &StoreKey) -> Option<Arc<Record>> {
        if !self.get(key.handle())?.opens(key) {
            return None;
        }
        self.remove_handle(key.handle())
    }

    /// Removes the session under `handle`, whatever token opens it.
    pub(super) fn remove_handle(&mut self, handle: &Handle) -> Option<Arc<Record>> {
        let hash = self.hash_of(handle);
        let found = self.entries.find_entry(hash, under(handle)).ok()?;
        let (entry, _) = found.remove();
        if entry.record.principal.is_none() {
            self.anonymous.forget(handle);
        }
        Some(entry.record)
    }

    /// Marks the live entry `key` opens as just used and returns it; otherwise says
    /// why not (`None`: missing). Only the LRU changes, and only for anonymous
    /// sessions: the common read path does no re-insertion.
    pub(super) fn use_live(
        &mut self,
        key: &StoreKey,
        now: Timestamp,
        tick: u64,
    ) -> Result<&Arc<Record>, Option<Expiry>> {
        let hash = self.hash_of(key.handle());
        let Some(entry) = self
            .entries
            .find(hash, under(key.handle()))
            .filter(|entry| entry.opens(key))
        else {
            return Err(None);
        };
        if let Some(expiry) = entry.record.expired_by(now) {
            return Err(Some(expiry));
        }
        if entry.record.principal.is_none() {
            self.anonymous.used(entry.record.handle, tick);
        }
        Ok(&entry.record)
    }

    /// The live session under `handle`, if any.
    pub(super) fn live_handle(&self, handle: &Handle, now: Timestamp) -> Option<&Entry> {
        self.get(handle)
            .filter(|entry| entry.record.expired_by(now).is_none())
    }

    /// Changes the live record `key` opens in place with `change` (which must be
    /// all-or-nothing), keeping the shard's LRU and expiry floor in step; with
    /// `rekey`, the session is opened by that key from now on (a rotation: same
    /// handle, new token). Returns the record as it now stands; `None` when not live.
    pub(super) fn modify(
        &mut self,
        key: &StoreKey,
        rekey: Option<&StoreKey>,
        now: Timestamp,
        tick: u64,
        change: impl FnOnce(&mut Record) -> Result<(), StoreError>,
    ) -> Result<Option<Arc<Record>>, StoreError> {
        let handle = *key.handle();
        let Some(entry) = self.get_mut(&handle).filter(|entry| entry.opens(key)) else {
            return Ok(None);
        };
        if entry.record.expired_by(now).is_some() {
            return Ok(None);
        }
        let was_anonymous = entry.record.principal.is_none();
        change(Arc::make_mut(&mut entry.record))?;
        if let Some(new) = rekey {
            entry.hash = *new.hash();
        }
        let record = Arc::clone(&entry.record);
        self.expiry_floor = self.expiry_floor.min(record.expires_at());
        if record.principal.is_none() {
            self.anonymous.used(handle, tick);
        } else if was_anonymous {
            self.anonymous.forget(&handle);
        }
        Ok(Some(record))
    }

    /// Takes out up to `limit` sessions expired at `now` (into `removed`); how many.
    /// Walks the table only when the expiry floor says one may be there, and leaves
    /// the floor at the earliest deadline of what stays.
    pub(super) fn take_expired(
        &mut self,
        now: Timestamp,
        limit: usize,
        removed: &mut Removed,
    ) -> usize {
        if self.expiry_floor > now || limit == 0 {
            return 0;
        }
        let Self {
            entries,
            anonymous,
            expiry_floor,
            ..
        } = self;
        let mut taken = 0;
        let mut floor = NEVER;
        entries.retain(|entry| {
            let deadline = entry.record.expires_at();
            if deadline <= now && taken < limit {
                taken += 1;
                let handle = entry.record.handle;
                if entry.record.principal.is_none() {
                    anonymous.forget(&handle);
                }
                removed.push((handle, entry.record.principal.clone()));
                return false;
            }
            floor = floor.min(deadline);
            true
        });
        *expiry_floor = floor;
        taken
    }

    /// Evicts the least recently used anonymous session; its handle.
    pub(super) fn evict_anonymous(&mut self) -> Option<Handle> {
        let handle = self.anonymous.pop()?;
        self.remove_handle(&handle).map(|_| handle)
    }

    /// The sessions live at `now`.
    pub(super) fn live_count(&self, now: Timestamp) -> usize {
        if self.expiry_floor > now {
            return self.entries.len();
        }
        self.entries
            .iter()
            .filter(|entry| entry.record.expires_at() > now)
            .count()
    }
}
