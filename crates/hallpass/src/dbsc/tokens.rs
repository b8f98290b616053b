//! The two values device binding mints, both authenticated by the keyring under the
//! device MAC key (its own HKDF `info`, so neither can pass for a session cookie):
//! wire format version 1.
//!
//! ```text
//! challenge = base64url-nopad( version | purpose | issued_at | epoch | tag )   67 characters
//!
//!   offset  len  field
//!   0       1    version     0x01
//!   1       1    purpose     'R' a registration, 'F' a refresh
//!   2       8    issued_at   Unix milliseconds, big-endian
//!   10      8    epoch       the binding's epoch it is good for, big-endian
//!   18      32   tag         HMAC-SHA256(device_mac_key, "hallpass-challenge" 0x00 | handle | bytes 0..18)
//!
//! bound cookie value = base64url-nopad( version | epoch | expires_at | tag )    66 characters
//!
//!   0       1    version     0x01
//!   1       8    epoch       big-endian
//!   9       8    expires_at  Unix milliseconds, big-endian
//!   17      32   tag         HMAC-SHA256(device_mac_key, "hallpass-bound" 0x00
//!                              | len(cookie name) as u16 big-endian | cookie name | handle | bytes 0..17)
//!
//! device_mac_key = HKDF-SHA256(salt = none, ikm = key, info = "hallpass v1 device-mac hmac-sha256")
//! ```
//!
//! The session's handle is in every tag but in neither value: the server knows it
//! from the session cookie that comes with both, so a challenge or a bound cookie is
//! good for its own session only. A challenge is stateless: nothing is stored when
//! one is issued, and it is spent when a registration or refresh moves the
//! binding past its epoch (the store's atomic check). Reading is strict, as for the
//! session cookie (SR-31, SR-38): exact length, the URL-safe alphabet, version 1,
//! and a tag that one of the keyring's keys verifies over its full 32 bytes. The
//! vectors at the end were computed with Python's `hmac`/`hashlib`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::keyring::{Key, Keyring};
use crate::time::Timestamp;
use crate::token::Handle;

const VERSION: u8 = 1;
const TAG_LEN: usize = 32;
const CHALLENGE_DOMAIN: &[u8] = b"hallpass-challenge\x00";
const BOUND_DOMAIN: &[u8] = b"hallpass-bound\x00";
const CHALLENGE_BODY: usize = 18;
const CHALLENGE_RAW: usize = CHALLENGE_BODY + TAG_LEN;
/// Length of a challenge in characters.
pub(crate) const CHALLENGE_LEN: usize = 67;
const BOUND_BODY: usize = 17;
const BOUND_RAW: usize = BOUND_BODY + TAG_LEN;
/// Length of a bound cookie value in characters.
pub(crate) const BOUND_LEN: usize = 66;

/// What a challenge is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Sent with `Secure-Session-Registration`: good for binding an unbound session.
    Registration,
    /// Sent with `Secure-Session-Challenge`: good for one refresh at its epoch.
    Refresh,
}

impl Purpose {
    fn byte(self) -> u8 {
        match self {
            Self::Registration => b'R',
            Self::Refresh => b'F',
        }
    }
}

/// A challenge whose tag checked out for the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) purpose: Purpose,
    pub(crate) issued_at: Timestamp,
    pub(crate) epoch: u64,
}

/// A bound cookie whose tag checked out for the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BoundCookie {
    pub(crate) epoch: u64,
    pub(crate) expires_at: Timestamp,
}

fn challenge_tag(key: &Key, handle: &Handle, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = key.device_mac();
    mac.update(CHALLENGE_DOMAIN);
    mac.update(handle.as_bytes());
    mac.update(body);
    mac
}

fn bound_tag(key: &Key, cookie_name: &str, handle: &Handle, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = key.device_mac();
    let name = cookie_name.as_bytes();
    // Cookie names are validated to at most 255 bytes when the config is built.
    let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
    mac.update(BOUND_DOMAIN);
    mac.update(&name_len.to_be_bytes());
    mac.update(name);
    mac.update(handle.as_bytes());
    mac.update(body);
    mac
}

/// The `N` bytes of a presented value of exactly `len` characters of unpadded
/// base64url, version 1; `None` for anything else (checked before any MAC).
fn decode<const N: usize>(value: &[u8], len: usize) -> Option<[u8; N]> {
    let mut raw = [0u8; N];
    let decoded = value.len() == len && URL_SAFE_NO_PAD.decode_slice(value, &mut raw) == Ok(N);
    (decoded && raw[0] == VERSION).then_some(raw)
}

/// A challenge for `handle`'s session, signed with the primary key.
pub(crate) fn challenge(
    keyring: &Keyring,
    purpose: Purpose,
    handle: &Handle,
    issued_at: Timestamp,
    epoch: u64,
) -> String {
    let mut raw = [0u8; CHALLENGE_RAW];
    raw[0] = VERSION;
    raw[1] = purpose.byte();
    raw[2..10].copy_from_slice(&issued_at.as_unix_millis().to_be_bytes());
    raw[10..18].copy_from_slice(&epoch.to_be_bytes());
    let tag = challenge_tag(keyring.primary(), handle, &raw[..CHALLENGE_BODY])
        .finalize()
        .into_bytes();
    raw[CHALLENGE_BODY..].copy_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(raw)
}

/// Reads a challenge presented for `handle`'s session: `None` unless one of the
/// keyring's keys made it for that session.
pub(crate) fn read_challenge(keyring: &Keyring, handle: &Handle, text: &str) -> Option<Challenge> {
    let raw: [u8; CHALLENGE_RAW] = decode(text.as_bytes(), CHALLENGE_LEN)?;
    let (body, tag) = raw.split_at(CHALLENGE_BODY);
    let made_here = keyring
        .keys()
        .iter()
        .any(|key| challenge_tag(key, handle, body).verify_slice(tag).is_ok());
    if !made_here {
        return None;
    }
    let purpose = match body[1] {
        b'R' => Purpose::Registration,
        b'F' => Purpose::Refresh,
        _ => return None,
    };
    Some(Challenge {
        purpose,
        issued_at: Timestamp::from_unix_millis(u64::from_be_bytes(body[2..10].try_into().ok()?)),
        epoch: u64::from_be_bytes(body[10..18].try_into().ok()?),
    })
}

/// A bound cookie value for `handle`'s session at `epoch`, good until `expires_at`,
/// signed with the primary key.
pub(crate) fn bound_cookie(
    keyring: &Keyring,
    cookie_name: &str,
    handle: &Handle,
    epoch: u64,
    expires_at: Timestamp,
) -> String {
    let mut raw = [0u8; BOUND_RAW];
    raw[0] = VERSION;
    raw[1..9].copy_from_slice(&epoch.to_be_bytes());
    raw[9..17].copy_from_slice(&expires_at.as_unix_millis().to_be_bytes());
    let tag = bound_tag(keyring.primary(), cookie_name, handle, &raw[..BOUND_BODY])
        .finalize()
        .into_bytes();
    raw[BOUND_BODY..].copy_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(raw)
}

/// Reads a bound cookie value presented for `handle`'s session: `None` unless one of
/// the keyring's keys made it for that session under that cookie name.
pub(crate) fn read_bound_cookie(
    keyring: &Keyring,
    cookie_name: &str,
    handle: &Handle,
    value: &[u8],
) -> Option<BoundCookie> {
    let raw: [u8; BOUND_RAW] = decode(value, BOUND_LEN)?;
    let (body, tag) = raw.split_at(BOUND_BODY);
    let made_here = keyring.keys().iter().any(|key| {
        bound_tag(key, cookie_name, handle, body)
            .verify_slice(tag)
            .is_ok()
    });
    if !made_here {
        return None;
    }
    Some(BoundCookie {
        epoch: u64::from_be_bytes(body[1..9].try_into().ok()?),
        expires_at: Timestamp::from_unix_millis(u64::from_be_bytes(body[9..17].try_into().ok()?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const KEY_B: &str = "________________________________________________________________";
    /// Key A, handle a0..af, refresh, issued at 1,700,000,000,000 ms, epoch 3.
    const CHALLENGE_VECTOR: &str =
        "AUYAAAGLz-VoAAAAAAAAAAADGAovV53hg0Ej8qWRcsTbiLQ4O2vQgYNKGyluRfh8XXw";
    /// Key A, cookie `__Host-bound`, handle a0..af, epoch 3, expires at 1,700,000,600,000 ms.
    const BOUND_VECTOR: &str = "AQAAAAAAAAADAAABi8_uj8AxdHsm96vgNnYmuPq9u70IG6I02PsydpsSI8e7l5LH_w";

    fn ring(list: &str) -> Keyring {
        Keyring::from_base64url_list(list).unwrap()
    }

    fn handle() -> Handle {
        let mut bytes = [0u8; 16];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = 0xa0 + u8::try_from(i).unwrap();
        }
        Handle::from_bytes(bytes)
    }

    const ISSUED: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);
    const EXPIRES: Timestamp = Timestamp::from_unix_millis(1_700_000_600_000);

    #[test]
    fn test_vectors_are_pinned() {
        let challenge = challenge(&ring(KEY_A), Purpose::Refresh, &handle(), ISSUED, 3);
        assert_eq!(challenge, CHALLENGE_VECTOR);
        assert_eq!(challenge.len(), CHALLENGE_LEN);
        let bound = bound_cookie(&ring(KEY_A), "__Host-bound", &handle(), 3, EXPIRES);
        assert_eq!(bound, BOUND_VECTOR);
        assert_eq!(bound.len(), BOUND_LEN);
    }

    #[test]
    fn a_challenge_reads_back_for_its_session_only() {
        let keys = ring(KEY_A);
        let text = challenge(&keys, Purpose::Registration, &handle(), ISSUED, 0);
        assert_eq!(
            read_challenge(&keys, &handle(), &text),
            Some(Challenge {
                purpose: Purpose::Registration,
                issued_at: ISSUED,
                epoch: 0
            })
        );
        assert_eq!(read_challenge(&keys, &Handle::generate(), &text), None);
        assert_eq!(read_challenge(&ring(KEY_B), &handle(), &text), None);
        let older = ring(&format!("{KEY_B},{KEY_A}"));
        assert!(
            read_challenge(&older, &handle(), &text).is_some(),
            "a verify-only key reads it"
        );
        let mut tampered = text.into_bytes();
        tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(read_challenge(&keys, &handle(), &tampered), None);
        assert_eq!(read_challenge(&keys, &handle(), "short"), None);
    }

    #[test]
    fn a_bound_cookie_reads_back_for_its_session_and_name_only() {
        let keys = ring(KEY_A);
        let value = bound_cookie(&keys, "__Host-bound", &handle(), 7, EXPIRES);
        assert_eq!(
            read_bound_cookie(&keys, "__Host-bound", &handle(), value.as_bytes()),
            Some(BoundCookie {
                epoch: 7,
                expires_at: EXPIRES
            })
        );
        assert_eq!(
            read_bound_cookie(&keys, "bound", &handle(), value.as_bytes()),
            None
        );
        assert_eq!(
            read_bound_cookie(&keys, "__Host-bound", &Handle::generate(), value.as_bytes()),
            None
        );
        assert_eq!(
            read_bound_cookie(&ring(KEY_B), "__Host-bound", &handle(), value.as_bytes()),
            None
        );
    }

    /// A session cookie's MAC key cannot make a bound cookie or a challenge.
    #[test]
    fn the_device_key_is_not_the_cookie_key() {
        let key = ring(KEY_A);
        let mut cookie_mac = key.primary().mac();
        cookie_mac.update(b"x");
        let mut device_mac = key.primary().device_mac();
        device_mac.update(b"x");
        assert_ne!(
            cookie_mac.finalize().into_bytes(),
            device_mac.finalize().into_bytes()
        );
    }
}
