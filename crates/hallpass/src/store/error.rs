//! The error every store returns: a kind to branch on, and the source kept (H6).

use std::error::Error as StdError;
use std::fmt;

/// What went wrong, broadly; the layer turns [`Unavailable`](Self::Unavailable) and
/// [`Timeout`](Self::Timeout) into 503 and the rest into 500.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The backend cannot be reached or refused the connection.
    Unavailable,
    /// The call took longer than the store's timeout.
    Timeout,
    /// The store is full (a bounded in-memory store with no session it may evict).
    CapacityExceeded,
    /// A stored record could not be decoded, or a delta does not fit the data.
    InvalidData,
    /// Any other backend failure.
    Backend,
}

/// A store call failed.
///
/// # Examples
///
/// ```
/// use hallpass::store::{StoreError, StoreErrorKind};
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
/// let err = StoreError::new(StoreErrorKind::Unavailable, io);
/// assert_eq!(err.kind(), StoreErrorKind::Unavailable);
/// assert!(std::error::Error::source(&err).is_some());
/// ```
pub struct StoreError {
    kind: StoreErrorKind,
    message: Option<&'static str>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl StoreError {
    /// An error of `kind` caused by `source`.
    pub fn new(kind: StoreErrorKind, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            kind,
            message: None,
            source: Some(source.into()),
        }
    }

    /// An error of `kind` with a fixed description and no underlying cause.
    #[must_use]
    pub fn msg(kind: StoreErrorKind, message: &'static str) -> Self {
        Self {
            kind,
            message: Some(message),
            source: None,
        }
    }

    /// A cursor given to [`SessionStore::list_sessions`](crate::store::SessionStore::list_sessions)
    /// that the store did not hand out ([`StoreErrorKind::InvalidData`]).
    ///
    /// ```
    /// let err = hallpass::store::StoreError::bad_cursor();
    /// assert_eq!(err.kind(), hallpass::store::StoreErrorKind::InvalidData);
    /// ```
    #[must_use]
    pub fn bad_cursor() -> Self {
        Self::msg(
            StoreErrorKind::InvalidData,
            "the listing cursor is not one this store handed out",
        )
    }

    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// The delta error behind this one, when a delta did not fit the stored record.
    ///
    /// ```
    /// use hallpass::store::{DeltaError, StoreError};
    ///
    /// let err = StoreError::from(DeltaError::TooLarge { size: 9, max: 8 });
    /// assert_eq!(err.delta_error(), Some(&DeltaError::TooLarge { size: 9, max: 8 }));
    /// ```
    #[must_use]
    pub fn delta_error(&self) -> Option<&crate::delta::DeltaError> {
        self.source.as_deref()?.downcast_ref()
    }

    /// A delta that logs a principal in, given to [`apply`](crate::store::SessionStore::apply).
    #[must_use]
    pub fn login_needs_rotation() -> Self {
        Self::msg(
            StoreErrorKind::InvalidData,
            "a login goes through rotate, never apply",
        )
    }

    /// A key that does not carry the session's handle: given to
    /// [`create`](crate::store::SessionStore::create) for a record of another handle,
    /// or to [`rotate`](crate::store::SessionStore::rotate) as a new key of another
    /// handle ([`StoreErrorKind::InvalidData`]). A session lives under its handle for
    /// its whole life, and every store may key it by that alone.
    ///
    /// ```
    /// use hallpass::Handle;
    /// use hallpass::store::{StoreError, StoreKey};
    ///
    /// let handle = Handle::generate();
    /// assert!(StoreError::check_handle(&StoreKey::random(&handle), &handle).is_ok());
    /// assert!(StoreError::check_handle(&StoreKey::random(&Handle::generate()), &handle).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// This error, when `key`'s handle is not `handle`.
    pub fn check_handle(
        key: &crate::token::StoreKey,
        handle: &crate::token::Handle,
    ) -> Result<(), Self> {
        if key.handle() == handle {
            Ok(())
        } else {
            Err(Self::msg(
                StoreErrorKind::InvalidData,
                "a key opens the session of its own handle only",
            ))
        }
    }

    /// A delta given to [`increment`](crate::store::SessionStore::increment) whose
    /// last op is not an increment ([`StoreErrorKind::InvalidData`]); else the
    /// counter's name.
    ///
    /// ```
    /// use hallpass::store::{Delta, StoreError};
    ///
    /// let mut delta = Delta::default();
    /// delta.remove("views");
    /// assert!(StoreError::check_increment(&delta).is_err());
    /// delta.increment("views", 1);
    /// assert_eq!(StoreError::check_increment(&delta).ok(), Some("views"));
    /// ```
    ///
    /// # Errors
    ///
    /// This error, when the delta's last op is not an increment.
    pub fn check_increment(delta: &crate::delta::Delta) -> Result<&str, Self> {
        match delta.ops.last() {
            Some(crate::delta::Op::Increment { key, .. }) => Ok(key),
            _ => Err(Self::msg(
                StoreErrorKind::InvalidData,
                "increment: the delta's last op is not an increment",
            )),
        }
    }

    /// A delta given to [`take`](crate::store::SessionStore::take) whose last op is
    /// not a take ([`StoreErrorKind::InvalidData`]).
    ///
    /// ```
    /// use hallpass::store::{Delta, StoreError};
    ///
    /// let mut delta = Delta::default();
    /// delta.remove("notice");
    /// assert!(StoreError::check_take(&delta).is_err());
    /// delta.take("notice");
    /// assert_eq!(StoreError::check_take(&delta).ok(), Some("notice"));
    /// ```
    ///
    /// # Errors
    ///
    /// This error, when the delta's last op is not a take.
    pub fn check_take(delta: &crate::delta::Delta) -> Result<&str, Self> {
        match delta.ops.last() {
            Some(crate::delta::Op::Take { key }) => Ok(key),
            _ => Err(Self::msg(
                StoreErrorKind::InvalidData,
                "take: the delta's last op is not a take",
            )),
        }
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            StoreErrorKind::Unavailable => "session store unavailable",
            StoreErrorKind::Timeout => "session store timed out",
            StoreErrorKind::CapacityExceeded => "session store is full",
            StoreErrorKind::InvalidData => "session store holds data that does not fit",
            StoreErrorKind::Backend => "session store failed",
        };
        match (self.message, &self.source) {
            (Some(message), _) => write!(f, "{what}: {message}"),
            (None, Some(source)) => write!(f, "{what}: {source}"),
            (None, None) => f.write_str(what),
        }
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

impl From<crate::delta::DeltaError> for StoreError {
    fn from(source: crate::delta::DeltaError) -> Self {
        Self::new(StoreErrorKind::InvalidData, source)
    }
}
