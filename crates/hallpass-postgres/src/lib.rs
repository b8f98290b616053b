//! The PostgreSQL session store for hallpass.
//!
//! ```no_run
//! # async fn run() -> Result<(), hallpass_postgres::ConnectError> {
//! use std::sync::Arc;
//! use hallpass_sql::SqlOptions;
//!
//! let store = hallpass_postgres::connect("postgres://postgres@127.0.0.1/test", SqlOptions::default()).await?;
//! let store: Arc<dyn hallpass::store::SessionStore> = Arc::new(store);
//! # let _ = store;
//! # Ok(()) }
//! ```
//!
//! The schema (`sql/001_sessions.sql`) is created by a versioned migration on connect,
//! serialized across processes by an advisory lock. A delta is one transaction:
//! `SELECT … FOR UPDATE`, apply, `UPDATE`, so concurrent deltas to one session queue on
//! the row lock and none is lost. Every call has a time limit (`SqlOptions`); when the
//! server is down calls fail fast with `StoreErrorKind::Unavailable`, and the pool
//! reconnects by itself when it returns.

use std::str::FromStr;
use std::sync::Arc;

use hallpass_sql::{Dialect, InsertConflict, Migrations, SqlOptions, SqlStore};
use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The migration files, in order.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../sql/001_sessions.sql")),
    (2, include_str!("../sql/002_principals.sql")),
];

/// A PostgreSQL session store.
pub type PostgresStore = SqlStore<Postgres>;

pub use hallpass_sql::ConnectError;

const DATABASE: &str = "PostgreSQL";

/// The PostgreSQL statements for `options`' table prefix.
#[must_use]
pub fn dialect(options: &SqlOptions) -> Dialect {
    let t = options.table("sessions");
    let p = options.table("principals");
    let select = hallpass_sql::SELECT_COLUMNS;
    let insert = hallpass_sql::INSERT_COLUMNS;
    let s = |text: String| -> Arc<str> { text.into() };
    Dialect {
        begin_write: None,
        insert_conflict: InsertConflict::NoRowsInserted,
        insert: s(format!(
            "INSERT INTO {t} ({insert}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING"
        )),
        select: s(format!("SELECT {select} FROM {t} WHERE token_hash = $1")),
        select_for_update: s(format!(
            "SELECT {select} FROM {t} WHERE token_hash = $1 FOR UPDATE"
        )),
        update: s(format!(
            "UPDATE {t} SET principal = $1, data = $2, last_seen_at = $3, idle_deadline = $4, absolute_deadline = $5, \
             expires_at = $6, version = $7, remember = $8, client_ip = $9, user_agent = $10 WHERE token_hash = $11"
        )),
        touch: s(format!(
            "UPDATE {t} SET last_seen_at = GREATEST(last_seen_at, $1), idle_deadline = LEAST($2, absolute_deadline), \
             expires_at = LEAST($3, absolute_deadline) WHERE token_hash = $4 AND expires_at > $5"
        )),
        delete: s(format!(
            "DELETE FROM {t} WHERE token_hash = $1 RETURNING principal"
        )),
        delete_returns: true,
        select_by_handle: s(format!(
            "SELECT token_hash, {select} FROM {t} WHERE handle = $1"
        )),
        delete_by_handle: s(format!("DELETE FROM {t} WHERE handle = $1")),
        list_principal: s(format!(
            "SELECT {select} FROM {t} WHERE principal = $1 AND expires_at > $2 ORDER BY created_at, handle"
        )),
        list_page: s(format!(
            "SELECT {select} FROM {t} WHERE handle > $1 AND expires_at > $2 ORDER BY handle LIMIT $3"
        )),
        delete_principal: s(format!("DELETE FROM {t} WHERE principal = $1")),
        delete_principal_except: s(format!(
            "DELETE FROM {t} WHERE principal = $1 AND handle <> $2"
        )),
        purge: s(format!(
            "DELETE FROM {t} WHERE token_hash IN (SELECT token_hash FROM {t} WHERE expires_at <= $1 LIMIT $2)"
        )),
        count: s(format!("SELECT COUNT(*) FROM {t} WHERE expires_at > $1")),
        update_if_version: s(format!(
            "UPDATE {t} SET principal = $1, data = $2, last_seen_at = $3, idle_deadline = $4, \
             absolute_deadline = $5, expires_at = $6, version = $7, remember = $8, client_ip = $9, \
             user_agent = $10 WHERE token_hash = $11 AND version = $12"
        )),
        rotate: s(format!(
            "UPDATE {t} SET token_hash = $1, principal = $2, data = $3, last_seen_at = $4, idle_deadline = $5, \
             absolute_deadline = $6, expires_at = $7, version = $8, remember = $9, client_ip = $10, user_agent = $11 \
             WHERE token_hash = $12"
        )),
        principal_of: s(format!("SELECT principal FROM {t} WHERE token_hash = $1")),
        principal_lock: s(format!(
            "INSERT INTO {p} (principal, generation) VALUES ($1, 0) \
             ON CONFLICT (principal) DO UPDATE SET generation = {p}.generation RETURNING generation"
        )),
        principal_read: None,
        principal_bump: s(format!(
            "UPDATE {p} SET generation = generation + 1 WHERE principal = $1"
        )),
        generation: s(format!("SELECT generation FROM {p} WHERE principal = $1")),
    }
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
            source: hallpass_sql::store_error(err),
        })?;
    let store = SqlStore::new(pool, dialect(&options), options.clone(), "postgres");
    if options.migrate() {
        let lock = format!(
            "SELECT pg_advisory_xact_lock(hashtext('{}'))",
            options.table("migrate")
        );
        let migrations = Migrations::new(
            &options,
            ["$1", "$2"],
            MIGRATIONS
                .iter()
                .map(|(v, t)| (*v, (*t).to_owned()))
                .collect(),
        )
        .with_lock(lock);
        store
            .migrate(&migrations)
            .await
            .map_err(|source| ConnectError::Migrate {
                database: DATABASE,
                source,
            })?;
    }
    Ok(store)
}
