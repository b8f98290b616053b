//! One record's life in the store: create-if-absent, load, apply with the version
//! bumped, touch, delete, and expiry by either clock.

use std::sync::Arc;
use std::time::Duration;

use hallpass::store::{
    Admission, Applied, Created, Deleted, Delta, Incremented, Loaded, PrincipalChange,
    SessionStore, StoreErrorKind, Touch,
};

use super::{IDLE, assert_not_live, at, base, create, live, missing_key, record};

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

/// A session lives under its own handle: a create whose key carries another
/// handle is refused as invalid data and writes nothing under either handle.
pub async fn create_refuses_a_key_of_another_handle(store: Arc<dyn SessionStore>) {
    let now = base();
    let mut rec = record(now);
    rec.principal = Some("erin".into());
    let key = missing_key();
    let error = store
        .create(&key, &rec, &Admission::default())
        .await
        .expect_err("a key of another handle must be refused");
    assert_eq!(error.kind(), StoreErrorKind::InvalidData, "{error}");
    assert_eq!(store.load(&key, now).await.unwrap(), Loaded::Missing);
    assert!(
        store
            .load_handle(key.handle(), now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.load_handle(&rec.handle, now).await.unwrap().is_none());
    assert!(store.list_principal("erin", now).await.unwrap().is_empty());
    // The same record under a key of its own handle is then created as usual.
    create(&*store, &rec).await;
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
