//! The SQLite session store for hallpass: the embedded, persistent default.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use hallpass_sql::SqlOptions;
//!
//! let store = hallpass_sql::sqlite::connect("sqlite::memory:", SqlOptions::default()).await?;
//! # let _ = store;
//! # Ok::<(), hallpass_sql::ConnectError>(())
//! # }).unwrap();
//! ```
//!
//! `sqlite://path/to/file.db` creates the file if missing and runs it in WAL mode;
//! `sqlite::memory:` keeps everything in one connection's memory (tests, demos). A
//! delta is one `BEGIN IMMEDIATE` transaction (SQLite's database-wide write lock, taken
//! up front so two writers never deadlock upgrading a read lock): read the row, apply
//! the delta, write it back. WAL keeps the file consistent if the process is killed
//! mid-write.

use std::str::FromStr;

use crate::dialect::{Dialect, Flavor};
use crate::error::store_error;
use crate::store::Migrations;
use crate::{ConnectError, SqlOptions, SqlStore};
use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// The migration files, in order.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../sql/sqlite/001_sessions.sql")),
    (2, include_str!("../sql/sqlite/002_principals.sql")),
    (3, include_str!("../sql/sqlite/003_authentication.sql")),
    (4, include_str!("../sql/sqlite/004_rotation.sql")),
    (5, include_str!("../sql/sqlite/005_labels.sql")),
    (6, include_str!("../sql/sqlite/006_device.sql")),
];

/// A SQLite session store.
pub type SqliteStore = SqlStore<Sqlite>;

const DATABASE: &str = "SQLite";

/// The SQLite statements for `options`' table prefix.
#[must_use]
pub(crate) fn dialect(options: &SqlOptions) -> Dialect {
    let mut dialect = Dialect::template(
        options,
        Flavor {
            numbered_placeholders: false,
            greatest_least: ("max", "min"),
            delete_returning: true,
            // BEGIN IMMEDIATE already holds the write lock: a plain SELECT is locked.
            select_for_update: false,
        },
    );
    dialect.begin_write = Some("BEGIN IMMEDIATE".into());
    let p = options.table("principals");
    dialect.principal_lock = format!(
        "INSERT INTO {p} (principal, generation) VALUES (?, 0) \
         ON CONFLICT (principal) DO UPDATE SET generation = generation RETURNING generation"
    )
    .into();
    dialect
}

/// Opens (creating if needed) the database at `url` and (unless disabled) migrates.
///
/// # Errors
///
/// [`ConnectError`] saying which step failed.
pub async fn connect(url: &str, options: SqlOptions) -> Result<SqliteStore, ConnectError> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.split('?').next().is_none_or(str::is_empty) {
        let message =
            "the URL names no database file: use sqlite://path/to/file.db or sqlite::memory:";
        return Err(ConnectError::Url {
            database: DATABASE,
            source: sqlx::Error::Configuration(message.into()),
        });
    }
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let mut connect_options = SqliteConnectOptions::from_str(url)
        .map_err(|source| ConnectError::Url {
            database: DATABASE,
            source,
        })?
        .create_if_missing(true)
        .busy_timeout(options.call_timeout());
    // No ping before each use: a file database has no connection to lose.
    let mut pool = SqlitePoolOptions::new()
        .acquire_timeout(options.call_timeout())
        .test_before_acquire(false);
    if in_memory {
        // One connection that never closes: the database lives as long as it does.
        pool = pool
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
    } else {
        // WAL with synchronous=FULL: every commit is on disk before it is
        // acknowledged, so a logout or revoke the client was told about is not undone
        // by a power loss (NORMAL may lose the last commits). Its cost is one fsync
        // per write: counter requests ran at 0.31 x and logins at 0.42 x NORMAL's
        // rate in the bench, reads the same (docs/PERFORMANCE.md, stop 24).
        connect_options = connect_options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        pool = pool.max_connections(options.max_connections());
    }
    let pool = pool
        .connect_with(connect_options)
        .await
        .map_err(|err| ConnectError::Connect {
            database: DATABASE,
            source: store_error(err),
        })?;
    let store = SqlStore::new(pool, dialect(&options), options.clone(), "sqlite");
    if options.migrate() {
        let migrations = Migrations::new(&options, ["?", "?"], MIGRATIONS.iter().copied());
        store.migrate(&migrations, DATABASE).await?;
    }
    Ok(store)
}
