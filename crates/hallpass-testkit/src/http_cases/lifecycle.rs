//! The lifecycle: a session created on first write, counted, timed out, logged in
//! (rotated), remembered, logged out; concurrent requests that keep each other's
//! changes; and what each costs in store calls.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::{Method, StatusCode};

use hallpass::store::SessionStore;

use super::{MINUTE, assert_session_cookie_attributes, start_slow_request};
use crate::Framework;
use crate::app::TestApp;

/// The seeds' visit counter: first visit creates the session with the secure cookie,
/// later visits count; the counter request is a single store call.
pub async fn counter_counts_visits(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    let first = browser.get("/views").await;
    assert_eq!(first.body, "1");
    assert_session_cookie_attributes(&first.set_cookie().expect("first visit sets the cookie"));
    assert_eq!(
        first.header("cache-control").as_deref(),
        Some("no-store"),
        "SR-47"
    );
    assert_eq!(first.header("vary").as_deref(), Some("Cookie"), "AT-31");
    let before = app.store.calls().total();
    let second = browser.get("/views").await;
    assert_eq!(second.body, "2");
    assert_eq!(
        second.set_cookie(),
        None,
        "an unchanged token is not re-sent"
    );
    assert_eq!(second.header("vary").as_deref(), Some("Cookie"));
    assert_eq!(
        app.store.calls().total() - before,
        1,
        "a counter request is one store call"
    );
    assert_eq!(browser.get("/views").await.body, "3");
}

/// Lazy: a request whose handler never touches the session costs no store call and
/// gets no session headers.
pub async fn untouched_request_costs_no_store_call(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    browser.get("/views").await;
    let before = app.store.calls().total();
    let reply = browser.get("/untouched").await;
    assert_eq!(reply.body, "ok");
    assert_eq!(app.store.calls().total(), before);
    assert!(reply.set_cookies().is_empty());
    assert_eq!(reply.header("vary"), None);
}

/// A logout and a rotation on a request that has not read the session are one store
/// call each — the store's guard is the liveness check — and the logout still names
/// whose session ended; on a session that is gone, the cookie is cleared.
pub async fn logout_and_rotate_are_one_store_call(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    browser.post("/login?user=lena").await;
    let before = app.store.calls().total();
    let rotated = browser.post("/rotate").await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(
        app.store.calls().total(),
        before + 1,
        "a rotation is one call"
    );
    assert_eq!(rotated.set_cookies().len(), 1, "the new token is issued");
    assert_eq!(
        browser.get("/me").await.body,
        "lena",
        "the rotated session lives"
    );

    let before = app.store.calls().total();
    let out = browser.post("/logout").await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(
        app.store.calls().total(),
        before + 1,
        "a logout is one call"
    );
    let logged_out: Vec<_> = app
        .events
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter_map(|event| match event {
            hallpass::events::Event::LoggedOut { principal, .. } => Some(principal.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(logged_out, vec![Some("lena".into())]);
    assert_eq!(browser.get("/me").await.status, StatusCode::UNAUTHORIZED);

    // A stale cookie: rotating it finds nothing and clears it.
    let mut stale = app.browser();
    stale.post("/login?user=lena").await;
    let cookie = stale.cookie_value().unwrap_or_default();
    stale.post("/logout").await;
    let reply = app
        .raw(
            Method::POST,
            "/rotate",
            &[format!("__Host-id={cookie}").as_bytes()],
        )
        .await;
    assert!(
        reply.set_cookies().iter().any(|c| c.contains("Max-Age=0")),
        "{:?}",
        reply.set_cookies()
    );
}

/// SR-18: no record and no cookie for requests that leave the session empty.
pub async fn empty_sessions_are_never_stored(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    for (method, uri) in [
        (Method::GET, "/me"),
        (Method::GET, "/cart"),
        (Method::POST, "/logout"),
        (Method::POST, "/rotate"),
        (Method::POST, "/scratch"),
    ] {
        let reply = browser.send(method, uri).await;
        assert!(
            reply.set_cookies().is_empty(),
            "{uri}: {:?}",
            reply.set_cookies()
        );
    }
    assert_eq!(app.store.calls().writes(), 0);
    assert_eq!(app.store.count(app.clock_now()).await.unwrap(), 0);
}

/// SR-20: after the idle timeout without activity the session is gone, its record
/// deleted and the cookie cleared (SR-23).
pub async fn idle_timeout_ends_the_session(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    browser.post("/login?user=alice").await;
    assert_eq!(browser.get("/me").await.status, 200);
    app.advance(30 * MINUTE);
    let reply = browser.get("/me").await;
    assert_eq!(reply.status, 401);
    let cleared = reply.set_cookie().expect("a deletion cookie");
    assert!(cleared.starts_with("__Host-id=; Max-Age=0"), "{cleared}");
    assert!(app.event_names().contains(&"expired"));
    assert_eq!(app.store.count(app.clock_now()).await.unwrap(), 0);
}

/// SR-21: activity never extends the absolute timeout; the touch is throttled to
/// once per interval and never rewrites data.
pub async fn absolute_timeout_beats_activity_and_touch_is_throttled(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| {
        c.with_idle_timeout(30 * MINUTE)
            .with_absolute_timeout(120 * MINUTE)
    });
    let mut browser = app.browser();
    browser.post("/login?user=alice").await;
    browser.post("/cart?item=pen").await;
    // Within the touch interval (3 min): reads cause no write.
    let writes = app.store.calls().writes();
    for _ in 0..3 {
        app.advance(Duration::from_secs(30));
        assert_eq!(browser.get("/me").await.status, 200);
    }
    assert_eq!(
        app.store.calls().writes(),
        writes,
        "no write inside the touch interval"
    );
    app.advance(3 * MINUTE);
    assert_eq!(browser.get("/me").await.status, 200);
    assert_eq!(
        app.store.calls().touch.load(Ordering::SeqCst),
        1,
        "one touch after the interval"
    );
    assert_eq!(
        app.store.calls().apply.load(Ordering::SeqCst),
        1,
        "the touch did not rewrite data"
    );
    // Keep the session busy every 20 minutes: the idle deadline keeps moving...
    for _ in 0..5 {
        app.advance(20 * MINUTE);
        assert_eq!(browser.get("/me").await.status, 200);
    }
    // ...but the absolute deadline (2 h after login) ends it.
    app.advance(20 * MINUTE);
    assert_eq!(browser.get("/me").await.status, 401);
}

/// SR-14, AT-02: login issues a new token, kills the old one, keeps the data.
pub async fn login_rotates_and_keeps_data(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    browser.post("/cart?item=apple").await;
    let anonymous = browser.cookie.clone().expect("cart creates a session");
    let reply = browser.post("/login?user=alice").await;
    assert_eq!(reply.status, 200);
    let logged_in = browser.cookie.clone().expect("login sets a cookie");
    assert_ne!(anonymous, logged_in, "a new token after login");
    assert_eq!(browser.get("/cart").await.body, r#"["apple"]"#);
    assert_eq!(browser.get("/me").await.body, "alice");
    // The pre-login token is dead: an attacker who planted it gets nothing.
    let old = app.raw(Method::GET, "/me", &[anonymous.as_bytes()]).await;
    assert_eq!(old.status, 401);
    let old_cart = app.raw(Method::GET, "/cart", &[anonymous.as_bytes()]).await;
    assert_eq!(old_cart.body, "[]");
    let names = app.event_names();
    assert!(
        names.contains(&"rotated") && names.contains(&"authenticated"),
        "{names:?}"
    );
}

/// SR-19, AT-21: logging in as someone else drops the previous user's data.
pub async fn login_as_another_principal_flushes_data(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    browser.post("/login?user=alice").await;
    browser.post("/cart?item=alices-secret").await;
    browser.post("/login?user=bob").await;
    assert_eq!(browser.get("/me").await.body, "bob");
    assert_eq!(browser.get("/cart").await.body, "[]");
}

/// "Remember me" belongs to the principal who chose it: a login as someone else on
/// the same browser starts with a browser-session cookie again (and no data).
pub async fn remember_me_ends_with_a_switch_of_principal(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    browser.post("/login?user=alice").await;
    let remembered = browser.post("/remember").await;
    assert!(
        remembered
            .set_cookie()
            .is_some_and(|c| c.contains("Max-Age=")),
        "alice is remembered"
    );
    let bob = browser.post("/login?user=bob").await;
    let cookie = bob.set_cookie().expect("a new cookie for bob");
    assert!(
        !cookie.contains("Max-Age="),
        "bob is not remembered: {cookie}"
    );
    // And alice logging in again keeps her own choice.
    let mut own = app.browser();
    own.post("/login?user=alice").await;
    own.post("/remember").await;
    let again = own.post("/login?user=alice").await;
    assert!(again.set_cookie().is_some_and(|c| c.contains("Max-Age=")));
}

/// A request sent with a cookie that a concurrent request of the same browser has
/// since rotated (a login) arrives late: its answer carries no deletion cookie, which
/// would log the browser out of its fresher login. (A stale request that writes still
/// starts a new anonymous session, as a loser of a rotation race does; issue 17's
/// grace window serves it on the rotated session instead.) A cookie whose session
/// really ended is still cleared.
pub async fn a_stale_request_never_deletes_a_fresher_cookie(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    browser.post("/login?user=alice").await;
    let stale = browser.cookie.clone().unwrap_or_default();
    browser.post("/login?user=alice").await;
    assert_ne!(browser.cookie.as_deref(), Some(stale.as_str()), "rotated");
    let reply = app.raw(Method::GET, "/me", &[stale.as_bytes()]).await;
    assert_eq!(reply.status, 401);
    assert!(
        reply.set_cookies().is_empty(),
        "a stale read sets no cookie: {:?}",
        reply.set_cookies()
    );
    for (method, path) in [(Method::GET, "/views"), (Method::POST, "/cart?item=late")] {
        let reply = app.raw(method, path, &[stale.as_bytes()]).await;
        assert!(
            !reply.set_cookies().iter().any(|c| c.contains("Max-Age=0")),
            "{path}: no deletion cookie: {:?}",
            reply.set_cookies()
        );
    }
    assert_eq!(browser.get("/me").await.body, "alice", "still logged in");
    assert_eq!(
        browser.get("/cart").await.body,
        "[]",
        "the late write was dropped"
    );
    let ended = browser.cookie.clone().unwrap_or_default();
    browser.post("/logout").await;
    let reply = app.raw(Method::GET, "/me", &[ended.as_bytes()]).await;
    assert!(
        reply.set_cookie().is_some_and(|c| c.contains("Max-Age=0")),
        "an ended session's cookie is cleared: {:?}",
        reply.set_cookies()
    );
}

/// SR-24: logout deletes the record and sends a deletion cookie with the same
/// attributes; the old cookie is dead.
pub async fn logout_deletes_and_clears_the_cookie(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    browser.post("/login?user=alice").await;
    let cookie = browser.cookie.clone().unwrap_or_default();
    let reply = browser.post("/logout").await;
    let cleared = reply.set_cookie().expect("deletion cookie");
    assert_eq!(
        cleared,
        "__Host-id=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Secure; HttpOnly; SameSite=Strict"
    );
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(
        app.raw(Method::GET, "/me", &[cookie.as_bytes()])
            .await
            .status,
        401
    );
    assert_eq!(app.store.count(app.clock_now()).await.unwrap(), 0);
    assert!(app.event_names().contains(&"logged_out"));
}

/// AT-24: a slow request that finishes after a concurrent logout does not bring the
/// session back.
pub async fn slow_write_after_logout_does_not_resurrect(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    browser.post("/login?user=alice").await;
    let cookie = browser.cookie.clone().unwrap_or_default();
    let slow = start_slow_request(&app, &cookie, "late").await;
    assert!(browser.post("/logout").await.set_cookie().is_some());
    app.gate.release.notify_one();
    let slow = slow.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(slow.status, 200);
    let resent = slow.set_cookie().unwrap_or_default();
    assert!(
        resent.is_empty() || resent.contains("Max-Age=0"),
        "no live cookie: {resent}"
    );
    assert_eq!(
        app.raw(Method::GET, "/me", &[cookie.as_bytes()])
            .await
            .status,
        401
    );
    assert_eq!(
        app.store.count(app.clock_now()).await.unwrap(),
        0,
        "nothing resurrected"
    );
    assert!(app.event_names().contains(&"write_discarded"));
}

/// 1,000 concurrent increments from 32 tasks over HTTP end at exactly 1,000, each
/// request seeing its own number.
pub async fn concurrent_http_increments_are_exact(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    browser.post("/cart?item=x").await;
    let cookie = browser.cookie.clone().unwrap_or_default();
    let tasks: Vec<_> = (0..32)
        .map(|task| {
            let app = app.clone();
            let cookie = cookie.clone();
            tokio::spawn(async move {
                let n = if task < 8 { 32 } else { 31 };
                let mut seen = Vec::new();
                for _ in 0..n {
                    let reply = app.raw(Method::GET, "/views", &[cookie.as_bytes()]).await;
                    assert_eq!(reply.status, 200);
                    seen.push(reply.body.parse::<i64>().unwrap_or(-1));
                }
                seen
            })
        })
        .collect();
    let mut seen = BTreeSet::new();
    for task in tasks {
        for value in task.await.unwrap_or_default() {
            assert!(seen.insert(value), "{value} seen twice");
        }
    }
    assert_eq!(seen, (1..=1000).collect::<BTreeSet<i64>>());
    assert_eq!(browser.get("/views").await.body, "1001");
}

/// Concurrent requests changing different keys both keep their changes.
pub async fn concurrent_requests_keep_each_others_changes(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    browser.post("/login?user=alice").await;
    let cookie = browser.cookie.clone().unwrap_or_default();
    // Request A holds its change open while request B commits another key.
    let slow = start_slow_request(&app, &cookie, "from_a").await;
    assert_eq!(
        app.raw(Method::POST, "/cart?item=from_b", &[cookie.as_bytes()])
            .await
            .status,
        200
    );
    app.gate.release.notify_one();
    assert_eq!(slow.await.map(|r| r.status.as_u16()).unwrap_or(0), 200);
    assert_eq!(
        browser.get("/cart").await.body,
        r#"["from_b"]"#,
        "B's change survived A's commit"
    );
    let views = browser.get("/views").await;
    assert_eq!(views.body, "1");
}

/// "Remember me": a persistent cookie whose Max-Age reaches the absolute deadline.
pub async fn remember_me_sets_max_age_from_the_absolute_deadline(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    browser.post("/login?user=alice").await;
    app.advance(MINUTE);
    let reply = browser.post("/remember").await;
    let cookie = reply.set_cookie().expect("re-issued");
    assert!(
        cookie.contains("; Max-Age=43140;"),
        "12 h minus 1 min: {cookie}"
    );
    assert_eq!(browser.get("/me").await.status, 200);
}
