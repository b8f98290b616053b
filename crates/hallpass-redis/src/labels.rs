//! The label index (see [`hallpass::label`]): per label pair a sorted set of the
//! handles given it (`P2:b:<name>:<value>`), written by [`scripts::LABEL_INDEX`]
//! before the write that sets the label and settled after it; read, used and
//! forgotten by a revoke. A label key may sit in any slot: on a Cluster the
//! index-first order is what keeps a revoke from missing a session.

use hallpass::Handle;
use hallpass::config::MAX_TIMEOUT;
use hallpass::store::StoreError;
use hallpass::time::Timestamp;

use crate::RedisStore;
use crate::scripts;

/// How long past its last session's absolute deadline a label key is kept.
const GRACE_MS: u64 = 60_000;

impl RedisStore {
    fn label_key(&self, name: &str, value: &str) -> String {
        format!("{}2:b:{name}:{value}", self.options.prefix)
    }

    /// Indexes `handle` under each label pair, scored `deadline` (`None`: the
    /// provisional score, `now` plus the longest session life).
    pub(crate) async fn index_labels<'l>(
        &self,
        handle: &Handle,
        labels: impl Iterator<Item = (&'l str, &'l str)>,
        deadline: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let score = deadline.unwrap_or_else(|| now.saturating_add(MAX_TIMEOUT));
        for (name, value) in labels {
            let _: i64 = self
                .run(
                    scripts::LABEL_INDEX
                        .key(self.label_key(name, value))
                        .arg(handle.to_string())
                        .arg(score.as_unix_millis())
                        .arg(now.as_unix_millis())
                        .arg(GRACE_MS),
                )
                .await?;
        }
        Ok(())
    }

    /// Ends the sessions indexed under `name = value` that carry the label, then
    /// forgets the handles it read.
    pub(crate) async fn do_revoke_label(
        &self,
        name: &str,
        value: &str,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let key = self.label_key(name, value);
        let members: Vec<String> = self
            .query(redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1))
            .await?;
        let listed: Vec<Handle> = members.iter().filter_map(|m| m.parse().ok()).collect();
        let ended = hallpass::store::revoke_listed(self, &listed, name, value, now).await?;
        if !members.is_empty() {
            let _: i64 = self
                .query(redis::cmd("ZREM").arg(&key).arg(&members))
                .await?;
        }
        Ok(ended)
    }
}
