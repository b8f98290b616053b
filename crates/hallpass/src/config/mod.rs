//! The configuration: [`SessionConfig`] with safe defaults, dangerous knobs with
//! dangerous names, and validation when the layer is built (SR-07…SR-11, SR-35);
//! the signing keys ([`Keyring`], [`Key`]) and the policies the builder takes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use crate::events::{Event, EventHook};
pub use crate::keyring::{Key, KeyError, Keyring, MAX_KEY_LEN, MIN_KEY_LEN};
use crate::time::{Clock, SystemClock};

mod policy;
mod validate;

pub use policy::{BindingPolicy, CapPolicy, ClientBinding, LoadFailure, ReplayPolicy, SameSite};
pub(crate) use validate::MAX_COOKIE_AGE;
pub use validate::{ConfigError, MAX_COOKIE_LEN, MAX_TIMEOUT};

/// How long a token replaced by a periodic rotation keeps working, by default.
const DEFAULT_ROTATION_GRACE: Duration = Duration::from_secs(5);

/// Everything the session layer needs to know.
///
/// Defaults: cookie `__Host-id`, `Secure`, `HttpOnly`, `SameSite=Strict`, `Path=/`,
/// no `Domain`, a browser-session cookie; idle timeout 30 minutes, absolute timeout
/// 12 hours, touch at most every idle/10; no client binding; no session cap; 64 KiB of
/// session data; 8 KiB of `Cookie` header; store down on load → 503.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hallpass::{Key, Keyring, SessionConfig};
/// use hallpass::config::SameSite;
///
/// let config = SessionConfig::new(Keyring::new(Key::generate()))
///     .with_same_site(SameSite::Lax)
///     .with_idle_timeout(Duration::from_secs(15 * 60))
///     .with_absolute_timeout(Duration::from_secs(8 * 3600));
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct SessionConfig {
    pub(crate) keyring: Keyring,
    pub(crate) cookie_name: String,
    pub(crate) secure: bool,
    pub(crate) same_site: SameSite,
    /// `SameSite=None` was asked for through the dangerous method, not `with_same_site`.
    same_site_none_confirmed: bool,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) partitioned: bool,
    pub(crate) idle_timeout: Duration,
    pub(crate) absolute_timeout: Duration,
    pub(crate) touch_interval: Option<Duration>,
    pub(crate) rotation_interval: Option<Duration>,
    pub(crate) rotation_grace: Duration,
    pub(crate) on_replay: ReplayPolicy,
    pub(crate) trusted_proxies: Vec<IpNet>,
    pub(crate) binding: ClientBinding,
    pub(crate) session_cap: Option<(usize, CapPolicy)>,
    pub(crate) max_data_bytes: usize,
    pub(crate) max_cookie_header_bytes: usize,
    pub(crate) load_failure: LoadFailure,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hook: Option<EventHook>,
    /// Device binding (DBSC), when configured.
    pub(crate) device: Option<Arc<crate::dbsc::DeviceBinding>>,
}

impl SessionConfig {
    /// The secure defaults, signing with `keyring` (a [`Keyring`], or one [`Key`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, Keyring, SessionConfig};
    ///
    /// let one_key = SessionConfig::new(Key::generate());
    /// let rotating = SessionConfig::new(Keyring::new(Key::generate()).with_verify_only(Key::generate()));
    /// # let _ = (one_key, rotating);
    /// ```
    #[must_use]
    pub fn new(keyring: impl Into<Keyring>) -> Self {
        Self {
            keyring: keyring.into(),
            cookie_name: "__Host-id".to_owned(),
            secure: true,
            same_site: SameSite::Strict,
            same_site_none_confirmed: false,
            path: "/".to_owned(),
            domain: None,
            partitioned: false,
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            touch_interval: None,
            rotation_interval: None,
            rotation_grace: DEFAULT_ROTATION_GRACE,
            on_replay: ReplayPolicy::EndSession,
            trusted_proxies: Vec::new(),
            binding: ClientBinding::default(),
            session_cap: None,
            max_data_bytes: 64 * 1024,
            max_cookie_header_bytes: 8 * 1024,
            load_failure: LoadFailure::FailClosed,
            clock: Arc::new(SystemClock),
            hook: None,
            device: None,
        }
    }

    /// Replaces the keyring (for key rotation: prepend the new key, keep the old ones).
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, Keyring, SessionConfig};
    ///
    /// let (old, new) = (Key::generate(), Key::generate());
    /// // Rotation: the new key signs, the old one still verifies until its cookies expire.
    /// let config = SessionConfig::new(old.clone()).with_keyring(Keyring::new(new).with_verify_only(old));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_keyring(mut self, keyring: Keyring) -> Self {
        self.keyring = keyring;
        self
    }

    /// The cookie's name (default `__Host-id`). A `__Host-` name demands `Secure`,
    /// `Path=/` and no `Domain`; a `__Secure-` name demands `Secure`. Browsers match
    /// these prefixes without regard to case, and so does the check.
    ///
    /// `__Host-Http-id` opts in to RFC 6265bis's `__Host-Http-` prefix: on top of the
    /// `__Host-` rules, browsers that know it (Chrome 140+, Firefox 143+) refuse a
    /// cookie of that name set from script (`document.cookie`), so injected script
    /// cannot plant a session of its choosing (session fixation, AT-02); browsers
    /// that do not know it treat it as the `__Host-` cookie it also is. (`__Http-`
    /// alone demands `Secure`, as `__Secure-` does.) Changing the name logs everyone
    /// out: the old cookie is no longer read.
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, SessionConfig, SessionLayer, MemoryStore};
    ///
    /// let config = SessionConfig::new(Key::generate()).with_cookie_name("__Host-Http-id");
    /// assert!(SessionLayer::new(MemoryStore::new(), config).is_ok());
    /// ```
    #[must_use]
    pub fn with_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// `SameSite=Strict` (default) or `Lax`. Passing [`SameSite::None`] here is
    /// rejected when the layer is built ([`ConfigError::SameSiteNoneNotConfirmed`]):
    /// use [`SessionConfig::dangerous_same_site_none`].
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, SessionConfig, SessionLayer, MemoryStore};
    /// use hallpass::config::SameSite;
    ///
    /// let lax = SessionConfig::new(Key::generate()).with_same_site(SameSite::Lax);
    /// assert!(SessionLayer::new(MemoryStore::new(), lax).is_ok());
    /// let none = SessionConfig::new(Key::generate()).with_same_site(SameSite::None);
    /// assert!(SessionLayer::new(MemoryStore::new(), none).is_err(), "needs dangerous_same_site_none");
    /// ```
    #[must_use]
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Sends the cookie on cross-site requests too.
    ///
    /// # Security
    ///
    /// Removes the browser's CSRF defence (AT-33): every state-changing route then
    /// needs its own CSRF protection. Needs `Secure` (browsers drop `None` without it).
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, SessionConfig};
    ///
    /// // Only for a cookie that must travel on cross-site requests (an embedded widget),
    /// // with CSRF protection on every state-changing route.
    /// let config = SessionConfig::new(Key::generate()).dangerous_same_site_none();
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn dangerous_same_site_none(mut self) -> Self {
        self.same_site = SameSite::None;
        self.same_site_none_confirmed = true;
        self.secure = true;
        self
    }

    /// Drops the `Secure` attribute, so the cookie also travels over plain HTTP.
    ///
    /// # Security
    ///
    /// Anyone on the network path can read and replay the session (AT-34). Browsers
    /// already accept `Secure` cookies from `http://localhost`, so local development
    /// does not need this. Requires a cookie name without `__Host-`/`__Secure-`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, SessionConfig};
    ///
    /// // A lab network without TLS: the name must lose its __Host- prefix too.
    /// let config = SessionConfig::new(Key::generate())
    ///     .with_cookie_name("lab-id")
    ///     .dangerous_insecure_cookie();
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn dangerous_insecure_cookie(mut self) -> Self {
        self.secure = false;
        self
    }

    /// Sets a `Domain` attribute, sharing the cookie with every subdomain.
    ///
    /// # Security
    ///
    /// Any subdomain (and whoever controls one) can read, set and shadow the session
    /// cookie (SR-10, AT-08). Not allowed with a `__Host-` name.
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, SessionConfig};
    ///
    /// let config = SessionConfig::new(Key::generate())
    ///     .with_cookie_name("__Secure-id")
    ///     .dangerous_cookie_domain("example.com");
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn dangerous_cookie_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Adds the `Partitioned` attribute (CHIPS): in a third-party context the browser
    /// keeps a separate cookie per top-level site, so an app embedded in other sites
    /// keeps a session per embedding site instead of being blocked as a third-party
    /// cookie.
    ///
    /// # Security
    ///
    /// Partitioned cookies are for cross-site use, so this requires
    /// [`SessionConfig::dangerous_same_site_none`] (checked when the layer is built,
    /// [`ConfigError::PartitionedNeedsSameSiteNone`]), with everything that gives up:
    /// every state-changing route then needs its own CSRF protection (AT-33).
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, SessionConfig, SessionLayer, MemoryStore};
    ///
    /// // An app embedded in other sites' pages, with CSRF tokens on every form.
    /// let config = SessionConfig::new(Key::generate())
    ///     .dangerous_same_site_none()
    ///     .dangerous_partitioned_cookie();
    /// assert!(SessionLayer::new(MemoryStore::new(), config).is_ok());
    /// let alone = SessionConfig::new(Key::generate()).dangerous_partitioned_cookie();
    /// assert!(SessionLayer::new(MemoryStore::new(), alone).is_err(), "needs SameSite=None");
    /// ```
    #[must_use]
    pub fn dangerous_partitioned_cookie(mut self) -> Self {
        self.partitioned = true;
        self
    }

    /// Sets the cookie's `Path` (default `/`; `__Host-` names require `/`).
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, SessionConfig};
    ///
    /// let config = SessionConfig::new(Key::generate())
    ///     .with_cookie_name("__Secure-admin")
    ///     .with_cookie_path("/admin");
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_cookie_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The idle timeout (default 30 minutes, SR-20).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hallpass::{Key, SessionConfig};
    ///
    /// let config = SessionConfig::new(Key::generate()).with_idle_timeout(Duration::from_secs(15 * 60));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The absolute timeout (default 12 hours, SR-21).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hallpass::{Key, SessionConfig};
    ///
    /// let config = SessionConfig::new(Key::generate()).with_absolute_timeout(Duration::from_secs(8 * 3600));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_absolute_timeout(mut self, timeout: Duration) -> Self {
        self.absolute_timeout = timeout;
        self
    }

    /// The timeouts NIST SP 800-63B-4 (2025) sets for a session at assurance level
    /// 2 (§2.2, "Reauthentication"; §5 on sessions): the subscriber authenticates
    /// again at least every 24 hours, and after at most 1 hour of inactivity. So an
    /// absolute timeout of 24 hours and an idle timeout of 1 hour; the rest of the
    /// configuration stays as it is. Record the level with
    /// [`Session::login_with`](crate::Session::login_with).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hallpass::{Key, SessionConfig};
    ///
    /// let config = SessionConfig::new(Key::generate()).nist_aal2();
    /// assert_eq!(config.absolute_timeout(), Duration::from_secs(24 * 3600));
    /// assert_eq!(config.idle_timeout(), Duration::from_secs(3600));
    /// ```
    #[must_use]
    pub fn nist_aal2(self) -> Self {
        self.with_absolute_timeout(Duration::from_secs(24 * 3600))
            .with_idle_timeout(Duration::from_secs(3600))
    }

    /// The timeouts NIST SP 800-63B-4 (2025) sets at assurance level 3 (§2.3,
    /// "Reauthentication"): at least every 12 hours, and after at most 15 minutes
    /// of inactivity.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hallpass::{Key, SessionConfig};
    ///
    /// let config = SessionConfig::new(Key::generate()).nist_aal3();
    /// assert_eq!(config.absolute_timeout(), Duration::from_secs(12 * 3600));
    /// assert_eq!(config.idle_timeout(), Duration::from_secs(15 * 60));
    /// ```
    #[must_use]
    pub fn nist_aal3(self) -> Self {
        self.with_absolute_timeout(Duration::from_secs(12 * 3600))
            .with_idle_timeout(Duration::from_secs(15 * 60))
    }

    /// How often activity may push the idle deadline (default: idle timeout / 10).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hallpass::{Key, SessionConfig};
    ///
    /// // Push the idle deadline at most once a minute (one store write per minute of use).
    /// let config = SessionConfig::new(Key::generate()).with_touch_interval(Duration::from_secs(60));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_touch_interval(mut self, interval: Duration) -> Self {
        self.touch_interval = Some(interval);
        self
    }

    /// Re-issue the session token every `interval` of use (SR-17; off by default):
    /// the first request after it gets a new token in one atomic store step, so a
    /// copied cookie stops working at the next rotation. The replaced token keeps
    /// working for the grace window ([`with_rotation_grace`](Self::with_rotation_grace),
    /// default 5 s) so the browser's requests already in flight don't fail; after
    /// it, the token is a replay of a stolen copy and [`on_token_replay`](Self::on_token_replay)
    /// decides (default: end the session).
    ///
    /// With rotation on, a counter request loads the session before its increment
    /// (two store calls instead of one): the rotation is due by the record's clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hallpass::{Key, SessionConfig};
    ///
    /// let config = SessionConfig::new(Key::generate())
    ///     .with_rotation_interval(Duration::from_secs(15 * 60));
    /// assert_eq!(config.rotation_interval(), Some(Duration::from_secs(15 * 60)));
    /// ```
    #[must_use]
    pub fn with_rotation_interval(mut self, interval: Duration) -> Self {
        self.rotation_interval = Some(interval);
        self
    }

    /// How long a token replaced by a periodic rotation keeps working (default
    /// 5 s): long enough for the requests a page had in flight, short enough that
    /// a thief's copy is caught. Must be shorter than the rotation interval.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hallpass::{Key, SessionConfig};
    ///
    /// let config = SessionConfig::new(Key::generate())
    ///     .with_rotation_interval(Duration::from_secs(600))
    ///     .with_rotation_grace(Duration::from_secs(3));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_rotation_grace(mut self, grace: Duration) -> Self {
        self.rotation_grace = grace;
        self
    }

    /// What a replayed token does (default [`ReplayPolicy::EndSession`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use hallpass::{Key, SessionConfig};
    /// use hallpass::config::ReplayPolicy;
    ///
    /// let config = SessionConfig::new(Key::generate())
    ///     .with_rotation_interval(Duration::from_secs(600))
    ///     .on_token_replay(ReplayPolicy::EndAllOfPrincipal);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn on_token_replay(mut self, policy: ReplayPolicy) -> Self {
        self.on_replay = policy;
        self
    }

    /// Proxies whose `X-Forwarded-For` header is believed (CIDR ranges). Without any,
    /// the client IP is the peer address. Peers and hops are compared as canonical
    /// addresses (an IPv4 client of a dual-stack socket, `::ffff:a.b.c.d`, is
    /// `a.b.c.d`), and an IPv4-mapped range such as `::ffff:10.0.0.0/104` is taken as
    /// the IPv4 range it names (`10.0.0.0/8`).
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, SessionConfig};
    ///
    /// let config = SessionConfig::new(Key::generate())
    ///     .with_trusted_proxies(["10.0.0.0/8".parse()?, "::1/128".parse()?]);
    /// # let _ = config;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpNet>) -> Self {
        self.trusted_proxies = proxies
            .into_iter()
            .map(crate::client_ip::canonical_net)
            .collect();
        self
    }

    /// Binds sessions to client properties recorded at login (default: off).
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, SessionConfig};
    /// use hallpass::config::{BindingPolicy, ClientBinding};
    ///
    /// let config = SessionConfig::new(Key::generate())
    ///     .with_client_binding(ClientBinding::new(BindingPolicy::Terminate).with_user_agent(true));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_client_binding(mut self, binding: ClientBinding) -> Self {
        self.binding = binding;
        self
    }

    /// At most `max` sessions per principal, with `policy` for the next login (SR-29).
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, SessionConfig};
    /// use hallpass::config::CapPolicy;
    ///
    /// // Five devices per user; a sixth login logs out the least recently used one.
    /// let config = SessionConfig::new(Key::generate())
    ///     .with_max_sessions_per_principal(5, CapPolicy::EvictOldest);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_max_sessions_per_principal(mut self, max: usize, policy: CapPolicy) -> Self {
        self.session_cap = Some((max, policy));
        self
    }

    /// The most bytes of session data (serialized), default 64 KiB.
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, SessionConfig};
    ///
    /// let config = SessionConfig::new(Key::generate()).with_max_data_bytes(16 * 1024);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_max_data_bytes(mut self, max: usize) -> Self {
        self.max_data_bytes = max;
        self
    }

    /// The most bytes of `Cookie` header accepted (default 8 KiB); more gets 431.
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, SessionConfig};
    ///
    /// let config = SessionConfig::new(Key::generate()).with_max_cookie_header_bytes(4096);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_max_cookie_header_bytes(mut self, max: usize) -> Self {
        self.max_cookie_header_bytes = max;
        self
    }

    /// What a store failure while loading does (default: 503).
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, SessionConfig};
    /// use hallpass::config::LoadFailure;
    ///
    /// // A public site that prefers serving anonymous pages to a 503 while the store is down.
    /// let config = SessionConfig::new(Key::generate()).with_load_failure(LoadFailure::AnonymousFallback);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_load_failure(mut self, on_failure: LoadFailure) -> Self {
        self.load_failure = on_failure;
        self
    }

    /// The clock (default: the system clock). Tests use [`crate::time::ManualClock`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use hallpass::{Key, SessionConfig};
    /// use hallpass::time::ManualClock;
    ///
    /// let clock = ManualClock::starting_now();
    /// let config = SessionConfig::new(Key::generate()).with_clock(Arc::new(clock.clone()));
    /// clock.advance(Duration::from_secs(3600)); // a test moves time instead of sleeping
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Calls `hook` with every session event, after it is logged.
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, SessionConfig};
    /// use hallpass::events::Event;
    ///
    /// let config = SessionConfig::new(Key::generate()).with_event_hook(|event| {
    ///     if let Event::InvalidToken { reason, .. } = event {
    ///         eprintln!("bad session cookie: {reason:?}");
    ///     }
    /// });
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_event_hook(mut self, hook: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Turns on device binding (DBSC, crate feature `device-binding`): registration
    /// is offered after each login, and a session a browser bound to its key is then
    /// authenticated only with a short-lived bound cookie that the browser renews
    /// with fresh proofs. Mount the two endpoints (see [`crate::dbsc`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, SessionConfig};
    /// use hallpass::dbsc::DeviceBinding;
    ///
    /// let config = SessionConfig::new(Key::generate())
    ///     .with_device_binding(DeviceBinding::after_login("https://app.example"));
    /// # let _ = config;
    /// ```
    #[cfg(feature = "device-binding")]
    #[cfg_attr(docsrs, doc(cfg(feature = "device-binding")))]
    #[must_use]
    pub fn with_device_binding(mut self, binding: crate::dbsc::DeviceBinding) -> Self {
        self.device = Some(Arc::new(binding));
        self
    }

    /// The attributes of the device binding's bound cookie (as its `Set-Cookie`
    /// carries them, less its expiry, and as the session instructions repeat them):
    /// always `Path=/`, no `Domain` (the instructions' scope is the origin), and the
    /// session cookie's `Secure` and `SameSite`.
    #[cfg_attr(
        not(feature = "device-binding"),
        allow(
            dead_code,
            reason = "only the device-binding endpoints set a bound cookie"
        )
    )]
    pub(crate) fn device_cookie_attributes(&self) -> String {
        let mut attributes = "Path=/".to_owned();
        self.push_access_attributes(&mut attributes);
        attributes
    }

    /// `; Secure` (unless dangerously off), `; HttpOnly` and `; SameSite=…`: what
    /// the session cookie and the bound cookie share.
    fn push_access_attributes(&self, attributes: &mut String) {
        if self.secure {
            attributes.push_str("; Secure");
        }
        attributes.push_str("; HttpOnly");
        attributes.push_str(match self.same_site {
            SameSite::Strict => "; SameSite=Strict",
            SameSite::Lax => "; SameSite=Lax",
            SameSite::None => "; SameSite=None",
        });
    }

    /// The attributes every `Set-Cookie` of this configuration carries:
    /// `; Path=/; Secure; HttpOnly; SameSite=Strict` and so on.
    pub(crate) fn cookie_attributes(&self) -> String {
        let mut attributes = format!("; Path={}", self.path);
        if let Some(domain) = &self.domain {
            attributes.push_str("; Domain=");
            attributes.push_str(domain);
        }
        self.push_access_attributes(&mut attributes);
        if self.partitioned {
            attributes.push_str("; Partitioned");
        }
        attributes
    }

    /// The idle timeout (SR-20).
    ///
    /// ```
    /// # use hallpass::{Key, SessionConfig};
    /// assert_eq!(SessionConfig::new(Key::generate()).idle_timeout().as_secs(), 30 * 60);
    /// ```
    #[must_use]
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// The absolute timeout (SR-21).
    ///
    /// ```
    /// # use hallpass::{Key, SessionConfig};
    /// assert_eq!(SessionConfig::new(Key::generate()).absolute_timeout().as_secs(), 12 * 3600);
    /// ```
    #[must_use]
    pub fn absolute_timeout(&self) -> Duration {
        self.absolute_timeout
    }

    /// The periodic rotation interval, if rotation is on (SR-17).
    ///
    /// ```
    /// # use hallpass::{Key, SessionConfig};
    /// assert_eq!(SessionConfig::new(Key::generate()).rotation_interval(), None);
    /// ```
    #[must_use]
    pub fn rotation_interval(&self) -> Option<Duration> {
        self.rotation_interval
    }

    pub(crate) fn touch_interval(&self) -> Duration {
        self.touch_interval.unwrap_or(self.idle_timeout / 10)
    }
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("keyring", &self.keyring)
            .field("cookie_name", &self.cookie_name)
            .field("secure", &self.secure)
            .field("same_site", &self.same_site)
            .field("path", &self.path)
            .field("domain", &self.domain)
            .field("partitioned", &self.partitioned)
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("touch_interval", &self.touch_interval())
            .field("rotation_interval", &self.rotation_interval)
            .field("rotation_grace", &self.rotation_grace)
            .field("on_replay", &self.on_replay)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("binding", &self.binding)
            .field("session_cap", &self.session_cap)
            .field("max_data_bytes", &self.max_data_bytes)
            .field("max_cookie_header_bytes", &self.max_cookie_header_bytes)
            .field("load_failure", &self.load_failure)
            .field("clock", &self.clock)
            .field("hook", &self.hook.as_ref().map(|_| "<fn>"))
            .field("device", &self.device)
            .finish()
    }
}
