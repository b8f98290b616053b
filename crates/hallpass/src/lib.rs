#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), forbid(clippy::panic))]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Three doors. The crate root is for application authors; store implementors use
// `store`, framework adapters `engine`; the rest are modules an app reaches for when
// it needs them. Everything else is crate-private.

pub mod config;
pub mod cookie;
#[cfg(feature = "device-binding")]
#[cfg_attr(docsrs, doc(cfg(feature = "device-binding")))]
pub mod dbsc;
pub mod engine;
pub mod events;
pub mod guide;
pub mod label;
pub mod store;
pub mod time;
pub mod tower;

mod cleanup;
mod client_ip;
mod codec;
mod context;
mod data;
#[cfg(not(feature = "device-binding"))]
mod dbsc;
mod delta;
mod device;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod keyring;
mod principal;
mod random;
mod record;
mod session;
mod telemetry;
mod token;

#[doc(hidden)]
pub mod __private {
    pub use crate::private::*;
}
mod private;

pub use cleanup::{CleanupConfig, spawn_cleanup};
pub use config::{ConfigError, SessionConfig};
pub use error::SessionError;
pub use keyring::{Key, Keyring};
pub use session::{LoginTicket, Session};
pub use store::{MemoryStore, SessionSummary};
pub use token::Handle;
pub use tower::SessionLayer;
