//! A test app over any store, on any framework, and a one-cookie browser to drive
//! it (H19).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::COOKIE;
use http::{HeaderValue, Method, Request};

use hallpass::engine::SessionEngine;
use hallpass::events::Event;
use hallpass::store::SessionStore;
use hallpass::time::ManualClock;
use hallpass::{Key, Keyring, SessionConfig};

use crate::front::{Framework, Reply, Served};
use crate::instrumented::InstrumentedStore;
use crate::routes::{Ctx, Gate};

/// A test application: the routes below, on axum (behind a [`SessionLayer`](hallpass::SessionLayer)) or on
/// actix-web (behind `hallpass_actix::SessionMiddleware`); the handlers are the same
/// code on both (`routes.rs`).
///
/// | route | what the handler does |
/// |---|---|
/// | `GET /untouched` | nothing with the session |
/// | `GET /views` | `increment("views", 1)`, replies the number |
/// | `POST /cart?item=` / `GET /cart` | push to / read a list |
/// | `POST /login?user=` | `login(user)` |
/// | `POST /logout` | `logout()` |
/// | `POST /rotate` | `rotate()` |
/// | `POST /remember` | `remember(true)` |
/// | `GET /me` | the principal, or 401 |
/// | `GET /sessions` | handles of the principal's sessions |
/// | `POST /revoke?handle=` | `revoke(handle)` → `true`/`false` |
/// | `POST /revoke-all?except_current=` | `revoke_others` (true) or `revoke_all` → count |
/// | `POST /slow?key=` | inserts `key`, waits at the [`Gate`], returns |
/// | `POST /scratch` | inserts a key and removes it again |
/// | `POST /big?bytes=` | inserts a string of that many bytes; `DataTooLarge` → 413 |
/// | `POST /pair?n=` / `GET /pair` | sets `a` and `b` both to `n` (one commit) / reads `a,b` |
/// | `POST /fill?key=&bytes=&wait_ms=` | loads, waits, inserts a string of that many bytes |
/// | `GET /data-size` | the session's [`Record::data_size`](hallpass::store::Record::data_size) |
/// | `GET /handle` | the session's handle, or 401 |
/// | `POST /checked-login?user=&wait_ms=` | `begin_login`, waits (the credential check), `finish_login` |
/// | `POST /credentials-changed?wait_ms=` | loads, waits, `credentials_changed` → count |
/// | `POST /login-with?user=&level=` | `login_with(user, level and ["pwd"])` |
/// | `GET /fresh?max_s=` | `require_fresh(max_s)` → the level (`-`: none), or 401 |
/// | `POST /flash?text=` / `GET /flash` | `flash("notice", text)` / `take_flash("notice")`, or `none` |
/// | `POST /flash-logout` | `logout()`, then `flash("notice", "logged out")` |
/// | `POST /label?name=&value=` / `GET /label?name=` | `label(name, value)` / `label_value(name)`, or `-` |
/// | `POST /revoke-label?name=&value=` | `revoke_by_label(name, value)` → count |
#[derive(Debug, Clone)]
pub struct TestApp {
    /// The framework the app runs on, and the running app.
    served: Served,
    /// The store behind the layer, instrumented.
    pub store: InstrumentedStore,
    /// The clock the layer uses.
    pub clock: ManualClock,
    /// Every event the layer emitted.
    pub events: Arc<Mutex<Vec<Event>>>,
    /// The gate of `POST /slow`.
    pub gate: Arc<Gate>,
}

/// A fixed keyring for tests (never use a fixed key elsewhere).
pub fn test_keyring() -> Keyring {
    Keyring::new(Key::from_bytes(&[7u8; 32]).unwrap_or_else(|_| unreachable!()))
}

/// `request` with one `Cookie` field per entry of `cookies`, as given.
fn with_cookies(mut request: http::request::Builder, cookies: &[&[u8]]) -> Request<()> {
    for cookie in cookies {
        request = request.header(
            COOKIE,
            HeaderValue::from_bytes(cookie).unwrap_or_else(|e| panic!("{e}")),
        );
    }
    request.body(()).unwrap_or_else(|e| panic!("{e}"))
}

impl TestApp {
    /// The app on axum with the default configuration (plus a manual clock and event
    /// capture).
    pub fn new(store: Arc<dyn SessionStore>) -> Self {
        Self::on(Framework::Axum, store, |config| config)
    }

    /// The app on axum with `adjust` applied to the default test configuration.
    pub fn with_config(
        store: Arc<dyn SessionStore>,
        adjust: impl FnOnce(SessionConfig) -> SessionConfig,
    ) -> Self {
        Self::on(Framework::Axum, store, adjust)
    }

    /// The app on `framework` with `adjust` applied to the default test
    /// configuration.
    ///
    /// # Panics
    ///
    /// When `adjust` yields a configuration the engine rejects.
    pub fn on(
        framework: Framework,
        store: Arc<dyn SessionStore>,
        adjust: impl FnOnce(SessionConfig) -> SessionConfig,
    ) -> Self {
        // Real time, moved on by hand: stores with server-side expiry (Redis's
        // PEXPIREAT) see sensible deadlines.
        Self::build(
            framework,
            InstrumentedStore::new(store),
            ManualClock::starting_now(),
            Arc::default(),
            adjust,
        )
    }

    /// A second app server beside this one, as in a fleet: the same store, clock and
    /// event log, its own engine (with `adjust` applied to the default test
    /// configuration) on `framework`.
    ///
    /// # Panics
    ///
    /// When `adjust` yields a configuration the engine rejects.
    pub fn beside(
        &self,
        framework: Framework,
        adjust: impl FnOnce(SessionConfig) -> SessionConfig,
    ) -> Self {
        Self::build(
            framework,
            self.store.clone(),
            self.clock.clone(),
            Arc::clone(&self.events),
            adjust,
        )
    }

    fn build(
        framework: Framework,
        store: InstrumentedStore,
        clock: ManualClock,
        events: Arc<Mutex<Vec<Event>>>,
        adjust: impl FnOnce(SessionConfig) -> SessionConfig,
    ) -> Self {
        let sink = Arc::clone(&events);
        let config = adjust(
            SessionConfig::new(test_keyring())
                .with_clock(Arc::new(clock.clone()))
                .with_event_hook(move |event| {
                    sink.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(event.clone())
                }),
        );
        let engine = SessionEngine::new(Arc::new(store.clone()), config)
            .unwrap_or_else(|err| panic!("test config rejected: {err}"));
        let gate = Arc::new(Gate::default());
        let ctx = Ctx {
            gate: Arc::clone(&gate),
            store: Arc::new(store.clone()),
            clock: clock.clone(),
        };
        Self {
            served: Served::start(framework, engine, ctx),
            store,
            clock,
            events,
            gate,
        }
    }

    /// A browser with an empty cookie jar.
    pub fn browser(&self) -> Browser {
        Browser {
            app: self.clone(),
            cookie: None,
            user_agent: None,
        }
    }

    /// The app's current time.
    pub fn clock_now(&self) -> hallpass::time::Timestamp {
        hallpass::time::Clock::now(&self.clock)
    }

    /// Moves the app's clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// The names of the events emitted so far.
    pub fn event_names(&self) -> Vec<&'static str> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(Event::name)
            .collect()
    }

    /// Sends a raw request with the given `Cookie` header fields.
    pub async fn raw(&self, method: Method, uri: &str, cookies: &[&[u8]]) -> Reply {
        let request = Request::builder().method(method).uri(uri);
        self.send(with_cookies(request, cookies)).await
    }

    /// [`TestApp::raw`], where a server that closes the connection instead of
    /// answering is `None` (actix-web, for a request head over its own limit). Sent
    /// with `Connection: close`, so a connection the server gave up on is never
    /// reused for a later request.
    pub async fn try_raw(&self, method: Method, uri: &str, cookies: &[&[u8]]) -> Option<Reply> {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(http::header::CONNECTION, "close");
        self.served
            .try_send(with_cookies(request, cookies))
            .await
            .ok()
    }

    /// Sends `request` as it is (every header field) to the app.
    pub async fn send(&self, request: Request<()>) -> Reply {
        self.served.send(request).await
    }
}

/// A browser that keeps one cookie (the session cookie) like a user agent would.
#[derive(Debug, Clone)]
pub struct Browser {
    app: TestApp,
    /// The cookie `name=value` it sends, if any.
    pub cookie: Option<String>,
    /// The User-Agent it sends.
    pub user_agent: Option<String>,
}

impl Browser {
    /// Sends a request, updating the jar from any `Set-Cookie`.
    pub async fn send(&mut self, method: Method, uri: &str) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie.as_str());
        }
        if let Some(ua) = &self.user_agent {
            request = request.header(http::header::USER_AGENT, ua.as_str());
        }
        let reply = self
            .app
            .send(request.body(()).unwrap_or_else(|e| panic!("{e}")))
            .await;
        for set in reply.set_cookies() {
            let pair = set.split(';').next().unwrap_or_default().to_owned();
            if set.contains("Max-Age=0") {
                self.cookie = None;
            } else {
                self.cookie = Some(pair);
            }
        }
        reply
    }

    /// `GET uri`.
    pub async fn get(&mut self, uri: &str) -> Reply {
        self.send(Method::GET, uri).await
    }

    /// `POST uri`.
    pub async fn post(&mut self, uri: &str) -> Reply {
        self.send(Method::POST, uri).await
    }

    /// The session cookie's value (without the name).
    pub fn cookie_value(&self) -> Option<String> {
        self.cookie
            .as_ref()
            .and_then(|c| c.split_once('='))
            .map(|(_, v)| v.to_owned())
    }
}
