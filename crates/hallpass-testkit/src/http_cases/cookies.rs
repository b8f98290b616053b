//! The cookie under attack: forged, dead, moved, spoofed, duplicated and oversized
//! cookies, and refusals that all look alike.

use std::sync::Arc;

use http::Method;

use hallpass::config::SameSite;
use hallpass::store::SessionStore;

use super::MINUTE;
use crate::Framework;
use crate::app::TestApp;

/// SR-13, AT-01: garbage, forged and unknown cookies get no session and nothing is
/// written under them; a new session gets a freshly minted token.
pub async fn forged_cookies_get_nothing(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework, store, |c| c);
    let forged = format!("__Host-id={}", "A".repeat(108));
    let garbage: [&[u8]; 6] = [
        b"__Host-id=",
        forged.as_bytes(),
        b"__Host-id=' OR '1'='1",
        b"__Host-id=*",
        b"__Host-id=\xff\xfe",
        b"__Host-id=../../etc",
    ];
    for cookie in garbage {
        let me = app.raw(Method::GET, "/me", &[cookie]).await;
        assert_eq!(me.status, 401);
        let cart = app.raw(Method::POST, "/cart?item=x", &[cookie]).await;
        assert_eq!(cart.status, 200);
        let issued = cart.set_cookie().unwrap_or_default();
        let value = issued.split(';').next().unwrap_or_default().as_bytes();
        assert_ne!(value, cookie, "never adopt a client-supplied value");
    }
    assert!(app.event_names().contains(&"invalid_token"));
}

/// A logged-out (never again valid) but correctly signed cookie gets no session, and
/// writes through it create a new session under a new token instead.
pub async fn dead_token_is_never_written_to(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    browser.post("/login?user=alice").await;
    let dead = browser.cookie.clone().unwrap_or_default();
    browser.post("/logout").await;
    let reply = app
        .raw(Method::POST, "/cart?item=x", &[dead.as_bytes()])
        .await;
    let fresh = reply.set_cookie().unwrap_or_default();
    assert!(!fresh.starts_with(&dead), "a fresh token, not the dead one");
    assert_eq!(
        app.raw(Method::GET, "/cart", &[dead.as_bytes()]).await.body,
        "[]"
    );
    assert_eq!(app.store.count(app.clock_now()).await.unwrap(), 1);
}

/// AT-15: a valid value moved to another cookie name does not verify.
pub async fn cookie_moved_to_another_name_is_rejected(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, Arc::clone(&store), |c| c);
    let mut browser = app.browser();
    browser.post("/login?user=alice").await;
    let value = browser.cookie_value().unwrap_or_default();
    let other = TestApp::on(framework, store, |c| c.with_cookie_name("__Host-other"));
    let moved = format!("__Host-other={value}");
    assert_eq!(
        other
            .raw(Method::GET, "/me", &[moved.as_bytes()])
            .await
            .status,
        401
    );
    assert!(other.event_names().contains(&"invalid_token"));
}

/// SR-32, AT-04…AT-07: names that only look like the session cookie are ignored.
pub async fn spoofed_cookie_names_are_ignored(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    browser.post("/login?user=alice").await;
    let value = browser.cookie_value().unwrap_or_default();
    let control = format!("__Host-id={value}");
    assert_eq!(
        app.raw(Method::GET, "/me", &[control.as_bytes()])
            .await
            .status,
        200
    );
    let spoofs = [
        format!("__%48ost-id={value}"),
        format!("%5F%5FHost-id={value}"),
        format!("\u{2000}__Host-id={value}"),
        format!("\u{a0}__Host-id={value}"),
        format!("=__Host-id={value}"),
        format!("__host-id={value}"),
        format!("__Host-id=\"{value}\""),
        format!("$Version=1; __Host-id=\"{value}\""),
        format!("..Host-id={value}"),
        // AT-05: names a framework might mangle into the session cookie's name.
        format!("__Host.id={value}"),
        format!("__Host id={value}"),
        format!("__Host_id={value}"),
        format!("__Host-id\t\t.={value}"),
    ];
    for spoof in spoofs {
        assert_eq!(
            app.raw(Method::GET, "/me", &[spoof.as_bytes()])
                .await
                .status,
            401,
            "{spoof}"
        );
    }
}

/// SR-33, AT-08: two live session cookies authenticate neither, in any order or
/// split across headers, and neither is written to; one live plus one dead
/// authenticates the live one.
pub async fn duplicate_session_cookies_are_never_resolved_by_order(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let mut victim = app.browser();
    victim.post("/login?user=victim").await;
    let mut attacker = app.browser();
    attacker.post("/login?user=attacker").await;
    let (v, a) = (
        victim.cookie.clone().unwrap_or_default(),
        attacker.cookie.clone().unwrap_or_default(),
    );
    let both = [format!("{a}; {v}"), format!("{v}; {a}")];
    for header in &both {
        assert_eq!(
            app.raw(Method::GET, "/me", &[header.as_bytes()])
                .await
                .status,
            401,
            "{header}"
        );
        let write = app
            .raw(Method::POST, "/cart?item=planted", &[header.as_bytes()])
            .await;
        let issued = write.set_cookie().unwrap_or_default();
        assert!(
            !issued.starts_with(&v) && !issued.starts_with(&a),
            "never writes to either"
        );
    }
    assert_eq!(
        app.raw(Method::GET, "/me", &[a.as_bytes(), v.as_bytes()])
            .await
            .status,
        401
    );
    assert_eq!(victim.get("/cart").await.body, "[]");
    assert_eq!(attacker.get("/cart").await.body, "[]");
    assert!(app.event_names().contains(&"duplicate_cookie"));
    let dead = format!("__Host-id={}", "B".repeat(108));
    let mixed = format!("{dead}; {v}");
    let me = app.raw(Method::GET, "/me", &[mixed.as_bytes()]).await;
    assert_eq!((me.status.as_u16(), me.body.as_str()), (200, "victim"));
}

/// SR-34, AT-26: an oversized Cookie header gets 431 before any handler or store.
pub async fn oversized_cookie_header_gets_431(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework, store, |c| c);
    for size in [16 * 1024, 64 * 1024, 1024 * 1024] {
        let header = format!("x={}", "a".repeat(size));
        match app
            .try_raw(Method::GET, "/views", &[header.as_bytes()])
            .await
        {
            Some(reply) => {
                assert_eq!(reply.status, 431);
                assert!(reply.set_cookies().is_empty());
            }
            // actix-web answers a request head over its own 32 KiB buffer itself
            // (431) and closes the connection, often before the client has read the
            // answer; the engine never sees such a request. Below that limit the
            // engine's 431 is asserted on both frameworks.
            None => assert!(
                framework == Framework::Actix && size > 32 * 1024,
                "{framework:?} closed the connection on a {size}-byte Cookie header"
            ),
        }
    }
    let half = format!("x={}", "a".repeat(5000));
    assert_eq!(
        app.raw(Method::GET, "/views", &[half.as_bytes(), half.as_bytes()])
            .await
            .status,
        431
    );
    assert_eq!(app.store.calls().total(), 0);
    let many: String = (0..5000).map(|i| format!("c{i}=1; ")).collect();
    assert_eq!(
        app.raw(Method::GET, "/views", &[many.as_bytes()])
            .await
            .status,
        431
    );
}

/// SR-08: `Lax` is allowed and emitted.
pub async fn same_site_lax_is_emitted(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework, store, |c| c.with_same_site(SameSite::Lax));
    let reply = app.browser().get("/views").await;
    assert!(
        reply
            .set_cookie()
            .unwrap_or_default()
            .ends_with("; SameSite=Lax")
    );
}

/// SR-32, AT-02: the opt-in `__Host-Http-` name (RFC 6265bis; browsers refuse it from
/// script) carries the session like the default name, with the `__Host-` attributes,
/// and a value moved to the plain `__Host-` name does not verify.
pub async fn host_http_prefix_carries_the_session(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c.with_cookie_name("__Host-Http-id"));
    let mut browser = app.browser();
    let reply = browser.post("/login?user=alice").await;
    let set = reply.set_cookie().expect("a session cookie");
    assert!(set.starts_with("__Host-Http-id="), "{set}");
    assert!(
        set.ends_with("; Path=/; Secure; HttpOnly; SameSite=Strict"),
        "{set}"
    );
    let me = browser.get("/me").await;
    assert_eq!((me.status.as_u16(), me.body.as_str()), (200, "alice"));
    let value = browser.cookie_value().unwrap_or_default();
    let moved = format!("__Host-id={value}");
    assert_eq!(
        app.raw(Method::GET, "/me", &[moved.as_bytes()])
            .await
            .status,
        401
    );
    let cleared = browser.post("/logout").await;
    let cleared = cleared.set_cookie().expect("a deletion cookie");
    assert!(
        cleared.starts_with("__Host-Http-id=; Max-Age=0"),
        "{cleared}"
    );
}

/// SR-08: a `Partitioned` (CHIPS) cookie is sent with `SameSite=None; Partitioned`,
/// and so is its deletion: a deletion cookie without `Partitioned` names another
/// cookie and would leave the partitioned one in the browser.
pub async fn partitioned_cookies_are_set_and_deleted_partitioned(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| {
        c.dangerous_same_site_none().dangerous_partitioned_cookie()
    });
    let mut browser = app.browser();
    let reply = browser.post("/login?user=alice").await;
    let set = reply.set_cookie().expect("a session cookie");
    assert!(
        set.ends_with("; Path=/; Secure; HttpOnly; SameSite=None; Partitioned"),
        "{set}"
    );
    let cleared = browser.post("/logout").await;
    assert_eq!(
        cleared.set_cookie().as_deref(),
        Some(
            "__Host-id=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Secure; HttpOnly; SameSite=None; Partitioned"
        )
    );
}

/// SR-36: an invalid, unknown, expired or revoked cookie gets the very same answer:
/// same status, same body, the same deletion cookie and the same header names.
pub async fn invalid_unknown_expired_and_revoked_look_alike(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let forged = format!("__Host-id={}", "A".repeat(108));
    let mut logged_out = app.browser();
    logged_out.post("/login?user=a").await;
    let unknown = logged_out.cookie.clone().unwrap_or_default();
    logged_out.post("/logout").await;
    let mut revoked = app.browser();
    revoked.post("/login?user=b").await;
    let revoked_cookie = revoked.cookie.clone().unwrap_or_default();
    let mut other = revoked.clone();
    other.cookie = None;
    other.post("/login?user=b").await;
    other.post("/revoke-all?except_current=true").await;
    let mut expiring = app.browser();
    expiring.post("/login?user=c").await;
    let expired = expiring.cookie.clone().unwrap_or_default();
    app.advance(31 * MINUTE);
    let mut shapes = Vec::new();
    for cookie in [&forged, &unknown, &revoked_cookie, &expired] {
        let reply = app.raw(Method::GET, "/me", &[cookie.as_bytes()]).await;
        let mut names: Vec<String> = reply
            .headers
            .keys()
            .map(|k| k.as_str().to_owned())
            .collect();
        names.retain(|n| n != "date");
        names.sort();
        shapes.push((reply.status, reply.body.clone(), reply.set_cookies(), names));
    }
    for shape in &shapes[1..] {
        assert_eq!(shape, &shapes[0]);
    }
    assert_eq!(shapes[0].0, 401);
    assert!(shapes[0].2[0].contains("Max-Age=0"));
}
