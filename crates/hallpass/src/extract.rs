//! The axum extractor for [`Session`].

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::session::Session;

/// The handler asked for a [`Session`] but no [`SessionLayer`](crate::SessionLayer)
/// wraps the route: a wiring mistake, answered with 500.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error(
    "Session extractor used without SessionLayer: add `.layer(SessionLayer::new(..)?)` to the router"
)]
pub struct MissingSessionLayer(());

impl IntoResponse for MissingSessionLayer {
    fn into_response(self) -> Response {
        tracing::error!(target: "hallpass::rejection", "{self}");
        (StatusCode::INTERNAL_SERVER_ERROR, "session layer missing").into_response()
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = MissingSessionLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or(MissingSessionLayer(()))
    }
}

/// The registration endpoint as an axum handler: mount it at the configured
/// [`registration_path`](crate::dbsc::DeviceBinding::registration_path) for `POST`.
///
/// ```
/// use axum::Router;
/// use axum::routing::post;
///
/// let app: Router = Router::new()
///     .route("/hallpass/dbsc/register", post(hallpass::dbsc::register))
///     .route("/hallpass/dbsc/refresh", post(hallpass::dbsc::refresh));
/// # let _ = app;
/// ```
#[cfg(feature = "device-binding")]
pub async fn register(session: Session, headers: http::HeaderMap) -> crate::dbsc::DeviceResponse {
    session.register_device(&headers).await
}

/// The refresh endpoint as an axum handler: mount it at the configured
/// [`refresh_path`](crate::dbsc::DeviceBinding::refresh_path) for `POST` (see
/// [`register`]).
#[cfg(feature = "device-binding")]
pub async fn refresh(session: Session, headers: http::HeaderMap) -> crate::dbsc::DeviceResponse {
    session.refresh_device(&headers).await
}
