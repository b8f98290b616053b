//! Store-level conformance cases (SR-43, H20). Each takes a fresh, empty store.
//!
//! Times are real wall-clock times moved forward logically, so stores that also keep
//! a server-side TTL (Redis) see sensible deadlines; every deadline check must use
//! the `now` passed in.

use std::time::Duration;

use hallpass::Handle;
use hallpass::store::{Admission, Created, Loaded, Record, SessionStore, StoreKey};
use hallpass::time::Timestamp;

mod authentication;
mod counters;
mod device;
mod flash;
mod labels;
mod listing;
mod records;
mod rotation;

pub use authentication::*;
pub use counters::*;
pub use device::*;
pub use flash::*;
pub use labels::*;
pub use listing::*;
pub use records::*;
pub use rotation::*;

pub(crate) const IDLE: Duration = Duration::from_secs(60);
pub(crate) const ABSOLUTE: Duration = Duration::from_secs(600);

pub(crate) fn base() -> Timestamp {
    hallpass::time::Clock::now(&hallpass::time::SystemClock)
}

pub(crate) fn at(base: Timestamp, secs: u64) -> Timestamp {
    base.saturating_add(Duration::from_secs(secs))
}

pub(crate) fn record(now: Timestamp) -> Record {
    Record::new(Handle::generate(), now, IDLE, ABSOLUTE)
}

/// A fresh key for a session with this handle.
pub(crate) fn key_for(handle: &Handle) -> StoreKey {
    StoreKey::random(handle)
}

/// A key no session has.
pub(crate) fn missing_key() -> StoreKey {
    key_for(&Handle::generate())
}

pub(crate) async fn create(store: &dyn SessionStore, record: &Record) -> StoreKey {
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

pub(crate) async fn live(store: &dyn SessionStore, key: &StoreKey, now: Timestamp) -> Record {
    match store.load(key, now).await.unwrap() {
        Loaded::Live(record) => Record::clone(&record),
        other => panic!("expected a live record, got {other:?}"),
    }
}

pub(crate) fn assert_not_live(outcome: &Loaded) {
    assert!(
        !matches!(outcome, Loaded::Live(_)),
        "expected no live record, got {outcome:?}"
    );
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
/// There is no opt-out: every store runs every case, the concurrent-cap one included
/// (the `admission_not_atomic` escape hatch is gone since every store admits a login
/// in one atomic step).
#[macro_export]
macro_rules! store_conformance {
    ($make:expr) => {
        $crate::store_conformance!(@cases $make;
            create_then_load, create_collision_is_reported, create_refuses_a_key_of_another_handle,
            load_after_expiry_by_either_clock,
            apply_updates_and_bumps_version, apply_refuses_a_login, failed_delta_changes_nothing,
            increment_returns_the_exact_value_and_version, a_touch_that_is_not_due_changes_no_deadline,
            concurrent_increments_are_exact, thirty_two_tasks_times_a_hundred_increments,
            concurrent_disjoint_keys_are_all_kept,
            apply_after_delete_is_gone, delete_is_idempotent, rotate_is_atomic_and_kills_the_old_key,
            rotate_of_a_missing_session_is_gone, rotate_refuses_a_new_key_of_another_handle,
            rotate_races_concurrent_writes, touch_moves_only_the_deadline,
            a_rotation_keeps_the_replaced_token_hash,
            revoke_by_label_ends_exactly_the_sessions_carrying_it,
            revoke_by_label_catches_sessions_rotated_meanwhile,
            list_and_revoke_by_principal, principal_changes_are_indexed, purge_in_batches_and_count,
            delete_races_apply_without_resurrection, list_sessions_pages_through_every_live_session,
            take_hands_a_value_out_once, concurrent_takes_hand_a_value_to_one,
            authentication_is_kept_and_never_carried_to_another_principal,
            a_binding_is_registered_once_and_refreshed_by_epoch,
            concurrent_refreshes_of_one_epoch_admit_one,
            a_principal_change_ends_the_binding_and_a_rotation_keeps_it,
            a_refresh_racing_a_revoke_never_outlives_it
        );
        $crate::store_conformance!(@cases $make; contract_cases;
            data_bound_holds_against_the_stored_record, a_stale_generation_is_refused,
            revoke_all_catches_a_session_rotated_meanwhile,
            revoke_by_handle_follows_a_rotation, principals_compare_exactly,
            the_cap_holds_under_concurrent_logins
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
