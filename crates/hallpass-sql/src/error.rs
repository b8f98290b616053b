//! What goes wrong: a store that cannot be opened, and how a sqlx error maps to the
//! store error kinds the engine acts on.

use hallpass::store::{StoreError, StoreErrorKind};

/// A SQL store could not be opened.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not one this database reads.
    #[error("not a valid {database} URL: {source}")]
    Url {
        /// `SQLite`, `PostgreSQL` or `MySQL/MariaDB`.
        database: &'static str,
        /// What sqlx said.
        #[source]
        source: sqlx::Error,
    },
    /// The server (or file) could not be reached.
    #[error("cannot connect to {database}: {source}")]
    Connect {
        /// The database.
        database: &'static str,
        /// The store error (kind `Unavailable` when the server is down).
        #[source]
        source: StoreError,
    },
    /// The schema could not be created or migrated.
    #[error("cannot create the session tables in {database}: {source}")]
    Migrate {
        /// The database.
        database: &'static str,
        /// The failing statement's error.
        #[source]
        source: StoreError,
    },
}

impl ConnectError {
    /// Whether the URL itself is at fault.
    #[must_use]
    pub fn is_bad_url(&self) -> bool {
        matches!(self, Self::Url { .. })
    }
}

/// Maps a sqlx error to the store error kinds the layer acts on (H6: the source is
/// kept): connection trouble is [`StoreErrorKind::Unavailable`] (503), the rest
/// [`StoreErrorKind::Backend`].
#[must_use]
pub(crate) fn store_error(err: sqlx::Error) -> StoreError {
    let kind = match &err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => StoreErrorKind::Unavailable,
        sqlx::Error::Database(db) if is_unavailable_code(db.code().as_deref()) => {
            StoreErrorKind::Unavailable
        }
        _ => StoreErrorKind::Backend,
    };
    StoreError::new(kind, err)
}

/// Whether a failed transaction may simply be run again: a deadlock or serialization
/// failure (PostgreSQL 40001/40P01, MySQL 1213, SQLite busy/locked).
#[must_use]
pub(crate) fn is_retryable(err: &StoreError) -> bool {
    let Some(sqlx::Error::Database(db)) =
        std::error::Error::source(err).and_then(|s| s.downcast_ref::<sqlx::Error>())
    else {
        return false;
    };
    matches!(
        db.code().as_deref(),
        Some("40001" | "40P01" | "1213" | "5" | "6" | "517")
    )
}

/// Server-side codes that mean "the database is going away or not ready": PostgreSQL
/// admin shutdown / cannot connect now, MySQL server shutdown / gone.
fn is_unavailable_code(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("57P01" | "57P02" | "57P03" | "08006" | "08001" | "08004" | "1053" | "2006" | "2013")
    )
}
