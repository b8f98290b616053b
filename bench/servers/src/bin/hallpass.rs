//! hallpass on axum: `--store memory|sqlite://…|postgres://…|redis://…`.

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use hallpass::{Key, Keyring, Session, SessionConfig, SessionError, SessionLayer};

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.login("alice").await?;
    session.insert("views", 0).await?;
    Ok("ok")
}

async fn count(session: Session) -> Result<String, SessionError> {
    Ok(session.increment("views", 1).await?.to_string())
}

async fn read(session: Session) -> Result<axum::response::Response, SessionError> {
    Ok(match session.principal().await? {
        Some(user) => String::from(user).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // With the `metrics` feature, a real recorder: what an operator's build pays.
    #[cfg(feature = "metrics")]
    let _metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let store = bench_servers::hallpass_store().await?;
    let layer = SessionLayer::new(store, SessionConfig::new(Keyring::new(Key::generate())))?;
    let app = Router::new()
        .route("/login", get(login))
        .route("/count", get(count))
        .route("/read", get(read))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind(bench_servers::addr()).await?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
