//! The hallpass conformance suite: one set of cases, run against every store (house rule H20 in CONTRIBUTING.md).
//!
//! - [`store_cases`]: the store contract (insert-if-absent, update-if-present,
//!   atomic rotation, exact concurrent increments, purge in batches, …).
//! - [`contract_cases`]: what a store does inside its atomic step — the data bound,
//!   the cap and generation under concurrent logins, revokes racing rotations.
//! - [`http_cases`]: every lifecycle rule, through a real framework adapter: the
//!   tower layer and axum extractor in-process, or the actix-web middleware and
//!   extractor over a loopback socket ([`Framework`]); the handlers are the same code
//!   on both.
//! - [`fault_cases`]: a real server stopped and started under load.
//! - [`race_cases`]: rotation, revoke-all and cut-off commits racing other requests.
//!
//! A store crate runs both with two lines in `tests/conformance.rs` (add
//! `, on = Actix` to run the HTTP cases on actix-web):
//!
//! ```
//! mod store {
//!     hallpass_testkit::store_conformance!(async { hallpass::MemoryStore::new() });
//! }
//! mod http {
//!     hallpass_testkit::http_conformance!(async { hallpass::MemoryStore::new() });
//! }
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test suite reports failures by panicking"
)]
#![allow(
    clippy::exhaustive_structs,
    clippy::must_use_candidate,
    reason = "test helpers with public fields for tests to read; not a published API"
)]

pub mod app;
pub mod contract_cases;
pub mod device;
pub mod fault_cases;
mod front;
pub mod http_cases;
pub mod instrumented;
pub mod isolation;
pub mod race_cases;
mod routes;
pub mod store_cases;

pub use app::{Browser, TestApp};
pub use front::{Framework, Reply};
pub use instrumented::InstrumentedStore;
pub use routes::Gate;

/// The workspace README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
