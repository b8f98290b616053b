//! Test helpers: an HTTP agent with its own cookie, the demo served in-process on a
//! real socket (with an injected clock), and the demo binary as a child process.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers, shared by several test binaries; failures panic"
)]

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hallpass::store::SessionStore;
use hallpass::time::ManualClock;
use hallpass::{Key, Keyring, MemoryStore};
use hallpass_demo::app::{AppOptions, router};
use hallpass_demo::users::Users;
use reqwest::header::HeaderMap;

pub const COOKIE: &str = "__Host-id";
pub const ALICE: (&str, &str) = ("alice", "alice-password");
pub const BOB: (&str, &str) = ("bob", "bob-password");

/// One response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The `Set-Cookie` values for the session cookie.
    pub fn session_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .filter(|v| v.starts_with(&format!("{COOKIE}=")))
            .collect()
    }

    /// The `name="csrf" value="…"` of the first form on the page.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a CSRF field");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

/// A browser-like client: one session cookie, kept as `Set-Cookie` says.
#[derive(Debug)]
pub struct Agent {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
    /// Every session cookie value this agent was ever given (for leak checks).
    pub issued: Vec<String>,
    pub user_agent: String,
    /// Extra headers on every request (e.g. `Origin`).
    pub extra: Vec<(String, String)>,
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn http_client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

impl Agent {
    pub fn new(base: &str) -> Self {
        Self::with_user_agent(base, "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
    }

    pub fn with_user_agent(base: &str, user_agent: &str) -> Self {
        Self {
            http: http_client(),
            base: base.trim_end_matches('/').to_owned(),
            cookie: None,
            issued: Vec::new(),
            user_agent: user_agent.to_owned(),
            extra: Vec::new(),
        }
    }

    /// The same cookie, sent to another server (a fleet member).
    pub fn on(&self, base: &str) -> Self {
        let mut other = Self::with_user_agent(base, &self.user_agent);
        other.cookie.clone_from(&self.cookie);
        other
    }

    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> Reply {
        let mut request = request.header("user-agent", &self.user_agent);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", format!("{COOKIE}={cookie}"));
        }
        for (name, value) in &self.extra {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        let reply = Reply {
            status,
            headers,
            body,
        };
        for set in reply.session_cookies() {
            let value = set[COOKIE.len() + 1..]
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookie = None;
            } else {
                self.issued.push(value.clone());
                self.cookie = Some(value);
            }
        }
        reply
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let request = self.http.get(self.url(path));
        self.send(request).await
    }

    pub async fn post_json(&mut self, path: &str, body: serde_json::Value) -> Reply {
        let request = self.http.post(self.url(path)).json(&body);
        self.send(request).await
    }

    pub async fn post_empty(&mut self, path: &str) -> Reply {
        let request = self.http.post(self.url(path));
        self.send(request).await
    }

    pub async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        let request = self.http.post(self.url(path)).form(form);
        self.send(request).await
    }

    pub async fn delete(&mut self, path: &str) -> Reply {
        let request = self.http.delete(self.url(path));
        self.send(request).await
    }

    pub async fn login(&mut self, (user, password): (&str, &str)) -> Reply {
        let reply = self
            .post_json(
                "/api/login",
                serde_json::json!({"username": user, "password": password}),
            )
            .await;
        assert_eq!(reply.status, 200, "login as {user}: {}", reply.body);
        reply
    }
}

/// The demo's router on a real socket in this process.
pub struct InProcess {
    pub base: String,
    pub addr: SocketAddr,
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn SessionStore>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn users() -> Arc<Users> {
    Arc::new(
        Users::new(&[
            format!("{}:{}", ALICE.0, ALICE.1).parse().unwrap(),
            format!("{}:{}", BOB.0, BOB.1).parse().unwrap(),
        ])
        .unwrap(),
    )
}

/// Idle 30 min, absolute 12 h, on a manual clock, over a fresh MemoryStore.
pub async fn serve() -> InProcess {
    serve_with(|options| options).await
}

pub async fn serve_with(adjust: impl FnOnce(AppOptions) -> AppOptions) -> InProcess {
    serve_on(Arc::new(MemoryStore::new()), adjust).await
}

/// The demo over `store`, on a manual clock.
pub async fn serve_on(
    store: Arc<dyn SessionStore>,
    adjust: impl FnOnce(AppOptions) -> AppOptions,
) -> InProcess {
    let clock = Arc::new(ManualClock::starting_now());
    let mut options = AppOptions::default();
    options.clock = clock.clone();
    let options = adjust(options);
    let app = router(
        Arc::clone(&store),
        Keyring::new(Key::generate()),
        users(),
        &options,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    InProcess {
        base: format!("http://{addr}"),
        addr,
        clock,
        store,
        task,
    }
}

/// The built `hallpass-demo` binary.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_hallpass-demo")
}

/// One running `hallpass-demo` process; killed on drop.
pub struct Process {
    child: Child,
    pub base: String,
    pub banner: Vec<String>,
    pub stderr: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// What the process wrote to stderr so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Kills it (SIGKILL), waits, and returns what it logged.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.logs()
    }
}

/// Starts the binary in `dir` with `args` (plus `--listen 127.0.0.1:0` unless given)
/// and waits for its banner.
pub fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Process {
    let stderr = dir.join(format!("stderr-{}.log", rand_suffix()));
    let mut command = Command::new(binary());
    command.current_dir(dir);
    if !args.contains(&"--listen") {
        command.args(["--listen", "127.0.0.1:0"]);
    }
    command
        .args(args)
        .env_remove("HALLPASS_KEYS")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = Vec::new();
    let mut process = Process {
        child,
        base: String::new(),
        banner: Vec::new(),
        stderr,
    };
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let done = line.starts_with("  login:") || line.starts_with("  users:");
                banner.push(line);
                if done {
                    break;
                }
            }
            Err(_) => panic!(
                "no banner from hallpass-demo {args:?}: {banner:?}\nstderr: {}",
                process.logs()
            ),
        }
    }
    let first = &banner[0];
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"));
    process.base = url.trim_end_matches('/').to_owned();
    process.banner = banner;
    process
}

/// Runs the binary to completion (for start-up failures): status code, stdout, stderr.
pub fn run_to_end(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(binary())
        .current_dir(dir)
        .args(args)
        .env_remove("HALLPASS_KEYS")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A name no other test run uses (per-test users on shared stores).
pub fn rand_suffix() -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh key list for `HALLPASS_KEYS`, shared by a fleet.
pub fn keys() -> String {
    Key::generate().to_base64url().as_str().to_owned()
}

/// All the encodings a leaked token could take in text: the cookie value, a slice of
/// it, the raw token in base64url, base64 and hex, and percent-encoded.
pub fn leak_forms(cookie_value: &str) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let raw = URL_SAFE_NO_PAD.decode(cookie_value).unwrap();
    let token = &raw[17..49];
    let hex: String = token.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        cookie_value.to_owned(),
        cookie_value[30..70].to_owned(),
        URL_SAFE_NO_PAD.encode(token),
        STANDARD.encode(token),
        hex.clone(),
        hex.to_uppercase(),
        cookie_value.replace('-', "%2D").replace('_', "%5F"),
    ]
}

/// Panics if any form of any issued token ([`leak_forms`]) is in a body or in a
/// header other than `Set-Cookie` of any reply (SR-49). Returns how many forms it
/// looked for.
pub fn assert_no_token_in(replies: &[Reply], issued: &[String]) -> usize {
    let mut forms = 0;
    for value in issued {
        for form in leak_forms(value) {
            for reply in replies {
                assert!(
                    !reply.body.contains(&form),
                    "a token in a {} body: {}",
                    reply.status,
                    reply.body
                );
                for (name, header) in &reply.headers {
                    if name != "set-cookie" {
                        assert!(
                            !header.to_str().unwrap_or("").contains(&form),
                            "a token in {name}: {header:?}"
                        );
                    }
                }
            }
            forms += 1;
        }
    }
    forms
}
