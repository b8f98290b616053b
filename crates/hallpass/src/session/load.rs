//! Loading: the candidates are looked up once per request, expired and unknown ones
//! are cleared, a single live one is adopted, and the client binding is checked.

use std::sync::Arc;

use crate::config::{BindingPolicy, LoadFailure};
use crate::delta::{Delta, PrincipalChange};
use crate::error::SessionError;
use crate::events::{Event, InvalidReason, RevokedBy, RotationReason, SessionRef};
use crate::record::Record;
use crate::store::Loaded;
use crate::time::Timestamp;

use super::rotation::Replaced;
use super::{Candidate, Current, Session, State};

impl Session {
    pub(super) fn load_error(
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

    pub(super) fn adopt(
        &self,
        state: &mut State,
        candidate: &Candidate,
        record: Arc<Record>,
        now: Timestamp,
    ) {
        self.adopt_under(state, candidate, candidate.key, record, false, now);
    }

    /// Adopts `record` for `candidate`, stored under `key`; `graced`: the
    /// candidate's token is the one a periodic rotation replaced (SR-17), `key` the
    /// current one.
    fn adopt_under(
        &self,
        state: &mut State,
        candidate: &Candidate,
        key: crate::token::StoreKey,
        record: Arc<Record>,
        graced: bool,
        now: Timestamp,
    ) {
        let needs_touch = now
            >= record
                .last_seen_at
                .saturating_add(self.config().touch_interval());
        state.current = Some(Current {
            token: candidate.token.clone(),
            key,
            record,
            stored: true,
            pending: Delta::default(),
            needs_touch,
            issue_cookie: !candidate.by_primary && !graced,
            graced,
        });
    }

    /// A store call made without loading found no live session under the cookie.
    pub(super) fn unknown_session(&self, state: &mut State) {
        self.emit(|| Event::InvalidToken {
            reason: InvalidReason::UnknownSession,
            ip: self.shared.ip,
        });
        state.delete_cookie = true;
        state.maybe_rotated_away = true;
    }

    /// A store call made without loading failed: a refused delta is the caller's
    /// error; anything else is a failed load ([`LoadFailure`] decides).
    pub(super) fn unloaded_failure(
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
    /// loaded yet, no binding to check, no periodic rotation (due by the record's
    /// clock, SR-17). The store's own guard then checks that the
    /// session is live, in the same round trip as the write.
    pub(super) fn fast_path(&self, state: &State) -> bool {
        !state.loaded
            && state.load_failed.is_none()
            && self.config().binding.policy == BindingPolicy::Off
            && self.config().device.is_none()
            && self.shared.candidates.len() == 1
            && self.config().rotation_interval.is_none()
    }

    /// Loads the session named by the cookie, once.
    pub(super) async fn ensure_loaded(&self, state: &mut State) -> Result<(), SessionError> {
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
        // At most one is live in a request that uses its session (SR-33): inline.
        let mut live: smallvec::SmallVec<[(usize, Arc<Record>); 1]> = smallvec::SmallVec::new();
        let mut graced = None;
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
                    Some(reason) => Box::pin(self.expire(state, candidate, reason)).await,
                    None => live.push((index, record)),
                },
                Loaded::Expired(reason) => Box::pin(self.expire(state, candidate, reason)).await,
                Loaded::Missing => {
                    // A duplicate is never graced: its values are never written to.
                    let replaced = if self.shared.duplicated {
                        Replaced::Unknown { live: None }
                    } else {
                        match Box::pin(self.replaced(&candidate.handle, &candidate.key, now)).await
                        {
                            Ok(replaced) => replaced,
                            Err(err) => return self.load_error(state, err),
                        }
                    };
                    match replaced {
                        Replaced::Graced(key, record) => graced = Some((index, key, record)),
                        Replaced::Replayed(record) => {
                            Box::pin(self.replayed(&candidate.key, &record)).await?;
                            state.delete_cookie = true;
                        }
                        Replaced::Unknown { live } => {
                            self.emit(|| Event::InvalidToken {
                                reason: InvalidReason::UnknownSession,
                                ip: self.shared.ip,
                            });
                            if !self.shared.duplicated {
                                state.delete_cookie = true;
                                state.maybe_rotated_away = true;
                                state.handle_live = live;
                            }
                        }
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
        if let Some((index, key, record)) = graced {
            // One candidate (a duplicate never gets here): its replaced token, graced.
            self.adopt_under(state, &candidates[index], key, record, true, now);
            self.check_device(state, now);
            return self.check_binding(state, now).await;
        }
        // SR-33: with several values, a session is used only if exactly one is live;
        // the others are never written to.
        if let [(index, _)] = live.as_slice() {
            let index = *index;
            let Some((_, record)) = live.pop() else {
                return Ok(());
            };
            self.adopt(state, &candidates[index], record, now);
            self.check_device(state, now);
            self.check_binding(state, now).await?;
        }
        Ok(())
    }

    /// SR-23: an expired session's record is deleted and its cookie cleared.
    pub(super) async fn expire(
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
    pub(super) async fn check_binding(
        &self,
        state: &mut State,
        now: Timestamp,
    ) -> Result<(), SessionError> {
        if self.config().binding.policy == BindingPolicy::Off {
            return Ok(());
        }
        // Boxed: what a mismatch may do (a rotation, a deletion) is a large future
        // that every load would otherwise carry, binding or not.
        Box::pin(self.check_configured_binding(state, now)).await
    }

    async fn check_configured_binding(
        &self,
        state: &mut State,
        now: Timestamp,
    ) -> Result<(), SessionError> {
        let binding = self.config().binding;
        let Some(current) = state.current.as_ref() else {
            return Ok(());
        };
        if current.record.principal.is_none() {
            return Ok(());
        }
        let recorded = &current.record.client;
        let request = &self.client();
        let ip_changed = match (recorded.ip(), request.ip()) {
            (Some(a), Some(b)) => !same_prefix(a, b, binding.ipv4_prefix, binding.ipv6_prefix),
            _ => false,
        };
        let user_agent_changed =
            binding.user_agent && recorded.user_agent() != request.user_agent();
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
