//! The hallpass SQL session stores: SQLite (the embedded, persistent default),
//! PostgreSQL and MySQL/MariaDB, one store written once over sqlx, each database
//! behind its own crate feature.
//!
//! | feature | module | URL |
//! |---|---|---|
//! | `sqlite` | [`sqlite`] | `sqlite://path/to/file.db`, `sqlite::memory:` |
//! | `postgres` | [`postgres`] | `postgres://user@host/db` |
//! | `mysql` | [`mysql`] | `mysql://user@host/db` (MySQL 8, MariaDB 10.6+) |
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use hallpass::{SessionConfig, SessionLayer, Key};
//! use hallpass_sql::SqlOptions;
//!
//! let store = hallpass_sql::sqlite::connect("sqlite::memory:", SqlOptions::default()).await?;
//! let layer = SessionLayer::new(store, SessionConfig::new(Key::generate()));
//! # let _ = layer;
//! # Ok::<(), hallpass_sql::ConnectError>(())
//! # }).unwrap();
//! ```
//!
//! Each dialect module holds only what differs: its migrations (`sql/<dialect>/`),
//! its `connect` and the few statements that differ from the shared template. The
//! row shape, the locking, the error mapping and the call timeouts are written once.
//!
//! # The row
//!
//! One table, `<prefix>sessions`, one row per session:
//!
//! | column | holds |
//! |---|---|
//! | `token_hash` | `SHA-256(token)`, 32 bytes, primary key (never the token) |
//! | `handle` | the public handle, 16 bytes, unique |
//! | `principal` | the logged-in user or NULL; indexed with `created_at` |
//! | `data` | the data map as a JSON object (text) |
//! | `created_at`, `last_seen_at`, `idle_deadline`, `absolute_deadline` | Unix milliseconds |
//! | `expires_at` | `min(idle_deadline, absolute_deadline)`; indexed, for purge and count |
//! | `version` | bumped by every delta |
//! | `remember`, `client_ip`, `user_agent` | "remember me" and the client shown in session lists |
//! | `authentication` | when and how the principal last authenticated (JSON: `at`, `level`, `methods`), or NULL |
//! | `rotation` | the last token rotation (JSON: `at`, and `replaced`, the hex SHA-256 of the token a periodic rotation replaced), or NULL |
//! | `device` | the device binding, DBSC (JSON: `key`, the public JWK; `thumbprint`; `epoch`; `registered_at`; `refreshed_at`), or NULL |
//!
//! A delta is applied by locking the row (`SELECT … FOR UPDATE`, or SQLite's
//! `BEGIN IMMEDIATE`), applying [`hallpass::store::Delta::apply_to`] — the one reference
//! semantics, data bound included — and writing the row back, in one transaction:
//! concurrent deltas to one session serialize on the row lock, so none is lost and
//! `increment` is exact.
//!
//! A second table, `<prefix>principals` (principal, generation), holds one row per
//! principal that ever logged in. Whatever changes which sessions a principal has
//! locks that row first, then the session rows: a login (its generation check and its
//! cap, counted after the lock), a rotation of one of its sessions (in place: the row
//! keeps its identity and gets the new `token_hash`), and "log out everywhere", which
//! moves the generation and deletes in the same transaction. So a revoke and a
//! rotation queue on the principal's row, and the revoke's DELETE sees the session
//! under its new key; a login checked against an old generation is refused. MySQL
//! runs its sessions at READ COMMITTED, as PostgreSQL does, so a statement after the
//! lock sees what committed before it; a principal compares byte for byte there too
//! (a NO PAD binary collation).
//!
//! # When the server is down
//!
//! Every call runs under [`SqlOptions::with_call_timeout`]. sqlx's pool retries a
//! refused connection until that deadline (it takes a refusal for a server still
//! starting up), so on its own a PostgreSQL or MySQL server that is down would make
//! every request wait out the whole timeout for its 503. A breaker stops that: a call
//! that fails unavailable or times out starts a probe (one plain connect, outside the
//! pool); if the probe cannot connect, every call fails at once with
//! [`StoreErrorKind::Unavailable`](hallpass::store::StoreErrorKind::Unavailable) (503)
//! until a probe, every 200 ms, connects again. A probe that connects changes
//! nothing: a slow server that still answers sheds no load. Measured by the restart
//! tests (`tests/postgres_restart.rs`, `tests/mysql_restart.rs`, 1 s call timeout):
//! the median 503 during a three-second outage took 1.0 s without the breaker and
//! 0.1 ms with it.

#![cfg_attr(docsrs, feature(doc_cfg))]
// Without a database feature the crate holds the shared code and no store that uses it.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code, unused_imports)
)]

mod breaker;
mod dialect;
mod error;
mod options;
mod row;
mod store;

#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub mod mysql;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;

pub use error::ConnectError;
pub use options::{InvalidPrefix, SqlOptions};
pub use store::SqlStore;
