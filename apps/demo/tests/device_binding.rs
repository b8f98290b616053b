//! Device-bound sessions (DBSC) in the demo, over a real socket: a login offers
//! registration, a browser with a software key binds its session, the account page
//! and the API say which sessions are bound, and the session cookie alone no longer
//! logs anyone in (issue 16).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use common::{ALICE, Agent, serve_with};
use hallpass_testkit::device::{DeviceKey, Offer};

const BOUND: &str = "__Host-hallpass-bound";

#[tokio::test]
async fn a_browser_binds_its_session_and_the_account_page_says_so() {
    let server = serve_with(|mut options| {
        options.device_binding_origin = Some("http://127.0.0.1".to_owned());
        options
    })
    .await;
    let mut agent = Agent::new(&server.base);
    let login = agent.login(ALICE).await;
    let offer = Offer::parse(login.header("secure-session-registration").unwrap()).unwrap();
    assert_eq!(offer.path, hallpass_demo::app::DEVICE_REGISTRATION);
    let mut other = Agent::new(&server.base);
    other.login(ALICE).await;

    let key = DeviceKey::es256();
    agent.extra = vec![(
        "secure-session-response".to_owned(),
        key.registration(&offer.challenge),
    )];
    let registered = agent.post_empty(&offer.path).await;
    assert_eq!(registered.status, 200, "{}", registered.body);
    let bound = registered
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|set| set.strip_prefix(&format!("{BOUND}=")))
        .map(|rest| rest.split(';').next().unwrap().to_owned())
        .expect("a bound cookie");
    agent.extra = vec![("cookie".to_owned(), format!("{BOUND}={bound}"))];

    let sessions = agent.get("/api/sessions").await.json();
    let list = sessions.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let mine = list.iter().find(|s| s["current"] == true).unwrap();
    let theirs = list.iter().find(|s| s["current"] == false).unwrap();
    assert!(mine["device_bound_at"].is_string(), "{mine}");
    assert!(theirs["device_bound_at"].is_null(), "{theirs}");
    let page = agent.get("/account").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body.matches("badge bound").count(), 1, "{}", page.body);

    // The session cookie alone, as a thief would have it: not logged in.
    agent.extra.clear();
    assert_eq!(agent.get("/api/me").await.status, 401);
    agent.extra = vec![("cookie".to_owned(), format!("{BOUND}={bound}"))];
    assert_eq!(agent.get("/api/me").await.json()["user"], ALICE.0);
    // The unbound session is as it was.
    assert_eq!(other.get("/api/me").await.json()["user"], ALICE.0);
}
