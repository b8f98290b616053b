//! The session's data: `get`, `insert`, `remove` (a delta sent at commit) and
//! `increment` (sent at once, exact).

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::delta::Delta;
use crate::error::SessionError;
use crate::events::{Event, InvalidReason};
use crate::record::Record;
use crate::store::{Applied, Incremented};
use crate::time::Timestamp;

use super::{Session, State};

impl Session {
    /// Reads the value stored under `key`.
    ///
    /// # Errors
    ///
    /// [`SessionError::Store`] when the store fails, [`SessionError::Deserialize`] when
    /// the value does not fit `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// session.insert("theme", "dark").await?;
    /// assert_eq!(session.get::<String>("theme").await?.as_deref(), Some("dark"));
    /// assert_eq!(session.get::<String>("missing").await?, None);
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let Some(value) = state.current.as_ref().and_then(|c| c.record.data.get(key)) else {
            return Ok(None);
        };
        T::deserialize(value)
            .map(Some)
            .map_err(|source| SessionError::Deserialize {
                key: key.to_owned(),
                source,
            })
    }

    /// Stores `value` under `key` (written at commit, as a delta).
    ///
    /// # Errors
    ///
    /// [`SessionError::Serialize`], [`SessionError::DataTooLarge`] (nothing changes),
    /// [`SessionError::ReservedKey`] for a key under [`Session::FLASH_PREFIX`], or a
    /// store error from loading.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// session.insert("cart", vec!["apple", "pear"]).await?;
    /// assert_eq!(session.get::<Vec<String>>("cart").await?.map(|c| c.len()), Some(2));
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn insert(&self, key: &str, value: impl Serialize) -> Result<(), SessionError> {
        refuse_reserved(key)?;
        self.insert_data(key, value).await
    }

    /// [`insert`](Self::insert) under any key, the flash keys included.
    pub(super) async fn insert_data(
        &self,
        key: &str,
        value: impl Serialize,
    ) -> Result<(), SessionError> {
        let value = serde_json::to_value(value).map_err(SessionError::Serialize)?;
        let max = self.config().max_data_bytes;
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let current = self.current_or_fresh(&mut state);
        let record = Arc::make_mut(&mut current.record);
        let previous = record.data.insert(key.to_owned(), value.clone());
        let size = record.data_size();
        if size > max {
            match previous {
                Some(previous) => record.data.insert(key.to_owned(), previous),
                None => record.data.remove(key),
            };
            return Err(SessionError::DataTooLarge { size, max });
        }
        if current.stored {
            current.pending.set(key, value);
        }
        Ok(())
    }

    /// Removes `key`; returns whether it was there.
    ///
    /// # Errors
    ///
    /// [`SessionError::ReservedKey`] for a key under [`Session::FLASH_PREFIX`], or a
    /// store error from loading.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// session.insert("theme", "dark").await?;
    /// assert!(session.remove("theme").await?);
    /// assert!(!session.remove("theme").await?);
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn remove(&self, key: &str) -> Result<bool, SessionError> {
        refuse_reserved(key)?;
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let Some(current) = state.current.as_mut() else {
            return Ok(false);
        };
        let existed = current.record.data.contains_key(key)
            && Arc::make_mut(&mut current.record)
                .data
                .remove(key)
                .is_some();
        if existed && current.stored {
            current.pending.remove(key);
        }
        Ok(existed)
    }

    /// Adds `by` to the integer under `key` (absent counts as 0) and returns the new
    /// value. On an existing session this goes to the store at once, atomically, so
    /// concurrent requests never lose a count and each sees its own number; for a
    /// request that has not loaded the session yet it is the only store call.
    ///
    /// # Errors
    ///
    /// [`SessionError::Delta`] when the value is not an integer or would overflow,
    /// [`SessionError::ReservedKey`] for a key under [`Session::FLASH_PREFIX`],
    /// [`SessionError::Ended`] when the session ended concurrently (nothing written),
    /// or a store error.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// assert_eq!(session.increment("views", 1).await?, 1);
    /// assert_eq!(session.increment("views", 10).await?, 11);
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn increment(&self, key: &str, by: i64) -> Result<i64, SessionError> {
        refuse_reserved(key)?;
        let mut state = self.shared.state.lock().await;
        let now = self.now();
        if self.fast_path(&state) {
            // One round trip: the store checks that the session is live and applies
            // the increment together with the touch.
            state.loaded = true;
            let candidate = &self.shared.candidates[0];
            // Due only when the store's record was last seen a touch interval ago.
            let due_by = now.saturating_sub(self.config().touch_interval());
            let mut delta = Delta {
                touch: Some(self.touch_at(now).when_seen_by(due_by)),
                max_data_bytes: Some(self.config().max_data_bytes),
                ..Delta::default()
            };
            delta.increment(key, by);
            if !candidate.by_primary {
                // A cookie under an older key is re-signed at commit: that needs the
                // session adopted, so the whole record comes back.
                if let Some(value) =
                    Box::pin(self.increment_adopting(&mut state, &delta, key, now)).await?
                {
                    return Ok(value);
                }
            } else {
                match self.store().increment(&candidate.key, &delta, now).await {
                    Ok(Incremented::Counted { value, .. }) => {
                        // Not adopted: a later read in this request loads the session
                        // (this increment in it); the touch went with the write.
                        state.loaded = false;
                        state.counted = true;
                        return Ok(value);
                    }
                    Ok(Incremented::Gone) => self.unknown_session(&mut state),
                    Err(err) => self.unloaded_failure(&mut state, err)?,
                }
            }
        } else {
            self.ensure_loaded(&mut state).await?;
        }
        // Boxed: the one-call path above is the usual one, and its future stays small.
        Box::pin(self.increment_loaded(&mut state, key, by, now)).await
    }

    /// [`Session::increment`] of a loaded session, or where the one-call path could
    /// not be taken or found no session.
    async fn increment_loaded(
        &self,
        state: &mut State,
        key: &str,
        by: i64,
        now: Timestamp,
    ) -> Result<i64, SessionError> {
        let current = self.current_or_fresh(state);
        if !current.stored {
            let mut delta = Delta::default();
            delta.increment(key, by);
            let record = Arc::make_mut(&mut current.record);
            delta.apply_to(record).map_err(SessionError::Delta)?;
            // Undo the version bump: an unsaved record is still version 1.
            record.version = 1;
            return current
                .record
                .data
                .get(key)
                .and_then(serde_json::Value::as_i64)
                .ok_or(SessionError::Ended);
        }
        let mut delta = std::mem::take(&mut current.pending);
        delta.increment(key, by);
        delta.max_data_bytes = Some(self.config().max_data_bytes);
        if current.needs_touch {
            delta.touch = Some(self.touch_at(now));
        }
        let mut followed = false;
        loop {
            let Some(current) = state.current.as_mut() else {
                return Err(SessionError::Ended);
            };
            let applied = match self.store().apply(&current.key, &delta, now).await {
                Ok(applied) => applied,
                Err(err) => {
                    current.keep_pending(delta);
                    return Err(SessionError::from_store(err));
                }
            };
            match applied {
                Applied::Updated(record) => {
                    let value = record.data.get(key).and_then(serde_json::Value::as_i64);
                    current.record = record;
                    current.needs_touch = false;
                    return value.ok_or(SessionError::Ended);
                }
                // A concurrent periodic rotation (SR-17): once more, under the new key.
                Applied::Gone
                    if !followed && Box::pin(self.follow_rotation(state, now)).await? =>
                {
                    followed = true;
                }
                Applied::Gone => {
                    self.ended_meanwhile(state);
                    return Err(SessionError::Ended);
                }
            }
        }
    }

    /// The one-call increment of an unloaded session that adopts the record the
    /// store returns; `None` when the session turned out gone (or the store is down
    /// under the anonymous fallback): the caller goes on with a fresh session.
    pub(super) async fn increment_adopting(
        &self,
        state: &mut State,
        delta: &Delta,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<i64>, SessionError> {
        let candidate = &self.shared.candidates[0];
        match self.store().apply(&candidate.key, delta, now).await {
            Ok(Applied::Updated(record)) if record.handle == candidate.handle => {
                let value = record.data.get(key).and_then(serde_json::Value::as_i64);
                self.adopt(state, candidate, record, now);
                if let Some(current) = state.current.as_mut() {
                    current.needs_touch = false;
                }
                value.map(Some).ok_or(SessionError::Ended)
            }
            Ok(Applied::Updated(_)) => {
                self.emit(|| Event::InvalidToken {
                    reason: InvalidReason::HandleMismatch,
                    ip: self.shared.ip,
                });
                Ok(None)
            }
            Ok(Applied::Gone) => {
                self.unknown_session(state);
                Ok(None)
            }
            Err(err) => self.unloaded_failure(state, err).map(|()| None),
        }
    }

    /// The keys of the session's data, in order (flash values left out).
    ///
    /// # Errors
    ///
    /// A store error from loading.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// session.insert("theme", "dark").await?;
    /// session.insert("cart", [1, 2]).await?;
    /// assert_eq!(session.keys().await?, ["cart", "theme"]);
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn keys(&self) -> Result<Vec<String>, SessionError> {
        Ok(self
            .with_record(|record| {
                record
                    .data
                    .keys()
                    .filter(|key| !super::flash::reserved(key))
                    .cloned()
                    .collect()
            })
            .await?
            .unwrap_or_default())
    }

    /// `f` of the record as this request sees it, if there is a session.
    pub(super) async fn with_record<T>(
        &self,
        f: impl FnOnce(&Record) -> T,
    ) -> Result<Option<T>, SessionError> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        Ok(state.current.as_ref().map(|c| f(&c.record)))
    }
}

/// Refuses a key under [`Session::FLASH_PREFIX`] to the plain data methods.
fn refuse_reserved(key: &str) -> Result<(), SessionError> {
    if super::flash::reserved(key) {
        return Err(SessionError::ReservedKey {
            key: key.to_owned(),
        });
    }
    Ok(())
}
