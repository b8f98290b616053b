//! [`Instructions`]: the JSON a registration or refresh answers with, telling the
//! browser which cookie it keeps alive, for which URLs, and where to refresh it.

use serde::Serialize;

/// The session instructions (the registration and refresh response body). Chrome
/// needs them on every successful refresh too, so send them each time.
///
/// # Examples
///
/// ```
/// use hallpass_dbsc::Instructions;
///
/// let body = Instructions::new("s1", "/dbsc/refresh", "https://app.example", "__Host-bound",
///     "Path=/; Secure; HttpOnly; SameSite=Lax")?;
/// let json = serde_json::to_value(&body).unwrap();
/// assert_eq!(json["session_identifier"], "s1");
/// assert_eq!(json["credentials"][0]["name"], "__Host-bound");
/// assert_eq!(json["scope"]["include_site"], false);
/// # Ok::<(), hallpass_dbsc::InstructionsError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Instructions {
    session_identifier: String,
    refresh_url: String,
    scope: Scope,
    credentials: Vec<Credential>,
    allowed_refresh_initiators: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct Scope {
    origin: String,
    include_site: bool,
    scope_specification: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct Credential {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    attributes: String,
}

/// Why instructions were not built: attributes a browser would reject or ignore.
///
/// # Examples
///
/// ```
/// use hallpass_dbsc::{Instructions, InstructionsError};
///
/// let err = Instructions::new("s1", "/r", "https://a.example", "__Host-b", "Path=/; Max-Age=600");
/// assert_eq!(err.unwrap_err(), InstructionsError::Attribute("Max-Age"));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InstructionsError {
    /// The credential's attributes name one that must stay off them: `Max-Age` and
    /// `Expires` (they belong on the real `Set-Cookie` only; in the attributes they
    /// have broken Chrome's registration) or `Partitioned` (refused by the draft).
    #[error("the bound cookie's attributes must not include {0}")]
    Attribute(&'static str),
}

impl Instructions {
    /// Instructions for the session `session_identifier`: refresh at `refresh_url`,
    /// scope `origin` (not the whole site: a `__Host-` cookie cannot cover
    /// subdomains), one cookie credential `cookie_name` whose `attributes` are the
    /// ones its `Set-Cookie` carries (Domain, Path, Secure, HttpOnly, SameSite;
    /// without its expiry).
    ///
    /// # Errors
    ///
    /// [`InstructionsError::Attribute`] for attributes with `Max-Age`, `Expires` or
    /// `Partitioned` (compared case-insensitively, as cookie attributes are).
    pub fn new(
        session_identifier: &str,
        refresh_url: &str,
        origin: &str,
        cookie_name: &str,
        attributes: &str,
    ) -> Result<Self, InstructionsError> {
        for forbidden in ["Max-Age", "Expires", "Partitioned"] {
            let named = attributes.split(';').any(|attribute| {
                let name = attribute.split('=').next().unwrap_or_default().trim();
                name.eq_ignore_ascii_case(forbidden)
            });
            if named {
                return Err(InstructionsError::Attribute(forbidden));
            }
        }
        Ok(Self {
            session_identifier: session_identifier.to_owned(),
            refresh_url: refresh_url.to_owned(),
            scope: Scope {
                origin: origin.to_owned(),
                include_site: false,
                scope_specification: Vec::new(),
            },
            credentials: vec![Credential {
                kind: "cookie",
                name: cookie_name.to_owned(),
                attributes: attributes.to_owned(),
            }],
            allowed_refresh_initiators: Vec::new(),
        })
    }

    /// The body that ends a session in the browser (a logged-out, revoked or expired
    /// session's refresh): `{"continue": false}`.
    ///
    /// ```
    /// assert_eq!(hallpass_dbsc::Instructions::end(), r#"{"continue":false}"#);
    /// ```
    #[must_use]
    pub const fn end() -> &'static str {
        r#"{"continue":false}"#
    }
}
