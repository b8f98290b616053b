//! [`SessionService`]: the per-request work of the layer.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::COOKIE;
use http::{HeaderMap, Request, Response, StatusCode};

use super::ClientAddr;
use crate::engine::{RequestHead, SessionEngine};

/// The future [`SessionService`] returns.
pub type ResponseFuture<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>;

/// A service with sessions; built by [`SessionLayer`](super::SessionLayer).
#[derive(Clone, Debug)]
pub struct SessionService<S> {
    inner: S,
    engine: SessionEngine,
}

impl<S> SessionService<S> {
    pub(crate) fn new(inner: S, engine: SessionEngine) -> Self {
        Self { inner, engine }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

fn bare<B: Default>(status: StatusCode) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = status;
    response
}

fn peer_ip<B>(request: &Request<B>) -> Option<IpAddr> {
    if let Some(ClientAddr(addr)) = request.extensions().get::<ClientAddr>() {
        return Some(addr.ip());
    }
    #[cfg(feature = "connect-info")]
    if let Some(info) = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        return Some(info.0.ip());
    }
    None
}

/// H10: keep `Cookie` values out of any trace layer that honours sensitivity.
fn mark_cookies_sensitive(headers: &mut HeaderMap) {
    // Not `entry`: it reserves room for an insert, and a full map grows (allocates)
    // on every request even though nothing is inserted.
    for (name, value) in headers.iter_mut() {
        if name == COOKIE {
            value.set_sensitive(true);
        }
    }
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for SessionService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        mark_cookies_sensitive(request.headers_mut());
        let head = RequestHead::from_http(request.headers(), peer_ip(&request));
        let (session, commit) = match self.engine.begin(&head) {
            Ok(started) => started,
            Err(rejection) => return Box::pin(std::future::ready(Ok(bare(rejection.status())))),
        };
        request.extensions_mut().insert(session);
        // The clone that was polled ready is the one to call (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let mut response = inner.call(request).await?;
            match commit.finish().await {
                Ok(set) => {
                    set.apply(response.headers_mut());
                    Ok(response)
                }
                Err(err) => Ok(bare(err.status())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use http::header::{COOKIE, HOST};
    use http::{HeaderMap, HeaderValue};

    use super::mark_cookies_sensitive;

    #[test]
    fn every_cookie_header_and_only_those_are_marked_sensitive() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1"));
        headers.append(HOST, HeaderValue::from_static("example.com"));
        headers.append(COOKIE, HeaderValue::from_static("b=2"));
        mark_cookies_sensitive(&mut headers);
        let cookies: Vec<_> = headers.get_all(COOKIE).iter().collect();
        assert_eq!(cookies.len(), 2);
        assert!(cookies.iter().all(|value| value.is_sensitive()));
        assert!(!headers[HOST].is_sensitive());
    }

    #[test]
    fn a_request_without_cookies_is_left_as_it_is() {
        let mut headers = HeaderMap::new();
        headers.append(HOST, HeaderValue::from_static("example.com"));
        mark_cookies_sensitive(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(!headers[HOST].is_sensitive());
    }
}
