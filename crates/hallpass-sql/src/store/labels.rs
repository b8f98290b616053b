//! The label index (see [`hallpass::label`]): one `labels` row per label pair and
//! handle, inserted before the write that sets the label; read, used and forgotten by
//! a revoke; rows of sessions that ended go with the purge.

use hallpass::Handle;
use hallpass::store::StoreError;
use hallpass::time::Timestamp;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::{RowsAffected, SqlStore, sql};
use crate::error::store_error;
use crate::row::millis;

/// How old an orphaned label row must be before the purge drops it: longer than any
/// write takes (a write is bounded by the call timeout).
const SETTLED: std::time::Duration = std::time::Duration::from_secs(15 * 60);

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
    /// Indexes `handle` under each label pair: one statement per label, none when
    /// there are none (every write but a login's, in practice).
    pub(crate) async fn index_labels<'l>(
        &self,
        handle: &Handle,
        labels: impl Iterator<Item = (&'l str, &'l str)>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        for (name, value) in labels {
            sqlx::query(sql(&self.dialect.label_insert))
                .bind(name.to_owned())
                .bind(value.to_owned())
                .bind(handle.as_bytes().to_vec())
                .bind(millis(now))
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    /// Ends the sessions indexed under `name = value` that carry the label, then
    /// forgets the rows it read.
    pub(crate) async fn do_revoke_label(
        &self,
        store: &dyn hallpass::store::SessionStore,
        name: &str,
        value: &str,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let rows = sqlx::query(sql(&self.dialect.label_handles))
            .bind(name.to_owned())
            .bind(value.to_owned())
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        let mut listed = Vec::with_capacity(rows.len());
        for row in rows {
            let bytes: Vec<u8> = row.try_get(0).map_err(store_error)?;
            if let Ok(bytes) = <[u8; 16]>::try_from(bytes.as_slice()) {
                listed.push(Handle::from_bytes(bytes));
            }
        }
        let ended = hallpass::store::revoke_listed(store, &listed, name, value, now).await?;
        for handle in &listed {
            sqlx::query(sql(&self.dialect.label_forget))
                .bind(name.to_owned())
                .bind(value.to_owned())
                .bind(handle.as_bytes().to_vec())
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
        }
        Ok(ended)
    }

    /// Drops the label rows of sessions that no longer exist, indexed before
    /// [`SETTLED`] ago: a younger row may belong to a write still on its way.
    pub(crate) async fn purge_labels(&self, now: Timestamp) -> Result<(), StoreError> {
        sqlx::query(sql(&self.dialect.label_purge))
            .bind(millis(now.saturating_sub(SETTLED)))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
