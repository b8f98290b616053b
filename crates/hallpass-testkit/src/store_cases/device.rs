//! Device binding (DBSC) in the store: registration and refresh are each one atomic
//! step, checked against the binding as the store holds it (issue 16; AT-34, the
//! replayed cookie a binding defeats).

use std::sync::Arc;

use hallpass::store::{
    Admission, Applied, BoundDevice, Delta, DeltaError, DeviceChange, DeviceConflict, Incremented,
    Loaded, PrincipalChange, Rotated, SessionStore, StoreError,
};
use hallpass::time::Timestamp;

use super::{at, base, create, key_for, live, record};

const KEY: &str = r#"{"crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
const THUMBPRINT: &str = "thumbprint-of-the-device-key";

fn registration(at: Timestamp) -> Delta {
    let mut delta = Delta::default();
    delta.device = Some(DeviceChange::Register(BoundDevice::new(
        KEY, THUMBPRINT, at,
    )));
    delta
}

fn refresh(thumbprint: &str, epoch: u64, at: Timestamp) -> Delta {
    let mut delta = Delta::default();
    delta.device = Some(DeviceChange::Refresh {
        thumbprint: thumbprint.into(),
        epoch,
        at,
    });
    delta
}

fn conflict(result: Result<Applied, StoreError>) -> DeviceConflict {
    match result {
        Err(err) => match err.delta_error() {
            Some(DeltaError::Device(conflict)) => *conflict,
            other => panic!("expected a binding conflict, got {err} ({other:?})"),
        },
        Ok(applied) => panic!("expected a binding conflict, got {applied:?}"),
    }
}

/// A registration binds an unbound session (epoch 0, key and thumbprint as given);
/// a second registration is refused and changes nothing, not even the data the same
/// delta set; a refresh holds only for the bound key at the binding's epoch and moves
/// the epoch on by one, so the same proof twice (a replay) is refused the second
/// time; the binding is kept by other writes and found by the handle.
pub async fn a_binding_is_registered_once_and_refreshed_by_epoch(store: Arc<dyn SessionStore>) {
    let now = base();
    let key = create(&*store, &record(now)).await;
    assert_eq!(
        conflict(store.apply(&key, &refresh(THUMBPRINT, 0, now), now).await),
        DeviceConflict::NotBound
    );

    let Applied::Updated(bound) = store.apply(&key, &registration(now), now).await.unwrap() else {
        panic!("a live session is updated");
    };
    let binding = bound.device.as_deref().expect("bound");
    assert_eq!(
        (&*binding.key, &*binding.thumbprint, binding.epoch),
        (KEY, THUMBPRINT, 0)
    );
    assert_eq!((binding.registered_at, binding.refreshed_at), (now, now));

    let mut again = registration(at(now, 1));
    again.set("stolen", true.into());
    assert_eq!(
        conflict(store.apply(&key, &again, at(now, 1)).await),
        DeviceConflict::AlreadyBound
    );
    let stored = live(&*store, &key, at(now, 1)).await;
    assert!(!stored.data.contains_key("stolen"), "nothing of it written");
    assert_eq!(stored.version, bound.version);
    assert_eq!(stored.device.as_deref().map(|b| b.registered_at), Some(now));

    assert_eq!(
        conflict(
            store
                .apply(&key, &refresh("another-key", 0, now), now)
                .await
        ),
        DeviceConflict::OtherKey
    );
    let later = at(now, 30);
    let Applied::Updated(refreshed) = store
        .apply(&key, &refresh(THUMBPRINT, 0, later), later)
        .await
        .unwrap()
    else {
        panic!("a live session is updated");
    };
    let binding = refreshed.device.as_deref().expect("still bound");
    assert_eq!(binding.epoch, 1);
    assert_eq!(binding.refreshed_at, later);
    assert_eq!(binding.registered_at, now);
    assert_eq!(
        conflict(
            store
                .apply(&key, &refresh(THUMBPRINT, 0, later), later)
                .await
        ),
        DeviceConflict::StaleEpoch,
        "a replayed refresh"
    );

    let mut write = Delta::default();
    write.increment("views", 1);
    store.apply(&key, &write, later).await.unwrap();
    assert!(matches!(
        store.increment(&key, &write, later).await.unwrap(),
        Incremented::Counted { value: 2, .. }
    ));
    let (_, by_handle) = store
        .load_handle(&refreshed.handle, later)
        .await
        .unwrap()
        .expect("live");
    assert_eq!(by_handle.device, refreshed.device, "kept by other writes");
    let stored = live(&*store, &key, later).await;
    assert_eq!(stored.device, refreshed.device);
}

/// Of many concurrent refreshes with a proof for the same epoch, exactly one moves
/// the binding on: one bound cookie is minted per challenge.
pub async fn concurrent_refreshes_of_one_epoch_admit_one(store: Arc<dyn SessionStore>) {
    let now = base();
    let key = create(&*store, &record(now)).await;
    store.apply(&key, &registration(now), now).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.apply(&key, &refresh(THUMBPRINT, 0, now), now).await
        }));
    }
    let mut refreshed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(Applied::Updated(_)) => refreshed += 1,
            outcome => assert_eq!(conflict(outcome), DeviceConflict::StaleEpoch),
        }
    }
    assert_eq!(refreshed, 1);
    let stored = live(&*store, &key, now).await;
    assert_eq!(stored.device.as_deref().map(|b| b.epoch), Some(1));
}

/// A login and a logout (any principal change) end the binding in the same step: a
/// device proves a browser, never a user. A rotation that keeps the principal keeps
/// it, and `End` ends it.
pub async fn a_principal_change_ends_the_binding_and_a_rotation_keeps_it(
    store: Arc<dyn SessionStore>,
) {
    let now = base();
    let rec = record(now);
    let first = create(&*store, &rec).await;
    store.apply(&first, &registration(now), now).await.unwrap();

    let second = key_for(&rec.handle);
    let Rotated::Updated { record: kept, .. } = store
        .rotate(&first, &second, &Delta::default(), now)
        .await
        .unwrap()
    else {
        panic!("rotate of a live record must succeed");
    };
    assert!(kept.device.is_some(), "a plain rotation keeps the binding");

    let third = key_for(&rec.handle);
    let mut login = Delta::default();
    login.principal = Some(PrincipalChange::login("alice", Admission::default()));
    let Rotated::Updated {
        record: logged_in, ..
    } = store.rotate(&second, &third, &login, now).await.unwrap()
    else {
        panic!("the login is admitted");
    };
    assert_eq!(logged_in.device, None, "a login starts unbound");
    assert_eq!(live(&*store, &third, now).await.device, None);

    store.apply(&third, &registration(now), now).await.unwrap();
    let listed = store.list_principal("alice", now).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].device_bound_at,
        Some(now),
        "a list shows the binding"
    );
    let mut logout = Delta::default();
    logout.principal = Some(PrincipalChange::Clear);
    let Applied::Updated(anonymous) = store.apply(&third, &logout, now).await.unwrap() else {
        panic!("a live session is updated");
    };
    assert_eq!(anonymous.device, None, "a logout ends the binding");

    store.apply(&third, &registration(now), now).await.unwrap();
    let mut end = Delta::default();
    end.device = Some(DeviceChange::End);
    store.apply(&third, &end, now).await.unwrap();
    assert_eq!(live(&*store, &third, now).await.device, None);
}

/// A refresh racing a revoke of the session never leaves a live session behind: it
/// is either refused as gone (and mints nothing) or happened before the revoke,
/// which then ends the session it refreshed.
pub async fn a_refresh_racing_a_revoke_never_outlives_it(store: Arc<dyn SessionStore>) {
    let now = base();
    for round in 0..10 {
        let rec = record(now);
        let key = create(&*store, &rec).await;
        store.apply(&key, &registration(now), now).await.unwrap();
        let refreshing = {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.apply(&key, &refresh(THUMBPRINT, 0, now), now).await })
        };
        let revoking = {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.revoke(&rec.handle).await })
        };
        let refreshed = refreshing.await.unwrap().unwrap();
        assert!(
            revoking.await.unwrap().unwrap(),
            "round {round}: the revoke found the session"
        );
        assert!(
            matches!(refreshed, Applied::Updated(_) | Applied::Gone),
            "round {round}: {refreshed:?}"
        );
        assert!(
            !matches!(store.load(&key, at(now, 1)).await.unwrap(), Loaded::Live(_)),
            "round {round}: the session is gone"
        );
        assert_eq!(
            store
                .apply(&key, &refresh(THUMBPRINT, 1, now), now)
                .await
                .unwrap(),
            Applied::Gone,
            "round {round}: a later refresh finds nothing"
        );
    }
}
