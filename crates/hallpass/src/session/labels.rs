//! Labels (see [`crate::label`]): `label` gives the session one, `revoke_by_label`
//! ends every session carrying one.

use crate::error::SessionError;
use crate::events::{Event, RevokedBy};
use crate::label::{MAX_LABEL_VALUE, MAX_LABELS, data_key, is_label_name};

use super::Session;

impl Session {
    /// Gives the session the label `name = value` (replacing its value of `name`),
    /// written at commit with the request's other changes; the store indexes it, so
    /// [`revoke_by_label`](Self::revoke_by_label) finds the session. For OpenID
    /// Connect, label a session at login with the ID token's `sid` (and `iss`).
    /// Labels are data: a login as another principal drops them.
    ///
    /// # Errors
    ///
    /// [`SessionError::InvalidLabel`] for a bad name, a value over
    /// [`MAX_LABEL_VALUE`] bytes or one label too many; a store error from loading.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session_of("alice").await;
    /// session.label("oidc_sid", "08a5019c-17e1-4977-8f42-65a12843ea02").await?;
    /// assert_eq!(
    ///     session.label_value("oidc_sid").await?.as_deref(),
    ///     Some("08a5019c-17e1-4977-8f42-65a12843ea02")
    /// );
    /// // Only `label` writes a label's data key, and `keys` does not list it.
    /// let forged = session.insert("hallpass.label.oidc_sid", "someone-else").await;
    /// assert!(matches!(forged, Err(hallpass::SessionError::ReservedKey { .. })));
    /// assert!(session.keys().await?.is_empty());
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn label(&self, name: &str, value: &str) -> Result<(), SessionError> {
        if !is_label_name(name) {
            return Err(SessionError::InvalidLabel {
                reason: "the name must be 1 to 64 ASCII letters, digits, '_', '-' or '.'",
            });
        }
        if value.len() > MAX_LABEL_VALUE {
            return Err(SessionError::InvalidLabel {
                reason: "the value is longer than 256 bytes",
            });
        }
        let key = data_key(name);
        let labels = {
            let mut state = self.shared.state.lock().await;
            self.ensure_loaded(&mut state).await?;
            state.current.as_ref().map_or(0, |current| {
                current
                    .record
                    .labels()
                    .filter(|(other, _)| *other != name)
                    .count()
            })
        };
        if labels >= MAX_LABELS {
            return Err(SessionError::InvalidLabel {
                reason: "a session carries at most 8 labels",
            });
        }
        self.insert_data(&key, value).await
    }

    /// The value of the session's label `name`, if it carries one.
    ///
    /// # Errors
    ///
    /// A store error from loading.
    pub async fn label_value(&self, name: &str) -> Result<Option<String>, SessionError> {
        self.get(&data_key(name)).await
    }

    /// Ends every session carrying the label `name = value`, on every app server,
    /// and returns how many ended: what an OpenID Connect back-channel logout does
    /// with the logout token's `sid`. This request's own session is not needed.
    ///
    /// Check the caller's right first: a verified logout token, an operator. Anyone
    /// who can reach an unchecked route calling this can log users out.
    ///
    /// # Errors
    ///
    /// A store error.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// // After verifying a logout token whose `sid` is "s-1":
    /// let ended = session.revoke_by_label("oidc_sid", "s-1").await?;
    /// assert_eq!(ended, 0); // no session carried it
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn revoke_by_label(&self, name: &str, value: &str) -> Result<u64, SessionError> {
        let count = self
            .store()
            .revoke_label(name, value, self.now())
            .await
            .map_err(SessionError::from_store)?;
        if count > 0 {
            self.emit(|| Event::Revoked {
                handle: None,
                principal: None,
                count,
                by: RevokedBy::Label,
            });
        }
        Ok(count)
    }
}
