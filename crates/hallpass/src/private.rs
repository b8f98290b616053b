//! Not part of the public API: entry points for benches and fuzz targets only. No
//! stability promise; do not use.

use crate::keyring::Keyring;
use crate::token::{Handle, Token};

/// Signs a cookie value for `handle` and `token` with the keyring's primary key.
#[must_use]
pub fn sign_cookie(keyring: &Keyring, cookie_name: &str, handle: &Handle, token: &Token) -> String {
    crate::codec::encode(keyring, cookie_name, handle, token)
}

/// Verifies a presented cookie value; `Some(signed by the primary key)` when valid.
#[must_use]
pub fn verify_cookie(keyring: &Keyring, cookie_name: &str, value: &[u8]) -> Option<bool> {
    crate::codec::decode(keyring, cookie_name, value)
        .ok()
        .map(|v| v.by_primary)
}
