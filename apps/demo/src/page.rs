//! What every page shares: rendering a template, and [`PageError`], a failure shown
//! to a person as the error page. Its own module so the pages, the login guard and
//! the account rules can all use it without importing each other.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use hallpass::SessionError;

use crate::account::AccountError;

/// A page-level failure: a status and a short message for a person.
#[derive(Debug)]
pub(crate) struct PageError {
    pub(crate) status: StatusCode,
    pub(crate) message: &'static str,
}

impl PageError {
    pub(crate) const fn new(status: StatusCode, message: &'static str) -> Self {
        Self { status, message }
    }

    pub(crate) const fn bad_csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
        )
    }
}

impl From<SessionError> for PageError {
    fn from(err: SessionError) -> Self {
        let (status, message) = crate::error::session_message(&err);
        Self { status, message }
    }
}

impl From<AccountError> for PageError {
    /// What a person reads for each account failure.
    fn from(err: AccountError) -> Self {
        let status = err.status();
        let message = match err {
            AccountError::Session(err) => return err.into(),
            AccountError::WrongCredentials => "Wrong username or password.",
            AccountError::Busy => {
                "Too many people are logging in right now. Try again in a moment."
            }
            AccountError::NotYours => "No such session of yours.",
            AccountError::WrongCurrentPassword => "The current password is wrong.",
            AccountError::BadNewPassword(_) => "The new password must be 8 to 1024 bytes long.",
            AccountError::HashFailed => "The password could not be changed.",
        };
        Self { status, message }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    user: Option<&'a str>,
    csrf: &'a str,
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            user: None,
            csrf: "",
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or("Error"),
            message: self.message,
        };
        (self.status, render(&page)).into_response()
    }
}

pub(crate) fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(target: "hallpass_demo::error", error = %err, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}
