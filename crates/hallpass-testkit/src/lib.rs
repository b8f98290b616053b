//! The hallpass conformance suite: one set of cases, run against every store (house rule H20 in CONTRIBUTING.md).
//!
//! - [`store_cases`]: the store contract (insert-if-absent, update-if-present,
//!   atomic rotation, exact concurrent increments, purge in batches, …).
//! - [`contract_cases`]: what a store does inside its atomic step — the data bound,
//!   the cap and generation under concurrent logins, revokes racing rotations.
//! - [`http_cases`]: every lifecycle rule, through the real tower layer and axum
//!   extractor, in-process.
//! - [`fault_cases`]: a real server stopped and started under load.
//! - [`race_cases`]: rotation, revoke-all and cut-off commits racing other requests.
//!
//! A store crate runs both with two lines in `tests/conformance.rs`:
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
pub mod fault_cases;
pub mod http_cases;
pub mod instrumented;
pub mod isolation;
pub mod race_cases;
pub mod store_cases;

pub use app::{Browser, Reply, TestApp};
pub use instrumented::InstrumentedStore;

/// The workspace README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
