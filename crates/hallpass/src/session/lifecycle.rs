//! Login, logout and rotation: each one atomic store step (SR-15, SR-24, SR-29).

use std::sync::Arc;

use crate::delta::{Admission, Delta, PrincipalChange, SessionCap};
use crate::error::SessionError;
use crate::events::{Event, RevokedBy, RotationReason, SessionRef};
use crate::principal::Principal;
use crate::record::{Authenticated, Authentication};
use crate::store::{Created, Rotated};
use crate::time::Timestamp;
use crate::token::{Handle, Token};

use super::{Current, KEY_RETRIES, LoginTicket, Session, State};

impl Session {
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
    pub async fn login(&self, principal: impl Into<Principal>) -> Result<(), SessionError> {
        self.login_as(principal.into(), None, Authentication::new())
            .await
    }

    /// [`Session::login`], recording how the principal authenticated (SR-30): the
    /// level and methods, and now as [`Session::authenticated_at`]. Logging the same
    /// principal in again is a re-authentication: a new token, both timeouts
    /// restarted, the data kept, and the level replaced by `how`'s (a step-up may
    /// raise it). A level never carries over to another principal.
    ///
    /// # Errors
    ///
    /// As [`Session::login`].
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// use hallpass::store::Authentication;
    ///
    /// session.login_with("alice", Authentication::new().with_level("aal1").with_methods(["pwd"])).await?;
    /// // Later, before a sensitive change: step up with a second factor.
    /// session.login_with("alice", Authentication::new().with_level("aal2").with_methods(["pwd", "otp"])).await?;
    /// let done = session.authentication().await?.expect("logged in");
    /// assert_eq!((done.how.level.as_deref(), done.how.methods.len()), (Some("aal2"), 2));
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn login_with(
        &self,
        principal: impl Into<Principal>,
        how: Authentication,
    ) -> Result<(), SessionError> {
        self.login_as(principal.into(), None, how).await
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
        principal: impl Into<Principal>,
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
            how: Authentication::new(),
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
        self.login_as(ticket.principal, Some(ticket.generation), ticket.how)
            .await
    }

    pub(super) async fn login_as(
        &self,
        principal: Principal,
        generation: Option<u64>,
        how: Authentication,
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
            // Another principal starts from nothing: no data, and no "remember me"
            // that the previous one chose (its cookie would outlive a browser restart).
            clear_data: switching,
            remember: switching.then_some(false),
            principal: Some(PrincipalChange::login(principal.clone(), admission)),
            client: Some(self.client()),
            absolute_deadline: Some(now.saturating_add(config.absolute_timeout)),
            authenticated: Some(Authenticated::new(now, how)),
            touch: Some(self.touch_at(now)),
            ..Delta::default()
        };
        let stored = current.stored;
        // Boxed, as is the create below: a first login needs neither, and its
        // future stays small.
        let outcome = if stored {
            Box::pin(self.rotate_with(&mut state, delta.clone(), RotationReason::Login, now)).await
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
                    Box::pin(self.create(&mut fresh, &admission)).await?;
                }
                state.current = Some(fresh);
            }
            Err(err) => return Err(err),
        }
        state.offer_device = self.config().device.is_some();
        if let Some(current) = state.current.as_ref() {
            self.emit(|| Event::Authenticated {
                session: current.reference(),
                principal,
            });
        }
        Ok(())
    }

    /// Inserts an unsaved session, with a new token if its key is taken.
    pub(super) async fn create(
        &self,
        current: &mut Current,
        admission: &Admission,
    ) -> Result<(), SessionError> {
        for _ in 0..KEY_RETRIES {
            match self
                .store()
                .create_shared(&current.key, &mut current.record, admission)
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
                    self.emit_evicted(current.record.principal.as_ref(), &evicted);
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
        // Device binding: the logout also ends the browser's DBSC session.
        state.clear_site_data = self.config().device.is_some();
        self.ensure_loaded(&mut state).await?;
        let now = self.now();
        let mut followed = false;
        while let Some(current) = state.current.as_ref().filter(|c| c.stored) {
            let principal = current.record.principal.clone();
            match self.store().delete(&current.key).await {
                // A concurrent periodic rotation must not keep the session alive
                // (SR-17): the delete goes to the key it moved to.
                Ok(None)
                    if !followed && Box::pin(self.follow_rotation(&mut state, now)).await? =>
                {
                    followed = true;
                }
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(target: "hallpass::event", ?principal, "logout failed: the store did not delete the session");
                    return Err(SessionError::Store(err));
                }
            }
        }
        if let Some(current) = state.current.take() {
            if current.stored {
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

    /// [`Session::rotate`] in one store call: the rotation is the load.
    pub(super) async fn rotate_unloaded(
        &self,
        state: &mut State,
        now: Timestamp,
    ) -> Result<(), SessionError> {
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
                    self.emit_evicted(record.principal.as_ref(), &evicted);
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

    /// Replaces the current session's token in one atomic store step.
    pub(super) async fn rotate_with(
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
        if delta.rotated.is_none() {
            delta.rotated = self.plain_rotation(&current.record, now);
        }
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
                    self.emit_evicted(record.principal.as_ref(), &evicted);
                    current.token = next;
                    current.key = next_key;
                    current.record = record;
                    current.needs_touch = false;
                    current.issue_cookie = true;
                    // A graced request (SR-17) that rotates has a token of its own now.
                    current.graced = false;
                    return Ok(());
                }
                Rotated::KeyTaken => {}
                Rotated::Refused(refusal) => {
                    // Nothing was written: put back what this request had pending.
                    current.pending.ops = std::mem::take(&mut delta.ops);
                    current.pending.remember = delta.remember;
                    return Err(SessionError::refused(refusal));
                }
                Rotated::Gone if reason == RotationReason::Periodic => {
                    // Ended, or another request's rotation won: its changes go to
                    // the winner's key (SR-17).
                    return Box::pin(self.apply_after_lost_rotation(state, delta, now)).await;
                }
                Rotated::Gone => {
                    // A concurrent periodic rotation (SR-17): once more, under the
                    // new key.
                    if Box::pin(self.follow_rotation(state, now)).await? {
                        return Box::pin(self.rotate_with(state, delta, reason, now)).await;
                    }
                    self.ended_meanwhile(state);
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
    pub(super) fn emit_evicted(&self, principal: Option<&Principal>, evicted: &[Handle]) {
        for handle in evicted {
            self.emit(|| Event::Revoked {
                handle: Some(*handle),
                principal: principal.cloned(),
                count: 1,
                by: RevokedBy::SessionCap,
            });
        }
    }

    /// The admission a login of `principal` asks the store for.
    pub(super) fn admission(&self, generation: Option<u64>) -> Admission {
        Admission {
            generation,
            cap: self
                .config()
                .session_cap
                .map(|(max, policy)| SessionCap::new(max, policy)),
        }
    }
}
