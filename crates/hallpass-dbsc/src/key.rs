//! [`PublicKey`] and [`Algorithm`]: the key a session is bound to.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::ProofError;

/// A proof's signature algorithm: the two that DBSC browsers use.
///
/// # Examples
///
/// ```
/// use hallpass_dbsc::Algorithm;
///
/// assert_eq!(Algorithm::from_name("ES256"), Some(Algorithm::Es256));
/// assert_eq!(Algorithm::Rs256.name(), "RS256");
/// assert_eq!(Algorithm::from_name("none"), None);
/// assert_eq!(Algorithm::from_name("es256"), None);
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA over P-256 with SHA-256; the signature is JOSE's raw 64-byte `r‖s`.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl Algorithm {
    /// The JOSE name, as in a JWS header and a `Secure-Session-Registration` offer.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }

    /// The algorithm a JOSE name stands for (exactly, case included); `None` for
    /// anything else, `none` among them.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(Self::Es256),
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
    }
}

/// A device's public key, as a verified registration proof gave it: what a bound
/// session keeps, and what its refresh proofs must verify under.
///
/// It is kept as [`PublicKey::to_jwk`]'s canonical JWK text and read back with
/// [`PublicKey::from_jwk`]; [`PublicKey::thumbprint`] names it (RFC 7638).
///
/// # Examples
///
/// ```
/// use hallpass_dbsc::{Algorithm, PublicKey};
///
/// let jwk = r#"{"kty":"EC","crv":"P-256",
///     "x":"nydR2ZlZASJIlZZQfCsB6YlVpgSfMKz_XZJDtBdDB6Y",
///     "y":"dBngmU_Bf5_BMdBcLpwZcsmv9rmFA2-pIoZxIRqRVQI"}"#;
/// let key = PublicKey::from_jwk(jwk)?;
/// assert_eq!(key.algorithm(), Algorithm::Es256);
/// assert_eq!(PublicKey::from_jwk(&key.to_jwk())?.thumbprint(), key.thumbprint());
/// # Ok::<(), hallpass_dbsc::ProofError>(())
/// ```
#[derive(Clone)]
pub struct PublicKey {
    verifier: Verifier,
    /// The RFC 7638 members in their canonical order, no whitespace.
    canonical: String,
}

#[derive(Clone)]
enum Verifier {
    Es256(p256::ecdsa::VerifyingKey),
    Rs256 {
        key: rsa::pkcs1v15::VerifyingKey<Sha256>,
        /// The modulus length: an RS256 signature has exactly this many bytes.
        bytes: usize,
    },
}

/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2; `k` of an
/// octet key): a browser never sends one.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The smallest RSA modulus accepted, in bits (NIST SP 800-57: 112-bit security).
const MIN_RSA_BITS: usize = 2048;

impl PublicKey {
    /// Reads a key from JWK text (what [`PublicKey::to_jwk`] wrote, or a `jwk` as a
    /// browser sends it).
    ///
    /// # Errors
    ///
    /// [`ProofError::Malformed`] for text that is not a JSON object, and the key
    /// errors of a registration proof's `jwk`: [`ProofError::KeyNotPublic`],
    /// [`ProofError::UnsupportedKey`].
    pub fn from_jwk(text: &str) -> Result<Self, ProofError> {
        let members: Map<String, Value> = serde_json::from_str(text)
            .map_err(|_| ProofError::Malformed("the jwk is not a JSON object"))?;
        Self::from_members(&members)
    }

    pub(crate) fn from_members(jwk: &Map<String, Value>) -> Result<Self, ProofError> {
        if PRIVATE_MEMBERS.iter().any(|name| jwk.contains_key(*name)) {
            return Err(ProofError::KeyNotPublic);
        }
        match member(jwk, "kty")? {
            "EC" => Self::ec(jwk),
            "RSA" => Self::rsa(jwk),
            _ => Err(ProofError::UnsupportedKey("kty is neither EC nor RSA")),
        }
    }

    fn ec(jwk: &Map<String, Value>) -> Result<Self, ProofError> {
        if member(jwk, "crv")? != "P-256" {
            return Err(ProofError::UnsupportedKey("the curve is not P-256"));
        }
        let x = coordinate(member(jwk, "x")?)?;
        let y = coordinate(member(jwk, "y")?)?;
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..33].copy_from_slice(&x);
        sec1[33..].copy_from_slice(&y);
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
            .map_err(|_| ProofError::UnsupportedKey("the point is not on P-256"))?;
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(x),
            URL_SAFE_NO_PAD.encode(y)
        );
        Ok(Self {
            verifier: Verifier::Es256(key),
            canonical,
        })
    }

    fn rsa(jwk: &Map<String, Value>) -> Result<Self, ProofError> {
        let n = unsigned(member(jwk, "n")?)?;
        let e = unsigned(member(jwk, "e")?)?;
        let key = rsa::PublicKey::new_with_size_limits(
            rsa::BoxedUint::from_be_slice_vartime(&n),
            rsa::BoxedUint::from_be_slice_vartime(&e),
            MIN_RSA_BITS..=rsa::PublicKey::MAX_SIZE,
        )
        .map_err(|_| {
            ProofError::UnsupportedKey("the RSA key is under 2,048 bits or not a valid key")
        })?;
        let canonical = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(&e),
            URL_SAFE_NO_PAD.encode(&n)
        );
        Ok(Self {
            verifier: Verifier::Rs256 {
                key: rsa::pkcs1v15::VerifyingKey::new(key),
                bytes: n.len(),
            },
            canonical,
        })
    }

    /// The algorithm this key signs with: ES256 for EC P-256, RS256 for RSA.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self.verifier {
            Verifier::Es256(_) => Algorithm::Es256,
            Verifier::Rs256 { .. } => Algorithm::Rs256,
        }
    }

    /// The RFC 7638 thumbprint: base64url of the SHA-256 of the key's required
    /// members in canonical JSON. Two JWKs of one key have one thumbprint.
    #[must_use]
    pub fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.canonical.as_bytes()))
    }

    /// The key as canonical JWK text (the RFC 7638 members only), to keep on a
    /// session record and read back with [`PublicKey::from_jwk`].
    #[must_use]
    pub fn to_jwk(&self) -> String {
        self.canonical.clone()
    }

    /// Checks `signature` over `message` under this key with `algorithm`.
    pub(crate) fn verify(
        &self,
        algorithm: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), ProofError> {
        if algorithm != self.algorithm() {
            return Err(ProofError::KeyAlgorithmMismatch);
        }
        match &self.verifier {
            Verifier::Es256(key) => {
                // JOSE's raw r‖s; a DER signature (70 to 72 bytes) is refused here.
                let signature = p256::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| ProofError::SignatureEncoding)?;
                key.verify(message, &signature)
                    .map_err(|_| ProofError::BadSignature)
            }
            Verifier::Rs256 { key, bytes } => {
                if signature.len() != *bytes {
                    return Err(ProofError::SignatureEncoding);
                }
                let signature = rsa::pkcs1v15::Signature::try_from(signature)
                    .map_err(|_| ProofError::SignatureEncoding)?;
                key.verify(message, &signature)
                    .map_err(|_| ProofError::BadSignature)
            }
        }
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.canonical == other.canonical
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm())
            .field("thumbprint", &self.thumbprint())
            .finish()
    }
}

fn member<'a>(jwk: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, ProofError> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or(ProofError::UnsupportedKey(
            "a required jwk member is missing or not a string",
        ))
}

/// An EC coordinate: exactly 32 bytes of base64url.
fn coordinate(text: &str) -> Result<[u8; 32], ProofError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or(ProofError::UnsupportedKey(
            "an EC coordinate is not 32 bytes of base64url",
        ))
}

/// An RSA integer: base64url, big-endian, no leading zero byte (RFC 7518 §6.3.1),
/// so that its text, and the thumbprint, has one form.
fn unsigned(text: &str) -> Result<Vec<u8>, ProofError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| ProofError::UnsupportedKey("an RSA member is not base64url"))?;
    match bytes.first() {
        None | Some(0) => Err(ProofError::UnsupportedKey(
            "an RSA member is empty or has a leading zero byte",
        )),
        Some(_) => Ok(bytes),
    }
}
