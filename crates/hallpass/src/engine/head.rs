//! [`RequestHead`]: the parts of a request the engine reads.

use std::borrow::Cow;
use std::net::IpAddr;

use http::header::{COOKIE, InvalidHeaderValue, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const SECURE_SESSION_SKIPPED: HeaderName = HeaderName::from_static("secure-session-skipped");

/// What the engine needs from a request: every `Cookie` field, the `User-Agent`,
/// every `X-Forwarded-For` field, the TCP peer address, and (device binding)
/// `Secure-Session-Skipped`.
///
/// Every field counts: several `Cookie` fields are merged (a duplicated session
/// cookie is a defence signal, AT-08), and every `X-Forwarded-For` field is read
/// under the trusted-proxy rule. An adapter that dropped all but the first would
/// silently weaken both, so an adapter over `http` types borrows the whole header
/// map with [`RequestHead::from_http`], and one over other types pushes each field.
///
/// # Examples
///
/// ```
/// use hallpass::engine::RequestHead;
///
/// // A framework with its own header types copies each field in.
/// let mut head = RequestHead::new();
/// head.push_cookie(b"__Host-id=abc; theme=dark")?;
/// head.push_cookie(b"lang=en")?;
/// head.set_user_agent(b"curl/8.5")?;
/// head.set_peer(Some("127.0.0.1".parse()?));
/// assert_eq!(head.cookie_fields().count(), 2);
///
/// // With `http` types, borrow the header map: nothing is copied.
/// let headers = http::HeaderMap::new();
/// let borrowed = hallpass::engine::RequestHead::from_http(&headers, None);
/// assert_eq!(borrowed.cookie_fields().count(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct RequestHead<'a> {
    headers: Cow<'a, HeaderMap>,
    peer: Option<IpAddr>,
}

impl RequestHead<'static> {
    /// An empty head: no cookies, no `User-Agent`, no peer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl<'a> RequestHead<'a> {
    /// Borrows a request's `http` header map (all of its fields) and its peer address.
    #[must_use]
    pub fn from_http(headers: &'a HeaderMap, peer: Option<IpAddr>) -> Self {
        Self {
            headers: Cow::Borrowed(headers),
            peer,
        }
    }

    /// Adds one `Cookie` header field, as it arrived.
    ///
    /// # Errors
    ///
    /// [`InvalidHeaderValue`] when `field` holds bytes no header field may hold.
    pub fn push_cookie(&mut self, field: &[u8]) -> Result<(), InvalidHeaderValue> {
        self.push(COOKIE, field)
    }

    /// Adds one `X-Forwarded-For` header field, as it arrived.
    ///
    /// # Errors
    ///
    /// [`InvalidHeaderValue`] when `field` holds bytes no header field may hold.
    pub fn push_forwarded_for(&mut self, field: &[u8]) -> Result<(), InvalidHeaderValue> {
        self.push(X_FORWARDED_FOR, field)
    }

    /// Sets the `User-Agent` (the first field, when a request has several).
    ///
    /// # Errors
    ///
    /// [`InvalidHeaderValue`] when `value` holds bytes no header field may hold.
    pub fn set_user_agent(&mut self, value: &[u8]) -> Result<(), InvalidHeaderValue> {
        let value = HeaderValue::from_bytes(value)?;
        self.headers.to_mut().insert(USER_AGENT, value);
        Ok(())
    }

    /// Sets the `Secure-Session-Skipped` field (device binding: a browser that skipped
    /// a refresh says so, and the engine logs it).
    ///
    /// ```
    /// let mut head = hallpass::engine::RequestHead::new();
    /// head.set_refresh_skipped(br#"quota_exceeded;session_identifier="s1""#)?;
    /// # Ok::<(), http::header::InvalidHeaderValue>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`InvalidHeaderValue`] when `value` holds bytes no header field may hold.
    pub fn set_refresh_skipped(&mut self, value: &[u8]) -> Result<(), InvalidHeaderValue> {
        let value = HeaderValue::from_bytes(value)?;
        self.headers.to_mut().insert(SECURE_SESSION_SKIPPED, value);
        Ok(())
    }

    /// Sets the TCP peer address: the trusted-proxy setting decides whether
    /// `X-Forwarded-For` is believed over it.
    pub fn set_peer(&mut self, peer: Option<IpAddr>) {
        self.peer = peer;
    }

    /// The TCP peer address.
    #[must_use]
    pub fn peer(&self) -> Option<IpAddr> {
        self.peer
    }

    /// The `Cookie` header fields, in arrival order.
    pub fn cookie_fields(&self) -> impl Iterator<Item = &[u8]> {
        self.headers
            .get_all(COOKIE)
            .iter()
            .map(HeaderValue::as_bytes)
    }

    /// The fields the engine reads, as a header map.
    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn push(&mut self, name: HeaderName, field: &[u8]) -> Result<(), InvalidHeaderValue> {
        let mut value = HeaderValue::from_bytes(field)?;
        if name == COOKIE {
            value.set_sensitive(true);
        }
        self.headers.to_mut().append(name, value);
        Ok(())
    }
}
