//! Sessions as a set: by principal (list, revoke, index), paged through, counted
//! and purged in batches.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use hallpass::Handle;
use hallpass::store::{
    Admission, Applied, Delta, Loaded, PrincipalChange, Record, Rotated, SessionStore,
    StoreErrorKind,
};
use hallpass::time::Timestamp;

use super::{ABSOLUTE, IDLE, at, base, create, key_for, live, record};

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
            rec.principal = Some(format!("user{}", n % 2).into());
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
