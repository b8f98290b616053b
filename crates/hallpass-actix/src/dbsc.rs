//! The device-binding (DBSC) endpoints as actix-web handlers (crate feature
//! `device-binding`): mount them at the paths the
//! [`DeviceBinding`](hallpass::dbsc::DeviceBinding) configuration names.
//!
//! ```
//! use actix_web::{App, web};
//!
//! let app = App::new()
//!     .route("/hallpass/dbsc/register", web::post().to(hallpass_actix::dbsc::register))
//!     .route("/hallpass/dbsc/refresh", web::post().to(hallpass_actix::dbsc::refresh));
//! # let _ = app;
//! ```

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use hallpass::dbsc::DeviceResponse;

use crate::Session;

/// The registration endpoint (`POST`).
pub async fn register(session: Session, request: HttpRequest) -> HttpResponse {
    respond(session.register_device(&headers(&request)).await)
}

/// The refresh endpoint (`POST`).
pub async fn refresh(session: Session, request: HttpRequest) -> HttpResponse {
    respond(session.refresh_device(&headers(&request)).await)
}

/// The request's header fields as the engine's `http` types (actix-web has its own).
fn headers(request: &HttpRequest) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in request.headers() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            map.append(name, value);
        }
    }
    map
}

fn respond(answer: DeviceResponse) -> HttpResponse {
    let (parts, body) = answer.into_http().into_parts();
    let status =
        StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        response.append_header((name.as_str(), value.as_bytes()));
    }
    response.body(body)
}
