//! [`RedisOptions`]: key prefix, call timeout, and the eviction-policy opt-in.

use std::time::Duration;

/// Options of a Redis store.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let options = hallpass_redis::RedisOptions::default()
///     .with_prefix("myapp:sessions:")?
///     .with_call_timeout(Duration::from_millis(500));
/// # Ok::<(), hallpass_redis::InvalidPrefix>(())
/// ```
#[derive(Clone, Debug)]
pub struct RedisOptions {
    pub(crate) prefix: String,
    pub(crate) call_timeout: Duration,
    pub(crate) accept_evicting_policy: bool,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "hallpass:".to_owned(),
            call_timeout: Duration::from_secs(2),
            accept_evicting_policy: false,
        }
    }
}

/// A key prefix with `{`, `}` or control characters, or longer than 100 bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("key prefix {0:?} must be 1 to 100 printable ASCII characters without braces")]
pub struct InvalidPrefix(String);

impl RedisOptions {
    /// The prefix of every key (default `hallpass:`). Braces are refused: they would
    /// change the hash tag that keeps a session's keys together.
    ///
    /// # Errors
    ///
    /// [`InvalidPrefix`].
    pub fn with_prefix(mut self, prefix: &str) -> Result<Self, InvalidPrefix> {
        let valid = !prefix.is_empty()
            && prefix.len() <= 100
            && prefix
                .bytes()
                .all(|b| (0x21..0x7f).contains(&b) && b != b'{' && b != b'}');
        if !valid {
            return Err(InvalidPrefix(prefix.to_owned()));
        }
        prefix.clone_into(&mut self.prefix);
        Ok(self)
    }

    /// The time limit of every store call (default 2 s).
    #[must_use]
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Connects even when the server's `maxmemory-policy` is an `allkeys-*` policy,
    /// which can evict the principal index and generation keys under memory
    /// pressure: "log out everywhere", revoke-all and the cap then silently miss
    /// sessions. Only for a server that never reaches `maxmemory`.
    ///
    /// ```
    /// let options = hallpass_redis::RedisOptions::default().dangerous_accept_evicting_policy();
    /// # let _ = options;
    /// ```
    #[must_use]
    pub fn dangerous_accept_evicting_policy(mut self) -> Self {
        self.accept_evicting_policy = true;
        self
    }

    /// The prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}
