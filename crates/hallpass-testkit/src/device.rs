//! A browser that speaks DBSC with a software key, as Chrome does with its TPM key
//! (issue 16): it keeps every cookie it is given, registers when a response offers
//! it, and refreshes its bound cookie with signed proofs. Also the malformed proofs
//! an attacker would try.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::header::COOKIE;
use http::{Method, Request};
use p256::ecdsa::signature::Signer as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::app::TestApp;
use crate::front::Reply;

/// A 2,048-bit RSA private key for tests only (PKCS#1 DER, base64), made with
/// Python's `cryptography`: generating one in a debug build takes too long.
const TEST_RSA_KEY: &str = "MIIEowIBAAKCAQEA01bPTjvj6UzfVNMDWsetzpWYwYXEahHxaqcjq56gi34mFBVnIfGZduU3QtGuEbYrL8rr6lqnEYD/YL+6wzGjCVsUINnYLx4T0nO8q12zZwZ8IaZTNIuE9Spr8M0rLQshldmRz44tdi9PE0VK8GecZ+NJ+aGsFzrCyzVLlEgTxp2zSwtsJlbhhPsKIl0VmtcrzufpJAdXOdVwgURm+BLAw/ESVmmVTJ+XWPR1hW3BHiTV2f+3vnSuLMvrhd8pnJyaB+qx/+oOw0duYIdIS3mEog5zfH5cOM5TNiUgkW6m6WLPXrHsuUYUtPvlTbh3F1KwVxzuSZZ3YqL4Vw4A0jHk5wIDAQABAoIBACQVsHPVOgb9vyxGk04Oxhh95oU0h+LsiWICg86r2RG4Slwng2KCVAe+/36DOst/ZURVy45KSDhu5Cvq0MK/WO0iBf/N8mGpKw1GAbLo3tb6fntoYNCZ+eu6gI+vGG4qdmOVsJXV2uFRFpldvXvq1QPQBTOAbVfSCqyTvwHkhKvmteN/SjJ3PO/ivVShg4/EydhrZ6dXU1I8pHn8vARBaMQkpHmCe2YpSa7xm5w2rWhf2ZYrWN5lkQ5f10TDzfz6KBZwgaEsC1/NuaB7z88/fUokK+5kiZZIlVUU5W4juEUwHnrtGEC0tIaLt8r8xpQzNje96OLfxJOPC+e2Tmm1niECgYEA7EunRdb6sL80RdmcOUmHiKTFY75+FVBNtIjynwJ8KAoGglicVUnNYr4q5cm81tEr32fqfQVHp6px5H/W8BrKy7mKJ+1tciihIyNIJOjjZPZLB9Fv+enukOOPjU8HxOqlSH+Xky6VsoPD+Idiwk8TEiB74BJKiuUn9tRD8EVKOikCgYEA5PZlcBKn7c6dVJw8tyKWSsil1i7h0wMEQ2/CJ9bmUw0oi+ps6ijfqTqsCWZxUwKXdZlGEnb1TuUpiQADfqAPdZ57E2QHpiufWiaQnxUvTLPUHpqHId23u2vV/JwZ9YMCcRFxfIDUaRKaSmtcTgokBKMoSxkhBJ5XX/pXuD4dKI8CgYAv9Bp6PeqaO/NryYG+zoFG5cl5OIt139olLTWvt11i8sXnZfw0Aso/o8Ao6gv8vG5e5EPeI1grWpfKe3cvOwC0325+M9zmMgChlONrOigLsUAA0iwbV7ImjUfwsX0uJUBtuhcUs3uFwt/ea/tK26lPIHCDRLMEBQVbPjCbbjRmIQKBgB53z13PjbsugG8u70Frf9Zpxu+ug2yB/UJAD/UfOr0YhinAQ0gRslmhrhz+Hdxu/tquT83LOK+L/S/26YAjKot7UGNvLzlkmqrzcNFKj2XElFiSNaNDDt0I54va9fVevqdvK8vmlN16lT+L89eKr+pSD92WdXdY3sWt2Zhx441vAoGBAKh3NkMBebiU9Sw4nxnFRQWMb02vaoEqStZf1rnDb2U1Q5Bs3z4PJbOuqv2jMBC89EwCyV/OxgH92gsO2By468DFYOmf0jMHF8saBtIx7JtNgp4l9+HuDERttFe2l166QXIRZpEMbl/Sl753Tvi9KULn/fcqXzllHHoY+bQtKQ95";

/// The browser's device key: what a TPM would hold.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub enum DeviceKey {
    /// A P-256 key: ES256 proofs.
    Es256(p256::ecdsa::SigningKey),
    /// An RSA key: RS256 proofs.
    Rs256(Box<rsa::PrivateKey>),
}

fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl DeviceKey {
    /// A fresh P-256 key from the OS generator.
    ///
    /// # Panics
    ///
    /// When the OS generator fails.
    pub fn es256() -> Self {
        loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no randomness: {e}"));
            if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&bytes) {
                return Self::Es256(key);
            }
        }
    }

    /// The test RSA key.
    ///
    /// # Panics
    ///
    /// Never: the constant is a valid key.
    pub fn rs256() -> Self {
        let der = STANDARD
            .decode(TEST_RSA_KEY)
            .unwrap_or_else(|e| panic!("test key: {e}"));
        Self::Rs256(Box::new(
            rsa::PrivateKey::from_pkcs1_der(&der).unwrap_or_else(|e| panic!("test key: {e}")),
        ))
    }

    /// The JOSE algorithm of this key's proofs.
    pub fn alg(&self) -> &'static str {
        match self {
            Self::Es256(_) => "ES256",
            Self::Rs256(_) => "RS256",
        }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        match self {
            Self::Es256(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                json!({"kty": "EC", "crv": "P-256", "x": b64u(&bytes[1..33]), "y": b64u(&bytes[33..65])})
            }
            Self::Rs256(key) => {
                json!({"kty": "RSA", "n": b64u(&key.n_bytes()), "e": b64u(&key.e_bytes())})
            }
        }
    }

    /// The JOSE signature over `input`: raw `r‖s` for ES256, PKCS#1 v1.5 for RS256.
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Self::Es256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(input);
                signature.to_bytes().to_vec()
            }
            Self::Rs256(key) => {
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(rsa::PrivateKey::clone(key));
                let signature: rsa::pkcs1v15::Signature = signer.sign(input);
                rsa::signature::SignatureEncoding::to_vec(&signature)
            }
        }
    }

    /// A compact JWS of `header` and `payload`, signed by this key.
    pub fn jws(&self, header: &Value, payload: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64u(header.to_string().as_bytes()),
            b64u(payload.to_string().as_bytes())
        );
        let signature = self.sign(input.as_bytes());
        format!("{input}.{}", b64u(&signature))
    }

    /// A JWS of `header` and `payload` with an empty signature (`alg: none`).
    pub fn unsigned(header: &Value, payload: &Value) -> String {
        format!(
            "{}.{}.",
            b64u(header.to_string().as_bytes()),
            b64u(payload.to_string().as_bytes())
        )
    }

    /// A registration proof for `challenge`: the key in the header.
    pub fn registration(&self, challenge: &str) -> String {
        self.jws(
            &json!({"alg": self.alg(), "typ": "dbsc+jwt", "jwk": self.jwk()}),
            &json!({"jti": challenge}),
        )
    }

    /// A refresh proof for `challenge`: no key in the header.
    pub fn refresh(&self, challenge: &str) -> String {
        self.jws(
            &json!({"alg": self.alg(), "typ": "dbsc+jwt"}),
            &json!({"jti": challenge}),
        )
    }

    /// An ES256 refresh proof whose signature is DER-encoded (JOSE wants raw
    /// `r‖s`): what a careless signer sends.
    ///
    /// # Panics
    ///
    /// For an RSA key.
    pub fn der_refresh(&self, challenge: &str) -> String {
        let Self::Es256(key) = self else {
            panic!("DER signatures are ECDSA's");
        };
        let input = format!(
            "{}.{}",
            b64u(
                json!({"alg": "ES256", "typ": "dbsc+jwt"})
                    .to_string()
                    .as_bytes()
            ),
            b64u(json!({"jti": challenge}).to_string().as_bytes())
        );
        let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64u(signature.to_der().as_bytes()))
    }
}

/// What `Secure-Session-Registration` offered, read as an RFC 9651 list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The algorithms offered.
    pub algorithms: Vec<String>,
    /// The registration path.
    pub path: String,
    /// The challenge to sign.
    pub challenge: String,
}

impl Offer {
    /// Parses an offer; `None` for anything that is not one.
    pub fn parse(value: &str) -> Option<Self> {
        let list: sfv::List = sfv::Parser::new(value).parse().ok()?;
        let sfv::ListEntry::InnerList(inner) = list.first()? else {
            return None;
        };
        let algorithms = inner
            .items
            .iter()
            .map(|item| item.bare_item.as_token().map(|t| t.as_str().to_owned()))
            .collect::<Option<Vec<_>>>()?;
        let param = |name: &str| {
            inner
                .params
                .get(name)
                .and_then(sfv::BareItem::as_string)
                .map(|s| s.as_str().to_owned())
        };
        Some(Self {
            algorithms,
            path: param("path")?,
            challenge: param("challenge")?,
        })
    }
}

/// The challenge and session id of a `Secure-Session-Challenge` value.
pub fn parse_challenge(value: &str) -> Option<(String, String)> {
    let item: sfv::Item = sfv::Parser::new(value).parse().ok()?;
    let challenge = item.bare_item.as_string()?.as_str().to_owned();
    let id = item
        .params
        .get("id")
        .and_then(sfv::BareItem::as_string)?
        .as_str()
        .to_owned();
    Some((challenge, id))
}

/// A browser with a cookie jar (every cookie, by name) and a device key.
#[derive(Debug, Clone)]
pub struct DeviceBrowser {
    app: TestApp,
    /// The cookies it holds, by name.
    pub jar: BTreeMap<String, String>,
    /// Its device key.
    pub key: DeviceKey,
    /// The session id of its DBSC session, once registered.
    pub session_id: Option<String>,
}

impl DeviceBrowser {
    /// A browser with an empty jar and `key`.
    pub fn new(app: &TestApp, key: DeviceKey) -> Self {
        Self {
            app: app.clone(),
            jar: BTreeMap::new(),
            key,
            session_id: None,
        }
    }

    /// Sends a request with the jar's cookies and `headers`; keeps what
    /// `Set-Cookie` sets (a `Max-Age=0` removes).
    ///
    /// # Panics
    ///
    /// For a header that is not valid.
    pub async fn send(&mut self, method: Method, uri: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header(COOKIE, cookies.join("; "));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let reply = self
            .app
            .send(request.body(()).unwrap_or_else(|e| panic!("{e}")))
            .await;
        for set in reply.set_cookies() {
            let pair = set.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if set.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        reply
    }

    /// `GET uri`.
    pub async fn get(&mut self, uri: &str) -> Reply {
        self.send(Method::GET, uri, &[]).await
    }

    /// `POST uri`.
    pub async fn post(&mut self, uri: &str) -> Reply {
        self.send(Method::POST, uri, &[]).await
    }

    /// Registers as Chrome does after a response carrying `offer`: signs its
    /// challenge with the key and POSTs the proof to its path. Keeps the session id
    /// of a 200.
    ///
    /// # Panics
    ///
    /// When the offer does not parse.
    pub async fn register(&mut self, offer: &str) -> Reply {
        let offer = Offer::parse(offer).unwrap_or_else(|| panic!("not an offer: {offer}"));
        let proof = self.key.registration(&offer.challenge);
        self.register_with(&offer.path, &proof).await
    }

    /// POSTs `proof` to the registration path `path`.
    pub async fn register_with(&mut self, path: &str, proof: &str) -> Reply {
        let reply = self
            .send(Method::POST, path, &[("secure-session-response", proof)])
            .await;
        if reply.status == http::StatusCode::OK {
            let body: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
            self.session_id = body["session_identifier"].as_str().map(str::to_owned);
        }
        reply
    }

    /// POSTs to the refresh path with `Sec-Secure-Session-Id` and, if given, a proof.
    pub async fn refresh_with(&mut self, proof: Option<&str>) -> Reply {
        let id = self.session_id.clone().unwrap_or_default();
        let mut headers = vec![("sec-secure-session-id", id.as_str())];
        if let Some(proof) = proof {
            headers.push(("secure-session-response", proof));
        }
        self.send(Method::POST, crate::front::DEVICE_REFRESH, &headers)
            .await
    }

    /// A whole refresh as Chrome does it: no proof, a 403 with a challenge, a
    /// signed proof of that challenge. The last reply.
    ///
    /// # Panics
    ///
    /// When the first answer is not a 403 with a challenge.
    pub async fn refresh(&mut self) -> Reply {
        let first = self.refresh_with(None).await;
        let (challenge, _) = first
            .header("secure-session-challenge")
            .as_deref()
            .and_then(parse_challenge)
            .unwrap_or_else(|| panic!("no challenge: {first:?}"));
        let proof = self.key.refresh(&challenge);
        self.refresh_with(Some(&proof)).await
    }

    /// The value of the cookie `name`, if held.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.jar.get(name).map(String::as_str)
    }
}
