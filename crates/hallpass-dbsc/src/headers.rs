//! The DBSC header values (RFC 9651 structured fields): the registration offer and
//! the challenge the server sends, and the session id and skip notice a browser
//! sends.

use sfv::{BareItem, Item, KeyRef, ListSerializer, Parser, StringRef, TokenRef, key_ref};

use crate::Algorithm;

/// The response header that offers registration (after a login, say).
pub const REGISTRATION: &str = "secure-session-registration";
/// The header that carries a proof (registration and refresh requests).
pub const RESPONSE: &str = "secure-session-response";
/// The response header with a fresh challenge (a refresh's 403, or ahead of time).
pub const CHALLENGE: &str = "secure-session-challenge";
/// The request header naming the session a refresh is for.
pub const SESSION_ID: &str = "sec-secure-session-id";
/// The request header a browser adds when it did not refresh as it should have.
pub const SKIPPED: &str = "secure-session-skipped";

/// The longest session id or skip notice read, in bytes.
const MAX_VALUE_LEN: usize = 512;

const PATH: &KeyRef = key_ref("path");
const CHALLENGE_PARAM: &KeyRef = key_ref("challenge");
const AUTHORIZATION: &KeyRef = key_ref("authorization");
const ID: &KeyRef = key_ref("id");
const SESSION_IDENTIFIER: &KeyRef = key_ref("session_identifier");

/// A value that cannot go into a structured-field string (RFC 9651 strings hold
/// printable ASCII only).
///
/// # Examples
///
/// ```
/// let err = hallpass_dbsc::headers::challenge("caf\u{e9}", "s1").unwrap_err();
/// assert_eq!(err.to_string(), "the challenge cannot be a structured-field string: printable ASCII only");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} cannot be a structured-field string: printable ASCII only")]
pub struct HeaderError {
    what: &'static str,
}

fn string<'a>(value: &'a str, what: &'static str) -> Result<&'a StringRef, HeaderError> {
    StringRef::from_str(value).map_err(|_| HeaderError { what })
}

/// The `Secure-Session-Registration` value that offers registration: the
/// algorithms the server verifies, the registration endpoint's `path`, the
/// `challenge` the proof must quote, and an optional `authorization` the browser
/// echoes.
///
/// # Errors
///
/// [`HeaderError`] for a path, challenge or authorization that is not printable
/// ASCII.
///
/// # Examples
///
/// ```
/// use hallpass_dbsc::{Algorithm, headers};
///
/// let offer = headers::registration(&[Algorithm::Es256, Algorithm::Rs256], "/dbsc/register", "c1", None)?;
/// assert_eq!(offer, r#"(ES256 RS256);path="/dbsc/register";challenge="c1""#);
/// # Ok::<(), headers::HeaderError>(())
/// ```
pub fn registration(
    algorithms: &[Algorithm],
    path: &str,
    challenge: &str,
    authorization: Option<&str>,
) -> Result<String, HeaderError> {
    let path = string(path, "the path")?;
    let challenge = string(challenge, "the challenge")?;
    let authorization = authorization
        .map(|value| string(value, "the authorization"))
        .transpose()?;
    let mut list = ListSerializer::new();
    {
        let mut inner = list.inner_list();
        for algorithm in algorithms {
            inner.bare_item(token(*algorithm));
        }
        let params = inner
            .finish()
            .parameter(PATH, path)
            .parameter(CHALLENGE_PARAM, challenge);
        if let Some(authorization) = authorization {
            let _ = params.parameter(AUTHORIZATION, authorization);
        }
    }
    // A list with one member always serializes.
    Ok(list.finish().unwrap_or_default())
}

fn token(algorithm: Algorithm) -> &'static TokenRef {
    match algorithm {
        Algorithm::Es256 => sfv::token_ref("ES256"),
        Algorithm::Rs256 => sfv::token_ref("RS256"),
    }
}

/// The `Secure-Session-Challenge` value: a fresh challenge for the session
/// `session_id` names.
///
/// # Errors
///
/// [`HeaderError`] for a challenge or id that is not printable ASCII.
///
/// # Examples
///
/// ```
/// assert_eq!(hallpass_dbsc::headers::challenge("c2", "s1")?, r#""c2";id="s1""#);
/// # Ok::<(), hallpass_dbsc::headers::HeaderError>(())
/// ```
pub fn challenge(challenge: &str, session_id: &str) -> Result<String, HeaderError> {
    let challenge = string(challenge, "the challenge")?;
    let session_id = string(session_id, "the session id")?;
    Ok(sfv::ItemSerializer::new()
        .bare_item(challenge)
        .parameter(ID, session_id)
        .finish())
}

/// The session a refresh is for, from `Sec-Secure-Session-Id`: Chrome sends the id
/// bare, the draft as a structured-field string; both are read. `None` for a value
/// that is neither (or too long).
///
/// # Examples
///
/// ```
/// use hallpass_dbsc::headers::session_id;
///
/// assert_eq!(session_id(b"s1").as_deref(), Some("s1"));
/// assert_eq!(session_id(br#""s1""#).as_deref(), Some("s1"));
/// assert_eq!(session_id(b"two words"), None);
/// ```
#[must_use]
pub fn session_id(value: &[u8]) -> Option<String> {
    if value.len() > MAX_VALUE_LEN {
        return None;
    }
    if value.first() == Some(&b'"') {
        let item: Item = Parser::new(std::str::from_utf8(value).ok()?).parse().ok()?;
        return item.bare_item.as_string().map(|id| id.as_str().to_owned());
    }
    let id = std::str::from_utf8(value).ok()?;
    let printable = |byte: u8| byte.is_ascii_graphic() && byte != b'"' && byte != b'\\';
    (!id.is_empty() && id.bytes().all(printable)).then(|| id.to_owned())
}

/// Why a browser skipped a refresh (`Secure-Session-Skipped`).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The refresh endpoint could not be reached.
    Unreachable,
    /// The refresh endpoint answered with a server error.
    ServerError,
    /// The browser's signing quota ran out.
    QuotaExceeded,
    /// A reason this crate does not know, as sent.
    Other(String),
}

/// A browser's notice that it sent a request without the bound cookie because it
/// skipped a refresh: log it, and treat the request as one without the bound
/// cookie (it is not an error).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Why.
    pub reason: SkipReason,
    /// The session it was for, when the browser said.
    pub session_id: Option<String>,
}

/// Reads `Secure-Session-Skipped`, e.g. `quota_exceeded;session_identifier="s1"`.
/// `None` for a value that is not a token item (or too long).
///
/// # Examples
///
/// ```
/// use hallpass_dbsc::headers::{SkipReason, skipped};
///
/// let notice = skipped(br#"quota_exceeded;session_identifier="s1""#).unwrap();
/// assert_eq!(notice.reason, SkipReason::QuotaExceeded);
/// assert_eq!(notice.session_id.as_deref(), Some("s1"));
/// assert_eq!(skipped(b"\"not a token\""), None);
/// ```
#[must_use]
pub fn skipped(value: &[u8]) -> Option<Skipped> {
    if value.len() > MAX_VALUE_LEN {
        return None;
    }
    let item: Item = Parser::new(std::str::from_utf8(value).ok()?).parse().ok()?;
    let reason = match item.bare_item.as_token()?.as_str() {
        "unreachable" => SkipReason::Unreachable,
        "server_error" => SkipReason::ServerError,
        "quota_exceeded" => SkipReason::QuotaExceeded,
        other => SkipReason::Other(other.to_owned()),
    };
    let session_id = item
        .params
        .get(SESSION_IDENTIFIER)
        .and_then(BareItem::as_string)
        .map(|id| id.as_str().to_owned());
    Some(Skipped { reason, session_id })
}
