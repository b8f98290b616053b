//! Periodic rotation with theft detection through a framework (SR-17): the token
//! is replaced every interval, the replaced one works for its grace window, a
//! replay after it ends the session on every app server, and two servers rotating
//! at once leave one winner and lose nothing.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};

use hallpass::SessionConfig;
use hallpass::config::ReplayPolicy;
use hallpass::events::{Event, RevokedBy, RotationReason};
use hallpass::store::SessionStore;

use super::{MINUTE, start_slow_request};
use crate::Framework;
use crate::app::TestApp;

const INTERVAL: Duration = Duration::from_secs(5 * 60);
const GRACE: Duration = Duration::from_secs(10);

fn rotating(config: SessionConfig) -> SessionConfig {
    config
        .with_idle_timeout(30 * MINUTE)
        .with_rotation_interval(INTERVAL)
        .with_rotation_grace(GRACE)
}

fn periodic_rotations(app: &TestApp) -> usize {
    app.events
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Rotated {
                    reason: RotationReason::Periodic,
                    ..
                }
            )
        })
        .count()
}

/// The first request after the interval gets a new token, the session and its data
/// unchanged. Twelve concurrent requests that still carry the replaced token, inside
/// the grace window, all succeed, each counting exactly once, and none of them sets
/// a cookie (which would overwrite the browser's newer one) or starts a session.
pub async fn periodic_rotation_keeps_the_replaced_token_for_its_grace(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, rotating);
    let mut browser = app.browser();
    browser.post("/login?user=ana").await;
    assert_eq!(browser.get("/views").await.body, "1");
    app.advance(INTERVAL - Duration::from_secs(1));
    let before = browser.cookie.clone();
    assert_eq!(browser.get("/views").await.body, "2");
    assert_eq!(browser.cookie, before, "not due yet: no new token");

    app.advance(Duration::from_secs(1));
    let replaced = browser.cookie.clone().unwrap_or_default();
    let rotated = browser.get("/views").await;
    assert_eq!(rotated.body, "3");
    assert_eq!(rotated.set_cookies().len(), 1, "the due request re-issues");
    assert_ne!(browser.cookie.as_deref(), Some(replaced.as_str()));
    assert_eq!(periodic_rotations(&app), 1);

    app.advance(GRACE - Duration::from_secs(1));
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (app, replaced) = (app.clone(), replaced.clone());
        tasks.push(tokio::spawn(async move {
            app.raw(Method::GET, "/views", &[replaced.as_bytes()]).await
        }));
    }
    let mut counted = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            reply.set_cookies().is_empty(),
            "a graced request sets no cookie: {:?}",
            reply.set_cookies()
        );
        counted.push(reply.body.parse::<u64>().unwrap_or_else(|e| panic!("{e}")));
    }
    counted.sort_unstable();
    assert_eq!(counted, (4..=15).collect::<Vec<_>>(), "each counted once");
    let me = app.raw(Method::GET, "/me", &[replaced.as_bytes()]).await;
    assert_eq!(me.body, "ana", "the replaced token is the same session");
    assert_eq!(browser.get("/views").await.body, "16");
    assert_eq!(periodic_rotations(&app), 1, "graced requests never rotate");
    assert_eq!(app.store.count(app.clock_now()).await.unwrap(), 1);
}

/// A replaced token presented after its grace window is a stolen copy: with the
/// default policy, sending it to another app server ends the session, so the
/// user's current token stops working on every server too; `EndAllOfPrincipal`
/// ends the principal's other sessions as well, and `Log` only reports it. The
/// replay itself never gets the session.
pub async fn a_replayed_token_ends_the_session_on_every_server(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    for (policy, user) in [
        (ReplayPolicy::EndSession, "ana"),
        (ReplayPolicy::EndAllOfPrincipal, "bob"),
        (ReplayPolicy::Log, "cy"),
    ] {
        let first = TestApp::on(framework, Arc::clone(&store), move |c| {
            rotating(c).on_token_replay(policy)
        });
        let second = first.beside(framework, move |c| rotating(c).on_token_replay(policy));
        let mut browser = first.browser();
        let mut laptop = first.browser();
        browser.post(&format!("/login?user={user}")).await;
        laptop.post(&format!("/login?user={user}")).await;
        let stolen = browser.cookie.clone().unwrap_or_default();
        first.advance(INTERVAL);
        assert_eq!(browser.get("/me").await.body, user);
        assert_ne!(browser.cookie.as_deref(), Some(stolen.as_str()), "rotated");

        first.advance(GRACE);
        let replay = second.raw(Method::GET, "/me", &[stolen.as_bytes()]).await;
        assert_eq!(
            (replay.status, replay.body.as_str()),
            (StatusCode::UNAUTHORIZED, "not logged in"),
            "{policy:?}: the replay gets nothing"
        );
        let replays: Vec<Event> = first
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|e| {
                matches!(e, Event::TokenReplayed { .. })
                    || matches!(
                        e,
                        Event::Revoked {
                            by: RevokedBy::TokenReplay,
                            ..
                        }
                    )
            })
            .cloned()
            .collect();
        let (user_after, laptop_after, events) = match policy {
            ReplayPolicy::EndSession => ("not logged in", user, 2),
            ReplayPolicy::EndAllOfPrincipal => ("not logged in", "not logged in", 2),
            _ => (user, user, 1),
        };
        assert_eq!(replays.len(), events, "{policy:?}: {replays:?}");
        assert!(
            matches!(&replays[0], Event::TokenReplayed { principal: Some(p), .. } if p == user)
        );
        // The user's current token, on the first server.
        assert_eq!(browser.get("/me").await.body, user_after, "{policy:?}");
        assert_eq!(laptop.get("/me").await.body, laptop_after, "{policy:?}");
    }
}

/// Two app servers rotate one session at once: one request wins the rotation and
/// re-issues the cookie; the other finds its token replaced a moment ago and
/// writes its change to the session under the winner's token, without a cookie.
/// Nothing is lost, and the session lives on under one token.
pub async fn two_servers_rotating_at_once_leave_one_winner(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let first = TestApp::on(framework, store, rotating);
    let second = first.beside(framework, rotating);
    let mut browser = first.browser();
    browser.post("/login?user=ana").await;
    assert_eq!(browser.get("/views").await.body, "1");
    let old = browser.cookie.clone().unwrap_or_default();
    let handle = browser.get("/handle").await.body;
    first.advance(INTERVAL);

    // The first server's request has loaded the session with the old token and
    // waits; the second server rotates meanwhile.
    let slow = start_slow_request(&first, &old, "slow").await;
    let winner = second.raw(Method::GET, "/views", &[old.as_bytes()]).await;
    assert_eq!(winner.body, "2");
    assert_eq!(winner.set_cookies().len(), 1, "the winner re-issues");
    first.gate.release.notify_one();
    let loser = slow.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loser.status, StatusCode::OK);
    assert!(loser.set_cookies().is_empty(), "{:?}", loser.set_cookies());
    assert_eq!(periodic_rotations(&first), 1, "one winner");

    let new = winner.set_cookies()[0]
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let now = first.clock_now();
    let (_, record) = first
        .store
        .load_handle(&handle.parse().unwrap_or_else(|e| panic!("{e:?}")), now)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("the session lives"));
    assert_eq!(
        record.data.get("slow"),
        Some(&serde_json::json!(true)),
        "the loser's write is kept"
    );
    assert_eq!(record.data["views"], 2);
    let views = first.raw(Method::GET, "/views", &[new.as_bytes()]).await;
    assert_eq!(views.body, "3", "the winner's token carries the session");

    // And truly at once, ten times over: exactly one of each pair re-issues.
    let mut current = new;
    for round in 0..10_u64 {
        first.advance(INTERVAL);
        let (a, b) = (first.clone(), second.clone());
        let (cookie_a, cookie_b) = (current.clone(), current.clone());
        let (x, y) = tokio::join!(
            async move { a.raw(Method::GET, "/views", &[cookie_a.as_bytes()]).await },
            async move { b.raw(Method::GET, "/views", &[cookie_b.as_bytes()]).await },
        );
        assert_eq!(
            (x.status, y.status),
            (StatusCode::OK, StatusCode::OK),
            "round {round}: {} / {}",
            x.body,
            y.body
        );
        let issued: Vec<String> = x.set_cookies().into_iter().chain(y.set_cookies()).collect();
        assert_eq!(issued.len(), 1, "round {round}: {issued:?}");
        let mut values = [x.body.as_str(), y.body.as_str()]
            .map(|v| v.parse::<u64>().unwrap_or_else(|e| panic!("{e}")));
        values.sort_unstable();
        assert_eq!(values, [4 + 2 * round, 5 + 2 * round], "round {round}");
        current = issued[0].split(';').next().unwrap_or_default().to_owned();
    }
    assert_eq!(periodic_rotations(&first), 11);
    assert_eq!(first.store.count(first.clock_now()).await.unwrap(), 1);
}
