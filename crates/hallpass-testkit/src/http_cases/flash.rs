//! Flash values through a framework: a notice set before a redirect is shown by the
//! next page, once, whatever the requests race.

use std::sync::Arc;

use http::{Method, StatusCode};

use hallpass::store::SessionStore;

use crate::Framework;
use crate::app::TestApp;

/// A flash value survives the redirect and shows once: the page after it takes the
/// notice (a load and the atomic take), the next one finds none at the cost of the
/// load alone; of twelve concurrent pages exactly one shows a notice, twenty times
/// over (a load-then-remove failed within the first ten rounds in three runs of
/// three); and a logout
/// can leave one for the page it redirects to, on a new anonymous session, while the
/// old cookie stays dead.
pub async fn flash_values_show_once_across_a_redirect(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = TestApp::on(framework, store, |c| c);
    let mut browser = app.browser();
    let set = browser.post("/flash?text=saved").await;
    assert_eq!(set.status, StatusCode::OK);
    assert!(
        set.set_cookie().is_some(),
        "a flash value alone is worth a session"
    );
    let before = app.store.calls().total();
    assert_eq!(browser.get("/flash").await.body, "saved");
    assert_eq!(app.store.calls().total() - before, 2, "a load and the take");
    let before = app.store.calls().total();
    assert_eq!(browser.get("/flash").await.body, "none", "shown once");
    assert_eq!(
        app.store.calls().total() - before,
        1,
        "no notice in the loaded session: no take"
    );

    for round in 0..20 {
        browser.post(&format!("/flash?text=once{round}")).await;
        let cookie = browser.cookie.clone().unwrap_or_default();
        let pages: Vec<_> = (0..12)
            .map(|_| {
                let (app, cookie) = (app.clone(), cookie.clone());
                tokio::spawn(async move {
                    let reply = app.raw(Method::GET, "/flash", &[cookie.as_bytes()]).await;
                    assert_eq!(reply.status, StatusCode::OK);
                    reply.body
                })
            })
            .collect();
        let mut shown = Vec::new();
        for page in pages {
            let body = page.await.unwrap_or_default();
            if body != "none" {
                shown.push(body);
            }
        }
        assert_eq!(shown, [format!("once{round}")], "round {round}");
    }

    browser.post("/login?user=lena").await;
    let old = browser.cookie.clone().unwrap_or_default();
    let out = browser.post("/flash-logout").await;
    assert_eq!(out.body, "bye");
    let issued = out.set_cookies();
    assert_eq!(issued.len(), 1, "{issued:?}");
    assert!(
        !issued[0].contains("Max-Age=0"),
        "a new session, not a deletion: {issued:?}"
    );
    assert_eq!(browser.get("/me").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(browser.get("/flash").await.body, "logged out");
    let stale = app.raw(Method::GET, "/me", &[old.as_bytes()]).await;
    assert_eq!(
        stale.status,
        StatusCode::UNAUTHORIZED,
        "the old session ended"
    );
}
