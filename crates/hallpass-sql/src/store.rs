//! [`SqlStore`]: the store contract, once, for every sqlx database. Each driver crate
//! supplies a [`Dialect`]: its SQL text and how its transactions lock.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use hallpass::store::{
    Admission, Applied, Created, Deleted, Delta, Loaded, PrincipalChange, Record, Refusal, Rotated,
    SessionPage, SessionStore, StoreError, StoreFuture, StoreKey, Touch,
};
use hallpass::time::Timestamp;
use hallpass::{Handle, SessionSummary};
use sqlx::{
    AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type,
};

use hallpass::store::timed;

use crate::dialect::{Dialect, InsertConflict};
use crate::{Columns, SqlOptions, log_bad_row, millis, store_error};

/// Optimistic applies before an apply takes the row lock instead.
const OPTIMISTIC_TRIES: usize = 3;

/// How many rows a statement changed, for the drivers' result types.
pub trait RowsAffected {
    /// The count.
    fn rows(&self) -> u64;
}

#[cfg(feature = "postgres")]
impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

#[cfg(feature = "mysql")]
impl RowsAffected for sqlx::mysql::MySqlQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

#[cfg(feature = "sqlite")]
impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

/// The versioned migrations of one database, prefix already spliced in.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct Migrations {
    /// A statement run first in the migration transaction to serialize concurrent
    /// migrators (PostgreSQL's advisory lock), if needed.
    pub lock: Option<Arc<str>>,
    /// A statement run on the same connection after the migration transaction ends,
    /// releasing a lock that outlives transactions (MySQL's `GET_LOCK`), if needed.
    pub unlock: Option<Arc<str>>,
    /// `CREATE TABLE IF NOT EXISTS <prefix>schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`.
    pub create_table: Arc<str>,
    /// `SELECT version FROM <prefix>schema_migrations`.
    pub select_versions: Arc<str>,
    /// `INSERT INTO <prefix>schema_migrations (version, applied_at) VALUES (?, ?)`.
    pub insert_version: Arc<str>,
    /// `(version, file text)` in order; the text uses the default `hallpass_` prefix.
    pub files: Vec<(i64, String)>,
}

impl Migrations {
    /// The bookkeeping statements for `options`' prefix, with `placeholders` giving
    /// the two parameters of the insert (`["$1", "$2"]` or `["?", "?"]`).
    #[must_use]
    pub fn new(options: &SqlOptions, placeholders: [&str; 2], files: Vec<(i64, String)>) -> Self {
        let table = options.table("schema_migrations");
        let [a, b] = placeholders;
        Self {
            lock: None,
            unlock: None,
            create_table: format!("CREATE TABLE IF NOT EXISTS {table} (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)").into(),
            select_versions: format!("SELECT version FROM {table}").into(),
            insert_version: format!("INSERT INTO {table} (version, applied_at) VALUES ({a}, {b})").into(),
            files,
        }
    }

    /// Adds the serializing lock statement.
    #[must_use]
    pub fn with_lock(mut self, lock: String) -> Self {
        self.lock = Some(lock.into());
        self
    }

    /// Adds the statement that releases a connection-scoped lock afterwards.
    #[must_use]
    pub fn with_unlock(mut self, unlock: String) -> Self {
        self.unlock = Some(unlock.into());
        self
    }
}

/// A session store on a sqlx pool; see the crate docs for the row and the locking.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
    dialect: Arc<Dialect>,
    options: SqlOptions,
    name: &'static str,
}

impl<DB: Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            dialect: Arc::clone(&self.dialect),
            options: self.options.clone(),
            name: self.name,
        }
    }
}

impl<DB: Database> fmt::Debug for SqlStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("database", &self.name)
            .field("prefix", &self.options.prefix())
            .field("call_timeout", &self.options.call_timeout())
            .finish_non_exhaustive()
    }
}

fn sql(text: &Arc<str>) -> AssertSqlSafe<Arc<str>> {
    // Every statement is a constant of the driver crate with a validated
    // `[a-z0-9_]` prefix spliced in; values always travel as bind parameters.
    AssertSqlSafe(Arc::clone(text))
}

impl<DB: Database> SqlStore<DB> {
    /// Wraps a pool; `name` labels the database in `Debug` output.
    #[must_use]
    pub fn new(pool: Pool<DB>, dialect: Dialect, options: SqlOptions, name: &'static str) -> Self {
        Self {
            pool,
            dialect: Arc::new(dialect),
            options,
            name,
        }
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The options.
    #[must_use]
    pub fn options(&self) -> &SqlOptions {
        &self.options
    }
}

/// Decodes a row's columns into a record; a corrupt row is logged and reads as no
/// session (SR-39).
fn decode(columns: Result<Columns, sqlx::Error>) -> Result<Option<Record>, StoreError> {
    match columns.map_err(store_error)?.into_record() {
        Ok(record) => Ok(Some(record)),
        Err(err) => {
            log_bad_row(&err);
            Ok(None)
        }
    }
}

fn key_bytes(key: &StoreKey) -> Vec<u8> {
    key.hash().to_vec()
}

/// The store operations, each one transaction or one statement.
impl<DB> SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
    for<'r> Vec<u8>: Decode<'r, DB> + Encode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Encode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB> + Encode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Encode<'r, DB> + Type<DB>,
    for<'r> bool: Decode<'r, DB> + Encode<'r, DB> + Type<DB>,
    usize: ColumnIndex<<DB as Database>::Row>,
    <DB as Database>::QueryResult: RowsAffected,
{
    /// Applies the migrations not yet recorded in `migrations.table`, each in a
    /// transaction together with its record (PostgreSQL DDL is transactional; MySQL
    /// commits DDL implicitly, and its statements are idempotent instead).
    ///
    /// # Errors
    ///
    /// The first failing statement.
    pub async fn migrate(&self, migrations: &Migrations) -> Result<(), StoreError> {
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
            for statement in crate::statements(&self.options.render(file)) {
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

    /// For test suites: drops every table that `list_tables` returns (its one column
    /// is a table name) whose name does not start with `keep`.
    ///
    /// # Errors
    ///
    /// The first failing statement.
    #[doc(hidden)]
    pub async fn drop_other_tables(
        &self,
        list_tables: &'static str,
        keep: &str,
    ) -> Result<(), StoreError> {
        let rows = sqlx::query(list_tables)
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        for row in rows {
            let name: String = row.try_get(0).map_err(store_error)?;
            let safe = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if safe && !name.starts_with(keep) {
                sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS {name}")))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
            }
        }
        Ok(())
    }

    /// For test suites: drops this store's own tables (its prefix's sessions and
    /// migrations tables), so a test that made a store for itself leaves nothing.
    ///
    /// # Errors
    ///
    /// The first failing statement.
    #[doc(hidden)]
    pub async fn drop_own_tables(&self) -> Result<(), StoreError> {
        for table in [
            self.options.table("sessions"),
            self.options.table("principals"),
            self.options.table("schema_migrations"),
        ] {
            sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS {table}")))
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, DB>, StoreError> {
        match &self.dialect.begin_write {
            Some(begin) => self.pool.begin_with(sql(begin)).await,
            None => self.pool.begin().await,
        }
        .map_err(store_error)
    }

    /// Inserts unless the key is taken; `false` when taken.
    async fn insert<'e, E>(
        &self,
        executor: E,
        key: &StoreKey,
        record: &Record,
    ) -> Result<bool, StoreError>
    where
        E: Executor<'e, Database = DB>,
    {
        let query =
            Columns::from_record(record)?.bind_all(key, sqlx::query(sql(&self.dialect.insert)));
        match (query.execute(executor).await, self.dialect.insert_conflict) {
            (Ok(result), InsertConflict::NoRowsInserted) => Ok(result.rows() == 1),
            (Ok(_), InsertConflict::UniqueViolation) => Ok(true),
            (Err(sqlx::Error::Database(db)), InsertConflict::UniqueViolation)
                if db.is_unique_violation() =>
            {
                Ok(false)
            }
            (Err(err), _) => Err(store_error(err)),
        }
    }

    /// The live record under `key`, row-locked, inside `tx`.
    async fn locked(
        &self,
        tx: &mut sqlx::Transaction<'static, DB>,
        key: &StoreKey,
        now: Timestamp,
    ) -> Result<Option<Record>, StoreError> {
        let row = sqlx::query(sql(&self.dialect.select_for_update))
            .bind(key_bytes(key))
            .fetch_optional(&mut **tx)
            .await
            .map_err(store_error)?;
        let Some(row) = row else { return Ok(None) };
        Ok(
            decode(crate::read_columns!(&row, 0))?
                .filter(|record| record.expired_by(now).is_none()),
        )
    }

    async fn do_create(
        &self,
        key: &StoreKey,
        record: &Record,
        admission: &Admission,
    ) -> Result<Created, StoreError> {
        // A login with nothing to admit (no cap, no generation to check) is a plain
        // insert: it takes no principal lock, so it costs one statement.
        let Some(principal) = record
            .principal
            .as_ref()
            .filter(|_| *admission != Admission::default())
        else {
            return Ok(if self.insert(&self.pool, key, record).await? {
                Created::INSERTED
            } else {
                Created::KeyTaken
            });
        };
        self.retrying(|| self.create_login_once(key, record, principal, admission))
            .await
    }

    /// A new session that is a principal's: admitted and inserted in one transaction
    /// that holds the principal's row lock.
    async fn create_login_once(
        &self,
        key: &StoreKey,
        record: &Record,
        principal: &str,
        admission: &Admission,
    ) -> Result<Created, StoreError> {
        let mut tx = self.begin_write().await?;
        let generation = self.lock_principal(&mut tx, principal).await?;
        let victims = match self
            .admit(
                &mut tx,
                principal,
                generation,
                admission,
                None,
                record.last_seen_at,
            )
            .await?
        {
            Ok(victims) => victims,
            Err(refusal) => return Ok(Created::Refused(refusal)),
        };
        if !self.insert(&mut *tx, key, record).await? {
            return Ok(Created::KeyTaken);
        }
        let evicted = self.evict(&mut tx, victims).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(Created::Inserted { evicted })
    }

    /// Creates `principal`'s row if missing and locks it for `tx`; its generation.
    async fn lock_principal(
        &self,
        tx: &mut sqlx::Transaction<'static, DB>,
        principal: &str,
    ) -> Result<u64, StoreError> {
        let locked = sqlx::query(sql(&self.dialect.principal_lock)).bind(principal.to_owned());
        let row = match &self.dialect.principal_read {
            None => locked.fetch_one(&mut **tx).await,
            Some(read) => {
                locked.execute(&mut **tx).await.map_err(store_error)?;
                sqlx::query(sql(read))
                    .bind(principal.to_owned())
                    .fetch_one(&mut **tx)
                    .await
            }
        }
        .map_err(store_error)?;
        let generation: i64 = row.try_get(0).map_err(store_error)?;
        Ok(u64::try_from(generation).unwrap_or(0))
    }

    /// The admission checks of a login, with the principal's row locked: the
    /// generation, then the cap. `Ok(Ok(victims))`: admitted, the handles to evict.
    async fn admit(
        &self,
        tx: &mut sqlx::Transaction<'static, DB>,
        principal: &str,
        generation: u64,
        admission: &Admission,
        own: Option<&Handle>,
        now: Timestamp,
    ) -> Result<Result<Vec<Handle>, Refusal>, StoreError> {
        if admission
            .generation
            .is_some_and(|expected| expected != generation)
        {
            return Ok(Err(Refusal::CredentialsChanged));
        }
        let Some(cap) = admission.cap else {
            return Ok(Ok(Vec::new()));
        };
        let rows = sqlx::query(sql(&self.dialect.list_principal))
            .bind(principal.to_owned())
            .bind(millis(now))
            .fetch_all(&mut **tx)
            .await
            .map_err(store_error)?;
        let mut others = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(record) = decode(crate::read_columns!(row, 0))? {
                if Some(&record.handle) != own {
                    others.push((record.last_seen_at, record.created_at, record.handle));
                }
            }
        }
        Ok(cap.victims(others))
    }

    /// Deletes the sessions a cap chose; the handles that were there.
    async fn evict(
        &self,
        tx: &mut sqlx::Transaction<'static, DB>,
        victims: Vec<Handle>,
    ) -> Result<Vec<Handle>, StoreError> {
        let mut evicted = Vec::with_capacity(victims.len());
        for handle in victims {
            let deleted = sqlx::query(sql(&self.dialect.delete_by_handle))
                .bind(handle.as_bytes().to_vec())
                .execute(&mut **tx)
                .await
                .map_err(store_error)?
                .rows();
            if deleted > 0 {
                evicted.push(handle);
            }
        }
        Ok(evicted)
    }

    async fn do_load(&self, key: &StoreKey, now: Timestamp) -> Result<Loaded, StoreError> {
        let row = sqlx::query(sql(&self.dialect.select))
            .bind(key_bytes(key))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        let Some(row) = row else {
            return Ok(Loaded::Missing);
        };
        let Some(record) = decode(crate::read_columns!(&row, 0))? else {
            return Ok(Loaded::Missing);
        };
        Ok(match record.expired_by(now) {
            Some(expiry) => Loaded::Expired(expiry),
            None => Loaded::Live(Arc::new(record)),
        })
    }

    /// Runs a transaction again when the database aborted it as a deadlock or a
    /// serialization failure (nothing was written); at most three attempts.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut tries = 0;
        loop {
            match attempt().await {
                Err(err) if tries < 2 && crate::is_retryable(&err) => tries += 1,
                other => return other,
            }
        }
    }

    async fn do_apply(
        &self,
        key: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        if matches!(delta.principal, Some(PrincipalChange::Login { .. })) {
            return Err(StoreError::login_needs_rotation());
        }
        // Two statements and no transaction in the common case; under contention the
        // row-locking transaction, which always makes progress.
        for _ in 0..OPTIMISTIC_TRIES {
            if let Some(outcome) = self.apply_optimistic(key, delta, now).await? {
                return Ok(outcome);
            }
        }
        self.retrying(|| self.apply_once(key, delta, now)).await
    }

    /// Reads the row, applies the delta to it, and writes it back only if its
    /// version is still the one read: a compare-and-set, so no concurrent change is
    /// lost and nothing deleted comes back (an UPDATE never inserts). `None`: another
    /// write came first; try again.
    async fn apply_optimistic(
        &self,
        key: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Option<Applied>, StoreError> {
        let Loaded::Live(record) = self.do_load(key, now).await? else {
            return Ok(Some(Applied::Gone));
        };
        let mut record = Arc::unwrap_or_clone(record);
        let read = i64::try_from(record.version).unwrap_or(i64::MAX);
        delta.apply_to(&mut record)?;
        let written = Columns::from_record(&record)?
            .bind_update(key, sqlx::query(sql(&self.dialect.update_if_version)))
            .bind(read)
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows();
        Ok((written == 1).then(|| Applied::Updated(Arc::new(record))))
    }

    async fn apply_once(
        &self,
        key: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        let mut tx = self.begin_write().await?;
        // Dropping `tx` on any early return rolls back.
        let Some(mut record) = self.locked(&mut tx, key, now).await? else {
            return Ok(Applied::Gone);
        };
        delta.apply_to(&mut record)?;
        Columns::from_record(&record)?
            .bind_update(key, sqlx::query(sql(&self.dialect.update)))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(Applied::Updated(Arc::new(record)))
    }

    async fn do_touch(
        &self,
        key: &StoreKey,
        touch: Touch,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(sql(&self.dialect.touch))
            .bind(millis(touch.last_seen_at))
            .bind(millis(touch.idle_deadline))
            .bind(millis(touch.idle_deadline))
            .bind(key_bytes(key))
            .bind(millis(now))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(result.rows() == 1)
    }

    async fn do_rotate(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Rotated, StoreError> {
        if old.handle() != new.handle() {
            return Err(StoreError::msg(
                hallpass::store::StoreErrorKind::InvalidData,
                "a rotation keeps the session's handle",
            ));
        }
        // A session whose principal changed between the unlocked read and the row
        // lock is tried again with the right principal locked.
        for _ in 0..4 {
            if let Some(outcome) = self
                .retrying(|| self.rotate_once(old, new, delta, now))
                .await?
            {
                return Ok(outcome);
            }
        }
        Err(StoreError::msg(
            hallpass::store::StoreErrorKind::Backend,
            "the session's principal kept changing during a rotation",
        ))
    }

    /// One rotation transaction. Locks go principal rows first (sorted), then the
    /// session row, as in [`Self::do_revoke_principal`]: a revoke and a rotation of
    /// the same principal's session queue on the principal's row, and the revoke sees
    /// the session under its new key. `None`: the principal moved; try again.
    async fn rotate_once(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Option<Rotated>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(row) = sqlx::query(sql(&self.dialect.principal_of))
            .bind(key_bytes(old))
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?
        else {
            return Ok(Some(Rotated::Gone));
        };
        let before: Option<String> = row.try_get(0).map_err(store_error)?;
        let login = match &delta.principal {
            Some(PrincipalChange::Login {
                principal,
                admission,
            }) => Some((principal.as_str(), admission)),
            _ => None,
        };
        let mut principals: Vec<&str> = before.iter().map(String::as_str).collect();
        if let Some((principal, _)) = login {
            principals.push(principal);
        }
        principals.sort_unstable();
        principals.dedup();
        let mut generations = Vec::with_capacity(principals.len());
        for principal in &principals {
            generations.push((*principal, self.lock_principal(&mut tx, principal).await?));
        }
        let Some(mut record) = self.locked(&mut tx, old, now).await? else {
            return Ok(Some(Rotated::Gone));
        };
        if record.principal != before {
            return Ok(None);
        }
        let victims = match login {
            Some((principal, admission)) => {
                let generation = generations
                    .iter()
                    .find(|(p, _)| *p == principal)
                    .map_or(0, |(_, g)| *g);
                match self
                    .admit(
                        &mut tx,
                        principal,
                        generation,
                        admission,
                        Some(old.handle()),
                        now,
                    )
                    .await?
                {
                    Ok(victims) => victims,
                    Err(refusal) => return Ok(Some(Rotated::Refused(refusal))),
                }
            }
            None => Vec::new(),
        };
        delta.apply_to(&mut record)?;
        let moved = Columns::from_record(&record)?
            .bind_update(
                old,
                sqlx::query(sql(&self.dialect.rotate)).bind(key_bytes(new)),
            )
            .execute(&mut *tx)
            .await;
        match moved {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Ok(Some(Rotated::KeyTaken));
            }
            Err(err) => return Err(store_error(err)),
        }
        let evicted = self.evict(&mut tx, victims).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(Some(Rotated::Updated {
            record: Arc::new(record),
            evicted,
        }))
    }

    async fn execute_key<'e, E>(
        &self,
        executor: E,
        statement: &Arc<str>,
        key: &StoreKey,
    ) -> Result<u64, StoreError>
    where
        E: Executor<'e, Database = DB>,
    {
        let result = sqlx::query(sql(statement))
            .bind(key_bytes(key))
            .execute(executor)
            .await
            .map_err(store_error)?;
        Ok(result.rows())
    }

    /// One statement where the database returns the deleted row; on MySQL the
    /// principal is read first (a rotation in between makes the delete miss, which is
    /// reported as nothing deleted).
    async fn do_delete(&self, key: &StoreKey) -> Result<Option<Deleted>, StoreError> {
        if self.dialect.delete_returns {
            let row = sqlx::query(sql(&self.dialect.delete))
                .bind(key_bytes(key))
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
            return match row {
                Some(row) => Ok(Some(Deleted::new(row.try_get(0).map_err(store_error)?))),
                None => Ok(None),
            };
        }
        let Some(row) = sqlx::query(sql(&self.dialect.principal_of))
            .bind(key_bytes(key))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let principal: Option<String> = row.try_get(0).map_err(store_error)?;
        Ok((self
            .execute_key(&self.pool, &self.dialect.delete, key)
            .await?
            > 0)
        .then(|| Deleted::new(principal)))
    }

    async fn do_load_handle(
        &self,
        handle: &Handle,
        now: Timestamp,
    ) -> Result<Option<(StoreKey, Record)>, StoreError> {
        let row = sqlx::query(sql(&self.dialect.select_by_handle))
            .bind(handle.as_bytes().to_vec())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        let Some(row) = row else { return Ok(None) };
        let key: Vec<u8> = row.try_get(0).map_err(store_error)?;
        let Ok(key) = <[u8; 32]>::try_from(key.as_slice()) else {
            return Ok(None);
        };
        let record = decode(crate::read_columns!(&row, 1))?
            .filter(|record| record.expired_by(now).is_none());
        Ok(record.map(|record| (StoreKey::new(*handle, key), record)))
    }

    async fn do_revoke(&self, handle: &Handle) -> Result<bool, StoreError> {
        // A DELETE that waited on a concurrent rotation's row lock may find nothing
        // under a database that does not follow the row to its new key. A "nothing"
        // is believed only once a fresh statement finds no row with the handle.
        for _ in 0..8 {
            // InnoDB locks the handle's index entry before the row, a rotation the row
            // before the index: the two can deadlock. A deadlocked DELETE did nothing.
            let deleted = match sqlx::query(sql(&self.dialect.delete_by_handle))
                .bind(handle.as_bytes().to_vec())
                .execute(&self.pool)
                .await
                .map_err(store_error)
            {
                Ok(result) => result.rows(),
                Err(err) if crate::is_retryable(&err) => continue,
                Err(err) => return Err(err),
            };
            if deleted > 0 {
                return Ok(true);
            }
            let still = sqlx::query(sql(&self.dialect.select_by_handle))
                .bind(handle.as_bytes().to_vec())
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
            if still.is_none() {
                return Ok(false);
            }
        }
        Err(StoreError::msg(
            hallpass::store::StoreErrorKind::Backend,
            "session kept moving while being revoked",
        ))
    }

    async fn do_list(
        &self,
        principal: &str,
        now: Timestamp,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        let rows = sqlx::query(sql(&self.dialect.list_principal))
            .bind(principal.to_owned())
            .bind(millis(now))
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(record) = decode(crate::read_columns!(row, 0))? {
                out.push(SessionSummary::from(&record));
            }
        }
        Ok(out)
    }

    async fn do_list_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
        now: Timestamp,
    ) -> Result<SessionPage, StoreError> {
        // Keyset paging on the handle index: each page is one bounded query.
        let after = match cursor {
            Some(text) => text
                .parse::<Handle>()
                .map_err(|_| StoreError::bad_cursor())?
                .as_bytes()
                .to_vec(),
            None => Vec::new(),
        };
        let limit = limit.max(1);
        let rows = sqlx::query(sql(&self.dialect.list_page))
            .bind(after)
            .bind(millis(now))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        let full = rows.len() >= limit;
        let mut sessions = Vec::with_capacity(rows.len());
        let mut last = None;
        for row in &rows {
            if let Some(record) = decode(crate::read_columns!(row, 0))? {
                last = Some(record.handle);
                sessions.push(SessionSummary::from(&record));
            }
        }
        let next = if full {
            last.map(|h| h.to_string())
        } else {
            None
        };
        Ok(SessionPage::new(sessions, next))
    }

    async fn do_revoke_principal(
        &self,
        principal: &str,
        except: Option<&Handle>,
    ) -> Result<u64, StoreError> {
        self.retrying(|| self.revoke_principal_once(principal, except))
            .await
    }

    /// With the principal's row locked: no login of it is admitted and none of its
    /// sessions rotates until the transaction ends, so one DELETE finds them all.
    async fn revoke_principal_once(
        &self,
        principal: &str,
        except: Option<&Handle>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        self.lock_principal(&mut tx, principal).await?;
        sqlx::query(sql(&self.dialect.principal_bump))
            .bind(principal.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let query = match except {
            Some(handle) => sqlx::query(sql(&self.dialect.delete_principal_except))
                .bind(principal.to_owned())
                .bind(handle.as_bytes().to_vec()),
            None => sqlx::query(sql(&self.dialect.delete_principal)).bind(principal.to_owned()),
        };
        let deleted = query.execute(&mut *tx).await.map_err(store_error)?.rows();
        tx.commit().await.map_err(store_error)?;
        Ok(deleted)
    }

    async fn do_generation(&self, principal: &str) -> Result<u64, StoreError> {
        let row = sqlx::query(sql(&self.dialect.generation))
            .bind(principal.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        let Some(row) = row else { return Ok(0) };
        let generation: i64 = row.try_get(0).map_err(store_error)?;
        Ok(u64::try_from(generation).unwrap_or(0))
    }

    async fn do_purge(&self, now: Timestamp, batch: usize) -> Result<u64, StoreError> {
        let result = sqlx::query(sql(&self.dialect.purge))
            .bind(millis(now))
            .bind(i64::try_from(batch).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(result.rows())
    }

    async fn do_count(&self, now: Timestamp) -> Result<u64, StoreError> {
        let row = sqlx::query(sql(&self.dialect.count))
            .bind(millis(now))
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)?;
        let count: i64 = row.try_get(0).map_err(store_error)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

impl<DB> SessionStore for SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
    for<'r> Vec<u8>: Decode<'r, DB> + Encode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Encode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB> + Encode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Encode<'r, DB> + Type<DB>,
    for<'r> bool: Decode<'r, DB> + Encode<'r, DB> + Type<DB>,
    usize: ColumnIndex<<DB as Database>::Row>,
    <DB as Database>::QueryResult: RowsAffected,
{
    fn create<'a>(
        &'a self,
        key: &'a StoreKey,
        record: &'a Record,
        admission: &'a Admission,
    ) -> StoreFuture<'a, Created> {
        Box::pin(timed(
            self.options.call_timeout(),
            self.do_create(key, record, admission),
        ))
    }

    fn load<'a>(&'a self, key: &'a StoreKey, now: Timestamp) -> StoreFuture<'a, Loaded> {
        Box::pin(timed(self.options.call_timeout(), self.do_load(key, now)))
    }

    fn apply<'a>(
        &'a self,
        key: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, Applied> {
        Box::pin(timed(
            self.options.call_timeout(),
            self.do_apply(key, delta, now),
        ))
    }

    fn touch<'a>(
        &'a self,
        key: &'a StoreKey,
        touch: Touch,
        now: Timestamp,
    ) -> StoreFuture<'a, bool> {
        Box::pin(timed(
            self.options.call_timeout(),
            self.do_touch(key, touch, now),
        ))
    }

    fn rotate<'a>(
        &'a self,
        old: &'a StoreKey,
        new: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, Rotated> {
        Box::pin(timed(
            self.options.call_timeout(),
            self.do_rotate(old, new, delta, now),
        ))
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, Option<Deleted>> {
        Box::pin(timed(self.options.call_timeout(), self.do_delete(key)))
    }

    fn load_handle<'a>(
        &'a self,
        handle: &'a Handle,
        now: Timestamp,
    ) -> StoreFuture<'a, Option<(StoreKey, Record)>> {
        Box::pin(timed(
            self.options.call_timeout(),
            self.do_load_handle(handle, now),
        ))
    }

    fn revoke<'a>(&'a self, handle: &'a Handle) -> StoreFuture<'a, bool> {
        Box::pin(timed(self.options.call_timeout(), self.do_revoke(handle)))
    }

    fn list_principal<'a>(
        &'a self,
        principal: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, Vec<SessionSummary>> {
        Box::pin(timed(
            self.options.call_timeout(),
            self.do_list(principal, now),
        ))
    }

    fn revoke_principal<'a>(
        &'a self,
        principal: &'a str,
        except: Option<&'a Handle>,
    ) -> StoreFuture<'a, u64> {
        Box::pin(timed(
            self.options.call_timeout(),
            self.do_revoke_principal(principal, except),
        ))
    }

    fn generation<'a>(&'a self, principal: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(timed(
            self.options.call_timeout(),
            self.do_generation(principal),
        ))
    }

    fn list_sessions<'a>(
        &'a self,
        cursor: Option<&'a str>,
        limit: usize,
        now: Timestamp,
    ) -> StoreFuture<'a, SessionPage> {
        Box::pin(timed(
            self.options.call_timeout(),
            self.do_list_page(cursor, limit, now),
        ))
    }

    fn purge_expired(&self, now: Timestamp, batch: usize) -> StoreFuture<'_, u64> {
        Box::pin(timed(
            self.options.call_timeout(),
            self.do_purge(now, batch),
        ))
    }

    fn count(&self, now: Timestamp) -> StoreFuture<'_, u64> {
        Box::pin(timed(self.options.call_timeout(), self.do_count(now)))
    }
}
