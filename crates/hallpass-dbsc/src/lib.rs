#![cfg_attr(not(test), forbid(clippy::panic))]
//! Device Bound Session Credentials (DBSC) for hallpass: the proofs a browser signs
//! with a key it cannot export, verified strictly, and the public key a session is
//! bound to.
//!
//! A browser that supports DBSC answers a registration offer with a proof: a compact
//! JWS of type `dbsc+jwt` whose header carries its new public key (`jwk`) and whose
//! payload quotes the server's challenge (`jti`). Later refreshes are proofs under
//! the same key, without a `jwk`: they are checked against the stored key only, so a
//! thief who holds the session cookie but not the device's key cannot mint the
//! short-lived cookie that DBSC requires.
//!
//! This crate is the protocol's cryptographic core, with no I/O:
//!
//! - [`verify_registration`]: parse, check `typ`, the algorithm allow-list, a
//!   public-only `jwk` whose key type matches the algorithm, the signature (ES256 as
//!   raw `r‖s`, RS256 as PKCS#1 v1.5 over SHA-256), and only then read the payload.
//! - [`verify_refresh`]: the same against a stored [`PublicKey`], refusing any `jwk`
//!   in the header (key substitution).
//! - [`PublicKey`]: the verified key, its RFC 7638 thumbprint, and a canonical JWK
//!   text to keep on a session record.
//!
//! Whether the quoted challenge is the one issued, unexpired and unused is the
//! caller's check, after the signature (a proof that does not verify consumes
//! nothing). Proofs longer than [`MAX_PROOF_LEN`] are refused before any parsing.
//!
//! The rules follow the W3C WebAppSec DBSC draft and what shipping Chrome sends; the
//! test vectors under `tests/vectors` were made with Python's `cryptography`.
//!
//! # Examples
//!
//! ```
//! use hallpass_dbsc::{Algorithm, ProofError, verify_registration};
//!
//! // A registration proof as Chrome sends it, here an `alg: none` one, which is refused.
//! let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiZGJzYytqd3QifQ.eyJqdGkiOiJjIn0.";
//! let refused = verify_registration(unsigned, &[Algorithm::Es256, Algorithm::Rs256]);
//! assert!(matches!(refused, Err(ProofError::AlgorithmNotAllowed)));
//! ```

mod error;
pub mod headers;
mod instructions;
mod key;
mod proof;

pub use error::ProofError;
pub use instructions::{Instructions, InstructionsError};
pub use key::{Algorithm, PublicKey};
pub use proof::{MAX_PROOF_LEN, Refresh, Registration, verify_refresh, verify_registration};
