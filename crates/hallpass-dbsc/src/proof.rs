//! Registration and refresh proofs: compact JWS of type `dbsc+jwt`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{Algorithm, ProofError, PublicKey};

/// The longest proof accepted, in bytes: a registration with a 4,096-bit RSA key is
/// about 1.6 KiB. Anything longer is refused before it is parsed.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// The JWS `typ` of a DBSC proof.
const TYPE: &str = "dbsc+jwt";

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    jwk: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct Payload {
    jti: String,
    #[serde(default)]
    authorization: Option<String>,
}

/// A verified registration proof: the device's key and what it signed.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The key the session is to be bound to.
    pub key: PublicKey,
    /// The challenge the proof answers (`jti`): the caller checks it was issued for
    /// this session, is unexpired and unused, and consumes it.
    pub jti: String,
    /// The `authorization` value, if the offer had one and the browser echoed it.
    pub authorization: Option<String>,
}

/// A verified refresh proof.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refresh {
    /// The challenge the proof answers (`jti`), checked and consumed by the caller.
    pub jti: String,
}

/// Verifies a registration proof (the `Secure-Session-Response` header of a
/// registration request), for an offer of `allowed` algorithms.
///
/// In order: the length bound, three base64url parts, a JSON header with
/// `typ: dbsc+jwt`, an `alg` in `allowed`, a `jwk` that is a public EC P-256 or
/// RSA (≥ 2,048 bits) key of that algorithm, the signature over the first two parts,
/// and only then the payload (`jti`, and `authorization` if present). The value may
/// come bare (as Chrome sends it) or as a structured-field string in quotes.
///
/// # Errors
///
/// [`ProofError`], saying which check failed.
///
/// # Examples
///
/// ```
/// use hallpass_dbsc::{Algorithm, ProofError, verify_registration};
///
/// let err = verify_registration(&"a".repeat(9000), &[Algorithm::Es256]).unwrap_err();
/// assert_eq!(err, ProofError::TooLong { len: 9000, max: 8192 });
/// ```
pub fn verify_registration(proof: &str, allowed: &[Algorithm]) -> Result<Registration, ProofError> {
    let parts = Parts::split(proof)?;
    let header: Header = parts.header()?;
    let algorithm = Algorithm::from_name(&header.alg)
        .filter(|alg| allowed.contains(alg))
        .ok_or(ProofError::AlgorithmNotAllowed)?;
    let jwk = header.jwk.ok_or(ProofError::KeyMissing)?;
    let key = PublicKey::from_members(&jwk)?;
    parts.verify(&key, algorithm)?;
    let payload = parts.payload()?;
    Ok(Registration {
        key,
        jti: payload.jti,
        authorization: payload.authorization,
    })
}

/// Verifies a refresh proof against the key the session is bound to.
///
/// The checks of [`verify_registration`], except that the key is `key`, never one
/// the proof offers: a header with a `jwk` is refused
/// ([`ProofError::KeySubstitution`]), and `alg` must be the key's.
///
/// # Errors
///
/// [`ProofError`], saying which check failed.
///
/// # Examples
///
/// ```
/// use hallpass_dbsc::{ProofError, PublicKey, verify_refresh};
///
/// let key = PublicKey::from_jwk(r#"{"kty":"EC","crv":"P-256",
///     "x":"nydR2ZlZASJIlZZQfCsB6YlVpgSfMKz_XZJDtBdDB6Y",
///     "y":"dBngmU_Bf5_BMdBcLpwZcsmv9rmFA2-pIoZxIRqRVQI"}"#)?;
/// assert_eq!(verify_refresh("x.y", &key).unwrap_err(), ProofError::Malformed("not three dot-separated parts"));
/// # Ok::<(), ProofError>(())
/// ```
pub fn verify_refresh(proof: &str, key: &PublicKey) -> Result<Refresh, ProofError> {
    let parts = Parts::split(proof)?;
    let header: Header = parts.header()?;
    if header.jwk.is_some() {
        return Err(ProofError::KeySubstitution);
    }
    let algorithm = Algorithm::from_name(&header.alg).ok_or(ProofError::AlgorithmNotAllowed)?;
    parts.verify(key, algorithm)?;
    let payload = parts.payload()?;
    Ok(Refresh { jti: payload.jti })
}

/// A compact JWS split in its three parts and decoded from base64url; the payload's
/// JSON is read only after the signature is checked.
struct Parts<'a> {
    /// `header.payload`: what the signature covers.
    signed: &'a str,
    header: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl<'a> Parts<'a> {
    fn split(proof: &'a str) -> Result<Self, ProofError> {
        if proof.len() > MAX_PROOF_LEN {
            return Err(ProofError::TooLong {
                len: proof.len(),
                max: MAX_PROOF_LEN,
            });
        }
        // RFC 9651 sf-string form: the JWS alphabet has no quote or backslash, so
        // the quotes are all there is to take off.
        let proof = proof
            .strip_prefix('"')
            .and_then(|inner| inner.strip_suffix('"'))
            .unwrap_or(proof);
        let three = proof.rsplit_once('.').and_then(|(signed, signature)| {
            let (header, payload) = signed.split_once('.')?;
            (!payload.contains('.')).then_some((signed, header, payload, signature))
        });
        let Some((signed, header, payload, signature)) = three else {
            return Err(ProofError::Malformed("not three dot-separated parts"));
        };
        let decode = |part: &str, what| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| ProofError::Malformed(what))
        };
        Ok(Self {
            signed,
            header: decode(header, "the header is not base64url")?,
            payload: decode(payload, "the payload is not base64url")?,
            signature: decode(signature, "the signature is not base64url")?,
        })
    }

    fn header(&self) -> Result<Header, ProofError> {
        let header: Header = serde_json::from_slice(&self.header)
            .map_err(|_| ProofError::Malformed("the header is not a JSON object with an alg"))?;
        if header.typ.as_deref() != Some(TYPE) {
            return Err(ProofError::WrongType);
        }
        Ok(header)
    }

    fn verify(&self, key: &PublicKey, algorithm: Algorithm) -> Result<(), ProofError> {
        key.verify(algorithm, self.signed.as_bytes(), &self.signature)
    }

    fn payload(&self) -> Result<Payload, ProofError> {
        serde_json::from_slice(&self.payload)
            .map_err(|_| ProofError::Malformed("the payload is not a JSON object with a jti"))
    }
}
