//! What the hallpass SQL stores (SQLite, PostgreSQL, MySQL/MariaDB) share, and only
//! that: the row shape, value conversions, error mapping, call timeouts and options.
//! Each store keeps its own dialect's SQL in its own crate.
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

mod dialect;
mod store;

use std::net::IpAddr;
use std::time::Duration;

pub use dialect::{Dialect, Flavor, InsertConflict};
use hallpass::Handle;
use hallpass::store::{ClientMeta, Record, StoreError, StoreErrorKind, StoreKey};
use hallpass::time::Timestamp;
pub use store::{Migrations, RowsAffected, SqlStore};

/// The columns every query reads, in this order (see [`Columns`]).
pub const SELECT_COLUMNS: &str = "handle, principal, data, created_at, last_seen_at, idle_deadline, \
     absolute_deadline, version, remember, client_ip, user_agent";

/// The columns an insert writes, in the order of [`Columns::bind_all`]'s binds.
pub const INSERT_COLUMNS: &str = "token_hash, handle, principal, data, created_at, last_seen_at, \
     idle_deadline, absolute_deadline, expires_at, version, remember, client_ip, user_agent";

/// A record as SQL column values.
#[derive(Debug)]
#[non_exhaustive]
pub struct Columns {
    /// `handle`
    pub handle: Vec<u8>,
    /// `principal`
    pub principal: Option<String>,
    /// `data` (JSON object text)
    pub data: String,
    /// `created_at`
    pub created_at: i64,
    /// `last_seen_at`
    pub last_seen_at: i64,
    /// `idle_deadline`
    pub idle_deadline: i64,
    /// `absolute_deadline`
    pub absolute_deadline: i64,
    /// `expires_at`
    pub expires_at: i64,
    /// `version`
    pub version: i64,
    /// `remember`
    pub remember: bool,
    /// `client_ip`
    pub client_ip: Option<String>,
    /// `user_agent`
    pub user_agent: Option<String>,
}

/// Milliseconds as a SQL `BIGINT` (saturating: no timestamp reaches `i64::MAX`).
#[must_use]
pub fn millis(t: Timestamp) -> i64 {
    i64::try_from(t.as_unix_millis()).unwrap_or(i64::MAX)
}

fn timestamp(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(u64::try_from(millis).unwrap_or(0))
}

impl Columns {
    /// The column values of `record`.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::InvalidData`] if the data map cannot be serialized (it always
    /// can: string keys and JSON values).
    pub fn from_record(record: &Record) -> Result<Self, StoreError> {
        Ok(Self {
            handle: record.handle.as_bytes().to_vec(),
            principal: record.principal.clone(),
            data: serde_json::to_string(&record.data)
                .map_err(|e| StoreError::new(StoreErrorKind::InvalidData, e))?,
            created_at: millis(record.created_at),
            last_seen_at: millis(record.last_seen_at),
            idle_deadline: millis(record.idle_deadline),
            absolute_deadline: millis(record.absolute_deadline),
            expires_at: millis(record.expires_at()),
            version: i64::try_from(record.version).unwrap_or(i64::MAX),
            remember: record.remember,
            client_ip: record.client.ip.map(|ip| ip.to_string()),
            user_agent: record.client.user_agent.clone(),
        })
    }

    /// The record these column values describe.
    ///
    /// # Errors
    ///
    /// [`RowError`] when a value is malformed (a handle of the wrong length, data
    /// that is not a JSON object): the store treats such a row as no session and
    /// logs it (SR-39).
    pub fn into_record(self) -> Result<Record, RowError> {
        let handle: [u8; 16] = self
            .handle
            .as_slice()
            .try_into()
            .map_err(|_| RowError::Handle)?;
        let data = serde_json::from_str(&self.data).map_err(RowError::Data)?;
        let mut record = Record::new(
            Handle::from_bytes(handle),
            timestamp(self.created_at),
            Duration::ZERO,
            Duration::ZERO,
        );
        record.principal = self.principal;
        record.data = data;
        record.last_seen_at = timestamp(self.last_seen_at);
        record.idle_deadline = timestamp(self.idle_deadline);
        record.absolute_deadline = timestamp(self.absolute_deadline);
        record.version = u64::try_from(self.version).unwrap_or(0);
        record.remember = self.remember;
        let ip = self
            .client_ip
            .as_deref()
            .and_then(|ip| ip.parse::<IpAddr>().ok());
        record.client = ClientMeta::new(ip, self.user_agent.as_deref());
        Ok(record)
    }
}

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

/// A stored row that does not describe a valid record.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// The handle column is not 16 bytes.
    #[error("the stored handle is not 16 bytes")]
    Handle,
    /// The data column is not a JSON object.
    #[error("the stored session data is not a JSON object")]
    Data(#[source] serde_json::Error),
}

/// Reads a [`Columns`] from a row whose first columns are [`SELECT_COLUMNS`], starting
/// at column `$offset`. A macro, because sqlx's row decoding is generic per driver.
#[macro_export]
macro_rules! read_columns {
    ($row:expr, $offset:expr) => {{
        use ::sqlx::Row as _;
        let row = $row;
        let o: usize = $offset;
        (|| -> ::std::result::Result<$crate::Columns, ::sqlx::Error> {
            Ok($crate::Columns {
                handle: row.try_get(o)?,
                principal: row.try_get(o + 1)?,
                data: row.try_get(o + 2)?,
                created_at: row.try_get(o + 3)?,
                last_seen_at: row.try_get(o + 4)?,
                idle_deadline: row.try_get(o + 5)?,
                absolute_deadline: row.try_get(o + 6)?,
                expires_at: 0,
                version: row.try_get(o + 7)?,
                remember: row.try_get(o + 8)?,
                client_ip: row.try_get(o + 9)?,
                user_agent: row.try_get(o + 10)?,
            })
        })()
    }};
}

impl Columns {
    /// Binds `token_hash` and every column, in [`INSERT_COLUMNS`] order.
    pub fn bind_all<'q, DB>(
        self,
        key: &StoreKey,
        query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    ) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
    where
        DB: sqlx::Database,
        Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        query
            .bind(key.hash().to_vec())
            .bind(self.handle)
            .bind(self.principal)
            .bind(self.data)
            .bind(self.created_at)
            .bind(self.last_seen_at)
            .bind(self.idle_deadline)
            .bind(self.absolute_deadline)
            .bind(self.expires_at)
            .bind(self.version)
            .bind(self.remember)
            .bind(self.client_ip)
            .bind(self.user_agent)
    }

    /// Binds the columns a delta can change, then `token_hash`, in the order of an
    /// `UPDATE … SET principal, data, last_seen_at, idle_deadline, absolute_deadline,
    /// expires_at, version, remember, client_ip, user_agent WHERE token_hash`.
    pub fn bind_update<'q, DB>(
        self,
        key: &StoreKey,
        query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    ) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
    where
        DB: sqlx::Database,
        Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        query
            .bind(self.principal)
            .bind(self.data)
            .bind(self.last_seen_at)
            .bind(self.idle_deadline)
            .bind(self.absolute_deadline)
            .bind(self.expires_at)
            .bind(self.version)
            .bind(self.remember)
            .bind(self.client_ip)
            .bind(self.user_agent)
            .bind(key.hash().to_vec())
    }
}

/// Maps a sqlx error to the store error kinds the layer acts on (H6: the source is
/// kept): connection trouble is [`StoreErrorKind::Unavailable`] (503), the rest
/// [`StoreErrorKind::Backend`].
#[must_use]
pub fn store_error(err: sqlx::Error) -> StoreError {
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
pub fn is_retryable(err: &StoreError) -> bool {
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

/// Options every SQL store takes.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hallpass_sql::SqlOptions;
///
/// let options = SqlOptions::default().with_table_prefix("myapp_")?.with_call_timeout(Duration::from_secs(2));
/// assert_eq!(options.table("sessions"), "myapp_sessions");
/// # Ok::<(), hallpass_sql::InvalidPrefix>(())
/// ```
#[derive(Clone, Debug)]
pub struct SqlOptions {
    prefix: String,
    call_timeout: Duration,
    max_connections: u32,
    migrate: bool,
}

impl Default for SqlOptions {
    fn default() -> Self {
        Self {
            prefix: "hallpass_".to_owned(),
            call_timeout: Duration::from_secs(5),
            max_connections: 10,
            migrate: true,
        }
    }
}

/// A table prefix with characters other than `a-z`, `0-9` and `_`, or longer than 40.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("table prefix {0:?} must be 1 to 40 characters of a-z, 0-9 and _, starting with a letter")]
pub struct InvalidPrefix(String);

impl InvalidPrefix {
    /// The rejected prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.0
    }
}

impl SqlOptions {
    /// The prefix of every table and index name (default `hallpass_`). Only `a-z`,
    /// `0-9` and `_`, so it can be spliced into SQL safely.
    ///
    /// # Errors
    ///
    /// [`InvalidPrefix`] for anything else.
    pub fn with_table_prefix(mut self, prefix: &str) -> Result<Self, InvalidPrefix> {
        let valid = !prefix.is_empty()
            && prefix.len() <= 40
            && prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(InvalidPrefix(prefix.to_owned()));
        }
        prefix.clone_into(&mut self.prefix);
        Ok(self)
    }

    /// The time limit of every store call, pool wait included (default 5 s).
    #[must_use]
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// The pool size (default 10).
    #[must_use]
    pub fn with_max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Skip the automatic migration on connect (for DBAs who apply the crate's
    /// `sql/*.sql` files themselves).
    #[must_use]
    pub fn without_migration(mut self) -> Self {
        self.migrate = false;
        self
    }

    /// The table prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `prefix + name`.
    #[must_use]
    pub fn table(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The call timeout.
    #[must_use]
    pub fn call_timeout(&self) -> Duration {
        self.call_timeout
    }

    /// The pool size.
    #[must_use]
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// Whether to migrate on connect.
    #[must_use]
    pub fn migrate(&self) -> bool {
        self.migrate
    }

    /// A migration file's SQL with the default prefix `hallpass_` replaced by this
    /// one. The files name every table and index `hallpass_…`, so they also run as
    /// they are.
    #[must_use]
    pub fn render(&self, sql: &str) -> String {
        sql.replace("hallpass_", &self.prefix)
    }
}

/// Splits a migration file into statements (on `;` at the end of a line; the files
/// hold no `;` elsewhere), dropping comments and blank lines.
#[must_use]
pub fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let line = line.trim_end();
        if line.trim_start().starts_with("--") || line.trim().is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.ends_with(';') {
            out.push(current.trim().trim_end_matches(';').to_owned());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

/// Logs a row that could not be decoded; the store then answers "no session" (SR-39).
pub fn log_bad_row(err: &RowError) {
    tracing::warn!(target: "hallpass::event", event = "corrupt_record", error = %err, "a stored session could not be decoded; treating it as no session");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_round_trip() {
        let mut record = Record::new(
            Handle::generate(),
            Timestamp::from_unix_millis(5),
            Duration::from_secs(1),
            Duration::from_secs(2),
        );
        record.principal = Some("p".into());
        record
            .data
            .insert("k".into(), serde_json::json!({"a": [1, 2]}));
        record.client = ClientMeta::new(Some("::1".parse().unwrap()), Some("ua"));
        record.remember = true;
        let back = Columns::from_record(&record)
            .unwrap()
            .into_record()
            .unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn corrupt_rows_are_errors_not_panics() {
        let mut columns = Columns::from_record(&Record::new(
            Handle::generate(),
            Timestamp::from_unix_millis(5),
            Duration::from_secs(1),
            Duration::from_secs(2),
        ))
        .unwrap();
        columns.data = "not json".into();
        assert!(matches!(columns.into_record(), Err(RowError::Data(_))));
    }

    #[test]
    fn prefixes_are_restricted_to_safe_identifiers() {
        for bad in ["", "A_", "x; DROP TABLE y", "1abc", "a-b", &"a".repeat(41)] {
            assert!(
                SqlOptions::default().with_table_prefix(bad).is_err(),
                "{bad}"
            );
        }
        assert!(SqlOptions::default().with_table_prefix("t_123_").is_ok());
    }

    #[test]
    fn statements_split_on_line_end_semicolons() {
        let sql = "-- comment\nCREATE TABLE a (x INT);\n\nCREATE INDEX b\n  ON a (x);\n";
        assert_eq!(
            statements(sql),
            vec![
                "CREATE TABLE a (x INT)".to_owned(),
                "CREATE INDEX b\n  ON a (x)".to_owned()
            ]
        );
    }
}
