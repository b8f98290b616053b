//! Heap allocations per request through the layer, for the three routes of the HTTP
//! benchmarks (`/read`, `/count`, `/login`) on the memory store: the requests are the
//! ones `bench/run.sh` sends, in-process, counted by dhat's global allocator.
//!
//! ```text
//! cargo bench -p hallpass --bench allocations
//! ```
//!
//! Prints one line per route: allocations and bytes allocated per request, the mean
//! over 2,000 requests after 200 to warm up. The bare router (no layer) is the
//! baseline the layer adds to.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    missing_docs,
    reason = "a benchmark harness: a setup failure should abort the run"
)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use hallpass::{Key, Keyring, MemoryStore, Session, SessionConfig, SessionError, SessionLayer};
use http::Request;
use http::header::{COOKIE, SET_COOKIE};
use tower::ServiceExt;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const WARM_UP: u64 = 200;
const MEASURED: u64 = 2_000;

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.login("alice").await?;
    session.insert("views", 0).await?;
    Ok("ok")
}

async fn count(session: Session) -> Result<String, SessionError> {
    Ok(session.increment("views", 1).await?.to_string())
}

async fn read(session: Session) -> Result<String, SessionError> {
    Ok(session
        .principal()
        .await?
        .map(String::from)
        .unwrap_or_default())
}

fn routes() -> Router {
    Router::new()
        .route("/login", get(login))
        .route("/count", get(count))
        .route("/read", get(read))
}

fn request(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.body(Body::empty()).unwrap()
}

/// Mean allocations and bytes per request of `send`, after a warm-up.
async fn per_request<F, Fut>(mut send: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..WARM_UP {
        send().await;
    }
    let before = dhat::HeapStats::get();
    for _ in 0..MEASURED {
        send().await;
    }
    let after = dhat::HeapStats::get();
    let n = MEASURED as f64;
    (
        (after.total_blocks - before.total_blocks) as f64 / n,
        (after.total_bytes - before.total_bytes) as f64 / n,
    )
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let bare = routes();
        let store = Arc::new(MemoryStore::new());
        let layer =
            SessionLayer::new(store, SessionConfig::new(Keyring::new(Key::generate()))).unwrap();
        let app = routes().layer(layer);
        let login_reply = app.clone().oneshot(request("/login", None)).await.unwrap();
        let cookie = login_reply.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        println!("route   | bare axum allocs | hallpass allocs | hallpass bytes");
        println!("--------|-----------------:|----------------:|---------------:");
        for route in ["/read", "/count", "/login"] {
            let with_cookie = route != "/login";
            let (bare_allocs, _) = per_request(|| {
                let bare = bare.clone();
                async move {
                    bare.oneshot(request(route, None)).await.unwrap();
                }
            })
            .await;
            let (allocs, bytes) = per_request(|| {
                let (app, cookie) = (app.clone(), cookie.clone());
                async move {
                    let cookie = with_cookie.then_some(cookie.as_str());
                    let reply = app.oneshot(request(route, cookie)).await.unwrap();
                    assert!(reply.status().is_success(), "{route}: {}", reply.status());
                }
            })
            .await;
            println!("{route:<7} | {bare_allocs:>16.1} | {allocs:>15.1} | {bytes:>14.0}");
        }
    });
}
