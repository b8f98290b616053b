//! The HTML pages, sharing the API's sessions: `/` (the counter), `/login`,
//! `/account` (active sessions, revoke, log out everywhere else, change password),
//! `POST /logout` and `/logged-out`. A form that redirects leaves its notice as a
//! flash value ([`Session::flash`]), which the page it lands on takes and shows
//! once. Server-rendered askama templates (auto-escaped), one
//! stylesheet served from here, no script at all.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hallpass::{Session, SessionError};
use serde::Deserialize;

use crate::account::{self, AccountError};
use crate::csrf;
use crate::device::describe;
use crate::guard::Authenticated;
use crate::page::{PageError, render};
use crate::state::AppState;
use crate::times::{ago, human, rfc3339};
use crate::users::Secret;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_form).post(login_submit))
        .route("/account", get(account))
        .route("/account/sessions/{handle}/revoke", post(revoke))
        .route("/account/revoke-others", post(revoke_others))
        .route("/account/password", post(change_password))
        .route("/logout", post(logout))
        .route("/logged-out", get(logged_out))
        .route("/style.css", get(stylesheet))
}

/// 404 for any other path: JSON under `/api/`, a page elsewhere.
pub(crate) async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        crate::error::ApiError::not_found().into_response()
    } else {
        PageError::new(StatusCode::NOT_FOUND, "There is no page here.").into_response()
    }
}

type PageResult = Result<Response, PageError>;

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage<'a> {
    user: Option<&'a str>,
    csrf: &'a str,
    views: i64,
    notice: Option<String>,
}

/// The flash value every page that a form redirects to shows.
pub(crate) const NOTICE: &str = "notice";

async fn index(session: Session) -> PageResult {
    let views = session.increment("views", 1).await?;
    let user = session.principal().await?;
    let notice = session.take_flash(NOTICE).await?;
    let csrf = csrf::token(&session).await?;
    Ok(render(&IndexPage {
        user: user.as_deref(),
        csrf: &csrf,
        views,
        notice,
    }))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    user: Option<&'a str>,
    csrf: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

async fn login_form(session: Session) -> PageResult {
    let user = session.principal().await?;
    let csrf = csrf::token(&session).await?;
    Ok(render(&LoginPage {
        user: user.as_deref(),
        csrf: &csrf,
        username: "",
        error: None,
    }))
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: Secret,
    #[serde(default)]
    csrf: String,
    /// The checkbox: `on` when ticked, absent otherwise.
    #[serde(default)]
    remember: Option<String>,
}

async fn login_submit(
    State(app): State<AppState>,
    session: Session,
    Form(form): Form<LoginForm>,
) -> PageResult {
    if !csrf::check(&session, &form.csrf).await? {
        return Err(PageError::bad_csrf());
    }
    let remember = form.remember.is_some();
    match account::log_in(
        &app.users,
        &app.slots,
        &session,
        &form.username,
        &form.password,
        remember,
    )
    .await
    {
        Ok(()) => Ok(Redirect::to("/account").into_response()),
        Err(err @ (AccountError::WrongCredentials | AccountError::Busy)) => {
            let failure = PageError::from(err);
            let user = session.principal().await?;
            let page = LoginPage {
                user: user.as_deref(),
                csrf: &form.csrf,
                username: &form.username,
                error: Some(failure.message),
            };
            Ok((failure.status, render(&page)).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

/// One row of the session table.
struct Row {
    handle: String,
    device: String,
    user_agent: String,
    ip: String,
    last_seen: String,
    last_seen_at: String,
    created_at: String,
    created: String,
    current: bool,
    /// Bound to the browser's key (DBSC): a copied cookie stops working in minutes.
    device_bound: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    user: Option<&'a str>,
    csrf: &'a str,
    rows: Vec<Row>,
    notice: Option<String>,
    error: Option<&'a str>,
    /// "Log out everywhere else" asks for the password (a login over 5 minutes old).
    confirm: bool,
}

async fn account_page(
    app: &AppState,
    who: &Authenticated,
    notice: Option<String>,
    error: Option<&str>,
    confirm: bool,
) -> PageResult {
    let session = &who.session;
    let current = session.handle().await?;
    let now = app.clock.now();
    let mut rows: Vec<Row> = session
        .sessions()
        .await?
        .into_iter()
        .map(|s| Row {
            handle: s.handle.to_string(),
            device: describe(s.client.user_agent()),
            user_agent: s.client.user_agent().unwrap_or_default().to_owned(),
            ip: s
                .client
                .ip()
                .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
            last_seen: ago(s.last_seen_at, now),
            last_seen_at: rfc3339(s.last_seen_at),
            // "Signed in": the last login (a step-up moves it), else the creation.
            created_at: rfc3339(
                s.authenticated
                    .as_ref()
                    .map_or(s.created_at, |done| done.at),
            ),
            created: human(
                s.authenticated
                    .as_ref()
                    .map_or(s.created_at, |done| done.at),
            ),
            current: Some(s.handle) == current,
            device_bound: s.device_bound_at.is_some(),
        })
        .collect();
    // This device first, then the most recently used.
    rows.sort_by(|a, b| {
        b.current
            .cmp(&a.current)
            .then(b.last_seen_at.cmp(&a.last_seen_at))
    });
    let csrf = csrf::token(session).await?;
    Ok(render(&AccountPage {
        user: Some(&who.user),
        csrf: &csrf,
        rows,
        notice,
        error,
        confirm,
    }))
}

async fn account(State(app): State<AppState>, who: Authenticated) -> PageResult {
    // A login offers device binding on its own answer (a redirect, here); the page
    // it leads to offers it again while the session is unbound.
    who.session.offer_device_binding().await;
    let notice = who.session.take_flash(NOTICE).await?;
    account_page(&app, &who, notice, None, false).await
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Every account form carries this session's CSRF token: 403 when it does not.
async fn check_csrf(session: &Session, presented: &str) -> Result<(), PageError> {
    if csrf::check(session, presented).await? {
        Ok(())
    } else {
        Err(PageError::bad_csrf())
    }
}

async fn revoke(
    who: Authenticated,
    Path(handle): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    check_csrf(&who.session, &form.csrf).await?;
    let was_current = account::revoke(&who, &handle).await?;
    Ok(Redirect::to(if was_current { "/login" } else { "/account" }).into_response())
}

#[derive(Deserialize)]
struct RevokeOthersForm {
    #[serde(default)]
    csrf: String,
    /// Asked for when the login is over five minutes old.
    #[serde(default)]
    password: Option<Secret>,
}

async fn revoke_others(
    State(app): State<AppState>,
    who: Authenticated,
    Form(form): Form<RevokeOthersForm>,
) -> PageResult {
    check_csrf(&who.session, &form.csrf).await?;
    let revoked = match account::revoke_others(
        &app.users,
        &app.slots,
        app.reauthenticate_after,
        &who,
        form.password.as_ref(),
    )
    .await
    {
        Ok(revoked) => revoked,
        Err(
            err @ (AccountError::Session(SessionError::StaleAuthentication { .. })
            | AccountError::WrongCurrentPassword),
        ) => {
            // Ask for the password, on the account page itself.
            let failure = PageError::from(err);
            let page = account_page(&app, &who, None, Some(failure.message), true).await?;
            return Ok((failure.status, page).into_response());
        }
        Err(err) => return Err(err.into()),
    };
    let notice = match revoked {
        1 => "Logged out 1 other session.".to_owned(),
        n => format!("Logged out {n} other sessions."),
    };
    who.session.flash(NOTICE, notice).await?;
    Ok(Redirect::to("/account").into_response())
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current: Secret,
    new: Secret,
}

async fn change_password(
    State(app): State<AppState>,
    who: Authenticated,
    Form(form): Form<PasswordForm>,
) -> PageResult {
    check_csrf(&who.session, &form.csrf).await?;
    match account::change_password(&app.users, &app.slots, &who, &form.current, &form.new).await {
        Ok(_) => {
            who.session
                .flash(
                    NOTICE,
                    "Password changed. Every other session was logged out.",
                )
                .await?;
            Ok(Redirect::to("/account").into_response())
        }
        Err(AccountError::Session(err)) => Err(err.into()),
        Err(err) => {
            let failure = PageError::from(err);
            let page = account_page(&app, &who, None, Some(failure.message), false).await?;
            Ok((failure.status, page).into_response())
        }
    }
}

async fn logout(session: Session, Form(form): Form<CsrfForm>) -> PageResult {
    // Without a session there is nothing to protect: just make sure the cookie goes.
    if session.handle().await?.is_some() {
        check_csrf(&session, &form.csrf).await?;
    }
    account::log_out(&session).await?;
    // `Clear-Site-Data` may also clear a cookie set by this same response, so the
    // notice is left by the next one.
    Ok((
        [crate::security::CLEAR_SITE_DATA],
        Redirect::to("/logged-out"),
    )
        .into_response())
}

/// Where a logout lands: leaves the "logged out" notice (on a new, anonymous
/// session) for the home page it redirects to. A logged-in visitor gets none.
async fn logged_out(session: Session) -> PageResult {
    if session.principal().await?.is_none() {
        session.flash(NOTICE, "You are logged out.").await?;
    }
    Ok(Redirect::to("/").into_response())
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/style.css"),
    )
        .into_response()
}
