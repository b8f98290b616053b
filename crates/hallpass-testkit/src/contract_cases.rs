//! Store-level cases of the guarantees that live inside a store's atomic step (SR-29,
//! SR-25, SR-26, SR-34, SR-43): the data bound against the stored record, the cap and
//! the generation under concurrent logins, and revokes that a concurrent rotation
//! cannot dodge. [`store_conformance!`](crate::store_conformance) runs them on every
//! store, beside [`store_cases`](crate::store_cases).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hallpass::Handle;
use hallpass::config::CapPolicy;
use hallpass::store::{
    Admission, Applied, Created, Delta, DeltaError, PrincipalChange, Record, Refusal, Rotated,
    SessionCap, SessionStore, StoreKey,
};
use hallpass::time::Timestamp;

const IDLE: Duration = Duration::from_secs(60);
const ABSOLUTE: Duration = Duration::from_secs(600);

fn base() -> Timestamp {
    hallpass::time::Clock::now(&hallpass::time::SystemClock)
}

fn record(now: Timestamp) -> Record {
    Record::new(Handle::generate(), now, IDLE, ABSOLUTE)
}

fn owned(now: Timestamp, principal: &str) -> Record {
    let mut record = record(now);
    record.principal = Some(principal.into());
    record
}

async fn create(store: &dyn SessionStore, record: &Record) -> StoreKey {
    let key = StoreKey::random(&record.handle);
    assert_eq!(
        store
            .create(&key, record, &Admission::default())
            .await
            .unwrap(),
        Created::INSERTED
    );
    key
}

fn bounded(max: usize) -> Delta {
    let mut delta = Delta::default();
    delta.max_data_bytes = Some(max);
    delta
}

fn login(principal: &str, admission: Admission) -> Delta {
    let mut delta = Delta::default();
    delta.principal = Some(PrincipalChange::login(principal, admission));
    delta
}

fn handles(list: &[hallpass::SessionSummary]) -> Vec<Handle> {
    list.iter().map(|s| s.handle).collect()
}

/// SR-34: the data bound is checked against the record as the store holds it when
/// it applies the delta, not as the writer last saw it; a delta over it changes
/// nothing. Every store measures [`Record::data_size`] the same way, increments
/// included.
pub async fn data_bound_holds_against_the_stored_record(store: Arc<dyn SessionStore>) {
    let now = base();
    let mut rec = record(now);
    rec.data.insert("a".into(), "x".repeat(10).into());
    let key = create(&*store, &rec).await;
    // {"a": 12 bytes of JSON} is 13; each new 10-character string adds 13.
    let mut first = bounded(30);
    first.set("b", "y".repeat(10).into());
    let Applied::Updated(after) = store.apply(&key, &first, now).await.unwrap() else {
        panic!("26 bytes fit in 30");
    };
    assert_eq!(after.data_size(), 26);
    // A second writer that saw only {"a"} would think 26 bytes fit: the store knows 39.
    let mut second = bounded(30);
    second.set("c", "z".repeat(10).into());
    let err = store.apply(&key, &second, now).await.unwrap_err();
    assert_eq!(
        err.delta_error(),
        Some(&DeltaError::TooLarge { size: 39, max: 30 })
    );
    let Applied::Updated(unchanged) = store.apply(&key, &Delta::default(), now).await.unwrap()
    else {
        panic!("still live");
    };
    assert_eq!(
        unchanged.version,
        after.version + 1,
        "the refused delta wrote nothing"
    );
    assert!(!unchanged.data.contains_key("c"));
    // Shrinking first makes room in the same delta.
    let mut swap = bounded(30);
    swap.remove("a");
    swap.set("c", "z".repeat(10).into());
    assert!(matches!(
        store.apply(&key, &swap, now).await.unwrap(),
        Applied::Updated(_)
    ));
    // Increments count by their digits: 9 + 1 is one byte longer.
    let mut counter = record(now);
    counter.data.insert("n".into(), 9.into());
    let key = create(&*store, &counter).await;
    let mut up = bounded(2);
    up.increment("n", 1);
    assert_eq!(
        store.apply(&key, &up, now).await.unwrap_err().delta_error(),
        Some(&DeltaError::TooLarge { size: 3, max: 2 })
    );
    up.max_data_bytes = Some(3);
    let Applied::Updated(after) = store.apply(&key, &up, now).await.unwrap() else {
        panic!("3 bytes fit in 3");
    };
    assert_eq!(after.data["n"], 10);
}

/// SR-29: twelve logins of one principal at once under a cap of three. With
/// `RejectNew` exactly three are admitted and nine refused, nothing written for them;
/// with `EvictOldest` every login is admitted and exactly three sessions are left,
/// the nine ended reported as evicted.
pub async fn the_cap_holds_under_concurrent_logins(store: Arc<dyn SessionStore>) {
    let now = base();
    let cap = |policy| Admission::default().with_cap(SessionCap::new(3, policy));
    let creates: Vec<_> = (0..12)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let rec = owned(now, "carla");
                let key = StoreKey::random(&rec.handle);
                store
                    .create(&key, &rec, &cap(CapPolicy::RejectNew))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let (mut admitted, mut refused) = (0, 0);
    for create in creates {
        match create.await.unwrap() {
            Created::Inserted { evicted } => {
                assert!(evicted.is_empty());
                admitted += 1;
            }
            Created::Refused(Refusal::TooManySessions { max: 3 }) => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((admitted, refused), (3, 9));
    assert_eq!(store.list_principal("carla", now).await.unwrap().len(), 3);
    assert_eq!(
        store.count(now).await.unwrap(),
        3,
        "nothing written for a refusal"
    );

    // Logins by rotation of anonymous sessions, evicting.
    let mut anonymous = Vec::new();
    for _ in 0..12 {
        let rec = record(now);
        anonymous.push((create(&*store, &rec).await, rec.handle));
    }
    let logins: Vec<_> = anonymous
        .into_iter()
        .map(|(old, handle)| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let new = StoreKey::random(&handle);
                let delta = login("eve", cap(CapPolicy::EvictOldest));
                store.rotate(&old, &new, &delta, now).await.unwrap()
            })
        })
        .collect();
    let mut evicted = Vec::new();
    for task in logins {
        match task.await.unwrap() {
            Rotated::Updated { evicted: e, .. } => evicted.extend(e),
            other => panic!("{other:?}"),
        }
    }
    let live = store.list_principal("eve", now).await.unwrap();
    assert_eq!(live.len(), 3, "the cap holds");
    assert_eq!(evicted.len(), 9, "every ended session is reported once");
    assert!(handles(&live).iter().all(|h| !evicted.contains(h)));
}

/// SR-26: the generation moves with every revoke-all, and a login admitted under an
/// older generation is refused with nothing written — by create or by rotation, where
/// the old key keeps working.
pub async fn a_stale_generation_is_refused(store: Arc<dyn SessionStore>) {
    let now = base();
    assert_eq!(store.generation("gina").await.unwrap(), 0);
    let first = owned(now, "gina");
    let key = StoreKey::random(&first.handle);
    let at = |g| Admission::default().with_generation(g);
    assert_eq!(
        store.create(&key, &first, &at(0)).await.unwrap(),
        Created::INSERTED
    );
    assert_eq!(store.revoke_principal("gina", None).await.unwrap(), 1);
    assert_eq!(store.generation("gina").await.unwrap(), 1);
    let stale = owned(now, "gina");
    let stale_key = StoreKey::random(&stale.handle);
    assert_eq!(
        store.create(&stale_key, &stale, &at(0)).await.unwrap(),
        Created::Refused(Refusal::CredentialsChanged)
    );
    let anonymous = record(now);
    let old = create(&*store, &anonymous).await;
    let new = StoreKey::random(&anonymous.handle);
    let login = |g| login("gina", at(g));
    assert_eq!(
        store.rotate(&old, &new, &login(0), now).await.unwrap(),
        Rotated::Refused(Refusal::CredentialsChanged)
    );
    assert!(
        matches!(
            store.load(&old, now).await.unwrap(),
            hallpass::store::Loaded::Live(_)
        ),
        "a refused rotation leaves the old key working"
    );
    assert!(store.list_principal("gina", now).await.unwrap().is_empty());
    assert!(matches!(
        store.rotate(&old, &new, &login(1), now).await.unwrap(),
        Rotated::Updated { .. }
    ));
    assert_eq!(store.list_principal("gina", now).await.unwrap().len(), 1);
    assert_eq!(store.generation("other").await.unwrap(), 0, "per principal");
}

/// Trial numbers for a race: at least 20, and as many as one second allows (the
/// memory store's window is nanoseconds wide; a database's, milliseconds).
fn trials() -> impl Iterator<Item = u32> {
    let started = std::time::Instant::now();
    (0..).take_while(move |&trial| trial < 20 || started.elapsed() < Duration::from_secs(1))
}

/// A task rotating the session under `key` until it is gone, for at most ten
/// seconds, and a count of its rotations so far. The task yields the number of
/// rotations that succeeded, `None` when the session was still there at the end.
fn rotate_until_gone(
    store: &Arc<dyn SessionStore>,
    mut key: StoreKey,
) -> (tokio::task::JoinHandle<Option<u32>>, Arc<AtomicU32>) {
    let (store, progress) = (Arc::clone(store), Arc::new(AtomicU32::new(0)));
    let done = Arc::clone(&progress);
    let task = tokio::spawn(async move {
        let now = base();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let next = StoreKey::random(key.handle());
            match store
                .rotate(&key, &next, &Delta::default(), now)
                .await
                .unwrap()
            {
                Rotated::Updated { .. } => key = next,
                Rotated::Gone => return Some(done.load(Ordering::SeqCst)),
                other => panic!("{other:?}"),
            }
            done.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
        }
        None
    });
    (task, progress)
}

/// Waits until the rotating task has rotated `n` times: the race is then in full
/// swing, not at its start.
async fn in_full_swing(progress: &AtomicU32, n: u32) {
    while progress.load(Ordering::SeqCst) < n {
        tokio::task::yield_now().await;
    }
}

/// SR-25, AT-22: "log out everywhere else" while another of the principal's
/// sessions rotates as fast as it can: every time, the rotating session ends
/// (whatever key it has by then), the excepted one lives, and nothing of the
/// principal is left listed but it.
pub async fn revoke_all_catches_a_session_rotated_meanwhile(store: Arc<dyn SessionStore>) {
    let now = base();
    for trial in trials() {
        let principal = format!("rita{trial}");
        let keep = owned(now, &principal);
        let keep_key = create(&*store, &keep).await;
        let moving = owned(now, &principal);
        let moving_key = create(&*store, &moving).await;
        let (rotating, progress) = rotate_until_gone(&store, moving_key);
        in_full_swing(&progress, 1 + trial % 4).await;
        let revoked = store
            .revoke_principal(&principal, Some(&keep.handle))
            .await
            .unwrap();
        assert_eq!(
            revoked, 1,
            "trial {trial}: the rotating session was counted"
        );
        assert!(
            rotating.await.unwrap().is_some(),
            "trial {trial}: the rotating session survived the revoke"
        );
        assert_eq!(
            store.load_handle(&moving.handle, now).await.unwrap(),
            None,
            "trial {trial}"
        );
        assert_eq!(
            handles(&store.list_principal(&principal, now).await.unwrap()),
            vec![keep.handle]
        );
        assert!(matches!(
            store.load(&keep_key, now).await.unwrap(),
            hallpass::store::Loaded::Live(_)
        ));
    }
}

/// A revoke by handle while the session rotates as fast as it can: the revoke
/// always finds it (never "not found" for a session that lives on), and the session
/// ends under whatever key it has.
pub async fn revoke_by_handle_follows_a_rotation(store: Arc<dyn SessionStore>) {
    let now = base();
    for trial in trials() {
        let moving = owned(now, "hugo");
        let key = create(&*store, &moving).await;
        let (rotating, progress) = rotate_until_gone(&store, key);
        in_full_swing(&progress, 1 + trial % 4).await;
        assert!(
            store.revoke(&moving.handle).await.unwrap(),
            "trial {trial}: revoke said not found"
        );
        assert!(
            rotating.await.unwrap().is_some(),
            "trial {trial}: the session survived its revoke"
        );
        assert_eq!(store.load_handle(&moving.handle, now).await.unwrap(), None);
    }
    assert!(store.list_principal("hugo", now).await.unwrap().is_empty());
}

/// Principals compare byte for byte: `"ivy "`, `"IVY"` and `"ivy"` are three
/// principals with their own sessions and generations (MySQL's PAD SPACE collations
/// once made `"ivy "` list, count and revoke ivy's sessions).
pub async fn principals_compare_exactly(store: Arc<dyn SessionStore>) {
    let now = base();
    let names = ["ivy", "ivy ", "IVY", "ivy\u{a0}"];
    let mut by_name = Vec::new();
    for name in names {
        let rec = owned(now, name);
        create(&*store, &rec).await;
        by_name.push((name, rec.handle));
    }
    for (name, handle) in &by_name {
        assert_eq!(
            handles(&store.list_principal(name, now).await.unwrap()),
            vec![*handle],
            "{name:?}"
        );
    }
    assert_eq!(store.revoke_principal("ivy ", None).await.unwrap(), 1);
    assert_eq!(store.generation("ivy ").await.unwrap(), 1);
    assert_eq!(store.generation("ivy").await.unwrap(), 0);
    assert_eq!(store.list_principal("ivy", now).await.unwrap().len(), 1);
    assert_eq!(store.list_principal("IVY", now).await.unwrap().len(), 1);
    assert_eq!(store.count(now).await.unwrap(), 3);
}
