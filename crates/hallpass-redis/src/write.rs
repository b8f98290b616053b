//! Every call on one session: load, create, apply, rotate, touch, delete, and the
//! principal-wide calls (list, revoke all, generation). On standalone Redis each is
//! one script, one round trip; on a cluster a login and a revoke-all add their steps
//! on the principal's slot (see [`scripts::ADMIT`]).

use std::sync::Arc;

use hallpass::config::CapPolicy;
use hallpass::store::{
    Admission, Applied, Created, Delta, DeltaError, Incremented, Loaded, Op, PrincipalChange,
    Record, Refusal, Rotated, StoreError, StoreErrorKind, StoreKey, Touch,
};
use hallpass::time::Timestamp;
use hallpass::{Handle, SessionSummary};
use redis::Value;
use subtle::ConstantTimeEq;

use crate::{RedisStore, record, scripts};

/// The delta as script arguments (the `B`-based block the scripts read).
///
/// # Errors
///
/// [`DeltaError::UnknownOp`] for an op this store does not know: refused, never
/// skipped.
fn delta_args(delta: &Delta, now: Timestamp) -> Result<Vec<String>, StoreError> {
    let ms = |t: Timestamp| t.as_unix_millis().to_string();
    let mut args = Vec::with_capacity(14 + 3 * delta.ops.len());
    args.push(ms(now));
    args.push(if delta.clear_data { "1" } else { "0" }.to_owned());
    match &delta.principal {
        None => args.extend([String::new(), String::new()]),
        Some(PrincipalChange::Login { principal, .. }) => {
            args.extend(["=".to_owned(), principal.clone()]);
        }
        Some(_) => args.extend(["-".to_owned(), String::new()]),
    }
    args.push(
        delta
            .remember
            .map_or(String::new(), |r| if r { "1" } else { "0" }.to_owned()),
    );
    match &delta.client {
        None => args.extend([String::new(), String::new(), String::new()]),
        Some(client) => args.extend([
            "1".to_owned(),
            client.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            client.user_agent.clone().unwrap_or_default(),
        ]),
    }
    args.push(delta.absolute_deadline.map(ms).unwrap_or_default());
    match &delta.touch {
        None => args.extend([String::new(), String::new(), String::new()]),
        Some(touch) => args.extend([
            ms(touch.last_seen_at),
            ms(touch.idle_deadline),
            touch.due_by.map(ms).unwrap_or_default(),
        ]),
    }
    args.push(delta.ops.len().to_string());
    args.push(
        delta
            .max_data_bytes
            .map(|max| max.to_string())
            .unwrap_or_default(),
    );
    for op in &delta.ops {
        match op {
            Op::Set { key, value } => args.extend(["S".to_owned(), key.clone(), value.to_string()]),
            Op::Remove { key } => args.extend(["R".to_owned(), key.clone()]),
            Op::Increment { key, by } => args.extend(["I".to_owned(), key.clone(), by.to_string()]),
            other => {
                return Err(DeltaError::UnknownOp {
                    op: format!("{other:?}"),
                }
                .into());
            }
        }
    }
    Ok(args)
}

/// A script's refusal `{'e', code..':'..detail}` as the delta error it stands for.
fn refused_delta(detail: &str) -> DeltaError {
    let (code, rest) = detail.split_once(':').unwrap_or(("integer", detail));
    match code {
        "overflow" => DeltaError::Overflow {
            key: rest.to_owned(),
        },
        "size" => {
            let mut numbers = rest
                .split(':')
                .map(|n| n.parse::<usize>().unwrap_or(usize::MAX));
            DeltaError::TooLarge {
                size: numbers.next().unwrap_or(usize::MAX),
                max: numbers.next().unwrap_or(0),
            }
        }
        _ => DeltaError::NotAnInteger {
            key: rest.to_owned(),
        },
    }
}

fn text(value: &Value) -> Option<&str> {
    match value {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

fn unexpected(value: &Value) -> StoreError {
    StoreError::new(
        StoreErrorKind::Backend,
        record::BadRecord::Reply(format!("{value:?}")),
    )
}

fn bad_record(err: record::BadRecord) -> StoreError {
    StoreError::new(StoreErrorKind::InvalidData, err)
}

/// What a script's first element says when it refused: `{'e', detail}` a delta,
/// `{'r', reason, max}` a login.
enum Refused {
    Delta(DeltaError),
    Login(Refusal),
    /// Cluster: a cap eviction fenced this login between its admission and its
    /// write; admitted again, it evicts in turn.
    Evicted,
}

/// How often a cluster login evicted on its way is admitted again before it gives up
/// (as refused for the cap). Each retry follows a newer admission of the same
/// principal, so it takes a storm of logins to need many: twelve concurrent logins
/// under a cap of three needed up to eight attempts in the conformance case.
const ADMISSIONS: usize = 32;

fn refused(items: &[Value]) -> Option<Refused> {
    match items.first().and_then(text)? {
        "e" => Some(Refused::Delta(refused_delta(
            items.get(1).and_then(text).unwrap_or(""),
        ))),
        "r" if items.get(1).and_then(text) == Some("evicted") => Some(Refused::Evicted),
        "r" => Some(Refused::Login(
            match items.get(1).and_then(text).unwrap_or("") {
                "cap" => Refusal::TooManySessions {
                    max: items
                        .get(2)
                        .and_then(int)
                        .and_then(|n| usize::try_from(n).ok())
                        .unwrap_or(0),
                },
                _ => Refusal::CredentialsChanged,
            },
        )),
        _ => None,
    }
}

fn handles(value: &Value) -> Vec<Handle> {
    match value {
        Value::Array(items) => items
            .iter()
            .filter_map(|item| text(item)?.parse().ok())
            .collect(),
        _ => Vec::new(),
    }
}

/// The reply of [`scripts::WRITE`].
enum Written {
    Updated {
        evicted: Vec<Handle>,
        before: Option<String>,
        record: Record,
    },
    Gone,
    Refused(Refusal),
    /// Cluster: fenced by an eviction on its way; the sessions this attempt's
    /// admission ended.
    Evicted(Vec<Handle>),
}

fn written(handle: Handle, value: &Value) -> Result<Written, StoreError> {
    let items = match value {
        Value::Nil | Value::Boolean(false) => return Ok(Written::Gone),
        Value::Array(items) => items,
        other => return Err(unexpected(other)),
    };
    match refused(items) {
        Some(Refused::Delta(err)) => return Err(err.into()),
        Some(Refused::Login(refusal)) => return Ok(Written::Refused(refusal)),
        Some(Refused::Evicted) => return Ok(Written::Evicted(Vec::new())),
        None => {}
    }
    let [evicted, before, fields] = items.as_slice() else {
        return Err(unexpected(value));
    };
    let before = text(before).filter(|p| !p.is_empty()).map(str::to_owned);
    match record::from_value(handle, fields).map_err(bad_record)? {
        Some((_, record)) => Ok(Written::Updated {
            evicted: handles(evicted),
            before,
            record,
        }),
        None => Ok(Written::Gone),
    }
}

/// A cluster login after [`scripts::ADMIT`]: what the session write must quote so
/// that the fences can tell whether a revoke or an eviction postdates it.
struct Admitted {
    generation: String,
    number: String,
    evicted: Vec<Handle>,
}

/// What a cluster login evicted on its way every time it was admitted reports.
fn evicted_refusal(admission: &Admission) -> Refusal {
    Refusal::TooManySessions {
        max: admission.cap.map_or(0, |cap| cap.max),
    }
}

fn policy(cap: &hallpass::store::SessionCap) -> &'static str {
    match cap.policy {
        CapPolicy::RejectNew => "r",
        _ => "e",
    }
}

impl RedisStore {
    /// The admission arguments of an inline (standalone) write: the generation
    /// expected, the cap's maximum and policy.
    fn inline_admission(admission: &Admission) -> [String; 3] {
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
    async fn cluster_admit(
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
    async fn end_or_fence(
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
    async fn repair_index(&self, principal: &str) -> Result<(), StoreError> {
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

    fn invoke_args(invocation: &mut scripts::Call, args: impl IntoIterator<Item = String>) {
        for arg in args {
            invocation.arg(arg);
        }
    }

    pub(crate) async fn do_generation(&self, principal: &str) -> Result<u64, StoreError> {
        let generation: Option<u64> = self
            .query(redis::cmd("HGET").arg(self.meta_key(principal)).arg("g"))
            .await?;
        Ok(generation.unwrap_or(0))
    }

    pub(crate) async fn do_create(
        &self,
        key: &StoreKey,
        record: &Record,
        admission: &Admission,
    ) -> Result<Created, StoreError> {
        // Sessions ended by an attempt that was then fenced are still ended: they are
        // reported with the outcome.
        let mut ended = Vec::new();
        for _ in 0..ADMISSIONS {
            match self.create_once(key, record, admission).await? {
                Ok(Created::Inserted { evicted }) => {
                    ended.extend(evicted);
                    return Ok(Created::Inserted { evicted: ended });
                }
                Ok(created) => return Ok(created),
                Err(evicted) => ended.extend(evicted),
            }
        }
        Ok(Created::Refused(evicted_refusal(admission)))
    }

    /// One attempt at a create; `Err` with the sessions its admission ended when a
    /// cluster eviction fenced it on its way.
    async fn create_once(
        &self,
        key: &StoreKey,
        record: &Record,
        admission: &Admission,
    ) -> Result<Result<Created, Vec<Handle>>, StoreError> {
        let handle = key.handle();
        let now = record.last_seen_at;
        let mut evicted = Vec::new();
        let admission_args = match (&record.principal, self.inline()) {
            (Some(principal), false) => {
                match self
                    .cluster_admit(principal, handle, record.absolute_deadline, admission, now)
                    .await?
                {
                    Ok(admitted) => {
                        evicted = admitted.evicted;
                        [admitted.generation, admitted.number, String::new()]
                    }
                    Err(refusal) => return Ok(Ok(Created::Refused(refusal))),
                }
            }
            _ => Self::inline_admission(admission),
        };
        let mut invocation = scripts::CREATE.call();
        invocation.key(self.session_key(handle));
        invocation
            .arg(if self.inline() { "1" } else { "0" })
            .arg(self.prefix())
            .arg(handle.to_string());
        Self::invoke_args(&mut invocation, admission_args);
        invocation
            .arg(now.as_unix_millis())
            .arg(
                record
                    .expires_at()
                    .as_unix_millis()
                    .saturating_add(crate::TTL_GRACE_MS),
            )
            .arg(record.principal.as_deref().unwrap_or(""))
            .arg(record.absolute_deadline.as_unix_millis());
        for (field, value) in record::to_fields(record, key.hash()) {
            invocation.arg(field).arg(value);
        }
        for (field, value) in record::data_fields(record) {
            invocation.arg(field).arg(value);
        }
        let reply: Value = self.run(&invocation).await?;
        match &reply {
            Value::Int(0) => Ok(Ok(Created::KeyTaken)),
            Value::Array(items) => match refused(items) {
                Some(Refused::Login(refusal)) => Ok(Ok(Created::Refused(refusal))),
                Some(Refused::Evicted) => Ok(Err(evicted)),
                Some(Refused::Delta(_)) => Err(unexpected(&reply)),
                None => {
                    if let [_, inline_evicted] = items.as_slice() {
                        evicted.extend(handles(inline_evicted));
                    }
                    Ok(Ok(Created::Inserted { evicted }))
                }
            },
            other => Err(unexpected(other)),
        }
    }

    pub(crate) async fn do_load(
        &self,
        key: &StoreKey,
        now: Timestamp,
    ) -> Result<Loaded, StoreError> {
        let value: Value = self
            .query(redis::cmd("HGETALL").arg(self.session_key(key.handle())))
            .await?;
        Ok(self.loaded(key, &value, now))
    }

    /// An `HGETALL` reply as the session of `key`: missing unless it holds `key`'s
    /// token hash (compared in constant time).
    pub(crate) fn loaded(&self, key: &StoreKey, value: &Value, now: Timestamp) -> Loaded {
        match record::from_value(*key.handle(), value) {
            Ok(Some((hash, record))) if bool::from(hash.ct_eq(key.hash())) => {
                match record.expired_by(now) {
                    Some(expiry) => Loaded::Expired(expiry),
                    None => Loaded::Live(Arc::new(record)),
                }
            }
            Ok(_) => Loaded::Missing,
            Err(err) => {
                tracing::warn!(target: "hallpass::event", event = "corrupt_record", error = %err, "a stored session could not be decoded; treating it as no session");
                Loaded::Missing
            }
        }
    }

    /// An apply (`new` none) or a rotation; a cluster login evicted on its way is
    /// admitted again.
    async fn write(
        &self,
        old: &StoreKey,
        new: Option<&StoreKey>,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Written, StoreError> {
        let mut ended = Vec::new();
        for _ in 0..ADMISSIONS {
            match self.write_once(old, new, delta, now).await? {
                Written::Evicted(evicted) => ended.extend(evicted),
                Written::Updated {
                    evicted,
                    before,
                    record,
                } => {
                    ended.extend(evicted);
                    return Ok(Written::Updated {
                        evicted: ended,
                        before,
                        record,
                    });
                }
                written => return Ok(written),
            }
        }
        let admission = match &delta.principal {
            Some(PrincipalChange::Login { admission, .. }) => *admission,
            _ => Admission::default(),
        };
        Ok(Written::Refused(evicted_refusal(&admission)))
    }

    /// One [`scripts::WRITE`].
    async fn write_once(
        &self,
        old: &StoreKey,
        new: Option<&StoreKey>,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Written, StoreError> {
        let handle = old.handle();
        let mut evicted = Vec::new();
        let admission_args = match (&delta.principal, self.inline()) {
            (
                Some(PrincipalChange::Login {
                    principal,
                    admission,
                }),
                false,
            ) => {
                // The index score must bound the absolute deadline from above (members
                // are pruned by it); a login always sets one, the fallback never prunes.
                let score = delta
                    .absolute_deadline
                    .unwrap_or(Timestamp::from_unix_millis(1 << 52));
                match self
                    .cluster_admit(principal, handle, score, admission, now)
                    .await?
                {
                    Ok(admitted) => {
                        evicted = admitted.evicted;
                        [admitted.generation, admitted.number, String::new()]
                    }
                    Err(refusal) => return Ok(Written::Refused(refusal)),
                }
            }
            (Some(PrincipalChange::Login { admission, .. }), true) => {
                Self::inline_admission(admission)
            }
            _ => [String::new(), String::new(), String::new()],
        };
        let mut invocation = scripts::WRITE.call();
        invocation.key(self.session_key(handle));
        invocation
            .arg(if self.inline() { "1" } else { "0" })
            .arg(self.prefix())
            .arg(handle.to_string())
            .arg(&old.hash()[..])
            .arg(new.map_or(&[][..], |new| &new.hash()[..]));
        Self::invoke_args(&mut invocation, admission_args);
        Self::invoke_args(&mut invocation, delta_args(delta, now)?);
        let reply: Value = self.run(&invocation).await?;
        let written = written(*handle, &reply)?;
        Ok(match written {
            Written::Updated {
                evicted: inline_evicted,
                before,
                record,
            } => {
                evicted.extend(inline_evicted);
                Written::Updated {
                    evicted,
                    before,
                    record,
                }
            }
            Written::Evicted(_) => Written::Evicted(evicted),
            other => other,
        })
    }

    pub(crate) async fn do_apply(
        &self,
        key: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        if matches!(delta.principal, Some(PrincipalChange::Login { .. })) {
            return Err(StoreError::login_needs_rotation());
        }
        Ok(match self.write(key, None, delta, now).await? {
            Written::Updated { record, .. } => Applied::Updated(Arc::new(record)),
            Written::Gone | Written::Refused(_) | Written::Evicted(_) => Applied::Gone,
        })
    }

    /// [`SessionStore::increment`](hallpass::store::SessionStore::increment): the lean
    /// script when the delta is one increment (and a touch), else an apply.
    pub(crate) async fn do_increment(
        &self,
        key: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Incremented, StoreError> {
        let lean = delta.ops.len() == 1
            && !delta.clear_data
            && delta.principal.is_none()
            && delta.remember.is_none()
            && delta.client.is_none()
            && delta.absolute_deadline.is_none();
        let Some(Op::Increment { key: name, by }) = delta.ops.last() else {
            return Err(StoreError::msg(
                StoreErrorKind::InvalidData,
                "increment: the delta's last op is not an increment",
            ));
        };
        if !lean {
            return Incremented::of(self.do_apply(key, delta, now).await?, name);
        }
        let ms = |t: Timestamp| t.as_unix_millis().to_string();
        let mut invocation = scripts::INCREMENT.call();
        invocation
            .key(self.session_key(key.handle()))
            .arg(&key.hash()[..])
            .arg(now.as_unix_millis())
            .arg(format!("d:{name}"))
            .arg(*by)
            .arg(
                delta
                    .max_data_bytes
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            )
            .arg(delta.touch.map(|t| ms(t.last_seen_at)).unwrap_or_default())
            .arg(delta.touch.map(|t| ms(t.idle_deadline)).unwrap_or_default())
            .arg(
                delta
                    .touch
                    .and_then(|t| t.due_by)
                    .map(ms)
                    .unwrap_or_default(),
            );
        let reply: Value = self.run(&invocation).await?;
        let items = match &reply {
            Value::Nil | Value::Boolean(false) => return Ok(Incremented::Gone),
            Value::Array(items) => items,
            other => return Err(unexpected(other)),
        };
        if let Some(Refused::Delta(err)) = refused(items) {
            return Err(err.into());
        }
        match items.as_slice() {
            [value, version] => Ok(Incremented::Counted {
                value: int(value).ok_or_else(|| unexpected(&reply))?,
                version: int(version)
                    .and_then(|v| u64::try_from(v).ok())
                    .ok_or_else(|| unexpected(&reply))?,
            }),
            _ => Err(unexpected(&reply)),
        }
    }

    pub(crate) async fn do_rotate(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Rotated, StoreError> {
        if old.handle() != new.handle() {
            return Err(StoreError::msg(
                StoreErrorKind::InvalidData,
                "a rotation keeps the session's handle",
            ));
        }
        if old.hash() == new.hash() {
            return Ok(Rotated::KeyTaken);
        }
        Ok(match self.write(old, Some(new), delta, now).await? {
            Written::Updated {
                evicted, record, ..
            } => Rotated::Updated {
                record: Arc::new(record),
                evicted,
            },
            Written::Gone => Rotated::Gone,
            Written::Refused(refusal) => Rotated::Refused(refusal),
            Written::Evicted(_) => Rotated::Refused(evicted_refusal(&Admission::default())),
        })
    }

    pub(crate) async fn do_touch(
        &self,
        key: &StoreKey,
        touch: Touch,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let touched: i64 = self
            .run(
                scripts::TOUCH
                    .key(self.session_key(key.handle()))
                    .arg(&key.hash()[..])
                    .arg(now.as_unix_millis())
                    .arg(touch.last_seen_at.as_unix_millis())
                    .arg(touch.idle_deadline.as_unix_millis()),
            )
            .await?;
        Ok(touched == 1)
    }

    /// Deletes `handle`'s session, only if it holds `hash` (none: whatever token —
    /// a revoke by handle); whose it was, when there was one.
    pub(crate) async fn delete_session(
        &self,
        handle: &Handle,
        hash: Option<&[u8; 32]>,
    ) -> Result<Option<hallpass::store::Deleted>, StoreError> {
        let (deleted, owner): (i64, String) = self
            .run(
                scripts::DELETE
                    .key(self.session_key(handle))
                    .arg(if self.inline() { "1" } else { "0" })
                    .arg(self.prefix())
                    .arg(handle.to_string())
                    .arg(hash.map_or(&[][..], |h| &h[..])),
            )
            .await?;
        if deleted != 1 {
            return Ok(None);
        }
        if !self.inline() && !owner.is_empty() {
            self.zrem(&owner, handle).await?;
        }
        Ok(Some(hallpass::store::Deleted::new(
            (!owner.is_empty()).then_some(owner),
        )))
    }

    /// [`SessionStore::delete`](hallpass::store::SessionStore::delete): the session under
    /// `key` (one script).
    pub(crate) async fn delete_key(
        &self,
        key: &StoreKey,
    ) -> Result<Option<hallpass::store::Deleted>, StoreError> {
        self.delete_session(key.handle(), Some(key.hash())).await
    }

    pub(crate) async fn do_load_handle(
        &self,
        handle: &Handle,
        now: Timestamp,
    ) -> Result<Option<(StoreKey, Record)>, StoreError> {
        let value: Value = self
            .query(redis::cmd("HGETALL").arg(self.session_key(handle)))
            .await?;
        Ok(
            match record::from_value(*handle, &value).map_err(bad_record)? {
                Some((hash, record)) if record.expired_by(now).is_none() => {
                    Some((StoreKey::new(*handle, hash), record))
                }
                _ => None,
            },
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_detail() {
        assert_eq!(
            refused_delta("size:10:5"),
            DeltaError::TooLarge { size: 10, max: 5 }
        );
        assert_eq!(
            refused_delta("overflow:n"),
            DeltaError::Overflow { key: "n".into() }
        );
        let cap = [
            Value::BulkString(b"r".to_vec()),
            Value::BulkString(b"cap".to_vec()),
            Value::Int(3),
        ];
        assert!(matches!(
            refused(&cap),
            Some(Refused::Login(Refusal::TooManySessions { max: 3 }))
        ));
    }
}
