//! The end of a request: [`Commit`], what it yields ([`SetHeaders`]) and the two ways
//! a request is refused ([`Rejection`] before the handler, [`CommitError`] after it).
//! The failure policy lives here, so every adapter applies the same one.

use std::fmt;
use std::future::{Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::cookie::TooLarge;
use crate::error::SessionError;
use crate::session::{Finished, Session};

/// The handler's half of a request is done: write the session and learn the
/// response headers. Consumed by [`Commit::finish`], so a session is committed at
/// most once per request by construction.
///
/// Dropping a `Commit` without finishing it writes nothing: the handler's
/// `insert`/`remove` are lost and the response carries no cookie (increments,
/// logins, logouts and revocations went to the store when they were called).
#[must_use = "nothing the handler set is written until the Commit is finished"]
#[derive(Debug)]
pub struct Commit {
    session: Session,
}

impl Commit {
    pub(crate) fn new(session: Session) -> Self {
        Self { session }
    }

    /// Writes what the request changed, before the response head is sent, and says
    /// which headers the response needs.
    ///
    /// # Errors
    ///
    /// [`CommitError`] when a store write failed (or the store was down on load and
    /// the engine fails closed): the adapter must answer [`CommitError::status`] with
    /// an empty body and no `Set-Cookie`, instead of the handler's response. The
    /// error is already logged (target `hallpass::rejection`).
    pub fn finish(self) -> Finish {
        // Most requests need no store call here: they are answered without the
        // commit's future, which is large (boxed only when it is needed).
        let state = match self.session.finish_now() {
            Some(done) => FinishState::Done(std::future::ready(headers_or_rejection(done))),
            None => FinishState::Writing(Box::pin(async move {
                headers_or_rejection(self.session.finish().await)
            })),
        };
        Finish { state }
    }
}

/// The future [`Commit::finish`] returns: ready at once when the request has
/// nothing to write (no allocation then), else the commit's store calls.
///
/// ```
/// use hallpass::{Key, MemoryStore, SessionConfig};
/// use hallpass::engine::{Finish, RequestHead, SessionEngine};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let engine = SessionEngine::new(MemoryStore::new(), SessionConfig::new(Key::generate()))?;
/// let (_session, commit) = engine.begin(&RequestHead::new())?;
/// let finish: Finish = commit.finish();
/// let headers = finish.await?;
/// assert!(headers.set_cookie().is_none(), "nothing was stored");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[must_use = "a future does nothing unless polled"]
pub struct Finish {
    state: FinishState,
}

type Finishing = Pin<Box<dyn Future<Output = Result<SetHeaders, CommitError>> + Send>>;

enum FinishState {
    Done(Ready<Result<SetHeaders, CommitError>>),
    Writing(Finishing),
}

impl Finish {
    /// Whether the commit was done without a store call.
    #[cfg(test)]
    pub(crate) fn needs_no_store(&self) -> bool {
        matches!(self.state, FinishState::Done(_))
    }
}

impl fmt::Debug for Finish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            FinishState::Done(_) => "done",
            FinishState::Writing(_) => "writing",
        };
        f.debug_struct("Finish").field("state", &state).finish()
    }
}

impl Future for Finish {
    type Output = Result<SetHeaders, CommitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            // Like any future, not to be polled again once it completed.
            FinishState::Done(done) => Pin::new(done).poll(cx),
            FinishState::Writing(writing) => writing.as_mut().poll(cx),
        }
    }
}

/// The failure policy: a failed commit is logged and becomes the status to answer.
fn headers_or_rejection(
    finished: Result<Finished, SessionError>,
) -> Result<SetHeaders, CommitError> {
    match finished {
        Ok(finished) => Ok(SetHeaders {
            set_cookie: finished.cookie,
            vary_cookie: finished.vary,
            extra: finished.headers,
        }),
        Err(source) => {
            let err = CommitError {
                status: source.status(),
                source,
            };
            tracing::error!(target: "hallpass::rejection", status = err.status.as_u16(), error = %err, "session commit failed; replacing the response");
            crate::telemetry::rejected(err.status);
            Err(err)
        }
    }
}

/// The session headers of one response: `Set-Cookie` (with `Cache-Control:
/// no-store`, SR-47) when a cookie is set or deleted, and `Vary: Cookie` when the
/// response depends on the session.
///
/// # Examples
///
/// ```
/// use hallpass::{Key, MemoryStore, SessionConfig};
/// use hallpass::engine::{RequestHead, SessionEngine};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let engine = SessionEngine::new(MemoryStore::new(), SessionConfig::new(Key::generate()))?;
/// let (session, commit) = engine.begin(&RequestHead::new())?;
/// session.insert("views", 1).await?;
/// let mut headers = http::HeaderMap::new();
/// headers.insert(http::header::VARY, "Accept-Encoding".parse()?);
/// commit.finish().await?.apply(&mut headers);
/// assert!(headers.contains_key(http::header::SET_COOKIE));
/// assert_eq!(headers[http::header::CACHE_CONTROL], "no-store");
/// let vary: Vec<_> = headers.get_all(http::header::VARY).iter().collect();
/// assert_eq!(vary, ["Accept-Encoding", "Cookie"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[must_use]
#[derive(Debug, Default)]
pub struct SetHeaders {
    pub(super) set_cookie: Option<HeaderValue>,
    pub(super) vary_cookie: bool,
    pub(super) extra: Vec<(HeaderName, HeaderValue)>,
}

impl SetHeaders {
    /// Adds the headers to `headers`: `Set-Cookie` is appended (other cookies stay),
    /// `Cache-Control` is replaced by `no-store` when a cookie is set, and `Cookie` is
    /// added to `Vary` unless it (or `*`) is already listed.
    pub fn apply(self, headers: &mut HeaderMap) {
        if let Some(cookie) = self.set_cookie {
            headers.append(SET_COOKIE, cookie);
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        if self.vary_cookie
            && !vary_lists_cookie(headers.get_all(VARY).iter().map(HeaderValue::as_bytes))
        {
            headers.append(VARY, HeaderValue::from_static("Cookie"));
        }
        for (name, value) in self.extra {
            headers.insert(name, value);
        }
    }

    /// Headers device binding adds (`Secure-Session-Registration` after a login,
    /// `Clear-Site-Data` after a logout), each to be set, replacing any of the same
    /// name. Empty without device binding.
    ///
    /// ```
    /// use hallpass::{Key, MemoryStore, SessionConfig};
    /// use hallpass::engine::{RequestHead, SessionEngine};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let engine = SessionEngine::new(MemoryStore::new(), SessionConfig::new(Key::generate()))?;
    /// let (session, commit) = engine.begin(&RequestHead::new())?;
    /// session.login("alice").await?;
    /// // An adapter with its own header types sets each of them.
    /// assert!(commit.finish().await?.device_headers().is_empty(), "no device binding configured");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    #[must_use]
    pub fn device_headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.extra
    }

    /// The `Set-Cookie` value to append, if any. Marked sensitive: it holds the token.
    #[must_use]
    pub fn set_cookie(&self) -> Option<&HeaderValue> {
        self.set_cookie.as_ref()
    }

    /// `Cache-Control: no-store` must replace any other `Cache-Control`: the response
    /// sets a cookie, so no cache may keep it.
    #[must_use]
    pub fn no_store(&self) -> bool {
        self.set_cookie.is_some()
    }

    /// `Cookie` must be listed in `Vary` (see [`vary_lists_cookie`] for the merge).
    #[must_use]
    pub fn vary_cookie(&self) -> bool {
        self.vary_cookie
    }
}

/// Whether the `Vary` fields already cover `Cookie` (listed in any case, or `*`), so
/// an adapter with its own header types merges `Vary` exactly as
/// [`SetHeaders::apply`] does.
///
/// # Examples
///
/// ```
/// use hallpass::engine::vary_lists_cookie;
///
/// assert!(vary_lists_cookie([&b"Accept-Encoding, cookie"[..]]));
/// assert!(vary_lists_cookie([&b"*"[..]]));
/// assert!(!vary_lists_cookie([&b"Accept-Encoding"[..], &b"Cookies"[..]]));
/// ```
pub fn vary_lists_cookie<'v>(fields: impl IntoIterator<Item = &'v [u8]>) -> bool {
    fields.into_iter().any(|field| {
        field.split(|&b| b == b',').any(|part| {
            let part = part.trim_ascii();
            part.eq_ignore_ascii_case(b"cookie") || part == b"*"
        })
    })
}

/// The engine refused a request before its handler ran: answer [`Rejection::status`]
/// with an empty body and no `Set-Cookie`. Already logged (target
/// `hallpass::rejection`).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// The `Cookie` header fields together exceed
    /// [`SessionConfig::with_max_cookie_header_bytes`](crate::SessionConfig::with_max_cookie_header_bytes):
    /// 431 (SR-34).
    #[error(transparent)]
    CookieHeaderTooLarge(#[from] TooLarge),
}

impl Rejection {
    /// The status to answer with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::CookieHeaderTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        }
    }
}

/// A session could not be committed before the response head: the response must be
/// replaced by [`CommitError::status`] with no `Set-Cookie`.
#[derive(Debug, thiserror::Error)]
#[error("the session could not be committed: {source}")]
pub struct CommitError {
    status: StatusCode,
    #[source]
    source: SessionError,
}

impl CommitError {
    /// The status to answer with: 503 when the store is unavailable, else 500.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }
}
