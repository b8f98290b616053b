//! Labels through a framework: a federated logout (OpenID Connect back-channel
//! logout's `sid`) ends every session carrying the label, from a request that has
//! no session of its own.

use std::sync::Arc;

use http::{Method, StatusCode};

use hallpass::events::{Event, RevokedBy};
use hallpass::store::SessionStore;

use crate::Framework;
use crate::app::TestApp;

/// Two browsers of ana carry `oidc_sid = s1`, bob's carries `s2`. A back-channel
/// request without a cookie revokes `s1`: both of ana's sessions end (one rotated
/// since it was labelled), bob's lives, and a `Revoked` event says why. A login as
/// another principal drops the label with the data, and a bad label name is refused.
pub async fn revoke_by_label_is_a_federated_logout(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let mut desktop = app.browser();
    let mut phone = app.browser();
    let mut bob = app.browser();
    for (browser, user, sid) in [
        (&mut desktop, "ana", "s1"),
        (&mut phone, "ana", "s1"),
        (&mut bob, "bob", "s2"),
    ] {
        browser.post(&format!("/login?user={user}")).await;
        let labelled = browser
            .post(&format!("/label?name=oidc_sid&value={sid}"))
            .await;
        assert_eq!(labelled.status, StatusCode::OK, "{}", labelled.body);
        assert_eq!(browser.get("/label?name=oidc_sid").await.body, sid);
    }
    // Labels survive a rotation: the handle is what the index holds.
    let before = phone.cookie.clone();
    phone.post("/rotate").await;
    assert_ne!(phone.cookie, before);

    let logout = app
        .raw(Method::POST, "/revoke-label?name=oidc_sid&value=s1", &[])
        .await;
    assert_eq!((logout.status, logout.body.as_str()), (StatusCode::OK, "2"));
    assert!(
        logout.set_cookies().is_empty(),
        "the back channel gets no session"
    );
    assert_eq!(desktop.get("/me").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(phone.get("/me").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bob.get("/me").await.body, "bob");
    let by_label = app
        .events
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Revoked {
                    by: RevokedBy::Label,
                    count: 2,
                    ..
                }
            )
        })
        .count();
    assert_eq!(by_label, 1);
    let again = app
        .raw(Method::POST, "/revoke-label?name=oidc_sid&value=s1", &[])
        .await;
    assert_eq!(again.body, "0");

    // Another principal starts from nothing: the label goes with the data.
    bob.post("/login?user=cy").await;
    assert_eq!(bob.get("/label?name=oidc_sid").await.body, "-");
    let none = app
        .raw(Method::POST, "/revoke-label?name=oidc_sid&value=s2", &[])
        .await;
    assert_eq!(none.body, "0");
    assert_eq!(bob.get("/me").await.body, "cy");

    let bad = bob.post("/label?name=a/b&value=x").await;
    assert_eq!(bad.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(bob.get("/label?name=a/b").await.body, "-");
}
