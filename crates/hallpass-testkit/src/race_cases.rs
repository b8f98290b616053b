//! Races through the real layer, on every store (AT-24, SR-16, SR-25, SR-43): requests
//! that overlap a rotation, a "log out everywhere" that overlaps new logins, and
//! commits cut off at any point by a slow store and a client that gives up. Nothing
//! revoked comes back, nothing committed is lost, nothing is half written.
//!
//! [`http_conformance!`](crate::http_conformance) runs these beside the lifecycle cases.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use http::Method;

use hallpass::SessionStore;

use crate::app::TestApp;

/// SR-16, AT-24: eight tasks hammer the counter with the old cookie while the session
/// rotates. Every increment answered 200 without a new cookie was counted on the
/// session and survives the rotation exactly once; the old token is dead as soon as
/// the rotation returns; requests that lost the race got a fresh anonymous session or
/// a refusal, never the rotated one.
pub async fn rotation_races_concurrent_requests(store: Arc<dyn SessionStore>) {
    let app = TestApp::new(store);
    let mut browser = app.browser();
    assert_eq!(browser.post("/login?user=alice").await.status, 200);
    let old = browser.cookie.clone().unwrap_or_default();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (app, old) = (app.clone(), old.clone());
            tokio::spawn(async move {
                let (mut counted, mut fresh) = (Vec::new(), 0u64);
                for _ in 0..25 {
                    let reply = app.raw(Method::GET, "/views", &[old.as_bytes()]).await;
                    match (reply.status.as_u16(), reply.set_cookie()) {
                        (200, None) => counted.push(reply.body.parse::<u64>().unwrap_or(0)),
                        (200, Some(cookie)) => {
                            assert_eq!(reply.body, "1", "a new session starts at 1");
                            assert!(!cookie.contains(&old), "the old token is never re-sent");
                            fresh += 1;
                        }
                        (status, _) => {
                            assert!(status == 401 || status == 409, "{status}: {}", reply.body)
                        }
                    }
                    tokio::task::yield_now().await;
                }
                (counted, fresh)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let rotated = browser.post("/rotate").await;
    assert_eq!(rotated.status, 200);
    let new = browser.cookie.clone().unwrap_or_default();
    assert_ne!(new, old, "rotation issued a new token");
    assert_eq!(
        app.raw(Method::GET, "/me", &[old.as_bytes()]).await.status,
        401,
        "the old token died with the rotation"
    );
    let (mut counted, mut fresh) = (BTreeSet::new(), 0u64);
    for task in tasks {
        let (values, minted) = task.await.unwrap_or_else(|e| panic!("{e}"));
        fresh += minted;
        for value in values {
            assert!(counted.insert(value), "{value} counted twice");
        }
    }
    let total = u64::try_from(counted.len()).unwrap_or(u64::MAX);
    assert_eq!(counted, (1..=total).collect::<BTreeSet<u64>>());
    assert_eq!(
        browser.get("/views").await.body,
        (total + 1).to_string(),
        "no increment lost to the rotation, none applied twice"
    );
    assert_eq!(browser.get("/me").await.body, "alice");
    assert_eq!(
        app.store.count(app.clock_now()).await.unwrap_or(0),
        1 + fresh,
        "the rotated session plus the anonymous ones the losers started"
    );
}

/// SR-25, AT-22: "log out everywhere" races ten new logins of the same user. Every
/// session that existed before is dead; each new login either was revoked (and
/// counted) or lives, and the principal's index lists exactly the living ones.
pub async fn revoke_all_races_concurrent_logins(store: Arc<dyn SessionStore>) {
    let app = TestApp::new(store);
    let mut before = Vec::new();
    for _ in 0..5 {
        let mut browser = app.browser();
        assert_eq!(browser.post("/login?user=alice").await.status, 200);
        before.push(browser);
    }
    let mut revoker = before[0].clone();
    let revoke =
        tokio::spawn(async move { revoker.post("/revoke-all?except_current=false").await });
    let logins: Vec<_> = (0..10)
        .map(|_| {
            let mut browser = app.browser();
            tokio::spawn(async move {
                let status = browser.post("/login?user=alice").await.status;
                (status, browser)
            })
        })
        .collect();
    let revoked: u64 = revoke
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .body
        .parse()
        .unwrap_or_else(|e| panic!("a count: {e}"));
    let mut living = Vec::new();
    for login in logins {
        let (status, mut browser) = login.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, 200);
        match browser.get("/me").await.status.as_u16() {
            200 => living.push(browser),
            401 => {}
            other => panic!("{other}"),
        }
    }
    for mut browser in before {
        assert_eq!(browser.get("/me").await.status, 401, "nothing resurrected");
    }
    let alive = u64::try_from(living.len()).unwrap_or(u64::MAX);
    assert_eq!(
        revoked,
        5 + 10 - alive,
        "every session that is gone was counted"
    );
    assert_eq!(app.store.count(app.clock_now()).await.unwrap_or(0), alive);
    if let Some(first) = living.first_mut() {
        let listed: Vec<String> =
            serde_json::from_str(&first.get("/sessions").await.body).unwrap_or_default();
        assert_eq!(
            listed.len(),
            living.len(),
            "the index lists the living, only"
        );
    }
}

/// SR-43, AT-18: with a slow store, a request that writes two keys in one commit is
/// cut off at 25 points from before its load to after its commit (a client that
/// gives up). After each, and after 25 such requests at once, both keys hold the
/// same value: a commit lands whole or not at all.
pub async fn cancelled_commits_on_a_slow_store_are_all_or_nothing(store: Arc<dyn SessionStore>) {
    let app = TestApp::new(store);
    let mut browser = app.browser();
    assert_eq!(browser.post("/pair?n=0").await.status, 200);
    let cookie = browser.cookie.clone().unwrap_or_default();
    app.store.set_latency(Duration::from_millis(20));
    let mut sent = BTreeSet::from([0u64]);
    let read = |app: TestApp, cookie: String| async move {
        let body = app
            .raw(Method::GET, "/pair", &[cookie.as_bytes()])
            .await
            .body;
        let (a, b) = body
            .split_once(',')
            .unwrap_or_else(|| panic!("a pair: {body}"));
        (a.parse::<u64>().unwrap_or(0), b.parse::<u64>().unwrap_or(0))
    };
    for n in 1..=25u64 {
        let limit = Duration::from_millis(n * 4);
        let uri = format!("/pair?n={n}");
        let cookies = [cookie.as_bytes()];
        let request = app.raw(Method::POST, &uri, &cookies);
        let _ = tokio::time::timeout(limit, request).await;
        sent.insert(n);
        let (a, b) = read(app.clone(), cookie.clone()).await;
        assert_eq!(a, b, "cut off after {limit:?}: half of a commit landed");
        assert!(sent.contains(&a));
    }
    let burst: Vec<_> = (100..125u64)
        .map(|n| {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move {
                let uri = format!("/pair?n={n}");
                let cookies = [cookie.as_bytes()];
                let request = app.raw(Method::POST, &uri, &cookies);
                let _ = tokio::time::timeout(Duration::from_millis(n % 25 * 4), request).await;
            })
        })
        .collect();
    for task in burst {
        task.await.unwrap_or_else(|e| panic!("{e}"));
    }
    app.store.set_latency(Duration::ZERO);
    // Let anything the cancelled futures left in flight on the server settle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (a, b) = read(app.clone(), cookie).await;
    assert_eq!(a, b, "concurrent cut-off commits interleaved");
}
