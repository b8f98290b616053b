//! A principal's sessions: listing and revoking them, the per-principal cap, client
//! binding, and the events of it all.

use std::sync::Arc;

use http::Method;

use hallpass::config::{BindingPolicy, CapPolicy, ClientBinding};
use hallpass::store::SessionStore;

use super::MINUTE;
use crate::Framework;
use crate::app::TestApp;

/// SR-25…SR-27: list one's sessions, revoke one by handle, log out everywhere; a
/// handle of another user's session is refused.
pub async fn list_and_revoke_sessions(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework, store, |c| c);
    let mut laptop = app.browser();
    let mut phone = app.browser();
    let mut tablet = app.browser();
    let mut mallory = app.browser();
    for browser in [&mut laptop, &mut phone, &mut tablet] {
        browser.post("/login?user=alice").await;
        app.advance(MINUTE);
    }
    mallory.post("/login?user=mallory").await;
    let listed: Vec<String> =
        serde_json::from_str(&laptop.get("/sessions").await.body).unwrap_or_default();
    assert_eq!(listed.len(), 3, "oldest first: laptop, phone, tablet");
    let mallory_list: Vec<String> =
        serde_json::from_str(&mallory.get("/sessions").await.body).unwrap_or_default();
    assert_eq!(
        mallory
            .post(&format!("/revoke?handle={}", listed[1]))
            .await
            .body,
        "false"
    );
    assert_eq!(
        phone.get("/me").await.status,
        200,
        "mallory cannot revoke alice's session"
    );
    assert_eq!(
        laptop
            .post(&format!("/revoke?handle={}", mallory_list[0]))
            .await
            .body,
        "false"
    );
    assert_eq!(
        laptop
            .post(&format!("/revoke?handle={}", listed[1]))
            .await
            .body,
        "true"
    );
    assert_eq!(
        phone.get("/me").await.status,
        401,
        "revoked on its very next request"
    );
    assert_eq!(
        laptop.post("/revoke-all?except_current=true").await.body,
        "1"
    );
    assert_eq!(tablet.get("/me").await.status, 401);
    assert_eq!(laptop.get("/me").await.status, 200);
    let everywhere = laptop.post("/revoke-all?except_current=false").await;
    assert_eq!(everywhere.body, "1");
    assert!(
        everywhere
            .set_cookie()
            .unwrap_or_default()
            .contains("Max-Age=0")
    );
    assert_eq!(laptop.get("/me").await.status, 401);
    assert_eq!(mallory.get("/me").await.status, 200);
    assert_eq!(app.raw(Method::GET, "/sessions", &[]).await.status, 401);
}

/// SR-29: the per-principal cap rejects the next login, or evicts the oldest session.
pub async fn session_cap_rejects_or_evicts(framework: Framework, store: Arc<dyn SessionStore>) {
    let strict = TestApp::on(framework, Arc::clone(&store), |c| {
        c.with_max_sessions_per_principal(2, CapPolicy::RejectNew)
    });
    let (mut a, mut b, mut c) = (strict.browser(), strict.browser(), strict.browser());
    assert_eq!(a.post("/login?user=alice").await.status, 200);
    assert_eq!(b.post("/login?user=alice").await.status, 200);
    assert_eq!(c.post("/login?user=alice").await.status, 409);
    assert_eq!(c.get("/me").await.status, 401);
    assert_eq!(
        a.post("/login?user=alice").await.status,
        200,
        "re-login of a counted session is fine"
    );

    let evicting = TestApp::on(framework, store, |c| {
        c.with_max_sessions_per_principal(2, CapPolicy::EvictOldest)
    });
    let (mut a, mut b, mut c) = (evicting.browser(), evicting.browser(), evicting.browser());
    a.post("/login?user=bob").await;
    evicting.advance(MINUTE);
    b.post("/login?user=bob").await;
    evicting.advance(MINUTE);
    assert_eq!(c.post("/login?user=bob").await.status, 200);
    assert_eq!(a.get("/me").await.status, 401, "the oldest was evicted");
    assert_eq!(b.get("/me").await.status, 200);
    assert_eq!(c.get("/me").await.status, 200);
    assert!(evicting.event_names().contains(&"revoked"));
}

/// SR-46: client binding (User-Agent here): log, require login, or terminate.
pub async fn client_binding_policies(framework: Framework, store: Arc<dyn SessionStore>) {
    for policy in [
        BindingPolicy::Log,
        BindingPolicy::RequireLogin,
        BindingPolicy::Terminate,
    ] {
        let app = TestApp::on(framework, Arc::clone(&store), |c| {
            c.with_client_binding(
                ClientBinding::new(policy)
                    .without_ip()
                    .with_user_agent(true),
            )
        });
        let mut browser = app.browser();
        browser.user_agent = Some("Firefox/1".into());
        browser.post("/login?user=alice").await;
        browser.post("/cart?item=x").await;
        assert_eq!(browser.get("/me").await.status, 200);
        let mut thief = browser.clone();
        thief.user_agent = Some("curl/8".into());
        let stolen = thief.get("/me").await.status;
        match policy {
            BindingPolicy::Log => assert_eq!(stolen, 200),
            _ => assert_eq!(stolen, 401, "{policy:?}"),
        }
        assert!(app.event_names().contains(&"binding_mismatch"));
        let owner = browser.get("/me").await.status;
        let expected = if policy == BindingPolicy::Log {
            200
        } else {
            401
        };
        assert_eq!(
            owner, expected,
            "{policy:?}: the old token no longer works either"
        );
    }
}

/// SR-45: each transition emits its event, in order, carrying no token.
pub async fn events_follow_the_lifecycle(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    browser.post("/cart?item=x").await;
    browser.post("/login?user=alice").await;
    browser.post("/rotate").await;
    browser.post("/logout").await;
    assert_eq!(
        app.event_names(),
        [
            "created",
            "rotated",
            "authenticated",
            "rotated",
            "logged_out"
        ]
    );
    let events = format!(
        "{:?}",
        app.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    );
    assert!(events.contains("principal: \"alice\""), "{events}");
}
