//! Periodic rotation with theft detection (SR-17): the token is replaced every
//! rotation interval of use, the replaced one works for a grace window, and a
//! replaced token that comes back after it is a replay of a stolen copy.
//!
//! The stores know nothing of the grace: a replaced token is never a store key.
//! The record remembers the replaced token's hash ([`Rotation`]); a request whose
//! token the store does not know asks for the session by its handle (one extra call,
//! only on such a miss), and if the token is the replaced one within the window it
//! works on the session under the current key, without a `Set-Cookie` (the browser
//! already holds the newer cookie). So a rotation stays one atomic store step, and
//! two app servers rotating one session at once leave one winner: the loser's
//! request finds its token replaced a moment ago and applies its changes under the
//! winner's key.

use std::sync::Arc;

use subtle::ConstantTimeEq as _;

use crate::config::ReplayPolicy;
use crate::delta::Delta;
use crate::error::SessionError;
use crate::events::{Event, RevokedBy, RotationReason, SessionRef};
use crate::record::{Record, Rotation};
use crate::store::StoreKey;
use crate::time::Timestamp;
use crate::token::Handle;

use super::{Session, State};

/// What the live session with a presented token's handle makes of that token.
pub(super) enum Replaced {
    /// The token is the one the last periodic rotation replaced, inside the grace
    /// window: the session's current key and record.
    Graced(StoreKey, Arc<Record>),
    /// The token is the replaced one, after the window: a copy is in use.
    Replayed(Arc<Record>),
    /// Neither. `live`: whether a session with the handle lives (another token
    /// opens it), when the lookup was made (`None`: rotation off, no lookup).
    Unknown {
        /// A session with the handle lives.
        live: Option<bool>,
    },
}

impl Session {
    /// Whether the session's token is due a periodic rotation at `now`.
    pub(super) fn rotation_due(&self, record: &Record, now: Timestamp) -> bool {
        self.config()
            .rotation_interval
            .is_some_and(|interval| now >= record.token_issued_at().saturating_add(interval))
    }

    /// The rotation a rotation other than a periodic one records: it replaces no
    /// token that could still work, and it resets the interval. `None` when neither
    /// matters (rotation off, and the record never rotated periodically).
    pub(super) fn plain_rotation(&self, record: &Record, now: Timestamp) -> Option<Rotation> {
        (self.config().rotation_interval.is_some() || record.rotated.is_some())
            .then(|| Rotation::new(now, None))
    }

    /// Looks the session of `handle` up and compares its replaced token with `key`'s.
    pub(super) async fn replaced(
        &self,
        handle: &Handle,
        key: &StoreKey,
        now: Timestamp,
    ) -> Result<Replaced, crate::store::StoreError> {
        if self.config().rotation_interval.is_none() {
            return Ok(Replaced::Unknown { live: None });
        }
        let Some((current, record)) = self.store().load_handle(handle, now).await? else {
            return Ok(Replaced::Unknown { live: Some(false) });
        };
        let rotation = record.rotated.as_deref().copied();
        let Some(rotation) = rotation.filter(|r| {
            r.replaced
                .is_some_and(|replaced| bool::from(replaced.ct_eq(key.hash())))
        }) else {
            return Ok(Replaced::Unknown { live: Some(true) });
        };
        let record = Arc::new(record);
        if now < rotation.at.saturating_add(self.config().rotation_grace) {
            Ok(Replaced::Graced(current, record))
        } else {
            Ok(Replaced::Replayed(record))
        }
    }

    /// A replaced token came back after its grace window: the event, then what the
    /// [`ReplayPolicy`] says.
    pub(super) async fn replayed(
        &self,
        key: &StoreKey,
        record: &Record,
    ) -> Result<(), SessionError> {
        self.emit(|| Event::TokenReplayed {
            session: SessionRef::of(key),
            handle: record.handle,
            principal: record.principal.clone(),
            ip: self.shared.ip,
        });
        let (principal, count) = match (self.config().on_replay, &record.principal) {
            (ReplayPolicy::Log, _) => return Ok(()),
            (ReplayPolicy::EndAllOfPrincipal, Some(principal)) => {
                let count = self
                    .store()
                    .revoke_principal(principal, None)
                    .await
                    .map_err(SessionError::from_store)?;
                (Some(principal.clone()), count)
            }
            _ => {
                let ended = self
                    .store()
                    .revoke(&record.handle)
                    .await
                    .map_err(SessionError::from_store)?;
                (record.principal.clone(), u64::from(ended))
            }
        };
        self.emit(|| Event::Revoked {
            handle: Some(record.handle),
            principal,
            count,
            by: RevokedBy::TokenReplay,
        });
        Ok(())
    }

    /// The commit's write when a periodic rotation is due: the request's changes,
    /// the touch and the new token in one store step. A request that loses the race
    /// to another rotation of the same token applies its changes under the winner's
    /// key instead.
    pub(super) async fn rotate_periodically(
        &self,
        state: &mut State,
        mut delta: Delta,
        now: Timestamp,
    ) -> Result<(), SessionError> {
        let Some(current) = state.current.as_ref() else {
            return Ok(());
        };
        delta.touch = Some(self.touch_at(now));
        delta.rotated = Some(Rotation::new(now, Some(*current.key.hash())));
        self.rotate_with(state, delta, RotationReason::Periodic, now)
            .await
    }

    /// A periodic rotation found its token gone: if a concurrent request rotated it a
    /// moment ago, this request's changes go to the session under its new key.
    pub(super) async fn apply_after_lost_rotation(
        &self,
        state: &mut State,
        mut delta: Delta,
        now: Timestamp,
    ) -> Result<(), SessionError> {
        if !Box::pin(self.follow_rotation(state, now)).await? {
            self.ended_meanwhile(state);
            return Ok(());
        }
        delta.rotated = None;
        let Some(current) = state.current.as_mut() else {
            return Ok(());
        };
        match self
            .store()
            .apply(&current.key, &delta, now)
            .await
            .map_err(SessionError::from_store)?
        {
            crate::store::Applied::Updated(record) => current.record = record,
            crate::store::Applied::Gone => self.ended_meanwhile(state),
        }
        Ok(())
    }

    /// A store call found the current token gone: if a concurrent request replaced
    /// it by a periodic rotation a moment ago (inside the grace window), the request
    /// goes on under the new key (graced: its response sets no cookie) and the call
    /// is made again. `false`: the session ended.
    pub(super) async fn follow_rotation(
        &self,
        state: &mut State,
        now: Timestamp,
    ) -> Result<bool, SessionError> {
        let Some(current) = state.current.as_ref() else {
            return Ok(false);
        };
        let replaced = self
            .replaced(&current.record.handle, &current.key, now)
            .await
            .map_err(SessionError::from_store)?;
        let Replaced::Graced(key, _) = replaced else {
            return Ok(false);
        };
        if let Some(current) = state.current.as_mut() {
            current.key = key;
            current.graced = true;
            current.issue_cookie = false;
        }
        Ok(true)
    }
}
