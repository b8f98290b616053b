//! A real browser: headless Chromium (Debian's `chromium` and `chromium-driver`,
//! which `scripts/test` installs) driven over WebDriver. It logs in through the form,
//! sees the counter, cannot read the session cookie from script (SR-08: HttpOnly),
//! lists its sessions beside a second device, revokes that device, steps up, sees
//! its token rotated after the rotation interval, and logs out.
//!
//! The `/account` screenshot in `docs/` comes from this test: run it with
//! `HALLPASS_UPDATE_SCREENSHOT=1` to write `docs/account.png` again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ALICE, Agent, spawn};
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "this test needs Debian's chromium and chromium-driver (scripts/test installs them)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let http = common::http_client();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{url}/status")).send().await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver { child, url }
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let options = serde_json::json!({
        "binary": CHROMIUM,
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1200,800",
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".to_owned(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .unwrap()
}

async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Clicks `css` and waits until the page it was on has been replaced and the new one
/// has loaded. WebDriver's click may return before a form post's navigation ends, and
/// a redirect to the same URL (logout from `/` back to `/`, by way of `/logged-out`) leaves the URL unchanged,
/// so the old document going stale is the only sure sign that the new one is there.
async fn click_through(client: &Client, css: &str) {
    let old = client.find(Locator::Css("html")).await.unwrap();
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while old.attr("lang").await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "clicking {css} did not load a page"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    loop {
        let state = client
            .execute("return document.readyState;", vec![])
            .await
            .unwrap();
        if state.as_str() == Some("complete") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the page after {css} did not finish loading"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn session_rows(client: &Client) -> usize {
    client
        .find_all(Locator::Css("#sessions tr.session"))
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_person_logs_in_counts_lists_revokes_and_logs_out() {
    let dir = tempfile::tempdir().unwrap();
    let demo = spawn(
        dir.path(),
        &[
            "--store",
            "memory:",
            "--user",
            "alice:alice-password",
            "--reauthenticate-after",
            "1s",
            "--rotate-every",
            "3s",
        ],
        &[],
    );
    let port = demo.base.rsplit(':').next().unwrap().to_owned();
    // http://localhost is a secure context: Chromium keeps Secure __Host- cookies there.
    let site = format!("http://localhost:{port}");
    let driver = start_driver().await;
    let client = browser(&driver, &dir.path().join("profile")).await;

    client.goto(&format!("{site}/")).await.unwrap();
    assert_eq!(
        text(&client, "#message").await,
        "Welcome to this page for the first time!"
    );
    client.refresh().await.unwrap();
    assert_eq!(
        text(&client, "#message").await,
        "You visited this page 2 times"
    );
    assert!(text(&client, "#status").await.contains("Not logged in"));

    // SR-08: the cookie is there for the browser, invisible to script.
    let cookie = client.get_named_cookie("__Host-id").await.unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    let visible = client
        .execute("return document.cookie;", vec![])
        .await
        .unwrap();
    assert!(
        !visible.as_str().unwrap().contains("__Host-id"),
        "script saw {visible}"
    );
    let before_login = cookie.value().to_owned();

    // Log in through the form.
    client.goto(&format!("{site}/login")).await.unwrap();
    client
        .find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(ALICE.0)
        .await
        .unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(ALICE.1)
        .await
        .unwrap();
    click_through(&client, "#login").await;
    let path = client.current_url().await.unwrap().path().to_owned();
    assert_eq!(
        path,
        "/account",
        "{}\n{}",
        client.source().await.unwrap(),
        demo.logs()
    );
    assert_eq!(session_rows(&client).await, 1);
    assert!(
        text(&client, "#sessions tr.current")
            .await
            .contains("this device")
    );
    let after_login = client.get_named_cookie("__Host-id").await.unwrap();
    assert_ne!(
        after_login.value(),
        before_login,
        "login issued a new token"
    );

    // A second device logs in; the list shows both.
    let mut phone = Agent::with_user_agent(
        &demo.base,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    );
    phone.login(ALICE).await;
    client.refresh().await.unwrap();
    assert_eq!(session_rows(&client).await, 2);
    let table = text(&client, "#sessions").await;
    assert!(
        table.contains("Headless Chrome on Linux") && table.contains("Safari on iOS"),
        "{table}"
    );
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
    std::fs::write(dir.path().join("account.png"), &png).unwrap();
    if std::env::var_os("HALLPASS_UPDATE_SCREENSHOT").is_some() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/account.png");
        std::fs::write(docs, &png).unwrap();
    }

    // Revoke the phone with its button: its next request is refused.
    click_through(&client, "#sessions tr.session:not(.current) button").await;
    assert_eq!(client.current_url().await.unwrap().path(), "/account");
    assert_eq!(session_rows(&client).await, 1);
    assert_eq!(phone.get("/api/me").await.status, 401);

    // Step-up (SR-30): on a login over a second old (--reauthenticate-after 1s),
    // "log out everywhere else" asks for the password again; given, it logs this
    // session in again (a new token) before ending the others, and the notice on
    // the page it redirects to is a flash value.
    phone.login(ALICE).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client.refresh().await.unwrap();
    assert_eq!(session_rows(&client).await, 2);
    click_through(&client, "#revoke-others").await;
    assert!(
        text(&client, "#error")
            .await
            .contains("confirm with your password")
    );
    assert_eq!(phone.get("/api/me").await.status, 200, "nothing ended yet");
    let before_step_up = client.get_named_cookie("__Host-id").await.unwrap();
    client
        .find(Locator::Id("confirm-password"))
        .await
        .unwrap()
        .send_keys(ALICE.1)
        .await
        .unwrap();
    click_through(&client, "#revoke-others").await;
    assert_eq!(client.current_url().await.unwrap().path(), "/account");
    assert_eq!(
        text(&client, "#notice").await,
        "Logged out 1 other session."
    );
    assert_eq!(session_rows(&client).await, 1);
    assert_eq!(phone.get("/api/me").await.status, 401);
    let after_step_up = client.get_named_cookie("__Host-id").await.unwrap();
    assert_ne!(
        after_step_up.value(),
        before_step_up.value(),
        "the re-authentication rotated the token"
    );

    // The counter carried over the login.
    client.goto(&format!("{site}/")).await.unwrap();
    assert_eq!(
        text(&client, "#message").await,
        "You visited this page 3 times"
    );
    assert!(
        text(&client, "#status")
            .await
            .contains("Logged in as alice")
    );

    // Periodic rotation (SR-17, --rotate-every 3s): the first request after the
    // interval re-issues the token; the session, its login and its counter go on.
    let before_rotation = client.get_named_cookie("__Host-id").await.unwrap();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    client.refresh().await.unwrap();
    assert_eq!(
        text(&client, "#message").await,
        "You visited this page 4 times"
    );
    assert!(
        text(&client, "#status")
            .await
            .contains("Logged in as alice")
    );
    let after_rotation = client.get_named_cookie("__Host-id").await.unwrap();
    assert_ne!(
        after_rotation.value(),
        before_rotation.value(),
        "the interval passed: a new token"
    );

    // Log out with the header's button: back home (through `/logged-out`, past
    // `Clear-Site-Data`), logged out, with the notice a flash value carried over the
    // redirect, shown once.
    click_through(&client, "form[action='/logout'] button").await;
    assert_eq!(client.current_url().await.unwrap().path(), "/");
    assert!(text(&client, "#status").await.contains("Not logged in"));
    assert_eq!(text(&client, "#notice").await, "You are logged out.");
    client.refresh().await.unwrap();
    assert!(
        client.find(Locator::Css("#notice")).await.is_err(),
        "a flash notice shows once"
    );
    client.goto(&format!("{site}/account")).await.unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), "/login");
    client.close().await.unwrap();
}
