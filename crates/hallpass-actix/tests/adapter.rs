//! What only the actix adapter does: carrying actix's request head into the engine.
//! Everything the engine decides is covered by the HTTP conformance suite
//! (`tests/conformance.rs`); these cases pin the fields an adapter could drop.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use actix_web::{App, HttpResponse, test, web};
use hallpass::{Key, MemoryStore, SessionConfig};
use hallpass_actix::{Error, Session, SessionMiddleware};

/// Logs in and answers the IP and User-Agent the session recorded.
async fn login(session: Session) -> Result<HttpResponse, Error> {
    session.login("alice").await?;
    let summary = session.summary().await?.expect("a session after login");
    Ok(HttpResponse::Ok().body(format!(
        "{} {}",
        summary
            .client
            .ip()
            .map(|ip| ip.to_string())
            .unwrap_or_default(),
        summary.client.user_agent().unwrap_or_default()
    )))
}

/// SR-45, AT-11: every `X-Forwarded-For` field is read under the trusted-proxy rule,
/// and the peer address is the starting point. With two fields, an adapter that read
/// only the first would record the client the second proxy did not vouch for.
#[actix_rt::test]
async fn every_forwarded_for_field_and_the_peer_reach_the_engine() {
    let config =
        SessionConfig::new(Key::generate()).with_trusted_proxies(["10.0.0.0/8".parse().unwrap()]);
    let sessions = SessionMiddleware::new(MemoryStore::new(), config).unwrap();
    let app = test::init_service(
        App::new()
            .wrap(sessions)
            .route("/login", web::post().to(login)),
    )
    .await;
    let request = test::TestRequest::post()
        .uri("/login")
        .peer_addr("10.0.0.2:5000".parse().unwrap())
        .append_header(("X-Forwarded-For", "198.51.100.7"))
        .append_header(("X-Forwarded-For", "203.0.113.9, 10.0.0.1"))
        .append_header(("User-Agent", "Firefox/1"))
        .to_request();
    let body = test::call_and_read_body(&app, request).await;
    assert_eq!(body, "203.0.113.9 Firefox/1");

    // From a peer that is not a trusted proxy, the header is not believed at all.
    let request = test::TestRequest::post()
        .uri("/login")
        .peer_addr("192.0.2.1:5000".parse().unwrap())
        .append_header(("X-Forwarded-For", "203.0.113.9"))
        .to_request();
    let body = test::call_and_read_body(&app, request).await;
    assert_eq!(body, "192.0.2.1 ");
}

/// The extractor without the middleware is a wiring mistake: 500, not a panic.
#[actix_rt::test]
async fn a_route_without_the_middleware_answers_500() {
    let app = test::init_service(App::new().route(
        "/",
        web::get().to(|session: Session| async move {
            session.increment("n", 1).await?;
            Ok::<_, Error>(HttpResponse::Ok().finish())
        }),
    ))
    .await;
    let response = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
    assert_eq!(response.status().as_u16(), 500);
}
