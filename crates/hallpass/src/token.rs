//! Session tokens, the store keys derived from them, and public session handles.
//!
//! - A [`Token`] is the secret: 32 bytes from the OS CSPRNG (SR-01, AT-09). It only
//!   ever leaves the process inside the signed cookie value.
//! - A [`StoreKey`] is the session's handle plus `SHA-256(token)`: what stores file a
//!   session under, so a dump of the store yields nothing a browser could present
//!   (SR-37, AT-13), and a clustered store can place all of a session's keys by its
//!   handle.
//! - A [`Handle`] is a public, non-secret name of a session (16 random bytes) that
//!   stays the same across rotation; the UI and the CLI list and revoke sessions by
//!   it, and a clustered store can keep a session's keys together with it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of a token in bytes (256 bits).
pub(crate) const TOKEN_LEN: usize = 32;
/// Length of a handle in bytes (128 bits).
pub(crate) const HANDLE_LEN: usize = 16;

/// Fills `buf` from the operating system's CSPRNG, drawn in batches
/// ([`crate::random`]).
///
/// The OS generator failing is not a condition a session library can work around:
/// minting a predictable token instead would be far worse, so this aborts the
/// current task by panicking, as `getrandom`'s own convenience APIs do.
fn os_random(buf: &mut [u8]) {
    #[expect(
        clippy::expect_used,
        reason = "no safe fallback exists when the OS CSPRNG fails; a predictable token is worse"
    )]
    crate::random::fill(buf).expect("the operating system's random number generator failed");
}

/// The secret part of a session cookie: 256 bits from the OS CSPRNG.
///
/// `Debug` is redacted and the bytes are zeroized on drop (SR-44). Crate-private:
/// outside the engine a token exists only inside a signed cookie value, and stores
/// see only its [`StoreKey`].
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Token([u8; TOKEN_LEN]);

impl Token {
    /// Mints a fresh token from the operating system's CSPRNG.
    ///
    /// # Panics
    ///
    /// Panics only if the operating system's random number generator fails, where no
    /// safe token can be made at all.
    #[must_use]
    pub(crate) fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_LEN];
        os_random(&mut bytes);
        Self(bytes)
    }

    /// A fresh token and a fresh handle from one CSPRNG draw (one system call where
    /// two separate draws would make two).
    pub(crate) fn generate_with_handle() -> (Self, Handle) {
        let mut bytes = zeroize::Zeroizing::new([0u8; TOKEN_LEN + HANDLE_LEN]);
        os_random(bytes.as_mut());
        let mut token = [0u8; TOKEN_LEN];
        let mut handle = [0u8; HANDLE_LEN];
        token.copy_from_slice(&bytes[..TOKEN_LEN]);
        handle.copy_from_slice(&bytes[TOKEN_LEN..]);
        (Self(token), Handle(handle))
    }

    /// Rebuilds a token from its bytes (used by the cookie codec after the MAC checked out).
    pub(crate) fn from_bytes(bytes: [u8; TOKEN_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes; only the cookie codec should need them.
    pub(crate) fn expose_bytes(&self) -> &[u8; TOKEN_LEN] {
        &self.0
    }

    /// The key a store files the session with this token and `handle` under.
    #[must_use]
    pub(crate) fn store_key(&self, handle: &Handle) -> StoreKey {
        StoreKey {
            handle: *handle,
            hash: Sha256::digest(self.0).into(),
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Token {}

/// What a store files a session under: its public [`Handle`] and `SHA-256` of its
/// token — the only form of the token any store sees (SR-37).
///
/// Stores look sessions up by the hash; the handle lets a clustered store keep all of
/// a session's keys together (a rotation keeps the handle and changes the hash). A
/// store key is not a credential: presenting it as a cookie does not work, because
/// the cookie's token is hashed again before any lookup. `Debug` shows the handle and
/// an 8-character prefix of the hash, for correlation only.
///
/// # Examples
///
/// ```
/// use hallpass::Handle;
/// use hallpass::store::StoreKey;
///
/// let handle = Handle::generate();
/// let key = StoreKey::random(&handle);
/// assert_eq!(StoreKey::from_hex(handle, &key.to_hex()), Some(key));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey {
    handle: Handle,
    hash: [u8; 32],
}

impl StoreKey {
    /// A key from a handle and a token hash a store persisted.
    #[must_use]
    pub fn new(handle: Handle, hash: [u8; 32]) -> Self {
        Self { handle, hash }
    }

    /// The key of a fresh random token under `handle`: for a store's own tests and
    /// tools, since a token never leaves the engine.
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::Handle;
    /// use hallpass::store::StoreKey;
    ///
    /// let handle = Handle::generate();
    /// let (a, b) = (StoreKey::random(&handle), StoreKey::random(&handle));
    /// assert_eq!(a.handle(), b.handle());
    /// assert_ne!(a.hash(), b.hash());
    /// ```
    #[must_use]
    pub fn random(handle: &Handle) -> Self {
        Token::generate().store_key(handle)
    }

    /// The session's handle.
    #[must_use]
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// `SHA-256(token)`, as stores persist it.
    #[must_use]
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// The hash in lower-case hex, for stores that key by text (64 characters).
    #[must_use]
    pub fn to_hex(&self) -> String {
        hash_to_hex(&self.hash)
    }

    /// Parses the hash as [`StoreKey::to_hex`] writes it; `None` for anything else.
    #[must_use]
    pub fn from_hex(handle: Handle, text: &str) -> Option<Self> {
        hash_from_hex(text).map(|hash| Self { handle, hash })
    }
}

/// A token hash in lower-case hex (64 characters).
pub(crate) fn hash_to_hex(hash: &[u8; 32]) -> String {
    let mut out = String::with_capacity(64);
    for byte in hash {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// A token hash as [`hash_to_hex`] writes it; `None` for anything else.
pub(crate) fn hash_from_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *slot = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Some(out)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        write!(f, "StoreKey({}, {}…)", self.handle, &hex[..8])
    }
}

/// A session's public name: shown in "your sessions" lists, used to revoke one
/// session, and stable across token rotation. Not a credential.
///
/// Text form: 22 characters of unpadded base64url.
///
/// # Examples
///
/// ```
/// use hallpass::Handle;
///
/// let handle = Handle::generate();
/// let text = handle.to_string();
/// assert_eq!(text.len(), 22);
/// assert_eq!(text.parse::<Handle>().unwrap(), handle);
/// assert!("not a handle".parse::<Handle>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle([u8; HANDLE_LEN]);

impl Handle {
    /// Mints a fresh random handle.
    ///
    /// # Panics
    ///
    /// Panics only if the operating system's random number generator fails.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = [0u8; HANDLE_LEN];
        os_random(&mut bytes);
        Self(bytes)
    }

    /// The handle's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; HANDLE_LEN] {
        &self.0
    }

    /// Rebuilds a handle from its bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; HANDLE_LEN]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 22];
        let written = URL_SAFE_NO_PAD
            .encode_slice(self.0, &mut buf)
            .map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf[..written]).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({self})")
    }
}

/// The text given to [`Handle`]'s `FromStr` was not 22 characters of base64url.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a session handle is 22 characters of unpadded base64url")]
pub struct InvalidHandle(());

impl std::str::FromStr for Handle {
    type Err = InvalidHandle;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() != 22 {
            return Err(InvalidHandle(()));
        }
        let mut out = [0u8; HANDLE_LEN];
        match URL_SAFE_NO_PAD.decode_slice(text, &mut out) {
            Ok(HANDLE_LEN) => Ok(Self(out)),
            _ => Err(InvalidHandle(())),
        }
    }
}

impl serde::Serialize for Handle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Handle {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_is_redacted() {
        let token = Token::from_bytes([0xab; 32]);
        let shown = format!("{token:?} {token:#?}");
        assert!(!shown.contains("ab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
    }

    #[test]
    fn store_key_is_sha256_of_the_token() {
        // SHA-256 of 32 zero bytes.
        let key = Token::from_bytes([0; 32]).store_key(&Handle::from_bytes([0; 16]));
        assert_eq!(
            key.to_hex(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn tokens_do_not_repeat() {
        let keys: std::collections::HashSet<_> = (0..10_000)
            .map(|_| Token::generate().store_key(&Handle::from_bytes([0; 16])))
            .collect();
        assert_eq!(keys.len(), 10_000);
    }

    #[test]
    fn hex_rejects_upper_case_and_wrong_length() {
        let handle = Handle::from_bytes([0; 16]);
        let key = Token::from_bytes([0; 32]).store_key(&handle);
        assert!(StoreKey::from_hex(handle, &key.to_hex().to_uppercase()).is_none());
        assert!(StoreKey::from_hex(handle, &key.to_hex()[..63]).is_none());
        assert!(StoreKey::from_hex(handle, "zz").is_none());
    }

    #[test]
    fn handle_rejects_padding_and_other_alphabets() {
        let text = Handle::generate().to_string();
        assert!(format!("{text}=").parse::<Handle>().is_err());
        assert!("++++++++++++++++++++++".parse::<Handle>().is_err());
    }
}
