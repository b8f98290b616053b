//! Rotation: atomic, the old key dead, and racing concurrent writes.

use std::sync::Arc;

use hallpass::Handle;
use hallpass::store::{
    Admission, Applied, Delta, Loaded, PrincipalChange, Rotated, SessionStore, StoreErrorKind,
};

use super::{at, base, create, key_for, live, record};

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

/// A rotation keeps the session's handle: a new key of another handle is refused as
/// invalid data, and the session stays under its old key, unchanged.
pub async fn rotate_refuses_a_new_key_of_another_handle(store: Arc<dyn SessionStore>) {
    let now = base();
    let rec = record(now);
    let old = create(&*store, &rec).await;
    let elsewhere = key_for(&Handle::generate());
    let error = store
        .rotate(&old, &elsewhere, &Delta::default(), now)
        .await
        .expect_err("a new key of another handle must be refused");
    assert_eq!(error.kind(), StoreErrorKind::InvalidData, "{error}");
    assert_eq!(live(&*store, &old, now).await, rec);
    assert_eq!(store.load(&elsewhere, now).await.unwrap(), Loaded::Missing);
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

/// SR-17: a rotation's record of itself — when, and the hash of the token a
/// periodic rotation replaced — is kept with the session, survives later writes and
/// is found by the handle (how the engine grants a grace window and detects a
/// replay); the next rotation replaces it, and the replaced token is never a key.
pub async fn a_rotation_keeps_the_replaced_token_hash(store: Arc<dyn SessionStore>) {
    use hallpass::store::Rotation;
    let now = base();
    let mut rec = record(now);
    rec.data.insert("views".into(), 1.into());
    let old = create(&*store, &rec).await;
    let new = key_for(&rec.handle);
    let periodic = Rotation::new(now, Some(*old.hash()));
    let mut delta = Delta::default();
    delta.rotated = Some(periodic);
    let Rotated::Updated { record: after, .. } =
        store.rotate(&old, &new, &delta, now).await.unwrap()
    else {
        panic!("rotate of a live record must succeed");
    };
    assert_eq!(after.rotated.as_deref(), Some(&periodic));
    assert_eq!(store.load(&old, now).await.unwrap(), Loaded::Missing);
    let mut write = Delta::default();
    write.increment("views", 1);
    assert!(matches!(
        store.apply(&new, &write, now).await.unwrap(),
        Applied::Updated(_)
    ));
    let reloaded = live(&*store, &new, now).await;
    assert_eq!(
        reloaded.rotated.as_deref(),
        Some(&periodic),
        "kept by a write"
    );
    assert_eq!(reloaded.data["views"], 2);
    let (key, by_handle) = store.load_handle(&rec.handle, now).await.unwrap().unwrap();
    assert_eq!(key, new);
    assert_eq!(by_handle.rotated.as_deref(), Some(&periodic));
    let login = Rotation::new(at(now, 1), None);
    let third = key_for(&rec.handle);
    let mut delta = Delta::default();
    delta.rotated = Some(login);
    delta.principal = Some(PrincipalChange::login("alice", Admission::default()));
    assert!(matches!(
        store
            .rotate(&new, &third, &delta, at(now, 1))
            .await
            .unwrap(),
        Rotated::Updated { .. }
    ));
    let last = live(&*store, &third, at(now, 1)).await;
    assert_eq!(
        last.rotated.as_deref(),
        Some(&login),
        "replaced, not merged"
    );
}
