//! A session's device binding (DBSC): the public key a browser proved it holds, kept
//! on the record so that every store changes it atomically with the session.
//!
//! [`DeviceChange`] says what a store does with it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// The device key a session is bound to.
///
/// # Examples
///
/// ```
/// use hallpass::store::BoundDevice;
/// use hallpass::time::Timestamp;
///
/// // The key as the device sent it (its RFC 7638 members) and its thumbprint; the
/// // engine computes both from a verified proof.
/// let binding = BoundDevice::new(r#"{"crv":"P-256","kty":"EC","x":"…","y":"…"}"#, "thumbprint", Timestamp::from_unix_millis(1_000));
/// assert_eq!(binding.epoch, 0);
/// assert_eq!(binding.refreshed_at, binding.registered_at);
/// ```
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundDevice {
    /// The public key as a JWK: the JSON text of its RFC 7638 members only (no
    /// private part can be stored).
    pub key: Box<str>,
    /// The key's RFC 7638 SHA-256 thumbprint, base64url without padding.
    pub thumbprint: Box<str>,
    /// How many times the binding was refreshed. A challenge and a bound cookie name
    /// the epoch they were issued at; a refresh moves it on, which spends every
    /// challenge and bound cookie of the epoch before.
    pub epoch: u64,
    /// When the browser registered the key.
    pub registered_at: Timestamp,
    /// When the binding was last refreshed (at first, when it was registered).
    pub refreshed_at: Timestamp,
}

impl BoundDevice {
    /// A new binding to the key `key` (JWK text) with thumbprint `thumbprint`,
    /// registered at `at`, at epoch 0.
    #[must_use]
    pub fn new(key: impl Into<Box<str>>, thumbprint: impl Into<Box<str>>, at: Timestamp) -> Self {
        Self {
            key: key.into(),
            thumbprint: thumbprint.into(),
            epoch: 0,
            registered_at: at,
            refreshed_at: at,
        }
    }
}

impl fmt::Debug for BoundDevice {
    /// The thumbprint names the key; the key itself is public but long.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundDevice")
            .field("thumbprint", &self.thumbprint)
            .field("epoch", &self.epoch)
            .field("registered_at", &self.registered_at)
            .field("refreshed_at", &self.refreshed_at)
            .finish_non_exhaustive()
    }
}

/// A change to a session's [`BoundDevice`], checked and applied by the store in the same
/// atomic step as the rest of the delta.
///
/// A `DeviceChange` rides in a
/// [`Delta`](crate::store::Delta) and is checked against the record as the store holds
/// it when it applies the delta:
///
/// | change | holds when | then |
/// |---|---|---|
/// | [`Register`](DeviceChange::Register) | the session is not bound | the binding is stored, epoch 0 |
/// | [`Refresh`](DeviceChange::Refresh) | the session is bound to the key with that thumbprint, at that epoch | the epoch moves on by one |
/// | [`End`](DeviceChange::End) | always | the binding is gone |
///
/// When the check fails the whole delta changes nothing and the store answers
/// [`DeltaError::Device`](crate::store::DeltaError) (so a second registration, a
/// refresh with a spent challenge and a refresh racing another refresh mint nothing),
/// and a delta that reaches a session that is gone is [`Applied::Gone`](crate::store::Applied)
/// as always (so a refresh racing a revoke mints nothing). A principal change (login
/// or logout) ends the binding in the same step: a device proves a browser, not a
/// user, and a new login starts unbound.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceChange {
    /// Binds an unbound session.
    Register(BoundDevice),
    /// Moves the binding of the key `thumbprint` on from `epoch` to `epoch + 1`.
    Refresh {
        /// The thumbprint of the key whose proof was verified.
        thumbprint: Box<str>,
        /// The epoch the proof's challenge was issued at.
        epoch: u64,
        /// The time of the refresh.
        at: Timestamp,
    },
    /// Ends the binding, if there is one.
    End,
}

/// Why a [`DeviceChange`] did not hold (the store changed nothing).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceConflict {
    /// A registration met a session that is already bound.
    AlreadyBound,
    /// A refresh met a session that is not bound.
    NotBound,
    /// A refresh met a session bound to another key.
    OtherKey,
    /// A refresh named an epoch the binding is no longer at: its challenge was
    /// spent by another refresh.
    StaleEpoch,
}

impl DeviceConflict {
    /// A short name for logs and store replies: `bound`, `unbound`, `key` or `epoch`.
    ///
    /// ```
    /// assert_eq!(hallpass::store::DeviceConflict::StaleEpoch.as_str(), "epoch");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlreadyBound => "bound",
            Self::NotBound => "unbound",
            Self::OtherKey => "key",
            Self::StaleEpoch => "epoch",
        }
    }

    /// Parses what [`as_str`](Self::as_str) gives.
    ///
    /// ```
    /// use hallpass::store::DeviceConflict;
    /// assert_eq!(DeviceConflict::from_name("epoch"), Some(DeviceConflict::StaleEpoch));
    /// assert_eq!(DeviceConflict::from_name("other"), None);
    /// ```
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::AlreadyBound,
            Self::NotBound,
            Self::OtherKey,
            Self::StaleEpoch,
        ]
        .into_iter()
        .find(|conflict| conflict.as_str() == name)
    }
}

impl fmt::Display for DeviceConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AlreadyBound => "the session is already bound to a device key",
            Self::NotBound => "the session is not bound to a device key",
            Self::OtherKey => "the session is bound to another device key",
            Self::StaleEpoch => "the binding has moved past the proof's epoch",
        })
    }
}

impl DeviceChange {
    /// Whether the change holds for a record bound as `current` says.
    ///
    /// # Errors
    ///
    /// The [`DeviceConflict`] that stops it.
    ///
    /// ```
    /// use hallpass::store::{BoundDevice, DeviceChange, DeviceConflict};
    /// use hallpass::time::Timestamp;
    ///
    /// let t = Timestamp::from_unix_millis(0);
    /// let bound = BoundDevice::new("{}", "thumb", t);
    /// let refresh = DeviceChange::Refresh { thumbprint: "thumb".into(), epoch: 0, at: t };
    /// assert_eq!(refresh.check(Some(&bound)), Ok(()));
    /// assert_eq!(refresh.check(None), Err(DeviceConflict::NotBound));
    /// assert_eq!(DeviceChange::Register(bound.clone()).check(Some(&bound)), Err(DeviceConflict::AlreadyBound));
    /// ```
    pub fn check(&self, current: Option<&BoundDevice>) -> Result<(), DeviceConflict> {
        match (self, current) {
            (Self::Register(_), Some(_)) => Err(DeviceConflict::AlreadyBound),
            (Self::Refresh { .. }, None) => Err(DeviceConflict::NotBound),
            (Self::Refresh { thumbprint, .. }, Some(bound)) if bound.thumbprint != *thumbprint => {
                Err(DeviceConflict::OtherKey)
            }
            (Self::Refresh { epoch, .. }, Some(bound)) if bound.epoch != *epoch => {
                Err(DeviceConflict::StaleEpoch)
            }
            _ => Ok(()),
        }
    }

    /// Applies a change that [`check`](Self::check) let through to `binding`.
    pub(crate) fn apply_to(&self, binding: &mut Option<Box<BoundDevice>>) {
        match self {
            Self::Register(new) => *binding = Some(Box::new(new.clone())),
            Self::Refresh { at, .. } => {
                if let Some(bound) = binding {
                    bound.epoch = bound.epoch.saturating_add(1);
                    bound.refreshed_at = bound.refreshed_at.max(*at);
                }
            }
            Self::End => *binding = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(epoch: u64) -> BoundDevice {
        let mut binding = BoundDevice::new("{}", "thumb", Timestamp::from_unix_millis(5));
        binding.epoch = epoch;
        binding
    }

    fn refresh(thumbprint: &str, epoch: u64) -> DeviceChange {
        DeviceChange::Refresh {
            thumbprint: thumbprint.into(),
            epoch,
            at: Timestamp::from_unix_millis(9),
        }
    }

    #[test]
    fn a_refresh_holds_only_for_its_key_at_its_epoch() {
        assert_eq!(refresh("thumb", 3).check(Some(&bound(3))), Ok(()));
        assert_eq!(
            refresh("thumb", 2).check(Some(&bound(3))),
            Err(DeviceConflict::StaleEpoch)
        );
        assert_eq!(
            refresh("other", 3).check(Some(&bound(3))),
            Err(DeviceConflict::OtherKey)
        );
        assert_eq!(
            refresh("thumb", 0).check(None),
            Err(DeviceConflict::NotBound)
        );
    }

    #[test]
    fn a_refresh_moves_the_epoch_and_the_time_on() {
        let mut binding = Some(Box::new(bound(3)));
        refresh("thumb", 3).apply_to(&mut binding);
        let binding = binding.as_deref();
        assert_eq!(binding.map(|b| b.epoch), Some(4));
        assert_eq!(
            binding.map(|b| b.refreshed_at),
            Some(Timestamp::from_unix_millis(9))
        );
    }

    #[test]
    fn registration_holds_only_for_an_unbound_session_and_end_always() {
        let new = DeviceChange::Register(bound(0));
        assert_eq!(new.check(None), Ok(()));
        assert_eq!(
            new.check(Some(&bound(0))),
            Err(DeviceConflict::AlreadyBound)
        );
        assert_eq!(DeviceChange::End.check(None), Ok(()));
        assert_eq!(DeviceChange::End.check(Some(&bound(1))), Ok(()));
    }

    #[test]
    fn conflict_names_round_trip() {
        for conflict in [
            DeviceConflict::AlreadyBound,
            DeviceConflict::NotBound,
            DeviceConflict::OtherKey,
            DeviceConflict::StaleEpoch,
        ] {
            assert_eq!(DeviceConflict::from_name(conflict.as_str()), Some(conflict));
        }
    }
}
