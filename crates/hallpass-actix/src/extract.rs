//! The [`Session`] extractor.

use std::future::{Ready, ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::error::MissingSessionMiddleware;

/// The request's session, for actix-web handlers. Dereferences to
/// [`hallpass::Session`], so every session method is available; `?` turns its
/// errors into [`Error`](crate::Error) responses.
///
/// Cheap to clone (clones share the request's session). Needs
/// [`SessionMiddleware`](crate::SessionMiddleware) around the route; without it,
/// extraction fails with [`MissingSessionMiddleware`] (500).
///
/// # Examples
///
/// ```
/// use actix_web::HttpResponse;
/// use hallpass_actix::{Error, Session};
///
/// async fn log_in(session: Session) -> Result<HttpResponse, Error> {
///     // … check the credentials first …
///     session.login("alice").await?;
///     Ok(HttpResponse::SeeOther().insert_header(("Location", "/")).finish())
/// }
///
/// async fn log_out(session: Session) -> Result<HttpResponse, Error> {
///     session.logout().await?;
///     Ok(HttpResponse::Ok().body("bye"))
/// }
/// # let _ = (log_in, log_out);
/// ```
#[derive(Clone, Debug)]
pub struct Session(hallpass::Session);

impl Session {
    /// The engine's session, owned.
    #[must_use]
    pub fn into_inner(self) -> hallpass::Session {
        self.0
    }
}

impl Deref for Session {
    type Target = hallpass::Session;

    fn deref(&self) -> &hallpass::Session {
        &self.0
    }
}

impl FromRequest for Session {
    type Error = MissingSessionMiddleware;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<hallpass::Session>()
                .cloned()
                .map(Self)
                .ok_or(MissingSessionMiddleware(())),
        )
    }
}
