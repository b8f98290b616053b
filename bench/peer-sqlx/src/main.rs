//! tower-sessions on axum with its sqlx store: `--store sqlite://FILE|postgres://URL`.
//! The same handlers as the other tower-sessions bench server: get-then-insert is the
//! counter every tower-sessions tutorial writes. Listens on 127.0.0.1:$PORT.

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tower_sessions::{Session, SessionManagerLayer, SessionStore};
use tower_sessions_sqlx_store::sqlx::{PgPool, SqlitePool};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

async fn login(session: Session) -> impl IntoResponse {
    session
        .insert("user", "alice")
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    session
        .insert("views", 0i64)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok::<_, StatusCode>("ok")
}

async fn count(session: Session) -> impl IntoResponse {
    let views: i64 = session
        .get("views")
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .unwrap_or(0)
        + 1;
    session
        .insert("views", views)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok::<_, StatusCode>(views.to_string())
}

async fn read(session: Session) -> impl IntoResponse {
    match session.get::<String>("user").await {
        Ok(Some(user)) => user.into_response(),
        Ok(None) => StatusCode::UNAUTHORIZED.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn serve<S: SessionStore + Clone>(store: S) -> std::io::Result<()> {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8000);
    let app = Router::new()
        .route("/login", get(login))
        .route("/count", get(count))
        .route("/read", get(read))
        .layer(SessionManagerLayer::new(store).with_secure(false));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    axum::serve(listener, app).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .windows(2)
        .find(|w| w[0] == "--store")
        .map(|w| w[1].clone())
        .ok_or("usage: tower-sessions-sqlx-server --store sqlite://FILE|postgres://URL")?;
    if url.starts_with("sqlite:") {
        let pool = SqlitePool::connect(&format!("{url}?mode=rwc")).await?;
        let store = SqliteStore::new(pool);
        store.migrate().await?;
        serve(store).await?;
    } else {
        let store = PostgresStore::new(PgPool::connect(&url).await?);
        store.migrate().await?;
        serve(store).await?;
    }
    Ok(())
}
