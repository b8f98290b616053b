//! What device binding (DBSC) costs a request, in-process on the memory store:
//! a read of a session without device binding configured, of an unbound session with
//! it configured, and of a bound session (its bound cookie verified); and a refresh
//! (the proof verified, the binding moved on in one store step, a new bound cookie
//! and the instructions), with ES256 and RS256 proofs. The browser's signing is done
//! outside the measurement.
//!
//! ```text
//! cargo bench -p hallpass --features device-binding --bench device_binding
//! ```

#![allow(
    clippy::unwrap_used,
    missing_docs,
    reason = "a benchmark harness: a setup failure should abort the run"
)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hallpass::dbsc::DeviceBinding;
use hallpass::{Key, Keyring, MemoryStore, Session, SessionConfig, SessionError, SessionLayer};
use hallpass_testkit::device::{DeviceKey, Offer, parse_challenge};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

const BOUND: &str = "__Host-hallpass-bound";

async fn read(session: Session) -> Result<String, SessionError> {
    Ok(session
        .principal()
        .await?
        .map(|p| p.to_string())
        .unwrap_or_default())
}

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.login("alice").await?;
    Ok("ok")
}

fn app(device: bool) -> Router {
    let mut config = SessionConfig::new(Keyring::new(Key::generate()));
    if device {
        config = config.with_device_binding(DeviceBinding::after_login("https://app.test"));
    }
    Router::new()
        .route("/read", get(read))
        .route("/login", post(login))
        .route("/hallpass/dbsc/register", post(hallpass::dbsc::register))
        .route("/hallpass/dbsc/refresh", post(hallpass::dbsc::refresh))
        .layer(SessionLayer::new(Arc::new(MemoryStore::new()), config).unwrap())
}

/// A browser's cookie jar, as one `Cookie` value.
#[derive(Clone, Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn keep(&mut self, response: &Response<Body>) {
        for set in response.headers().get_all(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.0.retain(|(n, _)| n != name);
            self.0.push((name.to_owned(), value.to_owned()));
        }
    }

    fn header(&self) -> HeaderValue {
        let text: Vec<String> = self.0.iter().map(|(n, v)| format!("{n}={v}")).collect();
        HeaderValue::from_str(&text.join("; ")).unwrap()
    }
}

fn request(method: &str, uri: &str, jar: &Jar, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri);
    if !jar.0.is_empty() {
        request = request.header(COOKIE, jar.header());
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::empty()).unwrap()
}

/// Logs in; with `key`, registers too. The jar and the session id.
async fn browser(app: &Router, key: Option<&DeviceKey>) -> (Jar, String) {
    let mut jar = Jar::default();
    let response = app
        .clone()
        .oneshot(request("POST", "/login", &jar, &[]))
        .await
        .unwrap();
    jar.keep(&response);
    let Some(key) = key else {
        return (jar, String::new());
    };
    let offer = response
        .headers()
        .get("secure-session-registration")
        .unwrap()
        .to_str()
        .unwrap();
    let offer = Offer::parse(offer).unwrap();
    let proof = key.registration(&offer.challenge);
    let response = app
        .clone()
        .oneshot(request(
            "POST",
            &offer.path,
            &jar,
            &[("secure-session-response", &proof)],
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    jar.keep(&response);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let instructions: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = instructions["session_identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    (jar, id)
}

fn requests(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plain = app(false);
    let device = app(true);
    let key = DeviceKey::es256();
    let (plain_jar, unbound_jar, bound_jar) = runtime.block_on(async {
        (
            browser(&plain, None).await.0,
            browser(&device, None).await.0,
            browser(&device, Some(&key)).await.0,
        )
    });
    assert!(bound_jar.0.iter().any(|(name, _)| name == BOUND));
    let mut group = c.benchmark_group("device_binding/read");
    for (name, router, jar) in [
        ("not_configured", &plain, &plain_jar),
        ("unbound", &device, &unbound_jar),
        ("bound", &device, &bound_jar),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || request("GET", "/read", jar, &[]),
                |req| {
                    let response = runtime.block_on(router.clone().oneshot(req)).unwrap();
                    debug_assert_eq!(response.status(), 200);
                    response
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();

    let mut group = c.benchmark_group("device_binding/refresh");
    for key in [DeviceKey::es256(), DeviceKey::rs256()] {
        let (jar, id) = runtime.block_on(browser(&device, Some(&key)));
        group.bench_function(key.alg(), |b| {
            b.iter_batched(
                || {
                    // The 403 with a challenge, and the browser's signature: not measured.
                    let response = runtime
                        .block_on(device.clone().oneshot(request(
                            "POST",
                            "/hallpass/dbsc/refresh",
                            &jar,
                            &[("sec-secure-session-id", &id)],
                        )))
                        .unwrap();
                    let value = response.headers()["secure-session-challenge"]
                        .to_str()
                        .unwrap()
                        .to_owned();
                    let (challenge, _) = parse_challenge(&value).unwrap();
                    let proof = key.refresh(&challenge);
                    request(
                        "POST",
                        "/hallpass/dbsc/refresh",
                        &jar,
                        &[
                            ("sec-secure-session-id", &id),
                            ("secure-session-response", &proof),
                        ],
                    )
                },
                |req| {
                    let response = runtime.block_on(device.clone().oneshot(req)).unwrap();
                    assert_eq!(response.status(), 200);
                    response
                },
                // One challenge per refresh: a batch of them would be spent by the
                // first (each refresh moves the epoch on).
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, requests);
criterion_main!(benches);
