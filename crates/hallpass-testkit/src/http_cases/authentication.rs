//! Authentication time and level through a framework (SR-30): a freshness check
//! before a sensitive change, and a step-up that re-authenticates.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

use hallpass::store::SessionStore;

use super::MINUTE;
use crate::Framework;
use crate::app::TestApp;

/// `require_fresh` passes within its window and answers 401 "re-authentication
/// required" after it (injected clock, at the boundary); logging the same principal
/// in again is a step-up: a new token, the data kept, the new level, and both
/// timeouts restarted (the session outlives its first absolute deadline). A level
/// never carries over to another principal, and no one logged in is a plain 401.
pub async fn step_up_refreshes_the_login_and_its_level(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| {
        c.with_idle_timeout(10 * MINUTE)
            .with_absolute_timeout(15 * MINUTE)
    });
    let mut browser = app.browser();
    let anonymous = browser.get("/fresh?max_s=300").await;
    assert_eq!(
        (anonymous.status, anonymous.body.as_str()),
        (StatusCode::UNAUTHORIZED, "not logged in")
    );

    browser.post("/cart?item=book").await;
    browser.post("/login-with?user=ana&level=aal1").await;
    assert_eq!(browser.get("/fresh?max_s=300").await.body, "aal1");
    app.advance(Duration::from_secs(300));
    assert_eq!(
        browser.get("/fresh?max_s=300").await.body,
        "aal1",
        "fresh at exactly max_age"
    );
    app.advance(Duration::from_secs(1));
    let stale = browser.get("/fresh?max_s=300").await;
    assert_eq!(
        (stale.status, stale.body.as_str()),
        (StatusCode::UNAUTHORIZED, "re-authentication required")
    );
    assert_eq!(
        browser.get("/me").await.body,
        "ana",
        "stale is not logged out"
    );

    // Step up at minute 8: the first absolute deadline was minute 15.
    app.advance(3 * MINUTE - Duration::from_secs(1));
    let before = browser.cookie.clone();
    let stepped = browser.post("/login-with?user=ana&level=aal2").await;
    assert_eq!(stepped.status, StatusCode::OK);
    assert_ne!(
        browser.cookie, before,
        "a re-authentication issues a new token"
    );
    assert_eq!(browser.get("/fresh?max_s=300").await.body, "aal2");
    assert_eq!(
        browser.get("/cart").await.body,
        "[\"book\"]",
        "the data stays"
    );
    for _ in 0..3 {
        app.advance(4 * MINUTE);
        assert_eq!(
            browser.get("/me").await.body,
            "ana",
            "both clocks restarted at the step-up"
        );
    }
    // Minute 20, past the first absolute deadline; the new one is minute 23.
    app.advance(4 * MINUTE);
    assert_eq!(browser.get("/me").await.status, StatusCode::UNAUTHORIZED);

    let mut other = app.browser();
    other.post("/login-with?user=ana&level=aal2").await;
    other.post("/login-with?user=bob").await;
    assert_eq!(
        other.get("/fresh?max_s=300").await.body,
        "-",
        "ana's level is not bob's"
    );
}
