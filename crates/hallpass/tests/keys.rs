//! Key rotation (SR-40): a cookie signed by an older key still works and is re-issued
//! under the primary key in the same response; retired keys stop working.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use std::sync::Arc;

use hallpass::store::SessionStore;
use hallpass::{Key, Keyring, MemoryStore};
use hallpass_testkit::TestApp;
use http::Method;

#[tokio::test]
async fn old_key_cookie_is_accepted_and_reissued_under_the_primary() {
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let (old, new) = (Key::generate(), Key::generate());
    let before = TestApp::with_config(Arc::clone(&store), |c| {
        c.with_keyring(Keyring::new(old.clone()))
    });
    let mut browser = before.browser();
    browser.post("/login?user=alice").await;
    let old_cookie = browser.cookie.clone().unwrap();

    let rotated = TestApp::with_config(Arc::clone(&store), |c| {
        c.with_keyring(Keyring::new(new.clone()).with_verify_only(old.clone()))
    });
    // Even a handler that never touches the session gets the re-issued cookie.
    let reply = rotated
        .raw(Method::GET, "/untouched", &[old_cookie.as_bytes()])
        .await;
    let reissued = reply.set_cookie().expect("re-issued under the primary key");
    let new_cookie = reissued.split(';').next().unwrap().to_owned();
    assert_ne!(new_cookie, old_cookie);
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));

    // The same session (same data, same handle), now verifiable by the new key alone.
    let retired = TestApp::with_config(Arc::clone(&store), |c| {
        c.with_keyring(Keyring::new(new.clone()))
    });
    let me = retired
        .raw(Method::GET, "/me", &[new_cookie.as_bytes()])
        .await;
    assert_eq!((me.status.as_u16(), me.body.as_str()), (200, "alice"));
    // Once the old key is retired, cookies signed by it are refused.
    assert_eq!(
        retired
            .raw(Method::GET, "/me", &[old_cookie.as_bytes()])
            .await
            .status,
        401
    );
    // A cookie under the primary is not re-issued needlessly.
    let steady = rotated
        .raw(Method::GET, "/me", &[new_cookie.as_bytes()])
        .await;
    assert_eq!(steady.set_cookie(), None);
}

#[tokio::test]
async fn unknown_key_gets_no_session() {
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let a = TestApp::with_config(Arc::clone(&store), |c| {
        c.with_keyring(Keyring::new(Key::generate()))
    });
    let mut browser = a.browser();
    browser.post("/login?user=alice").await;
    let cookie = browser.cookie.clone().unwrap();
    let b = TestApp::with_config(store, |c| c.with_keyring(Keyring::new(Key::generate())));
    assert_eq!(
        b.raw(Method::GET, "/me", &[cookie.as_bytes()]).await.status,
        401
    );
    assert!(b.event_names().contains(&"invalid_token"));
}
