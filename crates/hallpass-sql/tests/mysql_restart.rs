//! MariaDB (or MySQL) stops and starts under load through the layer: fast 503s without
//! `Set-Cookie` during the outage, service again after it without rebuilding the store,
//! and no committed session lost or altered (issue 8's fault test).
//!
//! It stops the local server with `mysqladmin shutdown` and starts it again the way
//! the machine does (`start-stop-daemon … /usr/sbin/mariadbd`; set
//! `HALLPASS_MYSQL_START` to a shell command to start it some other way). It is its
//! own test binary, so no other MySQL test runs meanwhile.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hallpass::store::SessionStore;
use hallpass_sql::SqlOptions;

fn up() -> bool {
    Command::new("mysqladmin")
        .args(["-h", "127.0.0.1", "-u", "root", "ping"])
        .output()
        .is_ok_and(|out| out.status.success())
}

fn wait(for_up: bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while up() != for_up {
        assert!(
            Instant::now() < deadline,
            "MariaDB did not {} within 60 s",
            if for_up { "start" } else { "stop" }
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stop() {
    let status = Command::new("mysqladmin")
        .args(["-h", "127.0.0.1", "-u", "root", "shutdown"])
        .status()
        .expect("mysqladmin runs");
    assert!(status.success(), "mysqladmin shutdown failed: {status}");
    wait(false);
}

fn start() {
    let status = match std::env::var("HALLPASS_MYSQL_START") {
        Ok(command) => Command::new("sh").args(["-c", &command]).status(),
        Err(_) => {
            let _ = std::fs::create_dir_all("/run/mysqld");
            let _ = Command::new("chown")
                .args(["mysql:mysql", "/run/mysqld"])
                .status();
            Command::new("start-stop-daemon")
                .args([
                    "--start",
                    "--oknodo",
                    "--background",
                    "--exec",
                    "/usr/sbin/mariadbd",
                ])
                .status()
        }
    }
    .expect("the start command runs");
    assert!(status.success(), "starting MariaDB failed: {status}");
    wait(true);
}

/// Starts the server again however the test ends.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        if !up() {
            start();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_during_a_restart_get_fast_503s_and_nothing_is_lost() {
    let url = std::env::var("DATABASE_URL_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned());
    let call_timeout = Duration::from_secs(1);
    let prefix = format!("hpo{}_", std::process::id());
    let options = SqlOptions::default()
        .with_table_prefix(&prefix)
        .unwrap()
        .with_call_timeout(call_timeout);
    let store = Arc::new(
        hallpass_sql::mysql::connect(&url, options)
            .await
            .expect("MariaDB reachable"),
    );
    let guard = Restart;
    let outage = hallpass_testkit::fault_cases::outage_under_load(
        Arc::clone(&store) as Arc<dyn SessionStore>,
        call_timeout,
        stop,
        start,
    )
    .await;
    // The breaker: while the server is down a call fails at once instead of waiting
    // out its timeout in sqlx's connect retries (the median was the whole second
    // before it; 0.1 ms with it).
    assert!(
        outage.median_503() < call_timeout / 4,
        "503s took {:?} at the median, near the {call_timeout:?} call timeout: calls wait for a server that is down",
        outage.median_503()
    );
    drop(guard);
    common::drop_own_tables(store.pool(), store.options()).await;
}
