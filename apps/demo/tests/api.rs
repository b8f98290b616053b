//! The JSON API over a real socket: every route of issue 5 and the lifecycle rules
//! behind it (SR/AT ids from research/security-requirements.md).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use std::time::Duration;

use common::{ALICE, Agent, BOB, serve, serve_with};
use hallpass::time::Clock as _;
use serde_json::json;

#[tokio::test]
async fn healthz_answers_without_a_session() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    let reply = agent.get("/healthz").await;
    assert_eq!(reply.status, 200);
    assert!(reply.session_cookies().is_empty());
    assert_eq!(demo.store.count(demo.clock.now()).await.unwrap(), 0);
}

#[tokio::test]
async fn views_count_per_browser() {
    let demo = serve().await;
    let mut first = Agent::new(&demo.base);
    for expected in 1..=3 {
        let reply = first.get("/api/views").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json(), json!({ "views": expected }));
    }
    let mut second = Agent::new(&demo.base);
    assert_eq!(second.get("/api/views").await.json(), json!({ "views": 1 }));
    // The first visit set the cookie once; later visits did not re-send it.
    assert_eq!(first.issued.len(), 1);
}

#[tokio::test]
async fn views_are_exact_under_concurrent_requests() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    agent.get("/api/views").await;
    let cookie = agent.cookie.clone().unwrap();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let http = agent.http.clone();
        let url = format!("{}/api/views", demo.base);
        let cookie = format!("{}={cookie}", common::COOKIE);
        tasks.push(tokio::spawn(async move {
            let reply = http.get(url).header("cookie", cookie).send().await.unwrap();
            assert_eq!(reply.status(), 200);
            let body: serde_json::Value = reply.json().await.unwrap();
            body["views"].as_i64().unwrap()
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    seen.sort_unstable();
    // Each request saw its own number: none lost, none repeated.
    assert_eq!(seen, (2..=101).collect::<Vec<i64>>());
    assert_eq!(
        agent.get("/api/views").await.json(),
        json!({ "views": 102 })
    );
}

#[tokio::test]
async fn the_cart_survives_login_and_the_old_token_dies() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    assert_eq!(agent.get("/api/cart").await.json(), json!({ "items": [] }));
    // Reading an empty cart creates no session (SR-18).
    assert!(agent.cookie.is_none());
    let reply = agent
        .post_json("/api/cart", json!({ "item": "apples" }))
        .await;
    assert_eq!(reply.json(), json!({ "items": ["apples"] }));
    let reply = agent
        .post_json("/api/cart", json!({ "item": "pears" }))
        .await;
    assert_eq!(reply.json(), json!({ "items": ["apples", "pears"] }));
    let anonymous = agent.cookie.clone().unwrap();

    let reply = agent.login(ALICE).await;
    assert_eq!(reply.json(), json!({ "user": "alice" }));
    let logged_in = agent.cookie.clone().unwrap();
    assert_ne!(anonymous, logged_in, "login must issue a new token (SR-14)");
    assert_eq!(
        agent.get("/api/cart").await.json(),
        json!({ "items": ["apples", "pears"] })
    );

    // The pre-login cookie names nothing now (AT-02 session fixation).
    let mut old = Agent::new(&demo.base);
    old.cookie = Some(anonymous);
    assert_eq!(old.get("/api/me").await.status, 401);
    assert_eq!(old.get("/api/cart").await.json(), json!({ "items": [] }));
}

#[tokio::test]
async fn concurrent_cart_adds_are_all_kept() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    agent
        .post_json("/api/cart", json!({ "item": "first" }))
        .await;
    let cookie = format!("{}={}", common::COOKIE, agent.cookie.clone().unwrap());
    let mut tasks = Vec::new();
    for n in 0..20 {
        let http = agent.http.clone();
        let url = format!("{}/api/cart", demo.base);
        let cookie = cookie.clone();
        tasks.push(tokio::spawn(async move {
            let reply = http
                .post(url)
                .header("cookie", cookie)
                .json(&json!({ "item": format!("item {n}") }))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let items = agent.get("/api/cart").await.json()["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(items, 21, "a concurrent add was lost");
}

#[tokio::test]
async fn cart_input_is_checked() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    assert_eq!(
        agent
            .post_json("/api/cart", json!({ "item": "  " }))
            .await
            .status,
        422
    );
    let long = "x".repeat(201);
    assert_eq!(
        agent
            .post_json("/api/cart", json!({ "item": long }))
            .await
            .status,
        422
    );
    let reply = agent.post_json("/api/cart", json!({ "wrong": 1 })).await;
    assert_eq!(reply.status, 422);
    assert!(reply.json()["error"].is_string());
    // A body that is not JSON, or not labelled as JSON, is refused with a JSON error.
    let request = agent
        .http
        .post(format!("{}/api/cart", demo.base))
        .body("item=x");
    let reply = agent.send(request).await;
    assert_eq!(reply.status, 415);
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
    assert!(
        agent.cookie.is_none(),
        "no rejected input created a session"
    );
    for n in 0..50 {
        assert_eq!(
            agent
                .post_json("/api/cart", json!({ "item": format!("{n}") }))
                .await
                .status,
            200
        );
    }
    assert_eq!(
        agent
            .post_json("/api/cart", json!({ "item": "one too many" }))
            .await
            .status,
        409
    );
}

#[tokio::test]
async fn bad_credentials_create_and_change_nothing() {
    let demo = serve().await;
    // No session yet: a failed login creates none.
    let mut stranger = Agent::new(&demo.base);
    let unknown = stranger
        .post_json(
            "/api/login",
            json!({ "username": "mallory", "password": "x" }),
        )
        .await;
    let wrong = stranger
        .post_json(
            "/api/login",
            json!({ "username": "alice", "password": "wrong" }),
        )
        .await;
    assert_eq!((unknown.status, wrong.status), (401, 401));
    // SR-37: the two failures cannot be told apart.
    assert_eq!(unknown.body, wrong.body);
    assert_eq!(
        unknown.json(),
        json!({ "error": "wrong username or password" })
    );
    assert!(unknown.session_cookies().is_empty() && wrong.session_cookies().is_empty());
    assert_eq!(demo.store.count(demo.clock.now()).await.unwrap(), 0);

    // An existing session is left exactly as it was: same cookie, same data, no user.
    let mut agent = Agent::new(&demo.base);
    agent.post_json("/api/cart", json!({ "item": "tea" })).await;
    let before = agent.cookie.clone();
    let reply = agent
        .post_json(
            "/api/login",
            json!({ "username": "alice", "password": "nope" }),
        )
        .await;
    assert_eq!(reply.status, 401);
    assert!(reply.session_cookies().is_empty());
    assert_eq!(agent.cookie, before);
    assert_eq!(
        agent.get("/api/cart").await.json(),
        json!({ "items": ["tea"] })
    );
    assert_eq!(agent.get("/api/me").await.status, 401);
}

#[tokio::test]
async fn me_describes_the_session_in_rfc3339() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    let reply = agent.get("/api/me").await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json(), json!({ "error": "not logged in" }));
    agent.login(ALICE).await;
    let me = agent.get("/api/me").await.json();
    assert_eq!(me["user"], "alice");
    assert_eq!(me["handle"].as_str().unwrap().len(), 22);
    let parse = |field: &str| {
        humantime::parse_rfc3339(me[field].as_str().unwrap())
            .unwrap_or_else(|err| panic!("{field}: {err}"))
    };
    let created = parse("created_at");
    let idle = parse("idle_expires_at");
    let absolute = parse("absolute_expires_at");
    parse("last_seen_at");
    assert_eq!(
        idle.duration_since(created).unwrap(),
        Duration::from_secs(30 * 60)
    );
    assert_eq!(
        absolute.duration_since(created).unwrap(),
        Duration::from_secs(12 * 3600)
    );
}

#[tokio::test]
async fn sessions_list_marks_the_current_one_and_revoke_takes_effect_at_once() {
    let demo = serve().await;
    let mut laptop = Agent::with_user_agent(&demo.base, "laptop-agent/1.0");
    let mut phone = Agent::with_user_agent(&demo.base, "phone-agent/2.0");
    laptop.login(ALICE).await;
    phone.login(ALICE).await;
    let mut other_user = Agent::new(&demo.base);
    other_user.login(BOB).await;

    let list = laptop.get("/api/sessions").await.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "only alice's sessions: {list:?}");
    let current: Vec<_> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "laptop-agent/1.0");
    assert_eq!(current[0]["ip"], "127.0.0.1");
    for session in list {
        for field in ["handle", "created_at", "last_seen_at", "ip", "user_agent"] {
            assert!(session[field].is_string(), "{field} in {session}");
        }
    }
    let phone_handle = list
        .iter()
        .find(|s| s["user_agent"] == "phone-agent/2.0")
        .unwrap()["handle"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another user's handle, a malformed one and an unknown one: all 404 (SR-27).
    let bob_handle = other_user.get("/api/me").await.json()["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        laptop
            .delete(&format!("/api/sessions/{bob_handle}"))
            .await
            .status,
        404
    );
    assert_eq!(other_user.get("/api/me").await.status, 200);
    assert_eq!(
        laptop.delete("/api/sessions/not-a-handle").await.status,
        404
    );
    assert_eq!(
        laptop
            .delete("/api/sessions/AAAAAAAAAAAAAAAAAAAAAA")
            .await
            .status,
        404
    );

    assert_eq!(
        laptop
            .delete(&format!("/api/sessions/{phone_handle}"))
            .await
            .status,
        204
    );
    // The very next request on the revoked session is refused (SR-25).
    let reply = phone.get("/api/me").await;
    assert_eq!(reply.status, 401);
    assert!(phone.cookie.is_none(), "the dead cookie is cleared");
    assert_eq!(
        laptop
            .get("/api/sessions")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Anonymous callers get 401, not a list.
    let mut anonymous = Agent::new(&demo.base);
    assert_eq!(anonymous.get("/api/sessions").await.status, 401);
    assert_eq!(
        anonymous
            .delete(&format!("/api/sessions/{bob_handle}"))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn revoking_the_current_session_logs_it_out() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    agent.login(ALICE).await;
    let handle = agent.get("/api/me").await.json()["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = agent.delete(&format!("/api/sessions/{handle}")).await;
    assert_eq!(reply.status, 204);
    assert!(reply.session_cookies()[0].contains("Max-Age=0"));
    assert_eq!(agent.get("/api/me").await.status, 401);
}

#[tokio::test]
async fn revoke_others_keeps_only_this_session() {
    let demo = serve().await;
    let mut agents: Vec<Agent> = (0..4).map(|_| Agent::new(&demo.base)).collect();
    for agent in &mut agents {
        agent.login(ALICE).await;
    }
    let mut bob = Agent::new(&demo.base);
    bob.login(BOB).await;
    let reply = agents[0].post_empty("/api/sessions/revoke-others").await;
    assert_eq!(reply.json(), json!({ "revoked": 3 }));
    assert_eq!(agents[0].get("/api/me").await.status, 200);
    for agent in &mut agents[1..] {
        assert_eq!(agent.get("/api/me").await.status, 401);
    }
    assert_eq!(
        bob.get("/api/me").await.status,
        200,
        "other users are untouched"
    );
    assert_eq!(
        Agent::new(&demo.base)
            .post_empty("/api/sessions/revoke-others")
            .await
            .status,
        401
    );
}

/// SR-30: on a login more than five minutes old, "log out everywhere else" is 401
/// until the user logs in again (a re-authentication of the same user), which keeps
/// the session's data.
#[tokio::test]
async fn revoke_others_needs_a_login_from_the_last_five_minutes() {
    let demo = serve().await;
    let mut laptop = Agent::new(&demo.base);
    let mut phone = Agent::new(&demo.base);
    laptop.login(ALICE).await;
    phone.login(ALICE).await;
    laptop
        .post_json("/api/cart", json!({ "item": "tea" }))
        .await;
    demo.clock.advance(Duration::from_secs(5 * 60 + 1));
    let stale = laptop.post_empty("/api/sessions/revoke-others").await;
    assert_eq!(stale.status, 401);
    assert_eq!(
        stale.json(),
        json!({ "error": "your login is too old for this change: confirm with your password" })
    );
    assert_eq!(phone.get("/api/me").await.status, 200);
    assert_eq!(laptop.login(ALICE).await.status, 200);
    let reply = laptop.post_empty("/api/sessions/revoke-others").await;
    assert_eq!(reply.json(), json!({ "revoked": 1 }));
    assert_eq!(phone.get("/api/me").await.status, 401);
    assert_eq!(
        laptop.get("/api/cart").await.json(),
        json!({ "items": ["tea"] })
    );
}

#[tokio::test]
async fn password_change_rotates_this_session_and_revokes_the_others() {
    let demo = serve().await;
    let mut here = Agent::new(&demo.base);
    let mut elsewhere = Agent::new(&demo.base);
    here.login(ALICE).await;
    elsewhere.login(ALICE).await;
    let before = here.cookie.clone().unwrap();

    let wrong = here
        .post_json(
            "/api/password",
            json!({ "current": "nope", "new": "new-password-1" }),
        )
        .await;
    assert_eq!(wrong.status, 403);
    let short = here
        .post_json(
            "/api/password",
            json!({ "current": ALICE.1, "new": "short" }),
        )
        .await;
    assert_eq!(short.status, 422);
    assert_eq!(
        elsewhere.get("/api/me").await.status,
        200,
        "failed changes revoke nothing"
    );

    let reply = here
        .post_json(
            "/api/password",
            json!({ "current": ALICE.1, "new": "new-password-1" }),
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    let after = here.cookie.clone().unwrap();
    assert_ne!(before, after, "the session got a new token");
    assert_eq!(here.get("/api/me").await.json()["user"], "alice");
    assert_eq!(elsewhere.get("/api/me").await.status, 401);
    let mut stale = Agent::new(&demo.base);
    stale.cookie = Some(before);
    assert_eq!(stale.get("/api/me").await.status, 401);

    let mut fresh = Agent::new(&demo.base);
    let old = fresh
        .post_json(
            "/api/login",
            json!({ "username": "alice", "password": ALICE.1 }),
        )
        .await;
    assert_eq!(old.status, 401);
    fresh.login(("alice", "new-password-1")).await;
    assert_eq!(
        Agent::new(&demo.base)
            .post_json(
                "/api/password",
                json!({ "current": "a", "new": "bbbbbbbbbb" })
            )
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn logout_destroys_the_session_and_clears_the_cookie() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    agent.login(ALICE).await;
    let cookie = agent.cookie.clone().unwrap();
    let reply = agent.post_empty("/api/logout").await;
    assert_eq!(reply.status, 204);
    let cleared = reply.session_cookies();
    assert_eq!(cleared.len(), 1);
    assert!(cleared[0].starts_with("__Host-id=;") && cleared[0].contains("Max-Age=0"));
    assert!(
        cleared[0].contains("Secure")
            && cleared[0].contains("HttpOnly")
            && cleared[0].contains("Path=/")
    );
    assert_eq!(
        reply.header("clear-site-data"),
        Some("\"cache\", \"cookies\", \"storage\""),
        "SR-48"
    );
    assert_eq!(demo.store.count(demo.clock.now()).await.unwrap(), 0);
    // Replaying the old cookie gets nothing (SR-24).
    let mut replay = Agent::new(&demo.base);
    replay.cookie = Some(cookie);
    assert_eq!(replay.get("/api/me").await.status, 401);
    assert_eq!(replay.get("/api/views").await.json(), json!({ "views": 1 }));
    // Logging out without a session is fine too, and GET is not a way to log out.
    assert_eq!(
        Agent::new(&demo.base)
            .post_empty("/api/logout")
            .await
            .status,
        204
    );
    assert_eq!(Agent::new(&demo.base).get("/api/logout").await.status, 405);
}

#[tokio::test]
async fn idle_timeout_ends_an_unused_session() {
    let demo = serve_with(|mut o| {
        o.idle_timeout = Duration::from_secs(2);
        o.absolute_timeout = Duration::from_secs(60);
        o
    })
    .await;
    let mut agent = Agent::new(&demo.base);
    agent.login(ALICE).await;
    // Activity within the idle window keeps it alive.
    for _ in 0..5 {
        demo.clock.advance(Duration::from_millis(1500));
        assert_eq!(agent.get("/api/me").await.status, 200);
    }
    demo.clock.advance(Duration::from_millis(2001));
    let reply = agent.get("/api/me").await;
    assert_eq!(reply.status, 401);
    assert!(reply.session_cookies()[0].contains("Max-Age=0"));
}

#[tokio::test]
async fn absolute_timeout_beats_activity() {
    let demo = serve_with(|mut o| {
        o.idle_timeout = Duration::from_secs(2);
        o.absolute_timeout = Duration::from_secs(5);
        o
    })
    .await;
    let mut agent = Agent::new(&demo.base);
    agent.login(ALICE).await;
    let me = agent.get("/api/me").await.json();
    for _ in 0..4 {
        demo.clock.advance(Duration::from_millis(1200));
        assert_eq!(agent.get("/api/me").await.status, 200);
    }
    // 4.8 s of constant use; the absolute deadline has not moved.
    assert_eq!(
        agent.get("/api/me").await.json()["absolute_expires_at"],
        me["absolute_expires_at"]
    );
    demo.clock.advance(Duration::from_millis(300));
    assert_eq!(agent.get("/api/me").await.status, 401);
}

#[tokio::test]
async fn the_session_cap_logs_out_the_oldest() {
    let demo = serve_with(|mut o| {
        o.max_sessions_per_user = Some(2);
        o
    })
    .await;
    let mut first = Agent::new(&demo.base);
    let mut second = Agent::new(&demo.base);
    let mut third = Agent::new(&demo.base);
    first.login(ALICE).await;
    demo.clock.advance(Duration::from_secs(1));
    second.login(ALICE).await;
    demo.clock.advance(Duration::from_secs(1));
    third.login(ALICE).await;
    assert_eq!(first.get("/api/me").await.status, 401);
    assert_eq!(second.get("/api/me").await.status, 200);
    assert_eq!(third.get("/api/me").await.status, 200);
}
