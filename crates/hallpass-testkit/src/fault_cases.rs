//! A real server outage under load, through the real layer (SR-43, AT-25). The store
//! crates call [`outage_under_load`] with a way to stop and start their server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::Method;

use hallpass::store::SessionStore;

use crate::app::TestApp;

const SESSIONS: usize = 20;
const WORKERS: usize = 8;

#[derive(Debug, Default)]
struct Tally {
    /// Increments answered 200 on session i.
    counted: Vec<AtomicU64>,
    /// Increments answered 503 on session i: the write may or may not have landed
    /// (the server can die between its commit and its reply).
    unsure: Vec<AtomicU64>,
    /// How long each 503 took: the measure of how fast a request fails while the
    /// server is down.
    took_503: std::sync::Mutex<Vec<Duration>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Before,
    /// Sent while the server is down and at least a call timeout before it returns.
    Down,
    /// Sent in the last call timeout before the server returns: may wait for it.
    Ending,
    After,
}

fn set(phase: &std::sync::Mutex<Phase>, to: Phase) {
    *phase
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = to;
}

/// Twenty logged-in sessions with known counters, eight workers sending requests
/// (three in four on those sessions, one in four anonymous, which would create a
/// session) while `stop` takes the server down for three seconds and `start` brings
/// it back. Every response is 200 or a 503 that comes within `call_timeout` and a
/// second, never with `Set-Cookie`; every request sent while the server is down (and
/// not so late that it may wait for its return) is a 503; nothing panics; afterwards the
/// same app serves again by itself; and every session still belongs to its user with
/// every increment that was answered 200 (and none that was never sent).
///
/// # Panics
///
/// When any of that does not hold.
pub async fn outage_under_load(
    store: Arc<dyn SessionStore>,
    call_timeout: Duration,
    stop: impl FnOnce() + Send + 'static,
    start: impl FnOnce() + Send + 'static,
) -> Outage {
    let app = TestApp::new(store);
    let mut cookies = Vec::new();
    let mut initial = Vec::new();
    for i in 0..SESSIONS {
        let mut browser = app.browser();
        assert_eq!(
            browser.post(&format!("/login?user=user{i}")).await.status,
            200
        );
        for _ in 0..=i % 3 {
            assert_eq!(browser.get("/views").await.status, 200);
        }
        initial.push(u64::try_from(i % 3 + 1).unwrap_or(0));
        cookies.push(browser.cookie.clone().unwrap_or_default());
    }
    let tally = Arc::new(Tally {
        counted: (0..SESSIONS).map(|_| AtomicU64::new(0)).collect(),
        unsure: (0..SESSIONS).map(|_| AtomicU64::new(0)).collect(),
        ..Tally::default()
    });
    let phase = Arc::new(std::sync::Mutex::new(Phase::Before));
    let seen: Arc<std::sync::Mutex<BTreeMap<(u8, u16), u64>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let cookies = Arc::new(cookies);
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let (app, tally, phase, seen, done, cookies) = (
                app.clone(),
                Arc::clone(&tally),
                Arc::clone(&phase),
                Arc::clone(&seen),
                Arc::clone(&done),
                Arc::clone(&cookies),
            );
            tokio::spawn(async move {
                let mut n = worker;
                while !done.load(Ordering::SeqCst) {
                    n += WORKERS;
                    let target = (n % 4 != 0).then_some(n % SESSIONS);
                    let cookie = target.map(|i| cookies[i].clone());
                    let sent: Vec<&[u8]> = cookie.iter().map(|c| c.as_bytes()).collect();
                    // Counted by the phase the request was sent in.
                    let now = *phase
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let started = Instant::now();
                    let reply = app.raw(Method::GET, "/views", &sent).await;
                    let took = started.elapsed();
                    *seen
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .entry((now as u8, reply.status.as_u16()))
                        .or_default() += 1;
                    match reply.status.as_u16() {
                        200 => {
                            if let Some(i) = target {
                                assert!(
                                    reply.set_cookie().is_none(),
                                    "no new cookie for a live session"
                                );
                                tally.counted[i].fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        503 => {
                            assert!(
                                reply.set_cookies().is_empty(),
                                "a 503 never sets a cookie: {:?}",
                                reply.set_cookies()
                            );
                            assert!(
                                took <= call_timeout + Duration::from_secs(1),
                                "a 503 took {took:?}, over the {call_timeout:?} call timeout"
                            );
                            tally
                                .took_503
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .push(took);
                            if let Some(i) = target {
                                tally.unsure[i].fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        other => panic!("status {other} during the outage test: {}", reply.body),
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(700)).await;
    tokio::task::spawn_blocking(stop)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    set(&phase, Phase::Down);
    let ending = call_timeout + Duration::from_millis(200);
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(ending)).await;
    set(&phase, Phase::Ending);
    tokio::time::sleep(ending).await;
    // "After" starts as the server is asked to start: start commands may return only
    // a while after the server accepts connections.
    set(&phase, Phase::After);
    tokio::task::spawn_blocking(start)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait for what the assertion below counts: 200s to requests *sent* after the
    // start. Requests sent in the Ending phase may also be answered 200 once the
    // server is back, so a count of all 200s would stop the wait too early.
    let served_after = || {
        seen.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(Phase::After as u8, 200))
            .copied()
            .unwrap_or(0)
    };
    while served_after() < 50 {
        assert!(
            Instant::now() < deadline,
            "the app did not serve again within 60 s of the server's return: {:?}",
            seen.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done.store(true, Ordering::SeqCst);
    for worker in workers {
        worker
            .await
            .unwrap_or_else(|e| panic!("a worker panicked: {e}"));
    }

    let seen = seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut took_503 = tally
        .took_503
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    took_503.sort_unstable();
    let outage = Outage { took_503 };
    eprintln!(
        "outage under load: (phase, status) -> responses {seen:?}; 503s: {}, took median {:.1} ms, p99 {:.1} ms, slowest {:.1} ms (call timeout {call_timeout:?})",
        outage.took_503.len(),
        outage.quantile(0.5).as_secs_f64() * 1000.0,
        outage.quantile(0.99).as_secs_f64() * 1000.0,
        outage.quantile(1.0).as_secs_f64() * 1000.0,
    );
    let count = |phase: Phase, status: u16| seen.get(&(phase as u8, status)).copied().unwrap_or(0);
    assert!(
        count(Phase::Before, 200) > 0,
        "load ran before the outage: {seen:?}"
    );
    assert!(count(Phase::Down, 503) > 0, "the outage was seen: {seen:?}");
    assert_eq!(
        count(Phase::Down, 200),
        0,
        "nothing sent while the server is down succeeds: {seen:?}"
    );
    assert!(count(Phase::After, 200) >= 50, "served again: {seen:?}");

    // No committed session lost or altered, and the app works without a restart.
    for (i, cookie) in cookies.iter().enumerate() {
        assert_eq!(
            app.raw(Method::GET, "/me", &[cookie.as_bytes()]).await.body,
            format!("user{i}"),
            "session {i} kept its user"
        );
        let views: u64 = app
            .raw(Method::GET, "/views", &[cookie.as_bytes()])
            .await
            .body
            .parse()
            .unwrap_or_else(|e| panic!("session {i}: {e}"));
        let low = initial[i] + tally.counted[i].load(Ordering::SeqCst) + 1;
        let high = low + tally.unsure[i].load(Ordering::SeqCst);
        assert!(
            (low..=high).contains(&views),
            "session {i}: {views} views, expected {low}..={high}"
        );
    }
    let mut newcomer = app.browser();
    assert_eq!(newcomer.post("/login?user=late").await.status, 200);
    assert_eq!(newcomer.get("/me").await.body, "late");
    outage
}

/// What [`outage_under_load`] measured.
#[derive(Clone, Debug)]
pub struct Outage {
    /// How long each 503 took, shortest first.
    pub took_503: Vec<Duration>,
}

impl Outage {
    /// The time to a 503 at quantile `q` (0 to 1, nearest rank: a measured time, not
    /// an interpolation); zero when there was none.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Duration {
        let rank = (self.took_503.len() as f64 * q).ceil() as usize;
        self.took_503
            .get(rank.clamp(1, self.took_503.len().max(1)) - 1)
            .copied()
            .unwrap_or_default()
    }

    /// The median time to a 503.
    #[must_use]
    pub fn median_503(&self) -> Duration {
        self.quantile(0.5)
    }
}
