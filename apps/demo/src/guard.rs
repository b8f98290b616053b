//! [`Authenticated`]: the one login guard of the API and the pages.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use hallpass::{Session, SessionError};

use crate::error::ApiError;
use crate::page::PageError;

/// A request of a logged-in user: the session and who it is logged in as.
///
/// The one login guard: a handler that takes it runs only for a logged-in session.
/// Otherwise the answer is 401 (JSON) under `/api/`, and a redirect to `/login` for
/// a page.
#[derive(Clone, Debug)]
pub(crate) struct Authenticated {
    pub(crate) session: Session,
    pub(crate) user: hallpass::store::Principal,
}

/// Why [`Authenticated`] refused a request.
#[derive(Debug)]
pub(crate) enum NotLoggedIn {
    /// Under `/api/`: 401.
    Api,
    /// A page: to the login form.
    Page,
    /// Loading the session failed (`true`: under `/api/`).
    Session(SessionError, bool),
    /// The route has no session layer: a wiring mistake.
    NoLayer(hallpass::tower::MissingSessionLayer),
}

impl IntoResponse for NotLoggedIn {
    fn into_response(self) -> Response {
        match self {
            Self::Api => ApiError::unauthorized().into_response(),
            Self::Page => Redirect::to("/login").into_response(),
            Self::Session(err, true) => ApiError::from(err).into_response(),
            Self::Session(err, false) => PageError::from(err).into_response(),
            Self::NoLayer(missing) => missing.into_response(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = NotLoggedIn;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let api = parts.uri.path().starts_with("/api/");
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(NotLoggedIn::NoLayer)?;
        match session.principal().await {
            Ok(Some(user)) => Ok(Self { session, user }),
            Ok(None) if api => Err(NotLoggedIn::Api),
            Ok(None) => Err(NotLoggedIn::Page),
            Err(err) => Err(NotLoggedIn::Session(err, api)),
        }
    }
}
