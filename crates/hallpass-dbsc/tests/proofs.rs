//! DBSC proofs against vectors made by an independent implementation (Python's
//! `cryptography`; `tests/vectors/generate.py`): the good ones verify, and each of
//! the refusals (another key, a `jwk` on refresh, RS256 with an EC key,
//! `alg: none`, a DER signature, an oversized proof, …) is refused with its reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use hallpass_dbsc::{
    Algorithm, MAX_PROOF_LEN, ProofError, PublicKey, verify_refresh, verify_registration,
};
use serde_json::Value;

const BOTH: &[Algorithm] = &[Algorithm::Es256, Algorithm::Rs256];

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/proofs.json")).unwrap()
}

fn text(name: &str) -> String {
    vectors()[name]
        .as_str()
        .unwrap_or_else(|| panic!("no vector {name}"))
        .to_owned()
}

fn key(name: &str) -> PublicKey {
    PublicKey::from_jwk(&vectors()[name].to_string()).unwrap()
}

#[test]
fn registrations_verify_and_give_the_key_the_challenge_and_the_authorization() {
    for (proof, jwk, thumbprint, alg) in [
        (
            "registration_es256",
            "ec_jwk",
            "ec_thumbprint",
            Algorithm::Es256,
        ),
        (
            "registration_rs256",
            "rsa_jwk",
            "rsa_thumbprint",
            Algorithm::Rs256,
        ),
    ] {
        let registration = verify_registration(&text(proof), BOTH).unwrap();
        assert_eq!(registration.jti, "challenge-1");
        assert_eq!(registration.authorization.as_deref(), Some("auth-1"));
        assert_eq!(registration.key, key(jwk));
        assert_eq!(registration.key.algorithm(), alg);
        assert_eq!(registration.key.thumbprint(), text(thumbprint), "RFC 7638");
        let stored = PublicKey::from_jwk(&registration.key.to_jwk()).unwrap();
        assert_eq!(stored, registration.key);
    }
    // Chrome often sends the jti alone.
    let bare = verify_registration(&text("registration_jti_only"), BOTH).unwrap();
    assert_eq!(
        (bare.jti.as_str(), bare.authorization),
        ("challenge-1", None)
    );
}

#[test]
fn a_structured_field_string_is_read_as_the_bare_token() {
    let quoted = format!("\"{}\"", text("registration_es256"));
    assert_eq!(
        verify_registration(&quoted, BOTH).unwrap().jti,
        "challenge-1"
    );
}

#[test]
fn refreshes_verify_against_the_bound_key() {
    let es = verify_refresh(&text("refresh_es256"), &key("ec_jwk")).unwrap();
    assert_eq!(es.jti, "challenge-2");
    let rs = verify_refresh(&text("refresh_rs256"), &key("rsa_jwk")).unwrap();
    assert_eq!(rs.jti, "challenge-2");
}

#[test]
fn every_bad_registration_is_refused_with_its_reason() {
    for (proof, allowed, reason) in [
        (
            "registration_signed_by_another_key",
            BOTH,
            ProofError::BadSignature,
        ),
        (
            "registration_der_signature",
            BOTH,
            ProofError::SignatureEncoding,
        ),
        (
            "registration_rs256_with_ec_key",
            BOTH,
            ProofError::KeyAlgorithmMismatch,
        ),
        ("registration_wrong_typ", BOTH, ProofError::WrongType),
        ("registration_no_typ", BOTH, ProofError::WrongType),
        ("registration_private_jwk", BOTH, ProofError::KeyNotPublic),
        ("registration_without_jwk", BOTH, ProofError::KeyMissing),
        (
            "registration_alg_none",
            BOTH,
            ProofError::AlgorithmNotAllowed,
        ),
        (
            "registration_rs256",
            &[Algorithm::Es256],
            ProofError::AlgorithmNotAllowed,
        ),
    ] {
        assert_eq!(
            verify_registration(&text(proof), allowed).unwrap_err(),
            reason,
            "{proof}"
        );
    }
    assert!(matches!(
        verify_registration(&text("registration_rsa_1024"), BOTH).unwrap_err(),
        ProofError::UnsupportedKey(_)
    ));
}

#[test]
fn every_bad_refresh_is_refused_with_its_reason() {
    let bound = key("ec_jwk");
    for (proof, key, reason) in [
        ("refresh_with_jwk", &bound, ProofError::KeySubstitution),
        (
            "refresh_signed_by_another_key",
            &bound,
            ProofError::BadSignature,
        ),
        (
            "refresh_es256",
            &key("ec_other_jwk"),
            ProofError::BadSignature,
        ),
        ("refresh_rs256", &bound, ProofError::KeyAlgorithmMismatch),
        (
            "refresh_es256",
            &key("rsa_jwk"),
            ProofError::KeyAlgorithmMismatch,
        ),
    ] {
        assert_eq!(
            verify_refresh(&text(proof), key).unwrap_err(),
            reason,
            "{proof}"
        );
    }
}

#[test]
fn a_changed_byte_anywhere_breaks_the_proof() {
    let good = text("refresh_es256");
    let bound = key("ec_jwk");
    for at in 0..good.len() {
        let mut bytes = good.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(bytes).unwrap();
        if changed == good {
            continue;
        }
        assert!(verify_refresh(&changed, &bound).is_err(), "byte {at}");
    }
}

#[test]
fn oversized_and_malformed_proofs_are_refused_before_any_key_is_read() {
    let long = "a".repeat(MAX_PROOF_LEN + 1);
    assert_eq!(
        verify_registration(&long, BOTH).unwrap_err(),
        ProofError::TooLong {
            len: MAX_PROOF_LEN + 1,
            max: MAX_PROOF_LEN,
        }
    );
    let good = text("registration_es256");
    for malformed in [
        String::new(),
        "a.b".to_owned(),
        format!("{good}.extra"),
        good.replacen('.', ".=", 1),
        format!("{good}=="),
        format!("\"{good}"),
    ] {
        assert!(
            matches!(
                verify_registration(&malformed, BOTH).unwrap_err(),
                ProofError::Malformed(_)
            ),
            "{malformed}"
        );
    }
}

#[test]
fn jwks_that_are_not_p256_or_rsa_public_keys_are_refused() {
    let ec = vectors()["ec_jwk"].clone();
    let with = |name: &str, value: Value| {
        let mut jwk = ec.clone();
        jwk[name] = value;
        PublicKey::from_jwk(&jwk.to_string()).unwrap_err()
    };
    assert!(matches!(
        with("crv", "P-384".into()),
        ProofError::UnsupportedKey(_)
    ));
    assert!(matches!(
        with("kty", "oct".into()),
        ProofError::UnsupportedKey(_)
    ));
    assert!(matches!(
        with("x", "AAAA".into()),
        ProofError::UnsupportedKey(_)
    ));
    // 32 bytes, but not a point on the curve.
    let zeros = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert!(matches!(
        with("y", zeros.into()),
        ProofError::UnsupportedKey(_)
    ));
    assert_eq!(with("d", "AAAA".into()), ProofError::KeyNotPublic);
    let mut rsa = vectors()["rsa_jwk"].clone();
    let n = rsa["n"].as_str().unwrap().to_owned();
    rsa["n"] = format!("AA{n}").into();
    assert!(matches!(
        PublicKey::from_jwk(&rsa.to_string()).unwrap_err(),
        ProofError::UnsupportedKey(_)
    ));
}

#[test]
fn a_key_prints_its_thumbprint_only() {
    let key = key("ec_jwk");
    let printed = format!("{key:?}");
    assert!(printed.contains(&text("ec_thumbprint")), "{printed}");
    assert!(!printed.contains("nydR2"), "{printed}");
}
