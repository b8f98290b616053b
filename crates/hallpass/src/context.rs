//! What every request of one engine shares: the store, the validated configuration
//! and the cookie attributes, built once. [`Session`](crate::Session) and the engine
//! both read it; neither owns the other.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::config::{MAX_COOKIE_AGE, SessionConfig};
use crate::store::SessionStore;

const MAX_AGE: &str = "; Max-Age=";

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

    /// A `Set-Cookie` value carrying the cookie value `value` appends (at most
    /// [`codec::VALUE_LEN`](crate::codec::VALUE_LEN) bytes) with the configured
    /// attributes, marked sensitive so trace layers that honour it never print the
    /// token. One allocation: the text is built at its exact length and handed to the
    /// header as it is.
    pub(crate) fn set_cookie(
        &self,
        max_age: Option<Duration>,
        value: impl FnOnce(&mut String),
    ) -> Option<HeaderValue> {
        let name = &self.config.cookie_name;
        let max_age = max_age.map(|age| age.min(MAX_COOKIE_AGE).as_secs());
        let age_len = max_age.map_or(0, |secs| {
            MAX_AGE.len()
                + secs
                    .checked_ilog10()
                    .map_or(1, |digits| digits as usize + 1)
        });
        let len = name.len() + 1 + crate::codec::VALUE_LEN + age_len + self.attributes.len();
        let mut text = String::with_capacity(len);
        text.push_str(name);
        text.push('=');
        value(&mut text);
        if let Some(secs) = max_age {
            let _ = write!(text, "{MAX_AGE}{secs}");
        }
        text.push_str(&self.attributes);
        let mut header = HeaderValue::try_from(text).ok()?;
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
        HeaderValue::try_from(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::Context;
    use crate::config::MAX_COOKIE_AGE;
    use crate::{Key, Keyring, MemoryStore, SessionConfig};

    fn context() -> Context {
        let config = SessionConfig::new(Keyring::new(Key::generate()));
        Context::new(Arc::new(MemoryStore::new()), config)
    }

    #[test]
    fn set_cookie_writes_name_value_max_age_and_attributes_sensitive() {
        let context = context();
        let value = "v".repeat(crate::codec::VALUE_LEN);
        let attributes = context.config.cookie_attributes();
        let name = context.config.cookie_name.clone();
        for (age, shown) in [
            (None, None),
            (Some(Duration::ZERO), Some(0)),
            (Some(Duration::from_secs(9)), Some(9)),
            (Some(Duration::from_secs(10)), Some(10)),
            (Some(Duration::from_millis(43_199_999)), Some(43_199)),
            (Some(Duration::MAX), Some(MAX_COOKIE_AGE.as_secs())),
        ] {
            let header = context
                .set_cookie(age, |text| text.push_str(&value))
                .unwrap();
            let max_age = shown
                .map(|secs| format!("; Max-Age={secs}"))
                .unwrap_or_default();
            assert_eq!(
                header.to_str().unwrap(),
                format!("{name}={value}{max_age}{attributes}")
            );
            assert!(header.is_sensitive());
        }
    }

    #[test]
    fn the_deletion_cookie_expires_the_same_cookie() {
        let context = context();
        let header = context.deletion_cookie().unwrap();
        assert_eq!(
            header.to_str().unwrap(),
            format!(
                "{}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{}",
                context.config.cookie_name,
                context.config.cookie_attributes()
            )
        );
    }
}
