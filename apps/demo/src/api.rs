//! The JSON API. Paths and shapes are the demo's public contract (issue 5):
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthz` | 200 |
//! | `GET /api/views` | `{"views": N}`, the seed's visit counter (exact under concurrency) |
//! | `GET`/`POST /api/cart` | `{"items": [...]}`; POST takes `{"item": "…"}` |
//! | `POST /api/login` | `{"username","password"}` → `{"user"}`, new token, cart kept; 401 on bad credentials |
//! | `GET /api/me` | `{"user","handle","created_at","last_seen_at","idle_expires_at","absolute_expires_at"}` or 401 |
//! | `GET /api/sessions` | `[{"handle","current","created_at","last_seen_at","ip","user_agent"}]` or 401 |
//! | `DELETE /api/sessions/{handle}` | 204; 404 for anything but one's own session |
//! | `POST /api/sessions/revoke-others` | `{"revoked": N}` |
//! | `POST /api/password` | `{"current","new"}` → 204; rotates this session, revokes the others |
//! | `POST /api/logout` | 204; session deleted, cookie cleared |

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{delete, get, post};
use hallpass::{Handle, Session, SessionError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{ApiError, ApiJson};
use crate::state::AppState;
use crate::times::rfc3339;
use crate::users::{PasswordChangeError, Secret, Users};

/// Cart items kept per session, and the longest item name.
pub(crate) const MAX_CART_ITEMS: usize = 50;
pub(crate) const MAX_ITEM_LEN: usize = 200;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/views", get(views))
        .route("/api/cart", get(cart).post(add_to_cart))
        .route("/api/login", post(login))
        .route("/api/me", get(me))
        .route("/api/sessions", get(sessions))
        .route("/api/sessions/revoke-others", post(revoke_others))
        .route("/api/sessions/{handle}", delete(revoke))
        .route("/api/password", post(change_password))
        .route("/api/logout", post(logout))
}

async fn views(session: Session) -> Result<Json<serde_json::Value>, ApiError> {
    let views = session.increment("views", 1).await?;
    Ok(Json(json!({ "views": views })))
}

/// The cart is one session key per item (`cart.item.000001`, …) numbered by an exact
/// increment, so two concurrent adds both land: a list rewritten whole would lose one.
mod cart_keys {
    pub(crate) const NEXT: &str = "cart.next";
    pub(crate) const ITEM_PREFIX: &str = "cart.item.";
}

async fn items(session: &Session) -> Result<Vec<String>, SessionError> {
    let mut items = Vec::new();
    for key in session.keys().await? {
        if key.starts_with(cart_keys::ITEM_PREFIX) {
            items.extend(session.get::<String>(&key).await.ok().flatten());
        }
    }
    Ok(items)
}

async fn cart(session: Session) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "items": items(&session).await? })))
}

#[derive(Deserialize)]
struct NewItem {
    item: String,
}

async fn add_to_cart(
    session: Session,
    ApiJson(body): ApiJson<NewItem>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let item = body.item.trim();
    if item.is_empty() || item.chars().count() > MAX_ITEM_LEN || item.chars().any(char::is_control)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("an item is 1 to {MAX_ITEM_LEN} characters, without control characters"),
        ));
    }
    if items(&session).await?.len() >= MAX_CART_ITEMS {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("the cart holds at most {MAX_CART_ITEMS} items"),
        ));
    }
    let number = session.increment(cart_keys::NEXT, 1).await?;
    session
        .insert(&format!("{}{number:06}", cart_keys::ITEM_PREFIX), item)
        .await?;
    Ok(Json(json!({ "items": items(&session).await? })))
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: Secret,
}

/// Runs argon2 off the async workers.
pub(crate) async fn verify(users: &Arc<Users>, username: &str, password: &Secret) -> bool {
    let users = Arc::clone(users);
    let (username, password) = (username.to_owned(), password.clone());
    tokio::task::spawn_blocking(move || users.verify(&username, password.expose()))
        .await
        .unwrap_or(false)
}

/// Checks the credentials and, if they hold, logs `username` in on this session: a
/// new token, a new CSRF token, data kept. `Ok(false)` for wrong credentials.
///
/// The principal's generation is taken before the (slow) password check, so a
/// password change that commits while the check runs defeats this login
/// ([`SessionError::CredentialsChanged`]) instead of leaving a session that the
/// change never saw.
pub(crate) async fn log_in(
    users: &Arc<Users>,
    session: &Session,
    username: &str,
    password: &Secret,
) -> Result<bool, SessionError> {
    let ticket = session.begin_login(username).await?;
    if !verify(users, username, password).await {
        return Ok(false);
    }
    session.finish_login(ticket).await?;
    crate::csrf::renew(session).await?;
    Ok(true)
}

async fn login(
    State(app): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !log_in(&app.users, &session, &body.username, &body.password).await? {
        // SR-37: one answer for an unknown user and a wrong password.
        tracing::info!(target: "hallpass_demo::auth", "login failed");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong username or password",
        ));
    }
    Ok(Json(json!({ "user": body.username })))
}

async fn me(session: Session) -> Result<Json<serde_json::Value>, ApiError> {
    let record = session
        .summary()
        .await?
        .filter(|record| record.principal.is_some())
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Json(json!({
        "user": record.principal,
        "handle": record.handle,
        "created_at": rfc3339(record.created_at),
        "last_seen_at": rfc3339(record.last_seen_at),
        "idle_expires_at": rfc3339(record.idle_deadline),
        "absolute_expires_at": rfc3339(record.absolute_deadline),
    })))
}

#[derive(Serialize)]
struct SessionView {
    handle: Handle,
    current: bool,
    created_at: String,
    last_seen_at: String,
    ip: Option<String>,
    user_agent: Option<String>,
}

async fn sessions(session: Session) -> Result<Json<Vec<SessionView>>, ApiError> {
    let list = session.sessions().await?;
    let current = session.handle().await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SessionView {
                handle: s.handle,
                current: Some(s.handle) == current,
                created_at: rfc3339(s.created_at),
                last_seen_at: rfc3339(s.last_seen_at),
                ip: s.client.ip.map(|ip| ip.to_string()),
                user_agent: s.client.user_agent,
            })
            .collect(),
    ))
}

async fn revoke(session: Session, Path(handle): Path<String>) -> Result<Response, ApiError> {
    if session.principal().await?.is_none() {
        return Err(ApiError::unauthorized());
    }
    // Another user's handle and a handle that never existed look the same (404).
    let Ok(handle) = handle.parse::<Handle>() else {
        return Err(ApiError::not_found());
    };
    if session.revoke(&handle).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found())
    }
}

async fn revoke_others(session: Session) -> Result<Json<serde_json::Value>, ApiError> {
    let revoked = session.revoke_others().await?;
    Ok(Json(json!({ "revoked": revoked })))
}

#[derive(Deserialize)]
struct PasswordChange {
    current: Secret,
    new: Secret,
}

/// Changes the password, then ends every other session of the user and every login
/// of it still in flight, and rotates this session (SR-26): whoever knew the old
/// password is logged out everywhere — also when this session is revoked while the
/// change runs.
pub(crate) async fn apply_password_change(
    users: &Arc<Users>,
    session: &Session,
    current: &Secret,
    new: &Secret,
) -> Result<u64, ApiError> {
    let user = session
        .principal()
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let users = Arc::clone(users);
    let (name, current, new) = (user, current.clone(), new.clone());
    let changed =
        tokio::task::spawn_blocking(move || users.change(&name, current.expose(), new.expose()))
            .await
            .unwrap_or(Err(PasswordChangeError::Hash));
    match changed {
        Ok(()) => {}
        Err(PasswordChangeError::WrongPassword) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "the current password is wrong",
            ));
        }
        Err(err @ PasswordChangeError::BadLength) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                err.to_string(),
            ));
        }
        Err(err) => {
            tracing::error!(target: "hallpass_demo::auth", error = %err, "password change failed");
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "password change failed",
            ));
        }
    }
    let revoked = session.credentials_changed().await?;
    if session.principal().await?.is_some() {
        crate::csrf::renew(session).await?;
    }
    Ok(revoked)
}

async fn change_password(
    State(app): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    apply_password_change(&app.users, &session, &body.current, &body.new).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logout(session: Session) -> Result<Response, ApiError> {
    session.logout().await?;
    Ok((StatusCode::NO_CONTENT, [crate::security::CLEAR_SITE_DATA]).into_response())
}
