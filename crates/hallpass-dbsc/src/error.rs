//! [`ProofError`]: why a proof was refused.

/// Why a DBSC proof was refused. Every variant means "no": the caller answers the
/// browser the same way (a fresh challenge) whichever it is, and logs the reason.
///
/// # Examples
///
/// ```
/// let err = hallpass_dbsc::verify_registration("not a jws", &[hallpass_dbsc::Algorithm::Es256]);
/// assert_eq!(err.unwrap_err(), hallpass_dbsc::ProofError::Malformed("not three dot-separated parts"));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Longer than [`MAX_PROOF_LEN`](crate::MAX_PROOF_LEN) bytes; not parsed.
    #[error("the proof is {len} bytes, more than the {max} accepted")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Not a compact JWS of base64url JSON parts.
    #[error("malformed proof: {0}")]
    Malformed(&'static str),
    /// The header's `typ` is not `dbsc+jwt`.
    #[error("the proof's typ is not dbsc+jwt")]
    WrongType,
    /// The header's `alg` is not one the server offered (`none` never is).
    #[error("the proof's algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// A registration proof without a `jwk` in its header.
    #[error("the registration proof carries no jwk")]
    KeyMissing,
    /// The `jwk` carries private key members (`d`, `p`, …): a browser never sends
    /// them, so something else made this proof.
    #[error("the proof's jwk is not a public key")]
    KeyNotPublic,
    /// The `jwk` is not an EC P-256 or RSA key we accept (other curve, bad
    /// coordinates, an RSA modulus under 2,048 bits, …).
    #[error("unsupported key: {0}")]
    UnsupportedKey(&'static str),
    /// The `alg` does not belong to the key's type (ES256 needs EC P-256, RS256 RSA),
    /// or a refresh proof's `alg` is not the bound key's.
    #[error("the proof's algorithm does not match its key")]
    KeyAlgorithmMismatch,
    /// A refresh proof carried a `jwk`: refresh proofs are checked against the
    /// bound key only, so one offering a key is an attempt to swap it.
    #[error("a refresh proof must not carry a jwk")]
    KeySubstitution,
    /// The signature has the wrong encoding or length (e.g. a DER-encoded ECDSA
    /// signature where JOSE wants the raw 64-byte `r‖s`).
    #[error("the proof's signature is not encoded as JOSE requires")]
    SignatureEncoding,
    /// The signature does not verify under the key.
    #[error("the proof's signature does not verify")]
    BadSignature,
}
