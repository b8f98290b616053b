//! tower-sessions on axum: `--store memory|redis` (its MemoryStore, or its fred-based
//! Redis store). Get-then-insert is the counter every tower-sessions tutorial writes.

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tower_sessions::{MemoryStore, Session, SessionManagerLayer, SessionStore};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};

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
    let app = Router::new()
        .route("/login", get(login))
        .route("/count", get(count))
        .route("/read", get(read))
        .layer(SessionManagerLayer::new(store).with_secure(false));
    let listener = tokio::net::TcpListener::bind(bench_servers::addr()).await?;
    axum::serve(listener, app).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match bench_servers::store_arg("memory").as_str() {
        "redis" => {
            let pool = Pool::new(
                Config::from_url(&bench_servers::redis_url())?,
                None,
                None,
                None,
                6,
            )?;
            let _connection = pool.connect();
            pool.wait_for_connect().await?;
            serve(RedisStore::new(pool)).await?;
        }
        _ => serve(MemoryStore::default()).await?,
    }
    Ok(())
}
