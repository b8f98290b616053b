//! [`SessionMiddleware`]: the engine's three steps (begin, run the handler, finish
//! before the response head) as an actix-web middleware. Glue only: the cookie rules,
//! the header merge and the failure policy are the engine's.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{
    CACHE_CONTROL, COOKIE, HeaderMap, HeaderValue, SET_COOKIE, USER_AGENT, VARY,
};
use actix_web::http::{StatusCode, header::HeaderName};
use actix_web::{HttpMessage, HttpResponse};
use hallpass::SessionConfig;
use hallpass::config::ConfigError;
use hallpass::engine::{RequestHead, SessionEngine, SetHeaders, vary_lists_cookie};
use hallpass::store::IntoStore;

use crate::error::status;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Adds sessions to an actix-web `App` or scope.
///
/// # Examples
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use hallpass::{Key, MemoryStore, SessionConfig};
/// use hallpass_actix::{Session, SessionMiddleware};
///
/// let sessions = SessionMiddleware::new(MemoryStore::new(), SessionConfig::new(Key::generate()))?;
/// let app = App::new()
///     .wrap(sessions.clone())
///     .route("/me", web::get().to(|session: Session| async move {
///         let who = session.principal().await?;
///         Ok::<_, hallpass_actix::Error>(HttpResponse::Ok().body(who.map(String::from).unwrap_or_default()))
///     }));
/// # let _ = app;
/// # Ok::<(), hallpass::ConfigError>(())
/// ```
#[must_use]
#[derive(Clone, Debug)]
pub struct SessionMiddleware {
    engine: SessionEngine,
}

impl SessionMiddleware {
    /// Validates `config` and builds the middleware over `store` (a store, or an
    /// `Arc` of one).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an unsafe or inconsistent configuration, with a message
    /// saying how to fix it.
    pub fn new(store: impl IntoStore, config: SessionConfig) -> Result<Self, ConfigError> {
        Ok(Self::from_engine(SessionEngine::new(store, config)?))
    }

    /// The middleware over an engine built elsewhere (one engine can serve a tower
    /// layer and this middleware at once).
    pub fn from_engine(engine: SessionEngine) -> Self {
        Self { engine }
    }

    /// The engine behind the middleware.
    #[must_use]
    pub fn engine(&self) -> &SessionEngine {
        &self.engine
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SessionService {
            service: Rc::new(service),
            engine: self.engine.clone(),
        }))
    }
}

/// The service [`SessionMiddleware`] wraps around each route.
#[derive(Debug)]
pub struct SessionService<S> {
    service: Rc<S>,
    engine: SessionEngine,
}

/// The future [`SessionService`] returns.
type Reply<B> =
    Pin<Box<dyn Future<Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>>>;

/// Every `Cookie` and `X-Forwarded-For` field, the first `User-Agent`,
/// `Secure-Session-Skipped` and the peer.
fn request_head(
    req: &ServiceRequest,
) -> Result<RequestHead<'static>, http::header::InvalidHeaderValue> {
    let headers = req.headers();
    let mut head = RequestHead::new();
    for field in headers.get_all(COOKIE) {
        head.push_cookie(field.as_bytes())?;
    }
    for field in headers.get_all(X_FORWARDED_FOR) {
        head.push_forwarded_for(field.as_bytes())?;
    }
    if let Some(agent) = headers.get(USER_AGENT) {
        head.set_user_agent(agent.as_bytes())?;
    }
    if let Some(skipped) = headers.get("secure-session-skipped") {
        head.set_refresh_skipped(skipped.as_bytes())?;
    }
    head.set_peer(req.peer_addr().map(|addr| addr.ip()));
    Ok(head)
}

/// [`SetHeaders::apply`] for actix's header map: `Set-Cookie` appended (marked
/// sensitive), `Cache-Control: no-store` with a cookie, `Cookie` merged into `Vary`,
/// device binding's headers set.
fn apply(
    set: &SetHeaders,
    headers: &mut HeaderMap,
) -> Result<(), actix_web::http::header::InvalidHeaderValue> {
    if let Some(cookie) = set.set_cookie() {
        let mut value = HeaderValue::from_bytes(cookie.as_bytes())?;
        value.set_sensitive(true);
        headers.append(SET_COOKIE, value);
    }
    if set.no_store() {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if set.vary_cookie() && !vary_lists_cookie(headers.get_all(VARY).map(HeaderValue::as_bytes)) {
        headers.append(VARY, HeaderValue::from_static("Cookie"));
    }
    for (name, value) in set.device_headers() {
        // The engine's names are static, lower-case and valid: the conversion
        // between the two `http` versions cannot fail.
        if let Ok(name) = HeaderName::from_bytes(name.as_str().as_bytes()) {
            headers.insert(name, HeaderValue::from_bytes(value.as_bytes())?);
        }
    }
    Ok(())
}

fn bare<B>(req: ServiceRequest, code: StatusCode) -> ServiceResponse<EitherBody<B>> {
    req.into_response(HttpResponse::new(code))
        .map_into_right_body()
}

/// The handler's response dropped, cookies and all, for a bare `code`.
fn replace<B>(response: ServiceResponse<B>, code: StatusCode) -> ServiceResponse<EitherBody<B>> {
    let (req, _) = response.into_parts();
    ServiceResponse::new(req, HttpResponse::new(code)).map_into_right_body()
}

impl<S, B> Service<ServiceRequest> for SessionService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Reply<B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let head = match request_head(&req) {
            Ok(head) => head,
            Err(err) => {
                // actix and `http` accept the same header bytes, so this is not
                // expected; refuse rather than drop a field.
                tracing::warn!(target: "hallpass::rejection", error = %err, "a request header could not be read");
                return Box::pin(ready(Ok(bare(req, StatusCode::BAD_REQUEST))));
            }
        };
        let (session, commit) = match self.engine.begin(&head) {
            Ok(started) => started,
            Err(rejection) => {
                return Box::pin(ready(Ok(bare(req, status(rejection.status())))));
            }
        };
        req.extensions_mut().insert(session);
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            let mut response = service.call(req).await?;
            match commit.finish().await {
                Ok(set) => match apply(&set, response.headers_mut()) {
                    Ok(()) => Ok(response.map_into_left_body()),
                    Err(err) => {
                        tracing::error!(target: "hallpass::rejection", error = %err, "the session cookie is not a valid actix header value");
                        Ok(replace(response, StatusCode::INTERNAL_SERVER_ERROR))
                    }
                },
                Err(err) => Ok(replace(response, status(err.status()))),
            }
        })
    }
}
