//! The policies [`SessionConfig`](super::SessionConfig) takes: `SameSite`, client
//! binding, the per-principal cap and what a failed load does.

/// The `SameSite` attribute of the session cookie (SR-08). `None` is only reachable
/// through [`SessionConfig::dangerous_same_site_none`](super::SessionConfig::dangerous_same_site_none).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SameSite {
    /// Sent only on same-site requests (the default).
    #[default]
    Strict,
    /// Also sent on top-level cross-site navigations (links into the app).
    Lax,
    /// Sent on every request, cross-site included.
    None,
}

/// What to do when a request no longer matches the client a session was bound to.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BindingPolicy {
    /// No checks (the default: NAT and mobile networks change IPs all the time).
    #[default]
    Off,
    /// Emit a [`BindingMismatch`](crate::events::Event::BindingMismatch) event only.
    Log,
    /// Drop the login: the session stays, with a new token and no principal.
    RequireLogin,
    /// End the session.
    Terminate,
}

/// The seeds' "IP binding", done with care (SR-46): which client properties recorded
/// at login must match on later requests, and what a mismatch does.
///
/// # Examples
///
/// ```
/// use hallpass::config::{BindingPolicy, ClientBinding};
///
/// let binding = ClientBinding::new(BindingPolicy::RequireLogin)
///     .with_ip_prefixes(24, 64)
///     .with_user_agent(true);
/// # let _ = binding;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientBinding {
    pub(crate) policy: BindingPolicy,
    pub(crate) ipv4_prefix: Option<u8>,
    pub(crate) ipv6_prefix: Option<u8>,
    pub(crate) user_agent: bool,
}

impl Default for ClientBinding {
    fn default() -> Self {
        Self::new(BindingPolicy::Off)
    }
}

impl ClientBinding {
    /// A binding with `policy`, comparing the IP at /24 (IPv4) and /64 (IPv6) and not
    /// the User-Agent.
    #[must_use]
    pub fn new(policy: BindingPolicy) -> Self {
        Self {
            policy,
            ipv4_prefix: Some(24),
            ipv6_prefix: Some(64),
            user_agent: false,
        }
    }

    /// Compare client IPs on these prefix lengths (IPv4 at most 32, IPv6 at most 128).
    #[must_use]
    pub fn with_ip_prefixes(mut self, ipv4: u8, ipv6: u8) -> Self {
        self.ipv4_prefix = Some(ipv4);
        self.ipv6_prefix = Some(ipv6);
        self
    }

    /// Do not compare IPs.
    #[must_use]
    pub fn without_ip(mut self) -> Self {
        self.ipv4_prefix = None;
        self.ipv6_prefix = None;
        self
    }

    /// Also compare the User-Agent.
    #[must_use]
    pub fn with_user_agent(mut self, compare: bool) -> Self {
        self.user_agent = compare;
        self
    }
}

/// What `login` does when a principal already has the maximum number of sessions (SR-29).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapPolicy {
    /// Refuse the new login with [`SessionError::TooManySessions`](crate::SessionError::TooManySessions).
    RejectNew,
    /// End the least recently used sessions to make room (with a `Revoked` event).
    EvictOldest,
}

/// What a store failure while loading the session does.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LoadFailure {
    /// Answer 503 (the default: fail closed).
    #[default]
    FailClosed,
    /// Carry on as if no session had been presented; nothing is written.
    AnonymousFallback,
}

/// What a replayed token does (SR-17): a token that a periodic rotation replaced,
/// presented after its grace window. Only a copy can still send it — the browser
/// got the new token with the rotating response — so the session is taken to be
/// stolen, as OAuth's refresh-token reuse detection does. A browser that lost the
/// rotating response (the connection dropped in between) also looks like this and
/// is logged out: the price of the detection.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplayPolicy {
    /// Emit the [`TokenReplayed`](crate::events::Event::TokenReplayed) event only;
    /// the replayed token still gets nothing.
    Log,
    /// End the session (the default): the thief's copy and the user's current
    /// token both stop working, on every app server.
    #[default]
    EndSession,
    /// End every session of the session's principal (an anonymous session: just
    /// that one), as a password change does.
    EndAllOfPrincipal,
}
