//! The session engine: everything between "a request arrived" and "the response head
//! is about to go out", in terms of `http` types and the store trait only. The tower
//! layer is a thin adapter over [`SessionEngine::begin`] and [`Session::commit`], so
//! another framework's adapter needs nothing from tower or axum.

use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{CACHE_CONTROL, SET_COOKIE, USER_AGENT, VARY};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::codec;
use crate::config::{ConfigError, SameSite, SessionConfig};
use crate::cookie_header::{self, Found, TooLarge};
use crate::events::{self, Event, InvalidReason};
use crate::session::{Candidate, Session};
use crate::store::SessionStore;

/// Browsers cap cookie lifetimes at 400 days (RFC 6265bis §5.5).
const MAX_COOKIE_AGE: Duration = Duration::from_secs(400 * 24 * 3600);

/// The validated configuration plus the store: builds a [`Session`] per request.
///
/// Cheap to clone. Use it directly to integrate a framework other than tower/axum;
/// with tower, use [`SessionLayer`](crate::SessionLayer), which wraps it.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use hallpass::{Key, Keyring, MemoryStore, SessionConfig, SessionEngine};
/// use http::HeaderMap;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let engine = SessionEngine::new(Arc::new(MemoryStore::new()), SessionConfig::new(Keyring::new(Key::generate())))?;
/// let session = engine.begin(&HeaderMap::new(), None).unwrap();
/// session.insert("views", 1).await?;
/// let mut response_headers = HeaderMap::new();
/// session.commit(&mut response_headers).await.unwrap();
/// assert!(response_headers.contains_key(http::header::SET_COOKIE));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct SessionEngine {
    pub(crate) inner: Arc<EngineInner>,
}

pub(crate) struct EngineInner {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) config: SessionConfig,
    /// `; Path=/; Secure; HttpOnly; SameSite=Strict` and so on, built once.
    attributes: String,
}

impl SessionEngine {
    /// Validates `config` and pairs it with `store`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an unsafe or inconsistent configuration.
    pub fn new(store: Arc<dyn SessionStore>, config: SessionConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut attributes = String::new();
        // Writing to a String cannot fail.
        let _ = write!(attributes, "; Path={}", config.path);
        if let Some(domain) = &config.domain {
            let _ = write!(attributes, "; Domain={domain}");
        }
        if config.secure {
            attributes.push_str("; Secure");
        }
        attributes.push_str("; HttpOnly");
        attributes.push_str(match config.same_site {
            SameSite::Strict => "; SameSite=Strict",
            SameSite::Lax => "; SameSite=Lax",
            SameSite::None => "; SameSite=None",
        });
        Ok(Self {
            inner: Arc::new(EngineInner {
                store,
                config,
                attributes,
            }),
        })
    }

    /// The store sessions live in.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.inner.store
    }

    /// Starts a request: finds and verifies the session cookie (no store call yet).
    /// `peer` is the TCP peer address; the trusted-proxy setting decides whether
    /// `X-Forwarded-For` is believed.
    ///
    /// # Errors
    ///
    /// [`TooLarge`] when the `Cookie` header exceeds the bound: answer 431.
    pub fn begin(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Result<Session, TooLarge> {
        let config = &self.inner.config;
        let found =
            cookie_header::find(headers, &config.cookie_name, config.max_cookie_header_bytes)?;
        let ip = crate::client_ip::resolve(headers, peer, &config.trusted_proxies);
        let user_agent = headers.get(USER_AGENT).cloned();
        let hook = config.hook.as_ref();
        let (candidates, duplicated, presented) = match found {
            Found::None => (Vec::new(), false, false),
            Found::TooMany => {
                events::emit(
                    hook,
                    &Event::DuplicateCookie {
                        values: cookie_header::MAX_CANDIDATES + 1,
                        live: 0,
                        ip,
                    },
                );
                (Vec::new(), true, true)
            }
            Found::Values(values) => {
                let mut candidates = Vec::with_capacity(values.len());
                for value in &values {
                    match codec::decode(&config.keyring, &config.cookie_name, value) {
                        Ok(verified) => candidates.push(Candidate::from(verified)),
                        Err(rejected) => {
                            tracing::debug!(target: "hallpass::event", reason = rejected.as_str(), "session cookie rejected");
                            let reason = match rejected {
                                codec::Rejected::Malformed => InvalidReason::Malformed,
                                codec::Rejected::UnknownVersion => InvalidReason::UnknownVersion,
                                codec::Rejected::BadTag => InvalidReason::BadSignature,
                            };
                            events::emit(hook, &Event::InvalidToken { reason, ip });
                        }
                    }
                }
                if values.len() > 1 && candidates.len() <= 1 {
                    // With two or more verified values the count of live ones is
                    // reported once they are loaded.
                    events::emit(
                        hook,
                        &Event::DuplicateCookie {
                            values: values.len(),
                            live: 0,
                            ip,
                        },
                    );
                }
                (candidates, values.len() > 1, true)
            }
        };
        Ok(Session::new(
            self.clone(),
            candidates,
            duplicated,
            presented,
            ip,
            user_agent,
        ))
    }

    /// A `Set-Cookie` value carrying `value` with the configured attributes.
    pub(crate) fn set_cookie(&self, value: &str, max_age: Option<Duration>) -> Option<HeaderValue> {
        let name = &self.inner.config.cookie_name;
        let mut text =
            String::with_capacity(name.len() + value.len() + self.inner.attributes.len() + 24);
        text.push_str(name);
        text.push('=');
        text.push_str(value);
        if let Some(age) = max_age {
            let _ = write!(text, "; Max-Age={}", age.min(MAX_COOKIE_AGE).as_secs());
        }
        text.push_str(&self.inner.attributes);
        let mut header = HeaderValue::from_str(&text).ok()?;
        header.set_sensitive(true);
        Some(header)
    }

    /// The deletion cookie: same name and attributes, empty value, expired (SR-23).
    pub(crate) fn deletion_cookie(&self) -> Option<HeaderValue> {
        let name = &self.inner.config.cookie_name;
        let text = format!(
            "{name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{}",
            self.inner.attributes
        );
        HeaderValue::from_str(&text).ok()
    }

    /// Adds the session headers a committed response needs.
    pub(crate) fn decorate(headers: &mut HeaderMap, set_cookie: Option<HeaderValue>, read: bool) {
        if let Some(cookie) = set_cookie {
            headers.append(SET_COOKIE, cookie);
            // SR-47: nothing that sets the session cookie may be cached.
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        if read {
            let already = headers.get_all(VARY).iter().any(|v| {
                v.to_str().is_ok_and(|v| {
                    v.split(',')
                        .any(|p| p.trim().eq_ignore_ascii_case("cookie") || p.trim() == "*")
                })
            });
            if !already {
                headers.append(VARY, HeaderValue::from_static("Cookie"));
            }
        }
    }
}

impl fmt::Debug for SessionEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionEngine")
            .field("store", &self.inner.store)
            .field("config", &self.inner.config)
            .finish()
    }
}

/// A session could not be committed before the response head: the response must be
/// replaced by [`CommitError::status`] with no `Set-Cookie`.
#[derive(Debug, thiserror::Error)]
#[error("the session could not be committed: {source}")]
pub struct CommitError {
    status: StatusCode,
    #[source]
    source: crate::SessionError,
}

impl CommitError {
    pub(crate) fn new(source: crate::SessionError) -> Self {
        Self {
            status: source.status(),
            source,
        }
    }

    /// The status to answer with: 503 when the store is unavailable, else 500.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }
}
