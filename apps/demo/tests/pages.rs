//! The HTML pages a person uses, driven as a browser would (forms, redirects).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use common::{ALICE, Agent, serve};

async fn login_by_form(agent: &mut Agent, (user, password): (&str, &str)) {
    let csrf = agent.get("/login").await.csrf();
    let reply = agent
        .post_form(
            "/login",
            &[("csrf", &csrf), ("username", user), ("password", password)],
        )
        .await;
    assert_eq!(reply.status, 303, "{}", reply.body);
}

#[tokio::test]
async fn the_counter_page_counts_and_shows_the_login_state() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    let first = agent.get("/").await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        first
            .body
            .contains("Welcome to this page for the first time!")
    );
    assert!(first.body.contains("Not logged in"));
    assert!(
        agent
            .get("/")
            .await
            .body
            .contains("You visited this page 2 times")
    );
    login_by_form(&mut agent, ALICE).await;
    let page = agent.get("/").await;
    assert!(
        page.body.contains("You visited this page 3 times"),
        "the count survives login"
    );
    assert!(page.body.contains("Logged in as <strong>alice</strong>"));
}

#[tokio::test]
async fn a_wrong_password_re_renders_the_form_with_401() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    let csrf = agent.get("/login").await.csrf();
    let cookie = agent.cookie.clone();
    for (user, password) in [("alice", "wrong"), ("nobody", "alice-password")] {
        let reply = agent
            .post_form(
                "/login",
                &[("csrf", &csrf), ("username", user), ("password", password)],
            )
            .await;
        assert_eq!(reply.status, 401);
        assert!(reply.body.contains("Wrong username or password."));
        assert!(
            reply.body.contains(&format!("value=\"{user}\"")),
            "the name is kept"
        );
        assert!(
            !reply.body.contains(password),
            "the password is never echoed"
        );
        assert!(reply.session_cookies().is_empty());
    }
    assert_eq!(agent.cookie, cookie);
    // Markup in a user name is escaped, not rendered.
    let reply = agent
        .post_form(
            "/login",
            &[("csrf", &csrf), ("username", "<b>x</b>"), ("password", "p")],
        )
        .await;
    assert!(
        reply.body.contains("&#60;b&#62;x&#60;/b&#62;") || reply.body.contains("&lt;b&gt;"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn the_account_page_lists_revokes_and_logs_out_everywhere_else() {
    let demo = serve().await;
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
    let mut desktop = Agent::with_user_agent(&demo.base, chrome);
    let mut phone = Agent::with_user_agent(&demo.base, iphone);
    let mut tablet = Agent::with_user_agent(&demo.base, "Tablet/1");
    assert_eq!(
        desktop.get("/account").await.header("location"),
        Some("/login")
    );
    login_by_form(&mut desktop, ALICE).await;
    login_by_form(&mut phone, ALICE).await;
    login_by_form(&mut tablet, ALICE).await;

    let page = desktop.get("/account").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body.matches("<tr class=\"session").count(), 3);
    assert_eq!(page.body.matches("this device").count(), 1);
    assert!(page.body.contains("Chrome on Linux") && page.body.contains("Safari on iOS"));
    assert!(page.body.contains("127.0.0.1") && page.body.contains("just now"));
    let current_row = &page.body[page.body.find("session current").unwrap()..];
    assert!(current_row[..current_row.find("</tr>").unwrap()].contains("Chrome on Linux"));

    // Revoke the phone with its row's button.
    let phone_handle = phone.get("/api/me").await.json()["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    let csrf = page.csrf();
    let reply = desktop
        .post_form(
            &format!("/account/sessions/{phone_handle}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        (reply.status, reply.header("location")),
        (303, Some("/account"))
    );
    assert_eq!(
        phone.get("/account").await.header("location"),
        Some("/login")
    );
    let page = desktop.get("/account").await;
    assert_eq!(page.body.matches("<tr class=\"session").count(), 2);

    // "Log out everywhere else".
    let reply = desktop
        .post_form("/account/revoke-others", &[("csrf", &csrf)])
        .await;
    assert_eq!(reply.header("location"), Some("/account"));
    let page = desktop.get("/account").await;
    assert!(
        page.body.contains("Logged out 1 other session."),
        "a flash notice"
    );
    assert_eq!(page.body.matches("<tr class=\"session").count(), 1);
    assert!(
        !desktop.get("/account").await.body.contains("Logged out"),
        "shown once"
    );
    assert_eq!(tablet.get("/api/me").await.status, 401);

    // Revoking this device's own row logs it out.
    let own = desktop.get("/api/me").await.json()["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = desktop
        .post_form(
            &format!("/account/sessions/{own}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(reply.header("location"), Some("/login"));
    assert_eq!(desktop.get("/api/me").await.status, 401);
}

#[tokio::test]
async fn password_change_by_form() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    let mut other = Agent::new(&demo.base);
    login_by_form(&mut agent, ALICE).await;
    login_by_form(&mut other, ALICE).await;
    let csrf = agent.get("/account").await.csrf();
    let reply = agent
        .post_form(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", "bad"),
                ("new", "long-enough-1"),
            ],
        )
        .await;
    assert_eq!(reply.status, 403);
    assert!(reply.body.contains("The current password is wrong."));
    let reply = agent
        .post_form(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", ALICE.1),
                ("new", "long-enough-1"),
            ],
        )
        .await;
    assert_eq!(reply.header("location"), Some("/account"));
    assert!(
        agent
            .get("/account")
            .await
            .body
            .contains("Password changed.")
    );
    assert!(
        !agent
            .get("/account")
            .await
            .body
            .contains("Password changed."),
        "shown once"
    );
    assert_eq!(other.get("/api/me").await.status, 401);
}

#[tokio::test]
async fn logout_is_a_post_form_and_clears_the_cookie() {
    let demo = serve().await;
    let mut agent = Agent::new(&demo.base);
    login_by_form(&mut agent, ALICE).await;
    // SR-28: every page a logged-in person sees has the logout button.
    for path in ["/account", "/login"] {
        assert!(
            agent.get(path).await.body.contains("action=\"/logout\""),
            "{path}"
        );
    }
    let page = agent.get("/").await;
    assert!(page.body.contains("action=\"/logout\""));
    let csrf = page.csrf();
    assert_eq!(agent.get("/logout").await.status, 405);
    let reply = agent.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(
        (reply.status, reply.header("location")),
        (303, Some("/logged-out"))
    );
    assert!(reply.session_cookies()[0].contains("Max-Age=0"));
    assert_eq!(
        reply.header("clear-site-data"),
        Some("\"cache\", \"cookies\", \"storage\""),
        "SR-48"
    );
    assert!(agent.cookie.is_none());
    // With no session left, logging out again just goes on.
    let reply = agent.post_form("/logout", &[("csrf", "")]).await;
    assert_eq!(reply.status, 303);
    // The page after it leaves the notice on a new, anonymous session for the home
    // page, which shows it once.
    let reply = agent.get("/logged-out").await;
    assert_eq!((reply.status, reply.header("location")), (303, Some("/")));
    assert!(agent.cookie.is_some(), "a session holding only the notice");
    let home = agent.get("/").await;
    assert!(home.body.contains("You are logged out."), "{}", home.body);
    assert!(home.body.contains("Not logged in."));
    assert!(!agent.get("/").await.body.contains("You are logged out."));
}

/// SR-30 step-up: "log out everywhere else" on a login more than five minutes old
/// asks for the password (401, on the account page), refuses a wrong one (403), and
/// with the right one re-authenticates this session (a new cookie) and ends the
/// others; right after that, no password is asked (injected clock).
#[tokio::test]
async fn log_out_everywhere_else_asks_for_the_password_after_five_minutes() {
    let demo = serve().await;
    let mut desktop = Agent::new(&demo.base);
    let mut phone = Agent::new(&demo.base);
    login_by_form(&mut desktop, ALICE).await;
    login_by_form(&mut phone, ALICE).await;
    demo.clock.advance(std::time::Duration::from_secs(5 * 60));
    let csrf = desktop.get("/account").await.csrf();
    let reply = desktop
        .post_form("/account/revoke-others", &[("csrf", &csrf)])
        .await;
    assert_eq!(reply.status, 303, "a login exactly 5 minutes old is fresh");
    login_by_form(&mut phone, ALICE).await;

    demo.clock
        .advance(std::time::Duration::from_secs(5 * 60 + 1));
    let csrf = desktop.get("/account").await.csrf();
    let asked = desktop
        .post_form("/account/revoke-others", &[("csrf", &csrf)])
        .await;
    assert_eq!(asked.status, 401, "{}", asked.body);
    assert!(
        asked.body.contains("confirm with your password"),
        "{}",
        asked.body
    );
    assert!(asked.body.contains("id=\"confirm-password\""));
    assert_eq!(phone.get("/api/me").await.status, 200, "nothing ended");

    let wrong = desktop
        .post_form(
            "/account/revoke-others",
            &[("csrf", &csrf), ("password", "not-the-password")],
        )
        .await;
    assert_eq!(wrong.status, 403);
    assert!(wrong.body.contains("The current password is wrong."));
    assert_eq!(phone.get("/api/me").await.status, 200, "nothing ended");

    let before = desktop.cookie.clone();
    let done = desktop
        .post_form(
            "/account/revoke-others",
            &[("csrf", &csrf), ("password", ALICE.1)],
        )
        .await;
    assert_eq!(
        (done.status, done.header("location")),
        (303, Some("/account"))
    );
    assert_ne!(desktop.cookie, before, "the step-up issued a new token");
    let page = desktop.get("/account").await;
    assert!(page.body.contains("Logged out 1 other session."));
    assert_eq!(phone.get("/api/me").await.status, 401);

    login_by_form(&mut phone, ALICE).await;
    let csrf = page.csrf();
    let again = desktop
        .post_form("/account/revoke-others", &[("csrf", &csrf)])
        .await;
    assert_eq!(again.status, 303, "the step-up made the login fresh");
    assert_eq!(phone.get("/api/me").await.status, 401);
}
