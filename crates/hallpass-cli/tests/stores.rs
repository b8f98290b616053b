//! Every store command of `hallpass` against real stores — a SQLite file, PostgreSQL,
//! MySQL/MariaDB, Redis — asserting its output (table and JSON) and its effect on
//! the store. Each test works in its own namespace.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use std::time::Duration;

use common::{env_or, hallpass, seed, suffix};
use hallpass::time::{Clock as _, SystemClock};
use serde_json::json;

const HOUR: Duration = Duration::from_secs(3600);

async fn every_command(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let url = url.replace("{dir}", &dir.path().display().to_string());
    let ns = format!("cli_{}", suffix());
    let store = hallpass_stores::open_in(&url, &ns).await.unwrap();
    let base = ["--store", url.as_str(), "--namespace", ns.as_str()];
    let run = |args: &[&str]| hallpass(&[&base[..], args].concat());

    let a1 = seed(
        &store,
        Some("alice"),
        2 * HOUR,
        "203.0.113.1",
        "agent-a1",
        &[("cart", json!(["tea"]))],
    )
    .await;
    let a2 = seed(
        &store,
        Some("alice"),
        2 * HOUR,
        "203.0.113.2",
        "agent-a2",
        &[],
    )
    .await;
    let bob = seed(
        &store,
        Some("bob"),
        Duration::from_secs(1800),
        "2001:db8::7",
        "agent-b",
        &[],
    )
    .await;
    let anon1 = seed(
        &store,
        None,
        2 * HOUR,
        "198.51.100.1",
        "agent-x",
        &[("views", json!(3))],
    )
    .await;
    let _anon2 = seed(
        &store,
        None,
        2 * HOUR,
        "198.51.100.2",
        "agent-y",
        &[("views", json!(1))],
    )
    .await;

    // list, JSON
    let all = run(&["sessions", "list", "--format", "json"]).ok().json();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 5, "{all:?}");
    let first = all
        .iter()
        .find(|s| s["handle"] == a1.to_string().as_str())
        .unwrap();
    assert_eq!(first["user"], "alice");
    assert_eq!(first["ip"], "203.0.113.1");
    assert_eq!(first["user_agent"], "agent-a1");
    for field in [
        "created_at",
        "last_seen_at",
        "idle_expires_at",
        "absolute_expires_at",
    ] {
        humantime::parse_rfc3339(first[field].as_str().unwrap()).unwrap();
    }
    assert!(all.iter().any(|s| s["user"].is_null()));

    // list, table
    let table = run(&["sessions", "list", "--format", "table"]).ok().out;
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("HANDLE") && lines[0].contains("USER AGENT"),
        "{table}"
    );
    assert_eq!(lines.len(), 7, "{table}");
    assert_eq!(lines[6], "(5 sessions)");
    let bob_line = lines
        .iter()
        .find(|l| l.starts_with(&bob.to_string()))
        .unwrap();
    assert!(
        bob_line.contains("bob")
            && bob_line.contains("2001:db8::7")
            && bob_line.contains("agent-b")
    );

    // list --user, --limit
    let alice = run(&["sessions", "list", "--user", "alice", "--format", "json"])
        .ok()
        .json();
    assert_eq!(alice.as_array().unwrap().len(), 2);
    let limited = run(&["sessions", "list", "--limit", "3", "--format", "json"])
        .ok()
        .json();
    assert_eq!(limited.as_array().unwrap().len(), 3);
    assert_eq!(
        run(&["sessions", "list", "--user", "nobody", "--format", "json"])
            .ok()
            .out,
        "[]\n"
    );

    // show
    let shown = run(&["sessions", "show", &a1.to_string(), "--format", "json"])
        .ok()
        .json();
    assert_eq!(shown["data_keys"], json!(["cart"]));
    assert!(shown.get("data").is_none(), "values only with --show-data");
    let shown = run(&[
        "sessions",
        "show",
        &a1.to_string(),
        "--format",
        "json",
        "--show-data",
    ])
    .ok()
    .json();
    assert_eq!(shown["data"], json!({"cart": ["tea"]}));
    let text = run(&["sessions", "show", &anon1.to_string(), "--format", "table"])
        .ok()
        .out;
    assert!(
        text.contains("(anonymous)") && text.contains("data keys:        views"),
        "{text}"
    );
    assert!(
        !text.contains("= 3"),
        "no values without --show-data: {text}"
    );

    // stats
    let stats = run(&["stats", "--format", "json"]).ok().json();
    assert_eq!(stats["total"], 5);
    assert_eq!(stats["authenticated"], 3);
    assert_eq!(stats["anonymous"], 2);
    assert_eq!(stats["users"], 2);
    assert_eq!(
        stats["expiring_within_an_hour"], 1,
        "bob's idle deadline is 30 min away"
    );
    assert_eq!(
        stats["top_users"][0],
        json!({"user": "alice", "sessions": 2})
    );
    let text = run(&["stats", "--format", "table"]).ok().out;
    assert!(
        text.contains("authenticated               3  (2 users)"),
        "{text}"
    );

    // revoke by handle
    let out = run(&["sessions", "revoke", &bob.to_string()]).ok().out;
    assert_eq!(out, format!("revoked {bob} (user bob)\n"));
    assert!(
        store
            .load_handle(&bob, SystemClock.now())
            .await
            .unwrap()
            .is_none()
    );
    let again = run(&["sessions", "revoke", &bob.to_string()]);
    assert_eq!(again.code, 1);
    assert!(again.err.contains("no live session"), "{}", again.err);

    // revoke --user --except
    let out = run(&[
        "sessions",
        "revoke",
        "--user",
        "alice",
        "--except",
        &a1.to_string(),
    ])
    .ok()
    .out;
    assert!(out.contains(&format!("revoked {a2} (user alice)")), "{out}");
    assert!(
        out.ends_with(&format!("1 session of alice revoked, {a1} kept\n")),
        "{out}"
    );
    assert!(
        store
            .load_handle(&a1, SystemClock.now())
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .load_handle(&a2, SystemClock.now())
            .await
            .unwrap()
            .is_none()
    );
    let out = run(&["sessions", "revoke", "--user", "alice"]).ok().out;
    assert!(out.ends_with("1 session of alice revoked\n"), "{out}");
    assert_eq!(
        store
            .list_principal("alice", SystemClock.now())
            .await
            .unwrap()
            .len(),
        0
    );

    // purge: three sessions one second from their idle deadline
    for _ in 0..3 {
        seed(
            &store,
            None,
            Duration::from_secs(1),
            "192.0.2.1",
            "short",
            &[("v", json!(1))],
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let purge = run(&["purge", "--batch", "2", "--log-batches"]).ok();
    assert!(
        purge
            .out
            .starts_with("purged 3 expired sessions in 2 batches of at most 2"),
        "{}",
        purge.out
    );
    assert!(
        purge.err.contains("batch 1: 2 deleted, 2 in all"),
        "{}",
        purge.err
    );
    assert!(
        purge.err.contains("batch 2: 1 deleted, 3 in all"),
        "{}",
        purge.err
    );
    assert!(
        run(&["purge"])
            .ok()
            .out
            .starts_with("purged 0 expired sessions in 1 batch ")
    );
    assert_eq!(
        store.count(SystemClock.now()).await.unwrap(),
        2,
        "the two anonymous sessions remain"
    );
}

#[tokio::test]
async fn sqlite_file() {
    every_command("sqlite://{dir}/sessions.db").await;
}

#[tokio::test]
async fn postgres() {
    every_command(&env_or(
        "DATABASE_URL_POSTGRES",
        "postgres://postgres@127.0.0.1:5432/test",
    ))
    .await;
}

#[tokio::test]
async fn mysql() {
    every_command(&env_or(
        "DATABASE_URL_MYSQL",
        "mysql://root@127.0.0.1:3306/test",
    ))
    .await;
}

#[tokio::test]
async fn redis() {
    every_command(&env_or("REDIS_URL", "redis://127.0.0.1:6379")).await;
}

#[test]
fn handles_are_checked_and_tokens_refused() {
    let store = ["--store", "memory:"];
    let cookie = "A".repeat(hallpass::cookie::VALUE_LEN);
    for args in [
        vec!["sessions", "show", "short"],
        vec!["sessions", "show", cookie.as_str()],
        vec!["sessions", "revoke", "AAAAAAAAAAAAAAAAAAAAAA", "bad"],
        vec!["sessions", "revoke", "--user", "a", "--except", "bad"],
    ] {
        let run = hallpass(&[&store[..], &args[..]].concat());
        assert_eq!(run.code, 2, "{args:?}: {}", run.err);
        assert_eq!(run.err.lines().count(), 1, "{}", run.err);
    }
    let run = hallpass(&["--store", "memory:", "sessions", "show", &cookie]);
    assert!(run.err.contains("never takes tokens"), "{}", run.err);
    let run = hallpass(&[
        "--store",
        "memory:",
        "sessions",
        "show",
        "AAAAAAAAAAAAAAAAAAAAAA",
    ]);
    assert_eq!(run.code, 1);
    assert!(run.err.contains("no live session"));
}

#[tokio::test]
async fn handles_that_start_with_a_dash_are_handles_not_flags() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/s.db", dir.path().display());
    let store = hallpass_stores::open(&url).await.unwrap();
    let mut handles = Vec::new();
    while handles.is_empty() {
        let handle = seed(&store, Some("dash"), HOUR, "192.0.2.9", "a", &[]).await;
        if handle.to_string().starts_with('-') {
            handles.push(handle.to_string());
        }
    }
    let run = hallpass(&[
        "--store",
        &url,
        "sessions",
        "show",
        &handles[0],
        "--format",
        "json",
    ])
    .ok();
    assert_eq!(run.json()["handle"], handles[0].as_str());
    let out = hallpass(&[
        "--store",
        &url,
        "sessions",
        "revoke",
        "--user",
        "dash",
        "--except",
        &handles[0],
    ])
    .ok()
    .out;
    assert!(out.contains(&format!("{} kept", handles[0])), "{out}");
    let out = hallpass(&["--store", &url, "sessions", "revoke", &handles[0]])
        .ok()
        .out;
    assert!(out.starts_with(&format!("revoked {}", handles[0])), "{out}");
    assert!(
        store
            .list_principal("dash", SystemClock.now())
            .await
            .unwrap()
            .is_empty()
    );
}

#[test]
fn bad_urls_exit_2_and_unreachable_stores_exit_1() {
    let run = hallpass(&["--store", "ftp://x", "stats"]);
    assert_eq!(run.code, 2, "{}", run.err);
    assert!(run.err.contains("unknown store URL"));
    let run = hallpass(&["stats"]);
    assert_eq!(run.code, 2);
    assert!(
        run.err.contains("--store URL or set HALLPASS_STORE"),
        "{}",
        run.err
    );
    let run = hallpass(&["--store", "memory:", "--namespace", "Bad Name", "stats"]);
    assert_eq!(run.code, 2);
    let run = hallpass(&["--store", "redis://127.0.0.1:1", "stats"]);
    assert_eq!(run.code, 1, "{}", run.err);
    assert!(
        run.err
            .starts_with("hallpass: cannot open the session store redis://127.0.0.1:1"),
        "{}",
        run.err
    );
    let run = hallpass(&["--store", "postgres://u:s3cret@127.0.0.1:1/x", "stats"]);
    assert_eq!(run.code, 1);
    assert!(!run.err.contains("s3cret"), "{}", run.err);
}

#[test]
fn help_has_examples_for_every_command_and_completions_generate() {
    let help = hallpass(&["--help"]).ok().out;
    for needle in [
        "Examples:",
        "sessions list --user alice",
        "purge",
        "keys rotate",
        "completions bash",
        "Exit status",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
    for command in [
        &["sessions", "list", "--help"][..],
        &["sessions", "show", "--help"],
        &["sessions", "revoke", "--help"],
        &["purge", "--help"],
        &["stats", "--help"],
        &["keys", "generate", "--help"],
        &["keys", "rotate", "--help"],
    ] {
        let run = hallpass(command).ok();
        assert!(run.out.contains("Usage: hallpass"), "{command:?}");
        assert!(
            run.out.contains("Examples:\n  hallpass")
                || run.out.contains("Examples:\n  HALLPASS_KEYS"),
            "{command:?} has no examples"
        );
    }
    for shell in ["bash", "zsh", "fish"] {
        let run = hallpass(&["completions", shell]).ok();
        assert!(
            run.out.contains("hallpass") && run.out.contains("revoke"),
            "{shell}"
        );
    }
    assert_eq!(
        hallpass(&["sessions", "revoke"]).code,
        2,
        "revoke needs handles or --user"
    );
}

/// A principal, a data key and a User-Agent full of terminal escapes, printed by
/// every text command: each control character comes out escaped (`\u{1b}`), so a
/// hostile value cannot clear the screen, rewrite a line or forge one.
#[tokio::test]
async fn control_characters_in_stored_values_are_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/s.db", dir.path().display());
    let store = hallpass_stores::open(&url).await.unwrap();
    let evil_user = "mallory\u{1b}[2J\rroot";
    let evil_agent = "curl\u{1b}]0;pwned\u{7}\ninjected line";
    let handle = seed(
        &store,
        Some(evil_user),
        HOUR,
        "192.0.2.9",
        evil_agent,
        &[("k\u{1b}[1A", serde_json::json!(1))],
    )
    .await
    .to_string();
    let runs = [
        vec!["sessions", "list", "--format", "table"],
        vec!["sessions", "list", "--user", evil_user, "--format", "table"],
        vec!["sessions", "show", &handle, "--format", "table"],
        vec!["stats", "--format", "table"],
        vec!["sessions", "revoke", &handle],
    ];
    for args in runs {
        let mut all = vec!["--store", url.as_str()];
        all.extend(args.iter().copied());
        let run = hallpass(&all).ok();
        let bad: Vec<char> = run
            .out
            .chars()
            .filter(|c| c.is_control() && *c != '\n')
            .collect();
        assert!(bad.is_empty(), "{args:?} printed {bad:?}: {:?}", run.out);
        assert!(
            run.out.contains("\\u{1b}"),
            "{args:?} shows the escape: {:?}",
            run.out
        );
        assert_eq!(
            run.out.lines().count(),
            run.out.matches('\n').count(),
            "{args:?}: no line was split by a value"
        );
    }
}
