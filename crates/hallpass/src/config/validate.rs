//! Validation when the layer is built: every rule a browser or the security model
//! imposes on a configuration, as a typed [`ConfigError`].

use std::time::Duration;

use super::{SameSite, SessionConfig};

impl SessionConfig {
    /// Checks the combination; the layer's constructor calls this.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let name = self.cookie_name.as_bytes();
        if name.is_empty() || !name.iter().all(|&b| is_token_char(b)) {
            return Err(ConfigError::InvalidCookieName(self.cookie_name.clone()));
        }
        if !self.path.starts_with('/') || !self.path.bytes().all(is_attribute_char) {
            return Err(ConfigError::InvalidPath(self.path.clone()));
        }
        // Browsers ignore a longer attribute (RFC 6265bis §5.6): a dropped Path or
        // Domain would silently change where the cookie goes.
        for (attribute, value) in [("Path", Some(&self.path)), ("Domain", self.domain.as_ref())] {
            if let Some(value) = value.filter(|value| value.len() > MAX_ATTRIBUTE_LEN) {
                return Err(ConfigError::AttributeTooLong {
                    attribute,
                    len: value.len(),
                });
            }
        }
        if let Some(domain) = &self.domain {
            let ok = !domain.is_empty()
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !ok {
                return Err(ConfigError::InvalidDomain(domain.clone()));
            }
        }
        // Browsers match the prefixes case-insensitively (RFC 6265bis §4.1.3): a
        // `__host-id` cookie gets the `__Host-` rules too, so it must meet them here.
        if has_prefix(&self.cookie_name, "__Host-") {
            if !self.secure {
                return Err(ConfigError::PrefixNeedsSecure("__Host-"));
            }
            if self.domain.is_some() {
                return Err(ConfigError::HostPrefixWithDomain);
            }
            if self.path != "/" {
                return Err(ConfigError::HostPrefixNeedsRootPath);
            }
        }
        if has_prefix(&self.cookie_name, "__Secure-") && !self.secure {
            return Err(ConfigError::PrefixNeedsSecure("__Secure-"));
        }
        // RFC 6265bis's `__Http-` prefix: `Secure` and `HttpOnly` (always set here);
        // `__Host-Http-` met the `__Host-` rules above.
        if has_prefix(&self.cookie_name, "__Http-") && !self.secure {
            return Err(ConfigError::PrefixNeedsSecure("__Http-"));
        }
        if self.same_site == SameSite::None && !self.same_site_none_confirmed {
            return Err(ConfigError::SameSiteNoneNotConfirmed);
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(ConfigError::SameSiteNoneNeedsSecure);
        }
        if self.partitioned && self.same_site != SameSite::None {
            return Err(ConfigError::PartitionedNeedsSameSiteNone);
        }
        // The longest `Set-Cookie` this configuration sends: a remembered session's,
        // with the longest `Max-Age` a browser keeps.
        let longest = self.cookie_name.len()
            + 1
            + crate::codec::VALUE_LEN
            + "; Max-Age=".len()
            + MAX_COOKIE_AGE.as_secs().to_string().len()
            + self.cookie_attributes().len();
        if longest > MAX_COOKIE_LEN {
            return Err(ConfigError::CookieTooLarge { len: longest });
        }
        if self.idle_timeout.is_zero() || self.absolute_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        if self.idle_timeout > MAX_TIMEOUT || self.absolute_timeout > MAX_TIMEOUT {
            return Err(ConfigError::TimeoutTooLong);
        }
        if self.idle_timeout > self.absolute_timeout {
            return Err(ConfigError::IdleLongerThanAbsolute);
        }
        if self
            .touch_interval
            .is_some_and(|touch| touch >= self.idle_timeout)
        {
            return Err(ConfigError::TouchIntervalTooLong);
        }
        if let Some(interval) = self.rotation_interval {
            if interval.is_zero() {
                return Err(ConfigError::ZeroRotationInterval);
            }
            if self.rotation_grace >= interval {
                return Err(ConfigError::RotationGraceTooLong);
            }
        }
        if self.session_cap.is_some_and(|(max, _)| max == 0) {
            return Err(ConfigError::ZeroSessionCap);
        }
        let binding = self.binding;
        if binding.ipv4_prefix.is_some_and(|p| p > 32)
            || binding.ipv6_prefix.is_some_and(|p| p > 128)
        {
            return Err(ConfigError::InvalidPrefix);
        }
        if self.max_cookie_header_bytes < crate::codec::VALUE_LEN + self.cookie_name.len() + 1 {
            return Err(ConfigError::CookieHeaderBoundTooSmall);
        }
        if let Some(device) = &self.device {
            validate_device(device, self).map_err(ConfigError::DeviceBinding)?;
        }
        Ok(())
    }
}

/// Whether `name` starts with `prefix`, ignoring ASCII case, as browsers compare
/// cookie-name prefixes.
fn has_prefix(name: &str, prefix: &str) -> bool {
    name.as_bytes()
        .get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// The longest `Set-Cookie` value a configuration may lead to, in bytes: browsers
/// drop a cookie whose name and value exceed 4,096 bytes (RFC 6265bis §5.6), and
/// this bound keeps the whole header, attributes included, within that.
pub const MAX_COOKIE_LEN: usize = 4096;

/// Browsers cap cookie lifetimes at 400 days (RFC 6265bis §5.5): the longest
/// `Max-Age` a session cookie is sent with.
pub(crate) const MAX_COOKIE_AGE: Duration = Duration::from_secs(400 * 24 * 3600);

/// The longest `Path` or `Domain` value, in bytes (RFC 6265bis §5.6: browsers
/// ignore a longer attribute).
const MAX_ATTRIBUTE_LEN: usize = 1024;

/// The longest idle or absolute timeout a configuration accepts: 400 days, the
/// longest a browser keeps a cookie (RFC 6265bis §5.5). Longer would be a session
/// that outlives every cookie that can name it, and deadlines far enough out break
/// whatever prints them.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(400 * 24 * 3600);

/// RFC 6265 `token` characters (cookie names).
/// Checks device-binding settings against the session configuration they join.
#[cfg(feature = "device-binding")]
fn validate_device(
    device: &crate::dbsc::DeviceBinding,
    session: &SessionConfig,
) -> Result<(), &'static str> {
    let token =
        |name: &str| !name.is_empty() && name.len() <= 255 && name.bytes().all(is_token_char);
    if !token(&device.cookie_name) {
        return Err("the bound cookie's name is not a valid cookie name");
    }
    if device
        .cookie_name
        .eq_ignore_ascii_case(&session.cookie_name)
    {
        return Err("the bound cookie needs a name of its own, not the session cookie's");
    }
    let host_prefix = device
        .cookie_name
        .get(..7)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("__Host-"));
    if host_prefix && !session.secure {
        return Err(
            "a __Host- bound cookie needs Secure: rename it (with_cookie_name) for a deployment without TLS",
        );
    }
    if session.partitioned {
        return Err(
            "DBSC refuses Partitioned cookies: device binding cannot be used with a partitioned session cookie",
        );
    }
    if device.cookie_lifetime <= Duration::from_secs(180)
        || device.cookie_lifetime > Duration::from_secs(24 * 3600)
    {
        return Err("the bound cookie's lifetime must be more than 3 minutes and at most a day");
    }
    if device.challenge_lifetime < Duration::from_secs(10)
        || device.challenge_lifetime > Duration::from_secs(3600)
    {
        return Err("a challenge's lifetime must be 10 seconds to an hour");
    }
    if device.algorithms.is_empty() {
        return Err("offer at least one algorithm");
    }
    for path in [&device.registration_path, &device.refresh_path] {
        if !path.starts_with('/')
            || !path
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            return Err(
                "the registration and refresh paths must be absolute paths of visible ASCII",
            );
        }
    }
    if device.registration_path == device.refresh_path {
        return Err("the registration and refresh paths must differ");
    }
    let Some((scheme, host)) = device.origin.split_once("://") else {
        return Err("the origin must be scheme://host[:port]");
    };
    // Browsers treat http://localhost as secure (Secure cookies, Chrome's DBSC
    // developer mode); any other http origin needs a cookie without Secure.
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    let loopback = name == "localhost"
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    let scheme_ok = scheme == "https" || (scheme == "http" && (loopback || !session.secure));
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !scheme_ok || !host_ok {
        return Err(
            "the origin must be https://host[:port] (http:// only on loopback or with an insecure cookie), with no path",
        );
    }
    if device
        .bound_absolute_timeout
        .is_some_and(|timeout| timeout < session.absolute_timeout)
    {
        return Err("a bound session's absolute timeout cannot be shorter than any session's");
    }
    Ok(())
}

#[cfg(not(feature = "device-binding"))]
fn validate_device(
    device: &crate::dbsc::DeviceBinding,
    _: &SessionConfig,
) -> Result<(), &'static str> {
    match *device {}
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Characters allowed in a cookie attribute value: visible ASCII except `;` (SR-35).
fn is_attribute_char(b: u8) -> bool {
    (0x21..0x7f).contains(&b) && b != b';'
}

/// The configuration is unsafe or inconsistent; the message says how to fix it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The cookie name is empty or has characters outside RFC 6265's `token`.
    #[error(
        "cookie name {0:?} is not a valid RFC 6265 token (at least one of: letters, digits and !#$%&'*+-.^_`|~)"
    )]
    InvalidCookieName(String),
    /// The path is not absolute or has `;`, spaces or control characters.
    #[error("cookie path {0:?} must start with '/' and contain only visible ASCII other than ';'")]
    InvalidPath(String),
    /// The domain has characters a hostname cannot have.
    #[error("cookie domain {0:?} must be a hostname (letters, digits, '-' and '.')")]
    InvalidDomain(String),
    /// `__Host-`/`__Secure-`/`__Http-` cookies without `Secure`.
    #[error(
        "a cookie named {0}… must be Secure; drop dangerous_insecure_cookie() or pick a name without the prefix"
    )]
    PrefixNeedsSecure(&'static str),
    /// `__Host-` with a `Domain`.
    #[error(
        "a __Host- cookie cannot have a Domain; drop dangerous_cookie_domain() or rename the cookie"
    )]
    HostPrefixWithDomain,
    /// `__Host-` with a path other than `/`.
    #[error("a __Host- cookie must have Path=/")]
    HostPrefixNeedsRootPath,
    /// `SameSite=None` without `Secure`.
    #[error(
        "SameSite=None needs Secure (browsers drop such cookies); use dangerous_same_site_none() and keep Secure"
    )]
    SameSiteNoneNeedsSecure,
    /// A timeout of zero.
    #[error("idle and absolute timeouts must both be longer than zero")]
    ZeroTimeout,
    /// A timeout longer than [`MAX_TIMEOUT`].
    #[error(
        "idle and absolute timeouts must be at most 400 days (the longest a browser keeps a cookie)"
    )]
    TimeoutTooLong,
    /// `with_same_site(SameSite::None)` without the dangerous opt-in.
    #[error(
        "SameSite=None removes the browser's CSRF defence: ask for it with dangerous_same_site_none(), not with_same_site()"
    )]
    SameSiteNoneNotConfirmed,
    /// The idle timeout exceeds the absolute one.
    #[error("the idle timeout must not be longer than the absolute timeout")]
    IdleLongerThanAbsolute,
    /// The touch interval is not shorter than the idle timeout.
    #[error(
        "the touch interval must be shorter than the idle timeout, or sessions would expire while in use"
    )]
    TouchIntervalTooLong,
    /// A periodic rotation interval of zero.
    #[error("the rotation interval must be longer than zero")]
    ZeroRotationInterval,
    /// A rotation grace window not shorter than the interval.
    #[error(
        "the rotation grace must be shorter than the rotation interval, or a replaced token would never be a replay"
    )]
    RotationGraceTooLong,
    /// A session cap of zero.
    #[error("a per-principal session cap must allow at least one session")]
    ZeroSessionCap,
    /// A binding prefix longer than the address.
    #[error("client binding prefixes are at most 32 bits (IPv4) and 128 bits (IPv6)")]
    InvalidPrefix,
    /// A `Path` or `Domain` value longer than browsers accept.
    #[error("the cookie's {attribute} is {len} bytes; browsers ignore attributes over 1,024 bytes")]
    AttributeTooLong {
        /// `Path` or `Domain`.
        attribute: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The `Set-Cookie` header this configuration would send is over [`MAX_COOKIE_LEN`].
    #[error(
        "the session's Set-Cookie would be {len} bytes, over the 4,096 browsers keep; shorten the cookie name, path or domain"
    )]
    CookieTooLarge {
        /// The longest `Set-Cookie` value it would send, in bytes.
        len: usize,
    },
    /// `Partitioned` without `SameSite=None`.
    #[error(
        "a Partitioned cookie is for cross-site use and needs SameSite=None: add dangerous_same_site_none()"
    )]
    PartitionedNeedsSameSiteNone,
    /// The Cookie header bound could not even fit the session cookie.
    #[error("the Cookie header bound is smaller than one session cookie")]
    CookieHeaderBoundTooSmall,
    /// The device binding's settings do not fit (the message says which and how).
    #[error("device binding: {0}")]
    DeviceBinding(&'static str),
}
