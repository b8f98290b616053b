//! The `hallpass-demo` binary itself: its flags, its start-up errors and exit codes,
//! its defaults on disk, sessions surviving a restart, and real-time timeouts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use std::time::Duration;

use common::{Agent, run_to_end, spawn};

/// The error line, ignoring clap's "For more information" hint and blank lines.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            !l.trim().is_empty()
                && !l.starts_with("For more information")
                && !l.starts_with("Usage:")
        })
        .collect()
}

#[test]
fn help_explains_every_flag_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run_to_end(dir.path(), &["--help"], &[]);
    assert_eq!(code, 0);
    for flag in [
        "--listen",
        "--store",
        "--user",
        "--idle-timeout",
        "--absolute-timeout",
        "--keys-file",
        "--tls-cert",
        "--tls-key",
        "--tls-self-signed",
        "--trust-proxy",
        "--max-sessions-per-user",
        "--dangerous-plain-http",
        "--metrics-listen",
        "Examples:",
        "HALLPASS_KEYS",
        "Exit status",
    ] {
        assert!(out.contains(flag), "--help lacks {flag}");
    }
    let (code, out, _) = run_to_end(dir.path(), &["--version"], &[]);
    assert_eq!((code, out.trim()), (0, "hallpass-demo 0.1.0"));
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = common::keys();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case<'_>; 8] = [
        (&["--idle-timeout", "soon"], &[], "--idle-timeout"),
        (
            &["--store", "memory:", "--metrics-listen", "0.0.0.0:9100"],
            &[],
            "loopback address",
        ),
        (&["--frobnicate"], &[], "--frobnicate"),
        (&["--listen", "0.0.0.0:0"], &[], "--dangerous-plain-http"),
        (&["--store", "ftp://example"], &[], "unknown store URL"),
        (
            &["--idle-timeout", "2h", "--absolute-timeout", "1h"],
            &[],
            "must not be longer",
        ),
        (
            &["--store", "memory:"],
            &[("HALLPASS_KEYS", "too-short")],
            "HALLPASS_KEYS",
        ),
        (
            &[
                "--store",
                "memory:",
                "--tls-cert",
                "missing.pem",
                "--tls-key",
                "missing.pem",
            ],
            &[],
            "missing.pem",
        ),
    ];
    for (args, env, needle) in cases {
        // Each refused start is given a real key, which its message must not echo.
        let env = if env.is_empty() {
            vec![("HALLPASS_KEYS", key.as_str())]
        } else {
            env.to_vec()
        };
        let (code, out, err) = run_to_end(dir.path(), args, &env);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed {out}");
        let lines = error_lines(&err);
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(lines[0].contains(needle), "{args:?}: {err}");
        assert!(!err.contains(&key), "a key in the output");
    }
    // A refused start touched nothing on disk beyond what it checked.
    assert!(!dir.path().join("hallpass-demo.db").exists());
}

#[test]
fn an_unreachable_store_exits_1_fast_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for store in [
        "postgres://postgres@127.0.0.1:1/test",
        "mysql://root@127.0.0.1:1/test",
        "redis://127.0.0.1:1",
    ] {
        let started = std::time::Instant::now();
        let (code, out, err) = run_to_end(
            dir.path(),
            &["--store", store, "--listen", "127.0.0.1:0"],
            &[],
        );
        assert_eq!(code, 1, "{store}: {err}");
        assert!(out.is_empty());
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("hallpass-demo:"))
            .collect();
        assert_eq!(lines.len(), 1, "{store}: {err}");
        assert!(lines[0].contains("cannot open the session store"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{store} took {:?}",
            started.elapsed()
        );
    }
    let (code, _, err) = run_to_end(
        dir.path(),
        &[
            "--store",
            "postgres://u:s3cret@127.0.0.1:1/x",
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(!err.contains("s3cret"), "a password in the message: {err}");
}

#[test]
fn a_taken_port_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, _, err) = run_to_end(dir.path(), &["--store", "memory:", "--listen", &addr], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot listen on"), "{err}");
}

#[tokio::test]
async fn defaults_create_the_database_and_a_private_key_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = spawn(dir.path(), &[], &[]);
    assert!(
        first.banner[1].contains("sqlite://hallpass-demo.db"),
        "{:?}",
        first.banner
    );
    assert!(
        first.banner[2].contains("idle 30m, absolute 12h"),
        "{:?}",
        first.banner
    );
    assert!(
        first.banner[3].contains("generated now"),
        "{:?}",
        first.banner
    );
    let login = first.banner.iter().find(|l| l.contains("login:")).unwrap();
    let password = login.split_whitespace().nth(3).unwrap().to_owned();
    assert!(dir.path().join("hallpass-demo.db").exists());
    let key = dir.path().join("hallpass-demo.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // Device binding is on by default on loopback, for the origin the banner prints.
    let dbsc = first.banner.iter().find(|l| l.contains("dbsc:")).unwrap();
    assert!(
        dbsc.ends_with(&format!(
            "device-bound sessions offered to {}",
            first.base.trim_end_matches('/')
        )),
        "{dbsc}"
    );
    let mut agent = Agent::new(&first.base);
    let login = agent.login(("demo", &password)).await;
    assert!(
        login.header("secure-session-registration").is_some(),
        "a login offers device binding"
    );
    assert_eq!(agent.get("/api/views").await.json()["views"], 1);
    drop(first);

    // Same directory: the key file and the database carry the session over.
    let second = spawn(dir.path(), &[], &[]);
    assert!(
        second.banner[3].contains("from hallpass-demo.key"),
        "{:?}",
        second.banner
    );
    agent.base = second.base.clone();
    assert_eq!(agent.get("/api/me").await.json()["user"], "demo");
    assert_eq!(agent.get("/api/views").await.json()["views"], 2);
}

#[tokio::test]
async fn idle_expiry_in_real_time() {
    let dir = tempfile::tempdir().unwrap();
    let demo = spawn(
        dir.path(),
        &[
            "--store",
            "memory:",
            "--user",
            "alice:alice-password",
            "--idle-timeout",
            "2s",
            "--absolute-timeout",
            "1h",
        ],
        &[],
    );
    assert!(
        demo.banner[2].contains("idle 2s, absolute 1h"),
        "{:?}",
        demo.banner
    );
    let mut agent = Agent::new(&demo.base);
    agent.login(common::ALICE).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(agent.get("/api/me").await.status, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        agent.get("/api/me").await.status,
        200,
        "activity kept it alive"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(agent.get("/api/me").await.status, 401);
}

#[tokio::test]
async fn absolute_expiry_in_real_time() {
    let dir = tempfile::tempdir().unwrap();
    let demo = spawn(
        dir.path(),
        &[
            "--store",
            "memory:",
            "--user",
            "alice:alice-password",
            "--idle-timeout",
            "2s",
            "--absolute-timeout",
            "3s",
        ],
        &[],
    );
    let mut agent = Agent::new(&demo.base);
    agent.login(common::ALICE).await;
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(agent.get("/api/me").await.status, 200);
    }
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        agent.get("/api/me").await.status,
        401,
        "3.3 s after login, however active"
    );
}

/// Issue 15: `--metrics-listen` serves hallpass's metrics in Prometheus text format on
/// a loopback listener of its own, scraped here over a real socket and parsed; the
/// public port has no `/metrics`.
#[tokio::test]
async fn metrics_are_scraped_from_their_own_loopback_listener() {
    let dir = tempfile::tempdir().unwrap();
    let demo = spawn(
        dir.path(),
        &[
            "--store",
            "memory:",
            "--user",
            "alice:alice-password",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let line = demo
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("metrics:"))
        .unwrap_or_else(|| panic!("no metrics line in {:?}", demo.banner));
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap()
        .to_owned();
    let mut agent = Agent::new(&demo.base);
    agent.login(common::ALICE).await;
    assert_eq!(agent.get("/api/views").await.status, 200);
    agent.post_empty("/api/logout").await;
    assert_eq!(
        agent.get("/metrics").await.status,
        404,
        "not on the public port"
    );

    let scrape = common::http_client().get(&url).send().await.unwrap();
    assert_eq!(scrape.status(), 200);
    assert!(
        scrape.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = scrape.text().await.unwrap();
    // `name{labels} value` lines; `#` lines are HELP/TYPE.
    let samples: Vec<(&str, f64)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (
                series,
                value.parse::<f64>().unwrap_or_else(|e| panic!("{l}: {e}")),
            )
        })
        .collect();
    let value = |prefix: &str| -> f64 {
        samples
            .iter()
            .filter(|(series, _)| {
                series.split('{').next().unwrap().trim_end_matches("_total") == prefix
            })
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(value("hallpass_session_authenticated"), 1.0, "{text}");
    assert_eq!(value("hallpass_session_logged_out"), 1.0, "{text}");
    assert!(
        samples
            .iter()
            .any(|(series, _)| series.starts_with("hallpass_store_duration")
                && series.contains("operation=\"create\"")),
        "{text}"
    );
    for (series, _) in &samples {
        assert!(
            series.starts_with("hallpass_"),
            "a foreign metric: {series}"
        );
    }
}
