//! The MySQL / MariaDB session store for hallpass.
//!
//! ```no_run
//! # async fn run() -> Result<(), hallpass_sql::ConnectError> {
//! use hallpass_sql::SqlOptions;
//!
//! let store = hallpass_sql::mysql::connect("mysql://root@127.0.0.1:3306/test", SqlOptions::default()).await?;
//! # let _ = store;
//! # Ok(()) }
//! ```
//!
//! InnoDB, `utf8mb4_bin` (principals compare byte for byte). A delta is one
//! transaction: `SELECT … FOR UPDATE`, apply, `UPDATE`; a transaction InnoDB aborts as
//! a deadlock is run again. Inserts are plain `INSERT`s whose duplicate-key error
//! reports a taken key (`INSERT IGNORE` would also swallow unrelated errors).

use std::str::FromStr;

use crate::dialect::{Dialect, Flavor, InsertConflict};
use crate::error::store_error;
use crate::row::{INSERT_COLUMNS, INSERT_VALUES};
use crate::store::Migrations;
use crate::{ConnectError, SqlOptions, SqlStore};
use sqlx::MySql;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};

/// The migration files, in order.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../sql/mysql/001_sessions.sql")),
    (2, include_str!("../sql/mysql/002_principals.sql")),
    (3, include_str!("../sql/mysql/003_authentication.sql")),
    (4, include_str!("../sql/mysql/004_rotation.sql")),
    (5, include_str!("../sql/mysql/005_labels.sql")),
    (6, include_str!("../sql/mysql/006_device.sql")),
];

/// A MySQL / MariaDB session store.
pub type MySqlStore = SqlStore<MySql>;

const DATABASE: &str = "MySQL/MariaDB";

/// The MySQL statements for `options`' table prefix.
#[must_use]
pub(crate) fn dialect(options: &SqlOptions) -> Dialect {
    let mut dialect = Dialect::template(
        options,
        Flavor {
            numbered_placeholders: false,
            greatest_least: ("GREATEST", "LEAST"),
            // No DELETE … RETURNING: the store reads the principal first.
            delete_returning: false,
            select_for_update: true,
        },
    );
    let t = options.table("sessions");
    let p = options.table("principals");
    let insert = INSERT_COLUMNS;
    // No ON CONFLICT DO NOTHING: a taken key is a unique violation.
    dialect.insert_conflict = InsertConflict::UniqueViolation;
    dialect.insert = format!("INSERT INTO {t} ({insert}) VALUES ({INSERT_VALUES})").into();
    // No LIMIT in a sub-select of the table being deleted from.
    dialect.purge =
        format!("DELETE FROM {t} WHERE expires_at <= ? ORDER BY expires_at LIMIT ?").into();
    // No RETURNING: the locked generation is read by a second statement.
    dialect.principal_lock = format!(
        "INSERT INTO {p} (principal, generation) VALUES (?, 0) \
         ON DUPLICATE KEY UPDATE generation = generation"
    )
    .into();
    dialect.principal_read =
        Some(format!("SELECT generation FROM {p} WHERE principal = ? FOR UPDATE").into());
    let l = options.table("labels");
    dialect.label_insert = format!(
        "INSERT INTO {l} (name, value, handle, indexed_at) VALUES (?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE handle = handle"
    )
    .into();
    dialect
}

/// MariaDB's binary NO PAD collation, as the migration files name it.
const MARIADB_NO_PAD: &str = "utf8mb4_nopad_bin";

/// The server's binary NO PAD collation: principals must compare byte for byte,
/// trailing spaces included (MariaDB `utf8mb4_nopad_bin`, MySQL 8 `utf8mb4_0900_bin`).
async fn no_pad_collation(store: &MySqlStore) -> Result<&'static str, ConnectError> {
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(store.pool())
        .await
        .map_err(|err| ConnectError::Connect {
            database: DATABASE,
            source: store_error(err),
        })?;
    Ok(if version.contains("MariaDB") {
        MARIADB_NO_PAD
    } else {
        "utf8mb4_0900_bin"
    })
}

/// Opens a pool on `url`, checks the connection and (unless disabled) migrates.
///
/// # Errors
///
/// [`ConnectError`] saying which step failed.
pub async fn connect(url: &str, options: SqlOptions) -> Result<MySqlStore, ConnectError> {
    let connect_options =
        MySqlConnectOptions::from_str(url).map_err(|source| ConnectError::Url {
            database: DATABASE,
            source,
        })?;
    let pool = MySqlPoolOptions::new()
        .max_connections(options.max_connections())
        // No ping before each use: a dead connection fails its statement, which is
        // mapped to Unavailable, and the pool replaces it.
        .test_before_acquire(false)
        // READ COMMITTED, as PostgreSQL's default: each statement of a transaction
        // sees what committed before it. Under InnoDB's REPEATABLE READ the cap's
        // count after the principal lock read a snapshot from before the lock, and a
        // login evicted too few sessions.
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                sqlx::Executor::execute(
                    &mut *conn,
                    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                )
                .await
                .map(|_| ())
            })
        })
        .acquire_timeout(options.call_timeout())
        .connect_with(connect_options)
        .await
        .map_err(|err| ConnectError::Connect {
            database: DATABASE,
            source: store_error(err),
        })?;
    let store = SqlStore::new(pool, dialect(&options), options.clone(), "mysql").with_breaker();
    if options.migrate() {
        let lock = format!("SELECT GET_LOCK('{}', 30)", options.table("migrate"));
        let unlock = format!("SELECT RELEASE_LOCK('{}')", options.table("migrate"));
        let collation = no_pad_collation(&store).await?;
        let mariadb = collation == MARIADB_NO_PAD;
        let files = MIGRATIONS.iter().map(|(version, text)| {
            let text = text.replace(MARIADB_NO_PAD, collation);
            // `ADD COLUMN IF NOT EXISTS` is MariaDB's; MySQL 8 has no such clause.
            let text = if mariadb {
                text
            } else {
                text.replace("ADD COLUMN IF NOT EXISTS", "ADD COLUMN")
            };
            (*version, text)
        });
        let migrations = Migrations::new(&options, ["?", "?"], files)
            .with_lock(lock)
            .with_unlock(unlock);
        store.migrate(&migrations, DATABASE).await?;
    }
    Ok(store)
}
