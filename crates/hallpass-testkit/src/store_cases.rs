//! Store-level conformance cases (SR-43, H20). Each takes a fresh, empty store.
//!
//! Times are real wall-clock times moved forward logically, so stores that also keep
//! a server-side TTL (Redis) see sensible deadlines; every deadline check must use
//! the `now` passed in.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use hallpass::Handle;
use hallpass::store::{
    Admission, Applied, Created, Deleted, Delta, DeltaError, Incremented, Loaded, PrincipalChange,
    Record, Rotated, SessionStore, StoreErrorKind, StoreKey, Touch,
};
use hallpass::time::Timestamp;

const IDLE: Duration = Duration::from_secs(60);
const ABSOLUTE: Duration = Duration::from_secs(600);

fn base() -> Timestamp {
    hallpass::time::Clock::now(&hallpass::time::SystemClock)
}

fn at(base: Timestamp, secs: u64) -> Timestamp {
    base.saturating_add(Duration::from_secs(secs))
}

fn record(now: Timestamp) -> Record {
    Record::new(Handle::generate(), now, IDLE, ABSOLUTE)
}

/// A fresh key for a session with this handle.
fn key_for(handle: &Handle) -> StoreKey {
    StoreKey::random(handle)
}

/// A key no session has.
fn missing_key() -> StoreKey {
    key_for(&Handle::generate())
}

async fn create(store: &dyn SessionStore, record: &Record) -> StoreKey {
    let key = key_for(&record.handle);
    assert_eq!(
        store
            .create(&key, record, &Admission::default())
            .await
            .unwrap(),
        Created::INSERTED
    );
    key
}

async fn live(store: &dyn SessionStore, key: &StoreKey, now: Timestamp) -> Record {
    match store.load(key, now).await.unwrap() {
        Loaded::Live(record) => Record::clone(&record),
        other => panic!("expected a live record, got {other:?}"),
    }
}

fn assert_not_live(outcome: &Loaded) {
    assert!(
        !matches!(outcome, Loaded::Live(_)),
        "expected no live record, got {outcome:?}"
    );
}

/// A created record loads back unchanged.
pub async fn create_then_load(store: Arc<dyn SessionStore>) {
    let now = base();
    let mut rec = record(now);
    rec.principal = Some("alice".into());
    rec.data
        .insert("cart".into(), serde_json::json!(["apple", {"n": 1}]));
    rec.client =
        hallpass::store::ClientMeta::new(Some("203.0.113.9".parse().unwrap()), Some("agent/1.0"));
    rec.remember = true;
    let key = create(&*store, &rec).await;
    assert_eq!(live(&*store, &key, now).await, rec);
    assert_eq!(
        store.load(&missing_key(), now).await.unwrap(),
        Loaded::Missing
    );
}

/// AT-10: create is insert-if-absent; a collision is reported, the first record kept.
pub async fn create_collision_is_reported(store: Arc<dyn SessionStore>) {
    let now = base();
    let first = record(now);
    let key = create(&*store, &first).await;
    let mut second = record(now);
    second.handle = first.handle;
    second.data.insert("evil".into(), true.into());
    assert_eq!(
        store
            .create(&key, &second, &Admission::default())
            .await
            .unwrap(),
        Created::KeyTaken
    );
    assert_eq!(live(&*store, &key, now).await, first);
}

/// SR-20/SR-21, AT-23: a record past either deadline is never returned.
pub async fn load_after_expiry_by_either_clock(store: Arc<dyn SessionStore>) {
    let now = base();
    let key = create(&*store, &record(now)).await;
    live(&*store, &key, at(now, 59)).await;
    assert_not_live(&store.load(&key, at(now, 60)).await.unwrap());

    // Keep the idle deadline ahead by touching; the absolute deadline still ends it.
    let key = create(&*store, &record(now)).await;
    for step in 1..=11u64 {
        let t = at(now, step * 50);
        assert!(
            store
                .touch(&key, Touch::new(t, t.saturating_add(IDLE)), t)
                .await
                .unwrap()
        );
    }
    live(&*store, &key, at(now, 599)).await;
    assert_not_live(&store.load(&key, at(now, 600)).await.unwrap());
    assert_eq!(
        store
            .apply(&key, &Delta::default(), at(now, 600))
            .await
            .unwrap(),
        Applied::Gone
    );
}

/// A delta updates the current record and bumps the version by one.
pub async fn apply_updates_and_bumps_version(store: Arc<dyn SessionStore>) {
    let now = base();
    let mut rec = record(now);
    rec.data.insert("keep".into(), 1.into());
    rec.data.insert("drop".into(), 2.into());
    let key = create(&*store, &rec).await;
    let mut delta = Delta::default();
    delta.set("name", "Ada".into());
    delta.remove("drop");
    delta.increment("n", 5);
    delta.remember = Some(true);
    let Applied::Updated(after) = store.apply(&key, &delta, now).await.unwrap() else {
        panic!("apply on a live record must update it");
    };
    assert_eq!(after.version, rec.version + 1);
    assert_eq!(after.data["keep"], 1);
    assert_eq!(after.data["name"], "Ada");
    assert_eq!(after.data["n"], 5);
    assert!(!after.data.contains_key("drop"));
    assert!(after.remember);
    assert_eq!(live(&*store, &key, now).await, *after);
}

/// SR-14: a login always issues a new token, so `apply` refuses a delta that logs a
/// principal in (a typed error, nothing written); it goes through `rotate`.
pub async fn apply_refuses_a_login(store: Arc<dyn SessionStore>) {
    let now = base();
    let rec = record(now);
    let key = create(&*store, &rec).await;
    let mut delta = Delta::default();
    delta.set("x", 1.into());
    delta.principal = Some(PrincipalChange::login("ada", Admission::default()));
    let err = store.apply(&key, &delta, now).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::InvalidData);
    assert_eq!(live(&*store, &key, now).await, rec, "nothing written");
    assert!(store.list_principal("ada", now).await.unwrap().is_empty());
}

/// An increment on a non-integer fails and changes nothing.
pub async fn failed_delta_changes_nothing(store: Arc<dyn SessionStore>) {
    let now = base();
    let mut rec = record(now);
    rec.data.insert("name".into(), "x".into());
    let key = create(&*store, &rec).await;
    let mut delta = Delta::default();
    delta.set("other", 1.into());
    delta.increment("name", 1);
    let err = store.apply(&key, &delta, now).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::InvalidData);
    assert_eq!(live(&*store, &key, now).await, rec);
}

/// A touch that is not due (the session was seen after its `due_by`) changes no
/// deadline, in an increment's one call and in an apply; a due one moves them. A
/// counter request does not read the record first, so the store decides: without
/// this, every increment rewrote the idle deadline and the key's TTL (issue 13:
/// "touch only when due").
pub async fn a_touch_that_is_not_due_changes_no_deadline(store: Arc<dyn SessionStore>) {
    let now = base();
    let mut rec = record(now);
    rec.data.insert("n".into(), 0.into());
    let key = create(&*store, &rec).await;
    let later = at(now, 5);
    let touch = Touch::new(later, at(later, 60));
    let not_due = touch.when_seen_by(now.saturating_sub(Duration::from_millis(1)));
    let due = touch.when_seen_by(now);

    let mut delta = Delta::default();
    delta.touch = Some(not_due);
    delta.increment("n", 1);
    assert!(matches!(
        store.increment(&key, &delta, later).await.unwrap(),
        Incremented::Counted { value: 1, .. }
    ));
    let mut delta = Delta::default();
    delta.touch = Some(not_due);
    delta.set("m", serde_json::json!("x"));
    assert!(matches!(
        store.apply(&key, &delta, later).await.unwrap(),
        Applied::Updated(_)
    ));
    let stored = live(&*store, &key, later).await;
    assert_eq!(
        (stored.data["n"].clone(), stored.data["m"].clone()),
        (1.into(), "x".into())
    );
    assert_eq!(
        (stored.last_seen_at, stored.idle_deadline),
        (rec.last_seen_at, rec.idle_deadline),
        "a touch that is not due moves nothing"
    );

    let mut delta = Delta::default();
    delta.touch = Some(due);
    delta.increment("n", 1);
    assert!(matches!(
        store.increment(&key, &delta, later).await.unwrap(),
        Incremented::Counted { value: 2, .. }
    ));
    let stored = live(&*store, &key, later).await;
    assert_eq!(
        (stored.last_seen_at, stored.idle_deadline),
        (later, at(later, 60)),
        "a due touch moves both"
    );
    let mut delta = Delta::default();
    delta.touch = Some(Touch::new(at(later, 5), at(later, 70)).when_seen_by(later));
    delta.set("m", serde_json::json!("y"));
    assert!(matches!(
        store.apply(&key, &delta, at(later, 5)).await.unwrap(),
        Applied::Updated(_)
    ));
    let stored = live(&*store, &key, at(later, 5)).await;
    assert_eq!(
        (stored.last_seen_at, stored.idle_deadline),
        (at(later, 5), at(later, 70)),
        "a due touch in an apply moves both"
    );
}

/// `increment` (a counter request's one call): the exact new value and version back,
/// the touch applied, refusals typed with nothing changed, values past 2^53 exact
/// (a Lua number is a double), concurrent callers each see their own value, and a
/// session that ended is gone.
pub async fn increment_returns_the_exact_value_and_version(store: Arc<dyn SessionStore>) {
    let now = base();
    let mut rec = record(now);
    rec.data.insert("n".into(), 5.into());
    rec.data.insert("big".into(), (1_i64 << 60).into());
    rec.data.insert("name".into(), "x".into());
    rec.data.insert("max".into(), i64::MAX.into());
    rec.data.insert("edge".into(), ((1_i64 << 53) - 1).into());
    rec.data.insert("low".into(), (1 - (1_i64 << 53)).into());
    let key = create(&*store, &rec).await;
    let count = |name: &str, by: i64, touch: Option<Touch>, max: Option<usize>| {
        let mut delta = Delta::default();
        delta.touch = touch;
        delta.max_data_bytes = max;
        delta.increment(name, by);
        delta
    };
    let later = at(now, 5);
    let touch = Touch::new(later, at(later, 60));
    assert_eq!(
        store
            .increment(&key, &count("n", 2, Some(touch), Some(4096)), later)
            .await
            .unwrap(),
        Incremented::Counted {
            value: 7,
            version: rec.version + 1
        }
    );
    let stored = live(&*store, &key, later).await;
    assert_eq!(stored.data["n"], 7);
    assert_eq!(stored.last_seen_at, later, "the touch went with it");
    assert_eq!(stored.idle_deadline, at(later, 60));
    assert_eq!(
        store
            .increment(&key, &count("big", 1, None, None), later)
            .await
            .unwrap(),
        Incremented::Counted {
            value: (1 << 60) + 1,
            version: rec.version + 2
        }
    );
    assert_eq!(
        store
            .increment(&key, &count("fresh", -3, None, None), later)
            .await
            .unwrap(),
        Incremented::Counted {
            value: -3,
            version: rec.version + 3
        }
    );
    // Across 2^53, where a double stops holding every integer, in both directions.
    for (name, by, value) in [
        ("edge", 2, (1_i64 << 53) + 1),
        ("low", -2, -(1_i64 << 53) - 1),
    ] {
        assert!(
            matches!(
                store.increment(&key, &count(name, by, None, None), later).await.unwrap(),
                Incremented::Counted { value: v, .. } if v == value
            ),
            "{name} past 2^53 is exact"
        );
    }
    let before = live(&*store, &key, later).await;
    for (delta, expected) in [
        (
            count("max", 1, None, None),
            DeltaError::Overflow { key: "max".into() },
        ),
        (
            count("name", 1, None, None),
            DeltaError::NotAnInteger { key: "name".into() },
        ),
    ] {
        let err = store.increment(&key, &delta, later).await.unwrap_err();
        assert_eq!(err.delta_error(), Some(&expected));
    }
    let size = before.data_size();
    let err = store
        .increment(&key, &count("another", 1, None, Some(size + 3)), later)
        .await
        .unwrap_err();
    assert!(
        matches!(err.delta_error(), Some(DeltaError::TooLarge { .. })),
        "{err}"
    );
    assert_eq!(
        live(&*store, &key, later).await,
        before,
        "refusals change nothing"
    );

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..25 {
                    let mut delta = Delta::default();
                    delta.increment("c", 1);
                    match store.increment(&key, &delta, later).await.unwrap() {
                        Incremented::Counted { value, .. } => seen.push(value),
                        other => panic!("{other:?}"),
                    }
                }
                seen
            })
        })
        .collect();
    let mut seen = BTreeSet::new();
    for task in tasks {
        for value in task.await.unwrap() {
            assert!(seen.insert(value), "{value} seen twice");
        }
    }
    assert_eq!(seen, (1..=200).collect::<BTreeSet<i64>>());
    assert!(store.delete(&key).await.unwrap().is_some());
    assert_eq!(
        store
            .increment(&key, &count("n", 1, None, None), later)
            .await
            .unwrap(),
        Incremented::Gone
    );
}

/// `tasks` tasks apply `total` increments to one session concurrently (spread as
/// evenly as they go): the result is exact and every caller saw a different value.
async fn concurrent_increments(store: Arc<dyn SessionStore>, tasks: u64, total: u64) {
    let now = base();
    let key = create(&*store, &record(now)).await;
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let store = Arc::clone(&store);
            let each = total / tasks + u64::from(task < total % tasks);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..each {
                    let mut delta = Delta::default();
                    delta.increment("views", 1);
                    match store.apply(&key, &delta, now).await.unwrap() {
                        Applied::Updated(record) => {
                            seen.push(record.data["views"].as_i64().unwrap())
                        }
                        other => panic!("{other:?}"),
                    }
                }
                seen
            })
        })
        .collect();
    let mut seen = BTreeSet::new();
    for handle in handles {
        for value in handle.await.unwrap() {
            assert!(seen.insert(value), "value {value} was returned twice");
        }
    }
    let total = i64::try_from(total).unwrap();
    assert_eq!(seen, (1..=total).collect::<BTreeSet<i64>>());
    assert_eq!(live(&*store, &key, now).await.data["views"], total);
}

/// 1,000 concurrent increments from 32 tasks end at exactly 1,000.
pub async fn concurrent_increments_are_exact(store: Arc<dyn SessionStore>) {
    concurrent_increments(store, 32, 1_000).await;
}

/// 32 concurrent tasks × 100 increments on one session end at exactly 3,200.
pub async fn thirty_two_tasks_times_a_hundred_increments(store: Arc<dyn SessionStore>) {
    concurrent_increments(store, 32, 3_200).await;
}

/// Concurrent deltas to different keys all survive (no lost update).
pub async fn concurrent_disjoint_keys_are_all_kept(store: Arc<dyn SessionStore>) {
    let now = base();
    let key = create(&*store, &record(now)).await;
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut delta = Delta::default();
                delta.set(format!("k{i}"), i.into());
                assert!(matches!(
                    store.apply(&key, &delta, now).await.unwrap(),
                    Applied::Updated(_)
                ));
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let rec = live(&*store, &key, now).await;
    for i in 0..32 {
        assert_eq!(rec.data[&format!("k{i}")], i, "k{i} lost");
    }
    assert_eq!(rec.version, 33);
}

/// AT-24: applying to a deleted session reports Gone and recreates nothing.
pub async fn apply_after_delete_is_gone(store: Arc<dyn SessionStore>) {
    let now = base();
    let key = create(&*store, &record(now)).await;
    assert!(store.delete(&key).await.unwrap().is_some());
    let mut delta = Delta::default();
    delta.set("resurrected", true.into());
    assert_eq!(store.apply(&key, &delta, now).await.unwrap(), Applied::Gone);
    assert!(
        !store
            .touch(&key, Touch::new(now, at(now, 60)), now)
            .await
            .unwrap()
    );
    assert_eq!(store.load(&key, now).await.unwrap(), Loaded::Missing);
    assert_eq!(store.count(now).await.unwrap(), 0);
}

/// Deleting is idempotent, and says whose session it deleted (what lets a logout be
/// one store call).
pub async fn delete_is_idempotent(store: Arc<dyn SessionStore>) {
    let now = base();
    let key = create(&*store, &record(now)).await;
    assert_eq!(store.delete(&key).await.unwrap(), Some(Deleted::new(None)));
    assert_eq!(store.delete(&key).await.unwrap(), None);
    assert_eq!(store.delete(&missing_key()).await.unwrap(), None);
    let mut owned = record(now);
    owned.principal = Some("dora".into());
    let key = create(&*store, &owned).await;
    assert_eq!(
        store.delete(&key).await.unwrap(),
        Some(Deleted::new(Some("dora".into())))
    );
    assert!(store.list_principal("dora", now).await.unwrap().is_empty());
}

/// SR-16: rotation moves the record to the new key in one step; the old key is dead.
pub async fn rotate_is_atomic_and_kills_the_old_key(store: Arc<dyn SessionStore>) {
    let now = base();
    let mut rec = record(now);
    rec.data.insert("cart".into(), serde_json::json!(["apple"]));
    let old = create(&*store, &rec).await;
    let new = key_for(&rec.handle);
    let mut delta = Delta::default();
    delta.principal = Some(PrincipalChange::login("alice", Admission::default()));
    let Rotated::Updated { record: after, .. } =
        store.rotate(&old, &new, &delta, now).await.unwrap()
    else {
        panic!("rotate of a live record must succeed");
    };
    assert_eq!(after.handle, rec.handle, "the handle survives rotation");
    assert_eq!(after.data["cart"], serde_json::json!(["apple"]));
    assert_eq!(after.principal.as_deref(), Some("alice"));
    assert_eq!(store.load(&old, now).await.unwrap(), Loaded::Missing);
    assert_eq!(live(&*store, &new, now).await, *after);
    assert_eq!(
        store.apply(&old, &Delta::default(), now).await.unwrap(),
        Applied::Gone
    );
    assert_eq!(store.count(now).await.unwrap(), 1);
    let listed = store.list_principal("alice", now).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.handle).collect::<Vec<_>>(),
        vec![rec.handle]
    );
    let (found_key, _) = store.load_handle(&rec.handle, now).await.unwrap().unwrap();
    assert_eq!(found_key, new);
}

/// Rotation of a missing session reports Gone and writes nothing.
pub async fn rotate_of_a_missing_session_is_gone(store: Arc<dyn SessionStore>) {
    let now = base();
    let handle = Handle::generate();
    let (missing, new) = (key_for(&handle), key_for(&handle));
    let outcome = store
        .rotate(&missing, &new, &Delta::default(), now)
        .await
        .unwrap();
    assert_eq!(outcome, Rotated::Gone);
    assert_eq!(store.load(&new, now).await.unwrap(), Loaded::Missing);
    assert_eq!(store.count(now).await.unwrap(), 0);
}

/// Concurrent increments racing one rotation: every increment reported as applied is
/// in the rotated record, the others were refused, and the old key stays dead.
pub async fn rotate_races_concurrent_writes(store: Arc<dyn SessionStore>) {
    let now = base();
    let rec = record(now);
    let old = create(&*store, &rec).await;
    let new = key_for(&rec.handle);
    let writers: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut applied = 0i64;
                for _ in 0..20 {
                    let mut delta = Delta::default();
                    delta.increment("n", 1);
                    if let Applied::Updated(_) = store.apply(&old, &delta, now).await.unwrap() {
                        applied += 1;
                    }
                    tokio::task::yield_now().await;
                }
                applied
            })
        })
        .collect();
    tokio::task::yield_now().await;
    let rotated = store
        .rotate(&old, &new, &Delta::default(), now)
        .await
        .unwrap();
    assert!(matches!(rotated, Rotated::Updated { .. }));
    let mut applied = 0;
    for writer in writers {
        applied += writer.await.unwrap();
    }
    let rec = live(&*store, &new, now).await;
    assert_eq!(
        rec.data
            .get("n")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0),
        applied
    );
    assert_eq!(store.load(&old, now).await.unwrap(), Loaded::Missing);
}

/// Touch moves the idle deadline (capped at the absolute one) and never the data.
pub async fn touch_moves_only_the_deadline(store: Arc<dyn SessionStore>) {
    let now = base();
    let mut rec = record(now);
    rec.data.insert("a".into(), 1.into());
    let key = create(&*store, &rec).await;
    let t = at(now, 30);
    assert!(
        store
            .touch(&key, Touch::new(t, at(now, 90)), t)
            .await
            .unwrap()
    );
    let after = live(&*store, &key, t).await;
    assert_eq!(after.data, rec.data);
    assert_eq!(after.principal, rec.principal);
    assert_eq!(after.idle_deadline, at(now, 90));
    assert_eq!(after.last_seen_at, t);
    assert_eq!(after.absolute_deadline, rec.absolute_deadline);
    assert!(
        store
            .touch(&key, Touch::new(t, at(now, 10_000)), t)
            .await
            .unwrap()
    );
    assert_eq!(
        live(&*store, &key, t).await.idle_deadline,
        rec.absolute_deadline
    );
}

/// SR-25/SR-27: list and revoke by principal and by handle.
pub async fn list_and_revoke_by_principal(store: Arc<dyn SessionStore>) {
    let now = base();
    let mut handles = Vec::new();
    for i in 0..3u64 {
        let mut rec = Record::new(Handle::generate(), at(now, i), IDLE, ABSOLUTE);
        rec.principal = Some("alice".into());
        create(&*store, &rec).await;
        handles.push(rec.handle);
    }
    let mut bob = record(now);
    bob.principal = Some("bob".into());
    let bob_key = create(&*store, &bob).await;
    let anon = create(&*store, &record(now)).await;

    let listed = store.list_principal("alice", at(now, 5)).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.handle).collect::<Vec<_>>(),
        handles,
        "oldest first"
    );
    assert!(
        listed
            .iter()
            .all(|s| s.principal.as_deref() == Some("alice"))
    );
    assert!(
        store
            .list_principal("nobody", now)
            .await
            .unwrap()
            .is_empty()
    );

    let (_, found) = store.load_handle(&handles[0], now).await.unwrap().unwrap();
    assert_eq!(found.handle, handles[0]);
    assert_eq!(
        store
            .revoke_principal("alice", Some(&handles[2]))
            .await
            .unwrap(),
        2
    );
    let left = store.list_principal("alice", at(now, 5)).await.unwrap();
    assert_eq!(
        left.iter().map(|s| s.handle).collect::<Vec<_>>(),
        vec![handles[2]]
    );
    assert!(store.load_handle(&handles[0], now).await.unwrap().is_none());

    assert!(store.revoke(&handles[2]).await.unwrap());
    assert!(!store.revoke(&handles[2]).await.unwrap());
    assert!(store.list_principal("alice", now).await.unwrap().is_empty());
    live(&*store, &bob_key, now).await;
    live(&*store, &anon, now).await;
    assert_eq!(store.revoke_principal("bob", None).await.unwrap(), 1);
    assert_eq!(store.load(&bob_key, now).await.unwrap(), Loaded::Missing);
}

/// A principal set by a login rotation is indexed; cleared, it is unindexed.
pub async fn principal_changes_are_indexed(store: Arc<dyn SessionStore>) {
    let now = base();
    let rec = record(now);
    let old = create(&*store, &rec).await;
    let key = key_for(&rec.handle);
    let mut login = Delta::default();
    login.principal = Some(PrincipalChange::login("carol", Admission::default()));
    assert!(matches!(
        store.rotate(&old, &key, &login, now).await.unwrap(),
        Rotated::Updated { .. }
    ));
    assert_eq!(store.list_principal("carol", now).await.unwrap().len(), 1);
    let mut logout = Delta::default();
    logout.principal = Some(PrincipalChange::Clear);
    assert!(matches!(
        store.apply(&key, &logout, now).await.unwrap(),
        Applied::Updated(_)
    ));
    assert!(store.list_principal("carol", now).await.unwrap().is_empty());
    assert_eq!(store.revoke_principal("carol", None).await.unwrap(), 0);
    live(&*store, &key, now).await;
}

/// Expired sessions are not listed, not counted, and purged in bounded batches.
pub async fn purge_in_batches_and_count(store: Arc<dyn SessionStore>) {
    let now = base();
    for _ in 0..25 {
        let mut rec = Record::new(Handle::generate(), now, Duration::from_secs(1), ABSOLUTE);
        rec.principal = Some("dave".into());
        create(&*store, &rec).await;
    }
    let mut keep = Vec::new();
    for _ in 0..5 {
        keep.push(create(&*store, &record(now)).await);
    }
    assert_eq!(store.count(now).await.unwrap(), 30);
    let later = at(now, 2);
    assert_eq!(store.count(later).await.unwrap(), 5);
    assert!(
        store
            .list_principal("dave", later)
            .await
            .unwrap()
            .is_empty()
    );
    let mut batches = Vec::new();
    loop {
        let purged = store.purge_expired(later, 10).await.unwrap();
        assert!(purged <= 10, "a batch deleted {purged} > 10");
        batches.push(purged);
        if purged < 10 {
            break;
        }
    }
    assert_eq!(batches.iter().sum::<u64>(), 25, "batches {batches:?}");
    assert!(batches.len() >= 3, "batches {batches:?}");
    for key in &keep {
        live(&*store, key, later).await;
    }
    assert_eq!(store.count(later).await.unwrap(), 5);
    assert_eq!(store.purge_expired(later, 10).await.unwrap(), 0);
}

/// A concurrent delete and apply never end with the session alive again.
pub async fn delete_races_apply_without_resurrection(store: Arc<dyn SessionStore>) {
    let now = base();
    for _ in 0..20 {
        let key = create(&*store, &record(now)).await;
        let writer = {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut delta = Delta::default();
                delta.set("late", true.into());
                store.apply(&key, &delta, now).await.unwrap()
            })
        };
        assert!(
            store.delete(&key).await.unwrap().is_some()
                || matches!(store.load(&key, now).await.unwrap(), Loaded::Missing)
        );
        writer.await.unwrap();
        assert_eq!(store.load(&key, now).await.unwrap(), Loaded::Missing);
    }
    assert_eq!(store.count(now).await.unwrap(), 0);
}

/// Listing pages through every live session from a cursor: each is seen, none
/// expired, pages are bounded (Redis's `ZSCAN` may hand out a small set in one step),
/// and a cursor the store never gave out is refused.
pub async fn list_sessions_pages_through_every_live_session(store: Arc<dyn SessionStore>) {
    let now = base();
    let empty = store.list_sessions(None, 10, now).await.unwrap();
    assert!(
        empty.sessions.is_empty() && empty.next.is_none(),
        "{empty:?}"
    );
    let mut expected = BTreeSet::new();
    for n in 0..25 {
        let mut rec = record(now);
        if n % 3 == 0 {
            rec.principal = Some(format!("user{}", n % 2));
        }
        expected.insert(rec.handle);
        create(&*store, &rec).await;
    }
    for _ in 0..3 {
        let mut gone = record(now);
        gone.idle_deadline = at(now, 1);
        create(&*store, &gone).await;
    }
    let later = at(now, 2);
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_sessions(cursor.as_deref(), 10, later)
            .await
            .unwrap();
        pages += 1;
        assert!(pages < 100, "the listing never ends");
        for summary in &page.sessions {
            assert!(
                expected.contains(&summary.handle),
                "an expired or unknown session was listed"
            );
            seen.insert(summary.handle);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert!(matches!(
        store.list_sessions(Some("not a cursor"), 10, later).await,
        Err(err) if err.kind() == StoreErrorKind::InvalidData
    ));
}

/// Purging a bulk of already-inserted expired sessions (the caller inserts `expired`
/// of them directly, which is far faster than `create`) goes in batches of at most
/// 1,000, deletes exactly those, and leaves live sessions alone.
pub async fn purge_bulk_in_bounded_batches(store: Arc<dyn SessionStore>, expired: u64) {
    let clock = hallpass::time::ManualClock::starting_now();
    let now = hallpass::time::Clock::now(&clock);
    for _ in 0..10 {
        create(&*store, &record(now)).await;
    }
    let epoch = Timestamp::from_unix_millis(0);
    assert_eq!(store.count(epoch).await.unwrap(), expired + 10);
    let mut totals = Vec::new();
    let purged = hallpass::store::purge_expired(&*store, &clock, 1_000, |total| totals.push(total))
        .await
        .unwrap();
    assert_eq!(purged, expired);
    let mut previous = 0;
    for total in &totals {
        assert!(
            total - previous <= 1_000,
            "a batch deleted {} rows",
            total - previous
        );
        previous = *total;
    }
    assert!(
        totals.len() as u64 > expired / 1_000,
        "{} batches",
        totals.len()
    );
    assert_eq!(store.count(now).await.unwrap(), 10);
    assert_eq!(store.count(epoch).await.unwrap(), 10);
}

/// Defines one `#[tokio::test]` per store-level case, each on a fresh store made by
/// `$make` (an async expression returning something that converts into
/// `Arc<dyn SessionStore>`).
///
/// ```
/// mod memory {
///     hallpass_testkit::store_conformance!(async { hallpass::MemoryStore::new() });
/// }
/// ```
///
/// A store whose admission (cap and generation) is not yet one atomic step says so,
/// with its reason, and runs every case but those two:
///
/// ```
/// mod memory {
///     hallpass_testkit::store_conformance!(
///         async { hallpass::MemoryStore::new() },
///         admission_not_atomic = "an example: every store here is atomic"
///     );
/// }
/// ```
#[macro_export]
macro_rules! store_conformance {
    ($make:expr) => {
        $crate::store_conformance!($make, admission_not_atomic = "");
        $crate::store_conformance!(@cases $make; contract_cases;
            the_cap_holds_under_concurrent_logins
        );
    };
    ($make:expr, admission_not_atomic = $reason:literal) => {
        const _: &str = $reason;
        $crate::store_conformance!(@cases $make;
            create_then_load, create_collision_is_reported, load_after_expiry_by_either_clock,
            apply_updates_and_bumps_version, apply_refuses_a_login, failed_delta_changes_nothing,
            increment_returns_the_exact_value_and_version, a_touch_that_is_not_due_changes_no_deadline,
            concurrent_increments_are_exact, thirty_two_tasks_times_a_hundred_increments,
            concurrent_disjoint_keys_are_all_kept,
            apply_after_delete_is_gone, delete_is_idempotent, rotate_is_atomic_and_kills_the_old_key,
            rotate_of_a_missing_session_is_gone, rotate_races_concurrent_writes, touch_moves_only_the_deadline,
            list_and_revoke_by_principal, principal_changes_are_indexed, purge_in_batches_and_count,
            delete_races_apply_without_resurrection, list_sessions_pages_through_every_live_session
        );
        $crate::store_conformance!(@cases $make; contract_cases;
            data_bound_holds_against_the_stored_record, a_stale_generation_is_refused,
            revoke_all_catches_a_session_rotated_meanwhile,
            revoke_by_handle_follows_a_rotation, principals_compare_exactly
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $crate::store_conformance!(@cases $make; store_cases; $($case),*);
    };
    (@cases $make:expr; $module:ident; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store: ::std::sync::Arc<dyn ::hallpass::store::SessionStore> = ::std::sync::Arc::new($make.await);
                $crate::$module::$case(store).await;
            }
        )*
    };
}
