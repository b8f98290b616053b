//! Exact counters: increments that return value and version, and concurrent
//! writers that lose nothing.

use std::collections::BTreeSet;
use std::sync::Arc;

use hallpass::store::{Applied, Delta, DeltaError, Incremented, SessionStore, Touch};

use super::{at, base, create, live, record};

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
