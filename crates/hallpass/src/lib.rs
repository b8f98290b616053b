#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), forbid(clippy::panic))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cleanup;
mod client_ip;
mod clock;
mod codec;
mod config;
mod context;
pub mod cookie_header;
mod data;
mod delta;
pub mod engine;
mod error;
mod events;
#[cfg(feature = "axum")]
mod extract;
mod keyring;
mod layer;
#[doc(hidden)]
pub mod __private {
    pub use crate::private::*;
}
mod private;
mod record;
mod session;
pub mod store;
mod token;

pub use cleanup::{CleanupConfig, purge_expired, spawn_cleanup};
pub use clock::{Clock, ManualClock, SystemClock};
pub use codec::{FORMAT_VERSION, VALUE_LEN};
pub use config::{
    BindingPolicy, CapPolicy, ClientBinding, ConfigError, LoadFailure, SameSite, SessionConfig,
};
pub use data::Data;
pub use delta::{Admission, Delta, DeltaError, Op, PrincipalChange, SessionCap, Touch};
pub use engine::{CommitError, SessionEngine};
pub use error::SessionError;
pub use events::{Event, InvalidReason, RevokedBy, RotationReason, SessionRef};
#[cfg(feature = "axum")]
pub use extract::MissingSessionLayer;
pub use keyring::{Key, KeyError, Keyring, MAX_KEY_LEN, MIN_KEY_LEN};
pub use layer::{ClientAddr, ResponseFuture, SessionLayer, SessionService};
pub use record::{ClientMeta, Expiry, RECORD_FORMAT_VERSION, Record, RecordDecodeError, Timestamp};
pub use session::{LoginTicket, Session};
pub use store::{
    Applied, Created, Deleted, Incremented, Loaded, MemoryStore, MemoryStoreConfig, Refusal,
    Rotated, SessionPage, SessionStore, SessionSummary, StoreError, StoreErrorKind, StoreFuture,
};
pub use token::{Handle, InvalidHandle, StoreKey, Token};
