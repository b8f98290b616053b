//! Failing closed: a store down on load or on save, and data over the bound.

use std::sync::Arc;

use hallpass::config::LoadFailure;
use hallpass::store::SessionStore;

use crate::Framework;
use crate::app::TestApp;

/// Fail closed: a store down on load gives 503 with no Set-Cookie; with the
/// anonymous fallback the request runs without a session and writes nothing.
pub async fn store_down_on_load_fails_closed(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework, Arc::clone(&store), |c| c);
    let mut browser = app.browser();
    browser.post("/login?user=alice").await;
    app.store.set_down(true);
    for uri in ["/me", "/views"] {
        let reply = browser.get(uri).await;
        assert_eq!(reply.status, 503, "{uri}");
        assert!(reply.set_cookies().is_empty());
    }
    app.store.set_down(false);
    assert_eq!(
        browser.get("/me").await.status,
        200,
        "works again once the store is back"
    );

    let lenient = TestApp::on(framework, store, |c| {
        c.with_load_failure(LoadFailure::AnonymousFallback)
    });
    let mut other = lenient.browser();
    other.post("/login?user=bob").await;
    lenient.store.set_down(true);
    let reply = other.get("/me").await;
    assert_eq!(reply.status, 401, "anonymous fallback");
    assert!(reply.set_cookies().is_empty());
}

/// Commit before headers: a failed save turns the response into a 5xx with no
/// Set-Cookie.
pub async fn failed_save_replaces_the_response(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    app.store.set_writes_down(true);
    let reply = browser.post("/cart?item=x").await;
    assert_eq!(reply.status, 503);
    assert!(reply.set_cookies().is_empty());
    assert!(
        reply.body.is_empty(),
        "nothing of the handler's response leaks"
    );
    app.store.set_writes_down(false);
    browser.post("/login?user=alice").await;
    app.store.set_writes_down(true);
    let reply = browser.post("/cart?item=y").await;
    assert_eq!(reply.status, 503);
    assert!(reply.set_cookies().is_empty());
    app.store.set_writes_down(false);
    assert_eq!(browser.get("/cart").await.body, "[]");
}

/// SR-34, SR-39: data over `max_data_bytes` is refused with the typed
/// `SessionError::DataTooLarge` and changes nothing: no session is created for an
/// anonymous visitor, and a live session keeps what it had.
pub async fn oversized_data_is_refused_and_nothing_is_stored(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c.with_max_data_bytes(1024));
    let mut visitor = app.browser();
    let refused = visitor.post("/big?bytes=2000").await;
    assert_eq!(refused.status, 413, "{}", refused.body);
    assert!(refused.body.ends_with("> 1024"), "{}", refused.body);
    assert!(
        refused.set_cookie().is_none(),
        "no session for refused data"
    );
    assert_eq!(app.store.count(app.clock_now()).await.unwrap(), 0);

    let mut user = app.browser();
    user.post("/login?user=alice").await;
    assert_eq!(user.post("/cart?item=kept").await.status, 200);
    assert_eq!(user.post("/big?bytes=900").await.status, 200);
    let writes = app.store.calls().writes();
    assert_eq!(user.post("/big?bytes=5000").await.status, 413);
    assert_eq!(app.store.calls().writes(), writes, "nothing written");
    assert_eq!(user.get("/cart").await.body, r#"["kept"]"#);
    assert_eq!(
        user.post("/big?bytes=10").await.status,
        200,
        "the session still works"
    );
}
