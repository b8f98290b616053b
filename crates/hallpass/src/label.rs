//! Labels: a few indexed name/value pairs a session carries (an OpenID Connect
//! session id, the issuer), so that everything carrying one can be ended at once
//! ([`SessionStore::revoke_label`](crate::store::SessionStore::revoke_label), with
//! [`revoke_listed`](crate::store::revoke_listed)): what
//! OpenID Connect back-channel logout needs.
//!
//! A label is session data under a reserved key, `hallpass.label.<name>`, holding the
//! value as a JSON string, so every store keeps it with the record and drops it with
//! the data (a login as another principal clears it). What a store adds is an index
//! from the pair to the handles of the sessions that were given it, written **before**
//! the write that sets the label. A revoke reads the index, ends each listed session
//! that still carries the label (by handle, wherever a rotation moved it), and
//! forgets what it read; so every session carrying the label when the revoke began
//! ends, and an index entry left by a write that failed ends nothing.

use crate::delta::{Delta, Op};
use crate::record::Record;

/// The data keys labels live under: the label `oidc_sid` is the data key
/// `hallpass.label.oidc_sid`.
pub const LABEL_PREFIX: &str = "hallpass.label.";

/// The longest label name, in bytes.
pub const MAX_LABEL_NAME: usize = 64;

/// The longest label value, in bytes.
pub const MAX_LABEL_VALUE: usize = 256;

/// The most labels one session carries.
pub const MAX_LABELS: usize = 8;

/// Whether `name` is a label name: 1 to [`MAX_LABEL_NAME`] bytes of ASCII letters,
/// digits, `_`, `-` and `.`.
///
/// ```
/// assert!(hallpass::label::is_label_name("oidc_sid"));
/// assert!(!hallpass::label::is_label_name("a b"));
/// assert!(!hallpass::label::is_label_name(""));
/// ```
#[must_use]
pub fn is_label_name(name: &str) -> bool {
    (1..=MAX_LABEL_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The data key of the label `name`.
#[must_use]
pub fn data_key(name: &str) -> String {
    let mut key = String::with_capacity(LABEL_PREFIX.len() + name.len());
    key.push_str(LABEL_PREFIX);
    key.push_str(name);
    key
}

impl Delta {
    /// The labels this delta sets, as `(name, value)`: every [`Op::Set`] of a label
    /// key to a string. A store indexes them before it writes the delta.
    ///
    /// ```
    /// use hallpass::store::Delta;
    ///
    /// let mut delta = Delta::default();
    /// delta.set("hallpass.label.oidc_sid", "abc".into());
    /// delta.set("theme", "dark".into());
    /// assert_eq!(delta.labels().collect::<Vec<_>>(), [("oidc_sid", "abc")]);
    /// ```
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.ops.iter().filter_map(|op| match op {
            Op::Set { key, value } => Some((key.strip_prefix(LABEL_PREFIX)?, value.as_str()?)),
            _ => None,
        })
    }
}

impl Record {
    /// The labels the session carries, as `(name, value)`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use hallpass::Handle;
    /// # use hallpass::store::Record;
    /// # use hallpass::time::Timestamp;
    /// let mut record = Record::new(Handle::generate(), Timestamp::from_unix_millis(0),
    ///     Duration::from_secs(60), Duration::from_secs(600));
    /// record.data.insert("hallpass.label.iss".into(), "https://op.example".into());
    /// assert_eq!(record.labels().collect::<Vec<_>>(), [("iss", "https://op.example")]);
    /// assert_eq!(record.label("iss"), Some("https://op.example"));
    /// ```
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.data
            .iter()
            .filter_map(|(key, value)| Some((key.strip_prefix(LABEL_PREFIX)?, value.as_str()?)))
    }

    /// The value of the label `name`, if the session carries it.
    #[must_use]
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}
