//! The writes: create (with a login's admission), apply, touch and rotate.

/// Optimistic applies before an apply takes the row lock instead.
const OPTIMISTIC_TRIES: usize = 3;

use std::sync::Arc;

use hallpass::Handle;
use hallpass::store::{
    Admission, Applied, Created, Delta, Loaded, PrincipalChange, Record, Refusal, Rotated,
    StoreError, StoreKey, Taken, Touch,
};
use hallpass::time::Timestamp;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::{RowsAffected, SqlStore, decode, key_bytes, sql};
use crate::dialect::InsertConflict;
use crate::error::store_error;
use crate::row::{Columns, millis, read_columns};

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
        Ok(decode(read_columns!(&row, 0))?.filter(|record| record.expired_by(now).is_none()))
    }

    pub(super) async fn do_create(
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
    pub(super) async fn lock_principal(
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
            if let Some(record) = decode(read_columns!(row, 0))? {
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

    pub(super) async fn do_apply(
        &self,
        key: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        self.do_apply_taking(key, delta, now)
            .await
            .map(Applied::from)
    }

    pub(super) async fn do_take(
        &self,
        key: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Taken, StoreError> {
        StoreError::check_take(delta)?;
        self.do_apply_taking(key, delta, now).await
    }

    /// An apply, with what the delta's last take removed.
    async fn do_apply_taking(
        &self,
        key: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Taken, StoreError> {
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
    /// lost, nothing deleted comes back (an UPDATE never inserts) and a take's value
    /// goes to one caller only. `None`: another write came first; try again.
    async fn apply_optimistic(
        &self,
        key: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Option<Taken>, StoreError> {
        let Loaded::Live(record) = self.do_load(key, now).await? else {
            return Ok(Some(Taken::Gone));
        };
        let mut record = Arc::unwrap_or_clone(record);
        let read = i64::try_from(record.version).unwrap_or(i64::MAX);
        let taken = delta.apply_taking(&mut record)?;
        let written = Columns::from_record(&record)?
            .bind_update(key, sqlx::query(sql(&self.dialect.update_if_version)))
            .bind(read)
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows();
        Ok((written == 1).then(|| Taken::Updated {
            value: taken,
            record: Arc::new(record),
        }))
    }

    async fn apply_once(
        &self,
        key: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Taken, StoreError> {
        let mut tx = self.begin_write().await?;
        // Dropping `tx` on any early return rolls back.
        let Some(mut record) = self.locked(&mut tx, key, now).await? else {
            return Ok(Taken::Gone);
        };
        let taken = delta.apply_taking(&mut record)?;
        Columns::from_record(&record)?
            .bind_update(key, sqlx::query(sql(&self.dialect.update)))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(Taken::Updated {
            value: taken,
            record: Arc::new(record),
        })
    }

    pub(super) async fn do_touch(
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

    pub(super) async fn do_rotate(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Rotated, StoreError> {
        StoreError::check_handle(new, old.handle())?;
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
        if record.principal.as_deref() != before.as_deref() {
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
}
