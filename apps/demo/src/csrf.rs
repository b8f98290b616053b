//! The CSRF token that every HTML form carries (SR-44).
//!
//! A random 256-bit value kept in the session's data, so it is bound to the session;
//! it is replaced whenever the session's token is (login, password change), so a
//! token seen before login is worthless after it. Compared in constant time. The JSON
//! API does not use it: it only takes `application/json` bodies, which a cross-site
//! form cannot send, and the same-origin guard refuses cross-site requests anyway.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hallpass::{Session, SessionError};
use subtle::ConstantTimeEq as _;

/// The session data key.
pub(crate) const KEY: &str = "csrf";

/// The session's CSRF token, minting one (and so a session) if there is none.
pub(crate) async fn token(session: &Session) -> Result<String, SessionError> {
    match session.get::<String>(KEY).await? {
        Some(token) => Ok(token),
        None => renew(session).await,
    }
}

/// Replaces the session's CSRF token with a fresh one.
pub(crate) async fn renew(session: &Session) -> Result<String, SessionError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| {
        SessionError::Store(hallpass::store::StoreError::msg(
            hallpass::store::StoreErrorKind::Backend,
            "the OS random number generator failed",
        ))
    })?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    session.insert(KEY, &token).await?;
    Ok(token)
}

/// Whether `presented` is this session's CSRF token. No session, no match.
pub(crate) async fn check(session: &Session, presented: &str) -> Result<bool, SessionError> {
    Ok(match session.get::<String>(KEY).await? {
        Some(expected) => bool::from(expected.as_bytes().ct_eq(presented.as_bytes())),
        None => false,
    })
}
