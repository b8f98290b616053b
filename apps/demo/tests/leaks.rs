//! SR-44, SR-49, AT-30: every flow of the demo, at `RUST_LOG=trace`, through the real
//! binary; then every log line, every response body and every response header other
//! than `Set-Cookie` is searched for every token the server issued, in every form a
//! leak could take (the cookie value, a 40-character slice of it, the raw token in
//! base64url, base64, lower and upper hex, percent-encoded). Zero hits.
//!
//! The flows: the counter page and API, the cart, failed logins (unknown user, wrong
//! password), API and form logins, `/api/me`, the session list and account page,
//! revoking one session by API and by form, "log out everywhere else" by API and form,
//! password change by API and form, refused requests (cross-site, missing CSRF token,
//! tampered and forged cookies, a 431), idle expiry, and logout by API and form.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use std::time::Duration;

use common::{Agent, COOKIE, Reply, leak_forms, spawn};
use serde_json::json;

const USER: (&str, &str) = ("alice", "alice-password-1");

async fn form_login(agent: &mut Agent, replies: &mut Vec<Reply>, password: &str) -> Reply {
    let page = agent.get("/login").await;
    let csrf = page.csrf();
    replies.push(page);
    agent
        .post_form(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", USER.0),
                ("password", password),
            ],
        )
        .await
}

#[tokio::test]
async fn no_issued_token_appears_in_any_log_line_body_or_header() {
    let dir = tempfile::tempdir().unwrap();
    let user = format!("{}:{}", USER.0, USER.1);
    let demo = spawn(
        dir.path(),
        &["--user", &user, "--idle-timeout", "2s"],
        &[("RUST_LOG", "trace")],
    );
    let mut replies = Vec::new();

    // Anonymous: counter page, API counter, cart.
    let mut laptop = Agent::new(&demo.base);
    replies.push(laptop.get("/").await);
    replies.push(laptop.get("/").await);
    replies.push(laptop.get("/api/views").await);
    replies.push(
        laptop
            .post_json("/api/cart", json!({"item": "apple"}))
            .await,
    );
    replies.push(laptop.get("/api/cart").await);

    // Failed logins look alike and change nothing.
    for (name, password) in [("nobody", "whatever-1"), (USER.0, "wrong-password")] {
        let reply = laptop
            .post_json(
                "/api/login",
                json!({"username": name, "password": password}),
            )
            .await;
        assert_eq!(reply.status, 401);
        replies.push(reply);
    }
    let reply = form_login(&mut laptop, &mut replies, "wrong-password").await;
    replies.push(reply);

    // Logins: API on the laptop, forms on the phone and the tablet.
    replies.push(laptop.login(USER).await);
    let mut phone = Agent::with_user_agent(&demo.base, "Mozilla/5.0 (iPhone) Safari/604.1");
    let reply = form_login(&mut phone, &mut replies, USER.1).await;
    assert_eq!(reply.status, 303);
    replies.push(reply);
    let mut tablet = Agent::new(&demo.base);
    let reply = form_login(&mut tablet, &mut replies, USER.1).await;
    assert_eq!(reply.status, 303);
    replies.push(reply);
    for path in ["/api/me", "/api/sessions", "/api/cart", "/account", "/"] {
        replies.push(laptop.get(path).await);
    }

    // Revoke the phone by API; log out everywhere else by API.
    let phone_handle = phone.get("/api/me").await.json()["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    replies.push(
        laptop
            .delete(&format!("/api/sessions/{phone_handle}"))
            .await,
    );
    replies.push(phone.get("/api/me").await);
    replies.push(laptop.post_empty("/api/sessions/revoke-others").await);
    replies.push(tablet.get("/account").await);

    // The same by form, after two more logins.
    let mut second = Agent::new(&demo.base);
    let mut third = Agent::new(&demo.base);
    second.login(USER).await;
    third.login(USER).await;
    let page = laptop.get("/account").await;
    let csrf = page.csrf();
    replies.push(page);
    let second_handle = second.get("/api/me").await.json()["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    replies.push(
        laptop
            .post_form(
                &format!("/account/sessions/{second_handle}/revoke"),
                &[("csrf", &csrf)],
            )
            .await,
    );
    replies.push(
        laptop
            .post_form("/account/revoke-others", &[("csrf", &csrf)])
            .await,
    );

    // Password change by API, then by form (each rotates the session).
    replies.push(
        laptop
            .post_json(
                "/api/password",
                json!({"current": USER.1, "new": "alice-password-2"}),
            )
            .await,
    );
    let page = laptop.get("/account").await;
    let csrf = page.csrf();
    replies.push(page);
    replies.push(
        laptop
            .post_form(
                "/account/password",
                &[
                    ("csrf", &csrf),
                    ("current", "alice-password-2"),
                    ("new", USER.1),
                ],
            )
            .await,
    );

    // Refused: cross-site, no CSRF token, tampered and forged cookies, a 431.
    let mut cross = Agent::new(&demo.base);
    cross.cookie.clone_from(&laptop.cookie);
    cross.extra = vec![
        ("origin".to_owned(), "https://evil.example".to_owned()),
        ("sec-fetch-site".to_owned(), "cross-site".to_owned()),
    ];
    replies.push(cross.post_empty("/api/logout").await);
    replies.push(laptop.post_form("/logout", &[("csrf", "")]).await);
    let live = laptop.cookie.clone().unwrap();
    for value in [
        format!(
            "{}{}",
            &live[..107],
            if live.ends_with('A') { 'B' } else { 'A' }
        ),
        format!("{}x", &live[..107]),
        "A".repeat(108),
    ] {
        let mut forger = Agent::new(&demo.base);
        forger.cookie = Some(value);
        replies.push(forger.get("/api/me").await);
        replies.push(forger.get("/api/views").await);
    }
    let mut bomber = Agent::new(&demo.base);
    bomber.extra = vec![(
        "cookie".to_owned(),
        format!("{COOKIE}={live}; junk={}", "a".repeat(16 * 1024)),
    )];
    replies.push(bomber.get("/api/me").await);

    // Idle expiry: the tablet's session (revoked above) and a fresh one left alone.
    let mut idle = Agent::new(&demo.base);
    idle.login(USER).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let expired = idle.get("/api/me").await;
    assert_eq!(expired.status, 401);
    replies.push(expired);

    // Logout by API and by form.
    replies.push(laptop.post_empty("/api/logout").await);
    let mut last = Agent::new(&demo.base);
    let reply = form_login(&mut last, &mut replies, USER.1).await;
    replies.push(reply);
    let page = last.get("/").await;
    let csrf = page.csrf();
    replies.push(page);
    replies.push(last.post_form("/logout", &[("csrf", &csrf)]).await);
    replies.push(last.get("/account").await);

    let agents = [
        laptop, phone, tablet, second, third, cross, bomber, idle, last,
    ];
    let logs = demo.stop();
    let issued: Vec<String> = agents
        .iter()
        .flat_map(|agent| agent.issued.iter().cloned())
        .collect();
    assert!(issued.len() >= 12, "tokens issued: {}", issued.len());
    // Everything was logged: every session event, the rejected cookies (debug), and
    // every SQL statement the store ran (sqlx at debug).
    let lines = logs.lines().count();
    assert!(lines > 200, "only {lines} log lines");
    for needle in [
        "DEBUG sqlx::query",
        "session cookie rejected",
        "rotated",
        "logged_out",
        "revoked",
        "expired",
    ] {
        assert!(logs.contains(needle), "no {needle:?} in the logs");
    }
    for value in &issued {
        for form in leak_forms(value) {
            for (n, line) in logs.lines().enumerate() {
                assert!(!line.contains(&form), "a token in log line {n}: {line}");
            }
        }
    }
    let checked = common::assert_no_token_in(&replies, &issued);
    assert_eq!(checked, issued.len() * 7);
}
