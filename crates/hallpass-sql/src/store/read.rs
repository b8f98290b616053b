//! Reads, and the deletes that end sessions: load, list, count, generation,
//! delete, revoke, revoke-all and purge.

use std::sync::Arc;

use hallpass::store::{Deleted, Loaded, Principal, Record, SessionPage, StoreError, StoreKey};
use hallpass::time::Timestamp;
use hallpass::{Handle, SessionSummary};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::{RowsAffected, SqlStore, decode, key_bytes, sql};
use crate::error::{is_retryable, store_error};
use crate::row::{millis, read_columns};

#[expect(
    private_bounds,
    reason = "the methods are crate-private; the bound is sqlx plumbing no caller names"
)]
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
    pub(super) async fn do_load(
        &self,
        key: &StoreKey,
        now: Timestamp,
    ) -> Result<Loaded, StoreError> {
        let row = sqlx::query(sql(&self.dialect.select))
            .bind(key_bytes(key))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        let Some(row) = row else {
            return Ok(Loaded::Missing);
        };
        let Some(record) = decode(read_columns!(&row, 0))? else {
            return Ok(Loaded::Missing);
        };
        Ok(match record.expired_by(now) {
            Some(expiry) => Loaded::Expired(expiry),
            None => Loaded::Live(Arc::new(record)),
        })
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
    pub(super) async fn do_delete(&self, key: &StoreKey) -> Result<Option<Deleted>, StoreError> {
        if self.dialect.delete_returns {
            let row = sqlx::query(sql(&self.dialect.delete))
                .bind(key_bytes(key))
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
            return match row {
                Some(row) => {
                    let principal: Option<String> = row.try_get(0).map_err(store_error)?;
                    Ok(Some(Deleted::new(principal.map(Principal::from))))
                }
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
        .then(|| Deleted::new(principal.map(Principal::from))))
    }

    pub(super) async fn do_load_handle(
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
        let record =
            decode(read_columns!(&row, 1))?.filter(|record| record.expired_by(now).is_none());
        Ok(record.map(|record| (StoreKey::new(*handle, key), record)))
    }

    pub(super) async fn do_revoke(&self, handle: &Handle) -> Result<bool, StoreError> {
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
                Err(err) if is_retryable(&err) => continue,
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

    pub(super) async fn do_list(
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
            if let Some(record) = decode(read_columns!(row, 0))? {
                out.push(SessionSummary::from(&record));
            }
        }
        Ok(out)
    }

    pub(super) async fn do_list_page(
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
            if let Some(record) = decode(read_columns!(row, 0))? {
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

    pub(super) async fn do_revoke_principal(
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

    pub(super) async fn do_generation(&self, principal: &str) -> Result<u64, StoreError> {
        let row = sqlx::query(sql(&self.dialect.generation))
            .bind(principal.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        let Some(row) = row else { return Ok(0) };
        let generation: i64 = row.try_get(0).map_err(store_error)?;
        Ok(u64::try_from(generation).unwrap_or(0))
    }

    pub(super) async fn do_purge(&self, now: Timestamp, batch: usize) -> Result<u64, StoreError> {
        let result = sqlx::query(sql(&self.dialect.purge))
            .bind(millis(now))
            .bind(i64::try_from(batch).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(result.rows())
    }

    pub(super) async fn do_count(&self, now: Timestamp) -> Result<u64, StoreError> {
        let row = sqlx::query(sql(&self.dialect.count))
            .bind(millis(now))
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)?;
        let count: i64 = row.try_get(0).map_err(store_error)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
