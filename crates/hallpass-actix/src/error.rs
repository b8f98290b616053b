//! Errors as actix responses: [`Error`] for session operations, and
//! [`MissingSessionMiddleware`] for a wiring mistake.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// A session operation failed, as an actix response: the status and body every
/// hallpass adapter answers ([`hallpass::SessionError::answer`]) — 503 when the store
/// is unavailable, 401 when no one is logged in, 409 for a refused or ended session,
/// 500 otherwise; the body names the class of failure, the cause goes to the log.
///
/// # Examples
///
/// ```
/// use actix_web::ResponseError;
///
/// let err = hallpass_actix::Error::from(hallpass::SessionError::NotAuthenticated);
/// assert_eq!(err.status_code().as_u16(), 401);
/// assert!(matches!(err.session_error(), hallpass::SessionError::NotAuthenticated));
/// ```
#[derive(Debug)]
pub struct Error(hallpass::SessionError);

impl Error {
    /// The session error this response stands for.
    #[must_use]
    pub fn session_error(&self) -> &hallpass::SessionError {
        &self.0
    }

    /// The session error, owned.
    #[must_use]
    pub fn into_session_error(self) -> hallpass::SessionError {
        self.0
    }
}

impl From<hallpass::SessionError> for Error {
    fn from(err: hallpass::SessionError) -> Self {
        Self(err)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// An `http` 1 status as actix-web's (which is on `http` 0.2).
pub(crate) fn status(status: http::StatusCode) -> StatusCode {
    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        status(self.0.status())
    }

    fn error_response(&self) -> HttpResponse {
        let (code, body) = self.0.answer();
        HttpResponse::build(status(code))
            .content_type("text/plain; charset=utf-8")
            .body(body)
    }
}

/// A handler asked for a [`Session`](crate::Session) but no
/// [`SessionMiddleware`](crate::SessionMiddleware) wraps it: a wiring mistake,
/// answered with 500 and logged.
///
/// # Examples
///
/// ```
/// use actix_web::ResponseError;
/// use actix_web::test::TestRequest;
/// use actix_web::FromRequest;
///
/// # actix_rt::System::new().block_on(async {
/// let request = TestRequest::default().to_http_request();
/// let missing = hallpass_actix::Session::extract(&request).await.unwrap_err();
/// assert_eq!(missing.status_code().as_u16(), 500);
/// # });
/// ```
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error(
    "Session extractor used without SessionMiddleware: add `.wrap(SessionMiddleware::new(..)?)` to the App"
)]
pub struct MissingSessionMiddleware(pub(crate) ());

impl ResponseError for MissingSessionMiddleware {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        tracing::error!(target: "hallpass::rejection", "{self}");
        HttpResponse::InternalServerError().body("session middleware missing")
    }
}
