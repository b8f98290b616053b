//! [`Session`]: one request's view of its session, and the lifecycle rules.
//!
//! - **Lazy**: nothing is loaded until a method needs the record.
//! - **No empty sessions**: a new session is stored only once it holds data or a
//!   principal (SR-18).
//! - **Deltas**: `insert`/`remove` are recorded and sent as one delta at commit;
//!   `increment` goes to the store at once and returns the exact new value.
//! - **No resurrection**: existing sessions are only ever updated-if-present.
//! - **Rotation** (`login`, `rotate`): one atomic store step; the old token dies.

use std::fmt;
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::codec::Verified;
use crate::context::Context;
use crate::delta::{Delta, Touch};
use crate::events::{Event, SessionRef};
use crate::principal::Principal;
use crate::record::{ClientMeta, Record};
use crate::telemetry;
use crate::time::Timestamp;
use crate::token::{Handle, StoreKey, Token};

mod authentication;
mod data;
mod device;
mod finish;
mod flash;
mod labels;
mod lifecycle;
mod load;
mod manage;
mod rotation;

/// How often a colliding token is replaced before giving up (a collision of 256-bit
/// random tokens means the CSPRNG is broken; the retry only guards the contract).
const KEY_RETRIES: usize = 3;

/// The verified values of one request: one, nearly always (inline, no allocation).
pub(crate) type Candidates = smallvec::SmallVec<[Candidate; 1]>;

/// A verified cookie value that may name a live session.
#[derive(Debug)]
pub(crate) struct Candidate {
    handle: Handle,
    token: Token,
    key: StoreKey,
    by_primary: bool,
}

impl Candidate {
    pub(crate) fn handle(&self) -> Handle {
        self.handle
    }
}

impl From<Verified> for Candidate {
    fn from(verified: Verified) -> Self {
        let key = verified.token.store_key(&verified.handle);
        Self {
            handle: verified.handle,
            token: verified.token,
            key,
            by_primary: verified.by_primary,
        }
    }
}

/// What a finished request's response needs.
#[derive(Debug, Default)]
pub(crate) struct Finished {
    /// The `Set-Cookie` value: a new cookie or a deletion cookie.
    pub(crate) cookie: Option<http::HeaderValue>,
    /// The response depends on the session cookie.
    pub(crate) vary: bool,
    /// Device binding's headers: the registration offer, `Clear-Site-Data`.
    pub(crate) headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// The session this request works with.
struct Current {
    token: Token,
    key: StoreKey,
    /// The record as this request sees it (its own changes applied): the store's
    /// shared snapshot until this request changes it.
    record: Arc<Record>,
    /// Whether the store holds it (else it is created at commit, if not empty).
    stored: bool,
    /// Changes not yet sent to the store.
    pending: Delta,
    /// The idle deadline is due to be pushed on.
    needs_touch: bool,
    /// The cookie must be (re-)sent: new token, remember-me change, or old signing key.
    issue_cookie: bool,
    /// The request presented the token a periodic rotation replaced, inside the
    /// grace window (SR-17): `key` is the session's current key, `token` the
    /// replaced one, and the response sets no cookie (the browser holds the newer).
    graced: bool,
}

impl Current {
    fn reference(&self) -> SessionRef {
        SessionRef::of(&self.key)
    }

    /// After a store call that wrote nothing: `delta` was this request's pending
    /// changes plus one op sent at once (an increment, a take) and the call's touch
    /// and bound; the pending changes stay pending, for the commit.
    fn keep_pending(&mut self, mut delta: Delta) {
        delta.ops.pop();
        delta.touch = None;
        delta.max_data_bytes = None;
        self.pending = delta;
    }
}

#[derive(Default)]
struct State {
    loaded: bool,
    current: Option<Current>,
    /// Send a deletion cookie unless a new session cookie replaces it.
    delete_cookie: bool,
    /// The presented token was found dead by a lookup or a write (not ended by this
    /// request): it may have been rotated away by a concurrent request of the same
    /// browser, whose fresher cookie a deletion cookie would overwrite.
    maybe_rotated_away: bool,
    /// Whether a session with the presented handle lives, when a lookup by handle
    /// already said so (the grace check, SR-17): [`Session::finish`] need not ask again.
    handle_live: Option<bool>,
    /// A store failure while loading, under [`LoadFailure::FailClosed`], kept whole
    /// (kind and source) for the commit's error.
    load_failed: Option<Arc<crate::store::StoreError>>,
    /// Under [`LoadFailure::AnonymousFallback`]: the store is down, write nothing.
    degraded: bool,
    /// A counter was incremented in the store without loading the session: the
    /// response depends on the cookie (`Vary`), though nothing was adopted.
    counted: bool,
    /// Offer device binding on this response (a login, or the handler asked).
    offer_device: bool,
    /// A logout under device binding: the response clears the browser's cookies.
    clear_site_data: bool,
}

struct Shared {
    context: Arc<Context>,
    candidates: Candidates,
    /// More than one value was presented under the session cookie's name.
    duplicated: bool,
    /// The client's IP, through the trusted-proxy setting.
    ip: Option<std::net::IpAddr>,
    /// The raw `User-Agent` header: a refcounted copy, turned into a `String` only
    /// when a session actually records or compares it.
    user_agent: Option<http::HeaderValue>,
    /// The request's verified bound cookie (device binding) and the session it is
    /// for; checked against the binding's epoch when the session loads.
    bound: Option<(Handle, crate::dbsc::tokens::BoundCookie)>,
    state: Mutex<State>,
}

/// One request's session. Cheap to clone; all clones are the same session.
///
/// Every method that needs the stored record loads it on first use (at most once per
/// request). Errors are [`SessionError`](crate::SessionError)s; with the `axum` feature they are also
/// responses (`?` in a handler gives 503 when the store is down).
///
/// # Examples
///
/// ```
/// use hallpass::Session;
///
/// async fn counter(session: Session) -> Result<String, hallpass::SessionError> {
///     let views = session.increment("views", 1).await?;
///     Ok(if views == 1 {
///         "Welcome to this page for the first time!".to_owned()
///     } else {
///         format!("You visited this page {views} times")
///     })
/// }
/// # let _ = counter;
/// ```
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("candidates", &self.shared.candidates.len())
            .field("ip", &self.shared.ip)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// `presented`: a value arrived under the cookie's name. A single value that did
    /// not verify is cleared by a request that uses the session, exactly as an
    /// unknown, expired or revoked one is, so the four look alike from outside (SR-36).
    pub(crate) fn new(
        context: Arc<Context>,
        candidates: Candidates,
        duplicated: bool,
        presented: bool,
        ip: Option<std::net::IpAddr>,
        user_agent: Option<http::HeaderValue>,
        bound: Option<(Handle, crate::dbsc::tokens::BoundCookie)>,
    ) -> Self {
        let state = State {
            delete_cookie: presented && candidates.is_empty() && !duplicated,
            ..State::default()
        };
        Self {
            shared: Arc::new(Shared {
                context,
                candidates,
                duplicated,
                ip,
                user_agent,
                bound,
                state: Mutex::new(state),
            }),
        }
    }

    /// The client of this request, as a session records it.
    fn client(&self) -> ClientMeta {
        let user_agent = self
            .shared
            .user_agent
            .as_ref()
            .and_then(|ua| ua.to_str().ok());
        ClientMeta::new(self.shared.ip, user_agent)
    }

    fn config(&self) -> &crate::config::SessionConfig {
        &self.shared.context.config
    }

    fn store(&self) -> &dyn crate::store::SessionStore {
        &*self.shared.context.store
    }

    fn now(&self) -> Timestamp {
        self.config().clock.now()
    }

    /// Emits the event `build` makes, building it only if a hook, a `tracing`
    /// subscriber or the metrics will see it (a `SessionRef` costs a SHA-256).
    fn emit(&self, build: impl FnOnce() -> Event) {
        let hook = self.config().hook.as_ref();
        if hook.is_some() || telemetry::ON || telemetry::tracing_enabled() {
            telemetry::emit(hook, &build());
        }
    }

    fn touch_at(&self, now: Timestamp) -> Touch {
        Touch::new(now, now.saturating_add(self.config().idle_timeout))
    }

    /// A fresh, unsaved session for this request.
    fn fresh(&self, now: Timestamp) -> Current {
        let (token, handle) = Token::generate_with_handle();
        let key = token.store_key(&handle);
        let config = self.config();
        let mut record = Record::new(handle, now, config.idle_timeout, config.absolute_timeout);
        record.client = self.client();
        Current {
            token,
            key,
            record: Arc::new(record),
            stored: false,
            pending: Delta::default(),
            needs_touch: false,
            issue_cookie: true,
            graced: false,
        }
    }

    /// The current session, creating a fresh unsaved one if there is none.
    fn current_or_fresh<'s>(&self, state: &'s mut State) -> &'s mut Current {
        let now = self.now();
        state.current.get_or_insert_with(|| self.fresh(now))
    }
}

/// The start of a login, taken with [`Session::begin_login`] before the credentials
/// are checked: the principal and its generation at that moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginTicket {
    principal: Principal,
    generation: u64,
    how: crate::record::Authentication,
}

impl LoginTicket {
    /// The same ticket, recording that the principal authenticated by `how` (what
    /// [`Session::login_with`] records).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// use hallpass::store::Authentication;
    ///
    /// let ticket = session.begin_login("alice").await?;
    /// // ... verify the password and the one-time code ...
    /// let how = Authentication::new().with_level("aal2").with_methods(["pwd", "otp"]);
    /// session.finish_login(ticket.with_authentication(how)).await?;
    /// assert_eq!(session.authentication().await?.unwrap().how.level.as_deref(), Some("aal2"));
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    #[must_use]
    pub fn with_authentication(mut self, how: crate::record::Authentication) -> Self {
        self.how = how;
        self
    }

    /// The principal this ticket logs in.
    #[must_use]
    pub fn principal(&self) -> &str {
        &self.principal
    }
}
