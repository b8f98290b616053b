//! The PostgreSQL session store for hallpass.
//!
//! ```no_run
//! # async fn run() -> Result<(), hallpass_sql::ConnectError> {
//! use std::sync::Arc;
//! use hallpass_sql::SqlOptions;
//!
//! let store = hallpass_sql::postgres::connect("postgres://postgres@127.0.0.1/test", SqlOptions::default()).await?;
//! let store: Arc<dyn hallpass::store::SessionStore> = Arc::new(store);
//! # let _ = store;
//! # Ok(()) }
//! ```
//!
//! The schema (`sql/postgres/001_sessions.sql`) is created by a versioned migration on connect,
//! serialized across processes by an advisory lock. A delta is one transaction:
//! `SELECT … FOR UPDATE`, apply, `UPDATE`, so concurrent deltas to one session queue on
//! the row lock and none is lost. Every call has a time limit (`SqlOptions`); when the
//! server is down calls fail fast with `StoreErrorKind::Unavailable`, and the pool
//! reconnects by itself when it returns.

use std::str::FromStr;

use crate::dialect::{Dialect, Flavor};
use crate::error::store_error;
use crate::store::Migrations;
use crate::{ConnectError, SqlOptions, SqlStore};
use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The migration files, in order.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../sql/postgres/001_sessions.sql")),
    (2, include_str!("../sql/postgres/002_principals.sql")),
    (3, include_str!("../sql/postgres/003_authentication.sql")),
    (4, include_str!("../sql/postgres/004_rotation.sql")),
    (5, include_str!("../sql/postgres/005_labels.sql")),
];

/// A PostgreSQL session store.
pub type PostgresStore = SqlStore<Postgres>;

const DATABASE: &str = "PostgreSQL";

/// The PostgreSQL statements for `options`' table prefix.
#[must_use]
pub(crate) fn dialect(options: &SqlOptions) -> Dialect {
    Dialect::template(
        options,
        Flavor {
            numbered_placeholders: true,
            greatest_least: ("GREATEST", "LEAST"),
            delete_returning: true,
            select_for_update: true,
        },
    )
}

/// Opens a pool on `url`, checks the connection and (unless disabled) migrates.
///
/// # Errors
///
/// [`ConnectError`] saying which step failed.
pub async fn connect(url: &str, options: SqlOptions) -> Result<PostgresStore, ConnectError> {
    let connect_options = PgConnectOptions::from_str(url).map_err(|source| ConnectError::Url {
        database: DATABASE,
        source,
    })?;
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections())
        // No ping before each use: a dead connection fails its statement, which is
        // mapped to Unavailable, and the pool replaces it.
        .test_before_acquire(false)
        .acquire_timeout(options.call_timeout())
        .connect_with(connect_options)
        .await
        .map_err(|err| ConnectError::Connect {
            database: DATABASE,
            source: store_error(err),
        })?;
    let store = SqlStore::new(pool, dialect(&options), options.clone(), "postgres");
    if options.migrate() {
        let lock = format!(
            "SELECT pg_advisory_xact_lock(hashtext('{}'))",
            options.table("migrate")
        );
        let migrations =
            Migrations::new(&options, ["$1", "$2"], MIGRATIONS.iter().copied()).with_lock(lock);
        store.migrate(&migrations, DATABASE).await?;
    }
    Ok(store)
}
