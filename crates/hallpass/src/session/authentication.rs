//! When and how the principal authenticated, and the freshness check before a
//! sensitive change (SR-30; NIST SP 800-63B-4 §2.2: re-authentication).

use std::time::Duration;

use crate::error::SessionError;
use crate::record::Authenticated;
use crate::time::Timestamp;

use super::Session;

impl Session {
    /// When and how the principal last authenticated (set by every login, kept by
    /// rotations); `None` for an anonymous session, or one logged in before
    /// hallpass recorded it.
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
    /// assert_eq!(session.authentication().await?, None);
    /// session.login("alice").await?;
    /// let done = session.authentication().await?.expect("logged in");
    /// assert_eq!(done.how.level, None, "a plain login records no level");
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn authentication(&self) -> Result<Option<Authenticated>, SessionError> {
        Ok(self
            .with_record(|record| record.principal.as_ref().and(record.authenticated.clone()))
            .await?
            .flatten())
    }

    /// When the principal last authenticated: [`Session::authentication`]'s time.
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
    /// session.login("alice").await?;
    /// assert!(session.authenticated_at().await?.is_some());
    /// # Ok::<(), hallpass::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn authenticated_at(&self) -> Result<Option<Timestamp>, SessionError> {
        Ok(self.authentication().await?.map(|done| done.at))
    }

    /// Checks that the principal authenticated at most `max_age` ago, before a
    /// sensitive change (a password change, "log out everywhere", a payment) and
    /// hands back when and how, for the application's own level check. Map
    /// [`SessionError::StaleAuthentication`] to a page that asks for the credentials
    /// again and logs in with [`Session::login_with`]; then retry.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotAuthenticated`] when no one is logged in,
    /// [`SessionError::StaleAuthentication`] when the login is older than `max_age`
    /// (or its time was not recorded), or a store error from loading.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let session = hallpass::__private::doc_session();
    /// use std::time::Duration;
    /// use hallpass::SessionError;
    ///
    /// assert!(matches!(session.require_fresh(Duration::from_secs(300)).await, Err(SessionError::NotAuthenticated)));
    /// session.login("alice").await?;
    /// let done = session.require_fresh(Duration::from_secs(300)).await?;
    /// assert_eq!(done.how.level, None);
    /// # Ok::<(), SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn require_fresh(&self, max_age: Duration) -> Result<Authenticated, SessionError> {
        let (principal, authenticated) = self
            .with_record(|record| (record.principal.is_some(), record.authenticated.clone()))
            .await?
            .unwrap_or((false, None));
        if !principal {
            return Err(SessionError::NotAuthenticated);
        }
        let now = self.now();
        match authenticated {
            Some(done) if done.at.saturating_add(max_age) >= now => Ok(done),
            other => Err(SessionError::StaleAuthentication {
                authenticated_at: other.map(|done| done.at),
                max_age,
            }),
        }
    }
}
