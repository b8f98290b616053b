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
    (6, include_str!("../sql/postgres/006_device.sql")),
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
    let store = SqlStore::new(pool, dialect(&options), options.clone(), "postgres").with_breaker();
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hallpass::Handle;
    use hallpass::store::{SessionStore, StoreErrorKind, StoreKey};
    use hallpass::time::Timestamp;
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

    use super::{PostgresStore, dialect};
    use crate::SqlOptions;
    use crate::store::SqlStore;

    /// A store on a pool that connects lazily to `options`.
    fn lazy_store(connect: PgConnectOptions, call_timeout: Duration) -> PostgresStore {
        // A prefix of this process's own: no other test's tables answer for it.
        let options = SqlOptions::default()
            .with_table_prefix(&format!("hpbreaker{}_", std::process::id()))
            .unwrap()
            .with_call_timeout(call_timeout);
        let pool = PgPoolOptions::new()
            .acquire_timeout(call_timeout)
            .connect_lazy_with(connect);
        SqlStore::new(pool, dialect(&options), options, "postgres").with_breaker()
    }

    async fn wait_for(what: impl Fn() -> bool) {
        for _ in 0..250 {
            if what() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Nothing listens on loopback port 1: sqlx would retry the refused connection
    /// until every call's timeout; the breaker's probe sees the refusal and every
    /// later call fails at once, with the breaker's own message.
    #[tokio::test]
    async fn an_unreachable_server_opens_the_breaker_and_calls_then_fail_at_once() {
        let store = lazy_store(
            PgConnectOptions::new().host("127.0.0.1").port(1),
            Duration::from_millis(300),
        );
        let breaker = store.breaker().unwrap();
        let key = StoreKey::random(&Handle::generate());
        let now = Timestamp::from_unix_millis(1_000_000);
        let first = store.load(&key, now).await.unwrap_err();
        assert!(
            matches!(
                first.kind(),
                StoreErrorKind::Timeout | StoreErrorKind::Unavailable
            ),
            "{first}"
        );
        wait_for(|| breaker.is_open()).await;
        assert!(breaker.is_open(), "the probe found nothing listening");
        let err = store.load(&key, now).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
        assert!(err.to_string().contains("failing at once"), "{err}");
    }

    /// A probe that connects closes the breaker: a timeout on a server that answers
    /// turns no request away.
    #[tokio::test]
    async fn a_probe_that_connects_closes_the_breaker() {
        let url = std::env::var("DATABASE_URL_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let connect: PgConnectOptions = url.parse().unwrap();
        let store = lazy_store(connect, Duration::from_secs(5));
        let breaker = store.breaker().unwrap();
        let timeout = hallpass::store::StoreError::msg(StoreErrorKind::Timeout, "slow");
        breaker.failed(&timeout, store.pool(), Duration::from_secs(5));
        wait_for(|| !breaker.probing()).await;
        assert!(!breaker.is_open(), "the server answered the probe");
        // An open breaker turns calls away at once, until a probe connects: then the
        // call reaches the server (here it finds no tables under this prefix: a
        // backend error, not the breaker's).
        breaker.force_open();
        let refused = store.generation("nobody").await.unwrap_err();
        assert!(refused.to_string().contains("failing at once"), "{refused}");
        breaker.failed(&timeout, store.pool(), Duration::from_secs(5));
        wait_for(|| !breaker.is_open()).await;
        assert!(!breaker.is_open());
        let reached = store.generation("nobody").await.unwrap_err();
        assert_eq!(reached.kind(), StoreErrorKind::Backend, "{reached}");
        assert!(
            !reached.to_string().contains("failing at once"),
            "{reached}"
        );
    }
}
