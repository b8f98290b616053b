//! The metrics (feature `metrics`), asserted exactly after a scripted sequence of
//! requests, with a debugging recorder installed for this binary alone; and the
//! table in `docs/METRICS.md` kept true: every metric emitted, and every label it
//! carries, must be listed there.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hallpass::MemoryStore;
use hallpass::dbsc::DeviceBinding;
use hallpass::store::SessionStore;
use hallpass_testkit::device::{DeviceBrowser, DeviceKey};
use hallpass_testkit::{Framework, TestApp};
use http::Method;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};

/// (kind, name, sorted labels) → the value: a counter's count, a gauge's value, a
/// histogram's number of samples.
type Seen = BTreeMap<(String, String, Vec<(String, String)>), f64>;

fn snapshot(snapshotter: &Snapshotter) -> Seen {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value): (CompositeKey, _, _, DebugValue)| {
            let kind = match key.kind() {
                MetricKind::Counter => "counter",
                MetricKind::Gauge => "gauge",
                MetricKind::Histogram => "histogram",
            };
            let mut labels: Vec<(String, String)> = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            #[expect(clippy::cast_precision_loss, reason = "small test counts")]
            let value = match value {
                DebugValue::Counter(n) => n as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(samples) => samples.len() as f64,
            };
            (
                (kind.to_owned(), key.key().name().to_owned(), labels),
                value,
            )
        })
        .collect()
}

fn counter(seen: &Seen, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    seen.get(&("counter".to_owned(), name.to_owned(), labels))
        .copied()
        .unwrap_or(0.0)
}

/// The table of docs/METRICS.md: name → (type, the label names of its labels column).
fn documented() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/METRICS.md");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|line| line.starts_with("| `hallpass."))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_owned();
            let kind = cells[2].split_whitespace().next().unwrap().to_owned();
            let labels = cells[3]
                .split(',')
                .filter_map(|part| {
                    let (label, _) = part.split_once("`:").or_else(|| part.split_once("` ("))?;
                    Some(label.trim().trim_matches('`').to_owned())
                })
                .collect();
            (name, (kind, labels))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_sequence_moves_exactly_these_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let app = TestApp::new(Arc::new(MemoryStore::new()));
    let mut browser = app.browser();
    // An anonymous session: created on its first write, counted on.
    assert_eq!(browser.get("/views").await.body, "1");
    assert_eq!(browser.get("/views").await.body, "2");
    // Login rotates it; a second device logs in too.
    browser.post("/login?user=alice").await;
    let mut other = app.browser();
    other.post("/login?user=alice").await;
    // Refused cookies: a malformed value, an unknown format version, a tampered
    // signature, two values at once.
    app.raw(Method::GET, "/me", &[b"__Host-id=garbage"]).await;
    let unknown_version = format!("__Host-id={}", "A".repeat(108));
    app.raw(Method::GET, "/me", &[unknown_version.as_bytes()])
        .await;
    let (a, b) = (
        browser.cookie.clone().unwrap(),
        other.cookie.clone().unwrap(),
    );
    let last = if a.ends_with('A') { "B" } else { "A" };
    let tampered = format!("{}{last}", &a[..a.len() - 1]);
    app.raw(Method::GET, "/me", &[tampered.as_bytes()]).await;
    app.raw(Method::GET, "/me", &[a.as_bytes(), b.as_bytes()])
        .await;
    // A Cookie header over the bound: 431.
    let huge = format!("x={}", "a".repeat(16 * 1024));
    assert_eq!(
        app.raw(Method::GET, "/me", &[huge.as_bytes()]).await.status,
        431
    );
    // "Log out everywhere else" ends the other device; then a logout.
    assert_eq!(
        browser.post("/revoke-all?except_current=true").await.body,
        "1"
    );
    browser.post("/logout").await;
    // An idle session expires: found so on a load.
    let mut idle = app.browser();
    idle.get("/views").await;
    app.advance(Duration::from_secs(31 * 60));
    assert_eq!(idle.get("/me").await.status, 401);
    // The store goes down: a new visitor's first write fails, and the response is a
    // bare 503.
    app.store.set_down(true);
    assert_eq!(app.browser().get("/views").await.status, 503);
    app.store.set_down(false);

    let seen = snapshot(&snapshotter);
    let c = |name: &str, labels: &[(&str, &str)]| counter(&seen, name, labels);
    // browser's first visit, other's login (a login without a session creates one
    // in the same call), idle's first visit; the 503 visitor's create failed.
    assert_eq!(c("hallpass.session.created", &[]), 3.0);
    assert_eq!(c("hallpass.session.authenticated", &[]), 2.0);
    assert_eq!(c("hallpass.session.rotated", &[("reason", "login")]), 1.0);
    assert_eq!(c("hallpass.session.revoked", &[("by", "user")]), 1.0);
    assert_eq!(c("hallpass.session.logged_out", &[]), 1.0);
    assert_eq!(c("hallpass.session.expired", &[("reason", "idle")]), 1.0);
    assert_eq!(
        c("hallpass.cookie.invalid", &[("reason", "malformed")]),
        1.0
    );
    assert_eq!(
        c("hallpass.cookie.invalid", &[("reason", "unknown_version")]),
        1.0
    );
    assert_eq!(
        c("hallpass.cookie.invalid", &[("reason", "bad_signature")]),
        1.0
    );
    assert_eq!(
        c("hallpass.cookie.invalid", &[("reason", "unknown_session")]),
        0.0
    );
    assert_eq!(c("hallpass.cookie.duplicate", &[]), 1.0);
    assert_eq!(c("hallpass.http.rejected", &[("status", "431")]), 1.0);
    assert_eq!(c("hallpass.http.rejected", &[("status", "503")]), 1.0);
    assert_eq!(
        c(
            "hallpass.store.errors",
            &[("operation", "create"), ("kind", "unavailable")]
        ),
        1.0
    );
    // Every store call the engine made is timed once, under its operation.
    let timed: f64 = seen
        .iter()
        .filter(|((kind, name, _), _)| kind == "histogram" && name == "hallpass.store.duration")
        .map(|(_, n)| n)
        .sum();
    #[expect(clippy::cast_precision_loss, reason = "small test counts")]
    let calls = app.store.calls().total() as f64;
    assert_eq!(timed, calls, "one duration sample per store call");
    let loads = seen
        .get(&(
            "histogram".to_owned(),
            "hallpass.store.duration".to_owned(),
            vec![("operation".to_owned(), "load".to_owned())],
        ))
        .copied()
        .unwrap_or(0.0);
    #[expect(clippy::cast_precision_loss, reason = "small test counts")]
    let load_calls = app.store.calls().load.load(Ordering::SeqCst) as f64;
    assert_eq!(loads, load_calls);

    // Device binding: a registration, a refusal, a refresh, a request without its
    // bound cookie, a skipped refresh (a second app, so the timing above holds).
    let bound_app = TestApp::on(Framework::AxumOverTcp, Arc::new(MemoryStore::new()), |c| {
        c.with_device_binding(DeviceBinding::after_login("https://app.test"))
    });
    let mut device = DeviceBrowser::new(&bound_app, DeviceKey::es256());
    let offer = device
        .post("/login?user=dana")
        .await
        .header("secure-session-registration")
        .unwrap();
    assert_eq!(
        device
            .register_with("/hallpass/dbsc/register", "not.a.proof")
            .await
            .status,
        403
    );
    assert_eq!(device.register(&offer).await.status, 200);
    assert_eq!(device.refresh().await.status, 200);
    device.jar.remove("__Host-hallpass-bound");
    let skipped = [("secure-session-skipped", "quota_exceeded")];
    assert_eq!(device.send(Method::GET, "/me", &skipped).await.status, 401);
    let seen = snapshot(&snapshotter);
    let c = |name: &str, labels: &[(&str, &str)]| counter(&seen, name, labels);
    assert_eq!(c("hallpass.device.registered", &[]), 1.0);
    assert_eq!(c("hallpass.device.refreshed", &[]), 1.0);
    assert_eq!(
        c("hallpass.device.proof_failed", &[("reason", "proof")]),
        1.0
    );
    assert_eq!(c("hallpass.device.proof_missing", &[]), 1.0);
    assert_eq!(c("hallpass.device.refresh_skipped", &[]), 1.0);

    // The cleanup task sets the gauge of live sessions after a purge round: every
    // session above has ended (logged out, revoked, expired, never stored) but this one.
    app.browser().get("/views").await;
    let store: Arc<dyn SessionStore> = Arc::new(app.store.clone());
    let clock = Arc::new(app.clock.clone());
    let task = hallpass::spawn_cleanup(
        store,
        clock,
        hallpass::CleanupConfig::default().with_every(Duration::from_millis(10)),
    );
    let mut live = None;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        live = seen_gauge(&snapshotter);
        if live.is_some() {
            break;
        }
    }
    task.abort();
    assert_eq!(live, Some(1.0));

    // The table lists every metric emitted, with its type and its labels.
    let table = documented();
    for ((kind, name, labels), _) in snapshot(&snapshotter) {
        let (documented_kind, documented_labels) = table
            .get(&name)
            .unwrap_or_else(|| panic!("{name} is emitted but not in docs/METRICS.md"));
        assert_eq!(*documented_kind, kind, "{name}");
        for (label, _) in labels {
            assert!(
                documented_labels.contains(&label),
                "{name} carries label {label}, which docs/METRICS.md does not list"
            );
        }
    }
}

fn seen_gauge(snapshotter: &Snapshotter) -> Option<f64> {
    snapshot(snapshotter)
        .get(&(
            "gauge".to_owned(),
            "hallpass.sessions.live".to_owned(),
            Vec::new(),
        ))
        .copied()
}
