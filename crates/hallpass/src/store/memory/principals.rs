//! The per-principal index and generations, which live behind the store's gate.

use std::collections::{HashMap, HashSet};

use super::shard::{Hasher, Removed};
use crate::principal::Principal;
use crate::token::Handle;

/// The per-principal index and generations, behind the gate.
#[derive(Debug, Default)]
pub(super) struct Principals {
    /// Keyed by the one `Principal` every indexed session of that user shares.
    pub(super) map: HashMap<Principal, PrincipalEntry, Hasher>,
}

#[derive(Debug, Default)]
pub(super) struct PrincipalEntry {
    pub(super) keys: KeySet,
    pub(super) generation: u64,
}

/// A principal's sessions, by handle (which a rotation does not change). One principal may have a million sessions (every
/// bench session is alice's), and an insert must never rehash them all while the
/// gate is held: past [`KeySet::SPLIT_AT`] keys the set is split into
/// [`KeySet::PARTS`] parts by key, so a growing part rehashes a 64th of them. (A
/// B-tree never rehashes, but cost a tenth of the login rate.)
#[derive(Debug)]
pub(super) enum KeySet {
    Small(HashSet<Handle, Hasher>),
    Split(Box<[HashSet<Handle, Hasher>]>),
}

impl Default for KeySet {
    fn default() -> Self {
        Self::Small(HashSet::default())
    }
}

impl KeySet {
    pub(super) const SPLIT_AT: usize = 4096;
    pub(super) const PARTS: usize = 64;

    pub(super) fn part(handle: &Handle) -> usize {
        usize::from(handle.as_bytes()[1]) % Self::PARTS
    }

    pub(super) fn insert(&mut self, key: Handle) {
        match self {
            Self::Small(keys) => {
                keys.insert(key);
                if keys.len() > Self::SPLIT_AT {
                    let mut parts: Box<[HashSet<Handle, Hasher>]> =
                        (0..Self::PARTS).map(|_| HashSet::default()).collect();
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

    pub(super) fn remove(&mut self, key: &Handle) {
        match self {
            Self::Small(keys) => keys.remove(key),
            Self::Split(parts) => parts[Self::part(key)].remove(key),
        };
    }

    pub(super) fn is_empty(&self) -> bool {
        match self {
            Self::Small(keys) => keys.is_empty(),
            Self::Split(parts) => parts.iter().all(HashSet::is_empty),
        }
    }

    pub(super) fn to_vec(&self) -> Vec<Handle> {
        match self {
            Self::Small(keys) => keys.iter().copied().collect(),
            Self::Split(parts) => parts.iter().flatten().copied().collect(),
        }
    }
}

impl Principals {
    /// The name the principal's indexed sessions share, if it has any: a record
    /// stored for them points at it instead of holding a copy of its own.
    pub(super) fn shared(&self, principal: &str) -> Option<&Principal> {
        self.map.get_key_value(principal).map(|(name, _)| name)
    }

    pub(super) fn add(&mut self, principal: &Principal, key: Handle) {
        if let Some(entry) = self.map.get_mut(principal.as_str()) {
            entry.keys.insert(key);
            return;
        }
        self.map
            .entry(principal.clone())
            .or_default()
            .keys
            .insert(key);
    }

    pub(super) fn remove(&mut self, principal: &str, key: &Handle) {
        if let Some(entry) = self.map.get_mut(principal) {
            entry.keys.remove(key);
            if entry.keys.is_empty() && entry.generation == 0 {
                self.map.remove(principal);
            }
        }
    }

    /// Unindexes sessions taken out of their shards.
    pub(super) fn remove_all(&mut self, removed: Removed) {
        for (handle, principal) in removed {
            if let Some(principal) = principal {
                self.remove(&principal, &handle);
            }
        }
    }

    pub(super) fn keys(&self, principal: &str) -> Vec<Handle> {
        self.map
            .get(principal)
            .map(|entry| entry.keys.to_vec())
            .unwrap_or_default()
    }

    pub(super) fn generation(&self, principal: &str) -> u64 {
        self.map.get(principal).map_or(0, |entry| entry.generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past the split every key is still found once, and removing them all empties it.
    #[test]
    fn a_key_set_splits_and_keeps_every_key() {
        let mut set = KeySet::default();
        let keys: Vec<Handle> = (0..KeySet::SPLIT_AT * 3)
            .map(|_| Handle::generate())
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
