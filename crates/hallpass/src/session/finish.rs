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
                headers: Vec::new(),
            });
        }
        // Asked at most once, and only when this request found its token dead.
        let moved_on =
            state.delete_cookie && state.current.is_none() && self.rotated_away(&state).await;
        if !state.degraded {
            self.write(&mut state).await?;
        }
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
        Ok(Finished {
            cookie,
            vary: true,
            headers: self.device_headers(&state),
        })
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
        if !state.maybe_rotated_away {
            return false;
        }
        let [candidate] = self.shared.candidates.as_slice() else {
            return false;
        };
        if let Some(live) = state.handle_live {
            return live;
        }
        matches!(
            self.store()
                .load_handle(&candidate.handle, self.now())
                .await,
            Ok(Some(_))
        )
    }
}
