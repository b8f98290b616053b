//! Deltas: the changes one request made to a session, applied by a store atomically to
//! whatever the record holds *now*, so concurrent requests that change different keys
//! both keep their changes and `increment` never loses a count.

use crate::config::CapPolicy;
use crate::device::{DeviceChange, DeviceConflict};
use crate::principal::Principal;
use crate::record::{Authenticated, ClientMeta, Record, Rotation};
use crate::time::Timestamp;

/// One change to a session's data.
///
/// Adding a variant is a breaking change for store implementations: a store must
/// refuse an op it does not know with a typed error ([`DeltaError::UnknownOp`] or
/// [`StoreErrorKind::InvalidData`](crate::store::StoreErrorKind::InvalidData)), never skip it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Set `key` to `value`.
    Set {
        /// The data key.
        key: String,
        /// The new value.
        value: serde_json::Value,
    },
    /// Remove `key`.
    Remove {
        /// The data key.
        key: String,
    },
    /// Add `by` to the integer at `key` (absent counts as 0).
    Increment {
        /// The data key.
        key: String,
        /// The amount, possibly negative.
        by: i64,
    },
    /// Remove `key` and hand its value back, in the same atomic step: the read half
    /// of a value shown exactly once ([`Session::take_flash`](crate::Session::take_flash)).
    /// In [`SessionStore::take`](crate::store::SessionStore::take) the value the
    /// delta's last `Take` removed comes back; anywhere else it acts as
    /// [`Op::Remove`].
    Take {
        /// The data key.
        key: String,
    },
}

/// Moves the idle deadline on: the only change a "touch" makes.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Touch {
    /// The request time.
    pub last_seen_at: Timestamp,
    /// The new idle deadline (a store caps it at the absolute deadline).
    pub idle_deadline: Timestamp,
    /// When set, the touch is due only for a record last seen at or before this
    /// time, and does nothing to one seen since: a caller that has not read the
    /// record (a counter request's one call) lets the store decide, so most such
    /// requests write no deadline. `None`: always due.
    pub due_by: Option<Timestamp>,
}

impl Touch {
    /// A touch at `now` pushing the idle deadline to `idle_deadline`, always due.
    #[must_use]
    pub fn new(last_seen_at: Timestamp, idle_deadline: Timestamp) -> Self {
        Self {
            last_seen_at,
            idle_deadline,
            due_by: None,
        }
    }

    /// The same touch, due only for a record last seen at or before `due_by`
    /// (the request time less the touch interval).
    ///
    /// ```
    /// use hallpass::store::Touch;
    /// use hallpass::time::Timestamp;
    /// let now = Timestamp::from_unix_millis(600_000);
    /// let touch = Touch::new(now, Timestamp::from_unix_millis(1_200_000))
    ///     .when_seen_by(Timestamp::from_unix_millis(540_000));
    /// assert_eq!(touch.due_by, Some(Timestamp::from_unix_millis(540_000)));
    /// ```
    #[must_use]
    pub fn when_seen_by(mut self, due_by: Timestamp) -> Self {
        self.due_by = Some(due_by);
        self
    }

    /// Whether the touch is due for a record last seen at `last_seen_at`.
    #[must_use]
    pub fn is_due(&self, last_seen_at: Timestamp) -> bool {
        self.due_by.is_none_or(|by| last_seen_at <= by)
    }

    /// Applies the touch to a record, when it is due: deadline and last-seen only.
    pub fn apply_to(&self, record: &mut Record) {
        if !self.is_due(record.last_seen_at) {
            return;
        }
        record.last_seen_at = record.last_seen_at.max(self.last_seen_at);
        record.idle_deadline = self.idle_deadline.min(record.absolute_deadline);
    }
}

/// The per-principal session cap a login is admitted under (SR-29).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionCap {
    /// The most live sessions the principal may have, this one included.
    pub max: usize,
    /// What happens to a login that would exceed it.
    pub policy: CapPolicy,
}

impl SessionCap {
    /// At most `max` sessions, with `policy` for the one too many.
    #[must_use]
    pub fn new(max: usize, policy: CapPolicy) -> Self {
        Self { max, policy }
    }

    /// The cap's decision for one more login, given the principal's other live
    /// sessions as `(last seen, created, id)`: the ids to end first (least recently
    /// used, then oldest), or the refusal. Every store calls this inside its atomic
    /// step, so all of them choose alike.
    ///
    /// # Errors
    ///
    /// [`Refusal::TooManySessions`](crate::store::Refusal) under [`CapPolicy::RejectNew`]
    /// when the others already fill the cap.
    ///
    /// ```
    /// use hallpass::config::CapPolicy;
    /// use hallpass::store::SessionCap;
    /// use hallpass::time::Timestamp;
    ///
    /// let t = Timestamp::from_unix_millis;
    /// let others = vec![(t(5), t(1), "b"), (t(2), t(1), "a")];
    /// let cap = SessionCap::new(2, CapPolicy::EvictOldest);
    /// assert_eq!(cap.victims(others.clone()), Ok(vec!["a"]));
    /// assert!(SessionCap::new(2, CapPolicy::RejectNew).victims(others).is_err());
    /// ```
    pub fn victims<T: Ord>(
        &self,
        mut others: Vec<(Timestamp, Timestamp, T)>,
    ) -> Result<Vec<T>, Refusal> {
        if others.len() < self.max {
            return Ok(Vec::new());
        }
        match self.policy {
            CapPolicy::RejectNew => Err(Refusal::TooManySessions { max: self.max }),
            CapPolicy::EvictOldest => {
                others.sort();
                let excess = others.len() + 1 - self.max.max(1);
                Ok(others
                    .into_iter()
                    .take(excess)
                    .map(|(_, _, id)| id)
                    .collect())
            }
        }
    }
}

/// The conditions a store checks, inside the same atomic step that writes the
/// session, before it lets a session become the principal's: the principal's
/// generation has not moved since the login began (a credentials change or "log out
/// everywhere" in between defeats it) and the cap holds.
///
/// # Examples
///
/// ```
/// use hallpass::config::CapPolicy;
/// use hallpass::store::{Admission, SessionCap};
///
/// let admission = Admission::default()
///     .with_generation(7)
///     .with_cap(SessionCap::new(5, CapPolicy::EvictOldest));
/// assert_eq!(admission.generation, Some(7));
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Admission {
    /// The principal's generation when the login began; `None`: not checked.
    pub generation: Option<u64>,
    /// The cap to enforce; `None`: no cap.
    pub cap: Option<SessionCap>,
}

impl Admission {
    /// Requires the principal's generation to still be `generation`.
    #[must_use]
    pub fn with_generation(mut self, generation: u64) -> Self {
        self.generation = Some(generation);
        self
    }

    /// Enforces `cap`.
    #[must_use]
    pub fn with_cap(mut self, cap: SessionCap) -> Self {
        self.cap = Some(cap);
        self
    }
}

/// A change of the session's principal.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalChange {
    /// The session becomes `principal`'s, if the store admits it. Only
    /// [`SessionStore::rotate`](crate::store::SessionStore::rotate) takes this (a login always
    /// issues a new token, SR-14); [`SessionStore::apply`](crate::store::SessionStore::apply)
    /// refuses it.
    Login {
        /// The principal.
        principal: Principal,
        /// What the store checks first.
        admission: Admission,
    },
    /// The session becomes anonymous.
    Clear,
}

impl PrincipalChange {
    /// A login of `principal` under `admission`.
    #[must_use]
    pub fn login(principal: impl Into<Principal>, admission: Admission) -> Self {
        Self::Login {
            principal: principal.into(),
            admission,
        }
    }

    /// The principal the session has after the change.
    #[must_use]
    pub fn principal(&self) -> Option<&str> {
        match self {
            Self::Login { principal, .. } => Some(principal),
            Self::Clear => None,
        }
    }
}

/// Everything one request changes in a session, in the order it happened.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hallpass::Handle;
/// use hallpass::store::{Delta, Record};
/// use hallpass::time::Timestamp;
///
/// let mut record = Record::new(Handle::generate(), Timestamp::from_unix_millis(0),
///     Duration::from_secs(60), Duration::from_secs(600));
/// let mut delta = Delta::default();
/// delta.increment("views", 1);
/// delta.increment("views", 1);
/// delta.apply_to(&mut record)?;
/// assert_eq!(record.data["views"], 2);
/// # Ok::<(), hallpass::store::DeltaError>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delta {
    /// Drop all data before applying `ops` (a principal change, SR-19).
    pub clear_data: bool,
    /// Data changes, in order.
    pub ops: Vec<Op>,
    /// `Some` to change the principal.
    pub principal: Option<PrincipalChange>,
    /// `Some` to change the "remember me" flag.
    pub remember: Option<bool>,
    /// `Some` to replace the client metadata.
    pub client: Option<ClientMeta>,
    /// `Some` to reset the absolute deadline (a fresh login, SR-21).
    pub absolute_deadline: Option<Timestamp>,
    /// `Some` to record a login's time and method (SR-30). A principal change
    /// without it clears what the record held: an authentication never carries over
    /// to another principal, nor to an anonymous session.
    pub authenticated: Option<Authenticated>,
    /// `Some` to record a token rotation (SR-17; what
    /// [`SessionStore::rotate`](crate::store::SessionStore::rotate) carries for a
    /// periodic or login rotation): the record keeps it until the next one.
    pub rotated: Option<Rotation>,
    /// `Some` to move the idle deadline on.
    pub touch: Option<Touch>,
    /// The most bytes the data may hold after the delta, measured by
    /// [`Record::data_size`] on the record as the store holds it when it applies the
    /// delta (SR-34): a delta that would exceed it changes nothing. `None`: no bound.
    pub max_data_bytes: Option<usize>,
    /// `Some` to change the device binding, checked against the record as the store
    /// holds it (see [`DeviceChange`]). A principal change ends the binding first.
    pub device: Option<DeviceChange>,
}

impl From<DeviceConflict> for DeltaError {
    fn from(conflict: DeviceConflict) -> Self {
        Self::Device(conflict)
    }
}

impl Delta {
    /// Records a `Set`.
    pub fn set(&mut self, key: impl Into<String>, value: serde_json::Value) {
        self.ops.push(Op::Set {
            key: key.into(),
            value,
        });
    }

    /// Records a `Remove`.
    pub fn remove(&mut self, key: impl Into<String>) {
        self.ops.push(Op::Remove { key: key.into() });
    }

    /// Records an `Increment`.
    pub fn increment(&mut self, key: impl Into<String>, by: i64) {
        self.ops.push(Op::Increment {
            key: key.into(),
            by,
        });
    }

    /// Records a `Take`.
    pub fn take(&mut self, key: impl Into<String>) {
        self.ops.push(Op::Take { key: key.into() });
    }

    /// Whether the delta changes anything but the deadlines.
    #[must_use]
    pub fn changes_content(&self) -> bool {
        self.clear_data
            || !self.ops.is_empty()
            || self.principal.is_some()
            || self.remember.is_some()
            || self.client.is_some()
            || self.absolute_deadline.is_some()
            || self.authenticated.is_some()
            || self.rotated.is_some()
            || self.device.is_some()
    }

    /// Whether the delta changes nothing at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !self.changes_content() && self.touch.is_none()
    }

    /// Applies the delta to `record` and bumps its version. On error the record is
    /// left as it was.
    ///
    /// This is the reference semantics every store must match; stores that can hold a
    /// row lock (SQL) or a lock of their own (memory) call it inside that lock. The
    /// principal is set as the delta says; the admission checks of a
    /// [`PrincipalChange::Login`] are the store's, before it calls this.
    ///
    /// # Errors
    ///
    /// [`DeltaError`] when an increment meets a value that is not an integer or would
    /// overflow, or the data would exceed [`Delta::max_data_bytes`].
    pub fn apply_to(&self, record: &mut Record) -> Result<(), DeltaError> {
        self.apply_taking(record).map(drop)
    }

    /// [`apply_to`](Self::apply_to), which also hands back the value the delta's last
    /// [`Op::Take`] removed (`None`: there was no such op, or its key was absent at
    /// that point). What a store's [`take`](crate::store::SessionStore::take) calls
    /// inside its lock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hallpass::Handle;
    /// use hallpass::store::{Delta, Record};
    /// use hallpass::time::Timestamp;
    ///
    /// let mut record = Record::new(Handle::generate(), Timestamp::from_unix_millis(0),
    ///     Duration::from_secs(60), Duration::from_secs(600));
    /// record.data.insert("notice".into(), "saved".into());
    /// let mut delta = Delta::default();
    /// delta.take("notice");
    /// assert_eq!(delta.apply_taking(&mut record)?, Some("saved".into()));
    /// assert_eq!(delta.apply_taking(&mut record)?, None);
    /// # Ok::<(), hallpass::store::DeltaError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`apply_to`](Self::apply_to).
    pub fn apply_taking(
        &self,
        record: &mut Record,
    ) -> Result<Option<serde_json::Value>, DeltaError> {
        // Check first, then change in place: no copy of the record is needed for the
        // all-or-nothing guarantee.
        if let Some(change) = &self.device {
            change.check(record.device.as_deref())?;
        }
        let outcome = self.check(&record.data)?;
        if let Some(max) = self.max_data_bytes {
            let size = self.size_after(record, &outcome);
            if size > max {
                return Err(DeltaError::TooLarge { size, max });
            }
        }
        if self.clear_data {
            record.data.clear();
        }
        let mut taken = None;
        for op in &self.ops {
            match op {
                Op::Set { key, value } => {
                    record.data.insert(key.clone(), value.clone());
                }
                Op::Remove { key } => {
                    record.data.remove(key);
                }
                Op::Take { key } => {
                    taken = record.data.remove(key);
                }
                Op::Increment { key, by } => {
                    let current = record
                        .data
                        .get(key)
                        .and_then(serde_json::Value::as_i64)
                        .unwrap_or(0);
                    // `check` proved this neither overflows nor meets a non-integer.
                    record
                        .data
                        .insert(key.clone(), current.saturating_add(*by).into());
                }
            }
        }
        match &self.principal {
            Some(PrincipalChange::Login { principal, .. })
                if record.principal.as_deref() != Some(principal) =>
            {
                record.principal = Some(principal.clone());
                record.authenticated = None;
            }
            Some(PrincipalChange::Clear) => {
                record.principal = None;
                record.authenticated = None;
            }
            _ => {}
        }
        if self.principal.is_some() {
            record.device = None;
        }
        if let Some(change) = &self.device {
            change.apply_to(&mut record.device);
        }
        if let Some(authenticated) = &self.authenticated {
            record.authenticated = Some(authenticated.clone());
        }
        if let Some(rotated) = self.rotated {
            record.rotated = Some(Box::new(rotated));
        }
        if let Some(remember) = self.remember {
            record.remember = remember;
        }
        if let Some(client) = &self.client {
            record.client = client.clone();
        }
        if let Some(deadline) = self.absolute_deadline {
            record.absolute_deadline = deadline;
            record.idle_deadline = record.idle_deadline.min(deadline);
        }
        if let Some(touch) = &self.touch {
            touch.apply_to(record);
        }
        record.version = record.version.saturating_add(1);
        Ok(taken)
    }

    /// The data size `record` would have after the ops whose outcome `check` found,
    /// without changing it: the untouched entries as they are, the touched ones as the
    /// ops leave them.
    fn size_after(&self, record: &Record, outcome: &[(&str, Final<'_>)]) -> usize {
        let mut size: usize = if self.clear_data {
            0
        } else {
            record
                .data
                .iter()
                .filter(|(key, _)| !outcome.iter().any(|(k, _)| *k == key.as_str()))
                .map(|(key, value)| crate::record::entry_size(key, value))
                .sum()
        };
        for (key, last) in outcome {
            size = size.saturating_add(match last {
                Final::Value(value) => crate::record::entry_size(key, value),
                Final::Integer(n) => key.len() + crate::record::integer_size(*n),
                Final::Absent => 0,
            });
        }
        size
    }

    /// Replays the ops against `data` (as the earlier ops in this delta leave it)
    /// without changing anything: how each touched key ends, or why the delta cannot
    /// apply (a bad increment is the only way).
    fn check<'d>(
        &'d self,
        data: &'d crate::data::Data,
    ) -> Result<Vec<(&'d str, Final<'d>)>, DeltaError> {
        let mut seen: Vec<(&str, Final<'_>)> = Vec::new();
        for op in &self.ops {
            let (key, last) = match op {
                Op::Set { key, value } => (key, Final::Value(value)),
                Op::Remove { key } | Op::Take { key } => (key, Final::Absent),
                Op::Increment { key, by } => {
                    let current = match seen.iter().find(|(k, _)| *k == key.as_str()) {
                        Some((_, last)) => last.as_i64(),
                        None if self.clear_data => Some(0),
                        None => data.get(key).map_or(Some(0), serde_json::Value::as_i64),
                    };
                    let current =
                        current.ok_or_else(|| DeltaError::NotAnInteger { key: key.clone() })?;
                    let sum = current
                        .checked_add(*by)
                        .ok_or_else(|| DeltaError::Overflow { key: key.clone() })?;
                    (key, Final::Integer(sum))
                }
            };
            match seen.iter_mut().find(|(k, _)| *k == key.as_str()) {
                Some(entry) => entry.1 = last,
                None => seen.push((key.as_str(), last)),
            }
        }
        Ok(seen)
    }
}

/// How a key ends after a delta's ops.
#[derive(Clone, Copy)]
enum Final<'a> {
    Value(&'a serde_json::Value),
    Integer(i64),
    Absent,
}

impl Final<'_> {
    /// The integer the key holds, absent counting as 0; `None` for a non-integer.
    fn as_i64(self) -> Option<i64> {
        match self {
            Self::Value(value) => value.as_i64(),
            Self::Integer(n) => Some(n),
            Self::Absent => Some(0),
        }
    }
}

/// A delta could not be applied.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    /// `increment` met a value that is not an integer.
    #[error("cannot increment session key {key:?}: its value is not an integer")]
    NotAnInteger {
        /// The data key.
        key: String,
    },
    /// `increment` would overflow an `i64`.
    #[error("cannot increment session key {key:?}: the result overflows a 64-bit integer")]
    Overflow {
        /// The data key.
        key: String,
    },
    /// The data would exceed [`Delta::max_data_bytes`] as the store holds it.
    #[error("session data would be {size} bytes, more than the {max} allowed")]
    TooLarge {
        /// The size it would have had.
        size: usize,
        /// The bound.
        max: usize,
    },
    /// The delta's [`DeviceChange`] does not hold for the binding as stored.
    #[error("device binding refused: {0}")]
    Device(DeviceConflict),
    /// An op this store does not know (a newer [`Op`] than the store was built for).
    #[error("the session store does not know the delta operation {op:?}")]
    UnknownOp {
        /// The op's name.
        op: String,
    },
}

/// Why a store did not admit a login (see the [store module docs](crate::store)).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The principal has the maximum number of sessions ([`CapPolicy::RejectNew`](crate::config::CapPolicy)).
    TooManySessions {
        /// The cap.
        max: usize,
    },
    /// The principal's generation moved since the login began: its credentials
    /// changed or all its sessions were revoked while the login was being checked.
    CredentialsChanged,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::token::Handle;

    fn record() -> Record {
        Record::new(
            Handle::generate(),
            Timestamp::from_unix_millis(0),
            Duration::from_secs(60),
            Duration::from_secs(600),
        )
    }

    #[test]
    fn failed_delta_leaves_record_untouched() {
        let mut r = record();
        r.data.insert("name".into(), "x".into());
        let mut delta = Delta::default();
        delta.set("a", 1.into());
        delta.increment("name", 1);
        assert_eq!(
            delta.apply_to(&mut r),
            Err(DeltaError::NotAnInteger { key: "name".into() })
        );
        assert!(!r.data.contains_key("a"));
        assert_eq!(r.version, 1);
    }

    fn binding() -> crate::device::BoundDevice {
        crate::device::BoundDevice::new("{}", "thumb", Timestamp::from_unix_millis(1))
    }

    #[test]
    fn a_refused_binding_change_leaves_the_record_untouched() {
        let mut r = record();
        r.device = Some(Box::new(binding()));
        let mut delta = Delta::default();
        delta.set("a", 1.into());
        delta.device = Some(DeviceChange::Register(binding()));
        assert_eq!(
            delta.apply_to(&mut r),
            Err(DeltaError::Device(DeviceConflict::AlreadyBound))
        );
        assert!(!r.data.contains_key("a"));
        assert_eq!(r.version, 1);
    }

    #[test]
    fn a_principal_change_ends_the_binding() {
        for change in [
            PrincipalChange::login("ana", Admission::default()),
            PrincipalChange::Clear,
        ] {
            let mut r = record();
            r.device = Some(Box::new(binding()));
            let delta = Delta {
                principal: Some(change),
                ..Delta::default()
            };
            delta.apply_to(&mut r).unwrap();
            assert_eq!(r.device, None);
        }
    }

    #[test]
    fn a_take_hands_back_what_the_delta_left_under_its_key() {
        let mut r = record();
        r.data.insert("notice".into(), "stored".into());
        let mut delta = Delta::default();
        delta.set("notice", "newer".into());
        delta.take("notice");
        assert_eq!(delta.apply_taking(&mut r), Ok(Some("newer".into())));
        assert!(!r.data.contains_key("notice"));
        assert_eq!(
            delta.apply_taking(&mut r),
            Ok(Some("newer".into())),
            "the set comes first"
        );
        let mut take_only = Delta::default();
        take_only.take("notice");
        assert_eq!(take_only.apply_taking(&mut r), Ok(None));
    }

    #[test]
    fn overflow_is_an_error() {
        let mut r = record();
        r.data.insert("n".into(), i64::MAX.into());
        let mut delta = Delta::default();
        delta.increment("n", 1);
        assert!(matches!(
            delta.apply_to(&mut r),
            Err(DeltaError::Overflow { .. })
        ));
    }

    #[test]
    fn touch_never_passes_the_absolute_deadline() {
        let mut r = record();
        let delta = Delta {
            touch: Some(Touch::new(
                Timestamp::from_unix_millis(5),
                Timestamp::from_unix_millis(10_000_000),
            )),
            ..Delta::default()
        };
        delta.apply_to(&mut r).unwrap();
        assert_eq!(r.idle_deadline, r.absolute_deadline);
        assert_eq!(r.last_seen_at, Timestamp::from_unix_millis(5));
    }

    /// The obvious semantics: apply op by op to a copy, keep the copy only if every op
    /// succeeded.
    fn reference(
        delta: &Delta,
        record: &Record,
    ) -> Result<(Record, Option<serde_json::Value>), DeltaError> {
        let mut next = record.clone();
        let mut taken = None;
        if delta.clear_data {
            next.data.clear();
        }
        for op in &delta.ops {
            match op {
                Op::Set { key, value } => {
                    next.data.insert(key.clone(), value.clone());
                }
                Op::Remove { key } => {
                    next.data.remove(key);
                }
                Op::Take { key } => taken = next.data.remove(key),
                Op::Increment { key, by } => {
                    let current = match next.data.get(key) {
                        None => 0,
                        Some(v) => v
                            .as_i64()
                            .ok_or_else(|| DeltaError::NotAnInteger { key: key.clone() })?,
                    };
                    let sum = current
                        .checked_add(*by)
                        .ok_or_else(|| DeltaError::Overflow { key: key.clone() })?;
                    next.data.insert(key.clone(), sum.into());
                }
            }
        }
        if let Some(max) = delta.max_data_bytes {
            let size = next.data_size();
            if size > max {
                return Err(DeltaError::TooLarge { size, max });
            }
        }
        next.version += 1;
        Ok((next, taken))
    }

    fn op_strategy() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        let key = prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned);
        let value = prop_oneof![
            any::<i64>().prop_map(serde_json::Value::from),
            (-5i64..5).prop_map(serde_json::Value::from),
            Just(serde_json::json!("text")),
            Just(serde_json::json!(1.5)),
        ];
        prop_oneof![
            (key.clone(), value).prop_map(|(key, value)| Op::Set { key, value }),
            key.clone().prop_map(|key| Op::Remove { key }),
            key.clone().prop_map(|key| Op::Take { key }),
            (key, prop_oneof![any::<i64>(), -3i64..3])
                .prop_map(|(key, by)| Op::Increment { key, by }),
        ]
    }

    proptest::proptest! {
        #[test]
        fn in_place_apply_matches_the_copying_reference(
            ops in proptest::collection::vec(op_strategy(), 0..8),
            clear_data in proptest::prelude::any::<bool>(),
            max_data_bytes in proptest::option::of(0usize..80),
            start in proptest::collection::vec((0usize..3, proptest::prelude::any::<i64>()), 0..3),
        ) {
            let mut record = record();
            for (i, v) in start {
                record.data.insert(["a", "b", "c"][i].to_owned(), v.into());
            }
            record.data.insert("s".to_owned(), "string".into());
            let delta = Delta { clear_data, ops, max_data_bytes, ..Delta::default() };
            let expected = reference(&delta, &record);
            let mut actual = record.clone();
            let result = delta.apply_taking(&mut actual);
            match expected {
                Ok((expected, taken)) => {
                    proptest::prop_assert_eq!(result, Ok(taken));
                    proptest::prop_assert_eq!(actual, expected);
                }
                Err(err) => {
                    proptest::prop_assert_eq!(result, Err(err));
                    proptest::prop_assert_eq!(actual, record, "a failed delta changes nothing");
                }
            }
        }
    }
}
