//! The label index (see the `label` module): each label pair to the handles of the
//! sessions given it, written before the write that sets the label.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::time::Timestamp;
use crate::token::Handle;

use super::MemoryStore;
use super::shard::lock;

/// Label pairs to handles, each with when it was indexed. Entries of sessions that
/// ended are dropped by the purge once older than [`SETTLED`].
pub(super) type LabelIndex = Mutex<HashMap<(String, String), Vec<(Handle, Timestamp)>>>;

/// How old an entry without a session must be before the purge drops it: a create
/// indexes its labels before it inserts the session.
const SETTLED: std::time::Duration = std::time::Duration::from_secs(60);

impl MemoryStore {
    /// Adds `handle` under each pair of `labels`.
    pub(super) fn index_labels<'l>(
        &self,
        handle: &Handle,
        labels: impl Iterator<Item = (&'l str, &'l str)>,
        now: Timestamp,
    ) {
        let mut labels = labels.peekable();
        if labels.peek().is_none() {
            return;
        }
        let mut index = lock(&self.inner.labels);
        for (name, value) in labels {
            let handles = index
                .entry((name.to_owned(), value.to_owned()))
                .or_default();
            match handles.iter_mut().find(|(h, _)| h == handle) {
                Some((_, at)) => *at = now,
                None => handles.push((*handle, now)),
            }
        }
    }

    /// The handles indexed under `name = value`, taken out of the index.
    pub(super) fn take_label(&self, name: &str, value: &str) -> Vec<Handle> {
        lock(&self.inner.labels)
            .remove(&(name.to_owned(), value.to_owned()))
            .unwrap_or_default()
            .into_iter()
            .map(|(handle, _)| handle)
            .collect()
    }

    /// Drops the handles of sessions the store no longer holds, indexed before
    /// [`SETTLED`] ago.
    pub(super) fn prune_labels(&self, now: Timestamp) {
        let settled = now.saturating_sub(SETTLED);
        let mut index = lock(&self.inner.labels);
        index.retain(|_, handles| {
            handles.retain(|(handle, at)| {
                *at > settled || self.shard_of(handle).get(handle).is_some()
            });
            !handles.is_empty()
        });
    }
}
