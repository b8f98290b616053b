//! Takes: the store half of a flash value, read and removed in one atomic step
//! (`SessionStore::take`, `Op::Take`).

use std::collections::BTreeSet;
use std::sync::Arc;

use hallpass::store::{Delta, SessionStore, StoreErrorKind, Taken, Touch};

use super::{at, base, create, live, missing_key, record};

fn take(key: &str) -> Delta {
    let mut delta = Delta::default();
    delta.take(key);
    delta
}

/// A take hands the value out once: the value and the record without it back, the
/// version bumped; a second take finds nothing; a set earlier in the same delta is
/// what the take sees; the take goes with the request's other ops and touch; the
/// data bound is measured without the taken value; a take of a session that is gone
/// writes nothing; and a delta that does not end in a take is refused.
pub async fn take_hands_a_value_out_once(store: Arc<dyn SessionStore>) {
    let now = base();
    let mut rec = record(now);
    rec.data.insert("notice".into(), "saved".into());
    rec.data.insert("cart".into(), serde_json::json!(["apple"]));
    let key = create(&*store, &rec).await;

    let later = at(now, 5);
    let mut first = Delta::default();
    first.touch = Some(Touch::new(later, at(later, 60)));
    first.max_data_bytes = Some(4096);
    first.set("theme", "dark".into());
    first.take("notice");
    let Taken::Updated { value, record } = store.take(&key, &first, later).await.unwrap() else {
        panic!("a live session is updated");
    };
    assert_eq!(value, Some("saved".into()));
    assert!(!record.data.contains_key("notice"));
    assert_eq!(record.data["theme"], "dark", "the other ops went with it");
    assert_eq!(record.version, rec.version + 1);
    assert_eq!(
        record.idle_deadline,
        at(later, 60),
        "the touch went with it"
    );
    let stored = live(&*store, &key, later).await;
    assert!(!stored.data.contains_key("notice"), "taken in the store");
    assert_eq!(stored.data["cart"], serde_json::json!(["apple"]));

    match store.take(&key, &take("notice"), later).await.unwrap() {
        Taken::Updated { value, record } => {
            assert_eq!(value, None, "a value is taken once");
            assert_eq!(record.version, rec.version + 2);
        }
        Taken::Gone => panic!("the session is live"),
        other => panic!("unexpected {other:?}"),
    }

    let mut set_then_take = Delta::default();
    set_then_take.set("notice", serde_json::json!({"text": "again", "level": 2}));
    set_then_take.take("notice");
    assert!(matches!(
        store.take(&key, &set_then_take, later).await.unwrap(),
        Taken::Updated { value: Some(v), .. } if v == serde_json::json!({"text": "again", "level": 2})
    ));
    assert!(!live(&*store, &key, later).await.data.contains_key("notice"));

    // The bound is the data after the delta: a take frees what it takes.
    let big = "x".repeat(300);
    let mut fill = Delta::default();
    fill.set("big", big.clone().into());
    store.apply(&key, &fill, later).await.unwrap();
    let size = live(&*store, &key, later).await.data_size();
    let mut tight = Delta::default();
    tight.max_data_bytes = Some(size - 100);
    tight.take("big");
    assert!(matches!(
        store.take(&key, &tight, later).await.unwrap(),
        Taken::Updated { value: Some(v), .. } if v == big
    ));

    assert_eq!(
        store
            .take(&missing_key(), &take("notice"), later)
            .await
            .unwrap(),
        Taken::Gone
    );
    let mut no_take = Delta::default();
    no_take.remove("cart");
    let err = store.take(&key, &no_take, later).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::InvalidData);
    assert!(
        live(&*store, &key, later).await.data.contains_key("cart"),
        "a refused take changes nothing"
    );
    store.delete(&key).await.unwrap();
    assert_eq!(
        store.take(&key, &take("cart"), later).await.unwrap(),
        Taken::Gone,
        "no take resurrects a deleted session (AT-24)"
    );
}

/// Sixteen requests take the same value at once, over twenty values: each value
/// goes to exactly one of them (a load-then-remove would hand it to several).
pub async fn concurrent_takes_hand_a_value_to_one(store: Arc<dyn SessionStore>) {
    let now = base();
    let key = create(&*store, &record(now)).await;
    for round in 0..20 {
        let value = format!("notice {round}");
        let mut put = Delta::default();
        put.set("notice", value.clone().into());
        store.apply(&key, &put, now).await.unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        let takers: Vec<_> = (0..16)
            .map(|_| {
                let (store, key, barrier) = (Arc::clone(&store), key, Arc::clone(&barrier));
                tokio::spawn(async move {
                    barrier.wait().await;
                    match store.take(&key, &take("notice"), now).await.unwrap() {
                        Taken::Updated { value, .. } => value,
                        other => panic!("the session is live: {other:?}"),
                    }
                })
            })
            .collect();
        let mut got = Vec::new();
        for taker in takers {
            if let Some(value) = taker.await.unwrap() {
                got.push(value);
            }
        }
        assert_eq!(got, [serde_json::Value::from(value)], "round {round}");
    }
    let stored = live(&*store, &key, now).await;
    assert_eq!(stored.version, 1 + 20 * 17, "every take is a write");
    let keys: BTreeSet<_> = stored.data.keys().collect();
    assert!(keys.is_empty(), "{keys:?}");
}
