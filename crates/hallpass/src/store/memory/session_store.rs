//! The [`SessionStore`] impl: each operation under the locks the type docs give.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::delta::{Admission, Delta, PrincipalChange, Touch};
use crate::principal::Principal;
use crate::record::Record;
use crate::store::{
    Applied, Created, Deleted, Incremented, Loaded, Rotated, SessionPage, SessionStore,
    SessionSummary, StoreError, StoreErrorKind, StoreFuture, Taken,
};
use crate::time::Timestamp;
use crate::token::{Handle, StoreKey};

use super::MemoryStore;
use super::principals::Principals;
use super::shard::{Removed, lock};

impl SessionStore for MemoryStore {
    fn create<'a>(
        &'a self,
        key: &'a StoreKey,
        record: &'a Record,
        admission: &'a Admission,
    ) -> StoreFuture<'a, Created> {
        Box::pin(async move { self.create_now(key, &mut Arc::new(record.clone()), admission) })
    }

    fn create_shared<'a>(
        &'a self,
        key: &'a StoreKey,
        record: &'a mut Arc<Record>,
        admission: &'a Admission,
    ) -> StoreFuture<'a, Created> {
        // The caller's snapshot is kept as it is: a later write copies it only if the
        // caller still holds it then (`Arc::make_mut`).
        Box::pin(async move { self.create_now(key, record, admission) })
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
        Box::pin(async move { self.apply_taking(key, delta, now).map(Applied::from) })
    }

    /// [`apply`](SessionStore::apply) without a second future (the default's):
    /// this store's apply never waits.
    fn increment<'a>(
        &'a self,
        key: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, Incremented> {
        Box::pin(async move {
            let name = StoreError::check_increment(delta)?;
            Incremented::of(self.apply_taking(key, delta, now)?.into(), name)
        })
    }

    fn take<'a>(
        &'a self,
        key: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, Taken> {
        Box::pin(async move {
            StoreError::check_take(delta)?;
            self.apply_taking(key, delta, now)
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
            let updated = self.shard(key).modify(key, None, now, tick, |record| {
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
            StoreError::check_handle(new, old.handle())?;
            self.index_labels(old.handle(), delta.labels(), now);
            // A rotation that changes the principal takes the gate first (admission,
            // the index); one that keeps it locks only the shard: the session keeps
            // its handle, so a revoke looking for it finds it before or after.
            let changes_principal = delta.principal.is_some();
            let mut gate = changes_principal.then(|| self.gate());
            let victims = match (&gate, &delta.principal) {
                (
                    Some(gate),
                    Some(PrincipalChange::Login {
                        principal,
                        admission,
                    }),
                ) => match self.admit(gate, principal, admission, Some(old.handle()), now) {
                    Ok(victims) => victims,
                    Err(refusal) => return Ok(Rotated::Refused(refusal)),
                },
                _ => Vec::new(),
            };
            let shared = match (&gate, &delta.principal) {
                (Some(gate), Some(PrincipalChange::Login { principal, .. })) => {
                    gate.shared(principal).cloned()
                }
                _ => None,
            };
            let tick = self.next_tick();
            let mut before = None;
            let updated = self
                .shard(old)
                .modify(old, Some(new), now, tick, |record| {
                    before.clone_from(&record.principal);
                    delta.apply_to(record)?;
                    if shared.is_some() {
                        // The same name, the one the user's other sessions point at.
                        record.principal.clone_from(&shared);
                    }
                    Ok(())
                })?;
            let Some(record) = updated else {
                return Ok(Rotated::Gone);
            };
            let evicted = match &mut gate {
                Some(gate) => {
                    let handle = record.handle;
                    if let Some(before) = &before {
                        gate.remove(before, &handle);
                    }
                    match &record.principal {
                        Some(principal) => {
                            gate.add(principal, handle);
                            self.evict(gate, principal, victims)
                        }
                        None => Vec::new(),
                    }
                }
                None => Vec::new(),
            };
            Ok(Rotated::Updated { record, evicted })
        })
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, Option<Deleted>> {
        Box::pin(async move {
            let record = self.shard(key).remove(key);
            let Some(record) = record else {
                return Ok(None);
            };
            if let Some(principal) = &record.principal {
                self.gate().remove(principal, key.handle());
            }
            Ok(Some(Deleted::new(record.principal.clone())))
        })
    }

    fn load_handle<'a>(
        &'a self,
        handle: &'a Handle,
        now: Timestamp,
    ) -> StoreFuture<'a, Option<(StoreKey, Record)>> {
        Box::pin(async move {
            Ok(self
                .shard_of(handle)
                .live_handle(handle, now)
                .map(|entry| (entry.key(), (*entry.record).clone())))
        })
    }

    fn revoke<'a>(&'a self, handle: &'a Handle) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            // Under the gate, so that the index loses the session in the same step.
            // The handle is the session's for its whole life: whatever token opens
            // it now (a rotation may have just swapped it), this ends it.
            let mut gate = self.gate();
            let Some(record) = self.shard_of(handle).remove_handle(handle) else {
                return Ok(false);
            };
            if let Some(principal) = &record.principal {
                gate.remove(principal, handle);
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
                .filter_map(|handle| {
                    let shard = self.shard_of(handle);
                    shard
                        .live_handle(handle, now)
                        .map(|entry| &*entry.record)
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
            let entry = gate.map.entry(Principal::from(principal)).or_default();
            entry.generation = entry.generation.saturating_add(1);
            let mut revoked = 0u64;
            for handle in gate.keys(principal) {
                if Some(&handle) == except {
                    continue;
                }
                let record = {
                    let mut shard = self.shard_of(&handle);
                    let theirs = shard
                        .get(&handle)
                        .is_some_and(|entry| entry.record.principal.as_deref() == Some(principal));
                    if theirs {
                        shard.remove_handle(&handle)
                    } else {
                        None
                    }
                };
                if record.is_some() {
                    gate.remove(principal, &handle);
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
                for entry in shard.iter() {
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

    fn revoke_label<'a>(
        &'a self,
        name: &'a str,
        value: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let listed = self.take_label(name, value);
            crate::store::revoke_listed(self, &listed, name, value, now).await
        })
    }

    fn count(&self, now: Timestamp) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let mut live = 0u64;
            for shard in &*self.inner.shards {
                let shard = lock(shard);
                live += u64::try_from(shard.live_count(now)).unwrap_or(u64::MAX);
            }
            Ok(live)
        })
    }
}

impl MemoryStore {
    /// An apply under the shard's lock (and the gate, when the delta clears the
    /// principal): the record after it and what its last take removed.
    fn apply_taking(
        &self,
        key: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Taken, StoreError> {
        self.index_labels(key.handle(), delta.labels(), now);
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
        let mut taken = None;
        let updated = self.shard(key).modify(key, None, now, tick, |record| {
            old.clone_from(&record.principal);
            taken = delta.apply_taking(record)?;
            Ok(())
        })?;
        let Some(record) = updated else {
            return Ok(Taken::Gone);
        };
        if let (Some(gate), Some(old)) = (&mut gate, &old) {
            gate.remove(old, key.handle());
        }
        Ok(Taken::Updated {
            value: taken,
            record,
        })
    }
}

impl MemoryStore {
    /// A create under the locks the type docs give; `keep` makes the record the
    /// store keeps (a copy of `record`, or the caller's shared one), only once the
    /// session is sure to be inserted.
    fn create_now(
        &self,
        key: &StoreKey,
        record: &mut Arc<Record>,
        admission: &Admission,
    ) -> Result<Created, StoreError> {
        StoreError::check_handle(key, &record.handle)?;
        let now = record.last_seen_at;
        self.index_labels(key.handle(), record.labels(), now);
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
        if let Some(gate) = &gate {
            share_principal(gate, record);
        }
        let mut removed = Removed::new();
        let inserted = {
            let mut shard = self.shard(key);
            if shard.holds(key.handle(), now, &mut removed) {
                return Ok(Created::KeyTaken);
            }
            let room = self.make_room(&mut shard, now, &mut removed);
            if room {
                let tick = self.next_tick();
                shard.insert(key, Arc::clone(record), tick);
            }
            room
        };
        if !inserted {
            match &mut gate {
                Some(gate) => gate.remove_all(removed),
                None => self.unindex_removed(removed),
            }
            tracing::warn!(target: "hallpass::event", event = "store_full", "memory store is full of authenticated sessions; refusing a new session");
            return Err(StoreError::msg(
                StoreErrorKind::CapacityExceeded,
                "every slot holds a live authenticated session",
            ));
        }
        let evicted = match (&mut gate, &record.principal) {
            (Some(gate), Some(principal)) => {
                gate.add(principal, *key.handle());
                gate.remove_all(std::mem::take(&mut removed));
                self.evict(gate, principal, victims)
            }
            _ => Vec::new(),
        };
        drop(gate);
        self.unindex_removed(removed);
        Ok(Created::Inserted { evicted })
    }
}

/// Points a record about to be stored at the name its principal's other sessions
/// share (under the gate), so that a user's thousand sessions hold one copy of it.
/// Only a record nobody else holds yet is changed; the name is equal either way.
fn share_principal(gate: &Principals, record: &mut Arc<Record>) {
    let Some(principal) = &record.principal else {
        return;
    };
    let Some(shared) = gate.shared(principal) else {
        return;
    };
    if Principal::ptr_eq(shared, principal) {
        return;
    }
    let shared = shared.clone();
    if let Some(record) = Arc::get_mut(record) {
        record.principal = Some(shared);
    }
}
