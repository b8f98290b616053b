//! The demo's router: the JSON API and the HTML pages, behind the session layer and
//! the security layers.
//!
//! Layers, outermost first: the request log; the security headers (so even a 403 or
//! a 431 carries them); the same-origin guard (a refused request never reaches a
//! session); a 16 KiB body limit; hallpass's [`SessionLayer`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use hallpass::config::CapPolicy;
use hallpass::dbsc::DeviceBinding;
use hallpass::store::SessionStore;
use hallpass::time::{Clock, SystemClock};
use hallpass::{ConfigError, Keyring, SessionConfig, SessionLayer};
use ipnet::IpNet;

use crate::state::AppState;
use crate::users::Users;

/// The largest request body the demo reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How the demo's sessions and security layers behave.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// Idle timeout (default 30 minutes).
    pub idle_timeout: Duration,
    /// Absolute timeout (default 12 hours).
    pub absolute_timeout: Duration,
    /// How old a login may be before "log out everywhere else" asks for the
    /// password again (default 5 minutes, SR-30).
    pub reauthenticate_after: Duration,
    /// Re-issue the session token this often (default 15 minutes, SR-17); `None`:
    /// never. The replaced token works for 5 seconds (at most half the interval),
    /// and after that ends the session as a stolen copy.
    pub rotate_every: Option<Duration>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Per-user session cap; the oldest session is logged out to make room.
    pub max_sessions_per_user: Option<usize>,
    /// Served over TLS: adds `Strict-Transport-Security`, expects `https` origins.
    pub tls: bool,
    /// `--dangerous-plain-http` on a non-loopback address: the cookie loses `Secure`
    /// (and so its `__Host-` name).
    pub insecure_cookie: bool,
    /// OpenID Connect back-channel logout (`POST /backchannel-logout`), when a key
    /// is given (see [`crate::backchannel`]).
    pub backchannel: Option<crate::backchannel::BackchannelLogout>,
    /// Device binding (DBSC) for pages served at this origin (`https://host:port`,
    /// or `http://` on loopback); `None`: off. The CLI turns it on for TLS and for
    /// loopback.
    pub device_binding_origin: Option<String>,
    /// The clock (tests inject a [`hallpass::time::ManualClock`]).
    pub clock: Arc<dyn Clock>,
}

pub use crate::device::{DEVICE_REFRESH, DEVICE_REGISTRATION};

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            reauthenticate_after: Duration::from_secs(5 * 60),
            rotate_every: Some(Duration::from_secs(15 * 60)),
            trusted_proxies: Vec::new(),
            max_sessions_per_user: None,
            tls: false,
            insecure_cookie: false,
            backchannel: None,
            device_binding_origin: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl AppOptions {
    /// The session configuration these options give.
    #[must_use]
    pub fn session_config(&self, keyring: Keyring) -> SessionConfig {
        let mut config = SessionConfig::new(keyring)
            .with_idle_timeout(self.idle_timeout)
            .with_absolute_timeout(self.absolute_timeout)
            .with_trusted_proxies(self.trusted_proxies.iter().copied())
            .with_clock(Arc::clone(&self.clock));
        if let Some(every) = self.rotate_every {
            config = config
                .with_rotation_interval(every)
                .with_rotation_grace(Duration::from_secs(5).min(every / 2));
        }
        if let Some(max) = self.max_sessions_per_user {
            config = config.with_max_sessions_per_principal(max, CapPolicy::EvictOldest);
        }
        if self.insecure_cookie {
            config = config
                .with_cookie_name("hallpass-demo-id")
                .dangerous_insecure_cookie();
        }
        if let Some(origin) = &self.device_binding_origin {
            let mut binding = DeviceBinding::after_login(origin.clone())
                .with_paths(DEVICE_REGISTRATION, DEVICE_REFRESH);
            if self.insecure_cookie {
                binding = binding.with_cookie_name("hallpass-demo-bound");
            }
            config = config.with_device_binding(binding);
        }
        config
    }
}

/// Builds the whole application. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so sessions record the
/// client's IP.
///
/// # Errors
///
/// [`ConfigError`] when the options make an unsafe or inconsistent session
/// configuration (for example an idle timeout longer than the absolute one).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use hallpass::{Key, Keyring, MemoryStore};
/// use hallpass_demo::app::{AppOptions, router};
/// use hallpass_demo::users::Users;
///
/// let users = Arc::new(Users::new(&["alice:correct horse".parse()?])?);
/// let app = router(Arc::new(MemoryStore::new()), Keyring::new(Key::generate()), users, &AppOptions::default())?;
/// # let _: axum::Router = app;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn router(
    store: Arc<dyn SessionStore>,
    keyring: Keyring,
    users: Arc<Users>,
    options: &AppOptions,
) -> Result<Router, ConfigError> {
    let sessions = SessionLayer::new(store, options.session_config(keyring))?;
    let state = AppState {
        users,
        slots: Arc::new(crate::account::HashingSlots::for_this_machine()),
        clock: Arc::clone(&options.clock),
        reauthenticate_after: options.reauthenticate_after,
        tls: options.tls,
        backchannel: options.backchannel.clone().map(Arc::new),
        behind_proxy: !options.trusted_proxies.is_empty(),
    };
    Ok(crate::api::routes()
        .merge(crate::pages::routes())
        .route(
            "/backchannel-logout",
            axum::routing::post(crate::api::backchannel_logout),
        )
        .fallback(crate::pages::not_found)
        .layer(sessions)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::security::same_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::security::headers,
        ))
        .layer(axum::middleware::from_fn(crate::security::log))
        .with_state(state))
}
