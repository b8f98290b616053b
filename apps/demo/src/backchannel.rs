//! OpenID Connect Back-Channel Logout 1.0, end to end on [`hallpass::Session::revoke_by_label`]:
//! the identity provider posts a signed logout token to `POST /backchannel-logout`,
//! the demo verifies it (here), and every session labelled with its `sid` ends (the
//! route is in the API module).
//!
//! The demo has no OpenID login; an API login may name the provider's session id
//! (`"oidc_sid"` in the JSON body), which is what an application's OIDC callback takes
//! from the ID token's `sid`. The route exists only when the demo is started with
//! `--backchannel-key PATH` (a P-256 public key, PEM), `--oidc-issuer` and
//! `--oidc-client-id`.
//!
//! The token is checked as the specification's section 2.6 lists, with
//! [`jsonwebtoken`] for the JWS: ES256 only, signed by the key; `typ` `logout+jwt`
//! (or none); `iss` the issuer, `aud` the client id; `iat` and `exp` present and `exp`
//! not passed; a `jti`; the `events` claim with the back-channel logout member; no
//! `nonce`; a `sid`. A replayed token only ends what is already ended.

use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// The `events` member a logout token must carry.
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The label a login's provider session id is kept under.
pub const SID_LABEL: &str = "oidc_sid";

/// The largest logout token read, in bytes (a token is a few hundred).
const MAX_TOKEN: usize = 8 * 1024;

/// How logout tokens are verified: the provider's key, its issuer, our client id.
#[derive(Clone)]
pub struct BackchannelLogout {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for BackchannelLogout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackchannelLogout")
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .finish_non_exhaustive()
    }
}

/// The key file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackchannelKeyError {
    /// The file could not be read.
    #[error("cannot read the back-channel logout key {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a P-256 public key in PEM.
    #[error("the back-channel logout key {path} is not a P-256 public key (PEM): {source}")]
    Key {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: jsonwebtoken::errors::Error,
    },
}

impl BackchannelLogout {
    /// Verification with the P-256 public key in the PEM file `path`, for tokens of
    /// `issuer` addressed to `client_id`.
    ///
    /// # Errors
    ///
    /// [`BackchannelKeyError`] when the file cannot be read or holds no such key.
    pub fn from_key_file(
        path: &Path,
        issuer: &str,
        client_id: &str,
    ) -> Result<Self, BackchannelKeyError> {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| BackchannelKeyError::Read {
            path: shown.clone(),
            source,
        })?;
        let key = DecodingKey::from_ec_pem(&pem).map_err(|source| BackchannelKeyError::Key {
            path: shown,
            source,
        })?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&["iss", "aud", "exp", "iat"]);
        validation.leeway = 30;
        Ok(Self { key, validation })
    }

    /// The provider session id the token ends, or why the token is refused.
    pub(crate) fn verify(&self, token: &str) -> Result<String, &'static str> {
        if token.len() > MAX_TOKEN {
            return Err("the logout token is too large");
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed logout token")?;
        if header.typ.as_deref().is_some_and(|typ| typ != "logout+jwt") {
            return Err("the token's typ is not logout+jwt");
        }
        let claims = jsonwebtoken::decode::<LogoutClaims>(token, &self.key, &self.validation)
            .map_err(|_| "the logout token does not verify")?
            .claims;
        if claims.jti.is_empty() {
            return Err("the logout token has no jti");
        }
        if claims.nonce.is_some() {
            return Err("a logout token must not carry a nonce");
        }
        if !claims
            .events
            .get(LOGOUT_EVENT)
            .is_some_and(serde_json::Value::is_object)
        {
            return Err("the logout token has no back-channel logout event");
        }
        match claims.sid {
            Some(sid) if !sid.is_empty() => Ok(sid),
            _ => Err("the demo needs a sid (a sub-only token would end all of a user's sessions)"),
        }
    }
}

#[derive(Deserialize)]
struct LogoutClaims {
    #[serde(default)]
    jti: String,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    nonce: Option<serde_json::Value>,
    #[serde(default)]
    events: serde_json::Map<String, serde_json::Value>,
}
