//! The store contract every backend implements, and the in-memory store.
//!
//! Semantics (SR-43; each one is a case of the conformance suite in `hallpass-testkit`):
//!
//! | method | contract |
//! |---|---|
//! | [`create`](SessionStore::create) | insert-if-absent; an existing key is [`Created::KeyTaken`], never overwritten (AT-10); a record with a principal is admitted first (below); a key of another handle than the record's is refused ([`StoreError::check_handle`]) and nothing is written |
//! | [`load`](SessionStore::load) | the record, or [`Loaded::Expired`]/[`Loaded::Missing`]: never an expired record |
//! | [`apply`](SessionStore::apply) | update-if-present, atomically against the current record, the data bound checked against that record; [`Applied::Gone`] when absent or expired, and nothing is recreated (AT-24) |
//! | [`take`](SessionStore::take) | an apply whose last op removes a key, with the value it removed back: read and removal in one atomic step |
//! | [`touch`](SessionStore::touch) | moves the idle deadline and last-seen only, never the data |
//! | [`rotate`](SessionStore::rotate) | one atomic step: apply a delta to the old record (admitting a login first), file it under the new key, delete the old key |
//! | [`delete`](SessionStore::delete) | idempotent |
//! | [`revoke`](SessionStore::revoke) | ends the session with that handle, wherever a concurrent rotation moved it; never `false` for a session that stays live |
//! | [`list_principal`](SessionStore::list_principal), [`revoke_principal`](SessionStore::revoke_principal) | through a per-principal index, never a scan; a revoke ends every session of the principal that was live when it began, including one rotated meanwhile, and moves the principal's [`generation`](SessionStore::generation) on |
//! | [`generation`](SessionStore::generation) | the principal's generation: 0 at first, one more after each [`revoke_principal`](SessionStore::revoke_principal) |
//! | [`list_sessions`](SessionStore::list_sessions) | every live session, a page at a time from a cursor, never the whole store at once |
//! | [`purge_expired`](SessionStore::purge_expired) | deletes at most `batch` expired sessions per call |
//!
//! **Admission.** A session becomes a principal's (a [`create`](SessionStore::create)
//! of a record with a principal, or a [`rotate`](SessionStore::rotate) whose delta is a
//! [`PrincipalChange::Login`](crate::store::PrincipalChange)) only if, in the same atomic step
//! as the write, the [`Admission`] holds: the principal's generation
//! is still the one the login began with (else [`Refusal::CredentialsChanged`]), and
//! the cap holds — with [`CapPolicy::RejectNew`](crate::config::CapPolicy) a login past it is
//! [`Refusal::TooManySessions`], with `EvictOldest` the least recently used other
//! sessions end in that same step. No interleaving of logins and revokes breaks
//! either rule. Nothing is written when a login is refused.
//!
//! Every method takes `now` from the caller's [`Clock`](crate::time::Clock), so a store
//! needs no clock of its own and tests can move time.
//!
//! The trait is object safe: `Arc<dyn SessionStore>` lets an application choose its
//! store at run time.

mod error;
mod labels;
mod memory;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use error::{StoreError, StoreErrorKind};
pub use labels::revoke_listed;
pub use memory::{MemoryStore, MemoryStoreConfig};

pub use crate::cleanup::{CleanupConfig, purge_expired, spawn_cleanup};
pub use crate::data::Data;
pub use crate::delta::{
    Admission, Delta, DeltaError, Op, PrincipalChange, Refusal, SessionCap, Touch,
};
pub use crate::device::{BoundDevice, DeviceChange, DeviceConflict};
pub use crate::principal::Principal;
pub use crate::record::{
    Authenticated, Authentication, ClientMeta, Expiry, RECORD_FORMAT_VERSION, Record,
    RecordDecodeError, Rotation,
};
pub use crate::token::{Handle, InvalidHandle, StoreKey};

use crate::time::Timestamp;

/// Runs a store call with a time limit: the one timeout every store uses. A call
/// over `limit` fails with [`StoreErrorKind::Timeout`] (the layer answers 503), and
/// the call's future is dropped, which rolls back a transaction it held.
///
/// # Errors
///
/// The call's own error, or the timeout.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hallpass::store::{StoreError, StoreErrorKind};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let slow = async {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok::<_, StoreError>(())
/// };
/// let err = hallpass::store::timed(Duration::from_millis(10), slow).await.unwrap_err();
/// assert_eq!(err.kind(), StoreErrorKind::Timeout);
/// # });
/// ```
pub async fn timed<T>(
    limit: std::time::Duration,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(elapsed) => Err(StoreError::new(StoreErrorKind::Timeout, elapsed)),
    }
}

/// The boxed future every store method returns (what keeps the trait object safe).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Result of [`SessionStore::create`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created {
    /// The record was inserted.
    Inserted {
        /// Sessions of the same principal that the cap ended to make room
        /// ([`CapPolicy::EvictOldest`](crate::config::CapPolicy)).
        evicted: Vec<Handle>,
    },
    /// A record already exists under the key; nothing was written.
    KeyTaken,
    /// The login was not admitted; nothing was written.
    Refused(Refusal),
}

impl Created {
    /// An insert that evicted nothing.
    pub const INSERTED: Self = Self::Inserted {
        evicted: Vec::new(),
    };
}

/// What [`SessionStore::delete`] deleted.
///
/// # Examples
///
/// ```
/// let deleted = hallpass::store::Deleted::new(Some("alice".into()));
/// assert_eq!(deleted.principal.as_deref(), Some("alice"));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deleted {
    /// Whose session it was (`None`: anonymous).
    pub principal: Option<Principal>,
}

impl Deleted {
    /// A deleted session of `principal`.
    #[must_use]
    pub fn new(principal: Option<Principal>) -> Self {
        Self { principal }
    }
}

/// Result of [`SessionStore::load`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub enum Loaded {
    /// A live record: a shared snapshot, not a copy (the memory store hands out the
    /// one it holds; a write after this makes a new one).
    Live(Arc<Record>),
    /// The record exists but a deadline has passed (stores that cannot tell may say
    /// [`Loaded::Missing`] instead).
    Expired(Expiry),
    /// No record under the key.
    Missing,
}

/// Result of [`SessionStore::apply`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// The delta was applied; the record as it now stands (shared).
    Updated(Arc<Record>),
    /// The session no longer exists (deleted, revoked, rotated away or expired): nothing
    /// was written.
    Gone,
}

/// Result of [`SessionStore::increment`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incremented {
    /// The delta was applied: the counter's new value and the record's new version.
    Counted {
        /// The counter after the increment.
        value: i64,
        /// The record's version after the write.
        version: u64,
    },
    /// The session no longer exists: nothing was written.
    Gone,
}

impl Incremented {
    /// What an apply of an increment of `counter` comes to: the counter's value and
    /// the version (the default [`SessionStore::increment`]; for stores that take
    /// the apply path for some deltas).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use hallpass::Handle;
    /// use hallpass::store::{Applied, Incremented, Record};
    /// use hallpass::time::Timestamp;
    ///
    /// let mut record = Record::new(Handle::generate(), Timestamp::from_unix_millis(0), Duration::from_secs(60), Duration::from_secs(600));
    /// record.data.insert("views".into(), 3.into());
    /// let counted = Incremented::of(Applied::Updated(Arc::new(record)), "views").unwrap();
    /// assert_eq!(counted, Incremented::Counted { value: 3, version: 1 });
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::InvalidData`] when the counter is not an integer.
    pub fn of(applied: Applied, counter: &str) -> Result<Self, StoreError> {
        match applied {
            Applied::Updated(record) => Ok(Self::Counted {
                value: record
                    .data
                    .get(counter)
                    .and_then(serde_json::Value::as_i64)
                    .ok_or_else(|| {
                        StoreError::msg(
                            StoreErrorKind::InvalidData,
                            "increment: the counter is not an integer after the increment",
                        )
                    })?,
                version: record.version,
            }),
            Applied::Gone => Ok(Self::Gone),
        }
    }
}

/// Result of [`SessionStore::take`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub enum Taken {
    /// The delta was applied.
    Updated {
        /// What the delta's last [`Op::Take`](crate::store::Op) removed: `None` when
        /// the key was absent (another request took it first).
        value: Option<serde_json::Value>,
        /// The record as it now stands (shared).
        record: Arc<Record>,
    },
    /// The session no longer exists: nothing was written.
    Gone,
}

impl From<Taken> for Applied {
    /// The apply a take is: the record, without the taken value.
    fn from(taken: Taken) -> Self {
        match taken {
            Taken::Updated { record, .. } => Self::Updated(record),
            Taken::Gone => Self::Gone,
        }
    }
}

/// Result of [`SessionStore::rotate`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub enum Rotated {
    /// The session now lives under the new key only.
    Updated {
        /// The record as it now stands (shared).
        record: Arc<Record>,
        /// Sessions of the same principal that the cap ended to make room.
        evicted: Vec<Handle>,
    },
    /// The session no longer exists: nothing was written.
    Gone,
    /// The new key is taken; nothing was written.
    KeyTaken,
    /// The login was not admitted; nothing was written, the old key still works.
    Refused(Refusal),
}

/// One session as a list shows it: its handle, principal, times and client (no data).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    /// The session's public handle.
    pub handle: Handle,
    /// Its principal.
    pub principal: Option<Principal>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last activity.
    pub last_seen_at: Timestamp,
    /// Idle deadline.
    pub idle_deadline: Timestamp,
    /// Absolute deadline.
    pub absolute_deadline: Timestamp,
    /// Client metadata.
    pub client: ClientMeta,
    /// When and how its principal last authenticated.
    pub authenticated: Option<Authenticated>,
    /// When the session was bound to a device key (DBSC); `None`: not bound.
    pub device_bound_at: Option<Timestamp>,
}

impl From<&Record> for SessionSummary {
    fn from(record: &Record) -> Self {
        Self {
            handle: record.handle,
            principal: record.principal.clone(),
            created_at: record.created_at,
            last_seen_at: record.last_seen_at,
            idle_deadline: record.idle_deadline,
            absolute_deadline: record.absolute_deadline,
            client: record.client.clone(),
            authenticated: record.authenticated.clone(),
            device_bound_at: record.device.as_ref().map(|b| b.registered_at),
        }
    }
}

/// One page of [`SessionStore::list_sessions`].
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionPage {
    /// Live sessions, in the store's own order.
    pub sessions: Vec<SessionSummary>,
    /// Where the next page starts; `None` when this was the last one.
    pub next: Option<String>,
}

impl SessionPage {
    /// A page of `sessions`, continuing at `next`.
    #[must_use]
    pub fn new(sessions: Vec<SessionSummary>, next: Option<String>) -> Self {
        Self { sessions, next }
    }
}

/// A store the engine can share: any [`SessionStore`] by value, or an `Arc` of one
/// (as a runtime-chosen `Arc<dyn SessionStore>`). Lets
/// [`SessionLayer::new`](crate::SessionLayer::new) take `MemoryStore::new()` without
/// an `Arc::new` around it.
pub trait IntoStore {
    /// The store behind an `Arc`.
    fn into_store(self) -> Arc<dyn SessionStore>;
}

impl<S: SessionStore> IntoStore for S {
    fn into_store(self) -> Arc<dyn SessionStore> {
        Arc::new(self)
    }
}

impl<S: SessionStore> IntoStore for Arc<S> {
    fn into_store(self) -> Arc<dyn SessionStore> {
        self
    }
}

impl IntoStore for Arc<dyn SessionStore> {
    fn into_store(self) -> Arc<dyn SessionStore> {
        self
    }
}

/// A session store. See the [module docs](self) for the exact semantics.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use hallpass::MemoryStore;
/// use hallpass::store::SessionStore;
///
/// // Any store can stand behind a trait object, chosen at run time.
/// let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
/// # let _ = store;
/// ```
pub trait SessionStore: Send + Sync + fmt::Debug + 'static {
    /// Inserts `record` under `key` unless the key is taken; a record with a
    /// principal only if `admission` holds (see the [module docs](self)).
    fn create<'a>(
        &'a self,
        key: &'a StoreKey,
        record: &'a Record,
        admission: &'a Admission,
    ) -> StoreFuture<'a, Created>;

    /// [`create`](Self::create) with the caller's shared record: the same contract,
    /// for a store that can keep this very `Arc` instead of a copy (the memory store
    /// does; the default calls `create`). The engine creates every session through
    /// it, so a decorating store forwards it to its inner store.
    ///
    /// The store may point the record's [`principal`](Record::principal) at an equal
    /// [`Principal`] it already holds, while no one else holds the `Arc` (the memory
    /// store shares one name among a user's sessions); it changes nothing else.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use hallpass::{Handle, MemoryStore};
    /// use hallpass::store::{Admission, Created, Loaded, Record, SessionStore, StoreKey};
    /// use hallpass::time::Timestamp;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// let now = Timestamp::from_unix_millis(0);
    /// let mut record = Arc::new(Record::new(Handle::generate(), now, Duration::from_secs(60), Duration::from_secs(600)));
    /// let key = StoreKey::random(&record.handle);
    /// assert_eq!(store.create_shared(&key, &mut record, &Admission::default()).await?, Created::INSERTED);
    /// let Loaded::Live(stored) = store.load(&key, now).await? else { panic!("just created") };
    /// assert_eq!(stored, record);
    /// # Ok::<(), hallpass::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    fn create_shared<'a>(
        &'a self,
        key: &'a StoreKey,
        record: &'a mut Arc<Record>,
        admission: &'a Admission,
    ) -> StoreFuture<'a, Created> {
        self.create(key, record, admission)
    }

    /// Loads the record under `key` if it is live at `now`.
    fn load<'a>(&'a self, key: &'a StoreKey, now: Timestamp) -> StoreFuture<'a, Loaded>;

    /// Applies `delta` to the live record under `key`, atomically; the stored version
    /// goes up by one.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::InvalidData`] (with a [`DeltaError`] as its
    /// source, see [`StoreError::delta_error`]) when the delta does not fit the record
    /// as stored, and when it logs a principal in: a login goes through
    /// [`rotate`](Self::rotate).
    fn apply<'a>(
        &'a self,
        key: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, Applied>;

    /// Applies `delta`, whose last op is an [`Op::Increment`](crate::store::Op), like
    /// [`apply`](Self::apply), and returns only that counter's new value and the
    /// version: what a counter request needs, without the whole record back. A
    /// store may do this in less work than an apply (Redis: a few commands and two
    /// numbers back); the default applies and reads the value from the record.
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply); [`StoreErrorKind::InvalidData`] when the last op is
    /// not an increment.
    fn increment<'a>(
        &'a self,
        key: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, Incremented> {
        Box::pin(async move {
            let name = StoreError::check_increment(delta)?;
            Incremented::of(self.apply(key, delta, now).await?, name)
        })
    }

    /// Applies `delta`, whose last op is an [`Op::Take`](crate::store::Op), like
    /// [`apply`](Self::apply), and returns the value that take removed with the
    /// record: the read and the removal are one atomic step, so of any number of
    /// concurrent takes of one key exactly one gets the value (what makes a flash
    /// value show exactly once). [`Delta::apply_taking`] is the reference.
    ///
    /// A required method: a store that predates it does not compile, rather than
    /// taking by a load and a remove that two requests could interleave.
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply); [`StoreErrorKind::InvalidData`] when the last op is
    /// not a take.
    fn take<'a>(
        &'a self,
        key: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, Taken>;

    /// Moves the idle deadline and last-seen of the live record under `key`; `false`
    /// when there is none.
    fn touch<'a>(
        &'a self,
        key: &'a StoreKey,
        touch: Touch,
        now: Timestamp,
    ) -> StoreFuture<'a, bool>;

    /// Atomically applies `delta` to the live record under `old`, stores the result
    /// under `new` (the same handle) and deletes `old`; a login in the delta is
    /// admitted first.
    fn rotate<'a>(
        &'a self,
        old: &'a StoreKey,
        new: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, Rotated>;

    /// Deletes the record under `key`; what it was, if there was one. Idempotent.
    /// Returning the principal lets a logout be this one call: the engine does not
    /// load the session first to say whose session ended.
    fn delete<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, Option<Deleted>>;

    /// The live record with this handle, with its key.
    fn load_handle<'a>(
        &'a self,
        handle: &'a Handle,
        now: Timestamp,
    ) -> StoreFuture<'a, Option<(StoreKey, Record)>>;

    /// Deletes the session with this handle, under whatever key it has; `true` if
    /// there was one. `false` means no session with this handle is live afterwards.
    fn revoke<'a>(&'a self, handle: &'a Handle) -> StoreFuture<'a, bool>;

    /// The live sessions of `principal`, oldest first.
    fn list_principal<'a>(
        &'a self,
        principal: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, Vec<SessionSummary>>;

    /// Moves `principal`'s generation on and deletes every session of `principal`
    /// except the one with handle `except`, atomically: a login that began before
    /// the call is refused, and every session live when it began ends, including one
    /// rotated meanwhile. Returns how many were deleted.
    fn revoke_principal<'a>(
        &'a self,
        principal: &'a str,
        except: Option<&'a Handle>,
    ) -> StoreFuture<'a, u64>;

    /// `principal`'s generation: 0 until its first
    /// [`revoke_principal`](Self::revoke_principal), one more after each. A login reads
    /// it before checking credentials and passes it in its [`Admission`].
    fn generation<'a>(&'a self, principal: &'a str) -> StoreFuture<'a, u64>;

    /// Lists the live sessions at `now`, a page at a time: start with `cursor`
    /// `None`, then pass each page's [`SessionPage::next`] until it is `None`. A page
    /// holds at most about `limit` sessions (the SQL and memory stores at most
    /// `limit`; Redis's `ZSCAN` may return a few more), so an operator's tool never
    /// loads the whole store. Sessions created or deleted during the walk may or may
    /// not be seen; one that lives throughout is seen (Redis: at least once).
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::InvalidData`] for a cursor this store did not hand out.
    fn list_sessions<'a>(
        &'a self,
        cursor: Option<&'a str>,
        limit: usize,
        now: Timestamp,
    ) -> StoreFuture<'a, SessionPage>;

    /// Deletes at most `batch` sessions expired at `now`; returns how many. Call again
    /// until it returns less than `batch`.
    fn purge_expired(&self, now: Timestamp, batch: usize) -> StoreFuture<'_, u64>;

    /// The number of live sessions at `now`.
    fn count(&self, now: Timestamp) -> StoreFuture<'_, u64>;

    /// Ends every session live at `now` that carries the label `name = value`
    /// (see the `label` module): every one that carried it when the call began,
    /// including one rotated meanwhile. Returns how many it ended.
    ///
    /// A store keeps an index from each label to the handles given it, written
    /// before the write that sets the label (in `create`, `apply`, `take`,
    /// `increment` and `rotate`), reads it here, ends the listed sessions with
    /// [`revoke_listed`], and forgets the entries it
    /// read. Required: a store that cannot find a session by its label does not
    /// compile.
    fn revoke_label<'a>(
        &'a self,
        name: &'a str,
        value: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, u64>;
}
