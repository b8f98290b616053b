//! What the engine tells the world about a session event: a `tracing` event (target
//! `hallpass::event`), the application's hook, and the metrics ([`emit`]).
//!
//! Metrics for operators (crate feature `metrics`), on the [`metrics`] facade, so a
//! Prometheus or an OpenTelemetry exporter both work: counters of the session
//! lifecycle, of refused cookies and of engine refusals, the latency and the errors
//! of every store call, and a gauge of live sessions. `docs/METRICS.md` lists every
//! metric with its type, labels and when it moves; a test keeps the two in step.
//!
//! Without the feature every function here is empty and inlined away, and the store is
//! not wrapped: the feature costs nothing when off.
//!
//! [`metrics`]: https://docs.rs/metrics

use std::sync::Arc;

use http::StatusCode;

use crate::events::{Event, EventHook};
use crate::store::SessionStore;

/// Whether metrics are compiled in: events are then built for them even with no hook
/// and no `tracing` subscriber.
pub(crate) const ON: bool = cfg!(feature = "metrics");

/// The metric names (OpenTelemetry style; a Prometheus exporter writes `_` for `.`).
#[cfg(feature = "metrics")]
mod names {
    pub(super) const CREATED: &str = "hallpass.session.created";
    pub(super) const AUTHENTICATED: &str = "hallpass.session.authenticated";
    pub(super) const ROTATED: &str = "hallpass.session.rotated";
    pub(super) const LOGGED_OUT: &str = "hallpass.session.logged_out";
    pub(super) const REVOKED: &str = "hallpass.session.revoked";
    pub(super) const EXPIRED: &str = "hallpass.session.expired";
    pub(super) const BINDING_MISMATCH: &str = "hallpass.session.binding_mismatch";
    pub(super) const WRITE_DISCARDED: &str = "hallpass.session.write_discarded";
    pub(super) const TOKEN_REPLAYED: &str = "hallpass.session.token_replayed";
    pub(super) const INVALID_COOKIE: &str = "hallpass.cookie.invalid";
    pub(super) const DUPLICATE_COOKIE: &str = "hallpass.cookie.duplicate";
    pub(super) const REJECTED: &str = "hallpass.http.rejected";
    pub(super) const STORE_DURATION: &str = "hallpass.store.duration";
    pub(super) const STORE_ERRORS: &str = "hallpass.store.errors";
    pub(super) const LIVE: &str = "hallpass.sessions.live";
    pub(super) const DEVICE_REGISTERED: &str = "hallpass.device.registered";
    pub(super) const DEVICE_REFRESHED: &str = "hallpass.device.refreshed";
    pub(super) const DEVICE_PROOF_FAILED: &str = "hallpass.device.proof_failed";
    pub(super) const DEVICE_PROOF_MISSING: &str = "hallpass.device.proof_missing";
    pub(super) const DEVICE_SKIPPED: &str = "hallpass.device.refresh_skipped";
}

/// Whether a `tracing` subscriber listens to session events at all.
pub(crate) fn tracing_enabled() -> bool {
    tracing::enabled!(target: "hallpass::event", tracing::Level::WARN)
}

/// Emits `event` to `tracing`, the metrics and the hook.
pub(crate) fn emit(hook: Option<&EventHook>, event: &Event) {
    match event {
        Event::InvalidToken { .. }
        | Event::DuplicateCookie { .. }
        | Event::BindingMismatch { .. }
        | Event::TokenReplayed { .. }
        | Event::DeviceProofFailed { .. }
        | Event::DeviceProofMissing { .. } => {
            tracing::warn!(target: "hallpass::event", event = event.name(), details = ?event, "session event");
        }
        _ => {
            tracing::info!(target: "hallpass::event", event = event.name(), details = ?event, "session event");
        }
    }
    count(event);
    if let Some(hook) = hook {
        hook(event);
    }
}

/// Counts what `event` says happened.
#[inline]
fn count(event: &Event) {
    #[cfg(feature = "metrics")]
    {
        use crate::events::{InvalidReason, RevokedBy, RotationReason};
        use ::metrics::counter;
        use names::*;
        match event {
            Event::Created { .. } => counter!(CREATED).increment(1),
            Event::Authenticated { .. } => counter!(AUTHENTICATED).increment(1),
            Event::Rotated { reason, .. } => {
                let reason = match reason {
                    RotationReason::Login => "login",
                    RotationReason::Requested => "requested",
                    RotationReason::BindingMismatch => "binding_mismatch",
                    RotationReason::Periodic => "periodic",
                };
                counter!(ROTATED, "reason" => reason).increment(1);
            }
            Event::LoggedOut { .. } => counter!(LOGGED_OUT).increment(1),
            Event::Revoked { count, by, .. } => {
                let by = match by {
                    RevokedBy::User => "user",
                    RevokedBy::SessionCap => "session_cap",
                    RevokedBy::BindingMismatch => "binding_mismatch",
                    RevokedBy::TokenReplay => "token_replay",
                    RevokedBy::Label => "label",
                };
                counter!(REVOKED, "by" => by).increment(*count);
            }
            Event::Expired { reason, .. } => {
                counter!(EXPIRED, "reason" => reason.as_str()).increment(1);
            }
            Event::BindingMismatch { .. } => counter!(BINDING_MISMATCH).increment(1),
            Event::WriteDiscarded { .. } => counter!(WRITE_DISCARDED).increment(1),
            Event::TokenReplayed { .. } => counter!(TOKEN_REPLAYED).increment(1),
            Event::InvalidToken { reason, .. } => {
                let reason = match reason {
                    InvalidReason::Malformed => "malformed",
                    InvalidReason::UnknownVersion => "unknown_version",
                    InvalidReason::BadSignature => "bad_signature",
                    InvalidReason::UnknownSession => "unknown_session",
                    InvalidReason::HandleMismatch => "handle_mismatch",
                };
                counter!(INVALID_COOKIE, "reason" => reason).increment(1);
            }
            Event::DuplicateCookie { .. } => counter!(DUPLICATE_COOKIE).increment(1),
            Event::DeviceRegistered { .. } => counter!(DEVICE_REGISTERED).increment(1),
            Event::DeviceRefreshed { .. } => counter!(DEVICE_REFRESHED).increment(1),
            Event::DeviceProofFailed { reason, .. } => {
                counter!(DEVICE_PROOF_FAILED, "reason" => reason.as_str()).increment(1);
            }
            Event::DeviceProofMissing { .. } => counter!(DEVICE_PROOF_MISSING).increment(1),
            Event::DeviceRefreshSkipped { .. } => counter!(DEVICE_SKIPPED).increment(1),
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = event;
}

/// Counts a response the engine's failure policy decided: a refused request (431)
/// or a replaced one (500, 503).
#[inline]
pub(crate) fn rejected(status: StatusCode) {
    #[cfg(feature = "metrics")]
    {
        let status = match status.as_u16() {
            431 => "431",
            500 => "500",
            503 => "503",
            _ => "other",
        };
        ::metrics::counter!(names::REJECTED, "status" => status).increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = status;
}

/// Sets the gauge of live sessions (the cleanup task counts them after each purge).
#[inline]
pub(crate) fn live_sessions(count: u64) {
    #[cfg(feature = "metrics")]
    {
        #[expect(clippy::cast_precision_loss, reason = "a gauge is an f64")]
        ::metrics::gauge!(names::LIVE).set(count as f64);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = count;
}

/// `store`, timed and error-counted call by call when metrics are on; as it is when
/// they are off.
pub(crate) fn metered(store: Arc<dyn SessionStore>) -> Arc<dyn SessionStore> {
    #[cfg(feature = "metrics")]
    {
        Arc::new(metered::Metered(store))
    }
    #[cfg(not(feature = "metrics"))]
    store
}

#[cfg(feature = "metrics")]
mod metered {
    //! [`Metered`]: a store wrapper that records each call's latency and errors.

    use std::sync::Arc;
    use std::time::Instant;

    use super::names::{STORE_DURATION, STORE_ERRORS};
    use crate::delta::{Admission, Delta, Touch};
    use crate::record::Record;
    use crate::store::{
        Applied, Created, Deleted, Incremented, Loaded, Rotated, SessionPage, SessionStore,
        SessionSummary, StoreErrorKind, StoreFuture, Taken,
    };
    use crate::time::Timestamp;
    use crate::token::{Handle, StoreKey};

    #[derive(Debug)]
    pub(super) struct Metered(pub(super) Arc<dyn SessionStore>);

    fn kind(kind: StoreErrorKind) -> &'static str {
        match kind {
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::Timeout => "timeout",
            StoreErrorKind::CapacityExceeded => "capacity_exceeded",
            StoreErrorKind::InvalidData => "invalid_data",
            StoreErrorKind::Backend => "backend",
        }
    }

    /// `call`, with its duration recorded under `operation` and its error counted.
    fn timed<'a, T: 'a>(operation: &'static str, call: StoreFuture<'a, T>) -> StoreFuture<'a, T> {
        Box::pin(async move {
            let start = Instant::now();
            let result = call.await;
            ::metrics::histogram!(STORE_DURATION, "operation" => operation)
                .record(start.elapsed().as_secs_f64());
            if let Err(err) = &result {
                ::metrics::counter!(STORE_ERRORS, "operation" => operation, "kind" => kind(err.kind()))
                    .increment(1);
            }
            result
        })
    }

    impl SessionStore for Metered {
        fn create<'a>(
            &'a self,
            key: &'a StoreKey,
            record: &'a Record,
            admission: &'a Admission,
        ) -> StoreFuture<'a, Created> {
            timed("create", self.0.create(key, record, admission))
        }

        fn create_shared<'a>(
            &'a self,
            key: &'a StoreKey,
            record: &'a mut Arc<Record>,
            admission: &'a Admission,
        ) -> StoreFuture<'a, Created> {
            timed("create", self.0.create_shared(key, record, admission))
        }

        fn load<'a>(&'a self, key: &'a StoreKey, now: Timestamp) -> StoreFuture<'a, Loaded> {
            timed("load", self.0.load(key, now))
        }

        fn apply<'a>(
            &'a self,
            key: &'a StoreKey,
            delta: &'a Delta,
            now: Timestamp,
        ) -> StoreFuture<'a, Applied> {
            timed("apply", self.0.apply(key, delta, now))
        }

        fn increment<'a>(
            &'a self,
            key: &'a StoreKey,
            delta: &'a Delta,
            now: Timestamp,
        ) -> StoreFuture<'a, Incremented> {
            timed("increment", self.0.increment(key, delta, now))
        }

        fn take<'a>(
            &'a self,
            key: &'a StoreKey,
            delta: &'a Delta,
            now: Timestamp,
        ) -> StoreFuture<'a, Taken> {
            timed("take", self.0.take(key, delta, now))
        }

        fn touch<'a>(
            &'a self,
            key: &'a StoreKey,
            touch: Touch,
            now: Timestamp,
        ) -> StoreFuture<'a, bool> {
            timed("touch", self.0.touch(key, touch, now))
        }

        fn rotate<'a>(
            &'a self,
            old: &'a StoreKey,
            new: &'a StoreKey,
            delta: &'a Delta,
            now: Timestamp,
        ) -> StoreFuture<'a, Rotated> {
            timed("rotate", self.0.rotate(old, new, delta, now))
        }

        fn delete<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, Option<Deleted>> {
            timed("delete", self.0.delete(key))
        }

        fn load_handle<'a>(
            &'a self,
            handle: &'a Handle,
            now: Timestamp,
        ) -> StoreFuture<'a, Option<(StoreKey, Record)>> {
            timed("load_handle", self.0.load_handle(handle, now))
        }

        fn revoke<'a>(&'a self, handle: &'a Handle) -> StoreFuture<'a, bool> {
            timed("revoke", self.0.revoke(handle))
        }

        fn list_principal<'a>(
            &'a self,
            principal: &'a str,
            now: Timestamp,
        ) -> StoreFuture<'a, Vec<SessionSummary>> {
            timed("list_principal", self.0.list_principal(principal, now))
        }

        fn revoke_principal<'a>(
            &'a self,
            principal: &'a str,
            except: Option<&'a Handle>,
        ) -> StoreFuture<'a, u64> {
            timed(
                "revoke_principal",
                self.0.revoke_principal(principal, except),
            )
        }

        fn generation<'a>(&'a self, principal: &'a str) -> StoreFuture<'a, u64> {
            timed("generation", self.0.generation(principal))
        }

        fn list_sessions<'a>(
            &'a self,
            cursor: Option<&'a str>,
            limit: usize,
            now: Timestamp,
        ) -> StoreFuture<'a, SessionPage> {
            timed("list_sessions", self.0.list_sessions(cursor, limit, now))
        }

        fn purge_expired(&self, now: Timestamp, batch: usize) -> StoreFuture<'_, u64> {
            timed("purge_expired", self.0.purge_expired(now, batch))
        }

        fn count(&self, now: Timestamp) -> StoreFuture<'_, u64> {
            timed("count", self.0.count(now))
        }

        fn revoke_label<'a>(
            &'a self,
            name: &'a str,
            value: &'a str,
            now: Timestamp,
        ) -> StoreFuture<'a, u64> {
            timed("revoke_label", self.0.revoke_label(name, value, now))
        }
    }
}
