//! The test application's routes, written once over [`hallpass::Session`]: each
//! framework front (axum, actix-web) is one catch-all handler that extracts its
//! session and calls [`route`], so every HTTP case runs the same handler code on
//! every framework and only the adapter differs.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use tokio::sync::Notify;

use hallpass::store::{Authentication, SessionStore};
use hallpass::time::{Clock as _, ManualClock};
use hallpass::{Handle, Session, SessionError};

/// A gate a "slow" request waits at, so a test can order it against others.
#[derive(Debug, Default)]
pub struct Gate {
    /// Notified when the slow handler has made its change and is waiting.
    pub entered: Notify,
    /// Notify to let the slow handler finish.
    pub release: Notify,
}

/// What the routes share: the gate of `POST /slow`, and the store and clock for
/// `GET /data-size`.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    pub(crate) gate: Arc<Gate>,
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) clock: ManualClock,
}

/// A handler's answer, before the framework turns it into a response.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) json: bool,
    pub(crate) body: String,
}

impl Answer {
    fn text(status: StatusCode, body: impl Into<String>) -> Self {
        Self {
            status,
            json: false,
            body: body.into(),
        }
    }

    fn ok(body: impl Into<String>) -> Self {
        Self::text(StatusCode::OK, body)
    }

    fn json(value: &impl serde::Serialize) -> Self {
        Self {
            status: StatusCode::OK,
            json: true,
            body: serde_json::to_string(value).unwrap_or_default(),
        }
    }
}

/// The query parameter `name`, as it is in the URI (the tests send plain values).
fn param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

fn parsed<T: std::str::FromStr>(query: &str, name: &str) -> Option<T> {
    param(query, name)?.parse().ok()
}

/// A missing or malformed query parameter, as axum's `Query` answers it.
fn bad_query(name: &str) -> Answer {
    Answer::text(
        StatusCode::BAD_REQUEST,
        format!("missing or invalid query parameter {name}"),
    )
}

macro_rules! query {
    ($query:expr, $name:literal) => {
        match parsed($query, $name) {
            Some(value) => value,
            None => return Ok(bad_query($name)),
        }
    };
}

/// The route table of [`TestApp`](crate::TestApp) (its docs list every route).
///
/// # Errors
///
/// A [`SessionError`] the handler passed on: the front answers it with its
/// framework's mapping.
pub(crate) async fn route(
    ctx: &Ctx,
    method: &Method,
    path: &str,
    query: &str,
    session: &Session,
) -> Result<Answer, SessionError> {
    let get = *method == Method::GET;
    let post = *method == Method::POST;
    Ok(match path {
        "/untouched" if get => Answer::ok("ok"),
        "/views" if get => Answer::ok(session.increment("views", 1).await?.to_string()),
        "/cart" if get => Answer::json(
            &session
                .get::<Vec<String>>("cart")
                .await?
                .unwrap_or_default(),
        ),
        "/cart" if post => {
            let item: String = query!(query, "item");
            let mut items = session
                .get::<Vec<String>>("cart")
                .await?
                .unwrap_or_default();
            items.push(item);
            session.insert("cart", &items).await?;
            Answer::json(&items)
        }
        "/login" if post => {
            let user: String = query!(query, "user");
            session.login(user).await?;
            Answer::ok("ok")
        }
        "/logout" if post => {
            session.logout().await?;
            Answer::ok("bye")
        }
        "/rotate" if post => {
            session.rotate().await?;
            Answer::ok("ok")
        }
        "/remember" if post => {
            session.remember(true).await?;
            Answer::ok("ok")
        }
        "/me" if get => match session.principal().await? {
            Some(user) => Answer::ok(user),
            None => Answer::text(StatusCode::UNAUTHORIZED, "not logged in"),
        },
        "/sessions" if get => {
            let list = session.sessions().await?;
            Answer::json(
                &list
                    .iter()
                    .map(|s| s.handle.to_string())
                    .collect::<Vec<_>>(),
            )
        }
        "/revoke" if post => {
            let handle: String = query!(query, "handle");
            match handle.parse::<Handle>() {
                Ok(handle) => Answer::ok(session.revoke(&handle).await?.to_string()),
                Err(_) => Answer::ok("false"),
            }
        }
        "/revoke-all" if post => {
            let except_current: bool = query!(query, "except_current");
            let count = if except_current {
                session.revoke_others().await?
            } else {
                session.revoke_all().await?
            };
            Answer::ok(count.to_string())
        }
        "/slow" if post => {
            let key: String = query!(query, "key");
            session.insert(&key, true).await?;
            ctx.gate.entered.notify_one();
            ctx.gate.release.notified().await;
            Answer::ok("ok")
        }
        "/scratch" if post => {
            session.insert("tmp", 1).await?;
            session.remove("tmp").await?;
            Answer::ok("ok")
        }
        "/big" if post => {
            let bytes: usize = query!(query, "bytes");
            match session.insert("big", "x".repeat(bytes)).await {
                Ok(()) => Answer::ok("ok"),
                Err(SessionError::DataTooLarge { size, max }) => {
                    Answer::text(StatusCode::PAYLOAD_TOO_LARGE, format!("{size} > {max}"))
                }
                Err(other) => return Err(other),
            }
        }
        "/pair" if get => {
            let a: Option<u64> = session.get("a").await?;
            let b: Option<u64> = session.get("b").await?;
            Answer::ok(format!("{},{}", a.unwrap_or(0), b.unwrap_or(0)))
        }
        "/pair" if post => {
            let n: u64 = query!(query, "n");
            session.insert("a", n).await?;
            session.insert("b", n).await?;
            Answer::ok("ok")
        }
        // Loads, waits, then inserts: two of these at once both decide on the record
        // as it was before either wrote.
        "/fill" if post => {
            let key: String = query!(query, "key");
            let bytes: usize = query!(query, "bytes");
            let wait_ms: u64 = query!(query, "wait_ms");
            session.get::<serde_json::Value>(&key).await?;
            tokio::time::sleep(Duration::from_millis(wait_ms)).await;
            session.insert(&key, "x".repeat(bytes)).await?;
            Answer::ok("ok")
        }
        // The stored record's data size, read from the store by the session's handle.
        "/data-size" if get => {
            let size = match session.handle().await? {
                Some(handle) => ctx
                    .store
                    .load_handle(&handle, ctx.clock.now())
                    .await
                    .map_err(SessionError::Store)?
                    .map_or(0, |(_, record)| record.data_size()),
                None => 0,
            };
            Answer::ok(size.to_string())
        }
        "/handle" if get => match session.handle().await? {
            Some(handle) => Answer::ok(handle.to_string()),
            None => Answer::text(StatusCode::UNAUTHORIZED, "no session"),
        },
        // A login the way an application should write one: the ticket first, then
        // the (slow) credential check, then the login.
        "/checked-login" if post => {
            let user: String = query!(query, "user");
            let wait_ms: u64 = query!(query, "wait_ms");
            let ticket = session.begin_login(user).await?;
            tokio::time::sleep(Duration::from_millis(wait_ms)).await;
            session.finish_login(ticket).await?;
            Answer::ok("ok")
        }
        // A password change: the session is loaded, the (slow) new hash is computed,
        // then every other session ends.
        "/credentials-changed" if post => {
            let wait_ms: u64 = query!(query, "wait_ms");
            session.principal().await?;
            tokio::time::sleep(Duration::from_millis(wait_ms)).await;
            Answer::ok(session.credentials_changed().await?.to_string())
        }
        "/login-with" if post => {
            let user: String = query!(query, "user");
            let mut how = Authentication::new().with_methods(["pwd"]);
            if let Some(level) = param(query, "level") {
                how = how.with_level(level);
            }
            session.login_with(user, how).await?;
            Answer::ok("ok")
        }
        "/fresh" if get => {
            let max_s: u64 = query!(query, "max_s");
            match session.require_fresh(Duration::from_secs(max_s)).await {
                Ok(done) => Answer::ok(done.how.level.clone().unwrap_or_else(|| "-".to_owned())),
                Err(err @ SessionError::StaleAuthentication { .. }) => {
                    let (status, body) = err.answer();
                    Answer::text(status, body)
                }
                Err(other) => return Err(other),
            }
        }
        "/flash" if post => {
            let text: String = query!(query, "text");
            session.flash("notice", text).await?;
            Answer::ok("ok")
        }
        "/flash" if get => Answer::ok(
            session
                .take_flash::<String>("notice")
                .await?
                .unwrap_or_else(|| "none".to_owned()),
        ),
        // The notice a logout leaves for the page it redirects to: on a new,
        // anonymous session.
        "/flash-logout" if post => {
            session.logout().await?;
            session.flash("notice", "logged out").await?;
            Answer::ok("bye")
        }
        "/label" if post => {
            let name: String = query!(query, "name");
            let value: String = query!(query, "value");
            session.label(&name, &value).await?;
            Answer::ok("ok")
        }
        "/label" if get => {
            let name: String = query!(query, "name");
            Answer::ok(
                session
                    .label_value(&name)
                    .await?
                    .unwrap_or_else(|| "-".to_owned()),
            )
        }
        "/revoke-label" if post => {
            let name: String = query!(query, "name");
            let value: String = query!(query, "value");
            Answer::ok(session.revoke_by_label(&name, &value).await?.to_string())
        }
        "/untouched"
        | "/label"
        | "/revoke-label"
        | "/login-with"
        | "/fresh"
        | "/flash"
        | "/flash-logout"
        | "/views"
        | "/cart"
        | "/login"
        | "/logout"
        | "/rotate"
        | "/remember"
        | "/me"
        | "/sessions"
        | "/revoke"
        | "/revoke-all"
        | "/slow"
        | "/scratch"
        | "/big"
        | "/pair"
        | "/fill"
        | "/data-size"
        | "/handle"
        | "/checked-login"
        | "/credentials-changed" => Answer::text(StatusCode::METHOD_NOT_ALLOWED, ""),
        _ => Answer::text(StatusCode::NOT_FOUND, ""),
    })
}
