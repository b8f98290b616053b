//! Labels (hallpass::label): indexed with the writes that set them, and a revoke by
//! label that ends every session carrying one and nothing else.

use std::sync::Arc;

use hallpass::store::{Applied, Delta, Loaded, Rotated, SessionStore};

use super::{base, create, key_for, live, record};

const SID: &str = "hallpass.label.oidc_sid";

/// A label set at creation, by an apply, by a take's delta or by a rotation is
/// found by `revoke_label`, which ends exactly the sessions carrying it: not one
/// with another value, not one whose label was removed again, not one whose write
/// that set it was refused (its index entry was written first). A second revoke
/// finds nothing.
pub async fn revoke_by_label_ends_exactly_the_sessions_carrying_it(store: Arc<dyn SessionStore>) {
    let now = base();
    let mut created = record(now);
    created.data.insert(SID.into(), "a".into());
    let created_key = create(&*store, &created).await;

    let labelled = |value: &str| {
        let mut delta = Delta::default();
        delta.set(SID, value.into());
        delta
    };
    let applied = record(now);
    let applied_key = create(&*store, &applied).await;
    assert!(matches!(
        store
            .apply(&applied_key, &labelled("a"), now)
            .await
            .unwrap(),
        Applied::Updated(_)
    ));

    let taken = record(now);
    let taken_key = create(&*store, &taken).await;
    let mut take = labelled("a");
    take.take("nothing");
    assert!(matches!(
        store.take(&taken_key, &take, now).await.unwrap(),
        hallpass::store::Taken::Updated { .. }
    ));

    let rotated = record(now);
    let old = create(&*store, &rotated).await;
    let rotated_key = key_for(&rotated.handle);
    assert!(matches!(
        store
            .rotate(&old, &rotated_key, &labelled("a"), now)
            .await
            .unwrap(),
        Rotated::Updated { .. }
    ));

    let other = record(now);
    let other_key = create(&*store, &other).await;
    store.apply(&other_key, &labelled("b"), now).await.unwrap();

    let removed = record(now);
    let removed_key = create(&*store, &removed).await;
    store
        .apply(&removed_key, &labelled("a"), now)
        .await
        .unwrap();
    let mut unlabel = Delta::default();
    unlabel.remove(SID);
    store.apply(&removed_key, &unlabel, now).await.unwrap();

    let refused = record(now);
    let refused_key = create(&*store, &refused).await;
    let mut too_big = labelled("a");
    too_big.set("blob", "x".repeat(100).into());
    too_big.max_data_bytes = Some(50);
    assert!(store.apply(&refused_key, &too_big, now).await.is_err());

    assert_eq!(store.revoke_label("oidc_sid", "a", now).await.unwrap(), 4);
    for key in [created_key, applied_key, taken_key, rotated_key] {
        assert_eq!(store.load(&key, now).await.unwrap(), Loaded::Missing);
    }
    for key in [other_key, removed_key, refused_key] {
        live(&*store, &key, now).await;
    }
    assert_eq!(store.revoke_label("oidc_sid", "a", now).await.unwrap(), 0);
    assert_eq!(store.revoke_label("oidc_sid", "b", now).await.unwrap(), 1);
    assert_eq!(store.count(now).await.unwrap(), 2);
}

/// The never-miss rule: a revoke by label racing rotations of the labelled
/// sessions still ends every one of them, under whatever token it moved to.
pub async fn revoke_by_label_catches_sessions_rotated_meanwhile(store: Arc<dyn SessionStore>) {
    let now = base();
    for round in 0..10 {
        let value = format!("race-{round}");
        let mut handles = Vec::new();
        let mut keys = Vec::new();
        for _ in 0..4 {
            let mut rec = record(now);
            rec.data.insert(SID.into(), value.clone().into());
            keys.push(create(&*store, &rec).await);
            handles.push(rec.handle);
        }
        let rotations: Vec<_> = keys
            .into_iter()
            .map(|mut key| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    for _ in 0..5 {
                        let next = key_for(key.handle());
                        match store.rotate(&key, &next, &Delta::default(), now).await {
                            Ok(Rotated::Updated { .. }) => key = next,
                            _ => return,
                        }
                    }
                })
            })
            .collect();
        let ended = store.revoke_label("oidc_sid", &value, now).await.unwrap();
        for rotation in rotations {
            rotation.await.unwrap();
        }
        assert_eq!(ended, 4, "round {round}");
        for handle in &handles {
            assert!(
                store.load_handle(handle, now).await.unwrap().is_none(),
                "round {round}: a labelled session survived"
            );
        }
    }
}
