//! The commit: what the request changed goes to the store before the response head,
//! and the response learns which cookie it carries.

use std::sync::Arc;

use crate::delta::Admission;
use crate::error::SessionError;
use crate::events::Event;
use crate::store::Applied;

use super::{Finished, Session, State};

impl Session {
    /// Writes what the request changed and says which cookie the response carries;
    /// called once, by [`Commit::finish`](crate::engine::Commit::finish).
    pub(crate) async fn finish(&self) -> Result<Finished, SessionError> {
        let mut state = self.shared.state.lock().await;
        if let Some(err) = load_failure(&state) {
            return Err(err);
        }
        if self.reissue_only(&state) {
            // A cookie signed by an older key: re-issue it under the primary key even
            // though the handler did not look at the session.
            if self.ensure_loaded(&mut state).await.is_err() {
                state.load_failed = None;
                return Ok(Finished::default());
            }
        }
        if !state.loaded {
            return Ok(unloaded(&state));
        }
        // Asked at most once, and only when this request found its token dead.
        let moved_on =
            state.delete_cookie && state.current.is_none() && self.rotated_away(&state).await;
        if !state.degraded {
            self.write(&mut state).await?;
        }
        Ok(self.finished(&state, moved_on))
    }

    /// [`Session::finish`] when it needs no store call, which is most requests (a
    /// read, or a write the handler already sent, with no touch due): `None` when
    /// it does. Spares such a request the commit's future, which is large (it holds
    /// every store call a commit may make).
    pub(crate) fn finish_now(&self) -> Option<Result<Finished, SessionError>> {
        let state = self.shared.state.try_lock().ok()?;
        if let Some(err) = load_failure(&state) {
            return Some(Err(err));
        }
        if self.reissue_only(&state) {
            return None;
        }
        if !state.loaded {
            return Some(Ok(unloaded(&state)));
        }
        let moved_on = if state.delete_cookie && state.current.is_none() {
            self.rotated_away_known(&state)?
        } else {
            false
        };
        if !state.degraded && !self.nothing_to_write(&state) {
            return None;
        }
        Some(Ok(self.finished(&state, moved_on)))
    }

    /// A cookie signed by an older key, and a handler that did not look at the
    /// session: the commit loads it only to re-issue the cookie.
    fn reissue_only(&self, state: &State) -> bool {
        !state.loaded
            && matches!(self.shared.candidates.as_slice(), [candidate] if !candidate.by_primary)
    }

    /// Whether [`Session::write`] would make no store call (the clock is read only
    /// when periodic rotation is on).
    fn nothing_to_write(&self, state: &State) -> bool {
        let Some(current) = state.current.as_ref() else {
            return true;
        };
        current.stored
            && !current.needs_touch
            && !current.pending.changes_content()
            && current.pending.touch.is_none()
            && (current.graced
                || self.config().rotation_interval.is_none()
                || !self.rotation_due(&current.record, self.now()))
    }

    /// The cookie and headers of a finished request whose writes are done.
    fn finished(&self, state: &State, moved_on: bool) -> Finished {
        let context = &self.shared.context;
        let cookie = match state.current.as_ref() {
            Some(current) if current.stored && current.issue_cookie && !current.graced => {
                let max_age = current
                    .record
                    .remember
                    .then(|| current.record.absolute_deadline.since(self.now()));
                context.set_cookie(max_age, |text| {
                    crate::codec::encode_into(
                        &self.config().keyring,
                        &self.config().cookie_name,
                        &current.record.handle,
                        &current.token,
                        text,
                    );
                })
            }
            _ if state.delete_cookie && !moved_on => context.deletion_cookie(),
            _ => None,
        };
        Finished {
            cookie,
            vary: true,
            headers: self.device_headers(state),
        }
    }

    /// The store writes of [`Session::finish`].
    pub(super) async fn write(&self, state: &mut State) -> Result<(), SessionError> {
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
        if !current.graced && self.rotation_due(&current.record, now) {
            return Box::pin(self.rotate_periodically(state, delta, now)).await;
        }
        if current.needs_touch {
            delta.touch = Some(self.touch_at(now));
        }
        if delta.changes_content() {
            delta.max_data_bytes = Some(self.config().max_data_bytes);
            let mut followed = false;
            while let Some(current) = state.current.as_mut() {
                match self
                    .store()
                    .apply(&current.key, &delta, now)
                    .await
                    .map_err(SessionError::from_store)?
                {
                    Applied::Updated(record) => {
                        current.record = record;
                        break;
                    }
                    // A concurrent periodic rotation (SR-17): under the new key.
                    Applied::Gone
                        if !followed && Box::pin(self.follow_rotation(state, now)).await? =>
                    {
                        followed = true;
                    }
                    Applied::Gone => {
                        // AT-24: the session ended while this request ran; its writes
                        // are dropped rather than resurrecting it.
                        self.ended_meanwhile(state);
                    }
                }
            }
        } else if let Some(touch) = delta.touch {
            let touched = self
                .store()
                .touch(&current.key, touch, now)
                .await
                .map_err(SessionError::from_store)?;
            // A touch of a token rotated away a moment ago: the rotation touched.
            if !touched && !Box::pin(self.follow_rotation(state, now)).await? {
                // Nothing was being written but the touch: no discarded write.
                state.current = None;
                state.delete_cookie = true;
                state.maybe_rotated_away = true;
            }
        }
        Ok(())
    }

    /// AT-24: the session ended while this request ran (a logout, a revocation,
    /// a rotation by another request): this request's writes are dropped rather
    /// than resurrecting it, and the cookie is cleared unless the session lives on
    /// under a newer token.
    pub(super) fn ended_meanwhile(&self, state: &mut State) {
        if let Some(current) = state.current.take() {
            self.emit(|| Event::WriteDiscarded {
                session: current.reference(),
            });
        }
        state.delete_cookie = true;
        state.maybe_rotated_away = true;
    }

    /// The presented cookie's session lives on under a newer token: a concurrent
    /// request of the same browser rotated it (a login, a rotation), and that
    /// browser holds the fresher cookie, which a deletion cookie from this stale
    /// request would overwrite. Only asked when this request found its token dead;
    /// one handle lookup.
    async fn rotated_away(&self, state: &State) -> bool {
        if let Some(known) = self.rotated_away_known(state) {
            return known;
        }
        let [candidate] = self.shared.candidates.as_slice() else {
            return false;
        };
        matches!(
            self.store()
                .load_handle(&candidate.handle, self.now())
                .await,
            Ok(Some(_))
        )
    }

    /// [`Session::rotated_away`] when the answer needs no store call.
    fn rotated_away_known(&self, state: &State) -> Option<bool> {
        if !state.maybe_rotated_away {
            return Some(false);
        }
        let [_] = self.shared.candidates.as_slice() else {
            return Some(false);
        };
        state.handle_live
    }
}

/// The load's own error, source and all (H6), for the log line.
fn load_failure(state: &State) -> Option<SessionError> {
    state
        .load_failed
        .as_ref()
        .map(|err| SessionError::Store(crate::store::StoreError::new(err.kind(), Arc::clone(err))))
}

/// What a request that never loaded its session answers: no cookie.
fn unloaded(state: &State) -> Finished {
    Finished {
        cookie: None,
        vary: state.counted,
        headers: Vec::new(),
    }
}
