//! The guide: how hallpass works and how to extend it, as chapters you can read in
//! order. Every code block in it compiles (and most run) as a doctest.
//!
//! | chapter | for |
//! |---|---|
//! | [`security_model`] | everyone: what is protected, against what, and what stays your job |
//! | [`cookie_attributes`] | app authors: the cookie's name and attributes, `__Host-Http-` and `Partitioned` |
//! | [`periodic_rotation`] | app authors: re-issuing the token during use, the grace window, stolen-cookie detection |
//! | [`step_up`] | app authors: when and how the user logged in, freshness checks and step-up, NIST presets |
//! | [`labels`] | app authors: labelling sessions, federated (OpenID Connect back-channel) logout |
//! | [`flash_values`] | app authors: a notice that survives a redirect and shows exactly once |
//! | [`concurrency`] | app authors: what concurrent requests of one session see |
//! | [`key_rotation`] | operators: replacing the signing key without logging anyone out |
//! | [`implementing_a_store`] | store implementors: the contract and the conformance suite |
//! | [`writing_an_adapter`] | framework adapters: the three steps of the engine's contract |
//!
//! The repository's `ARCHITECTURE.md` has the crate map and a glossary; its
//! `docs/ASVS.md` maps every security requirement (SR-01 … SR-52) and attack
//! (AT-01 … AT-35) cited in these docs to the tests that show it.

pub mod concurrency;
pub mod cookie_attributes;
pub mod flash_values;
pub mod implementing_a_store;
pub mod key_rotation;
pub mod labels;
pub mod periodic_rotation;
pub mod security_model;
pub mod step_up;
pub mod writing_an_adapter;
