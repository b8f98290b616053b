//! [`SqlStore`]: the store contract, once, for every sqlx database. Each dialect
//! module supplies a [`Dialect`]: its SQL text and how its transactions lock.
//!
//! The operations are split by what they do: [`write`] (create with a login's
//! admission, apply, touch, rotate), [`read`] (load, list, count, and the deletes that
//! end sessions) and [`migrate`]; this file holds the type, its shared helpers and the
//! [`SessionStore`] impl that puts a time limit on every call.

mod labels;
mod migrate;
mod read;
mod write;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use hallpass::store::{Record, StoreError, StoreKey};
use sqlx::{AssertSqlSafe, Database, Pool};

use crate::SqlOptions;
use crate::breaker::Breaker;
use crate::dialect::Dialect;
use crate::error::{is_retryable, store_error};
use crate::row::{Columns, log_bad_row};
pub(crate) use migrate::Migrations;

/// How many rows a statement changed, for the drivers' result types.
pub(crate) trait RowsAffected {
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

/// A session store on a sqlx pool; see the crate docs for the row and the locking.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
    dialect: Arc<Dialect>,
    options: SqlOptions,
    name: &'static str,
    /// Fails calls at once while the server cannot be reached (network databases).
    breaker: Option<Arc<Breaker>>,
}

impl<DB: Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            dialect: Arc::clone(&self.dialect),
            options: self.options.clone(),
            name: self.name,
            breaker: self.breaker.clone(),
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
    // Every statement is a constant of a dialect module with a validated
    // `[a-z0-9_]` prefix spliced in; values always travel as bind parameters.
    AssertSqlSafe(Arc::clone(text))
}

impl<DB: Database> SqlStore<DB> {
    /// Wraps a pool; `name` labels the database in `Debug` output.
    #[must_use]
    pub(crate) fn new(
        pool: Pool<DB>,
        dialect: Dialect,
        options: SqlOptions,
        name: &'static str,
    ) -> Self {
        Self {
            pool,
            dialect: Arc::new(dialect),
            options,
            name,
            breaker: None,
        }
    }

    /// The breaker, if the store has one.
    #[cfg(test)]
    pub(crate) fn breaker(&self) -> Option<&Arc<Breaker>> {
        self.breaker.as_ref()
    }

    /// With a [`Breaker`]: calls fail at once while the server cannot be reached.
    #[must_use]
    pub(crate) fn with_breaker(mut self) -> Self {
        self.breaker = Some(Arc::default());
        self
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

impl<DB: Database> SqlStore<DB> {
    /// One store call: refused at once while the breaker is open, else run under
    /// the call timeout; a failure that may mean the server is gone starts a probe.
    async fn guarded<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if let Some(breaker) = &self.breaker {
            breaker.check()?;
        }
        let result = hallpass::store::timed(self.options.call_timeout(), call).await;
        if let (Err(err), Some(breaker)) = (&result, &self.breaker) {
            breaker.failed(err, &self.pool, self.options.call_timeout());
        }
        result
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, DB>, StoreError> {
        match &self.dialect.begin_write {
            Some(begin) => self.pool.begin_with(sql(begin)).await,
            None => self.pool.begin().await,
        }
        .map_err(store_error)
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
                Err(err) if tries < 2 && is_retryable(&err) => tries += 1,
                other => return other,
            }
        }
    }
}

/// The [`SessionStore`] impl of one database, written once: each call is the
/// generic operation under the call timeout. Per database rather than generic, so
/// the public impl carries none of sqlx's bounds.
macro_rules! session_store {
    ($db:ty, $feature:literal) => {
        #[cfg(feature = $feature)]
        const _: () = {
            use hallpass::store::{
                Admission, Applied, Created, Deleted, Delta, Loaded, Record, Rotated, SessionPage,
                SessionStore, StoreFuture, StoreKey, Taken, Touch,
            };
            use hallpass::time::Timestamp;
            use hallpass::{Handle, SessionSummary};

            #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
            impl SessionStore for SqlStore<$db> {
                fn create<'a>(
                    &'a self,
                    key: &'a StoreKey,
                    record: &'a Record,
                    admission: &'a Admission,
                ) -> StoreFuture<'a, Created> {
                    Box::pin(self.guarded(async move {
                        StoreError::check_handle(key, &record.handle)?;
                        self.index_labels(key.handle(), record.labels(), record.last_seen_at)
                            .await?;
                        self.do_create(key, record, admission).await
                    }))
                }

                fn load<'a>(
                    &'a self,
                    key: &'a StoreKey,
                    now: Timestamp,
                ) -> StoreFuture<'a, Loaded> {
                    Box::pin(self.guarded(self.do_load(key, now)))
                }

                fn apply<'a>(
                    &'a self,
                    key: &'a StoreKey,
                    delta: &'a Delta,
                    now: Timestamp,
                ) -> StoreFuture<'a, Applied> {
                    Box::pin(self.guarded(async move {
                        self.index_labels(key.handle(), delta.labels(), now).await?;
                        self.do_apply(key, delta, now).await
                    }))
                }

                fn take<'a>(
                    &'a self,
                    key: &'a StoreKey,
                    delta: &'a Delta,
                    now: Timestamp,
                ) -> StoreFuture<'a, Taken> {
                    Box::pin(self.guarded(async move {
                        self.index_labels(key.handle(), delta.labels(), now).await?;
                        self.do_take(key, delta, now).await
                    }))
                }

                fn touch<'a>(
                    &'a self,
                    key: &'a StoreKey,
                    touch: Touch,
                    now: Timestamp,
                ) -> StoreFuture<'a, bool> {
                    Box::pin(self.guarded(self.do_touch(key, touch, now)))
                }

                fn rotate<'a>(
                    &'a self,
                    old: &'a StoreKey,
                    new: &'a StoreKey,
                    delta: &'a Delta,
                    now: Timestamp,
                ) -> StoreFuture<'a, Rotated> {
                    Box::pin(self.guarded(async move {
                        self.index_labels(old.handle(), delta.labels(), now).await?;
                        self.do_rotate(old, new, delta, now).await
                    }))
                }

                fn delete<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, Option<Deleted>> {
                    Box::pin(self.guarded(self.do_delete(key)))
                }

                fn load_handle<'a>(
                    &'a self,
                    handle: &'a Handle,
                    now: Timestamp,
                ) -> StoreFuture<'a, Option<(StoreKey, Record)>> {
                    Box::pin(self.guarded(self.do_load_handle(handle, now)))
                }

                fn revoke<'a>(&'a self, handle: &'a Handle) -> StoreFuture<'a, bool> {
                    Box::pin(self.guarded(self.do_revoke(handle)))
                }

                fn list_principal<'a>(
                    &'a self,
                    principal: &'a str,
                    now: Timestamp,
                ) -> StoreFuture<'a, Vec<SessionSummary>> {
                    Box::pin(self.guarded(self.do_list(principal, now)))
                }

                fn revoke_principal<'a>(
                    &'a self,
                    principal: &'a str,
                    except: Option<&'a Handle>,
                ) -> StoreFuture<'a, u64> {
                    Box::pin(self.guarded(self.do_revoke_principal(principal, except)))
                }

                fn generation<'a>(&'a self, principal: &'a str) -> StoreFuture<'a, u64> {
                    Box::pin(self.guarded(self.do_generation(principal)))
                }

                fn list_sessions<'a>(
                    &'a self,
                    cursor: Option<&'a str>,
                    limit: usize,
                    now: Timestamp,
                ) -> StoreFuture<'a, SessionPage> {
                    Box::pin(self.guarded(self.do_list_page(cursor, limit, now)))
                }

                fn purge_expired(&self, now: Timestamp, batch: usize) -> StoreFuture<'_, u64> {
                    Box::pin(self.guarded(async move {
                        let purged = self.do_purge(now, batch).await?;
                        self.purge_labels(now).await?;
                        Ok(purged)
                    }))
                }

                fn count(&self, now: Timestamp) -> StoreFuture<'_, u64> {
                    Box::pin(self.guarded(self.do_count(now)))
                }

                fn revoke_label<'a>(
                    &'a self,
                    name: &'a str,
                    value: &'a str,
                    now: Timestamp,
                ) -> StoreFuture<'a, u64> {
                    Box::pin(self.do_revoke_label(self, name, value, now))
                }
            }
        };
    };
}

session_store!(sqlx::Sqlite, "sqlite");
session_store!(sqlx::Postgres, "postgres");
session_store!(sqlx::MySql, "mysql");
