//! Bare axum: the three routes with no sessions at all, the baseline of every ratio.

use axum::Router;
use axum::http::header::SET_COOKIE;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/login",
            get(|| async { ([(SET_COOKIE, "id=bare; Path=/; HttpOnly")], "ok") }),
        )
        .route("/count", get(|| async { "1" }))
        .route("/read", get(|| async { "alice" }));
    let listener = tokio::net::TcpListener::bind(bench_servers::addr()).await?;
    axum::serve(listener, app).await
}
