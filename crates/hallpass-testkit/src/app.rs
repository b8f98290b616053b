//! An in-process axum app over any store, and a one-cookie browser to drive it (H19).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use tokio::sync::Notify;
use tower::ServiceExt;

use hallpass::events::Event;
use hallpass::store::SessionStore;
use hallpass::time::{Clock as _, ManualClock};
use hallpass::{Handle, Key, Keyring, Session, SessionConfig, SessionError, SessionLayer};

use crate::instrumented::InstrumentedStore;

/// A gate a "slow" request waits at, so a test can order it against others.
#[derive(Debug, Default)]
pub struct Gate {
    /// Notified when the slow handler has made its change and is waiting.
    pub entered: Notify,
    /// Notify to let the slow handler finish.
    pub release: Notify,
}

/// A test application: the routes below, behind a [`SessionLayer`].
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
#[derive(Debug, Clone)]
pub struct TestApp {
    /// The router with the layer applied.
    pub router: Router,
    /// The store behind the layer, instrumented.
    pub store: InstrumentedStore,
    /// The clock the layer uses.
    pub clock: ManualClock,
    /// Every event the layer emitted.
    pub events: Arc<Mutex<Vec<Event>>>,
    /// The gate of `POST /slow`.
    pub gate: Arc<Gate>,
}

#[derive(Deserialize)]
struct ItemQuery {
    item: String,
}
#[derive(Deserialize)]
struct UserQuery {
    user: String,
}
#[derive(Deserialize)]
struct HandleQuery {
    handle: String,
}
#[derive(Deserialize)]
struct ExceptQuery {
    except_current: bool,
}
#[derive(Deserialize)]
struct BigQuery {
    bytes: usize,
}
#[derive(Deserialize)]
struct PairQuery {
    n: u64,
}
#[derive(Deserialize)]
struct KeyQuery {
    key: String,
}
#[derive(Deserialize)]
struct FillQuery {
    key: String,
    bytes: usize,
    wait_ms: u64,
}
#[derive(Deserialize)]
struct CheckedLoginQuery {
    user: String,
    wait_ms: u64,
}
#[derive(Deserialize)]
struct WaitQuery {
    wait_ms: u64,
}

/// A fixed keyring for tests (never use a fixed key elsewhere).
pub fn test_keyring() -> Keyring {
    Keyring::new(Key::from_bytes(&[7u8; 32]).unwrap_or_else(|_| unreachable!()))
}

async fn cart(session: Session) -> Result<Json<Vec<String>>, SessionError> {
    Ok(Json(
        session
            .get::<Vec<String>>("cart")
            .await?
            .unwrap_or_default(),
    ))
}

async fn add_to_cart(
    session: Session,
    Query(q): Query<ItemQuery>,
) -> Result<Json<Vec<String>>, SessionError> {
    let mut items = session
        .get::<Vec<String>>("cart")
        .await?
        .unwrap_or_default();
    items.push(q.item);
    session.insert("cart", &items).await?;
    Ok(Json(items))
}

async fn me(session: Session) -> Result<(StatusCode, String), SessionError> {
    Ok(match session.principal().await? {
        Some(user) => (StatusCode::OK, user),
        None => (StatusCode::UNAUTHORIZED, "not logged in".to_owned()),
    })
}

async fn sessions(session: Session) -> Result<Json<Vec<String>>, SessionError> {
    let list = session.sessions().await?;
    Ok(Json(list.iter().map(|s| s.handle.to_string()).collect()))
}

async fn revoke(session: Session, Query(q): Query<HandleQuery>) -> Result<String, SessionError> {
    let Ok(handle) = q.handle.parse::<Handle>() else {
        return Ok("false".into());
    };
    Ok(session.revoke(&handle).await?.to_string())
}

async fn slow(
    State(gate): State<Arc<Gate>>,
    session: Session,
    Query(q): Query<KeyQuery>,
) -> Result<&'static str, SessionError> {
    session.insert(&q.key, true).await?;
    gate.entered.notify_one();
    gate.release.notified().await;
    Ok("ok")
}

/// Loads the session, waits, then inserts: two of these at once both decide on the
/// record as it was before either wrote.
async fn fill(session: Session, Query(q): Query<FillQuery>) -> Result<&'static str, SessionError> {
    session.get::<serde_json::Value>(&q.key).await?;
    tokio::time::sleep(Duration::from_millis(q.wait_ms)).await;
    session.insert(&q.key, "x".repeat(q.bytes)).await?;
    Ok("ok")
}

/// The stored record's data size, read from the store by the session's handle.
async fn data_size(
    State((store, clock)): State<(Arc<dyn SessionStore>, ManualClock)>,
    session: Session,
) -> Result<String, SessionError> {
    let Some(handle) = session.handle().await? else {
        return Ok("0".to_owned());
    };
    let stored = store
        .load_handle(&handle, clock.now())
        .await
        .map_err(SessionError::Store)?;
    Ok(stored
        .map_or(0, |(_, record)| record.data_size())
        .to_string())
}

async fn handle(session: Session) -> Result<(StatusCode, String), SessionError> {
    Ok(match session.handle().await? {
        Some(handle) => (StatusCode::OK, handle.to_string()),
        None => (StatusCode::UNAUTHORIZED, "no session".to_owned()),
    })
}

/// A login the way an application should write one: the ticket first, then the
/// (slow) credential check, then the login.
async fn checked_login(
    session: Session,
    Query(q): Query<CheckedLoginQuery>,
) -> Result<&'static str, SessionError> {
    let ticket = session.begin_login(q.user).await?;
    tokio::time::sleep(Duration::from_millis(q.wait_ms)).await;
    session.finish_login(ticket).await?;
    Ok("ok")
}

/// A password change: the session is loaded, the (slow) new hash is computed, then
/// every other session ends.
async fn credentials_changed(
    session: Session,
    Query(q): Query<WaitQuery>,
) -> Result<String, SessionError> {
    session.principal().await?;
    tokio::time::sleep(Duration::from_millis(q.wait_ms)).await;
    Ok(session.credentials_changed().await?.to_string())
}

impl TestApp {
    /// The app with the default configuration (plus a manual clock and event capture).
    pub fn new(store: Arc<dyn SessionStore>) -> Self {
        Self::with_config(store, |config| config)
    }

    /// The app with `adjust` applied to the default test configuration.
    ///
    /// # Panics
    ///
    /// When `adjust` yields a configuration the layer rejects.
    pub fn with_config(
        store: Arc<dyn SessionStore>,
        adjust: impl FnOnce(SessionConfig) -> SessionConfig,
    ) -> Self {
        let store = InstrumentedStore::new(store);
        // Real time, moved on by hand: stores with server-side expiry (Redis's
        // PEXPIREAT) see sensible deadlines.
        let clock = ManualClock::starting_now();
        let events: Arc<Mutex<Vec<Event>>> = Arc::default();
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
        let layer = SessionLayer::new(Arc::new(store.clone()), config)
            .unwrap_or_else(|err| panic!("test config rejected: {err}"));
        let gate = Arc::new(Gate::default());
        let router = Router::new()
            .route("/untouched", get(|| async { "ok" }))
            .route(
                "/views",
                get(|session: Session| async move {
                    session.increment("views", 1).await.map(|n| n.to_string())
                }),
            )
            .route("/cart", get(cart).post(add_to_cart))
            .route(
                "/login",
                post(|session: Session, Query(q): Query<UserQuery>| async move {
                    session.login(q.user).await.map(|()| "ok")
                }),
            )
            .route(
                "/logout",
                post(|session: Session| async move { session.logout().await.map(|()| "bye") }),
            )
            .route(
                "/rotate",
                post(|session: Session| async move { session.rotate().await.map(|()| "ok") }),
            )
            .route(
                "/remember",
                post(|session: Session| async move { session.remember(true).await.map(|()| "ok") }),
            )
            .route("/me", get(me))
            .route("/sessions", get(sessions))
            .route("/revoke", post(revoke))
            .route(
                "/revoke-all",
                post(
                    |session: Session, Query(q): Query<ExceptQuery>| async move {
                        if q.except_current {
                            session.revoke_others().await
                        } else {
                            session.revoke_all().await
                        }
                        .map(|n| n.to_string())
                    },
                ),
            )
            .route("/slow", post(slow))
            .route(
                "/scratch",
                post(|session: Session| async move {
                    session.insert("tmp", 1).await?;
                    session.remove("tmp").await.map(|_| "ok")
                }),
            )
            .route(
                "/big",
                post(|session: Session, Query(q): Query<BigQuery>| async move {
                    match session.insert("big", "x".repeat(q.bytes)).await {
                        Ok(()) => Ok((StatusCode::OK, "ok".to_owned())),
                        Err(SessionError::DataTooLarge { size, max }) => {
                            Ok((StatusCode::PAYLOAD_TOO_LARGE, format!("{size} > {max}")))
                        }
                        Err(other) => Err(other),
                    }
                }),
            )
            .route(
                "/pair",
                get(|session: Session| async move {
                    let a: Option<u64> = session.get("a").await?;
                    let b: Option<u64> = session.get("b").await?;
                    Ok::<_, SessionError>(format!("{},{}", a.unwrap_or(0), b.unwrap_or(0)))
                })
                .post(|session: Session, Query(q): Query<PairQuery>| async move {
                    session.insert("a", q.n).await?;
                    session.insert("b", q.n).await.map(|()| "ok")
                }),
            )
            .route("/fill", post(fill))
            .route(
                "/data-size",
                get(data_size).with_state((
                    Arc::new(store.clone()) as Arc<dyn SessionStore>,
                    clock.clone(),
                )),
            )
            .route("/handle", get(handle))
            .route("/checked-login", post(checked_login))
            .route("/credentials-changed", post(credentials_changed))
            .with_state(Arc::clone(&gate))
            .layer(layer);
        Self {
            router,
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
        let mut request = Request::builder().method(method).uri(uri);
        for cookie in cookies {
            request = request.header(
                COOKIE,
                HeaderValue::from_bytes(cookie).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        let request = request
            .body(axum::body::Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        Reply::from(
            self.router
                .clone()
                .oneshot(request)
                .await
                .unwrap_or_else(|e| match e {}),
        )
        .await
    }
}

/// A response, read to the end.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub body: String,
}

impl Reply {
    async fn from(response: http::Response<axum::body::Body>) -> Self {
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Self {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// The `Set-Cookie` headers, as text.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The single `Set-Cookie` header, if exactly one.
    pub fn set_cookie(&self) -> Option<String> {
        match self.set_cookies().as_slice() {
            [one] => Some(one.clone()),
            [] => None,
            many => panic!("more than one Set-Cookie: {many:?}"),
        }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
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
        let request = request
            .body(axum::body::Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        let reply = Reply::from(
            self.app
                .router
                .clone()
                .oneshot(request)
                .await
                .unwrap_or_else(|e| match e {}),
        )
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
