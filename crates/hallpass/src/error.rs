//! Errors a handler sees from [`Session`](crate::Session) methods.

use http::StatusCode;

use crate::store::{StoreError, StoreErrorKind};

/// A session operation failed.
///
/// [`SessionError::answer`] gives the response every adapter sends (with the `axum`
/// feature it is also an axum response): 503 when the store is unavailable
/// or timed out, 401 for [`NotAuthenticated`](Self::NotAuthenticated), 409 for
/// [`TooManySessions`](Self::TooManySessions) and [`Ended`](Self::Ended), 500
/// otherwise. The body never reveals the cause; the cause is logged.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// A value could not be turned into JSON.
    #[error("session value could not be serialized")]
    Serialize(#[source] serde_json::Error),
    /// A stored value does not fit the type asked for.
    #[error("session value {key:?} does not have the requested type")]
    Deserialize {
        /// The data key.
        key: String,
        /// The mismatch.
        #[source]
        source: serde_json::Error,
    },
    /// The data would exceed the configured bound (nothing was changed).
    #[error("session data would be {size} bytes, more than the {max} allowed")]
    DataTooLarge {
        /// The size it would have had.
        size: usize,
        /// The bound.
        max: usize,
    },
    /// An increment met a non-integer or overflowed.
    #[error(transparent)]
    Delta(#[from] crate::delta::DeltaError),
    /// The operation needs a logged-in principal.
    #[error("no one is logged in on this session")]
    NotAuthenticated,
    /// The operation needs a session and there is none.
    #[error("there is no session")]
    NoSession,
    /// The principal already has the maximum number of sessions.
    #[error("the account already has the maximum of {max} sessions")]
    TooManySessions {
        /// The cap.
        max: usize,
    },
    /// The principal's credentials changed, or all its sessions were revoked, after
    /// [`Session::begin_login`](crate::Session::begin_login): the login was refused
    /// and nothing written. Ask for the credentials again.
    #[error("the account's credentials changed while this login was checked")]
    CredentialsChanged,
    /// The session ended (logout, revoke, rotation) while this request ran; the
    /// request's write was dropped rather than bringing it back.
    #[error("the session ended while this request was running")]
    Ended,
    /// The principal authenticated longer ago than the operation allows
    /// ([`Session::require_fresh`](crate::Session::require_fresh)): ask for the
    /// credentials again (a re-authentication page), then retry. Status 401.
    #[error("the login is older than the {max_age:?} this operation allows")]
    StaleAuthentication {
        /// When the principal last authenticated (`None`: not recorded).
        authenticated_at: Option<crate::time::Timestamp>,
        /// The most this operation allows.
        max_age: std::time::Duration,
    },
    /// A data key under [`Session::FLASH_PREFIX`](crate::Session::FLASH_PREFIX)
    /// given to `insert`, `remove` or `increment`: those keys are the flash
    /// values', which only `flash` and `take_flash` touch.
    #[error("session key {key:?} is reserved for flash values and labels")]
    ReservedKey {
        /// The key.
        key: String,
    },
    /// A label that [`Session::label`](crate::Session::label) refuses: a name that
    /// is not [`is_label_name`](crate::label::is_label_name), a value over
    /// [`MAX_LABEL_VALUE`](crate::label::MAX_LABEL_VALUE) bytes, or more than
    /// [`MAX_LABELS`](crate::label::MAX_LABELS) labels. Nothing changes.
    #[error("invalid session label: {reason}")]
    InvalidLabel {
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl SessionError {
    /// A store error, with the delta errors it carries (a bad increment, data over
    /// the bound as the store holds it) turned into their own variants.
    #[must_use]
    pub fn from_store(err: StoreError) -> Self {
        match err.delta_error() {
            Some(crate::delta::DeltaError::TooLarge { size, max }) => Self::DataTooLarge {
                size: *size,
                max: *max,
            },
            Some(
                delta @ (crate::delta::DeltaError::NotAnInteger { .. }
                | crate::delta::DeltaError::Overflow { .. }),
            ) => Self::Delta(delta.clone()),
            _ => Self::Store(err),
        }
    }

    /// The error for a login the store did not admit.
    #[must_use]
    pub fn refused(refusal: crate::store::Refusal) -> Self {
        match refusal {
            crate::store::Refusal::TooManySessions { max } => Self::TooManySessions { max },
            _ => Self::CredentialsChanged,
        }
    }

    /// The HTTP status this error maps to.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Store(err)
                if matches!(
                    err.kind(),
                    StoreErrorKind::Unavailable
                        | StoreErrorKind::Timeout
                        | StoreErrorKind::CapacityExceeded
                ) =>
            {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::NotAuthenticated | Self::StaleAuthentication { .. } => StatusCode::UNAUTHORIZED,
            Self::TooManySessions { .. } | Self::Ended | Self::CredentialsChanged => {
                StatusCode::CONFLICT
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl SessionError {
    /// What a framework adapter answers for this error: [`SessionError::status`] and
    /// a short body that names the class of failure and nothing else (the cause stays
    /// in the log). Logs the error (target `hallpass::rejection`), so every adapter
    /// reports it the same way.
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::SessionError;
    ///
    /// let (status, body) = SessionError::NotAuthenticated.answer();
    /// assert_eq!((status.as_u16(), body), (401, "not logged in"));
    /// ```
    #[must_use]
    pub fn answer(&self) -> (StatusCode, &'static str) {
        let status = self.status();
        tracing::warn!(target: "hallpass::rejection", status = status.as_u16(), error = %self, "session operation failed");
        let body = match (self, status) {
            (Self::StaleAuthentication { .. }, _) => "re-authentication required",
            (_, StatusCode::SERVICE_UNAVAILABLE) => "session store unavailable",
            (_, StatusCode::UNAUTHORIZED) => "not logged in",
            (_, StatusCode::CONFLICT) => "session conflict",
            _ => "session error",
        };
        (status, body)
    }
}

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl axum_core::response::IntoResponse for SessionError {
    fn into_response(self) -> axum_core::response::Response {
        self.answer().into_response()
    }
}
