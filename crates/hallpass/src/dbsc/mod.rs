//! Device Bound Session Credentials (DBSC): a stolen session cookie stops working
//! within minutes, because the cookie that authenticates requests is short-lived and
//! renewed only with a fresh proof from a key the browser cannot export (AT-34).
//!
//! Opt-in, with the crate feature `device-binding` and
//! [`SessionConfig::with_device_binding`](crate::SessionConfig::with_device_binding):
//!
//! 1. After a login (and on any response that calls
//!    [`Session::offer_device_binding`](crate::Session::offer_device_binding)) the
//!    response carries `Secure-Session-Registration`: the algorithms (ES256, RS256), a
//!    fresh challenge good for this session only, and the registration path.
//! 2. A browser that supports DBSC makes a key pair and POSTs a signed proof to the
//!    registration path. The engine verifies it (`hallpass-dbsc`), and in one store
//!    step binds the session to the public key ([`DeviceChange`](crate::store::DeviceChange)).
//!    The answer is the session instructions and a short-lived *bound cookie*.
//! 3. From then on a request of that session is authenticated only with a valid
//!    bound cookie of the binding's current epoch; without one the request is
//!    treated as having no session (the stored session is neither used nor ended).
//! 4. When the bound cookie runs out the browser POSTs to the refresh path, gets a
//!    403 with a challenge, signs it, and gets a new bound cookie — each refresh one
//!    store step that spends the challenge.
//!
//! A browser without DBSC ignores the header and its session works as before. The
//! two endpoints are routes of your application, at the paths the configuration
//! names: [`register`] and [`refresh`] for axum, `hallpass_actix::dbsc` for
//! actix-web, and [`Session::register_device`](crate::Session::register_device) /
//! [`Session::refresh_device`](crate::Session::refresh_device) for any other
//! framework.
//! `docs/DEVICE-BOUND-SESSIONS.md` says what this protects against and what not.

#[cfg_attr(
    not(feature = "device-binding"),
    allow(
        dead_code,
        reason = "minted only by the endpoints of the feature; read and tested always"
    )
)]
pub(crate) mod tokens;

#[cfg(feature = "device-binding")]
mod config;
#[cfg(feature = "device-binding")]
mod endpoints;

#[cfg(all(feature = "device-binding", feature = "axum"))]
pub use crate::extract::{refresh, register};
#[cfg(feature = "device-binding")]
pub use config::DeviceBinding;
#[cfg(feature = "device-binding")]
pub use endpoints::DeviceResponse;
#[cfg(feature = "device-binding")]
pub use hallpass_dbsc::Algorithm;

#[cfg(not(feature = "device-binding"))]
use http::HeaderMap;
use http::HeaderValue;

#[cfg(not(feature = "device-binding"))]
use crate::keyring::Keyring;
use crate::time::Timestamp;
use crate::token::Handle;

/// The `Clear-Site-Data` value a logout of a device-bound deployment sends: it ends
/// the browser's DBSC session with the cookies.
pub(crate) const CLEAR_COOKIES: HeaderValue = HeaderValue::from_static("\"cookies\"");

/// Without the feature there is no device binding: the configuration's slot for one
/// is always `None`, and this type has no values.
#[cfg(not(feature = "device-binding"))]
#[derive(Clone, Debug)]
pub(crate) enum DeviceBinding {}

#[cfg(not(feature = "device-binding"))]
impl DeviceBinding {
    pub(crate) fn read_bound(
        &self,
        _: &HeaderMap,
        _: &Keyring,
        _: &[Handle],
    ) -> Option<(Handle, tokens::BoundCookie)> {
        match *self {}
    }

    pub(crate) fn offer(&self, _: &Keyring, _: &Handle, _: Timestamp) -> Option<HeaderValue> {
        match *self {}
    }

    pub(crate) fn skipped(&self, _: &HeaderMap) -> Option<String> {
        match *self {}
    }
}

/// Whether `bound` (the request's verified bound cookie) proves a request of the
/// session `handle`, bound at `epoch`, at `now`.
pub(crate) fn proves(
    bound: Option<&(Handle, tokens::BoundCookie)>,
    handle: &Handle,
    epoch: u64,
    now: Timestamp,
) -> bool {
    bound.is_some_and(|(for_handle, cookie)| {
        for_handle == handle && cookie.epoch == epoch && cookie.expires_at > now
    })
}
