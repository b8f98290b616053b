//! Errors as the JSON API answers them: a status and `{"error": "…"}`.
//!
//! The body says what the client can act on and never why the server failed (H8):
//! a store error is logged with its cause and answered with a generic message.

use std::borrow::Cow;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hallpass::SessionError;
use serde::de::DeserializeOwned;

/// An API failure.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: Cow<'static, str>,
    /// Seconds to send as `Retry-After` (a shed login).
    retry_after: Option<u32>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "not logged in")
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not found")
    }
}

impl From<crate::account::AccountError> for ApiError {
    fn from(err: crate::account::AccountError) -> Self {
        use crate::account::AccountError;
        match err {
            AccountError::Session(err) => Self::from(err),
            AccountError::Busy => Self {
                retry_after: Some(1),
                ..Self::new(err.status(), err.to_string())
            },
            other => Self::new(other.status(), other.to_string()),
        }
    }
}

/// What a session failure tells the client, by status.
pub(crate) fn session_message(err: &SessionError) -> (StatusCode, &'static str) {
    let status = err.status();
    let message = match status {
        StatusCode::SERVICE_UNAVAILABLE => "session store unavailable, try again shortly",
        StatusCode::UNAUTHORIZED => match err {
            SessionError::StaleAuthentication { .. } => {
                "your login is too old for this change: confirm with your password"
            }
            _ => "not logged in",
        },
        StatusCode::CONFLICT => match err {
            SessionError::TooManySessions { .. } => "this account has too many sessions",
            SessionError::CredentialsChanged => {
                "the password changed while you were logging in: log in again"
            }
            _ => "the session ended while the request ran",
        },
        _ => "session error",
    };
    if status.is_server_error() {
        tracing::warn!(target: "hallpass_demo::error", status = status.as_u16(), error = %err, "session operation failed");
    }
    (status, message)
}

impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        let (status, message) = session_message(&err);
        Self::new(status, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// `axum::Json`, with rejections (wrong content type, bad JSON) answered as JSON too.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(rejection_error(&rejection)),
        }
    }
}

fn rejection_error(rejection: &JsonRejection) -> ApiError {
    let message = match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "the body must be JSON, sent with Content-Type: application/json".to_owned()
        }
        other => other.body_text(),
    };
    ApiError::new(rejection.status(), message)
}
