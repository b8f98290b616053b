//! The JSON API. Paths and shapes are the demo's public contract (issue 5):
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthz` | 200 |
//! | `GET /api/views` | `{"views": N}`, the seed's visit counter (exact under concurrency) |
//! | `GET`/`POST /api/cart` | `{"items": [...]}`; POST takes `{"item": "…"}` |
//! | `POST /api/login` | `{"username","password","remember"?}` → `{"user"}`, new token, cart kept; 401 on bad credentials, 503 with `Retry-After` when too many logins run at once |
//! | `GET /api/me` | `{"user","handle","created_at","last_seen_at","idle_expires_at","absolute_expires_at"}` or 401 |
//! | `GET /api/sessions` | `[{"handle","current","created_at","last_seen_at","ip","user_agent","device_bound_at"}]` or 401 (`device_bound_at`: when a browser bound the session to its key, DBSC; `null` when not bound) |
//! | `DELETE /api/sessions/{handle}` | 204; 404 for anything but one's own session |
//! | `POST /api/sessions/revoke-others` | `{"revoked": N}` |
//! | `POST /api/password` | `{"current","new"}` → 204; rotates this session, revokes the others |
//! | `POST /api/logout` | 204; session deleted, cookie cleared |

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{delete, get, post};
use axum::{Form, Router};
use hallpass::{Handle, Session, SessionError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::account;
use crate::error::{ApiError, ApiJson};
use crate::guard::Authenticated;
use crate::state::AppState;
use crate::times::rfc3339;
use crate::users::Secret;

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
        .route(
            crate::device::DEVICE_REGISTRATION,
            post(hallpass::dbsc::register),
        )
        .route(crate::device::DEVICE_REFRESH, post(hallpass::dbsc::refresh))
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
    /// "Remember me": the cookie outlives a browser restart (until the session's
    /// absolute deadline).
    #[serde(default)]
    remember: bool,
    /// The identity provider's session id, as an OpenID Connect callback takes it
    /// from the ID token's `sid`: the session is labelled with it, so a
    /// back-channel logout of that id ends it.
    #[serde(default)]
    oidc_sid: Option<String>,
}

async fn login(
    State(app): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Json<serde_json::Value>, ApiError> {
    account::log_in(
        &app.users,
        &app.slots,
        &session,
        &body.username,
        &body.password,
        body.remember,
    )
    .await?;
    if let Some(sid) = &body.oidc_sid {
        session
            .label(crate::backchannel::SID_LABEL, sid)
            .await
            .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid oidc_sid"))?;
    }
    Ok(Json(json!({ "user": body.username })))
}

async fn me(who: Authenticated) -> Result<Json<serde_json::Value>, ApiError> {
    let record = who
        .session
        .summary()
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Json(json!({
        "user": who.user,
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
    device_bound_at: Option<String>,
}

async fn sessions(who: Authenticated) -> Result<Json<Vec<SessionView>>, ApiError> {
    let list = who.session.sessions().await?;
    let current = who.session.handle().await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SessionView {
                handle: s.handle,
                current: Some(s.handle) == current,
                created_at: rfc3339(s.created_at),
                last_seen_at: rfc3339(s.last_seen_at),
                ip: s.client.ip().map(|ip| ip.to_string()),
                user_agent: s.client.user_agent().map(str::to_owned),
                device_bound_at: s.device_bound_at.map(rfc3339),
            })
            .collect(),
    ))
}

async fn revoke(who: Authenticated, Path(handle): Path<String>) -> Result<StatusCode, ApiError> {
    account::revoke(&who, &handle).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A login older than `--reauthenticate-after` (5 minutes) is answered 401: log in
/// again (`POST /api/login`, a re-authentication of the same user), then retry.
async fn revoke_others(
    State(app): State<AppState>,
    who: Authenticated,
) -> Result<Json<serde_json::Value>, ApiError> {
    let revoked =
        account::revoke_others(&app.users, &app.slots, app.reauthenticate_after, &who, None)
            .await?;
    Ok(Json(json!({ "revoked": revoked })))
}

#[derive(Deserialize)]
struct PasswordChange {
    current: Secret,
    new: Secret,
}

async fn change_password(
    State(app): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    account::change_password(&app.users, &app.slots, &who, &body.current, &body.new).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logout(session: Session) -> Result<Response, ApiError> {
    account::log_out(&session).await?;
    Ok((StatusCode::NO_CONTENT, [crate::security::CLEAR_SITE_DATA]).into_response())
}

#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    logout_token: String,
}

/// `POST /backchannel-logout`: 200 and the sessions of the token's `sid` ended, or
/// 400 with the reason (the specification's `invalid_request`); never cached.
pub(crate) async fn backchannel_logout(
    State(app): State<AppState>,
    session: Session,
    Form(form): Form<LogoutForm>,
) -> Response {
    let Some(verifier) = app.backchannel.as_deref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = match verifier.verify(&form.logout_token) {
        Err(why) => {
            tracing::warn!(target: "hallpass_demo::backchannel", reason = why, "logout token refused");
            (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "invalid_request", "error_description": why })),
            )
                .into_response()
        }
        Ok(sid) => match session
            .revoke_by_label(crate::backchannel::SID_LABEL, &sid)
            .await
        {
            Ok(ended) => {
                tracing::info!(target: "hallpass_demo::backchannel", ended, "back-channel logout");
                StatusCode::OK.into_response()
            }
            Err(err) => {
                let (status, body) = err.answer();
                (status, body).into_response()
            }
        },
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
