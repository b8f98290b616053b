//! Versioned migrations: each file once, in a transaction with its record.

use std::sync::Arc;

use hallpass::store::StoreError;
use sqlx::{
    AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type,
};

use super::{SqlStore, sql};
use crate::error::store_error;
use crate::row::millis;
use crate::{ConnectError, SqlOptions};

/// The versioned migrations of one database, prefix already spliced in.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub(crate) struct Migrations {
    /// A statement run first in the migration transaction to serialize concurrent
    /// migrators (PostgreSQL's advisory lock), if needed.
    pub(crate) lock: Option<Arc<str>>,
    /// A statement run on the same connection after the migration transaction ends,
    /// releasing a lock that outlives transactions (MySQL's `GET_LOCK`), if needed.
    pub(crate) unlock: Option<Arc<str>>,
    /// `CREATE TABLE IF NOT EXISTS <prefix>schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`.
    pub(crate) create_table: Arc<str>,
    /// `SELECT version FROM <prefix>schema_migrations`.
    pub(crate) select_versions: Arc<str>,
    /// `INSERT INTO <prefix>schema_migrations (version, applied_at) VALUES (?, ?)`.
    pub(crate) insert_version: Arc<str>,
    /// `(version, file text)` in order; the text uses the default `hallpass_` prefix.
    pub(crate) files: Vec<(i64, String)>,
}

impl Migrations {
    /// The bookkeeping statements for `options`' prefix, with `placeholders` giving
    /// the two parameters of the insert (`["$1", "$2"]` or `["?", "?"]`).
    #[must_use]
    pub(crate) fn new(
        options: &SqlOptions,
        placeholders: [&str; 2],
        files: impl IntoIterator<Item = (i64, impl Into<String>)>,
    ) -> Self {
        let table = options.table("schema_migrations");
        let [a, b] = placeholders;
        Self {
            lock: None,
            unlock: None,
            create_table: format!("CREATE TABLE IF NOT EXISTS {table} (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)").into(),
            select_versions: format!("SELECT version FROM {table}").into(),
            insert_version: format!("INSERT INTO {table} (version, applied_at) VALUES ({a}, {b})").into(),
            files: files.into_iter().map(|(v, text)| (v, text.into())).collect(),
        }
    }

    /// Adds the serializing lock statement.
    #[cfg_attr(
        not(any(feature = "postgres", feature = "mysql")),
        allow(dead_code, reason = "SQLite's BEGIN IMMEDIATE serializes by itself")
    )]
    #[must_use]
    pub(crate) fn with_lock(mut self, lock: String) -> Self {
        self.lock = Some(lock.into());
        self
    }

    /// Adds the statement that releases a connection-scoped lock afterwards.
    #[cfg_attr(
        not(feature = "mysql"),
        allow(dead_code, reason = "MySQL's named lock only")
    )]
    #[must_use]
    pub(crate) fn with_unlock(mut self, unlock: String) -> Self {
        self.unlock = Some(unlock.into());
        self
    }
}

impl<DB> SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
    for<'r> i64: Decode<'r, DB> + Encode<'r, DB> + Type<DB>,
    usize: ColumnIndex<<DB as Database>::Row>,
{
    /// Applies the migrations not yet recorded in `migrations.table`, each in a
    /// transaction together with its record (PostgreSQL DDL is transactional; MySQL
    /// commits DDL implicitly, and its statements are idempotent instead).
    ///
    /// # Errors
    ///
    /// [`ConnectError::Migrate`] for `database`, with the first failing statement.
    pub(crate) async fn migrate(
        &self,
        migrations: &Migrations,
        database: &'static str,
    ) -> Result<(), ConnectError> {
        self.migrate_all(migrations)
            .await
            .map_err(|source| ConnectError::Migrate { database, source })
    }

    async fn migrate_all(&self, migrations: &Migrations) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(store_error)?;
        let outcome = self.migrate_on(&mut conn, migrations).await;
        if let Some(unlock) = &migrations.unlock {
            // MySQL's named lock belongs to the connection, not the transaction: left
            // held, it would stall every other process's start-up until this one exits.
            if sqlx::query(sql(unlock)).execute(&mut *conn).await.is_err() {
                conn.close_on_drop();
            }
        }
        outcome
    }

    async fn migrate_on(
        &self,
        conn: &mut sqlx::pool::PoolConnection<DB>,
        migrations: &Migrations,
    ) -> Result<(), StoreError> {
        let mut tx = match &self.dialect.begin_write {
            Some(begin) => sqlx::Connection::begin_with(&mut **conn, sql(begin)).await,
            None => sqlx::Connection::begin(&mut **conn).await,
        }
        .map_err(store_error)?;
        if let Some(lock) = &migrations.lock {
            sqlx::query(sql(lock))
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        sqlx::query(sql(&migrations.create_table))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let applied: Vec<i64> = sqlx::query(sql(&migrations.select_versions))
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?
            .iter()
            .map(|row| row.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()
            .map_err(store_error)?;
        for (version, file) in &migrations.files {
            if applied.contains(version) {
                continue;
            }
            for statement in statements(&self.options.render(file)) {
                sqlx::query(AssertSqlSafe(statement))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
            }
            sqlx::query(sql(&migrations.insert_version))
                .bind(*version)
                .bind(millis(hallpass::time::Clock::now(
                    &hallpass::time::SystemClock,
                )))
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            tracing::info!(target: "hallpass::store", database = self.name, version, "applied session store migration");
        }
        tx.commit().await.map_err(store_error)
    }
}

/// Splits a migration file into statements (on `;` at the end of a line; the files
/// hold no `;` elsewhere), dropping comments and blank lines.
#[must_use]
pub(crate) fn statements(sql: &str) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
