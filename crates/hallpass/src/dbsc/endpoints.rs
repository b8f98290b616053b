//! The registration and refresh endpoints' answers, for any framework (the axum
//! handlers that give them live with the axum extractor).

use http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// The answer to a registration or refresh: status, headers and body, for any
/// framework. With the `axum` feature it is a response; elsewhere use
/// [`DeviceResponse::into_http`] or copy its parts.
///
/// Every answer carries `Cache-Control: no-store`. The statuses follow what
/// browsers do with them: 200 with the session instructions (and a new bound
/// cookie), 200 `{"continue":false}` to end the browser's session (logged out,
/// revoked, expired), 403 with `Secure-Session-Challenge` to ask for a (new) proof,
/// another 4xx for a request no browser would send (which also ends its session),
/// and 503 when the store is down (the browser keeps the session and tries later).
#[derive(Clone, Debug)]
pub struct DeviceResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl DeviceResponse {
    pub(crate) fn new(status: StatusCode) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Self {
            status,
            headers,
            body: String::new(),
        }
    }

    pub(crate) fn json(mut self, body: String) -> Self {
        self.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.body = body;
        self
    }

    pub(crate) fn text(mut self, body: &str) -> Self {
        self.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        self.body = body.to_owned();
        self
    }

    pub(crate) fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        if name == SET_COOKIE {
            self.headers.append(name, value);
        } else {
            self.headers.insert(name, value);
        }
        self
    }

    /// The status.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// // Without device binding configured, the endpoints answer 404.
    /// let answer = session.refresh_device(&http::HeaderMap::new()).await;
    /// assert_eq!(answer.status(), http::StatusCode::NOT_FOUND);
    /// assert_eq!(answer.headers()[http::header::CACHE_CONTROL], "no-store");
    /// assert_eq!(answer.body(), "device binding is not configured");
    /// # });
    /// ```
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers (`Set-Cookie` values are marked sensitive).
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body: the session instructions, `{"continue":false}`, or a short text.
    #[must_use]
    pub fn body(&self) -> &str {
        &self.body
    }

    /// As an `http` response.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// // Without device binding configured, the endpoints say so.
    /// let answer = session.register_device(&http::HeaderMap::new()).await;
    /// let response = answer.into_http();
    /// assert_eq!(response.status(), http::StatusCode::NOT_FOUND);
    /// assert_eq!(response.headers()[http::header::CACHE_CONTROL], "no-store");
    /// # });
    /// ```
    #[must_use]
    pub fn into_http(self) -> http::Response<String> {
        let mut response = http::Response::new(self.body);
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for DeviceResponse {
    fn into_response(self) -> axum_core::response::Response {
        (self.status, self.headers, self.body).into_response()
    }
}
