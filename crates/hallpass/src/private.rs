//! Not part of the public API: entry points for benches and fuzz targets only. No
//! stability promise; do not use.

use crate::config::SessionConfig;
use crate::engine::{RequestHead, SessionEngine};
use crate::keyring::{Key, Keyring};
use crate::session::Session;
use crate::store::MemoryStore;
use crate::token::{Handle, Token};

/// A random session token, opaque: tokens never leave the crate otherwise.
#[derive(Debug)]
pub struct BenchToken(Token);

impl BenchToken {
    /// A fresh token from the OS CSPRNG.
    #[must_use]
    pub fn generate() -> Self {
        Self(Token::generate())
    }
}

/// Signs a cookie value for `handle` and `token` with the keyring's primary key.
#[must_use]
pub fn sign_cookie(
    keyring: &Keyring,
    cookie_name: &str,
    handle: &Handle,
    token: &BenchToken,
) -> String {
    crate::codec::encode(keyring, cookie_name, handle, &token.0)
}

/// Verifies a presented cookie value; `Some(signed by the primary key)` when valid.
#[must_use]
pub fn verify_cookie(keyring: &Keyring, cookie_name: &str, value: &[u8]) -> Option<bool> {
    crate::codec::decode(keyring, cookie_name, value)
        .ok()
        .map(|v| v.by_primary)
}

/// A session over a fresh memory store, for the doc examples of [`Session`].
///
/// # Panics
///
/// Never: the default configuration is valid.
#[must_use]
pub fn doc_session() -> Session {
    let engine = SessionEngine::new(MemoryStore::new(), SessionConfig::new(Key::generate()));
    match engine.map(|engine| engine.begin(&RequestHead::new())) {
        Ok(Ok((session, _commit))) => session,
        _ => unreachable!("the default configuration is valid"),
    }
}

/// A request of `principal`'s stored, logged-in session (logged in and committed by
/// an earlier request), for the doc examples of [`Session`].
///
/// # Panics
///
/// When the memory store fails, which it does not.
pub async fn doc_session_of(principal: &str) -> Session {
    let Ok(engine) = SessionEngine::new(MemoryStore::new(), SessionConfig::new(Key::generate()))
    else {
        unreachable!("the default configuration is valid")
    };
    let Ok((first, commit)) = engine.begin(&RequestHead::new()) else {
        unreachable!("an empty request is never rejected")
    };
    let set = match first.login(principal).await {
        Ok(()) => commit.finish().await.ok(),
        Err(_) => None,
    };
    let cookie = set
        .as_ref()
        .and_then(|set| set.set_cookie())
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .unwrap_or_default()
        .to_owned();
    let mut head = RequestHead::new();
    let _ = head.push_cookie(cookie.as_bytes());
    match engine.begin(&head) {
        Ok((session, _commit)) => session,
        Err(_) => unreachable!("one cookie is never rejected"),
    }
}
