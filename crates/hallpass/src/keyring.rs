//! Signing keys: one primary key that signs, any number of older keys that only verify.
//!
//! Keys are at least 32 random bytes (SR-40), have no built-in default, are zeroized on
//! drop and never printed (H10). Each key's MAC key is derived once with HKDF-SHA256
//! under an `info` string that names the purpose, format version and algorithm (H11),
//! so the same secret could never be confused with a key for another purpose.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The shortest key accepted, in bytes (256 bits).
pub const MIN_KEY_LEN: usize = 32;
/// The longest key accepted, in bytes; longer input is almost surely a mistake.
pub const MAX_KEY_LEN: usize = 1024;

/// HKDF `info` for the cookie MAC key of wire format version 1.
pub(crate) const COOKIE_MAC_INFO: &[u8] = b"hallpass v1 cookie-mac hmac-sha256";
/// HKDF `info` for the MAC key of device binding (DBSC) challenges and bound cookies.
pub(crate) const DEVICE_MAC_INFO: &[u8] = b"hallpass v1 device-mac hmac-sha256";

/// One signing key.
///
/// # Examples
///
/// ```
/// use hallpass::Key;
///
/// let key = Key::generate();
/// let text = key.to_base64url();
/// let again = Key::from_base64url(&text)?;
/// assert_eq!(format!("{again:?}"), "Key(<redacted>)");
/// # Ok::<(), hallpass::config::KeyError>(())
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key {
    secret: Vec<u8>,
    /// HMAC-SHA256 keyed with the cookie MAC key (HKDF of `secret`, see the module
    /// docs), its two padded-key blocks already hashed:
    /// each cookie's MAC starts from a copy instead of hashing them again. Its
    /// SHA-256 states zeroize themselves on drop (the `zeroize` features of `sha2`
    /// and `hmac`), so it is skipped by the derive, not left behind.
    #[zeroize(skip)]
    mac: Hmac<Sha256>,
    /// The same for the device binding's MAC key (its own HKDF `info`, H11):
    /// challenges and bound cookies can never pass for session cookies.
    #[zeroize(skip)]
    device_mac: Hmac<Sha256>,
}

impl Key {
    /// Makes a key from raw bytes.
    ///
    /// # Errors
    ///
    /// [`KeyError`] when `bytes` is shorter than [`MIN_KEY_LEN`] or longer than
    /// [`MAX_KEY_LEN`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort { len: bytes.len() });
        }
        if bytes.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong { len: bytes.len() });
        }
        let hkdf = Hkdf::<Sha256>::new(None, bytes);
        let derive = |info: &[u8]| -> Result<Hmac<Sha256>, KeyError> {
            let mut mac_key = Zeroizing::new([0u8; 32]);
            hkdf.expand(info, mac_key.as_mut())
                .map_err(|_| KeyError::TooLong { len: bytes.len() })?;
            <Hmac<Sha256> as KeyInit>::new_from_slice(mac_key.as_ref())
                .map_err(|_| KeyError::TooLong { len: bytes.len() })
        };
        Ok(Self {
            secret: bytes.to_vec(),
            mac: derive(COOKIE_MAC_INFO)?,
            device_mac: derive(DEVICE_MAC_INFO)?,
        })
    }

    /// Parses a key written as unpadded base64url (what [`Key::to_base64url`] and
    /// `hallpass keys generate` print).
    ///
    /// # Errors
    ///
    /// [`KeyError::Malformed`] for anything that is not unpadded base64url, and the
    /// length errors of [`Key::from_bytes`].
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::Key;
    /// use hallpass::config::KeyError;
    ///
    /// assert!(matches!(Key::from_base64url("c2hvcnQ"), Err(KeyError::TooShort { len: 5 })));
    /// assert!(matches!(Key::from_base64url("not base64!"), Err(KeyError::Malformed)));
    /// ```
    pub fn from_base64url(text: &str) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(text.trim_matches(|c: char| c.is_ascii_whitespace()))
                .map_err(|_| KeyError::Malformed)?,
        );
        Self::from_bytes(&bytes)
    }

    /// Generates a fresh 32-byte key from the OS CSPRNG.
    ///
    /// # Panics
    ///
    /// Panics only if the operating system's random number generator fails.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; MIN_KEY_LEN]);
        #[expect(
            clippy::expect_used,
            reason = "no safe fallback exists when the OS CSPRNG fails"
        )]
        getrandom::fill(bytes.as_mut())
            .expect("the operating system's random number generator failed");
        #[expect(
            clippy::expect_used,
            reason = "MIN_KEY_LEN bytes always satisfy Key::from_bytes"
        )]
        Self::from_bytes(bytes.as_ref()).expect("a MIN_KEY_LEN key is valid")
    }

    /// The key as unpadded base64url, for writing to a keys file. Zeroized on drop.
    #[must_use]
    pub fn to_base64url(&self) -> Zeroizing<String> {
        Zeroizing::new(URL_SAFE_NO_PAD.encode(&self.secret))
    }

    /// A fresh HMAC under this key's MAC key, ready for the message.
    pub(crate) fn mac(&self) -> Hmac<Sha256> {
        self.mac.clone()
    }

    /// A fresh HMAC under this key's device-binding MAC key.
    pub(crate) fn device_mac(&self) -> Hmac<Sha256> {
        self.device_mac.clone()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// Why a key or keyring could not be built.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is not unpadded base64url.
    #[error(
        "a key must be unpadded base64url (A-Z a-z 0-9 - _), as `hallpass keys generate` prints"
    )]
    Malformed,
    /// The key is shorter than [`MIN_KEY_LEN`] bytes.
    #[error(
        "a key must be at least {MIN_KEY_LEN} bytes (256 bits) of randomness, this one is {len} bytes"
    )]
    TooShort {
        /// The decoded length.
        len: usize,
    },
    /// The key is longer than [`MAX_KEY_LEN`] bytes.
    #[error("a key must be at most {MAX_KEY_LEN} bytes, this one is {len} bytes")]
    TooLong {
        /// The decoded length.
        len: usize,
    },
    /// The list of keys was empty.
    #[error("no key given: a keyring needs at least one (primary) key")]
    Empty,
    /// One key in a list failed; `index` counts from 0, the primary.
    #[error("key #{index} in the list: {source}")]
    InList {
        /// Position in the list, 0 being the primary key.
        index: usize,
        /// What was wrong with it.
        #[source]
        source: Box<Self>,
    },
}

/// The primary key (signs new cookies) plus older keys (verify only).
///
/// A cookie verified by an older key is re-issued under the primary key in the same
/// response, so rotating keys is: prepend a new key, wait one absolute timeout, drop
/// the oldest.
///
/// # Examples
///
/// ```
/// use hallpass::{Key, Keyring};
///
/// let old = Key::generate();
/// let new = Key::generate();
/// let list = format!("{},{}", &*new.to_base64url(), &*old.to_base64url());
/// let keyring = Keyring::from_base64url_list(&list)?;
/// assert_eq!(keyring.len(), 2);
/// # Ok::<(), hallpass::config::KeyError>(())
/// ```
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl From<Key> for Keyring {
    /// A keyring with one key: `SessionConfig::new(key)` works directly.
    fn from(primary: Key) -> Self {
        Self::new(primary)
    }
}

impl Keyring {
    /// A keyring with one key, which signs and verifies.
    #[must_use]
    pub fn new(primary: Key) -> Self {
        Self {
            keys: vec![primary],
        }
    }

    /// Adds an older key that is accepted when verifying but never signs.
    #[must_use]
    pub fn with_verify_only(mut self, key: Key) -> Self {
        self.keys.push(key);
        self
    }

    /// Parses comma-separated base64url keys, the first being the primary (the form
    /// of `HALLPASS_KEYS` and of keys files, where newlines also separate keys and
    /// `#` starts a comment that runs to the end of the line).
    ///
    /// # Errors
    ///
    /// [`KeyError::Empty`] when no key is present, [`KeyError::InList`] naming the
    /// first bad key otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::{Key, Keyring};
    ///
    /// let (new, old) = (Key::generate(), Key::generate());
    /// let file = format!("# signing keys, newest first\n{}\n{}  # retired 2026-11\n", new.to_base64url().as_str(), old.to_base64url().as_str());
    /// let keyring = Keyring::from_base64url_list(&file)?;
    /// assert_eq!(keyring.len(), 2);
    /// # Ok::<(), hallpass::config::KeyError>(())
    /// ```
    pub fn from_base64url_list(list: &str) -> Result<Self, KeyError> {
        let keys = list
            .lines()
            .map(|line| line.split('#').next().unwrap_or(""))
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .enumerate()
            .map(|(index, part)| {
                Key::from_base64url(part).map_err(|source| KeyError::InList {
                    index,
                    source: Box::new(source),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self { keys })
    }

    /// The key that signs.
    #[must_use]
    pub fn primary(&self) -> &Key {
        // A keyring always holds at least one key: every constructor ensures it.
        &self.keys[0]
    }

    /// All keys, primary first.
    pub(crate) fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The number of keys, primary included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always `false`: a keyring holds at least its primary key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = Key::from_bytes(&[0x5a; 32]).unwrap();
        let text = key.to_base64url();
        let ring = Keyring::new(key.clone()).with_verify_only(Key::generate());
        for shown in [format!("{key:?}"), format!("{key:#?}"), format!("{ring:?}")] {
            assert!(!shown.contains(&text[..10]), "{shown}");
            assert!(!shown.contains("90"), "{shown}");
        }
    }

    #[test]
    fn short_malformed_and_padded_keys_are_rejected_with_clear_errors() {
        assert_eq!(
            Key::from_bytes(&[1; 31]).unwrap_err(),
            KeyError::TooShort { len: 31 }
        );
        assert_eq!(
            Key::from_base64url("abc$").unwrap_err(),
            KeyError::Malformed
        );
        let padded = format!("{}=", &*Key::generate().to_base64url());
        assert_eq!(
            Key::from_base64url(&padded).unwrap_err(),
            KeyError::Malformed
        );
        let err =
            Keyring::from_base64url_list(&format!("{},short", &*Key::generate().to_base64url()))
                .unwrap_err();
        assert!(err.to_string().contains("key #1"), "{err}");
        assert_eq!(
            Keyring::from_base64url_list(" , ").unwrap_err(),
            KeyError::Empty
        );
        assert!(
            KeyError::TooShort { len: 5 }
                .to_string()
                .contains("at least 32 bytes")
        );
    }

    /// The prepared HMAC is not covered by `Key`'s derived zeroize: its two SHA-256
    /// states wipe themselves on drop, which `sha2` does only with its `zeroize`
    /// feature. This fails to compile if that feature is lost (SR-40).
    #[test]
    fn the_prepared_mac_zeroizes_its_states_on_drop() {
        fn zeroized_on_drop<T: ZeroizeOnDrop>() {}
        zeroized_on_drop::<sha2::block_api::Sha256VarCore>();
        zeroized_on_drop::<<Sha256 as hmac::digest::block_api::CoreProxy>::Core>();
    }

    #[test]
    fn key_text_round_trips() {
        let key = Key::generate();
        let again = Key::from_base64url(&key.to_base64url()).unwrap();
        let tag = |key: &Key| {
            let mut mac = key.mac();
            hmac::Mac::update(&mut mac, b"message");
            hmac::Mac::finalize(mac).into_bytes()
        };
        assert_eq!(tag(&key), tag(&again));
        assert_ne!(tag(&key), tag(&Key::generate()));
    }
}
