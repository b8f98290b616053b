//! The [`SessionStore`] impl: each operation under the locks the type docs give.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::delta::{Admission, Delta, PrincipalChange, Touch};
use crate::record::Record;
use crate::store::{
    Applied, Created, Deleted, Loaded, Rotated, SessionPage, SessionStore, SessionSummary,
    StoreError, StoreErrorKind, StoreFuture,
};
use crate::time::Timestamp;
use crate::token::{Handle, StoreKey};

use super::MemoryStore;
use super::shard::{Removed, lock};

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
