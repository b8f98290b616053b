//! A Redis Cluster failover under HTTP load (the Redis store v2 issue): the demo on a
//! real socket over a 3-master, 3-replica cluster on loopback (ports 7201-7206,
//! started by `scripts/redis-cluster start 7201 1`), a master killed with SIGKILL
//! while browsers keep counting.
//!
//! What must hold: while the cluster fails over, requests get a quick 503 and never
//! another session's answer; afterwards requests succeed again without restarting
//! the app; every session written (and replicated) before the kill is intact. What
//! Redis's asynchronous replication may lose — increments acknowledged in the last
//! moments before the kill that had not reached the replica — is measured and
//! printed, not asserted away: it is the documented limit of Redis replication.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{ALICE, Agent, BOB};
use tokio::sync::Mutex;

const BASE: u16 = 7201;
const NODES: u16 = 6;
const CALL_TIMEOUT: Duration = Duration::from_millis(500);
const BROWSERS: usize = 24;

fn script() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/redis-cluster").to_owned()
}

fn cluster_dir() -> String {
    let tmp = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".to_owned());
    format!("{tmp}/hallpass-redis-cluster-{BASE}")
}

/// The cluster of this test; stopped (every node, whatever survived) on drop.
struct Cluster;

impl Cluster {
    fn start() -> Self {
        // A cluster left by an earlier run may have a replica in a killed master's
        // place: start from scratch.
        Self::stop();
        let status = std::process::Command::new("bash")
            .arg(script())
            .args(["start", &BASE.to_string(), "1"])
            .status()
            .unwrap();
        assert!(
            status.success(),
            "scripts/redis-cluster start {BASE} 1 failed"
        );
        Self
    }

    fn stop() {
        let _ = std::process::Command::new("bash")
            .arg(script())
            .args(["stop", &BASE.to_string(), "1"])
            .status();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        Self::stop();
    }
}

fn cli(port: u16, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The masters' ports and, for each, its replica's.
fn topology() -> Vec<(u16, u16)> {
    let nodes = cli(BASE, &["cluster", "nodes"]);
    let mut ids = BTreeMap::new();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port: u16 = fields[1]
            .split('@')
            .next()
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap();
        ids.insert(
            fields[0].to_owned(),
            (port, fields[2].to_owned(), fields[3]),
        );
    }
    let mut pairs = Vec::new();
    for (port, flags, master) in ids.values() {
        if flags.contains("slave") {
            let master_port = ids[*master].0;
            pairs.push((master_port, *port));
        }
    }
    pairs.sort_unstable();
    pairs
}

fn offset(port: u16, field: &str) -> u64 {
    cli(port, &["info", "replication"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until every replica has applied everything its master has; returns how
/// long that took (right after writes: the replication lag).
fn wait_for_replicas() -> Duration {
    let start = Instant::now();
    for (master, replica) in topology() {
        loop {
            let target = offset(master, "master_repl_offset");
            if offset(replica, "slave_repl_offset") >= target && target > 0 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "replica {replica} of {master} never caught up"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    start.elapsed()
}

fn is_master(port: u16) -> bool {
    cli(port, &["info", "replication"]).contains("role:master")
}

fn cluster_ok(port: u16) -> bool {
    cli(port, &["cluster", "info"]).contains("cluster_state:ok")
}

/// One answer seen during the load.
struct Seen {
    at: Instant,
    browser: usize,
    status: u16,
    took: Duration,
    views: Option<u64>,
    user: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_under_load_fails_over_without_a_wrong_session() {
    let _cluster = Cluster::start();
    let nodes: Vec<String> = (BASE..BASE + NODES)
        .map(|p| format!("redis://127.0.0.1:{p}"))
        .collect();
    let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let store = hallpass_redis::connect_cluster(
        &nodes,
        hallpass_redis::RedisOptions::default().with_call_timeout(CALL_TIMEOUT),
    )
    .await
    .unwrap();
    let server = common::serve_on(Arc::new(store), |options| options).await;
    // The replicas' first full sync, before anything is measured.
    wait_for_replicas();

    // Browsers, half alice's and half bob's, each with a few views.
    let mut browsers = Vec::new();
    for n in 0..BROWSERS {
        let user = if n % 2 == 0 { ALICE } else { BOB };
        let mut agent = Agent::with_user_agent(&server.base, &format!("browser/{n}"));
        agent.login(user).await;
        for _ in 0..3 {
            assert_eq!(agent.get("/api/views").await.status, 200);
        }
        browsers.push((user.0.to_owned(), agent));
    }
    let lag = wait_for_replicas();
    eprintln!("the replicas had everything {lag:?} after the last write");

    // The load: every browser asks who it is and counts, as fast as it can.
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (n, (user, mut agent)) in browsers.into_iter().enumerate() {
        let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                for path in ["/api/me", "/api/views"] {
                    let started = Instant::now();
                    let reply = agent.get(path).await;
                    let json: Option<serde_json::Value> = serde_json::from_str(&reply.body).ok();
                    seen.lock().await.push(Seen {
                        at: Instant::now(),
                        browser: n,
                        status: reply.status,
                        took: started.elapsed(),
                        views: json.as_ref().and_then(|j| j["views"].as_u64()),
                        user: json
                            .as_ref()
                            .and_then(|j| j["user"].as_str().map(str::to_owned)),
                    });
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (user, agent)
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Kill the first master, mid-load.
    let (victim, replica) = topology()[0];
    let pid = std::fs::read_to_string(format!("{}/{victim}.pid", cluster_dir())).unwrap();
    let killed_at = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = killed_at + Duration::from_secs(30);
    while !(is_master(replica) && cluster_ok(replica)) {
        assert!(Instant::now() < deadline, "the replica never took over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let failed_over = killed_at.elapsed();
    // Keep the load on until every browser has had a few good answers after it.
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let seen = seen.lock().await;
        let recovered = (0..BROWSERS).all(|b| {
            seen.iter()
                .filter(|s| s.browser == b && s.at > killed_at + failed_over && s.status == 200)
                .count()
                >= 4
        });
        if recovered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "requests did not succeed again within 30 s of the kill"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let mut agents = Vec::new();
    for task in tasks {
        agents.push(task.await.unwrap());
    }
    let seen = seen.lock().await;

    // Never another session's answer; only 200 or a quick 503.
    let mut unavailable = 0;
    for s in seen.iter() {
        let user = &agents[s.browser].0;
        if let Some(answered) = &s.user {
            assert_eq!(
                answered, user,
                "browser {} was answered as someone else",
                s.browser
            );
        }
        match s.status {
            200 => {}
            503 => {
                unavailable += 1;
                assert!(
                    s.took < CALL_TIMEOUT * 4,
                    "a 503 took {:?} (call timeout {CALL_TIMEOUT:?})",
                    s.took
                );
            }
            other => panic!("browser {}: status {other} during the failover", s.browser),
        }
    }

    // Every session is intact: the same user, its views never below what was
    // replicated before the load, and counting again.
    let mut lost = 0;
    for (n, (user, agent)) in agents.iter_mut().enumerate() {
        let me = agent.get("/api/me").await;
        assert_eq!(me.status, 200, "browser {n} lost its session: {}", me.body);
        assert_eq!(me.json()["user"], user.as_str());
        let views = agent.get("/api/views").await.json()["views"]
            .as_u64()
            .unwrap();
        assert!(views > 3, "browser {n}: {views} views");
        // Increments acknowledged before the kill but missing after it: what the
        // replica had not received yet.
        let before = seen
            .iter()
            .filter(|s| s.browser == n && s.at < killed_at)
            .filter_map(|s| s.views)
            .max()
            .unwrap_or(3);
        let after = seen
            .iter()
            .filter(|s| s.browser == n && s.at > killed_at)
            .filter_map(|s| s.views)
            .min();
        if let Some(after) = after {
            lost += before.saturating_sub(after.saturating_sub(1));
        }
    }
    let total = seen.len();
    eprintln!(
        "failover took {failed_over:?}; {total} requests, {unavailable} answered 503; \
         {lost} increments acknowledged before the kill were lost by asynchronous replication"
    );
    assert!(
        unavailable > 0,
        "the kill was never noticed: the test did not test"
    );
}
