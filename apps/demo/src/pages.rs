//! The HTML pages, sharing the API's sessions: `/` (the counter), `/login`,
//! `/account` (active sessions, revoke, log out everywhere else, change password)
//! and `POST /logout`. Server-rendered askama templates (auto-escaped), one
//! stylesheet served from here, no script at all.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hallpass::{Handle, Session, SessionError};
use serde::Deserialize;

use crate::api::{apply_password_change, log_in};
use crate::csrf;
use crate::device::describe;
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

/// A page-level failure: a status and a short message for a person.
#[derive(Debug)]
pub(crate) struct PageError {
    status: StatusCode,
    message: &'static str,
}

impl PageError {
    const fn new(status: StatusCode, message: &'static str) -> Self {
        Self { status, message }
    }

    const fn bad_csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
        )
    }
}

impl From<SessionError> for PageError {
    fn from(err: SessionError) -> Self {
        let (status, message) = crate::error::session_message(&err);
        Self { status, message }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    user: Option<&'a str>,
    csrf: &'a str,
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            user: None,
            csrf: "",
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or("Error"),
            message: self.message,
        };
        (self.status, render(&page)).into_response()
    }
}

fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(target: "hallpass_demo::error", error = %err, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

type PageResult = Result<Response, PageError>;

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage<'a> {
    user: Option<&'a str>,
    csrf: &'a str,
    views: i64,
}

async fn index(session: Session) -> PageResult {
    let views = session.increment("views", 1).await?;
    let user = session.principal().await?;
    let csrf = csrf::token(&session).await?;
    Ok(render(&IndexPage {
        user: user.as_deref(),
        csrf: &csrf,
        views,
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
}

async fn login_submit(
    State(app): State<AppState>,
    session: Session,
    Form(form): Form<LoginForm>,
) -> PageResult {
    if !csrf::check(&session, &form.csrf).await? {
        return Err(PageError::bad_csrf());
    }
    if !log_in(&app.users, &session, &form.username, &form.password).await? {
        tracing::info!(target: "hallpass_demo::auth", "login failed");
        let user = session.principal().await?;
        let page = LoginPage {
            user: user.as_deref(),
            csrf: &form.csrf,
            username: &form.username,
            error: Some("Wrong username or password."),
        };
        return Ok((StatusCode::UNAUTHORIZED, render(&page)).into_response());
    }
    Ok(Redirect::to("/account").into_response())
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
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    user: Option<&'a str>,
    csrf: &'a str,
    rows: Vec<Row>,
    notice: Option<String>,
    error: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct AccountQuery {
    revoked: Option<u64>,
    password: Option<String>,
}

async fn account_page(
    app: &AppState,
    session: &Session,
    notice: Option<String>,
    error: Option<&str>,
) -> PageResult {
    let Some(user) = session.principal().await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let current = session.handle().await?;
    let now = app.clock.now();
    let mut rows: Vec<Row> = session
        .sessions()
        .await?
        .into_iter()
        .map(|s| Row {
            handle: s.handle.to_string(),
            device: describe(s.client.user_agent.as_deref()),
            user_agent: s.client.user_agent.clone().unwrap_or_default(),
            ip: s
                .client
                .ip
                .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
            last_seen: ago(s.last_seen_at, now),
            last_seen_at: rfc3339(s.last_seen_at),
            created_at: rfc3339(s.created_at),
            created: human(s.created_at),
            current: Some(s.handle) == current,
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
        user: Some(&user),
        csrf: &csrf,
        rows,
        notice,
        error,
    }))
}

async fn account(
    State(app): State<AppState>,
    session: Session,
    Query(query): Query<AccountQuery>,
) -> PageResult {
    let notice = match (query.revoked, query.password.as_deref()) {
        (_, Some("changed")) => {
            Some("Password changed. Every other session was logged out.".to_owned())
        }
        (Some(1), _) => Some("Logged out 1 other session.".to_owned()),
        (Some(n), _) => Some(format!("Logged out {n} other sessions.")),
        _ => None,
    };
    account_page(&app, &session, notice, None).await
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// What every account form checks first: its CSRF token (403 when wrong), then
/// that someone is logged in (`false`: send them to the login page).
async fn account_form(session: &Session, csrf: &str) -> Result<bool, PageError> {
    if !csrf::check(session, csrf).await? {
        return Err(PageError::bad_csrf());
    }
    Ok(session.principal().await?.is_some())
}

async fn revoke(
    session: Session,
    Path(handle): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    if !account_form(&session, &form.csrf).await? {
        return Ok(Redirect::to("/login").into_response());
    }
    // A malformed handle and another user's are the same "not yours" (SR-27).
    let not_found = || PageError::new(StatusCode::NOT_FOUND, "No such session of yours.");
    let handle: Handle = handle.parse().map_err(|_| not_found())?;
    let was_current = session.handle().await? == Some(handle);
    if !session.revoke(&handle).await? {
        return Err(not_found());
    }
    Ok(Redirect::to(if was_current { "/login" } else { "/account" }).into_response())
}

async fn revoke_others(session: Session, Form(form): Form<CsrfForm>) -> PageResult {
    if !account_form(&session, &form.csrf).await? {
        return Ok(Redirect::to("/login").into_response());
    }
    let revoked = session.revoke_others().await?;
    Ok(Redirect::to(&format!("/account?revoked={revoked}")).into_response())
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
    session: Session,
    Form(form): Form<PasswordForm>,
) -> PageResult {
    if !account_form(&session, &form.csrf).await? {
        return Ok(Redirect::to("/login").into_response());
    }
    match apply_password_change(&app.users, &session, &form.current, &form.new).await {
        Ok(_) => Ok(Redirect::to("/account?password=changed").into_response()),
        Err(err) => {
            let status = err.status();
            let message = match status {
                StatusCode::FORBIDDEN => "The current password is wrong.",
                StatusCode::UNPROCESSABLE_ENTITY => {
                    "The new password must be 8 to 1024 bytes long."
                }
                _ => "The password could not be changed.",
            };
            let page = account_page(&app, &session, None, Some(message)).await?;
            Ok((status, page).into_response())
        }
    }
}

async fn logout(session: Session, Form(form): Form<CsrfForm>) -> PageResult {
    // Without a session there is nothing to protect: just make sure the cookie goes.
    if session.handle().await?.is_some() && !csrf::check(&session, &form.csrf).await? {
        return Err(PageError::bad_csrf());
    }
    session.logout().await?;
    Ok(([crate::security::CLEAR_SITE_DATA], Redirect::to("/")).into_response())
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
