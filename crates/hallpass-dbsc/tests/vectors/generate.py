#!/usr/bin/env python3
"""Writes proofs.json: DBSC proofs (dbsc+jwt JWS) and RFC 7638 thumbprints made
with an implementation independent of ours (Python's `cryptography`), so the Rust
tests check against bytes we did not produce. Run once; the output is pinned.

    python3 generate.py > proofs.json
"""
import base64
import hashlib
import json

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(obj) -> str:
    return b64u(json.dumps(obj, separators=(",", ":")).encode())


def ec_jwk(key, private=False):
    numbers = key.private_numbers() if private else None
    pub = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64u(pub.x.to_bytes(32, "big")),
           "y": b64u(pub.y.to_bytes(32, "big"))}
    if private:
        jwk["d"] = b64u(numbers.private_value.to_bytes(32, "big"))
    return jwk


def rsa_jwk(key):
    pub = key.public_key().public_numbers()
    n = pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")
    e = pub.e.to_bytes((pub.e.bit_length() + 7) // 8, "big")
    return {"kty": "RSA", "n": b64u(n), "e": b64u(e)}


def thumbprint(jwk) -> str:
    members = {k: jwk[k] for k in (("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n"))}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64u(hashlib.sha256(canonical.encode()).digest())


def es256(key, signing_input: bytes, der=False) -> bytes:
    sig = key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
    if der:
        return sig
    r, s = decode_dss_signature(sig)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def rs256(key, signing_input: bytes) -> bytes:
    return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def jws(header, payload, sign) -> str:
    signing_input = f"{part(header)}.{part(payload)}"
    return f"{signing_input}.{b64u(sign(signing_input.encode()))}"


ec_key = ec.generate_private_key(ec.SECP256R1())
ec_other = ec.generate_private_key(ec.SECP256R1())
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_small = rsa.generate_private_key(public_exponent=65537, key_size=1024)

ES, RS = ec_jwk(ec_key), rsa_jwk(rsa_key)
reg = {"jti": "challenge-1", "authorization": "auth-1"}
ref = {"jti": "challenge-2"}
h = lambda alg, jwk=None, typ="dbsc+jwt": {k: v for k, v in (("alg", alg), ("typ", typ), ("jwk", jwk)) if v is not None}

out = {
    "ec_jwk": ES,
    "ec_other_jwk": ec_jwk(ec_other),
    "rsa_jwk": RS,
    "ec_thumbprint": thumbprint(ES),
    "rsa_thumbprint": thumbprint(RS),
    "registration_es256": jws(h("ES256", ES), reg, lambda m: es256(ec_key, m)),
    "registration_rs256": jws(h("RS256", RS), reg, lambda m: rs256(rsa_key, m)),
    "registration_jti_only": jws(h("ES256", ES), {"jti": "challenge-1"}, lambda m: es256(ec_key, m)),
    "refresh_es256": jws(h("ES256"), ref, lambda m: es256(ec_key, m)),
    "refresh_rs256": jws(h("RS256"), ref, lambda m: rs256(rsa_key, m)),
    # Each of these must be refused.
    "registration_der_signature": jws(h("ES256", ES), reg, lambda m: es256(ec_key, m, der=True)),
    "registration_signed_by_another_key": jws(h("ES256", ES), reg, lambda m: es256(ec_other, m)),
    "registration_rs256_with_ec_key": jws(h("RS256", ES), reg, lambda m: es256(ec_key, m)),
    "registration_wrong_typ": jws(h("ES256", ES, typ="jwt"), reg, lambda m: es256(ec_key, m)),
    "registration_no_typ": jws({"alg": "ES256", "jwk": ES}, reg, lambda m: es256(ec_key, m)),
    "registration_private_jwk": jws(h("ES256", ec_jwk(ec_key, private=True)), reg, lambda m: es256(ec_key, m)),
    "registration_without_jwk": jws(h("ES256"), reg, lambda m: es256(ec_key, m)),
    "registration_alg_none": f"{part(h('none'))}.{part(reg)}.",
    "registration_rsa_1024": jws(h("RS256", rsa_jwk(rsa_small)), reg, lambda m: rs256(rsa_small, m)),
    "refresh_with_jwk": jws(h("ES256", ES), ref, lambda m: es256(ec_key, m)),
    "refresh_signed_by_another_key": jws(h("ES256"), ref, lambda m: es256(ec_other, m)),
}
print(json.dumps(out, indent=2))
