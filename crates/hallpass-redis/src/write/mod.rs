//! Every call on one session: load, create, apply, rotate, touch, delete, and the
//! principal-wide calls (list, revoke all, generation). On standalone Redis each is
//! one script, one round trip; on a cluster a login and a revoke-all add their steps
//! on the principal's slot (see [`scripts::ADMIT`]).

use std::sync::Arc;

use hallpass::Handle;
use hallpass::store::{
    Admission, Applied, Created, Delta, DeltaError, DeviceChange, Incremented, Loaded, Op,
    Principal, PrincipalChange, Record, Rotated, StoreError, StoreErrorKind, StoreKey, Taken,
    Touch,
};
use hallpass::time::Timestamp;
use redis::Value;
use subtle::ConstantTimeEq;

use crate::{RedisStore, record, scripts};

mod principal;
mod reply;

use principal::{ADMISSIONS, evicted_refusal};
use reply::{Refused, Written, bad_record, handles, int, refused, unexpected, written};

/// The delta as script arguments (the `B`-based block the scripts read).
///
/// # Errors
///
/// [`DeltaError::UnknownOp`] for an op this store does not know: refused, never
/// skipped.
fn delta_args(delta: &Delta, now: Timestamp) -> Result<Vec<String>, StoreError> {
    let ms = |t: Timestamp| t.as_unix_millis().to_string();
    let mut args = Vec::with_capacity(20 + 3 * delta.ops.len());
    args.push(ms(now));
    args.push(if delta.clear_data { "1" } else { "0" }.to_owned());
    match &delta.principal {
        None => args.extend([String::new(), String::new()]),
        Some(PrincipalChange::Login { principal, .. }) => {
            args.extend(["=".to_owned(), principal.to_string()]);
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
            client.ip().map(|ip| ip.to_string()).unwrap_or_default(),
            client.user_agent().unwrap_or_default().to_owned(),
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
    args.push(
        delta
            .authenticated
            .as_ref()
            .map(record::authenticated_field)
            .unwrap_or_default(),
    );
    args.push(
        delta
            .rotated
            .as_ref()
            .map(hallpass::store::Rotation::to_text)
            .unwrap_or_default(),
    );
    match &delta.device {
        None => args.extend([String::new(), String::new(), String::new(), String::new()]),
        Some(DeviceChange::Register(binding)) => args.extend([
            "R".to_owned(),
            binding.thumbprint.to_string(),
            binding.key.to_string(),
            ms(binding.registered_at),
        ]),
        Some(DeviceChange::Refresh {
            thumbprint,
            epoch,
            at,
        }) => args.extend([
            "F".to_owned(),
            thumbprint.to_string(),
            epoch.to_string(),
            ms(*at),
        ]),
        Some(DeviceChange::End) => {
            args.extend(["E".to_owned(), String::new(), String::new(), String::new()]);
        }
        Some(other) => {
            return Err(DeltaError::UnknownOp {
                op: format!("{other:?}"),
            }
            .into());
        }
    }
    for op in &delta.ops {
        match op {
            Op::Set { key, value } => args.extend(["S".to_owned(), key.clone(), value.to_string()]),
            Op::Remove { key } => args.extend(["R".to_owned(), key.clone()]),
            Op::Increment { key, by } => args.extend(["I".to_owned(), key.clone(), by.to_string()]),
            Op::Take { key } => args.extend(["T".to_owned(), key.clone()]),
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

impl RedisStore {
    fn invoke_args(invocation: &mut scripts::Call, args: impl IntoIterator<Item = String>) {
        for arg in args {
            invocation.arg(arg);
        }
    }

    pub(crate) async fn do_create(
        &self,
        key: &StoreKey,
        record: &Record,
        admission: &Admission,
    ) -> Result<Created, StoreError> {
        StoreError::check_handle(key, &record.handle)?;
        // Sessions ended by an attempt that was then fenced are still ended: they are
        // reported with the outcome.
        let now = record.last_seen_at;
        self.index_labels(key.handle(), record.labels(), None, now)
            .await?;
        let mut ended = Vec::new();
        for _ in 0..ADMISSIONS {
            match self.create_once(key, record, admission).await? {
                Ok(Created::Inserted { evicted }) => {
                    let deadline = Some(record.absolute_deadline);
                    self.index_labels(key.handle(), record.labels(), deadline, now)
                        .await?;
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
        // Labels are indexed before the write that sets them (hallpass::label).
        self.index_labels(old.handle(), delta.labels(), None, now)
            .await?;
        let mut ended = Vec::new();
        for _ in 0..ADMISSIONS {
            match self.write_once(old, new, delta, now).await? {
                Written::Evicted(evicted) => ended.extend(evicted),
                Written::Updated {
                    evicted,
                    before,
                    record,
                    taken,
                } => {
                    self.index_labels(
                        old.handle(),
                        delta.labels(),
                        Some(record.absolute_deadline),
                        now,
                    )
                    .await?;
                    ended.extend(evicted);
                    return Ok(Written::Updated {
                        evicted: ended,
                        before,
                        record,
                        taken,
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
                taken,
            } => {
                evicted.extend(inline_evicted);
                Written::Updated {
                    evicted,
                    before,
                    record,
                    taken,
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
        self.apply_taking(key, delta, now).await.map(Applied::from)
    }

    /// [`SessionStore::take`](hallpass::store::SessionStore::take): an apply whose
    /// script reads and deletes the field in the same step.
    pub(crate) async fn do_take(
        &self,
        key: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Taken, StoreError> {
        StoreError::check_take(delta)?;
        self.apply_taking(key, delta, now).await
    }

    /// An apply ([`scripts::WRITE`] without a rotation), with what the delta's last
    /// take removed.
    async fn apply_taking(
        &self,
        key: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Taken, StoreError> {
        if matches!(delta.principal, Some(PrincipalChange::Login { .. })) {
            return Err(StoreError::login_needs_rotation());
        }
        Ok(match self.write(key, None, delta, now).await? {
            Written::Updated { record, taken, .. } => Taken::Updated {
                value: taken,
                record,
            },
            Written::Gone | Written::Refused(_) | Written::Evicted(_) => Taken::Gone,
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
            && delta.absolute_deadline.is_none()
            && delta.authenticated.is_none()
            && delta.rotated.is_none()
            && delta.device.is_none();
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
        StoreError::check_handle(new, old.handle())?;
        if old.hash() == new.hash() {
            return Ok(Rotated::KeyTaken);
        }
        Ok(match self.write(old, Some(new), delta, now).await? {
            Written::Updated {
                evicted, record, ..
            } => Rotated::Updated { record, evicted },
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
            (!owner.is_empty()).then(|| Principal::from(owner)),
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
}
