//! [`DeviceBinding`]: the device-binding settings, and what the request path asks of
//! them (the bound cookie, the registration offer, a skipped refresh).

use std::time::Duration;

use hallpass_dbsc::{Algorithm, headers};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::tokens::{self, BoundCookie, Purpose};
use crate::keyring::Keyring;
use crate::time::Timestamp;
use crate::token::Handle;

const SKIPPED: HeaderName = HeaderName::from_static(headers::SKIPPED);

/// Device binding (DBSC) for a [`SessionConfig`](crate::SessionConfig): where the
/// browser registers and refreshes, the bound cookie, and how long proofs last.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hallpass::{Key, SessionConfig};
/// use hallpass::dbsc::DeviceBinding;
///
/// let config = SessionConfig::new(Key::generate()).with_device_binding(
///     DeviceBinding::after_login("https://app.example")
///         .with_cookie_lifetime(Duration::from_secs(5 * 60))
///         // A bound session may live longer: a stolen cookie is worth minutes.
///         .with_bound_absolute_timeout(Duration::from_secs(7 * 24 * 3600)),
/// );
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
pub struct DeviceBinding {
    pub(crate) origin: String,
    pub(crate) registration_path: String,
    pub(crate) refresh_path: String,
    pub(crate) cookie_name: String,
    pub(crate) cookie_lifetime: Duration,
    pub(crate) challenge_lifetime: Duration,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) bound_absolute_timeout: Option<Duration>,
}

impl DeviceBinding {
    /// Registration is offered after every login; the session instructions scope
    /// the binding to `origin` (`https://host[:port]`, the origin your pages are
    /// served from). Defaults: the paths `/hallpass/dbsc/register` and
    /// `/hallpass/dbsc/refresh`, the bound cookie `__Host-hallpass-bound` for 10
    /// minutes, challenges good for 5 minutes, ES256 and RS256.
    #[must_use]
    pub fn after_login(origin: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            registration_path: "/hallpass/dbsc/register".to_owned(),
            refresh_path: "/hallpass/dbsc/refresh".to_owned(),
            cookie_name: "__Host-hallpass-bound".to_owned(),
            cookie_lifetime: Duration::from_secs(10 * 60),
            challenge_lifetime: Duration::from_secs(5 * 60),
            algorithms: vec![Algorithm::Es256, Algorithm::Rs256],
            bound_absolute_timeout: None,
        }
    }

    /// The registration and refresh paths (absolute, on the same origin). Neither
    /// may redirect: Chrome has deadlocked on a redirected registration.
    ///
    /// ```
    /// use hallpass::dbsc::DeviceBinding;
    /// let binding = DeviceBinding::after_login("https://app.example").with_paths("/dbsc/start", "/dbsc/refresh");
    /// assert_eq!((binding.registration_path(), binding.refresh_path()), ("/dbsc/start", "/dbsc/refresh"));
    /// ```
    #[must_use]
    pub fn with_paths(
        mut self,
        registration: impl Into<String>,
        refresh: impl Into<String>,
    ) -> Self {
        self.registration_path = registration.into();
        self.refresh_path = refresh.into();
        self
    }

    /// The bound cookie's name (default `__Host-hallpass-bound`; without TLS, for
    /// [`dangerous_insecure_cookie`](crate::SessionConfig::dangerous_insecure_cookie),
    /// choose one without the `__Host-` prefix).
    ///
    /// ```
    /// use hallpass::dbsc::DeviceBinding;
    /// let binding = DeviceBinding::after_login("https://app.example").with_cookie_name("__Host-bound");
    /// assert_eq!(binding.cookie_name(), "__Host-bound");
    /// ```
    #[must_use]
    pub fn with_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// How long a bound cookie lasts (default 10 minutes, at least 3: Chrome
    /// refreshes 2 minutes before it runs out). A stolen copy works at most this
    /// long.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hallpass::dbsc::DeviceBinding;
    /// let binding = DeviceBinding::after_login("https://app.example").with_cookie_lifetime(Duration::from_secs(300));
    /// # let _ = binding;
    /// ```
    #[must_use]
    pub fn with_cookie_lifetime(mut self, lifetime: Duration) -> Self {
        self.cookie_lifetime = lifetime;
        self
    }

    /// How long a challenge can be answered (default 5 minutes, 10 seconds to an
    /// hour). Browsers may keep a signed challenge for the next refresh; an older
    /// one earns a fresh challenge.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hallpass::dbsc::DeviceBinding;
    /// let binding = DeviceBinding::after_login("https://app.example").with_challenge_lifetime(Duration::from_secs(60));
    /// # let _ = binding;
    /// ```
    #[must_use]
    pub fn with_challenge_lifetime(mut self, lifetime: Duration) -> Self {
        self.challenge_lifetime = lifetime;
        self
    }

    /// The algorithms offered (default ES256 and RS256; at least one).
    ///
    /// ```
    /// use hallpass::dbsc::{Algorithm, DeviceBinding};
    /// // ES256 alone keeps proofs small.
    /// let binding = DeviceBinding::after_login("https://app.example").with_algorithms([Algorithm::Es256]);
    /// # let _ = binding;
    /// ```
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self.algorithms.dedup();
        self
    }

    /// A bound session's absolute timeout, from its login (default: the same as any
    /// session's). Set at registration; never shorter than the configured absolute
    /// timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hallpass::dbsc::DeviceBinding;
    /// let binding = DeviceBinding::after_login("https://app.example")
    ///     .with_bound_absolute_timeout(Duration::from_secs(30 * 24 * 3600));
    /// # let _ = binding;
    /// ```
    #[must_use]
    pub fn with_bound_absolute_timeout(mut self, timeout: Duration) -> Self {
        self.bound_absolute_timeout = Some(timeout);
        self
    }

    /// The registration path.
    ///
    /// ```
    /// use hallpass::dbsc::DeviceBinding;
    /// assert_eq!(DeviceBinding::after_login("https://a.example").registration_path(), "/hallpass/dbsc/register");
    /// ```
    #[must_use]
    pub fn registration_path(&self) -> &str {
        &self.registration_path
    }

    /// The refresh path.
    ///
    /// ```
    /// use hallpass::dbsc::DeviceBinding;
    /// assert_eq!(DeviceBinding::after_login("https://a.example").refresh_path(), "/hallpass/dbsc/refresh");
    /// ```
    #[must_use]
    pub fn refresh_path(&self) -> &str {
        &self.refresh_path
    }

    /// The bound cookie's name.
    ///
    /// ```
    /// use hallpass::dbsc::DeviceBinding;
    /// assert_eq!(DeviceBinding::after_login("https://a.example").cookie_name(), "__Host-hallpass-bound");
    /// ```
    #[must_use]
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The verified bound cookie of one of the sessions `handles` names, if the
    /// request carries one (the first that verifies; its expiry and epoch are
    /// checked against the session when it is loaded).
    pub(crate) fn read_bound(
        &self,
        headers: &HeaderMap,
        keyring: &Keyring,
        handles: &[Handle],
    ) -> Option<(Handle, BoundCookie)> {
        // The session cookie's bound already capped the Cookie fields' size.
        let crate::cookie::Inline::Values(values) =
            crate::cookie::find_inline(headers, &self.cookie_name, usize::MAX).ok()?
        else {
            return None;
        };
        values.iter().find_map(|value| {
            handles.iter().find_map(|handle| {
                tokens::read_bound_cookie(keyring, &self.cookie_name, handle, value)
                    .map(|cookie| (*handle, cookie))
            })
        })
    }

    /// The `Secure-Session-Registration` value offering to bind `handle`'s session.
    pub(crate) fn offer(
        &self,
        keyring: &Keyring,
        handle: &Handle,
        now: Timestamp,
    ) -> Option<HeaderValue> {
        let challenge = tokens::challenge(keyring, Purpose::Registration, handle, now, 0);
        let value =
            headers::registration(&self.algorithms, &self.registration_path, &challenge, None)
                .ok()?;
        HeaderValue::try_from(value).ok()
    }

    /// Why the browser skipped a refresh, if the request says it did
    /// (`Secure-Session-Skipped`): logged, never an error.
    pub(crate) fn skipped(&self, headers: &HeaderMap) -> Option<String> {
        let notice = headers::skipped(headers.get(SKIPPED)?.as_bytes())?;
        Some(match notice.reason {
            headers::SkipReason::Unreachable => "unreachable".to_owned(),
            headers::SkipReason::ServerError => "server_error".to_owned(),
            headers::SkipReason::QuotaExceeded => "quota_exceeded".to_owned(),
            headers::SkipReason::Other(other) => other,
            _ => "other".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::DeviceBinding;
    use crate::config::ConfigError;
    use crate::{Key, SessionConfig};

    fn check(config: SessionConfig, binding: DeviceBinding) -> Result<(), ConfigError> {
        config.with_device_binding(binding).validate()
    }

    fn plain() -> SessionConfig {
        SessionConfig::new(Key::generate())
    }

    #[test]
    fn settings_a_browser_would_reject_are_refused_when_the_layer_is_built() {
        let ok = |origin: &str| DeviceBinding::after_login(origin);
        assert!(check(plain(), ok("https://app.example")).is_ok());
        assert!(check(plain(), ok("https://app.example:8443")).is_ok());
        assert!(
            check(plain(), ok("http://127.0.0.1:3000")).is_ok(),
            "loopback"
        );
        assert!(
            check(plain(), ok("http://localhost:3000")).is_ok(),
            "loopback"
        );
        assert!(check(plain(), ok("http://[::1]:3000")).is_ok(), "loopback");
        let refused = [
            (plain(), ok("http://app.example"), "http off loopback"),
            (plain(), ok("https://app.example/path"), "a path"),
            (plain(), ok("app.example"), "no scheme"),
            (
                plain(),
                ok("https://app.example").with_cookie_name("__Host-id"),
                "the session cookie's name",
            ),
            (
                plain(),
                ok("https://a.example").with_cookie_lifetime(Duration::from_secs(120)),
                "shorter than Chrome's refresh lead",
            ),
            (
                plain(),
                ok("https://a.example").with_challenge_lifetime(Duration::from_secs(1)),
                "a challenge too short",
            ),
            (
                plain(),
                ok("https://a.example").with_algorithms([]),
                "no algorithm",
            ),
            (
                plain(),
                ok("https://a.example").with_paths("/same", "/same"),
                "one path for both",
            ),
            (
                plain(),
                ok("https://a.example").with_paths("relative", "/r"),
                "a relative path",
            ),
            (
                plain().with_absolute_timeout(Duration::from_secs(3600)),
                ok("https://a.example").with_bound_absolute_timeout(Duration::from_secs(60)),
                "a bound session shorter-lived than any",
            ),
            (
                plain()
                    .with_cookie_name("lab-id")
                    .dangerous_insecure_cookie(),
                ok("http://lab.example"),
                "a __Host- bound cookie without Secure",
            ),
            (
                plain()
                    .dangerous_same_site_none()
                    .dangerous_partitioned_cookie(),
                ok("https://a.example"),
                "a partitioned session",
            ),
        ];
        for (config, binding, what) in refused {
            assert!(
                matches!(check(config, binding), Err(ConfigError::DeviceBinding(_))),
                "{what}"
            );
        }
        let lab = plain()
            .with_cookie_name("lab-id")
            .dangerous_insecure_cookie();
        assert!(check(lab, ok("http://lab.example").with_cookie_name("lab-bound")).is_ok());
    }
}
