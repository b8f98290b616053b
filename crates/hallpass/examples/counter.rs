//! The seed tutorials' visit counter (express-session "Example 2") on axum + hallpass.
//!
//! ```text
//! cargo run -p hallpass --example counter          # listens on 127.0.0.1:3000
//! PORT=8080 HALLPASS_KEYS=<base64url key> cargo run -p hallpass --example counter
//! ```
//!
//! First visit: "Welcome to this page for the first time!"; later visits: "You visited
//! this page N times". Plain HTTP is fine on loopback: browsers (and curl) accept
//! `Secure` cookies from `localhost`. Without `HALLPASS_KEYS` (comma-separated
//! base64url, the first signs) a key is generated at start, so sessions do not survive
//! a restart.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use hallpass::time::SystemClock;
use hallpass::{
    CleanupConfig, Key, Keyring, MemoryStore, Session, SessionConfig, SessionError, SessionLayer,
};

async fn counter(session: Session) -> Result<String, SessionError> {
    let views = session.increment("views", 1).await?;
    Ok(if views == 1 {
        "Welcome to this page for the first time!\n".to_owned()
    } else {
        format!("You visited this page {views} times\n")
    })
}

fn keyring() -> Result<Keyring, hallpass::config::KeyError> {
    match std::env::var("HALLPASS_KEYS") {
        Ok(list) => Keyring::from_base64url_list(&list),
        Err(_) => {
            tracing::warn!(
                "HALLPASS_KEYS is not set: using a random key, so sessions end when the server stops"
            );
            Ok(Keyring::new(Key::generate()))
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| format!("PORT must be a number from 1 to 65535, not {port:?}"))?,
        Err(_) => 3000,
    };
    let store = Arc::new(MemoryStore::new());
    // Frees the memory of expired sessions every minute (they are never served).
    hallpass::spawn_cleanup(
        store.clone(),
        Arc::new(SystemClock),
        CleanupConfig::default(),
    );
    let layer = SessionLayer::new(store, SessionConfig::new(keyring()?))?;
    let app = Router::new().route("/", get(counter)).layer(layer);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|err| format!("cannot listen on {addr}: {err}"))?;
    tracing::info!("counter example listening on http://localhost:{port}/ (Ctrl-C to stop)");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
