//! [`Session`]: one request's view of its session, and the lifecycle rules.
//!
//! - **Lazy**: nothing is loaded until a method needs the record.
//! - **No empty sessions**: a new session is stored only once it holds data or a
//!   principal (SR-18).
//! - **Deltas**: `insert`/`remove` are recorded and sent as one delta at commit;
//!   `increment` goes to the store at once and returns the exact new value.
//! - **No resurrection**: existing sessions are only ever updated-if-present.
//! - **Rotation** (`login`, `rotate`): one atomic store step; the old token dies.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use crate::codec::Verified;
use crate::config::{BindingPolicy, LoadFailure};
use crate::context::Context;
use crate::delta::{Admission, Delta, PrincipalChange, SessionCap, Touch};
use crate::error::SessionError;
use crate::events::{self, Event, InvalidReason, RevokedBy, RotationReason, SessionRef};
use crate::record::{ClientMeta, Record};
use crate::store::{Applied, Created, Incremented, Loaded, Rotated, SessionSummary};
use crate::time::Timestamp;
use crate::token::{Handle, StoreKey, Token};

/// How often a colliding token is replaced before giving up (a collision of 256-bit
/// random tokens means the CSPRNG is broken; the retry only guards the contract).
const KEY_RETRIES: usize = 3;

/// A verified cookie value that may name a live session.
#[derive(Debug)]
pub(crate) struct Candidate {
    handle: Handle,
    token: Token,
    key: StoreKey,
    by_primary: bool,
}

impl From<Verified> for Candidate {
    fn from(verified: Verified) -> Self {
        let key = verified.token.store_key(&verified.handle);
        Self {
            handle: verified.handle,
            token: verified.token,
            key,
            by_primary: verified.by_primary,
        }
    }
}

/// What a finished request's response needs.
#[derive(Debug, Default)]
pub(crate) struct Finished {
    /// The `Set-Cookie` value: a new cookie or a deletion cookie.
    pub(crate) cookie: Option<http::HeaderValue>,
    /// The response depends on the session cookie.
    pub(crate) vary: bool,
}

/// The session this request works with.
struct Current {
    token: Token,
    key: StoreKey,
    /// The record as this request sees it (its own changes applied): the store's
    /// shared snapshot until this request changes it.
    record: Arc<Record>,
    /// Whether the store holds it (else it is created at commit, if not empty).
    stored: bool,
    /// Changes not yet sent to the store.
    pending: Delta,
    /// The idle deadline is due to be pushed on.
    needs_touch: bool,
    /// The cookie must be (re-)sent: new token, remember-me change, or old signing key.
    issue_cookie: bool,
}

impl Current {
    fn reference(&self) -> SessionRef {
        SessionRef::of(&self.key)
    }
}

#[derive(Default)]
struct State {
    loaded: bool,
    current: Option<Current>,
    /// Send a deletion cookie unless a new session cookie replaces it.
    delete_cookie: bool,
    /// A store failure while loading, under [`LoadFailure::FailClosed`], kept whole
    /// (kind and source) for the commit's error.
    load_failed: Option<Arc<crate::store::StoreError>>,
    /// Under [`LoadFailure::AnonymousFallback`]: the store is down, write nothing.
    degraded: bool,
    /// A counter was incremented in the store without loading the session: the
    /// response depends on the cookie (`Vary`), though nothing was adopted.
    counted: bool,
}

struct Shared {
    context: Arc<Context>,
    candidates: Vec<Candidate>,
    /// More than one value was presented under the session cookie's name.
    duplicated: bool,
    /// The client's IP, through the trusted-proxy setting.
    ip: Option<std::net::IpAddr>,
    /// The raw `User-Agent` header: a refcounted copy, turned into a `String` only
    /// when a session actually records or compares it.
    user_agent: Option<http::HeaderValue>,
    state: Mutex<State>,
}

/// One request's session. Cheap to clone; all clones are the same session.
///
/// Every method that needs the stored record loads it on first use (at most once per
/// request). Errors are [`SessionError`]s; with the `axum` feature they are also
/// responses (`?` in a handler gives 503 when the store is down).
///
/// # Examples
///
/// ```
/// use hallpass::Session;
///
/// async fn counter(session: Session) -> Result<String, hallpass::SessionError> {
///     let views = session.increment("views", 1).await?;
///     Ok(if views == 1 {
///         "Welcome to this page for the first time!".to_owned()
///     } else {
///         format!("You visited this page {views} times")
///     })
/// }
/// # let _ = counter;
/// ```
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("candidates", &self.shared.candidates.len())
            .field("ip", &self.shared.ip)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// `presented`: a value arrived under the cookie's name. A single value that did
    /// not verify is cleared by a request that uses the session, exactly as an
    /// unknown, expired or revoked one is, so the four look alike from outside (SR-36).
    pub(crate) fn new(
        context: Arc<Context>,
        candidates: Vec<Candidate>,
        duplicated: bool,
        presented: bool,
        ip: Option<std::net::IpAddr>,
        user_agent: Option<http::HeaderValue>,
    ) -> Self {
        let state = State {
            delete_cookie: presented && candidates.is_empty() && !duplicated,
            ..State::default()
        };
        Self {
            shared: Arc::new(Shared {
                context,
                candidates,
                duplicated,
                ip,
                user_agent,
                state: Mutex::new(state),
            }),
        }
    }

    /// The client of this request, as a session records it.
    fn client(&self) -> ClientMeta {
        let user_agent = self
            .shared
            .user_agent
            .as_ref()
            .and_then(|ua| ua.to_str().ok());
        ClientMeta::new(self.shared.ip, user_agent)
    }

    fn config(&self) -> &crate::config::SessionConfig {
        &self.shared.context.config
    }

    fn store(&self) -> &dyn crate::store::SessionStore {
        &*self.shared.context.store
    }

    fn now(&self) -> Timestamp {
        self.config().clock.now()
    }

    /// Emits the event `build` makes, building it only if a hook or a `tracing`
    /// subscriber will see it (a `SessionRef` costs a SHA-256).
    fn emit(&self, build: impl FnOnce() -> Event) {
        let hook = self.config().hook.as_ref();
        if hook.is_some() || events::enabled() {
            events::emit(hook, &build());
        }
    }

    fn touch_at(&self, now: Timestamp) -> Touch {
        Touch::new(now, now.saturating_add(self.config().idle_timeout))
    }

    /// A fresh, unsaved session for this request.
    fn fresh(&self, now: Timestamp) -> Current {
        let (token, handle) = Token::generate_with_handle();
        let key = token.store_key(&handle);
        let config = self.config();
        let mut record = Record::new(handle, now, config.idle_timeout, config.absolute_timeout);
        record.client = self.client();
        Current {
            token,
            key,
            record: Arc::new(record),
            stored: false,
            pending: Delta::default(),
            needs_touch: false,
            issue_cookie: true,
        }
    }

    fn load_error(
        &self,
        state: &mut State,
        err: crate::store::StoreError,
    ) -> Result<(), SessionError> {
        match self.config().load_failure {
            LoadFailure::FailClosed => {
                let err = Arc::new(err);
                state.load_failed = Some(Arc::clone(&err));
                Err(SessionError::Store(crate::store::StoreError::new(
                    err.kind(),
                    err,
                )))
            }
            LoadFailure::AnonymousFallback => {
                tracing::warn!(target: "hallpass::event", error = %err, "session store failed on load; continuing without a session");
                state.degraded = true;
                Ok(())
            }
        }
    }

    fn adopt(&self, state: &mut State, candidate: &Candidate, record: Arc<Record>, now: Timestamp) {
        let needs_touch = now
            >= record
                .last_seen_at
                .saturating_add(self.config().touch_interval());
        state.current = Some(Current {
            token: candidate.token.clone(),
            key: candidate.key,
            record,
            stored: true,
            pending: Delta::default(),
            needs_touch,
            issue_cookie: !candidate.by_primary,
        });
    }

    /// The one-call increment of an unloaded session that adopts the record the
    /// store returns; `None` when the session turned out gone (or the store is down
    /// under the anonymous fallback): the caller goes on with a fresh session.
    async fn increment_adopting(
        &self,
        state: &mut State,
        delta: &Delta,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<i64>, SessionError> {
        let candidate = &self.shared.candidates[0];
        match self.store().apply(&candidate.key, delta, now).await {
            Ok(Applied::Updated(record)) if record.handle == candidate.handle => {
                let value = record.data.get(key).and_then(serde_json::Value::as_i64);
                self.adopt(state, candidate, record, now);
                if let Some(current) = state.current.as_mut() {
                    current.needs_touch = false;
                }
                value.map(Some).ok_or(SessionError::Ended)
            }
            Ok(Applied::Updated(_)) => {
                self.emit(|| Event::InvalidToken {
                    reason: InvalidReason::HandleMismatch,
                    ip: self.shared.ip,
                });
                Ok(None)
            }
            Ok(Applied::Gone) => {
                self.unknown_session(state);
                Ok(None)
            }
            Err(err) => self.unloaded_failure(state, err).map(|()| None),
        }
    }

    /// A store call made without loading found no live session under the cookie.
    fn unknown_session(&self, state: &mut State) {
        self.emit(|| Event::InvalidToken {
            reason: InvalidReason::UnknownSession,
            ip: self.shared.ip,
        });
        state.delete_cookie = true;
    }

    /// A store call made without loading failed: a refused delta is the caller's
    /// error; anything else is a failed load ([`LoadFailure`] decides).
    fn unloaded_failure(
        &self,
        state: &mut State,
        err: crate::store::StoreError,
    ) -> Result<(), SessionError> {
        if err.kind() == crate::store::StoreErrorKind::InvalidData {
            return Err(SessionError::from_store(err));
        }
        self.load_error(state, err)
    }

    /// Whether a call may go to the store without loading first: one candidate, not
    /// loaded yet, no binding to check. The store's own guard then checks that the
    /// session is live, in the same round trip as the write.
    fn fast_path(&self, state: &State) -> bool {
        !state.loaded
            && state.load_failed.is_none()
            && self.config().binding.policy == BindingPolicy::Off
            && self.shared.candidates.len() == 1
    }

    /// [`Session::rotate`] in one store call: the rotation is the load.
    async fn rotate_unloaded(&self, state: &mut State, now: Timestamp) -> Result<(), SessionError> {
        state.loaded = true;
        let candidate = &self.shared.candidates[0];
        let delta = Delta {
            touch: Some(self.touch_at(now)),
            max_data_bytes: Some(self.config().max_data_bytes),
            ..Delta::default()
        };
        for _ in 0..KEY_RETRIES {
            let next = Token::generate();
            let next_key = next.store_key(&candidate.handle);
            match self
                .store()
                .rotate(&candidate.key, &next_key, &delta, now)
                .await
            {
                Ok(Rotated::Updated { record, evicted }) => {
                    self.emit(|| Event::Rotated {
                        from: SessionRef::of(&candidate.key),
                        to: SessionRef::of(&next_key),
                        reason: RotationReason::Requested,
                    });
                    self.emit_evicted(record.principal.as_deref(), &evicted);
                    self.adopt(state, candidate, record, now);
                    if let Some(current) = state.current.as_mut() {
                        current.token = next;
                        current.key = next_key;
                        current.needs_touch = false;
                        current.issue_cookie = true;
                    }
                    return Ok(());
                }
                Ok(Rotated::KeyTaken) => {}
                Ok(Rotated::Gone) => {
                    self.unknown_session(state);
                    return Ok(());
                }
                Ok(Rotated::Refused(refusal)) => return Err(SessionError::refused(refusal)),
                Err(err) => return self.unloaded_failure(state, err),
            }
        }
        Err(SessionError::Store(crate::store::StoreError::msg(
            crate::store::StoreErrorKind::Backend,
            "fresh tokens kept colliding",
        )))
    }

    /// Loads the session named by the cookie, once.
    async fn ensure_loaded(&self, state: &mut State) -> Result<(), SessionError> {
        if let Some(err) = &state.load_failed {
            return Err(SessionError::Store(crate::store::StoreError::new(
                err.kind(),
                Arc::clone(err),
            )));
        }
        if state.loaded {
            return Ok(());
        }
        state.loaded = true;
        let now = self.now();
        let candidates = &self.shared.candidates;
        let mut live: Vec<(usize, Arc<Record>)> = Vec::new();
        for (index, candidate) in candidates.iter().enumerate() {
            let outcome = match self.store().load(&candidate.key, now).await {
                Ok(outcome) => outcome,
                Err(err) => return self.load_error(state, err),
            };
            match outcome {
                Loaded::Live(record) if record.handle != candidate.handle => {
                    self.emit(|| Event::InvalidToken {
                        reason: InvalidReason::HandleMismatch,
                        ip: self.shared.ip,
                    });
                }
                Loaded::Live(record) => match record.expired_by(now) {
                    // Defence in depth: a store that returned an expired record.
                    Some(reason) => self.expire(state, candidate, reason).await,
                    None => live.push((index, record)),
                },
                Loaded::Expired(reason) => self.expire(state, candidate, reason).await,
                Loaded::Missing => {
                    self.emit(|| Event::InvalidToken {
                        reason: InvalidReason::UnknownSession,
                        ip: self.shared.ip,
                    });
                    if !self.shared.duplicated {
                        state.delete_cookie = true;
                    }
                }
            }
        }
        if candidates.len() > 1 {
            self.emit(|| Event::DuplicateCookie {
                values: candidates.len(),
                live: live.len(),
                ip: self.shared.ip,
            });
        }
        // SR-33: with several values, a session is used only if exactly one is live;
        // the others are never written to.
        if let [(index, _)] = live.as_slice() {
            let index = *index;
            let Some((_, record)) = live.pop() else {
                return Ok(());
            };
            self.adopt(state, &candidates[index], record, now);
            self.check_binding(state, now).await?;
        }
        Ok(())
    }

    /// SR-23: an expired session's record is deleted and its cookie cleared.
    async fn expire(
        &self,
        state: &mut State,
        candidate: &Candidate,
        reason: crate::record::Expiry,
    ) {
        self.emit(|| Event::Expired {
            session: SessionRef::of(&candidate.key),
            reason,
        });
        if let Err(err) = self.store().delete(&candidate.key).await {
            tracing::warn!(target: "hallpass::event", error = %err, "could not delete an expired session; the store's purge will");
        }
        if !self.shared.duplicated {
            state.delete_cookie = true;
        }
    }

    /// SR-46: compares the request with the client recorded at login.
    async fn check_binding(&self, state: &mut State, now: Timestamp) -> Result<(), SessionError> {
        let binding = self.config().binding;
        if binding.policy == BindingPolicy::Off {
            return Ok(());
        }
        let Some(current) = state.current.as_ref() else {
            return Ok(());
        };
        if current.record.principal.is_none() {
            return Ok(());
        }
        let recorded = &current.record.client;
        let request = &self.client();
        let ip_changed = match (recorded.ip, request.ip) {
            (Some(a), Some(b)) => !same_prefix(a, b, binding.ipv4_prefix, binding.ipv6_prefix),
            _ => false,
        };
        let user_agent_changed = binding.user_agent && recorded.user_agent != request.user_agent;
        if !ip_changed && !user_agent_changed {
            return Ok(());
        }
        let reference = current.reference();
        self.emit(|| Event::BindingMismatch {
            session: reference,
            ip_changed,
            user_agent_changed,
        });
        match binding.policy {
            BindingPolicy::Off | BindingPolicy::Log => Ok(()),
            BindingPolicy::RequireLogin => {
                let delta = Delta {
                    clear_data: true,
                    principal: Some(PrincipalChange::Clear),
                    client: Some(self.client()),
                    touch: Some(self.touch_at(now)),
                    ..Delta::default()
                };
                self.rotate_with(state, delta, RotationReason::BindingMismatch, now)
                    .await
            }
            BindingPolicy::Terminate => {
                if let Some(current) = state.current.take() {
                    self.store()
                        .delete(&current.key)
                        .await
                        .map_err(SessionError::from_store)?;
                    self.emit(|| Event::Revoked {
                        handle: Some(current.record.handle),
                        principal: current.record.principal.clone(),
                        count: 1,
                        by: RevokedBy::BindingMismatch,
                    });
                }
                state.delete_cookie = true;
                Ok(())
            }
        }
    }

    /// Replaces the current session's token in one atomic store step.
    async fn rotate_with(
        &self,
        state: &mut State,
        mut delta: Delta,
        reason: RotationReason,
        now: Timestamp,
    ) -> Result<(), SessionError> {
        let Some(current) = state.current.as_mut() else {
            return Ok(());
        };
        let pending = std::mem::take(&mut current.pending);
        let mut ops = pending.ops;
        ops.append(&mut delta.ops);
        delta.ops = ops;
        delta.remember = delta.remember.or(pending.remember);
        if !current.stored {
            let next = Token::generate();
            current.key = next.store_key(&current.record.handle);
            current.token = next;
            delta
                .apply_to(Arc::make_mut(&mut current.record))
                .map_err(SessionError::Delta)?;
            current.issue_cookie = true;
            return Ok(());
        }
        delta.max_data_bytes = Some(self.config().max_data_bytes);
        for _ in 0..KEY_RETRIES {
            let next = Token::generate();
            let next_key = next.store_key(&current.record.handle);
            match self
                .store()
                .rotate(&current.key, &next_key, &delta, now)
                .await
                .map_err(SessionError::from_store)?
            {
                Rotated::Updated { record, evicted } => {
                    self.emit(|| Event::Rotated {
                        from: current.reference(),
                        to: SessionRef::of(&next_key),
                        reason,
                    });
                    self.emit_evicted(record.principal.as_deref(), &evicted);
                    current.token = next;
                    current.key = next_key;
                    current.record = record;
                    current.needs_touch = false;
                    current.issue_cookie = true;
                    return Ok(());
                }
                Rotated::KeyTaken => {}
                Rotated::Refused(refusal) => {
                    // Nothing was written: put back what this request had pending.
                    current.pending.ops = std::mem::take(&mut delta.ops);
                    current.pending.remember = delta.remember;
                    return Err(SessionError::refused(refusal));
                }
                Rotated::Gone => {
                    self.emit(|| Event::WriteDiscarded {
                        session: current.reference(),
                    });
                    state.current = None;
                    state.delete_cookie = true;
                    return Err(SessionError::Ended);
                }
            }
        }
        Err(SessionError::Store(crate::store::StoreError::msg(
            crate::store::StoreErrorKind::Backend,
            "fresh tokens kept colliding",
        )))
    }

    /// `Revoked` events for the sessions a login's cap ended.
    fn emit_evicted(&self, principal: Option<&str>, evicted: &[Handle]) {
        for handle in evicted {
            self.emit(|| Event::Revoked {
                handle: Some(*handle),
                principal: principal.map(str::to_owned),
                count: 1,
                by: RevokedBy::SessionCap,
            });
        }
    }

    /// The admission a login of `principal` asks the store for.
    fn admission(&self, generation: Option<u64>) -> Admission {
        Admission {
            generation,
            cap: self
                .config()
                .session_cap
                .map(|(max, policy)| SessionCap::new(max, policy)),
        }
    }

    /// The current session, creating a fresh unsaved one if there is none.
    fn current_or_fresh<'s>(&self, state: &'s mut State) -> &'s mut Current {
        let now = self.now();
        state.current.get_or_insert_with(|| self.fresh(now))
    }

    /// Reads the value stored under `key`.
    ///
    /// # Errors
    ///
    /// [`SessionError::Store`] when the store fails, [`SessionError::Deserialize`] when
    /// the value does not fit `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// session.insert("theme", "dark").await?;
    /// assert_eq!(session.get::<String>("theme").await?.as_deref(), Some("dark"));
    /// assert_eq!(session.get::<String>("missing").await?, None);
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let Some(value) = state.current.as_ref().and_then(|c| c.record.data.get(key)) else {
            return Ok(None);
        };
        T::deserialize(value)
            .map(Some)
            .map_err(|source| SessionError::Deserialize {
                key: key.to_owned(),
                source,
            })
    }

    /// Stores `value` under `key` (written at commit, as a delta).
    ///
    /// # Errors
    ///
    /// [`SessionError::Serialize`], [`SessionError::DataTooLarge`] (nothing changes),
    /// or a store error from loading.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// session.insert("cart", vec!["apple", "pear"]).await?;
    /// assert_eq!(session.get::<Vec<String>>("cart").await?.map(|c| c.len()), Some(2));
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn insert(&self, key: &str, value: impl Serialize) -> Result<(), SessionError> {
        let value = serde_json::to_value(value).map_err(SessionError::Serialize)?;
        let max = self.config().max_data_bytes;
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let current = self.current_or_fresh(&mut state);
        let record = Arc::make_mut(&mut current.record);
        let previous = record.data.insert(key.to_owned(), value.clone());
        let size = record.data_size();
        if size > max {
            match previous {
                Some(previous) => record.data.insert(key.to_owned(), previous),
                None => record.data.remove(key),
            };
            return Err(SessionError::DataTooLarge { size, max });
        }
        if current.stored {
            current.pending.set(key, value);
        }
        Ok(())
    }

    /// Removes `key`; returns whether it was there.
    ///
    /// # Errors
    ///
    /// A store error from loading.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// session.insert("theme", "dark").await?;
    /// assert!(session.remove("theme").await?);
    /// assert!(!session.remove("theme").await?);
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn remove(&self, key: &str) -> Result<bool, SessionError> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let Some(current) = state.current.as_mut() else {
            return Ok(false);
        };
        let existed = current.record.data.contains_key(key)
            && Arc::make_mut(&mut current.record)
                .data
                .remove(key)
                .is_some();
        if existed && current.stored {
            current.pending.remove(key);
        }
        Ok(existed)
    }

    /// Adds `by` to the integer under `key` (absent counts as 0) and returns the new
    /// value. On an existing session this goes to the store at once, atomically, so
    /// concurrent requests never lose a count and each sees its own number; for a
    /// request that has not loaded the session yet it is the only store call.
    ///
    /// # Errors
    ///
    /// [`SessionError::Delta`] when the value is not an integer or would overflow,
    /// [`SessionError::Ended`] when the session ended concurrently (nothing written),
    /// or a store error.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// assert_eq!(session.increment("views", 1).await?, 1);
    /// assert_eq!(session.increment("views", 10).await?, 11);
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn increment(&self, key: &str, by: i64) -> Result<i64, SessionError> {
        let mut state = self.shared.state.lock().await;
        let now = self.now();
        if self.fast_path(&state) {
            // One round trip: the store checks that the session is live and applies
            // the increment together with the touch.
            state.loaded = true;
            let candidate = &self.shared.candidates[0];
            // Due only when the store's record was last seen a touch interval ago.
            let due_by = now.saturating_sub(self.config().touch_interval());
            let mut delta = Delta {
                touch: Some(self.touch_at(now).when_seen_by(due_by)),
                max_data_bytes: Some(self.config().max_data_bytes),
                ..Delta::default()
            };
            delta.increment(key, by);
            if !candidate.by_primary {
                // A cookie under an older key is re-signed at commit: that needs the
                // session adopted, so the whole record comes back.
                if let Some(value) = self
                    .increment_adopting(&mut state, &delta, key, now)
                    .await?
                {
                    return Ok(value);
                }
            } else {
                match self.store().increment(&candidate.key, &delta, now).await {
                    Ok(Incremented::Counted { value, .. }) => {
                        // Not adopted: a later read in this request loads the session
                        // (this increment in it); the touch went with the write.
                        state.loaded = false;
                        state.counted = true;
                        return Ok(value);
                    }
                    Ok(Incremented::Gone) => self.unknown_session(&mut state),
                    Err(err) => self.unloaded_failure(&mut state, err)?,
                }
            }
        } else {
            self.ensure_loaded(&mut state).await?;
        }
        let current = self.current_or_fresh(&mut state);
        if !current.stored {
            let mut delta = Delta::default();
            delta.increment(key, by);
            let record = Arc::make_mut(&mut current.record);
            delta.apply_to(record).map_err(SessionError::Delta)?;
            // Undo the version bump: an unsaved record is still version 1.
            record.version = 1;
            return current
                .record
                .data
                .get(key)
                .and_then(serde_json::Value::as_i64)
                .ok_or(SessionError::Ended);
        }
        let mut delta = std::mem::take(&mut current.pending);
        delta.increment(key, by);
        delta.max_data_bytes = Some(self.config().max_data_bytes);
        if current.needs_touch {
            delta.touch = Some(self.touch_at(now));
        }
        let applied = match self.store().apply(&current.key, &delta, now).await {
            Ok(applied) => applied,
            Err(err) => {
                // Nothing was written: what this request had pending stays pending.
                delta.ops.pop();
                current.pending = delta;
                current.pending.touch = None;
                current.pending.max_data_bytes = None;
                return Err(SessionError::from_store(err));
            }
        };
        match applied {
            Applied::Updated(record) => {
                let value = record.data.get(key).and_then(serde_json::Value::as_i64);
                current.record = record;
                current.needs_touch = false;
                value.ok_or(SessionError::Ended)
            }
            Applied::Gone => {
                self.emit(|| Event::WriteDiscarded {
                    session: current.reference(),
                });
                state.current = None;
                state.delete_cookie = true;
                Err(SessionError::Ended)
            }
        }
    }

    /// Logs `principal` in: a new token (the old one dies at once), the data kept, the
    /// principal recorded, the absolute timeout restarted (SR-14, SR-21). Logging in
    /// as someone else than the current principal also drops the data (SR-19). The
    /// store enforces the per-principal cap in the same atomic step (SR-29).
    ///
    /// This does not see a password change that happens while your credential check
    /// runs. Where that matters, take a [`LoginTicket`] with [`Session::begin_login`]
    /// before checking the credentials and log in with [`Session::finish_login`].
    ///
    /// # Errors
    ///
    /// [`SessionError::TooManySessions`] under [`CapPolicy::RejectNew`](crate::config::CapPolicy), or a store error.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// // After checking the password:
    /// session.login("alice").await?;
    /// assert_eq!(session.principal().await?.as_deref(), Some("alice"));
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn login(&self, principal: impl Into<String>) -> Result<(), SessionError> {
        self.login_as(principal.into(), None).await
    }

    /// Starts a login of `principal`: reads the principal's generation, so that a
    /// credentials change or "log out everywhere" that happens before
    /// [`Session::finish_login`] defeats this login (the one store call a login adds).
    /// Call it before you check the credentials.
    ///
    /// # Errors
    ///
    /// A store error.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// let ticket = session.begin_login("alice").await?;
    /// // ... verify alice's password here (slow: argon2) ...
    /// session.finish_login(ticket).await?;
    /// assert_eq!(session.principal().await?.as_deref(), Some("alice"));
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn begin_login(
        &self,
        principal: impl Into<String>,
    ) -> Result<LoginTicket, SessionError> {
        let principal = principal.into();
        let generation = self
            .store()
            .generation(&principal)
            .await
            .map_err(SessionError::from_store)?;
        Ok(LoginTicket {
            principal,
            generation,
        })
    }

    /// Logs the ticket's principal in, as [`Session::login`] does, unless the
    /// principal's credentials changed (or all its sessions were revoked) since
    /// [`Session::begin_login`]: then nothing is written and the answer is
    /// [`SessionError::CredentialsChanged`].
    ///
    /// # Errors
    ///
    /// [`SessionError::CredentialsChanged`], [`SessionError::TooManySessions`], or a
    /// store error.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// let ticket = session.begin_login("alice").await?;
    /// assert_eq!(ticket.principal(), "alice");
    /// session.finish_login(ticket).await?;
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn finish_login(&self, ticket: LoginTicket) -> Result<(), SessionError> {
        self.login_as(ticket.principal, Some(ticket.generation))
            .await
    }

    async fn login_as(
        &self,
        principal: String,
        generation: Option<u64>,
    ) -> Result<(), SessionError> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let now = self.now();
        let config = self.config();
        let current = self.current_or_fresh(&mut state);
        let switching = current
            .record
            .principal
            .as_ref()
            .is_some_and(|p| *p != principal);
        let admission = self.admission(generation);
        let delta = Delta {
            clear_data: switching,
            principal: Some(PrincipalChange::login(principal.clone(), admission)),
            client: Some(self.client()),
            absolute_deadline: Some(now.saturating_add(config.absolute_timeout)),
            touch: Some(self.touch_at(now)),
            ..Delta::default()
        };
        let stored = current.stored;
        let outcome = if stored {
            self.rotate_with(&mut state, delta.clone(), RotationReason::Login, now)
                .await
        } else {
            Err(SessionError::Ended)
        };
        match outcome {
            Ok(()) => {}
            Err(SessionError::Ended) => {
                // A fresh session, or the old one ended concurrently: the login is a
                // new session. With something to admit (a cap, a ticket) it is
                // created now, so that the handler learns of a refusal; otherwise
                // at commit, in the one write that also carries the handler's data.
                let mut fresh = match state.current.take() {
                    Some(current) if !current.stored => current,
                    _ => self.fresh(now),
                };
                let record = Arc::make_mut(&mut fresh.record);
                delta.apply_to(record).map_err(SessionError::Delta)?;
                record.version = 1;
                fresh.issue_cookie = true;
                if admission != Admission::default() {
                    self.create(&mut fresh, &admission).await?;
                }
                state.current = Some(fresh);
            }
            Err(err) => return Err(err),
        }
        if let Some(current) = state.current.as_ref() {
            self.emit(|| Event::Authenticated {
                session: current.reference(),
                principal,
            });
        }
        Ok(())
    }

    /// Inserts an unsaved session, with a new token if its key is taken.
    async fn create(
        &self,
        current: &mut Current,
        admission: &Admission,
    ) -> Result<(), SessionError> {
        for _ in 0..KEY_RETRIES {
            match self
                .store()
                .create(&current.key, &current.record, admission)
                .await
                .map_err(SessionError::from_store)?
            {
                Created::Inserted { evicted } => {
                    current.stored = true;
                    current.issue_cookie = true;
                    self.emit(|| Event::Created {
                        session: current.reference(),
                        handle: current.record.handle,
                    });
                    self.emit_evicted(current.record.principal.as_deref(), &evicted);
                    return Ok(());
                }
                Created::KeyTaken => {
                    let next = Token::generate();
                    current.key = next.store_key(&current.record.handle);
                    current.token = next;
                }
                Created::Refused(refusal) => return Err(SessionError::refused(refusal)),
            }
        }
        Err(SessionError::Store(crate::store::StoreError::msg(
            crate::store::StoreErrorKind::Backend,
            "fresh tokens kept colliding",
        )))
    }

    /// Ends the session: the record is deleted now and the response carries a deletion
    /// cookie (SR-24). A concurrent slow request cannot bring it back.
    ///
    /// # Errors
    ///
    /// A store error; the session is then not known to be deleted.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// session.login("alice").await?;
    /// session.logout().await?;
    /// assert_eq!(session.principal().await?, None);
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn logout(&self) -> Result<(), SessionError> {
        let mut state = self.shared.state.lock().await;
        if self.fast_path(&state) {
            // One store call: the delete says whose session it ended.
            let candidate = &self.shared.candidates[0];
            let deleted = self
                .store()
                .delete(&candidate.key)
                .await
                .map_err(SessionError::Store)?;
            state.loaded = true;
            if let Some(deleted) = deleted {
                self.emit(|| Event::LoggedOut {
                    session: SessionRef::of(&candidate.key),
                    principal: deleted.principal.clone(),
                });
            }
            if !self.shared.duplicated {
                state.delete_cookie = true;
            }
            return Ok(());
        }
        self.ensure_loaded(&mut state).await?;
        if let Some(current) = state.current.take() {
            if current.stored {
                if let Err(err) = self.store().delete(&current.key).await {
                    let principal = current.record.principal.clone();
                    state.current = Some(current);
                    tracing::warn!(target: "hallpass::event", ?principal, "logout failed: the store did not delete the session");
                    return Err(SessionError::Store(err));
                }
                self.emit(|| Event::LoggedOut {
                    session: current.reference(),
                    principal: current.record.principal.clone(),
                });
                state.delete_cookie = true;
            }
        }
        if !self.shared.candidates.is_empty() && !self.shared.duplicated {
            state.delete_cookie = true;
        }
        Ok(())
    }

    /// Issues a new token for the same session (do this on any privilege change, SR-15).
    ///
    /// # Errors
    ///
    /// [`SessionError::Ended`] when the session ended concurrently, or a store error.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// session.login("alice").await?;
    /// let before = session.handle().await?;
    /// session.rotate().await?; // a new token; the handle and the data stay
    /// assert_eq!(session.handle().await?, before);
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn rotate(&self) -> Result<(), SessionError> {
        let mut state = self.shared.state.lock().await;
        let now = self.now();
        if self.fast_path(&state) {
            return self.rotate_unloaded(&mut state, now).await;
        }
        self.ensure_loaded(&mut state).await?;
        let delta = Delta {
            touch: Some(self.touch_at(now)),
            ..Delta::default()
        };
        self.rotate_with(&mut state, delta, RotationReason::Requested, now)
            .await
    }

    /// The logged-in principal, if any.
    ///
    /// # Errors
    ///
    /// A store error from loading.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// assert_eq!(session.principal().await?, None);
    /// session.login("alice").await?;
    /// assert_eq!(session.principal().await?.as_deref(), Some("alice"));
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn principal(&self) -> Result<Option<String>, SessionError> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        Ok(state
            .current
            .as_ref()
            .and_then(|c| c.record.principal.clone()))
    }

    /// The session's public handle, if there is a session: the name under which
    /// [`Session::sessions`] lists it and [`Session::revoke`] ends it.
    ///
    /// # Errors
    ///
    /// A store error from loading.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session_of("alice").await;
    /// let mine = session.handle().await?;
    /// assert!(mine.is_some());
    /// assert!(session.sessions().await?.iter().any(|s| Some(s.handle) == mine));
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn handle(&self) -> Result<Option<Handle>, SessionError> {
        self.with_record(|record| record.handle).await
    }

    /// When the session ends unless used again (the earlier of its two deadlines).
    ///
    /// # Errors
    ///
    /// A store error from loading.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// session.login("alice").await?;
    /// let ends = session.expires_at().await?.expect("a session");
    /// use hallpass::time::{Clock as _, SystemClock};
    /// assert!(ends > SystemClock.now());
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn expires_at(&self) -> Result<Option<Timestamp>, SessionError> {
        self.with_record(Record::expires_at).await
    }

    /// What the session is, for a "who am I" or "your devices" page: handle,
    /// principal, creation and last use, deadlines and client, as this request sees
    /// it. `None` when there is no session.
    ///
    /// # Errors
    ///
    /// A store error from loading.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// session.login("alice").await?;
    /// let me = session.summary().await?.expect("a session");
    /// assert_eq!(me.principal.as_deref(), Some("alice"));
    /// assert!(me.absolute_deadline >= me.idle_deadline);
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn summary(&self) -> Result<Option<SessionSummary>, SessionError> {
        self.with_record(|record| SessionSummary::from(record))
            .await
    }

    /// The keys of the session's data, in order.
    ///
    /// # Errors
    ///
    /// A store error from loading.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// session.insert("theme", "dark").await?;
    /// session.insert("cart", [1, 2]).await?;
    /// assert_eq!(session.keys().await?, ["cart", "theme"]);
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn keys(&self) -> Result<Vec<String>, SessionError> {
        Ok(self
            .with_record(|record| record.data.keys().cloned().collect())
            .await?
            .unwrap_or_default())
    }

    /// `f` of the record as this request sees it, if there is a session.
    async fn with_record<T>(
        &self,
        f: impl FnOnce(&Record) -> T,
    ) -> Result<Option<T>, SessionError> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        Ok(state.current.as_ref().map(|c| f(&c.record)))
    }

    /// "Remember me": `true` gives the cookie a `Max-Age` reaching the absolute
    /// deadline, so it survives a browser restart; `false` makes it a browser-session
    /// cookie again (the default, SR-09).
    ///
    /// # Errors
    ///
    /// [`SessionError::NoSession`] when there is no session to remember.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// session.login("alice").await?;
    /// session.remember(true).await?; // the cookie gets a Max-Age
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn remember(&self, remember: bool) -> Result<(), SessionError> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let current = state.current.as_mut().ok_or(SessionError::NoSession)?;
        if current.record.remember != remember {
            Arc::make_mut(&mut current.record).remember = remember;
            if current.stored {
                current.pending.remember = Some(remember);
            }
            current.issue_cookie = true;
        }
        Ok(())
    }

    /// The live sessions of the logged-in principal, oldest first (SR-27). Compare
    /// each handle with [`Session::handle`] to mark the current one.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotAuthenticated`] without a principal, or a store error.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session_of("alice").await;
    /// let devices = session.sessions().await?;
    /// assert_eq!(devices.len(), 1);
    /// assert_eq!(Some(devices[0].handle), session.handle().await?);
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn sessions(&self) -> Result<Vec<SessionSummary>, SessionError> {
        let principal = self
            .principal()
            .await?
            .ok_or(SessionError::NotAuthenticated)?;
        self.store()
            .list_principal(&principal, self.now())
            .await
            .map_err(SessionError::from_store)
    }

    /// Revokes one of the logged-in principal's own sessions by handle; `false` when
    /// no such session of this principal exists (another user's handle is refused
    /// the same way).
    ///
    /// # Errors
    ///
    /// [`SessionError::NotAuthenticated`] without a principal, or a store error.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session_of("alice").await;
    /// let other = hallpass::Handle::generate();
    /// assert!(!session.revoke(&other).await?, "not one of alice's sessions");
    /// let mine = session.handle().await?.expect("a session");
    /// assert!(session.revoke(&mine).await?);
    /// assert_eq!(session.principal().await?, None);
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn revoke(&self, handle: &Handle) -> Result<bool, SessionError> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let principal = state
            .current
            .as_ref()
            .and_then(|c| c.record.principal.clone())
            .ok_or(SessionError::NotAuthenticated)?;
        let now = self.now();
        let owned = matches!(
            self.store().load_handle(handle, now).await.map_err(SessionError::from_store)?,
            Some((_, record)) if record.principal.as_deref() == Some(principal.as_str())
        );
        if !owned
            || !self
                .store()
                .revoke(handle)
                .await
                .map_err(SessionError::from_store)?
        {
            return Ok(false);
        }
        self.emit(|| Event::Revoked {
            handle: Some(*handle),
            principal: Some(principal),
            count: 1,
            by: RevokedBy::User,
        });
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.record.handle == *handle)
        {
            state.current = None;
            state.delete_cookie = true;
        }
        Ok(true)
    }

    /// The principal and handle of the session this request loaded.
    fn signed_in(state: &State) -> Result<(String, Handle), SessionError> {
        let record = &state
            .current
            .as_ref()
            .ok_or(SessionError::NotAuthenticated)?
            .record;
        let principal = record
            .principal
            .clone()
            .ok_or(SessionError::NotAuthenticated)?;
        Ok((principal, record.handle))
    }

    /// Revokes every session of `principal` but `except` (moving its generation on)
    /// and reports it.
    async fn revoke_everywhere(
        &self,
        principal: String,
        except: Option<&Handle>,
    ) -> Result<u64, SessionError> {
        let count = self
            .store()
            .revoke_principal(&principal, except)
            .await
            .map_err(SessionError::from_store)?;
        self.emit(|| Event::Revoked {
            handle: None,
            principal: Some(principal),
            count,
            by: RevokedBy::User,
        });
        Ok(count)
    }

    /// "Log out everywhere": revokes every session of the logged-in principal, this
    /// one included, and defeats logins of it still in flight (SR-25). Returns how
    /// many sessions ended.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotAuthenticated`] without a principal, or a store error.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session_of("alice").await;
    /// assert_eq!(session.revoke_all().await?, 1);
    /// assert_eq!(session.principal().await?, None);
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn revoke_all(&self) -> Result<u64, SessionError> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let (principal, _) = Self::signed_in(&state)?;
        let count = self.revoke_everywhere(principal, None).await?;
        state.current = None;
        state.delete_cookie = true;
        Ok(count)
    }

    /// "Log out everywhere else": revokes every other session of the logged-in
    /// principal and keeps this one (SR-26). Returns how many ended.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotAuthenticated`] without a principal, or a store error.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session_of("alice").await;
    /// assert_eq!(session.revoke_others().await?, 0, "alice has no other session here");
    /// assert_eq!(session.principal().await?.as_deref(), Some("alice"));
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn revoke_others(&self) -> Result<u64, SessionError> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let (principal, own) = Self::signed_in(&state)?;
        self.revoke_everywhere(principal, Some(&own)).await
    }

    /// The logged-in principal's credentials changed (a new password, a reset): ends
    /// every other session of the principal and defeats every login of it still in
    /// flight (one that called [`Session::begin_login`] before this), in one store
    /// step; then issues this session a new token. Returns how many sessions ended.
    ///
    /// The principal is the one this request's session had when it was loaded: if
    /// that session is revoked while the change runs, the other sessions still end
    /// (and this one stays ended).
    ///
    /// # Errors
    ///
    /// [`SessionError::NotAuthenticated`] without a principal, or a store error.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session_of("alice").await;
    /// // ... alice's new password is stored ...
    /// assert_eq!(session.credentials_changed().await?, 0);
    /// assert_eq!(session.principal().await?.as_deref(), Some("alice"));
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn credentials_changed(&self) -> Result<u64, SessionError> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let (principal, own) = Self::signed_in(&state)?;
        let count = self.revoke_everywhere(principal, Some(&own)).await?;
        let now = self.now();
        let delta = Delta {
            touch: Some(self.touch_at(now)),
            ..Delta::default()
        };
        match self
            .rotate_with(&mut state, delta, RotationReason::Requested, now)
            .await
        {
            Ok(()) | Err(SessionError::Ended) => Ok(count),
            Err(err) => Err(err),
        }
    }

    /// Writes what the request changed and says which cookie the response carries;
    /// called once, by [`Commit::finish`](crate::engine::Commit::finish).
    pub(crate) async fn finish(&self) -> Result<Finished, SessionError> {
        let mut state = self.shared.state.lock().await;
        if let Some(err) = &state.load_failed {
            // The load's own error, source and all (H6), for the log line.
            return Err(SessionError::Store(crate::store::StoreError::new(
                err.kind(),
                Arc::clone(err),
            )));
        }
        let reissue_only = !state.loaded
            && matches!(self.shared.candidates.as_slice(), [candidate] if !candidate.by_primary);
        if reissue_only {
            // A cookie signed by an older key: re-issue it under the primary key even
            // though the handler did not look at the session.
            if self.ensure_loaded(&mut state).await.is_err() {
                state.load_failed = None;
                return Ok(Finished::default());
            }
        }
        if !state.loaded {
            return Ok(Finished {
                cookie: None,
                vary: state.counted,
            });
        }
        if !state.degraded {
            self.write(&mut state).await?;
        }
        let context = &self.shared.context;
        let cookie = match state.current.as_ref() {
            Some(current) if current.stored && current.issue_cookie => {
                let value = crate::codec::encode(
                    &self.config().keyring,
                    &self.config().cookie_name,
                    &current.record.handle,
                    &current.token,
                );
                let max_age = current
                    .record
                    .remember
                    .then(|| current.record.absolute_deadline.since(self.now()));
                context.set_cookie(&value, max_age)
            }
            _ if state.delete_cookie => context.deletion_cookie(),
            _ => None,
        };
        Ok(Finished { cookie, vary: true })
    }

    /// The store writes of [`Session::finish`].
    async fn write(&self, state: &mut State) -> Result<(), SessionError> {
        let now = self.now();
        let Some(current) = state.current.as_mut() else {
            return Ok(());
        };
        if !current.stored {
            if current.record.data.is_empty() && current.record.principal.is_none() {
                // SR-18: an empty session is never stored and gets no cookie.
                state.current = None;
                return Ok(());
            }
            return self.create(current, &Admission::default()).await;
        }
        let mut delta = std::mem::take(&mut current.pending);
        if current.needs_touch {
            delta.touch = Some(self.touch_at(now));
        }
        if delta.changes_content() {
            delta.max_data_bytes = Some(self.config().max_data_bytes);
            match self
                .store()
                .apply(&current.key, &delta, now)
                .await
                .map_err(SessionError::from_store)?
            {
                Applied::Updated(record) => current.record = record,
                Applied::Gone => {
                    // AT-24: the session ended while this request ran; its writes are
                    // dropped rather than resurrecting it.
                    self.emit(|| Event::WriteDiscarded {
                        session: current.reference(),
                    });
                    state.current = None;
                    state.delete_cookie = true;
                }
            }
        } else if let Some(touch) = delta.touch {
            if !self
                .store()
                .touch(&current.key, touch, now)
                .await
                .map_err(SessionError::from_store)?
            {
                state.current = None;
                state.delete_cookie = true;
            }
        }
        Ok(())
    }
}

/// The start of a login, taken with [`Session::begin_login`] before the credentials
/// are checked: the principal and its generation at that moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginTicket {
    principal: String,
    generation: u64,
}

impl LoginTicket {
    /// The principal this ticket logs in.
    #[must_use]
    pub fn principal(&self) -> &str {
        &self.principal
    }
}

fn same_prefix(a: std::net::IpAddr, b: std::net::IpAddr, v4: Option<u8>, v6: Option<u8>) -> bool {
    use std::net::IpAddr::{V4, V6};
    let (a, b) = match (a, b) {
        (V4(a), V6(b)) | (V6(b), V4(a)) => match b.to_ipv4_mapped() {
            Some(b) => (V4(a), V4(b)),
            None => return false,
        },
        pair => pair,
    };
    match (a, b) {
        (V4(a), V4(b)) => v4.is_none_or(|bits| {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(bits.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }),
        (V6(a), V6(b)) => v6.is_none_or(|bits| {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(bits.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::same_prefix;

    #[test]
    fn prefixes_compare_masked_addresses() {
        let ip = |s: &str| s.parse().unwrap();
        assert!(same_prefix(
            ip("10.1.2.3"),
            ip("10.1.2.200"),
            Some(24),
            Some(64)
        ));
        assert!(!same_prefix(
            ip("10.1.2.3"),
            ip("10.1.3.3"),
            Some(24),
            Some(64)
        ));
        assert!(same_prefix(
            ip("10.1.2.3"),
            ip("99.1.3.3"),
            Some(0),
            Some(64)
        ));
        assert!(same_prefix(
            ip("2001:db8::1"),
            ip("2001:db8::ffff"),
            Some(24),
            Some(64)
        ));
        assert!(!same_prefix(
            ip("2001:db8::1"),
            ip("2001:db9::1"),
            Some(24),
            Some(64)
        ));
        assert!(same_prefix(
            ip("10.0.0.1"),
            ip("::ffff:10.0.0.9"),
            Some(24),
            Some(64)
        ));
    }
}
