//! The account rules, written once: verify a password (under a concurrency limit),
//! log in, change the password, revoke one session, revoke the others, log out.
//! `api.rs` and `pages.rs` only present what these return; [`Authenticated`] (in
//! `guard.rs`) is the one login guard both use.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use hallpass::store::Authentication;
use hallpass::{Handle, Session, SessionError};
use tokio::sync::Semaphore;

use crate::guard::Authenticated;
use crate::users::{PasswordChangeError, Secret, Users};

/// What a password login records: one factor, NIST's assurance level 1.
fn password_login() -> Authentication {
    Authentication::new()
        .with_level("aal1")
        .with_methods(["pwd"])
}

/// Why an account action did not happen. Each front turns it into its own answer
/// (a JSON error, or a page with a sentence for a person).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccountError {
    /// Unknown user or wrong password: one answer for both (SR-37).
    #[error("wrong username or password")]
    WrongCredentials,
    /// Too many password checks are running or waiting: try again in a moment.
    #[error("too many logins at once, try again shortly")]
    Busy,
    /// No such session of this user (another user's handle looks the same).
    #[error("no such session of yours")]
    NotYours,
    /// A password change with the wrong current password.
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    /// A new password of the wrong length.
    #[error("{0}")]
    BadNewPassword(PasswordChangeError),
    /// Hashing failed.
    #[error("the password could not be changed")]
    HashFailed,
    /// The session layer refused or the store failed.
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl AccountError {
    /// The HTTP status every front answers with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::WrongCredentials => StatusCode::UNAUTHORIZED,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotYours => StatusCode::NOT_FOUND,
            Self::WrongCurrentPassword => StatusCode::FORBIDDEN,
            Self::BadNewPassword(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::HashFailed => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Session(err) => err.status(),
        }
    }
}

/// The password checks that may run at once, and how many may wait for one.
///
/// argon2 takes 19 MiB and tens of milliseconds per check. Unbounded, a flood of
/// failed logins fills the blocking pool (512 threads: ~10 GB) and every core;
/// bounded, it gets fast 503s while `/healthz` and logged-in users are served.
#[derive(Debug)]
pub(crate) struct HashingSlots {
    running: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// How long a check waits for a slot before it is answered "busy".
const MAX_WAIT: Duration = Duration::from_secs(2);

impl HashingSlots {
    /// One slot per core, and four waiting per slot.
    pub(crate) fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Self::new(cores, cores * 4)
    }

    pub(crate) fn new(running: usize, max_waiting: usize) -> Self {
        Self {
            running: Semaphore::new(running.max(1)),
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// Runs `work` (argon2) on the blocking pool once a slot is free; `Busy` at once
    /// when too many wait, or after [`MAX_WAIT`] without a slot.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AccountError> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(AccountError::Busy);
        }
        let permit = tokio::time::timeout(MAX_WAIT, self.running.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let Ok(Ok(_permit)) = permit else {
            return Err(AccountError::Busy);
        };
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| AccountError::HashFailed)
    }
}

/// Checks `username`'s password (argon2, also for an unknown name).
pub(crate) async fn verify(
    users: &Arc<Users>,
    slots: &HashingSlots,
    username: &str,
    password: &Secret,
) -> Result<bool, AccountError> {
    let users = Arc::clone(users);
    let (username, password) = (username.to_owned(), password.clone());
    slots
        .run(move || users.verify(&username, password.expose()))
        .await
}

/// Checks the credentials and logs `username` in on this session: a new token, a new
/// CSRF token, data kept (or dropped when another user was logged in).
///
/// The principal's generation is taken before the slow password check, so a
/// password change that commits while the check runs defeats this login
/// ([`SessionError::CredentialsChanged`]).
pub(crate) async fn log_in(
    users: &Arc<Users>,
    slots: &HashingSlots,
    session: &Session,
    username: &str,
    password: &Secret,
    remember: bool,
) -> Result<(), AccountError> {
    let ticket = session.begin_login(username).await?;
    if !verify(users, slots, username, password).await? {
        tracing::info!(target: "hallpass_demo::auth", "login failed");
        return Err(AccountError::WrongCredentials);
    }
    session
        .finish_login(ticket.with_authentication(password_login()))
        .await?;
    if remember {
        session.remember(true).await?;
    }
    crate::csrf::renew(session).await?;
    Ok(())
}

/// Changes the password, then ends every other session of the user and every login
/// of it still in flight, and rotates this session (SR-26): whoever knew the old
/// password is logged out everywhere, also when this session is revoked while the
/// change runs. Returns how many sessions ended.
pub(crate) async fn change_password(
    users: &Arc<Users>,
    slots: &HashingSlots,
    who: &Authenticated,
    current: &Secret,
    new: &Secret,
) -> Result<u64, AccountError> {
    let users = Arc::clone(users);
    let (name, current, new) = (who.user.clone(), current.clone(), new.clone());
    match slots
        .run(move || users.change(&name, current.expose(), new.expose()))
        .await?
    {
        Ok(()) => {}
        Err(PasswordChangeError::WrongPassword) => return Err(AccountError::WrongCurrentPassword),
        Err(err @ PasswordChangeError::BadLength) => return Err(AccountError::BadNewPassword(err)),
        Err(err) => {
            tracing::error!(target: "hallpass_demo::auth", error = %err, "password change failed");
            return Err(AccountError::HashFailed);
        }
    }
    let session = &who.session;
    let revoked = session.credentials_changed().await?;
    if session.principal().await?.is_some() {
        crate::csrf::renew(session).await?;
    }
    Ok(revoked)
}

/// Ends one of the user's own sessions by its handle as text. Returns whether it was
/// this one. A malformed handle and another user's are the same "not yours" (SR-27).
pub(crate) async fn revoke(who: &Authenticated, handle: &str) -> Result<bool, AccountError> {
    let handle: Handle = handle.parse().map_err(|_| AccountError::NotYours)?;
    let was_current = who.session.handle().await? == Some(handle);
    if who.session.revoke(&handle).await? {
        Ok(was_current)
    } else {
        Err(AccountError::NotYours)
    }
}

/// Ends every other session of the user; returns how many. A login older than
/// `fresh` needs the password again first (`password`): without it the answer is
/// [`SessionError::StaleAuthentication`], with it this session is re-authenticated
/// (a new token, a fresh login time) before the others end.
pub(crate) async fn revoke_others(
    users: &Arc<Users>,
    slots: &HashingSlots,
    fresh: Duration,
    who: &Authenticated,
    password: Option<&Secret>,
) -> Result<u64, AccountError> {
    match (who.session.require_fresh(fresh).await, password) {
        (Ok(_), _) => {}
        (Err(SessionError::StaleAuthentication { .. }), Some(password)) => {
            reauthenticate(users, slots, who, password).await?;
        }
        (Err(err), _) => return Err(err.into()),
    }
    Ok(who.session.revoke_others().await?)
}

/// Checks the user's password again and logs the same user in again on this
/// session: a step-up, with a new token, a fresh login time and a new CSRF token.
pub(crate) async fn reauthenticate(
    users: &Arc<Users>,
    slots: &HashingSlots,
    who: &Authenticated,
    password: &Secret,
) -> Result<(), AccountError> {
    let ticket = who.session.begin_login(who.user.clone()).await?;
    if !verify(users, slots, &who.user, password).await? {
        tracing::info!(target: "hallpass_demo::auth", "re-authentication failed");
        return Err(AccountError::WrongCurrentPassword);
    }
    who.session
        .finish_login(ticket.with_authentication(password_login()))
        .await?;
    crate::csrf::renew(&who.session).await?;
    Ok(())
}

/// Ends the session (and clears the cookie).
pub(crate) async fn log_out(session: &Session) -> Result<(), AccountError> {
    Ok(session.logout().await?)
}
