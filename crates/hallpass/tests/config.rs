//! SR-07…SR-11, H12: unsafe or inconsistent configurations fail when the layer is built.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use std::sync::Arc;
use std::time::Duration;

use hallpass::config::{CapPolicy, SameSite};
use hallpass::{ConfigError, Key, Keyring, MemoryStore, SessionConfig, SessionLayer};

type Adjust = Box<dyn FnOnce(SessionConfig) -> SessionConfig>;

fn build(adjust: impl FnOnce(SessionConfig) -> SessionConfig) -> Result<SessionLayer, ConfigError> {
    SessionLayer::new(
        Arc::new(MemoryStore::new()),
        adjust(SessionConfig::new(Keyring::new(Key::generate()))),
    )
}

#[test]
fn defaults_are_valid() {
    assert!(build(|c| c).is_ok());
}

#[test]
fn invalid_combinations_are_rejected_with_clear_messages() {
    let cases: Vec<(Adjust, ConfigError)> = vec![
        (
            Box::new(|c| c.dangerous_insecure_cookie()),
            ConfigError::PrefixNeedsSecure("__Host-"),
        ),
        (
            Box::new(|c| c.dangerous_cookie_domain("example.com")),
            ConfigError::HostPrefixWithDomain,
        ),
        (
            Box::new(|c| c.with_cookie_path("/app")),
            ConfigError::HostPrefixNeedsRootPath,
        ),
        (
            Box::new(|c| {
                c.with_cookie_name("__Secure-id")
                    .dangerous_insecure_cookie()
            }),
            ConfigError::PrefixNeedsSecure("__Secure-"),
        ),
        (
            Box::new(|c| {
                c.with_cookie_name("id")
                    .dangerous_same_site_none()
                    .dangerous_insecure_cookie()
            }),
            ConfigError::SameSiteNoneNeedsSecure,
        ),
        // H12: SameSite=None only through the dangerous method, even with Secure.
        (
            Box::new(|c| c.with_same_site(SameSite::None)),
            ConfigError::SameSiteNoneNotConfirmed,
        ),
        // Browsers apply the prefix rules case-insensitively, so must we.
        (
            Box::new(|c| {
                c.with_cookie_name("__host-id")
                    .dangerous_cookie_domain("example.com")
            }),
            ConfigError::HostPrefixWithDomain,
        ),
        (
            Box::new(|c| c.with_cookie_name("__HOST-id").with_cookie_path("/app")),
            ConfigError::HostPrefixNeedsRootPath,
        ),
        (
            Box::new(|c| {
                c.with_cookie_name("__SECURE-id")
                    .dangerous_insecure_cookie()
            }),
            ConfigError::PrefixNeedsSecure("__Secure-"),
        ),
        // Deadlines far in the future are refused here, not met later by a panic.
        (
            Box::new(|c| {
                c.with_absolute_timeout(hallpass::config::MAX_TIMEOUT + Duration::from_secs(1))
            }),
            ConfigError::TimeoutTooLong,
        ),
        (
            Box::new(|c| {
                c.with_idle_timeout(Duration::MAX)
                    .with_absolute_timeout(Duration::MAX)
            }),
            ConfigError::TimeoutTooLong,
        ),
        (
            Box::new(|c| c.with_cookie_name("id; Domain=evil")),
            ConfigError::InvalidCookieName("id; Domain=evil".into()),
        ),
        (
            Box::new(|c| c.with_cookie_name("")),
            ConfigError::InvalidCookieName(String::new()),
        ),
        (
            Box::new(|c| c.with_cookie_name("id").with_cookie_path("/a;b")),
            ConfigError::InvalidPath("/a;b".into()),
        ),
        (
            Box::new(|c| {
                c.with_cookie_name("id")
                    .dangerous_cookie_domain("ex.com\r\nX: y")
            }),
            ConfigError::InvalidDomain("ex.com\r\nX: y".into()),
        ),
        (
            Box::new(|c| c.with_idle_timeout(Duration::ZERO)),
            ConfigError::ZeroTimeout,
        ),
        (
            Box::new(|c| {
                c.with_idle_timeout(Duration::from_secs(7200))
                    .with_absolute_timeout(Duration::from_secs(3600))
            }),
            ConfigError::IdleLongerThanAbsolute,
        ),
        (
            Box::new(|c| c.with_touch_interval(Duration::from_secs(1800))),
            ConfigError::TouchIntervalTooLong,
        ),
        (
            Box::new(|c| c.with_rotation_interval(Duration::ZERO)),
            ConfigError::ZeroRotationInterval,
        ),
        (
            // The default 5 s grace against a 5 s interval: a replay could never be told.
            Box::new(|c| c.with_rotation_interval(Duration::from_secs(5))),
            ConfigError::RotationGraceTooLong,
        ),
        (
            Box::new(|c| c.with_max_sessions_per_principal(0, CapPolicy::RejectNew)),
            ConfigError::ZeroSessionCap,
        ),
        (
            Box::new(|c| c.with_max_cookie_header_bytes(64)),
            ConfigError::CookieHeaderBoundTooSmall,
        ),
        // RFC 6265bis's __Http- and __Host-Http- prefixes.
        (
            Box::new(|c| c.with_cookie_name("__Http-id").dangerous_insecure_cookie()),
            ConfigError::PrefixNeedsSecure("__Http-"),
        ),
        (
            Box::new(|c| {
                c.with_cookie_name("__host-http-id")
                    .dangerous_cookie_domain("example.com")
            }),
            ConfigError::HostPrefixWithDomain,
        ),
        (
            Box::new(|c| c.with_cookie_name("__Host-Http-id").with_cookie_path("/a")),
            ConfigError::HostPrefixNeedsRootPath,
        ),
        // CHIPS is for cross-site use only.
        (
            Box::new(|c| c.dangerous_partitioned_cookie()),
            ConfigError::PartitionedNeedsSameSiteNone,
        ),
        (
            Box::new(|c| {
                c.with_same_site(SameSite::Lax)
                    .dangerous_partitioned_cookie()
            }),
            ConfigError::PartitionedNeedsSameSiteNone,
        ),
        // Browsers ignore attributes over 1,024 bytes and cookies over 4,096.
        (
            Box::new(|c| {
                c.with_cookie_name("__Secure-id")
                    .with_cookie_path(format!("/{}", "p".repeat(1024)))
            }),
            ConfigError::AttributeTooLong {
                attribute: "Path",
                len: 1025,
            },
        ),
        (
            Box::new(|c| {
                c.with_cookie_name("__Secure-id")
                    .dangerous_cookie_domain(format!("{}.com", "d".repeat(1021)))
            }),
            ConfigError::AttributeTooLong {
                attribute: "Domain",
                len: 1025,
            },
        ),
        (
            Box::new(|c| c.with_cookie_name(longest_name() + "x")),
            ConfigError::CookieTooLarge { len: 4097 },
        ),
    ];
    for (adjust, expected) in cases {
        let err = build(adjust).unwrap_err();
        assert_eq!(err, expected);
        assert!(
            err.to_string().len() > 20,
            "a message that says what to do: {err}"
        );
    }
}

/// The longest cookie name whose `Set-Cookie` fits in 4,096 bytes with the default
/// attributes: name, `=`, the 108-byte value, `; Max-Age=34560000` (400 days) and
/// `; Path=/; Secure; HttpOnly; SameSite=Strict`.
fn longest_name() -> String {
    "n".repeat(
        4096 - 1
            - 108
            - "; Max-Age=34560000".len()
            - "; Path=/; Secure; HttpOnly; SameSite=Strict".len(),
    )
}

#[test]
fn names_and_attributes_up_to_the_browser_limits_are_accepted() {
    assert!(build(|c| c.with_cookie_name(longest_name())).is_ok());
    assert!(build(|c| c.with_cookie_name("__Host-Http-id")).is_ok());
    assert!(
        build(|c| c
            .with_cookie_name("__Secure-id")
            .with_cookie_path(format!("/{}", "p".repeat(1023))))
        .is_ok()
    );
}

#[test]
fn dangerous_options_work_when_consistent() {
    assert!(build(|c| c.with_cookie_name("sid").dangerous_insecure_cookie()).is_ok());
    assert!(
        build(|c| c
            .with_cookie_name("sid")
            .dangerous_cookie_domain("example.com"))
        .is_ok()
    );
    assert!(build(|c| c.dangerous_same_site_none()).is_ok());
    assert!(build(|c| c.dangerous_same_site_none().dangerous_partitioned_cookie()).is_ok());
}
