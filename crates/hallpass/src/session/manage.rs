//! What a logged-in user sees and ends: the session's summary, its devices, and
//! revocation by handle, of the others, of all, and after a credentials change.

use std::sync::Arc;

use crate::delta::Delta;
use crate::error::SessionError;
use crate::events::{Event, RevokedBy, RotationReason};
use crate::principal::Principal;
use crate::record::Record;
use crate::store::SessionSummary;
use crate::time::Timestamp;
use crate::token::Handle;

use super::{Session, State};

impl Session {
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
    pub async fn principal(&self) -> Result<Option<Principal>, SessionError> {
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
    pub(super) fn signed_in(state: &State) -> Result<(Principal, Handle), SessionError> {
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
    pub(super) async fn revoke_everywhere(
        &self,
        principal: Principal,
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
}
