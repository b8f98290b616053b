//! SR-34, AT-25: the memory store stays within its capacity under a flood of anonymous
//! sessions, evicting expired then least-recently-used anonymous sessions, and never
//! an authenticated one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use std::sync::Arc;
use std::time::Duration;

use hallpass::store::{Loaded, MemoryStoreConfig, Record, SessionStore, StoreErrorKind, StoreKey};
use hallpass::time::Timestamp;
use hallpass::{Handle, MemoryStore};
use hallpass_testkit::TestApp;
use http::Method;

const IDLE: Duration = Duration::from_secs(1800);
const ABSOLUTE: Duration = Duration::from_secs(43_200);

#[tokio::test]
async fn flood_of_anonymous_sessions_stays_bounded_and_keeps_the_logged_in_user() {
    let memory = MemoryStore::with_config(
        MemoryStoreConfig::default()
            .with_capacity(1_000)
            .with_shards(4),
    );
    let store: Arc<dyn SessionStore> = Arc::new(memory.clone());
    let app = TestApp::new(Arc::clone(&store));
    let mut alice = app.browser();
    alice.post("/login?user=alice").await;
    for i in 0..100_000 {
        let reply = app.raw(Method::GET, "/views", &[]).await;
        assert_eq!(reply.status, 200);
        if i % 10_000 == 0 {
            assert_eq!(alice.get("/me").await.body, "alice", "during the flood");
            let now = hallpass::time::Clock::now(&app.clock);
            assert!(store.count(now).await.unwrap() <= 1_000);
        }
    }
    let now = hallpass::time::Clock::now(&app.clock);
    assert!(store.count(now).await.unwrap() <= 1_000);
    assert_eq!(
        alice.get("/me").await.body,
        "alice",
        "the authenticated session survived"
    );
}

#[tokio::test]
async fn expired_sessions_go_first_then_least_recently_used_anonymous() {
    let store =
        MemoryStore::with_config(MemoryStoreConfig::default().with_capacity(3).with_shards(1));
    let t0 = Timestamp::from_unix_millis(1_000_000);
    let mut keys = Vec::new();
    for i in 0..3u64 {
        let idle = if i == 1 { Duration::from_secs(1) } else { IDLE };
        let record = Record::new(Handle::generate(), t0, idle, ABSOLUTE);
        let key = StoreKey::random(&record.handle);
        store
            .create(&key, &record, &hallpass::store::Admission::default())
            .await
            .unwrap();
        keys.push(key);
    }
    // Use key 0 so key 2 becomes the least recently used.
    let later = t0.saturating_add(Duration::from_secs(5));
    assert!(matches!(
        store.load(&keys[0], later).await.unwrap(),
        Loaded::Live(_)
    ));
    let record = Record::new(Handle::generate(), later, IDLE, ABSOLUTE);
    let fourth = StoreKey::random(&record.handle);
    store
        .create(&fourth, &record, &hallpass::store::Admission::default())
        .await
        .unwrap();
    assert_eq!(
        store.load(&keys[1], later).await.unwrap(),
        Loaded::Missing,
        "the expired one went first"
    );
    // (Loading key 2 here would refresh it; count it instead.)
    assert_eq!(store.count(later).await.unwrap(), 3);
    let record = Record::new(Handle::generate(), later, IDLE, ABSOLUTE);
    let fifth = StoreKey::random(&record.handle);
    store
        .create(&fifth, &record, &hallpass::store::Admission::default())
        .await
        .unwrap();
    assert_eq!(
        store.load(&keys[2], later).await.unwrap(),
        Loaded::Missing,
        "then the LRU anonymous one"
    );
    assert!(matches!(
        store.load(&keys[0], later).await.unwrap(),
        Loaded::Live(_)
    ));
    assert!(matches!(
        store.load(&fourth, later).await.unwrap(),
        Loaded::Live(_)
    ));
}

#[tokio::test]
async fn a_store_full_of_authenticated_sessions_refuses_rather_than_drops() {
    let store =
        MemoryStore::with_config(MemoryStoreConfig::default().with_capacity(2).with_shards(1));
    let now = Timestamp::from_unix_millis(1_000_000);
    let mut keys = Vec::new();
    for user in ["a", "b"] {
        let mut record = Record::new(Handle::generate(), now, IDLE, ABSOLUTE);
        let key = StoreKey::random(&record.handle);
        record.principal = Some(user.into());
        store
            .create(&key, &record, &hallpass::store::Admission::default())
            .await
            .unwrap();
        keys.push(key);
    }
    let record = Record::new(Handle::generate(), now, IDLE, ABSOLUTE);
    let err = store
        .create(
            &StoreKey::random(&record.handle),
            &record,
            &hallpass::store::Admission::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::CapacityExceeded);
    for key in &keys {
        assert!(matches!(
            store.load(key, now).await.unwrap(),
            Loaded::Live(_)
        ));
    }
}

#[tokio::test]
async fn the_cleanup_task_frees_expired_memory_sessions_in_the_background() {
    let store = MemoryStore::new();
    let clock = hallpass::time::ManualClock::starting_at_unix_millis(1_000_000);
    let now = hallpass::time::Clock::now(&clock);
    for _ in 0..10 {
        let record = Record::new(Handle::generate(), now, Duration::from_secs(1), ABSOLUTE);
        store
            .create(
                &StoreKey::random(&record.handle),
                &record,
                &hallpass::store::Admission::default(),
            )
            .await
            .unwrap();
    }
    let sweeper = hallpass::spawn_cleanup(
        Arc::new(store.clone()),
        Arc::new(clock.clone()),
        hallpass::CleanupConfig::default().with_every(Duration::from_millis(10)),
    );
    clock.advance(Duration::from_secs(2));
    let far_past = Timestamp::from_unix_millis(0);
    for _ in 0..200 {
        if store.count(far_past).await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Counting "as of the epoch" sees every stored record, expired or not.
    assert_eq!(
        store.count(far_past).await.unwrap(),
        0,
        "the cleanup task purged them"
    );
    // The one purge task of every store: it runs until its handle is aborted.
    sweeper.abort();
    assert!(sweeper.await.unwrap_err().is_cancelled());
}

#[tokio::test]
async fn the_cleanup_task_survives_store_errors_and_keeps_purging() {
    let memory = MemoryStore::new();
    let faulty = hallpass_testkit::InstrumentedStore::new(Arc::new(memory.clone()));
    let clock = hallpass::time::ManualClock::starting_at_unix_millis(1_000_000);
    let now = hallpass::time::Clock::now(&clock);
    let create = |n: usize| {
        let memory = memory.clone();
        async move {
            for _ in 0..n {
                let record = Record::new(Handle::generate(), now, Duration::from_secs(1), ABSOLUTE);
                memory
                    .create(
                        &StoreKey::random(&record.handle),
                        &record,
                        &hallpass::store::Admission::default(),
                    )
                    .await
                    .unwrap();
            }
        }
    };
    create(5).await;
    faulty.set_down(true);
    let task = hallpass::spawn_cleanup(
        Arc::new(faulty.clone()),
        Arc::new(clock.clone()),
        hallpass::CleanupConfig::default()
            .with_every(Duration::from_millis(5))
            .with_max_backoff(Duration::from_millis(20)),
    );
    clock.advance(Duration::from_secs(2));
    let epoch = Timestamp::from_unix_millis(0);
    // Several runs fail while the store is down...
    while faulty
        .calls()
        .other
        .load(std::sync::atomic::Ordering::SeqCst)
        < 3
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        memory.count(epoch).await.unwrap(),
        5,
        "nothing purged while down"
    );
    assert!(!task.is_finished(), "the task survived the errors");
    // ...and once it is back, the task purges without being restarted.
    faulty.set_down(false);
    for _ in 0..400 {
        if memory.count(epoch).await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(memory.count(epoch).await.unwrap(), 0);
    task.abort();
}

/// A user's sessions point at one copy of their name, however each was stored: a
/// copy of a record, the caller's own `Arc`, or a login by rotation. (Bytes per
/// session, issue 12: the name was a heap string in every record.)
#[tokio::test]
async fn a_users_sessions_share_one_copy_of_the_name() {
    use hallpass::store::{Admission, Delta, Principal, PrincipalChange, Rotated};

    let store = MemoryStore::new();
    let now = Timestamp::from_unix_millis(1_000_000);
    let fresh = |principal: Option<&str>| {
        let mut record = Record::new(Handle::generate(), now, IDLE, ABSOLUTE);
        record.principal = principal.map(Principal::from);
        (StoreKey::random(&record.handle), record)
    };
    let (copied, record) = fresh(Some("alice"));
    store
        .create(&copied, &record, &Admission::default())
        .await
        .unwrap();
    let (shared, record) = fresh(Some("alice"));
    let mut record = Arc::new(record);
    store
        .create_shared(&shared, &mut record, &Admission::default())
        .await
        .unwrap();
    // A caller that still holds a second `Arc` keeps its record as it is.
    let (held, record) = fresh(Some("alice"));
    let mut record = Arc::new(record);
    let kept = Arc::clone(&record);
    store
        .create_shared(&held, &mut record, &Admission::default())
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&record, &kept));
    let (anonymous, record) = fresh(None);
    store
        .create(&anonymous, &record, &Admission::default())
        .await
        .unwrap();
    let rotated = StoreKey::random(anonymous.handle());
    let mut delta = Delta::default();
    delta.principal = Some(PrincipalChange::login("alice", Admission::default()));
    assert!(matches!(
        store
            .rotate(&anonymous, &rotated, &delta, now)
            .await
            .unwrap(),
        Rotated::Updated { .. }
    ));

    let name = |loaded: Loaded| match loaded {
        Loaded::Live(record) => record.principal.clone().unwrap(),
        other => panic!("expected a live session, got {other:?}"),
    };
    let first = name(store.load(&copied, now).await.unwrap());
    for key in [&shared, &rotated] {
        let other = name(store.load(key, now).await.unwrap());
        assert_eq!(other, "alice");
        assert!(Principal::ptr_eq(&first, &other), "one copy of the name");
    }
    assert_eq!(name(store.load(&held, now).await.unwrap()), "alice");
}

/// The same through the engine: logins over HTTP store sessions that share the name.
#[tokio::test]
async fn logins_through_the_engine_share_one_copy_of_the_name() {
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let app = TestApp::new(Arc::clone(&store));
    for _ in 0..3 {
        let mut browser = app.browser();
        assert_eq!(browser.post("/login?user=alice").await.status, 200);
    }
    let now = hallpass::time::Clock::now(&app.clock);
    let sessions = store.list_principal("alice", now).await.unwrap();
    assert_eq!(sessions.len(), 3);
    let names: Vec<_> = sessions
        .iter()
        .map(|s| s.principal.clone().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .all(|name| hallpass::store::Principal::ptr_eq(name, &names[0])),
        "one copy of the name"
    );
}
