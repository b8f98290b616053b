//! The session cookie value: wire format version 1.
//!
//! ```text
//! value   = base64url-nopad( version | handle | token | tag )      108 characters
//!
//!   offset  len  field
//!   0       1    version   0x01
//!   1       16   handle    the session's public handle (stable across rotation)
//!   17      32   token     the secret: 32 bytes from the OS CSPRNG
//!   49      32   tag       HMAC-SHA256(mac_key, message)
//!
//! message = "hallpass-cookie" 0x00            15 + 1 bytes, domain separation
//!         | len(cookie name) as u16 big-endian
//!         | cookie name bytes                  binds the value to its cookie (AT-15)
//!         | version | handle | token           bytes 0..49 of the value
//!
//! mac_key = HKDF-SHA256(salt = none, ikm = key, info = "hallpass v1 cookie-mac hmac-sha256")
//! ```
//!
//! Decoding is strict (SR-31): exactly 108 characters of the URL-safe alphabet, no
//! padding, version 1, and a tag that one of the keyring's keys verifies in constant
//! time over the full 32 bytes (SR-38, AT-12, AT-14). Anything else is "no session",
//! decided before any store is asked. The test vectors at the end of this file were
//! computed with an independent implementation (Python's `hmac`/`hashlib`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::keyring::{Key, Keyring};
use crate::token::{HANDLE_LEN, Handle, TOKEN_LEN, Token};

/// The wire format version this code writes and reads.
pub const FORMAT_VERSION: u8 = 1;
const DOMAIN: &[u8] = b"hallpass-cookie\x00";
const TAG_LEN: usize = 32;
const RAW_LEN: usize = 1 + HANDLE_LEN + TOKEN_LEN + TAG_LEN;
/// Length of an encoded cookie value in characters.
pub const VALUE_LEN: usize = 108;

/// A cookie value whose tag checked out.
#[derive(Debug)]
pub(crate) struct Verified {
    pub(crate) handle: Handle,
    pub(crate) token: Token,
    /// `false` when an older, verify-only key matched: the cookie must be re-issued.
    pub(crate) by_primary: bool,
}

/// Why a presented value is not a session cookie (reasons go to logs only, H8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// Wrong length or alphabet.
    Malformed,
    /// A version this code does not read.
    UnknownVersion,
    /// No key in the keyring verifies the tag (forged, tampered, moved, or retired key).
    BadTag,
}

impl Rejected {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownVersion => "unknown_version",
            Self::BadTag => "bad_signature",
        }
    }
}

fn tag(key: &Key, cookie_name: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = key.mac();
    let name = cookie_name.as_bytes();
    // Cookie names are validated to at most 255 bytes when the config is built.
    let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
    mac.update(DOMAIN);
    mac.update(&name_len.to_be_bytes());
    mac.update(name);
    mac.update(body);
    mac
}

/// Encodes and signs a cookie value with the keyring's primary key.
pub(crate) fn encode(
    keyring: &Keyring,
    cookie_name: &str,
    handle: &Handle,
    token: &Token,
) -> String {
    let mut value = String::with_capacity(VALUE_LEN);
    encode_into(keyring, cookie_name, handle, token, &mut value);
    value
}

/// [`encode`], appended to `out` (the `Set-Cookie` text being built: no string of
/// its own per response).
pub(crate) fn encode_into(
    keyring: &Keyring,
    cookie_name: &str,
    handle: &Handle,
    token: &Token,
    out: &mut String,
) {
    let mut raw = zeroize::Zeroizing::new([0u8; RAW_LEN]);
    raw[0] = FORMAT_VERSION;
    raw[1..17].copy_from_slice(handle.as_bytes());
    raw[17..49].copy_from_slice(token.expose_bytes());
    let digest = tag(keyring.primary(), cookie_name, &raw[..49])
        .finalize()
        .into_bytes();
    raw[49..].copy_from_slice(&digest);
    URL_SAFE_NO_PAD.encode_string(raw.as_ref(), out);
}

/// Decodes and verifies a presented cookie value.
pub(crate) fn decode(
    keyring: &Keyring,
    cookie_name: &str,
    value: &[u8],
) -> Result<Verified, Rejected> {
    if value.len() != VALUE_LEN {
        return Err(Rejected::Malformed);
    }
    let mut raw = zeroize::Zeroizing::new([0u8; RAW_LEN]);
    match URL_SAFE_NO_PAD.decode_slice(value, raw.as_mut()) {
        Ok(RAW_LEN) => {}
        _ => return Err(Rejected::Malformed),
    }
    if raw[0] != FORMAT_VERSION {
        return Err(Rejected::UnknownVersion);
    }
    let (body, presented) = raw.split_at(49);
    let position = keyring
        .keys()
        .iter()
        .position(|key| tag(key, cookie_name, body).verify_slice(presented).is_ok())
        .ok_or(Rejected::BadTag)?;
    let mut handle = [0u8; HANDLE_LEN];
    handle.copy_from_slice(&body[1..17]);
    let mut token = [0u8; TOKEN_LEN];
    token.copy_from_slice(&body[17..49]);
    Ok(Verified {
        handle: Handle::from_bytes(handle),
        token: Token::from_bytes(token),
        by_primary: position == 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const KEY_B: &str = "________________________________________________________________";
    /// Handle a0..af, token 32 × 0x42, key A, cookie `__Host-id`.
    const VECTOR_HOST_ID: &str = "AaChoqOkpaanqKmqq6ytrq9CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQu0L7WGb-MFuLpJzlRuQ-cLG7hNqt-YZ3-3Kk28j7igX";
    /// The same, cookie `id`.
    const VECTOR_ID: &str = "AaChoqOkpaanqKmqq6ytrq9CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQseNZGSbJxjzsRSZkCpyj0ZodJCuGL4eX7gtNZwAo_OB";
    /// The same, key B (48 × 0xff), cookie `__Host-id`.
    const VECTOR_KEY_B: &str = "AaChoqOkpaanqKmqq6ytrq9CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQlMB6kNLKSI3Y2qA9pmgnT5_8MSZTOCkBIer0LwriCYW";

    fn ring(list: &str) -> Keyring {
        Keyring::from_base64url_list(list).unwrap()
    }

    fn fixture() -> (Handle, Token) {
        let mut handle = [0u8; 16];
        for (i, b) in handle.iter_mut().enumerate() {
            *b = 0xa0 + u8::try_from(i).unwrap();
        }
        (Handle::from_bytes(handle), Token::from_bytes([0x42; 32]))
    }

    #[test]
    fn test_vectors_are_pinned() {
        let (handle, token) = fixture();
        assert_eq!(
            encode(&ring(KEY_A), "__Host-id", &handle, &token),
            VECTOR_HOST_ID
        );
        assert_eq!(encode(&ring(KEY_A), "id", &handle, &token), VECTOR_ID);
        assert_eq!(
            encode(&ring(KEY_B), "__Host-id", &handle, &token),
            VECTOR_KEY_B
        );
        assert_eq!(VECTOR_HOST_ID.len(), VALUE_LEN);
    }

    #[test]
    fn vectors_decode_to_their_parts() {
        let (handle, token) = fixture();
        let verified = decode(&ring(KEY_A), "__Host-id", VECTOR_HOST_ID.as_bytes()).unwrap();
        assert_eq!(verified.handle, handle);
        assert_eq!(verified.token, token);
        assert!(verified.by_primary);
    }

    #[test]
    fn older_key_verifies_but_asks_for_reissue() {
        let both = ring(&format!("{KEY_B},{KEY_A}"));
        let verified = decode(&both, "__Host-id", VECTOR_HOST_ID.as_bytes()).unwrap();
        assert!(!verified.by_primary);
        let fresh = decode(&both, "__Host-id", VECTOR_KEY_B.as_bytes()).unwrap();
        assert!(fresh.by_primary);
    }

    #[test]
    fn value_moved_to_another_cookie_name_is_rejected() {
        // AT-15: a valid value under another name does not verify.
        assert_eq!(
            decode(&ring(KEY_A), "id", VECTOR_HOST_ID.as_bytes()).unwrap_err(),
            Rejected::BadTag
        );
    }

    #[test]
    fn unknown_key_is_rejected() {
        assert_eq!(
            decode(&ring(KEY_B), "__Host-id", VECTOR_HOST_ID.as_bytes()).unwrap_err(),
            Rejected::BadTag
        );
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let keyring = ring(KEY_A);
        let mut raw = URL_SAFE_NO_PAD.decode(VECTOR_HOST_ID).unwrap();
        for byte in 0..raw.len() {
            for bit in 0..8 {
                raw[byte] ^= 1 << bit;
                let value = URL_SAFE_NO_PAD.encode(&raw);
                assert!(
                    decode(&keyring, "__Host-id", value.as_bytes()).is_err(),
                    "{byte}/{bit}"
                );
                raw[byte] ^= 1 << bit;
            }
        }
    }

    #[test]
    fn malformed_values_are_rejected_before_any_mac() {
        // SR-38 / AT-14: truncation, trailing garbage, other alphabets, padding.
        let keyring = ring(KEY_A);
        let cases = [
            String::new(),
            VECTOR_HOST_ID[..107].to_owned(),
            format!("{VECTOR_HOST_ID}A"),
            format!("{VECTOR_HOST_ID}="),
            VECTOR_HOST_ID.replace('-', "+").replace('_', "/"),
            VECTOR_HOST_ID[..49].to_owned(),
            "A".repeat(8192),
            format!("\"{}\"", &VECTOR_HOST_ID[..106]),
        ];
        for case in cases {
            assert!(
                decode(&keyring, "__Host-id", case.as_bytes()).is_err(),
                "{case}"
            );
        }
        let mut other_version = URL_SAFE_NO_PAD.decode(VECTOR_HOST_ID).unwrap();
        other_version[0] = 2;
        let value = URL_SAFE_NO_PAD.encode(&other_version);
        assert_eq!(
            decode(&keyring, "__Host-id", value.as_bytes()).unwrap_err(),
            Rejected::UnknownVersion
        );
    }

    #[test]
    fn tag_only_or_zero_tag_is_rejected() {
        let keyring = ring(KEY_A);
        let mut raw = URL_SAFE_NO_PAD.decode(VECTOR_HOST_ID).unwrap();
        raw[49..].fill(0);
        let value = URL_SAFE_NO_PAD.encode(&raw);
        assert_eq!(
            decode(&keyring, "__Host-id", value.as_bytes()).unwrap_err(),
            Rejected::BadTag
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any handle, any token, any valid cookie name: `decode` reads back exactly what
        /// `encode` wrote, under that name only (AT-15).
        #[test]
        fn encode_then_decode_round_trips(
            handle in proptest::prelude::any::<[u8; 16]>(),
            token in proptest::prelude::any::<[u8; 32]>(),
            name in "[A-Za-z0-9_-]{1,40}",
        ) {
            let keyring = ring(KEY_A);
            let value = encode(&keyring, &name, &Handle::from_bytes(handle), &Token::from_bytes(token));
            proptest::prop_assert_eq!(value.len(), VALUE_LEN);
            let back = decode(&keyring, &name, value.as_bytes()).unwrap();
            proptest::prop_assert_eq!(back.handle.as_bytes(), &handle);
            proptest::prop_assert_eq!(back.token.expose_bytes(), &token);
            proptest::prop_assert!(back.by_primary);
            let other = format!("{name}x");
            proptest::prop_assert!(decode(&keyring, &other, value.as_bytes()).is_err());
        }

        /// Any bytes at all: decoding never panics and never verifies (SR-36).
        #[test]
        fn any_bytes_never_verify(value in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            proptest::prop_assert!(decode(&ring(KEY_A), "__Host-id", &value).is_err());
        }
    }
}
