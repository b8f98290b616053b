//! Flash values: `flash` stores a value for the next request, `take_flash` hands it
//! out exactly once, read and removed in one atomic store step.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::SessionError;
use crate::store::Taken;

use super::Session;

impl Session {
    /// The data keys flash values live under: [`flash`](Self::flash) of `notice`
    /// is the data key `hallpass.flash.notice`. [`insert`](Self::insert),
    /// [`remove`](Self::remove) and [`increment`](Self::increment) refuse keys
    /// under it ([`SessionError::ReservedKey`]), and [`keys`](Self::keys) leaves
    /// them out, so nothing but a take can end a flash value.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// use hallpass::{Session, SessionError};
    ///
    /// session.flash("notice", "Saved").await?;
    /// let key = format!("{}notice", Session::FLASH_PREFIX);
    /// assert!(matches!(session.remove(&key).await, Err(SessionError::ReservedKey { .. })));
    /// assert!(session.keys().await?.is_empty());
    /// # Ok::<(), SessionError>(())
    /// # }).unwrap();
    /// ```
    pub const FLASH_PREFIX: &'static str = "hallpass.flash.";

    /// Stores `value` to be shown once, by the first [`take_flash`](Self::take_flash)
    /// of `key` in this or a later request: a notice that survives a redirect.
    /// Written at commit, with the request's other changes; a second `flash` of the
    /// same key before it is taken replaces the value.
    ///
    /// # Errors
    ///
    /// As [`insert`](Self::insert).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session_of("alice").await;
    /// session.flash("notice", "Password changed").await?;
    /// // … the response redirects; the next page shows the notice, once:
    /// assert_eq!(session.take_flash::<String>("notice").await?.as_deref(), Some("Password changed"));
    /// assert_eq!(session.take_flash::<String>("notice").await?, None);
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn flash(&self, key: &str, value: impl Serialize) -> Result<(), SessionError> {
        self.insert_data(&flash_key(key), value).await
    }

    /// Takes the flash value stored under `key`: `Some` to exactly one request, and
    /// the value is gone for every other. A stored session sends the take to the
    /// store at once (with what this request changed so far), which reads and
    /// removes the value in one atomic step, so of two concurrent requests only one
    /// sees it. When the session as loaded holds no such value, this costs no store
    /// call; when the session ended meanwhile, it is `None`.
    ///
    /// # Errors
    ///
    /// [`SessionError::Deserialize`] when the value does not fit `T` (it is taken
    /// all the same), or a store error (nothing was taken; the request's changes
    /// stay pending).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// assert_eq!(session.take_flash::<String>("notice").await?, None);
    /// session.flash("notice", "Logged out").await?;
    /// assert_eq!(session.take_flash::<String>("notice").await?.as_deref(), Some("Logged out"));
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn take_flash<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, SessionError> {
        let field = flash_key(key);
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let Some(current) = state.current.as_mut() else {
            return Ok(None);
        };
        if !current.record.data.contains_key(&field) {
            return Ok(None);
        }
        if !current.stored {
            // Flashed in this very request: no other request can see it yet.
            let value = Arc::make_mut(&mut current.record).data.remove(&field);
            return deserialize(key, value);
        }
        let now = self.now();
        let mut delta = std::mem::take(&mut current.pending);
        delta.take(field);
        delta.max_data_bytes = Some(self.config().max_data_bytes);
        if current.needs_touch {
            delta.touch = Some(self.touch_at(now));
        }
        let mut followed = false;
        loop {
            let Some(current) = state.current.as_mut() else {
                return Ok(None);
            };
            match self.store().take(&current.key, &delta, now).await {
                Ok(Taken::Updated { value, record }) => {
                    current.record = record;
                    current.needs_touch = false;
                    return deserialize(key, value);
                }
                Err(err) => {
                    current.keep_pending(delta);
                    return Err(SessionError::from_store(err));
                }
                // A concurrent periodic rotation (SR-17): once more, under the new key.
                Ok(Taken::Gone)
                    if !followed && Box::pin(self.follow_rotation(&mut state, now)).await? =>
                {
                    followed = true;
                }
                Ok(Taken::Gone) => {
                    self.ended_meanwhile(&mut state);
                    return Ok(None);
                }
            }
        }
    }
}

/// The data key of the flash value `key`.
fn flash_key(key: &str) -> String {
    let mut field = String::with_capacity(Session::FLASH_PREFIX.len() + key.len());
    field.push_str(Session::FLASH_PREFIX);
    field.push_str(key);
    field
}

/// Whether `key` is a flash value's or a label's data key, which only their own methods touch.
pub(super) fn reserved(key: &str) -> bool {
    key.starts_with(Session::FLASH_PREFIX) || key.starts_with(crate::label::LABEL_PREFIX)
}

fn deserialize<T: DeserializeOwned>(
    key: &str,
    value: Option<serde_json::Value>,
) -> Result<Option<T>, SessionError> {
    value
        .map(T::deserialize)
        .transpose()
        .map_err(|source| SessionError::Deserialize {
            key: key.to_owned(),
            source,
        })
}
