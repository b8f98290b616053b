//! The README's actix command: `examples/actix_counter.rs` started as the binary cargo
//! built, driven over a real socket like a browser: the counter counts, login gives a
//! new token and keeps the count, logout ends the session.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::redirect::Policy;

/// The example process, killed when the test ends.
struct Example(Child);

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the example on a free loopback port: its URL and password.
fn start() -> (Example, String, String) {
    let exe = std::env::current_exe().unwrap();
    let binary = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join(format!("actix_counter{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: `cargo test` builds examples, a filtered `--test example` does not \
         (run `cargo build -p hallpass-actix --example actix_counter` first)",
        binary.display()
    );
    let mut child = Command::new(&binary)
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines.next().unwrap().unwrap();
    let url = url.strip_prefix("listening on ").unwrap().to_owned();
    let password = lines.next().unwrap().unwrap();
    let password = password.rsplit(' ').next().unwrap().to_owned();
    (Example(child), url, password)
}

/// A one-cookie browser.
struct Browser {
    client: reqwest::Client,
    url: String,
    cookie: Option<String>,
}

impl Browser {
    async fn send(&mut self, request: reqwest::RequestBuilder) -> (u16, String) {
        let request = match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            assert!(set.starts_with("__Host-id="), "{set}");
            self.cookie =
                (!set.contains("Max-Age=0")).then(|| set.split(';').next().unwrap().to_owned());
        }
        (status, response.text().await.unwrap())
    }

    async fn home(&mut self) -> String {
        let request = self.client.get(&self.url);
        let (status, body) = self.send(request).await;
        assert_eq!(status, 200);
        body
    }
}

#[tokio::test]
async fn the_counter_counts_and_login_and_logout_work() {
    let (_example, url, password) = start();
    // reqwest needs a crypto provider once the workspace build enables its
    // rustls-no-provider feature (the demo and the CLI do), even for plain HTTP.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let mut browser = Browser {
        client,
        url: url.clone(),
        cookie: None,
    };
    assert!(
        browser
            .home()
            .await
            .contains("Welcome to this page for the first time!")
    );
    assert!(
        browser
            .home()
            .await
            .contains("You visited this page 2 times")
    );
    let anonymous = browser.cookie.clone().unwrap();

    let wrong = browser
        .client
        .post(format!("{url}login"))
        .form(&[("user", "alice"), ("password", "not it")]);
    assert_eq!(browser.send(wrong).await.0, 401);

    let login = browser
        .client
        .post(format!("{url}login"))
        .form(&[("user", "alice"), ("password", password.as_str())]);
    assert_eq!(browser.send(login).await.0, 303);
    let logged_in = browser.cookie.clone().unwrap();
    assert_ne!(logged_in, anonymous, "login gives the session a new token");
    let home = browser.home().await;
    assert!(home.contains("You visited this page 3 times"), "{home}");
    assert!(home.contains("Logged in as alice"), "{home}");

    let logout = browser.client.post(format!("{url}logout"));
    assert_eq!(browser.send(logout).await.0, 303);
    assert_eq!(browser.cookie, None, "logout deletes the cookie");
    let home = browser.home().await;
    assert!(
        home.contains("Welcome to this page for the first time!"),
        "{home}"
    );

    // The old token is dead too: presenting it starts over.
    browser.cookie = Some(logged_in);
    assert!(
        browser
            .home()
            .await
            .contains("Welcome to this page for the first time!")
    );
}
