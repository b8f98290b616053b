//! Two demo processes on one store, as two app servers behind a load balancer: a
//! session started on one is used on the other, and a revoke or logout on one holds on
//! the other's very next request (SR-25). Both run at `trace` level, and no issued
//! token appears in any line they log (SR-49, AT-30).
//!
//! Stores: a SQLite file, PostgreSQL, MySQL/MariaDB and Redis — real servers, at
//! `DATABASE_URL_POSTGRES`, `DATABASE_URL_MYSQL` and `REDIS_URL` (defaults: the local
//! ones `scripts/test` starts). Each test uses its own user names, so runs that share
//! a database never see each other's sessions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use common::{Agent, Process, leak_forms, rand_suffix, spawn};
use serde_json::json;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn pair(dir: &std::path::Path, store: &str, user: &str) -> (Process, Process) {
    let keys = common::keys();
    let user_flag = format!("{user}:{user}-password");
    let env = [("HALLPASS_KEYS", keys.as_str()), ("RUST_LOG", "trace")];
    let args = [
        "--store",
        store,
        "--user",
        &user_flag,
        "--user",
        "other:other-password",
    ];
    (spawn(dir, &args, &env), spawn(dir, &args, &env))
}

async fn two_servers_share_sessions(store: &str) {
    let dir = tempfile::tempdir().unwrap();
    let store = store.replace("{dir}", &dir.path().display().to_string());
    let user = format!("u{}", rand_suffix());
    let password = format!("{user}-password");
    let (a, b) = pair(dir.path(), &store, &user);

    // Log in on A; the session works on B, and both count the same visits.
    let mut laptop = Agent::with_user_agent(&a.base, "laptop/1");
    laptop.login((&user, &password)).await;
    assert_eq!(laptop.get("/api/views").await.json(), json!({"views": 1}));
    laptop.base.clone_from(&b.base);
    assert_eq!(laptop.get("/api/me").await.json()["user"], user.as_str());
    assert_eq!(laptop.get("/api/views").await.json(), json!({"views": 2}));

    // A phone logs in on B; A lists both and revokes the phone.
    let mut phone = Agent::with_user_agent(&b.base, "phone/1");
    phone.login((&user, &password)).await;
    laptop.base.clone_from(&a.base);
    let list = laptop.get("/api/sessions").await.json();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let phone_handle = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["user_agent"] == "phone/1")
        .unwrap()["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        laptop
            .delete(&format!("/api/sessions/{phone_handle}"))
            .await
            .status,
        204
    );
    let reply = phone.get("/api/me").await;
    assert_eq!(reply.status, 401, "revoked on A, still alive on B");

    // "Log out everywhere else" on B ends a session that lives on A.
    let mut tablet = Agent::with_user_agent(&a.base, "tablet/1");
    tablet.login((&user, &password)).await;
    laptop.base.clone_from(&b.base);
    assert_eq!(
        laptop
            .post_empty("/api/sessions/revoke-others")
            .await
            .json(),
        json!({"revoked": 1})
    );
    assert_eq!(tablet.get("/api/me").await.status, 401);

    // Logout on B; A refuses the cookie on its next request.
    let cookie = laptop.cookie.clone();
    assert_eq!(laptop.post_empty("/api/logout").await.status, 204);
    let mut replay = Agent::new(&a.base);
    replay.cookie = cookie;
    assert_eq!(replay.get("/api/me").await.status, 401);

    // A login rotated on A: B refuses the pre-login cookie at once.
    let mut visitor = Agent::new(&a.base);
    visitor
        .post_json("/api/cart", json!({"item": "book"}))
        .await;
    let before = visitor.cookie.clone();
    visitor.login((&user, &password)).await;
    let mut old = Agent::new(&b.base);
    old.cookie = before;
    assert_eq!(old.get("/api/cart").await.json(), json!({"items": []}));
    visitor.base.clone_from(&b.base);
    assert_eq!(
        visitor.get("/api/cart").await.json(),
        json!({"items": ["book"]})
    );

    // No token in any log line of either server, at trace level.
    let logs = format!("{}\n{}", a.stop(), b.stop());
    assert!(
        logs.contains("hallpass::event"),
        "the servers logged their session events"
    );
    assert!(logs.lines().count() > 20, "trace logging was on");
    let mut issued = Vec::new();
    for agent in [&laptop, &phone, &tablet, &visitor] {
        issued.extend(agent.issued.iter().cloned());
    }
    assert!(issued.len() >= 5);
    for value in &issued {
        for form in leak_forms(value) {
            assert!(
                !logs.contains(&form),
                "a session token in the logs ({form})"
            );
        }
    }
}

#[tokio::test]
async fn sqlite_file() {
    two_servers_share_sessions("sqlite://{dir}/shared.db").await;
}

#[tokio::test]
async fn postgres() {
    two_servers_share_sessions(&env_or(
        "DATABASE_URL_POSTGRES",
        "postgres://postgres@127.0.0.1:5432/test",
    ))
    .await;
}

#[tokio::test]
async fn mysql() {
    two_servers_share_sessions(&env_or(
        "DATABASE_URL_MYSQL",
        "mysql://root@127.0.0.1:3306/test",
    ))
    .await;
}

#[tokio::test]
async fn redis() {
    two_servers_share_sessions(&env_or("REDIS_URL", "redis://127.0.0.1:6379")).await;
}
