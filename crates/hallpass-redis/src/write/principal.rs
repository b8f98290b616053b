//! What concerns a principal's sessions as a whole: a cluster login's admission on
//! the principal's slot, the fences, the index repair, list, generation and
//! revoke-all.

use hallpass::config::CapPolicy;
use hallpass::store::{Admission, Refusal, StoreError};
use hallpass::time::Timestamp;
use hallpass::{Handle, SessionSummary};
use redis::Value;

use super::reply::{Refused, handles, int, refused, unexpected};
use crate::{RedisStore, record, scripts};

/// How often a cluster login evicted on its way is admitted again before it gives up
/// (as refused for the cap). Each retry follows a newer admission of the same
/// principal, so it takes a storm of logins to need many: twelve concurrent logins
/// under a cap of three needed up to eight attempts in the conformance case.
pub(super) const ADMISSIONS: usize = 32;

/// A cluster login after [`scripts::ADMIT`]: what the session write must quote so
/// that the fences can tell whether a revoke or an eviction postdates it.
pub(super) struct Admitted {
    pub(super) generation: String,
    pub(super) number: String,
    pub(super) evicted: Vec<Handle>,
}

/// What a cluster login evicted on its way every time it was admitted reports.
pub(super) fn evicted_refusal(admission: &Admission) -> Refusal {
    Refusal::TooManySessions {
        max: admission.cap.map_or(0, |cap| cap.max),
    }
}

pub(super) fn policy(cap: &hallpass::store::SessionCap) -> &'static str {
    match cap.policy {
        CapPolicy::RejectNew => "r",
        _ => "e",
    }
}

impl RedisStore {
    /// The admission arguments of an inline (standalone) write: the generation
    /// expected, the cap's maximum and policy.
    pub(super) fn inline_admission(admission: &Admission) -> [String; 3] {
        [
            admission
                .generation
                .map(|g| g.to_string())
                .unwrap_or_default(),
            admission
                .cap
                .map(|cap| cap.max.to_string())
                .unwrap_or_default(),
            admission.cap.map_or("e", |cap| policy(&cap)).to_owned(),
        ]
    }

    /// A cluster login's first step, on the principal's slot: admission, then the
    /// victims ended (or fenced) before the new session exists, so the cap holds at
    /// every moment.
    pub(super) async fn cluster_admit(
        &self,
        principal: &str,
        handle: &Handle,
        score: Timestamp,
        admission: &Admission,
        now: Timestamp,
    ) -> Result<Result<Admitted, Refusal>, StoreError> {
        let mut repaired = false;
        loop {
            let reply: Value = self
                .run(
                    scripts::ADMIT
                        .key(self.index_key(principal))
                        .key(self.meta_key(principal))
                        .arg(now.as_unix_millis())
                        .arg(handle.to_string())
                        .arg(score.as_unix_millis())
                        .arg(
                            admission
                                .generation
                                .map(|g| g.to_string())
                                .unwrap_or_default(),
                        )
                        .arg(
                            admission
                                .cap
                                .map(|cap| cap.max.to_string())
                                .unwrap_or_default(),
                        )
                        .arg(admission.cap.map_or("e", |cap| policy(&cap))),
                )
                .await?;
            let Value::Array(items) = &reply else {
                return Err(unexpected(&reply));
            };
            match refused(items) {
                Some(Refused::Login(Refusal::TooManySessions { .. })) if !repaired => {
                    repaired = true;
                    self.repair_index(principal).await?;
                    continue;
                }
                Some(Refused::Login(refusal)) => return Ok(Err(refusal)),
                Some(Refused::Delta(_) | Refused::Evicted) => return Err(unexpected(&reply)),
                None => {}
            }
            let [generation, number, _had, victims] = items.as_slice() else {
                return Err(unexpected(&reply));
            };
            let admitted = Admitted {
                generation: int(generation)
                    .ok_or_else(|| unexpected(&reply))?
                    .to_string(),
                number: int(number).ok_or_else(|| unexpected(&reply))?.to_string(),
                evicted: Vec::new(),
            };
            let mut evicted = Vec::new();
            for victim in handles(victims) {
                if self
                    .end_or_fence(&victim, principal, "fq", &admitted.number, false)
                    .await?
                {
                    evicted.push(victim);
                }
            }
            return Ok(Ok(Admitted {
                evicted,
                ..admitted
            }));
        }
    }

    /// Ends `handle`'s session if it is `principal`'s, or fences the handle so that
    /// a login of it admitted before (`field` below `value`) cannot finish; `only`:
    /// fence a handle that has no session, touch nothing else. A session ended is
    /// taken out of the index (a deleted handle never comes back). `true`: ended.
    pub(super) async fn end_or_fence(
        &self,
        handle: &Handle,
        principal: &str,
        field: &str,
        value: &str,
        only: bool,
    ) -> Result<bool, StoreError> {
        let outcome: i64 = self
            .run(
                scripts::END_OR_FENCE
                    .key(self.session_key(handle))
                    .arg(principal)
                    .arg(field)
                    .arg(value)
                    .arg(self.fence_ttl_ms())
                    .arg(if only { "only" } else { "" }),
            )
            .await?;
        if outcome == 1 || (only && outcome == 0) {
            self.zrem(principal, handle).await?;
        }
        Ok(outcome == 1)
    }

    pub(crate) async fn zrem(&self, principal: &str, handle: &Handle) -> Result<(), StoreError> {
        self.query::<()>(
            redis::cmd("ZREM")
                .arg(self.index_key(principal))
                .arg(handle.to_string()),
        )
        .await
    }

    /// A cluster's principal index can hold members whose session is gone (a login
    /// that failed after its admission). Before refusing a login for the cap, those
    /// are fenced for good and dropped; members with a live session of someone else
    /// (a login on its way) are left alone.
    pub(super) async fn repair_index(&self, principal: &str) -> Result<(), StoreError> {
        let members: Vec<String> = self
            .query(
                redis::cmd("ZRANGE")
                    .arg(self.index_key(principal))
                    .arg(0)
                    .arg(-1),
            )
            .await?;
        let number: Option<i64> = self
            .query(redis::cmd("HGET").arg(self.meta_key(principal)).arg("q"))
            .await?;
        let number = number.unwrap_or(0).to_string();
        for member in members {
            let Ok(handle) = member.parse::<Handle>() else {
                continue;
            };
            let holds: bool = self
                .query(
                    redis::cmd("HEXISTS")
                        .arg(self.session_key(&handle))
                        .arg("k"),
                )
                .await?;
            if !holds {
                self.end_or_fence(&handle, principal, "fq", &number, true)
                    .await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn do_generation(&self, principal: &str) -> Result<u64, StoreError> {
        let generation: Option<u64> = self
            .query(redis::cmd("HGET").arg(self.meta_key(principal)).arg("g"))
            .await?;
        Ok(generation.unwrap_or(0))
    }

    /// The principal's live sessions, oldest first; on standalone Redis, members
    /// whose session is gone are dropped from the index as they are found.
    pub(crate) async fn do_list(
        &self,
        principal: &str,
        now: Timestamp,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        let index = self.index_key(principal);
        let members: Vec<String> = self
            .query(redis::cmd("ZRANGE").arg(&index).arg(0).arg(-1))
            .await?;
        let handles: Vec<Handle> = members.iter().filter_map(|m| m.parse().ok()).collect();
        let replies = self.hgetall_each(&handles).await?;
        let mut found = Vec::new();
        let mut gone = Vec::new();
        for (handle, reply) in handles.iter().zip(&replies) {
            match record::from_value(*handle, reply) {
                Ok(Some((_, record)))
                    if record.principal.as_deref() == Some(principal)
                        && record.expired_by(now).is_none() =>
                {
                    found.push(record);
                }
                Ok(None) => gone.push(handle.to_string()),
                _ => {}
            }
        }
        if self.inline() && !gone.is_empty() {
            // Standalone only: a cluster member with no session may be a login
            // on its way (admitted, not yet written).
            self.query::<()>(redis::cmd("ZREM").arg(&index).arg(&gone))
                .await?;
        }
        found.sort_by_key(|record| (record.created_at, record.handle));
        Ok(found.iter().map(SessionSummary::from).collect())
    }

    pub(crate) async fn do_revoke_principal(
        &self,
        principal: &str,
        except: Option<&Handle>,
    ) -> Result<u64, StoreError> {
        let except_text = except.map(ToString::to_string).unwrap_or_default();
        if self.inline() {
            let total: u64 = self
                .run(
                    scripts::REVOKE_ALL
                        .key(self.index_key(principal))
                        .key(self.meta_key(principal))
                        .arg(self.prefix())
                        .arg(principal)
                        .arg(&except_text),
                )
                .await?;
            return Ok(total);
        }
        let (generation, members): (i64, Vec<String>) = self
            .run(
                scripts::BUMP
                    .key(self.index_key(principal))
                    .key(self.meta_key(principal)),
            )
            .await?;
        let generation = generation.to_string();
        let mut total = 0;
        for member in members.iter().filter(|m| **m != except_text) {
            let Ok(handle) = member.parse::<Handle>() else {
                continue;
            };
            if self
                .end_or_fence(&handle, principal, "fg", &generation, false)
                .await?
            {
                total += 1;
            }
        }
        Ok(total)
    }
}
