//! Security events (SR-45): emitted as `tracing` events under the target
//! `hallpass::event` and passed to the application's hook, if any.
//!
//! Events never carry a token or store key, only a [`SessionRef`]: a short hash that
//! lets log lines about one token be correlated (SR-44, AT-30).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::principal::Principal;
use crate::record::Expiry;
use crate::token::{Handle, StoreKey};

/// A 12-character reference to one token, for logs: the first 9 bytes of
/// `SHA-256("hallpass/ref" | store key)`, base64url. It cannot be turned back into
/// the token or the store key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionRef([u8; 9]);

impl SessionRef {
    pub(crate) fn of(key: &StoreKey) -> Self {
        let digest = Sha256::new_with_prefix(b"hallpass/ref")
            .chain_update(key.hash())
            .finalize();
        let mut out = [0u8; 9];
        out.copy_from_slice(&digest[..9]);
        Self(out)
    }
}

impl fmt::Display for SessionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for SessionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionRef({self})")
    }
}

/// Why a session got a new token.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationReason {
    /// `login` (SR-14).
    Login,
    /// An explicit `rotate` call (a privilege change, SR-15).
    Requested,
    /// The client binding policy demanded a fresh login.
    BindingMismatch,
    /// The rotation interval passed (SR-17,
    /// [`SessionConfig::with_rotation_interval`](crate::SessionConfig::with_rotation_interval)).
    Periodic,
}

/// Why a presented session cookie was not accepted.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidReason {
    /// Wrong length or alphabet.
    Malformed,
    /// Unknown format version.
    UnknownVersion,
    /// The signature did not verify (forged, tampered, moved or retired key).
    BadSignature,
    /// Signed correctly, but no such session exists (logged out, revoked, purged).
    UnknownSession,
    /// The stored record's handle differs from the cookie's.
    HandleMismatch,
}

/// Who ended a session that was revoked.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokedBy {
    /// The session's own user, from another session (e.g. "log out everywhere").
    User,
    /// The per-principal session cap evicted the oldest session (SR-29).
    SessionCap,
    /// The client binding policy terminated the session.
    BindingMismatch,
    /// A replaced token came back after its grace window
    /// ([`ReplayPolicy`](crate::config::ReplayPolicy), SR-17).
    TokenReplay,
    /// [`Session::revoke_by_label`](crate::Session::revoke_by_label): a federated
    /// logout, or an operator.
    Label,
}

/// A security-relevant event in a session's life.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A new session was stored.
    Created {
        /// The new session's token reference.
        session: SessionRef,
        /// Its handle.
        handle: Handle,
    },
    /// A session got a new token; the old one is dead.
    Rotated {
        /// The old token's reference.
        from: SessionRef,
        /// The new token's reference.
        to: SessionRef,
        /// Why.
        reason: RotationReason,
    },
    /// A principal logged in.
    Authenticated {
        /// The session's (new) token reference.
        session: SessionRef,
        /// Who.
        principal: Principal,
    },
    /// A session was found past a deadline and ended.
    Expired {
        /// The token reference.
        session: SessionRef,
        /// Which clock ran out.
        reason: Expiry,
    },
    /// A session was ended by `logout`.
    LoggedOut {
        /// The token reference.
        session: SessionRef,
        /// Who was logged in, if anyone.
        principal: Option<Principal>,
    },
    /// Sessions were ended from elsewhere.
    Revoked {
        /// The handle of the revoked session, when one session was revoked.
        handle: Option<Handle>,
        /// The principal whose sessions were revoked.
        principal: Option<Principal>,
        /// How many sessions.
        count: u64,
        /// Who did it.
        by: RevokedBy,
    },
    /// A cookie named like the session cookie was not accepted (SR-46).
    InvalidToken {
        /// Why.
        reason: InvalidReason,
        /// The client's IP, when known.
        ip: Option<IpAddr>,
    },
    /// More than one distinct session cookie value arrived (SR-33, AT-08).
    DuplicateCookie {
        /// How many distinct values (capped at the parser's limit + 1).
        values: usize,
        /// How many of them were live sessions.
        live: usize,
        /// The client's IP, when known.
        ip: Option<IpAddr>,
    },
    /// A request did not match the client the session is bound to (SR-46).
    BindingMismatch {
        /// The token reference.
        session: SessionRef,
        /// Whether the IP prefix differed.
        ip_changed: bool,
        /// Whether the User-Agent differed.
        user_agent_changed: bool,
    },
    /// A token that a periodic rotation replaced was presented after its grace
    /// window: a copy of the cookie is in use elsewhere (SR-17). What follows is
    /// the [`ReplayPolicy`](crate::config::ReplayPolicy)'s (a `Revoked` event when
    /// it ends sessions).
    TokenReplayed {
        /// The replayed token's reference.
        session: SessionRef,
        /// The session's handle.
        handle: Handle,
        /// Its principal, if logged in.
        principal: Option<Principal>,
        /// The client that sent the replay, when known.
        ip: Option<IpAddr>,
    },
    /// A write was dropped because the session had ended concurrently (AT-24).
    WriteDiscarded {
        /// The token reference.
        session: SessionRef,
    },
    /// A browser bound the session to a device key (DBSC registration).
    DeviceRegistered {
        /// The token reference.
        session: SessionRef,
        /// The session's handle.
        handle: Handle,
    },
    /// A bound session's bound cookie was renewed with a fresh proof.
    DeviceRefreshed {
        /// The token reference.
        session: SessionRef,
        /// The binding's epoch after the refresh.
        epoch: u64,
    },
    /// A registration or refresh was refused: nothing was minted.
    DeviceProofFailed {
        /// The token reference, when the request named a session.
        session: Option<SessionRef>,
        /// Why.
        reason: DeviceFailure,
        /// The client's IP, when known.
        ip: Option<IpAddr>,
    },
    /// A request of a bound session came without a valid bound cookie: it was
    /// treated as having no session (a copied session cookie, or a browser that
    /// skipped its refresh).
    DeviceProofMissing {
        /// The token reference.
        session: SessionRef,
        /// The client's IP, when known.
        ip: Option<IpAddr>,
    },
    /// The browser said it skipped a refresh (`Secure-Session-Skipped`).
    DeviceRefreshSkipped {
        /// The browser's reason (`unreachable`, `server_error`, `quota_exceeded`, …).
        reason: String,
        /// The client's IP, when known.
        ip: Option<IpAddr>,
    },
}

/// Why a device-binding registration or refresh was refused.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceFailure {
    /// The proof is missing or does not verify (format, algorithm, key, signature,
    /// a refresh proof carrying a key).
    Proof,
    /// The proof answers a challenge that was not issued for this session, is
    /// stale, or is for the other endpoint.
    Challenge,
    /// The proof's challenge was already spent by another refresh.
    Spent,
    /// A registration of a session that is already bound.
    AlreadyBound,
    /// The request's session cookie names no live session.
    NoSession,
    /// `Secure-Session-Response` longer than the bound: refused unparsed.
    TooLarge,
}

impl DeviceFailure {
    /// A stable snake_case name (the metrics label).
    ///
    /// ```
    /// assert_eq!(hallpass::events::DeviceFailure::Spent.as_str(), "spent");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proof => "proof",
            Self::Challenge => "challenge",
            Self::Spent => "spent",
            Self::AlreadyBound => "already_bound",
            Self::NoSession => "no_session",
            Self::TooLarge => "too_large",
        }
    }
}

impl Event {
    /// A stable snake_case name for the event.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Created { .. } => "created",
            Self::Rotated { .. } => "rotated",
            Self::Authenticated { .. } => "authenticated",
            Self::Expired { .. } => "expired",
            Self::LoggedOut { .. } => "logged_out",
            Self::Revoked { .. } => "revoked",
            Self::InvalidToken { .. } => "invalid_token",
            Self::DuplicateCookie { .. } => "duplicate_cookie",
            Self::BindingMismatch { .. } => "binding_mismatch",
            Self::WriteDiscarded { .. } => "write_discarded",
            Self::TokenReplayed { .. } => "token_replayed",
            Self::DeviceRegistered { .. } => "device_registered",
            Self::DeviceRefreshed { .. } => "device_refreshed",
            Self::DeviceProofFailed { .. } => "device_proof_failed",
            Self::DeviceProofMissing { .. } => "device_proof_missing",
            Self::DeviceRefreshSkipped { .. } => "device_refresh_skipped",
        }
    }
}

/// The application's event hook.
pub(crate) type EventHook = Arc<dyn Fn(&Event) + Send + Sync>;
