//! [`SqlOptions`]: what every SQL store takes (table prefix, call timeout, pool
//! size, migration on connect).

use std::time::Duration;

/// Options every SQL store takes.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hallpass_sql::SqlOptions;
///
/// let options = SqlOptions::default().with_table_prefix("myapp_")?.with_call_timeout(Duration::from_secs(2));
/// assert_eq!(options.table("sessions"), "myapp_sessions");
/// # Ok::<(), hallpass_sql::InvalidPrefix>(())
/// ```
#[derive(Clone, Debug)]
pub struct SqlOptions {
    prefix: String,
    call_timeout: Duration,
    max_connections: u32,
    migrate: bool,
}

impl Default for SqlOptions {
    fn default() -> Self {
        Self {
            prefix: "hallpass_".to_owned(),
            call_timeout: Duration::from_secs(5),
            max_connections: 10,
            migrate: true,
        }
    }
}

/// A table prefix with characters other than `a-z`, `0-9` and `_`, or longer than 40.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("table prefix {0:?} must be 1 to 40 characters of a-z, 0-9 and _, starting with a letter")]
pub struct InvalidPrefix(String);

impl InvalidPrefix {
    /// The rejected prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.0
    }
}

impl SqlOptions {
    /// The prefix of every table and index name (default `hallpass_`). Only `a-z`,
    /// `0-9` and `_`, so it can be spliced into SQL safely.
    ///
    /// # Errors
    ///
    /// [`InvalidPrefix`] for anything else.
    pub fn with_table_prefix(mut self, prefix: &str) -> Result<Self, InvalidPrefix> {
        let valid = !prefix.is_empty()
            && prefix.len() <= 40
            && prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(InvalidPrefix(prefix.to_owned()));
        }
        prefix.clone_into(&mut self.prefix);
        Ok(self)
    }

    /// The time limit of every store call, pool wait included (default 5 s).
    #[must_use]
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// The pool size (default 10).
    #[must_use]
    pub fn with_max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Skip the automatic migration on connect (for DBAs who apply the crate's
    /// `sql/<dialect>/*.sql` files themselves, also as `MIGRATIONS` in each dialect module).
    #[must_use]
    pub fn without_migration(mut self) -> Self {
        self.migrate = false;
        self
    }

    /// The table prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `prefix + name`.
    #[must_use]
    pub fn table(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The call timeout.
    #[must_use]
    pub fn call_timeout(&self) -> Duration {
        self.call_timeout
    }

    /// The pool size.
    #[must_use]
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// Whether to migrate on connect.
    #[must_use]
    pub fn migrate(&self) -> bool {
        self.migrate
    }

    /// A migration file's SQL with the default prefix `hallpass_` replaced by this
    /// one. The files name every table and index `hallpass_…`, so they also run as
    /// they are.
    #[must_use]
    pub fn render(&self, sql: &str) -> String {
        sql.replace("hallpass_", &self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_restricted_to_safe_identifiers() {
        for bad in ["", "A_", "x; DROP TABLE y", "1abc", "a-b", &"a".repeat(41)] {
            assert!(
                SqlOptions::default().with_table_prefix(bad).is_err(),
                "{bad}"
            );
        }
        assert!(SqlOptions::default().with_table_prefix("t_123_").is_ok());
    }
}
