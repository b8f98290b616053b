//! What every request of one engine shares: the store, the validated configuration
//! and the cookie attributes, built once. [`Session`](crate::Session) and the engine
//! both read it; neither owns the other.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::config::{MAX_COOKIE_AGE, SessionConfig};
use crate::store::SessionStore;

pub(crate) struct Context {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) config: SessionConfig,
    /// `; Path=/; Secure; HttpOnly; SameSite=Strict` and so on.
    attributes: String,
}

impl Context {
    /// `config` must have been validated.
    pub(crate) fn new(store: Arc<dyn SessionStore>, config: SessionConfig) -> Self {
        let attributes = config.cookie_attributes();
        Self {
            store: crate::telemetry::metered(store),
            config,
            attributes,
        }
    }

    /// A `Set-Cookie` value carrying `value` with the configured attributes, marked
    /// sensitive so trace layers that honour it never print the token.
    pub(crate) fn set_cookie(&self, value: &str, max_age: Option<Duration>) -> Option<HeaderValue> {
        let name = &self.config.cookie_name;
        let mut text = String::with_capacity(name.len() + value.len() + self.attributes.len() + 24);
        text.push_str(name);
        text.push('=');
        text.push_str(value);
        if let Some(age) = max_age {
            let _ = write!(text, "; Max-Age={}", age.min(MAX_COOKIE_AGE).as_secs());
        }
        text.push_str(&self.attributes);
        let mut header = HeaderValue::from_str(&text).ok()?;
        header.set_sensitive(true);
        Some(header)
    }

    /// The deletion cookie: same name and attributes, empty value, expired (SR-23).
    pub(crate) fn deletion_cookie(&self) -> Option<HeaderValue> {
        let name = &self.config.cookie_name;
        let text = format!(
            "{name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{}",
            self.attributes
        );
        HeaderValue::from_str(&text).ok()
    }
}
