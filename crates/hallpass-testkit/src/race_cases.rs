//! Races through the real layer, on every store (AT-24, SR-16, SR-25, SR-26, SR-29,
//! SR-34, SR-43): requests that overlap a rotation, a "log out everywhere" that
//! overlaps new logins and re-logins, commits cut off at any point by a slow store and
//! a client that gives up, writers racing the data bound, logins racing the cap and a
//! credentials change. Nothing revoked comes back, nothing committed is lost, nothing
//! is half written, no bound is passed.
//!
//! [`http_conformance!`](crate::http_conformance) runs these beside the lifecycle cases.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use http::Method;

use hallpass::config::CapPolicy;
use hallpass::store::SessionStore;

use crate::Framework;
use crate::app::{Browser, TestApp};

/// SR-16, AT-24: eight tasks hammer the counter with the old cookie while the session
/// rotates. Every increment answered 200 without a new cookie was counted on the
/// session and survives the rotation exactly once; the old token is dead as soon as
/// the rotation returns; requests that lost the race got a fresh anonymous session or
/// a refusal, never the rotated one.
pub async fn rotation_races_concurrent_requests(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
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
pub async fn revoke_all_races_concurrent_logins(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
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
pub async fn cancelled_commits_on_a_slow_store_are_all_or_nothing(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
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

/// Trial numbers for a race over HTTP: at least 10, and as many as one second allows.
fn trials() -> impl Iterator<Item = u32> {
    let started = std::time::Instant::now();
    (0..).take_while(move |&trial| trial < 10 || started.elapsed() < Duration::from_secs(1))
}

/// The session's handle, through `GET /handle`.
async fn handle_of(browser: &mut Browser) -> String {
    let reply = browser.get("/handle").await;
    assert_eq!(reply.status, 200, "a session: {}", reply.body);
    reply.body
}

/// The principal's live handles, from the store itself.
async fn live_handles(app: &TestApp, principal: &str) -> Vec<String> {
    app.store
        .list_principal(principal, app.clock_now())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|s| s.handle.to_string())
        .collect()
}

/// SR-34: two requests that each loaded the session before either wrote both add
/// data that fits alone and not together. The store checks the bound against the
/// record as it holds it: one commit lands, the other is refused whole (a 500 with
/// no cookie), and the stored data never passes the bound.
pub async fn concurrent_writers_cannot_pass_the_data_bound(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c.with_max_data_bytes(100));
    let mut browser = app.browser();
    assert_eq!(
        browser.post("/fill?key=a&bytes=10&wait_ms=0").await.status,
        200
    );
    let cookie = browser.cookie.clone().unwrap_or_default();
    // 13 bytes stored; each writer adds 63 (76 alone fits in 100, 139 does not).
    let writers: Vec<_> = ["b", "c"]
        .into_iter()
        .map(|key| {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move {
                let uri = format!("/fill?key={key}&bytes=60&wait_ms=100");
                let reply = app.raw(Method::POST, &uri, &[cookie.as_bytes()]).await;
                (reply.status.as_u16(), reply.set_cookies().len())
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for writer in writers {
        outcomes.push(writer.await.unwrap_or_else(|e| panic!("{e}")));
    }
    outcomes.sort_unstable();
    assert_eq!(
        outcomes,
        vec![(200, 0), (500, 0)],
        "one lands, one is refused"
    );
    assert_eq!(browser.get("/data-size").await.body, "76");
}

/// SR-29: eight browsers log in as one principal at once. Under a cap of two with
/// `RejectNew` exactly two are admitted (the others get 409 and no session); with
/// `EvictOldest` all are admitted and exactly two sessions are left.
pub async fn concurrent_logins_never_pass_the_cap(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    for (policy, admitted) in [(CapPolicy::RejectNew, 2), (CapPolicy::EvictOldest, 8)] {
        let app = TestApp::on(framework, Arc::clone(&store), |c| {
            c.with_max_sessions_per_principal(2, policy)
        });
        let principal = format!("capped-{policy:?}");
        let logins: Vec<_> = (0..8)
            .map(|_| {
                let mut browser = app.browser();
                let uri = format!("/login?user={principal}");
                tokio::spawn(async move { browser.post(&uri).await.status.as_u16() })
            })
            .collect();
        let mut statuses = Vec::new();
        for login in logins {
            statuses.push(login.await.unwrap_or_else(|e| panic!("{e}")));
        }
        let ok = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!(ok, admitted, "{policy:?}: {statuses:?}");
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 409),
            "{statuses:?}"
        );
        assert_eq!(live_handles(&app, &principal).await.len(), 2, "{policy:?}");
    }
}

/// SR-26, AT-22: "log out everywhere else" on one browser while another browser of
/// the same user logs in again (a rotation of its session). Whatever the order, the
/// session the other browser had when the revoke began is gone — under its old token
/// or the one its re-login gave it — on every trial.
pub async fn revoke_others_races_a_relogin(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework, store, |c| c);
    for trial in trials() {
        let principal = format!("relogin{trial}");
        let login = format!("/login?user={principal}");
        let (mut keeper, mut other) = (app.browser(), app.browser());
        assert_eq!(keeper.post(&login).await.status, 200);
        assert_eq!(other.post(&login).await.status, 200);
        let target = handle_of(&mut other).await;
        let revoke =
            tokio::spawn(async move { keeper.post("/revoke-all?except_current=true").await });
        let relogin = tokio::spawn(async move { other.post(&login).await });
        let (revoked, relogged) = (
            revoke.await.unwrap_or_else(|e| panic!("{e}")),
            relogin.await.unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(revoked.status, 200, "{}", revoked.body);
        assert_eq!(relogged.status, 200, "{}", relogged.body);
        assert!(
            !live_handles(&app, &principal).await.contains(&target),
            "trial {trial}: the session live when the revoke began survived it"
        );
    }
}

/// A revoke by handle while that session's browser logs in again: the revoke always
/// finds the session (never "not found" for a session that lives on) and it ends,
/// under whichever token it had.
pub async fn revoke_by_handle_races_a_relogin(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework, store, |c| c);
    for trial in trials() {
        let principal = format!("byhandle{trial}");
        let login = format!("/login?user={principal}");
        let (mut revoker, mut other) = (app.browser(), app.browser());
        assert_eq!(revoker.post(&login).await.status, 200);
        assert_eq!(other.post(&login).await.status, 200);
        let target = handle_of(&mut other).await;
        let uri = format!("/revoke?handle={target}");
        let revoke = tokio::spawn(async move { revoker.post(&uri).await });
        let relogin = tokio::spawn(async move { other.post(&login).await });
        let revoked = revoke.await.unwrap_or_else(|e| panic!("{e}"));
        relogin.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            revoked.body, "true",
            "trial {trial}: revoke answered not found"
        );
        assert!(
            !live_handles(&app, &principal).await.contains(&target),
            "trial {trial}: the revoked session lives on"
        );
    }
}

/// SR-26: a login whose credentials were checked before a credentials change, and
/// that finishes after it, is refused (409, no session): `begin_login` took the
/// principal's generation, `credentials_changed` moved it. Without a change in
/// between, the same login works.
pub async fn a_credentials_change_defeats_a_login_in_flight(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let mut owner = app.browser();
    assert_eq!(owner.post("/login?user=grace").await.status, 200);
    let owner_handle = handle_of(&mut owner).await;
    let mut late = app.browser();
    let in_flight = {
        let mut late = late.clone();
        tokio::spawn(async move {
            let reply = late.post("/checked-login?user=grace&wait_ms=300").await;
            (reply.status.as_u16(), late)
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let changed = owner.post("/credentials-changed?wait_ms=0").await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let (status, finished) = in_flight.await.unwrap_or_else(|e| panic!("{e}"));
    late = finished;
    assert_eq!(status, 409, "the login in flight was refused");
    assert_eq!(late.get("/me").await.status, 401);
    assert_eq!(
        live_handles(&app, "grace").await.len(),
        1,
        "only the owner's"
    );
    assert_eq!(owner.get("/me").await.body, "grace");
    assert_eq!(
        handle_of(&mut owner).await,
        owner_handle,
        "the owner's session was rotated, not ended"
    );
    assert_eq!(
        late.post("/checked-login?user=grace&wait_ms=0")
            .await
            .status,
        200,
        "a login that began after the change is fine"
    );
}

/// SR-26: a credentials change ends every other session of the principal even when
/// the changing session itself is revoked while the change runs (an attacker who
/// knew the old password, and saw the session list, is logged out all the same).
pub async fn credentials_change_ends_others_even_if_revoked_meanwhile(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let (mut owner, mut attacker) = (app.browser(), app.browser());
    assert_eq!(owner.post("/login?user=heidi").await.status, 200);
    assert_eq!(attacker.post("/login?user=heidi").await.status, 200);
    let owner_handle = handle_of(&mut owner).await;
    let change = {
        let mut owner = owner.clone();
        tokio::spawn(async move { owner.post("/credentials-changed?wait_ms=200").await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        attacker
            .post(&format!("/revoke?handle={owner_handle}"))
            .await
            .body,
        "true"
    );
    let changed = change.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body, "1", "the attacker's session was ended");
    assert_eq!(attacker.get("/me").await.status, 401);
    assert!(live_handles(&app, "heidi").await.is_empty());
}
