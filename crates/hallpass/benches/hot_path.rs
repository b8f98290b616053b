//! Hot-path micro-benchmarks (H23): token generation, cookie sign/verify, `Cookie`
//! header parsing, and the layer's per-request overhead in-process against the same
//! router without the layer.
//!
//! ```text
//! cargo bench -p hallpass --bench hot_path
//! ```

#![allow(
    clippy::unwrap_used,
    missing_docs,
    reason = "a benchmark harness: a setup failure should abort the run"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hallpass::__private::{BenchToken as Token, sign_cookie, verify_cookie};
use hallpass::{
    Handle, Key, Keyring, MemoryStore, Session, SessionConfig, SessionError, SessionLayer,
};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Request};
use tower::ServiceExt;

const SESSIONS: usize = 1_000;

fn crypto(c: &mut Criterion) {
    c.bench_function("token/generate", |b| b.iter(Token::generate));
    let keyring = Keyring::new(Key::generate());
    let (handle, token) = (Handle::generate(), Token::generate());
    c.bench_function("cookie/sign", |b| {
        b.iter(|| sign_cookie(&keyring, "__Host-id", &handle, &token))
    });
    let value = sign_cookie(&keyring, "__Host-id", &handle, &token);
    c.bench_function("cookie/verify", |b| {
        b.iter(|| verify_cookie(&keyring, "__Host-id", black_box(value.as_bytes())))
    });
    let rotated = Keyring::new(Key::generate()).with_verify_only(keyring.primary().clone());
    c.bench_function("cookie/verify_old_key", |b| {
        b.iter(|| verify_cookie(&rotated, "__Host-id", black_box(value.as_bytes())))
    });
}

fn parsing(c: &mut Criterion) {
    let value = "A".repeat(108);
    let mut typical = HeaderMap::new();
    typical.insert(
        COOKIE,
        HeaderValue::from_str(&format!(
            "_ga=GA1.2.3; theme=dark; __Host-id={value}; lang=en"
        ))
        .unwrap(),
    );
    c.bench_function("cookie_header/typical", |b| {
        b.iter(|| hallpass::cookie::find(black_box(&typical), "__Host-id", 8192))
    });
    let mut adversarial = HeaderMap::new();
    let hostile: String = (0..800).map(|_| "a=\\\"; ").collect();
    adversarial.insert(COOKIE, HeaderValue::from_str(&hostile).unwrap());
    c.bench_function("cookie_header/adversarial_4k", |b| {
        b.iter(|| hallpass::cookie::find(black_box(&adversarial), "__Host-id", 8192))
    });
    // AT-27: time per byte stays flat as hostile input grows (linear parse). Each
    // pattern is what would make a naive parser do extra work: many tiny pairs, quotes
    // and escapes, near-miss names, repeated session names (the distinct-value check),
    // and one huge value.
    let mut group = c.benchmark_group("cookie_header_linear");
    for size in [1024usize, 4096, 16 * 1024, 64 * 1024] {
        let patterns: [(&str, String); 5] = [
            ("tiny_pairs", "a=;".repeat(size / 3)),
            ("quotes", "a=\\\"; ".repeat(size / 6)),
            ("near_miss", "__Host-i=x; ".repeat(size / 12)),
            ("same_name", "__Host-id=x; ".repeat(size / 13)),
            ("one_value", format!("__Host-id={}", "v".repeat(size - 10))),
        ];
        for (name, text) in patterns {
            let mut headers = HeaderMap::new();
            headers.insert(COOKIE, HeaderValue::from_str(&text).unwrap());
            group.throughput(criterion::Throughput::Bytes(text.len() as u64));
            group.bench_with_input(criterion::BenchmarkId::new(name, size), &headers, |b, h| {
                b.iter(|| hallpass::cookie::find(black_box(h), "__Host-id", usize::MAX))
            });
        }
    }
    group.finish();
}

async fn read(session: Session) -> Result<String, SessionError> {
    Ok(session.get::<String>("user").await?.unwrap_or_default())
}

async fn count(session: Session) -> Result<String, SessionError> {
    Ok(session.increment("views", 1).await?.to_string())
}

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.insert("user", "alice").await?;
    session.insert("views", 0).await?;
    Ok("ok")
}

fn request(uri: &str, cookie: Option<&HeaderValue>) -> Request<Body> {
    let mut request = Request::get(uri).body(Body::empty()).unwrap();
    if let Some(cookie) = cookie {
        request.headers_mut().insert(COOKIE, cookie.clone());
    }
    request
}

fn layer_overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let layer = SessionLayer::new(
        Arc::new(MemoryStore::new()),
        SessionConfig::new(Keyring::new(Key::generate())),
    )
    .unwrap();
    let with_layer = Router::new()
        .route("/read", get(read))
        .route("/count", get(count))
        .route("/login", get(login))
        .layer(layer);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let bare = Router::new()
        .route("/read", get(|| async { "alice".to_owned() }))
        .route(
            "/count",
            get(|| async { (COUNTER.fetch_add(1, Ordering::Relaxed) + 1).to_string() }),
        );

    let cookies: Vec<HeaderValue> = runtime.block_on(async {
        let mut cookies = Vec::with_capacity(SESSIONS);
        for _ in 0..SESSIONS {
            let response = with_layer
                .clone()
                .oneshot(request("/login", None))
                .await
                .unwrap();
            let set = response
                .headers()
                .get(SET_COOKIE)
                .unwrap()
                .to_str()
                .unwrap();
            cookies.push(HeaderValue::from_str(set.split(';').next().unwrap()).unwrap());
        }
        cookies
    });

    let mut group = c.benchmark_group("request");
    for route in ["/read", "/count"] {
        let mut next = 0usize;
        group.bench_function(format!("bare{route}"), |b| {
            b.iter_batched(
                || request(route, Some(&cookies[0])),
                |req| runtime.block_on(bare.clone().oneshot(req)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("hallpass_memory{route}"), |b| {
            b.iter_batched(
                || {
                    next = (next + 1) % SESSIONS;
                    request(route, Some(&cookies[next]))
                },
                |req| {
                    let response = runtime.block_on(with_layer.clone().oneshot(req)).unwrap();
                    debug_assert_eq!(response.status(), 200);
                    response
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, crypto, parsing, layer_overhead);
criterion_main!(benches);
