//! OpenID Connect back-channel logout end to end (issue 17 item 3): sessions labelled
//! with the provider's `sid` at login end when the provider posts a logout token
//! signed by the key in the demo's key file; every malformed, forged or misaddressed
//! token is a 400 that ends nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use common::{ALICE, Agent, BOB, InProcess, serve, serve_with};
use hallpass_demo::backchannel::BackchannelLogout;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const ISSUER: &str = "https://op.example";
const CLIENT: &str = "hallpass-demo";

/// A provider's P-256 key pair: the private key signs, the public one is in the file.
struct Provider {
    signing: EncodingKey,
    dir: tempfile::TempDir,
}

impl Provider {
    fn new() -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("op.pem"), pair.public_key_pem()).unwrap();
        let signing = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        Self { signing, dir }
    }

    fn verifier(&self) -> BackchannelLogout {
        BackchannelLogout::from_key_file(&self.dir.path().join("op.pem"), ISSUER, CLIENT).unwrap()
    }

    fn sign(&self, header: &Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, &self.signing).unwrap()
    }
}

/// Unix seconds by the wall clock, which `jsonwebtoken` checks `exp` against.
fn now() -> u64 {
    hallpass::time::Clock::now(&hallpass::time::SystemClock).as_unix_millis() / 1000
}

fn logout_header() -> Header {
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("logout+jwt".to_owned());
    header
}

fn claims(sid: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": CLIENT,
        "iat": now(),
        "exp": now() + 120,
        "jti": format!("jti-{sid}-{}", common::rand_suffix()),
        "sid": sid,
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    })
}

async fn login_with_sid(demo: &InProcess, user: (&str, &str), sid: &str) -> Agent {
    let mut agent = Agent::new(&demo.base);
    let reply = agent
        .post_json(
            "/api/login",
            json!({"username": user.0, "password": user.1, "oidc_sid": sid}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    agent
}

async fn post_token(demo: &InProcess, token: &str) -> common::Reply {
    Agent::new(&demo.base)
        .post_form("/backchannel-logout", &[("logout_token", token)])
        .await
}

#[tokio::test]
async fn a_verified_logout_token_ends_every_session_of_its_sid() {
    let provider = Provider::new();
    let verifier = provider.verifier();
    let demo = serve_with(move |mut options| {
        options.backchannel = Some(verifier);
        options
    })
    .await;
    let mut laptop = login_with_sid(&demo, ALICE, "op-1").await;
    let mut phone = login_with_sid(&demo, ALICE, "op-1").await;
    let mut bob = login_with_sid(&demo, BOB, "op-2").await;

    let token = provider.sign(&logout_header(), &claims("op-1"));
    let reply = post_token(&demo, &token).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(laptop.get("/api/me").await.status, 401);
    assert_eq!(phone.get("/api/me").await.status, 401);
    assert_eq!(bob.get("/api/me").await.status, 200, "another sid lives");
    // The same token again (a replay) ends nothing more and is still a 200.
    assert_eq!(post_token(&demo, &token).await.status, 200);
    assert_eq!(bob.get("/api/me").await.status, 200);
}

#[tokio::test]
async fn forged_misaddressed_and_malformed_logout_tokens_end_nothing() {
    let provider = Provider::new();
    let stranger = Provider::new();
    let verifier = provider.verifier();
    let demo = serve_with(move |mut options| {
        options.backchannel = Some(verifier);
        options
    })
    .await;
    let mut alice = login_with_sid(&demo, ALICE, "op-1").await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = claims("op-1");
        change(&mut claims);
        claims
    };
    let mut jwt_typed = Header::new(Algorithm::ES256);
    jwt_typed.typ = Some("JWT".to_owned());
    let refused = [
        (
            "signed by another key",
            stranger.sign(&logout_header(), &claims("op-1")),
        ),
        (
            "another issuer",
            provider.sign(
                &logout_header(),
                &with(&|c| c["iss"] = json!("https://evil.example")),
            ),
        ),
        (
            "another audience",
            provider.sign(
                &logout_header(),
                &with(&|c| c["aud"] = json!("someone-else")),
            ),
        ),
        (
            "expired",
            provider.sign(&logout_header(), &with(&|c| c["exp"] = json!(now() - 3600))),
        ),
        (
            "no exp",
            provider.sign(
                &logout_header(),
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
        ),
        (
            "no events claim",
            provider.sign(
                &logout_header(),
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("events");
                }),
            ),
        ),
        (
            "an ID token's nonce",
            provider.sign(
                &logout_header(),
                &with(&|c| c["nonce"] = json!("n-0S6_WzA2Mj")),
            ),
        ),
        (
            "no sid",
            provider.sign(
                &logout_header(),
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("sid");
                }),
            ),
        ),
        ("typ JWT", provider.sign(&jwt_typed, &claims("op-1"))),
        (
            "alg none",
            format!(
                "{}.{}.",
                base64url(br#"{"alg":"none","typ":"logout+jwt"}"#),
                base64url(claims("op-1").to_string().as_bytes())
            ),
        ),
        ("garbage", "not.a.token".to_owned()),
        ("oversized", "a".repeat(9 * 1024)),
    ];
    for (why, token) in refused {
        let reply = post_token(&demo, &token).await;
        assert_eq!(reply.status, 400, "{why}: {}", reply.body);
        assert_eq!(reply.json()["error"], "invalid_request", "{why}");
        assert_eq!(
            alice.get("/api/me").await.status,
            200,
            "{why} ended a session"
        );
    }
}

#[tokio::test]
async fn without_a_key_there_is_no_back_channel_route() {
    let demo = serve().await;
    let mut alice = login_with_sid(&demo, ALICE, "op-1").await;
    let reply = post_token(&demo, "x.y.z").await;
    assert_eq!(reply.status, 404);
    assert_eq!(alice.get("/api/me").await.status, 200);
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
