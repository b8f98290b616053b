//! HTTP-level conformance cases: every lifecycle rule of DESIGN.md, in-process, over
//! any store. Each takes a fresh, empty store.

use std::time::Duration;

use http::Method;

use crate::app::TestApp;

mod accounts;
mod authentication;
mod cookies;
mod device;
mod failures;
mod flash;
mod labels;
mod lifecycle;
mod rotation;

pub use accounts::*;
pub use authentication::*;
pub use cookies::*;
pub use device::*;
pub use failures::*;
pub use flash::*;
pub use labels::*;
pub use lifecycle::*;
pub use rotation::*;

pub(crate) const MINUTE: Duration = Duration::from_secs(60);

pub(crate) fn assert_session_cookie_attributes(set_cookie: &str) {
    // SR-06…SR-10: Secure, HttpOnly, SameSite=Strict, Path=/, no Domain, no Max-Age.
    let attrs: Vec<&str> = set_cookie.split("; ").skip(1).collect();
    assert_eq!(
        attrs,
        ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"],
        "{set_cookie}"
    );
    assert!(set_cookie.starts_with("__Host-id="), "{set_cookie}");
}

/// Starts `POST /slow?key=…` with `cookie` and returns once its handler has made its
/// change and waits at the gate; release it with `app.gate.release`.
pub(crate) async fn start_slow_request(
    app: &TestApp,
    cookie: &str,
    key: &str,
) -> tokio::task::JoinHandle<crate::Reply> {
    let (app2, cookie, uri) = (app.clone(), cookie.to_owned(), format!("/slow?key={key}"));
    let slow =
        tokio::spawn(async move { app2.raw(Method::POST, &uri, &[cookie.as_bytes()]).await });
    app.gate.entered.notified().await;
    slow
}

/// Defines one `#[tokio::test]` per HTTP-level case, each on a fresh store made by
/// `$make`, on axum (the default) or on the framework named with `on = …`.
///
/// ```
/// mod memory_http {
///     hallpass_testkit::http_conformance!(async { hallpass::MemoryStore::new() });
/// }
/// mod memory_http_on_actix {
///     hallpass_testkit::http_conformance!(async { hallpass::MemoryStore::new() }, on = Actix);
/// }
/// ```
#[macro_export]
macro_rules! http_conformance {
    ($make:expr) => {
        $crate::http_conformance!($make, on = Axum);
    };
    ($make:expr, on = $framework:ident) => {
        $crate::http_conformance!(@cases $make; $framework; http_cases;
            counter_counts_visits, untouched_request_costs_no_store_call, logout_and_rotate_are_one_store_call,
            empty_sessions_are_never_stored,
            idle_timeout_ends_the_session, absolute_timeout_beats_activity_and_touch_is_throttled,
            login_rotates_and_keeps_data, login_as_another_principal_flushes_data,
            logout_deletes_and_clears_the_cookie, slow_write_after_logout_does_not_resurrect,
            concurrent_http_increments_are_exact, concurrent_requests_keep_each_others_changes,
            forged_cookies_get_nothing, dead_token_is_never_written_to, cookie_moved_to_another_name_is_rejected,
            spoofed_cookie_names_are_ignored, duplicate_session_cookies_are_never_resolved_by_order,
            oversized_cookie_header_gets_431, store_down_on_load_fails_closed, failed_save_replaces_the_response,
            remember_me_sets_max_age_from_the_absolute_deadline, remember_me_ends_with_a_switch_of_principal,
            a_stale_request_never_deletes_a_fresher_cookie, list_and_revoke_sessions,
            session_cap_rejects_or_evicts, client_binding_policies, same_site_lax_is_emitted,
            host_http_prefix_carries_the_session, partitioned_cookies_are_set_and_deleted_partitioned,
            events_follow_the_lifecycle, invalid_unknown_expired_and_revoked_look_alike,
            oversized_data_is_refused_and_nothing_is_stored, flash_values_show_once_across_a_redirect,
            step_up_refreshes_the_login_and_its_level,
            periodic_rotation_keeps_the_replaced_token_for_its_grace,
            a_replayed_token_ends_the_session_on_every_server,
            two_servers_rotating_at_once_leave_one_winner,
            revoke_by_label_is_a_federated_logout,
            a_bound_session_lives_on_proofs_es256, a_bound_session_lives_on_proofs_rs256,
            registrations_that_must_bind_nothing, refreshes_that_must_mint_nothing,
            the_binding_ends_with_the_session, a_bound_session_may_live_longer,
            a_refresh_follows_a_rotation
        );
        $crate::http_conformance!(@cases $make; $framework; race_cases;
            rotation_races_concurrent_requests, revoke_all_races_concurrent_logins,
            cancelled_commits_on_a_slow_store_are_all_or_nothing,
            concurrent_writers_cannot_pass_the_data_bound, concurrent_logins_never_pass_the_cap,
            revoke_others_races_a_relogin, revoke_by_handle_races_a_relogin,
            a_credentials_change_defeats_a_login_in_flight,
            credentials_change_ends_others_even_if_revoked_meanwhile
        );
    };
    (@cases $make:expr; $framework:ident; $module:ident; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store: ::std::sync::Arc<dyn ::hallpass::store::SessionStore> = ::std::sync::Arc::new($make.await);
                $crate::$module::$case($crate::Framework::$framework, store).await;
            }
        )*
    };
}
