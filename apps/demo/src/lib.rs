//! `hallpass-demo`: the seed tutorials' exercises — create a session, regenerate its id
//! after login, time it out, count visits, log out and destroy it — as one real, secure
//! web application on [`hallpass`].
//!
//! The binary (`cargo run --release -p hallpass-demo`) parses its flags with
//! [`cli::Cli`], opens the store, and serves [`app::router`]. Tests build the same
//! router in-process with an injected clock, or run the binary itself.
//!
//! | module | what it holds |
//! |---|---|
//! | [`cli`] | the command line, and turning it into [`app::AppOptions`] |
//! | [`keys`] | the signing keys: `HALLPASS_KEYS`, a keys file, or a fresh key saved 0600 |
//! | [`users`] | the demo's accounts, with argon2 password hashes |
//! | [`app`] | the router: API, pages, security layers, session layer |
//! | [`backchannel`] | OpenID Connect back-channel logout on [`hallpass::Session::revoke_by_label`] |
//! | [`server`] | listening, TLS (files or self-signed), graceful shutdown |

#![cfg_attr(not(test), deny(clippy::panic))]

mod account;
mod api;
pub mod app;
pub mod backchannel;
pub mod cli;
mod csrf;
mod device;
mod error;
mod guard;
pub mod keys;
pub mod metrics;
mod page;
mod pages;
mod security;
pub mod server;
mod state;
mod times;
pub mod users;
