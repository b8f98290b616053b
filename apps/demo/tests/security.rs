//! The demo's security behaviour from outside: headers, the same-origin guard, CSRF
//! tokens on forms, header bounds, TLS and HSTS, and no token anywhere but Set-Cookie.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use common::{ALICE, Agent, Reply, serve};
use hallpass::time::Clock as _;
use serde_json::json;

fn assert_security_headers(reply: &Reply, path: &str) {
    let csp = reply
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("CSP on {path}"));
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{path}: {csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("script-src"),
        "{path}: {csp}"
    );
    assert_eq!(
        reply.header("x-content-type-options"),
        Some("nosniff"),
        "{path}"
    );
    assert_eq!(
        reply.header("referrer-policy"),
        Some("no-referrer"),
        "{path}"
    );
    assert_eq!(reply.header("x-frame-options"), Some("DENY"), "{path}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_no_store() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    agent.login(ALICE).await;
    for path in [
        "/",
        "/login",
        "/account",
        "/api/views",
        "/api/me",
        "/api/sessions",
        "/api/cart",
        "/healthz",
        "/nowhere",
        "/api/nowhere",
    ] {
        let reply = agent.get(path).await;
        assert_security_headers(&reply, path);
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{path}");
        // Plain HTTP: no HSTS (it would be ignored, and is wrong to promise).
        assert_eq!(reply.header("strict-transport-security"), None, "{path}");
    }
    let refused = agent.post_json("/api/logout", json!({})).await;
    assert_eq!(refused.status, 204);
    assert_security_headers(&refused, "/api/logout");
    // The stylesheet alone may be cached; it is the same for everyone.
    let css = agent.get("/style.css").await;
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(css.header("cache-control"), Some("public, max-age=3600"));
    assert_eq!(agent.get("/nowhere").await.status, 404);
    assert_eq!(
        agent.get("/api/nowhere").await.json(),
        json!({ "error": "not found" })
    );
}

#[tokio::test]
async fn the_cookie_is_host_prefixed_secure_httponly_strict() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    let reply = agent.get("/api/views").await;
    let cookie = reply.session_cookies()[0];
    assert!(cookie.starts_with("__Host-id="), "{cookie}");
    for attribute in ["; Path=/", "; Secure", "; HttpOnly", "; SameSite=Strict"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Domain") && !cookie.contains("Max-Age"),
        "{cookie}"
    );
}

/// Every state-changing route, API and form, with a body it would accept.
async fn state_changing_requests(
    agent: &mut Agent,
    csrf: &str,
    handle: &str,
) -> Vec<(String, Reply)> {
    let mut replies = Vec::new();
    let form = [("csrf", csrf)];
    replies.push((
        "POST /api/cart".to_owned(),
        agent.post_json("/api/cart", json!({"item": "x"})).await,
    ));
    replies.push((
        "POST /api/login".to_owned(),
        agent
            .post_json(
                "/api/login",
                json!({"username": ALICE.0, "password": ALICE.1}),
            )
            .await,
    ));
    replies.push((
        "POST /api/sessions/revoke-others".to_owned(),
        agent.post_empty("/api/sessions/revoke-others").await,
    ));
    replies.push((
        "POST /api/password".to_owned(),
        agent
            .post_json(
                "/api/password",
                json!({"current": ALICE.1, "new": "another-password"}),
            )
            .await,
    ));
    replies.push((
        "DELETE /api/sessions/{h}".to_owned(),
        agent.delete(&format!("/api/sessions/{handle}")).await,
    ));
    replies.push((
        "POST /api/logout".to_owned(),
        agent.post_empty("/api/logout").await,
    ));
    replies.push((
        "POST /login".to_owned(),
        agent
            .post_form(
                "/login",
                &[("csrf", csrf), ("username", ALICE.0), ("password", ALICE.1)],
            )
            .await,
    ));
    replies.push((
        "POST /account/revoke-others".to_owned(),
        agent.post_form("/account/revoke-others", &form).await,
    ));
    replies.push((
        "POST /account/password".to_owned(),
        agent
            .post_form(
                "/account/password",
                &[
                    ("csrf", csrf),
                    ("current", ALICE.1),
                    ("new", "another-password"),
                ],
            )
            .await,
    ));
    replies.push((
        "POST /account/sessions/{h}/revoke".to_owned(),
        agent
            .post_form(&format!("/account/sessions/{handle}/revoke"), &form)
            .await,
    ));
    replies.push((
        "POST /logout".to_owned(),
        agent.post_form("/logout", &form).await,
    ));
    replies
}

#[tokio::test]
async fn cross_site_requests_are_refused_and_change_nothing() {
    let demo = serve().await;
    let mut victim = Agent::new(&demo.base);
    victim.login(ALICE).await;
    let csrf = victim.get("/account").await.csrf();
    let handle = victim.get("/api/me").await.json()["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    let own_origin = format!("http://{}", demo.addr);
    let attacks: [&[(&str, &str)]; 5] = [
        &[("origin", "https://evil.example")],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
        &[
            ("sec-fetch-site", "same-site"),
            ("origin", "http://sub.127.0.0.1.example"),
        ],
        // A forged-looking same Origin does not excuse a cross-site fetch.
        &[
            ("sec-fetch-site", "cross-site"),
            ("origin", own_origin.as_str()),
        ],
    ];
    for headers in attacks {
        victim.extra = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        for (what, reply) in state_changing_requests(&mut victim, &csrf, &handle).await {
            assert_eq!(reply.status, 403, "{what} with {headers:?}: {}", reply.body);
            assert!(
                reply.session_cookies().is_empty(),
                "{what} touched the session"
            );
        }
    }
    victim.extra.clear();
    // Still logged in, with the old password, the session and its data untouched.
    assert_eq!(
        victim.get("/api/me").await.json()["handle"],
        handle.as_str()
    );
    assert_eq!(victim.get("/api/cart").await.json(), json!({ "items": [] }));
    assert_eq!(demo.store.count(demo.clock.now()).await.unwrap(), 1);

    // The same requests from this origin go through.
    victim.extra = vec![
        ("origin".to_owned(), own_origin.clone()),
        ("sec-fetch-site".to_owned(), "same-origin".to_owned()),
    ];
    let reply = victim.post_json("/api/cart", json!({"item": "ok"})).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn forms_need_the_session_bound_csrf_token() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    let login_page = agent.get("/login").await;
    let csrf = login_page.csrf();
    assert_eq!(csrf.len(), 43);
    let credentials = [("username", ALICE.0), ("password", ALICE.1)];

    // Missing, wrong, or another session's token: 403 and no login.
    let mut other = Agent::new(&demo.base);
    let foreign = other.get("/login").await.csrf();
    for token in ["", "wrong", foreign.as_str()] {
        let mut form = credentials.to_vec();
        form.push(("csrf", token));
        let reply = agent.post_form("/login", &form).await;
        assert_eq!(reply.status, 403, "token {token:?}");
        assert!(reply.body.contains("did not come from this site"));
    }
    assert_eq!(agent.get("/api/me").await.status, 401);

    let mut form = credentials.to_vec();
    form.push(("csrf", &csrf));
    let reply = agent.post_form("/login", &form).await;
    assert_eq!(reply.status, 303);
    assert_eq!(reply.header("location"), Some("/account"));
    // SR-44: the token rotates with the session; the pre-login one is now worthless.
    let account = agent.get("/account").await;
    let after = account.csrf();
    assert_ne!(after, csrf);
    let reply = agent
        .post_form("/account/revoke-others", &[("csrf", &csrf)])
        .await;
    assert_eq!(reply.status, 403);
    let reply = agent.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, 403);
    assert_eq!(agent.get("/api/me").await.status, 200);
    let reply = agent.post_form("/logout", &[("csrf", &after)]).await;
    assert_eq!(reply.status, 303);
    assert_eq!(agent.get("/api/me").await.status, 401);
}

#[tokio::test]
async fn oversized_and_crowded_cookie_headers_get_431_and_the_server_carries_on() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    agent.login(ALICE).await;
    for size in [16 * 1024, 64 * 1024] {
        let mut attacker = Agent::new(&demo.base);
        attacker.extra = vec![("cookie".to_owned(), format!("junk={}", "a".repeat(size)))];
        let reply = attacker.get("/api/views").await;
        assert_eq!(reply.status, 431, "{size} bytes");
        assert_security_headers(&reply, "431");
    }
    // AT-26: 5,000 cookies in one header are refused on size, before any parsing.
    let mut attacker = Agent::new(&demo.base);
    let many: Vec<String> = (0..5_000).map(|i| format!("c{i}=1")).collect();
    attacker.extra = vec![("cookie".to_owned(), many.join("; "))];
    let reply = attacker.get("/api/views").await;
    assert_eq!(reply.status, 431, "5,000 cookies");
    assert!(reply.header("set-cookie").is_none());
    // 1 MB is over hyper's own header buffer: it answers 431 itself or closes the
    // connection; either way nothing reaches a handler and the server carries on.
    let huge = format!("junk={}", "a".repeat(1024 * 1024));
    let outcome = common::http_client()
        .get(format!("{}/api/views", demo.base))
        .header("cookie", huge)
        .send()
        .await;
    if let Ok(response) = outcome {
        assert_eq!(response.status(), 431, "1 MB");
        assert!(response.headers().get("set-cookie").is_none());
    }
    assert_eq!(agent.get("/api/me").await.status, 200);
    assert_eq!(agent.get("/api/views").await.status, 200);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    let item = "x".repeat(hallpass_demo::app::MAX_BODY_BYTES + 1);
    let reply = agent.post_json("/api/cart", json!({ "item": item })).await;
    assert_eq!(reply.status, 413);
    assert!(agent.cookie.is_none());
}

/// SR-05, AT-03: the token works only from the `Cookie` header. Sent in the query,
/// a `;` path parameter, a form field, a JSON body, `Authorization: Bearer` or a custom
/// header it adopts nothing. SR-02: the value carries nothing about the user.
#[tokio::test]
async fn the_token_is_taken_only_from_the_cookie_header() {
    use base64::Engine as _;
    let demo = serve().await;
    let mut owner = Agent::new(&demo.base);
    owner.login(ALICE).await;
    let token = owner.cookie.clone().unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&token)
        .unwrap();
    assert_eq!(raw.len(), 81, "version, handle, token, tag: nothing else");
    assert!(!token.contains("alice") && !raw.windows(5).any(|w| w == b"alice"));
    let http = common::http_client();
    let base = &demo.base;
    let attempts = [
        http.get(format!("{base}/api/me?id={token}")),
        http.get(format!("{base}/api/me?__Host-id={token}")),
        http.get(format!("{base}/api/me;__Host-id={token}")),
        http.get(format!("{base}/api/me;jsessionid={token}")),
        http.get(format!("{base}/api/me"))
            .header("authorization", format!("Bearer {token}")),
        http.get(format!("{base}/api/me"))
            .header("x-session-id", &token),
        http.get(format!("{base}/api/me"))
            .header("x-hallpass-session", &token),
        http.post(format!("{base}/api/logout"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("__Host-id={token}")),
        http.post(format!("{base}/api/cart"))
            .json(&json!({"item": "x", "__Host-id": token, "session": token})),
    ];
    for (i, attempt) in attempts.into_iter().enumerate() {
        let reply = attempt.send().await.unwrap();
        let status = reply.status().as_u16();
        let issued = reply
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>();
        assert!(
            status == 401 || status == 404 || status == 204 || status == 200,
            "attempt {i}: {status}"
        );
        assert!(
            issued.iter().all(|c| !c.contains(&token)),
            "attempt {i} re-issued the token"
        );
        if status == 200 {
            let body = reply.text().await.unwrap();
            assert!(
                !body.contains("alice"),
                "attempt {i} was served as alice: {body}"
            );
        }
    }
    assert_eq!(owner.get("/api/me").await.status, 200, "still logged in");
    assert_eq!(
        owner.get("/api/cart").await.json(),
        json!({ "items": [] }),
        "the cart post with the token in its body did not reach alice's session"
    );
}

#[tokio::test]
async fn tokens_appear_only_in_set_cookie() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    let mut replies = Vec::new();
    replies.push(agent.get("/").await);
    replies.push(agent.post_json("/api/cart", json!({"item": "x"})).await);
    replies.push(agent.get("/login").await);
    agent.login(ALICE).await;
    let mut other = Agent::new(&demo.base);
    other.login(ALICE).await;
    for path in [
        "/",
        "/account",
        "/api/me",
        "/api/sessions",
        "/api/cart",
        "/api/views",
    ] {
        replies.push(agent.get(path).await);
    }
    replies.push(
        agent
            .post_json(
                "/api/password",
                json!({"current": ALICE.1, "new": "new-password"}),
            )
            .await,
    );
    replies.push(agent.get("/account").await);
    replies.push(agent.post_empty("/api/logout").await);
    let mut issued = agent.issued.clone();
    issued.extend(other.issued.iter().cloned());
    assert!(issued.len() >= 4, "{issued:?}");
    common::assert_no_token_in(&replies, &issued);
}

fn tls_client(root: Option<&str>) -> reqwest::Client {
    common::install_crypto();
    let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    builder = match root {
        Some(pem) => {
            builder.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        }
        None => builder.danger_accept_invalid_certs(true),
    };
    builder.build().unwrap()
}

#[tokio::test]
async fn tls_from_files_sends_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = made.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert).unwrap();
    std::fs::write(dir.path().join("key.pem"), made.signing_key.serialize_pem()).unwrap();
    let process = common::spawn(
        dir.path(),
        &[
            "--store",
            "memory:",
            "--tls-cert",
            "cert.pem",
            "--tls-key",
            "key.pem",
            "--user",
            "alice:alice-password",
        ],
        &[],
    );
    assert!(
        process.base.starts_with("https://127.0.0.1:"),
        "{}",
        process.base
    );
    let port = process.base.rsplit(':').next().unwrap();
    let client = tls_client(Some(&cert));
    let reply = client
        .get(format!("https://localhost:{port}/api/views"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
    assert!(
        reply.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
    // Over TLS the guard expects https origins.
    let refused = client
        .post(format!("https://localhost:{port}/api/logout"))
        .header("origin", format!("http://localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let allowed = client
        .post(format!("https://localhost:{port}/api/logout"))
        .header("origin", format!("https://localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 204);
}

#[tokio::test]
async fn tls_self_signed_serves_https() {
    let dir = tempfile::tempdir().unwrap();
    let process = common::spawn(
        dir.path(),
        &["--store", "memory:", "--tls-self-signed"],
        &[],
    );
    assert!(
        process.banner.iter().any(|l| l.contains("self-signed")),
        "{:?}",
        process.banner
    );
    let client = tls_client(None);
    let reply = client
        .get(format!("{}/healthz", process.base))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert!(reply.headers().contains_key("strict-transport-security"));
}
