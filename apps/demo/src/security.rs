//! The layers every response passes through: security headers, the same-origin
//! guard for state-changing requests, and a request log that never sees a cookie.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// SR-48: logout tells the browser to drop this origin's cache, cookies and storage
/// too, so nothing of the session outlives it on a shared computer. (It clears the
/// whole origin: fine for an app on its own hostname, as SECURITY-MODEL.md asks.)
pub(crate) const CLEAR_SITE_DATA: (HeaderName, HeaderValue) = (
    HeaderName::from_static("clear-site-data"),
    HeaderValue::from_static("\"cache\", \"cookies\", \"storage\""),
);

/// No script, no framing, no third party: styles and images from this origin only,
/// forms post only back here (SR-47 context; AT-13 clickjacking).
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Two years, subdomains included, only ever sent over TLS.
pub(crate) const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000; includeSubDomains";

/// Adds the security headers; `Cache-Control: no-store` unless a route chose its own
/// (only the stylesheet does), so no session-bearing page is ever cached (SR-47).
pub(crate) async fn headers(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        headers,
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    if app.tls {
        set(
            headers,
            header::STRICT_TRANSPORT_SECURITY,
            STRICT_TRANSPORT_SECURITY,
        );
    }
    response
}

/// Why a state-changing request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CrossSite {
    /// `Sec-Fetch-Site` says the request came from another site (or a sibling one).
    FetchSite,
    /// `Origin` names another origin, or `null`.
    Origin,
}

/// Decides whether a request that changes state may proceed (SR-44, AT-11).
///
/// - `Sec-Fetch-Site` (set by the browser, out of a page's reach) other than
///   `same-origin` or `none` is refused; a sibling subdomain, `same-site`, is refused
///   too: it is where cookie-tossing attacks start.
/// - An `Origin` naming another origin is refused. `Origin: null` passes only beside
///   `Sec-Fetch-Site: same-origin`: under our own `Referrer-Policy: no-referrer`,
///   browsers send `null` with same-origin form posts.
/// - A request with neither header is not from a browser that could be tricked into
///   sending it (every current browser sends one of them with a cross-site POST), so
///   it passes; forms check their CSRF token as well.
pub(crate) fn cross_site(request: &Request, tls: bool, behind_proxy: bool) -> Option<CrossSite> {
    let headers = request.headers();
    let fetch_site = headers.get("sec-fetch-site").map(HeaderValue::as_bytes);
    if fetch_site.is_some_and(|site| !matches!(site, b"same-origin" | b"none")) {
        return Some(CrossSite::FetchSite);
    }
    let origin = headers.get(header::ORIGIN)?.as_bytes();
    if origin == b"null" && fetch_site == Some(b"same-origin") {
        return None;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let Some(host) = host else {
        return Some(CrossSite::Origin);
    };
    let same = |scheme: &str| {
        origin.len() == scheme.len() + 3 + host.len()
            && origin.starts_with(scheme.as_bytes())
            && origin[scheme.len()..].starts_with(b"://")
            && origin[scheme.len() + 3..].eq_ignore_ascii_case(host.as_bytes())
    };
    // Behind a TLS-terminating proxy the scheme the browser used is not ours to see.
    let ok = if behind_proxy {
        same("https") || same("http")
    } else if tls {
        same("https")
    } else {
        same("http")
    };
    (!ok).then_some(CrossSite::Origin)
}

/// Refuses cross-site state-changing requests with 403 before any session is touched.
pub(crate) async fn same_origin(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // The device-binding endpoints are POSTed by the browser itself, not by a page:
    // a forged one gets nothing (a registration needs a challenge only the
    // session's own login response carried, a refresh a proof by the bound key).
    let device = matches!(
        request.uri().path(),
        crate::device::DEVICE_REGISTRATION | crate::device::DEVICE_REFRESH
    );
    let safe = device
        || matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        );
    let refused = if safe {
        None
    } else {
        cross_site(&request, app.tls, app.behind_proxy)
    };
    let Some(why) = refused else {
        return next.run(request).await;
    };
    tracing::warn!(target: "hallpass_demo::http", method = %request.method(), path = request.uri().path(), reason = ?why, "cross-site request refused");
    if request.uri().path().starts_with("/api/") {
        ApiError::new(StatusCode::FORBIDDEN, "cross-site request refused").into_response()
    } else {
        (
            StatusCode::FORBIDDEN,
            "403 Forbidden: cross-site request refused\n",
        )
            .into_response()
    }
}

/// One line per request: method, path (never the query), status, time. Headers,
/// and so cookies, are never logged.
pub(crate) async fn log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    tracing::info!(
        target: "hallpass_demo::http",
        %method,
        path,
        status = response.status().as_u16(),
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().method("POST").uri("/api/logout");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn only_this_origin_may_change_state() {
        let host = ("host", "127.0.0.1:3000");
        assert_eq!(cross_site(&post(&[host]), false, false), None);
        assert_eq!(
            cross_site(
                &post(&[host, ("origin", "http://127.0.0.1:3000")]),
                false,
                false
            ),
            None
        );
        for origin in [
            "http://evil.example",
            "https://127.0.0.1:3000",
            "http://127.0.0.1:3001",
            "http://127.0.0.1:3000.evil",
            "null",
            "",
        ] {
            assert_eq!(
                cross_site(&post(&[host, ("origin", origin)]), false, false),
                Some(CrossSite::Origin),
                "{origin}"
            );
        }
        assert_eq!(
            cross_site(
                &post(&[host, ("origin", "https://127.0.0.1:3000")]),
                true,
                false
            ),
            None
        );
        assert_eq!(
            cross_site(
                &post(&[host, ("origin", "https://127.0.0.1:3000")]),
                false,
                true
            ),
            None
        );
        // No Host to compare with: an Origin cannot be shown to be ours.
        assert_eq!(
            cross_site(&post(&[("origin", "http://127.0.0.1:3000")]), false, false),
            Some(CrossSite::Origin)
        );
    }

    #[test]
    fn fetch_metadata_refuses_other_sites() {
        let host = ("host", "localhost:3000");
        for site in ["cross-site", "same-site", "bogus"] {
            assert_eq!(
                cross_site(&post(&[host, ("sec-fetch-site", site)]), false, false),
                Some(CrossSite::FetchSite),
                "{site}"
            );
        }
        for site in ["same-origin", "none"] {
            assert_eq!(
                cross_site(&post(&[host, ("sec-fetch-site", site)]), false, false),
                None
            );
        }
    }
}
