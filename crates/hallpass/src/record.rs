//! The session record: what a store keeps under a session's [`StoreKey`](crate::store::StoreKey).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::data::Data;
use crate::device::BoundDevice;
use crate::principal::Principal;
use crate::time::Timestamp;
use crate::token::Handle;

/// What a session list shows about the client that uses a session (SR-27): the IP as
/// seen through the trusted-proxy setting, and the User-Agent (truncated).
///
/// 32 bytes in a record: the IP in 16 (an IPv4 client as its IPv4-mapped IPv6 form,
/// so an IPv4-mapped IPv6 address reads back as the IPv4 address it carries, as
/// [`IpAddr::to_canonical`] gives it), the User-Agent behind a pointer.
///
/// # Examples
///
/// ```
/// use hallpass::store::ClientMeta;
///
/// let meta = ClientMeta::new(Some("192.0.2.7".parse().unwrap()), Some("Firefox"));
/// assert_eq!(meta.ip(), Some("192.0.2.7".parse().unwrap()));
/// assert_eq!(meta.user_agent(), Some("Firefox"));
/// let mapped = ClientMeta::new(Some("::ffff:192.0.2.7".parse().unwrap()), None);
/// assert_eq!(mapped.ip(), Some("192.0.2.7".parse().unwrap()));
/// assert!(ClientMeta::default().is_empty());
/// assert_eq!(ClientMeta::new(None, None), ClientMeta::default());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientMeta {
    /// The IP as IPv6 octets; all zeros (`::`, never a client's) for none.
    ip: [u8; 16],
    user_agent: Option<Box<str>>,
}

impl ClientMeta {
    /// The longest User-Agent kept, in bytes.
    pub const MAX_USER_AGENT: usize = 256;

    /// Builds client metadata, truncating the User-Agent on a character boundary.
    ///
    /// # Examples
    ///
    /// ```
    /// let meta = hallpass::store::ClientMeta::new(None, Some(&"é".repeat(1000)));
    /// assert_eq!(meta.user_agent().unwrap().len(), 256);
    /// ```
    #[must_use]
    pub fn new(ip: Option<IpAddr>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent.map(|ua| {
            let mut end = ua.len().min(Self::MAX_USER_AGENT);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            Box::from(&ua[..end])
        });
        let ip = match ip {
            None => [0; 16],
            Some(IpAddr::V4(v4)) => v4.to_ipv6_mapped().octets(),
            Some(IpAddr::V6(v6)) => v6.octets(),
        };
        Self { ip, user_agent }
    }

    /// The client's IP address, if known.
    #[must_use]
    pub fn ip(&self) -> Option<IpAddr> {
        (self.ip != [0; 16]).then(|| std::net::Ipv6Addr::from(self.ip).to_canonical())
    }

    /// The `User-Agent` header, at most [`ClientMeta::MAX_USER_AGENT`] bytes, if known.
    #[must_use]
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// Whether neither is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ip == [0; 16] && self.user_agent.is_none()
    }
}

impl fmt::Debug for ClientMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientMeta")
            .field("ip", &self.ip())
            .field("user_agent", &self.user_agent())
            .finish()
    }
}

/// `ClientMeta`'s JSON: `{"ip": …, "user_agent": …}`, each left out when unknown.
#[derive(Serialize, Deserialize)]
struct ClientWire<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip: Option<IpAddr>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    user_agent: Option<std::borrow::Cow<'a, str>>,
}

impl Serialize for ClientMeta {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ClientWire {
            ip: self.ip(),
            user_agent: self.user_agent().map(std::borrow::Cow::Borrowed),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ClientMeta {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = ClientWire::deserialize(deserializer)?;
        Ok(Self::new(wire.ip, wire.user_agent.as_deref()))
    }
}

/// How the principal proved who they are, as the application names it (SR-30): an
/// assurance level and the methods used. hallpass records it at login and never
/// interprets it; [`Session::require_fresh`](crate::Session::require_fresh) hands
/// it back for the application's own level check.
///
/// # Examples
///
/// ```
/// use hallpass::store::Authentication;
///
/// // NIST SP 800-63B's assurance levels, RFC 8176's method names.
/// let how = Authentication::new().with_level("aal2").with_methods(["pwd", "otp"]);
/// assert_eq!(how.level.as_deref(), Some("aal2"));
/// assert_eq!(how.methods, ["pwd", "otp"]);
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authentication {
    /// An application-defined assurance level, e.g. `aal2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// The methods used, e.g. `["pwd", "otp"]` (RFC 8176 lists common names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
}

impl Authentication {
    /// No level and no methods: what a plain [`Session::login`](crate::Session::login)
    /// records.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// With the assurance level `level`.
    #[must_use]
    pub fn with_level(mut self, level: impl Into<String>) -> Self {
        self.level = Some(level.into());
        self
    }

    /// With the methods `methods`, in the order given.
    #[must_use]
    pub fn with_methods<M: Into<String>>(mut self, methods: impl IntoIterator<Item = M>) -> Self {
        self.methods = methods.into_iter().map(Into::into).collect();
        self
    }
}

/// When and how the session's principal last authenticated (SR-30): set by every
/// login (a re-authentication included), kept by rotations, gone with the principal.
///
/// Sixteen bytes in a record: the "how" is shared, and a login that records no
/// level and no methods (a plain [`Session::login`](crate::Session::login)) shares
/// one empty value instead of allocating.
///
/// # Examples
///
/// ```
/// use hallpass::store::{Authenticated, Authentication};
/// use hallpass::time::Timestamp;
///
/// let at = Timestamp::from_unix_millis(1_000);
/// let done = Authenticated::new(at, Authentication::new().with_level("aal1"));
/// assert_eq!((done.at, done.how.level.as_deref()), (at, Some("aal1")));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    /// When the login happened.
    pub at: Timestamp,
    /// How.
    pub how: Arc<Authentication>,
}

impl Authenticated {
    /// An authentication at `at`, by `how`.
    #[must_use]
    pub fn new(at: Timestamp, how: Authentication) -> Self {
        static NOTHING: std::sync::LazyLock<Arc<Authentication>> =
            std::sync::LazyLock::new(|| Arc::new(Authentication::new()));
        let how = if how == Authentication::new() {
            Arc::clone(&NOTHING)
        } else {
            Arc::new(how)
        };
        Self { at, how }
    }
}

/// The stored form of an [`Authenticated`]: `{"at": …, "level": …, "methods": […]}`.
#[derive(Serialize, Deserialize)]
struct StoredAuthentication<'a> {
    at: Timestamp,
    #[serde(flatten)]
    how: std::borrow::Cow<'a, Authentication>,
}

impl Serialize for Authenticated {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredAuthentication {
            at: self.at,
            how: std::borrow::Cow::Borrowed(&self.how),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Authenticated {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = StoredAuthentication::deserialize(deserializer)?;
        Ok(Self::new(stored.at, stored.how.into_owned()))
    }
}

/// A session's last token rotation (SR-17): when it happened and, for a periodic
/// rotation, the hash of the token it replaced. That token then works for the grace
/// window ([`SessionConfig::with_rotation_grace`](crate::config::SessionConfig::with_rotation_grace)),
/// and a request that presents it after the window is a replay of a stolen copy
/// ([`Event::TokenReplayed`](crate::events::Event::TokenReplayed)). A login's
/// rotation replaces nothing here: a token from before the login never works again,
/// not even for a moment (SR-15).
///
/// # Examples
///
/// ```
/// use hallpass::store::Rotation;
/// use hallpass::time::Timestamp;
///
/// let rotation = Rotation::new(Timestamp::from_unix_millis(1_000), Some([7; 32]));
/// assert_eq!(rotation.replaced, Some([7; 32]));
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// When the token was last replaced.
    pub at: Timestamp,
    /// `SHA-256` of the token a periodic rotation replaced (a
    /// [`StoreKey::hash`](crate::store::StoreKey::hash)); `None` after a login or a
    /// requested rotation, whose old token is dead at once.
    pub replaced: Option<[u8; 32]>,
}

impl Rotation {
    /// A rotation at `at` that replaced the token hashing to `replaced`, if any.
    #[must_use]
    pub fn new(at: Timestamp, replaced: Option<[u8; 32]>) -> Self {
        Self { at, replaced }
    }

    /// A compact text form for stores that keep fields as text: the Unix
    /// milliseconds, then for a periodic rotation `:` and the replaced hash in hex.
    ///
    /// ```
    /// use hallpass::store::Rotation;
    /// use hallpass::time::Timestamp;
    ///
    /// let at = Timestamp::from_unix_millis(1_700_000_000_000);
    /// assert_eq!(Rotation::new(at, None).to_text(), "1700000000000");
    /// let periodic = Rotation::new(at, Some([0xab; 32]));
    /// assert_eq!(periodic.to_text(), format!("1700000000000:{}", "ab".repeat(32)));
    /// assert_eq!(Rotation::from_text(&periodic.to_text()), Some(periodic));
    /// ```
    #[must_use]
    pub fn to_text(&self) -> String {
        let at = self.at.as_unix_millis();
        match &self.replaced {
            None => at.to_string(),
            Some(hash) => format!("{at}:{}", crate::token::hash_to_hex(hash)),
        }
    }

    /// Parses what [`Rotation::to_text`] writes; `None` for anything else.
    #[must_use]
    pub fn from_text(text: &str) -> Option<Self> {
        let (at, replaced) = match text.split_once(':') {
            None => (text, None),
            Some((at, hex)) => (at, Some(crate::token::hash_from_hex(hex)?)),
        };
        Some(Self::new(
            Timestamp::from_unix_millis(at.parse().ok()?),
            replaced,
        ))
    }
}

/// The stored form of a [`Rotation`]: `{"at": …, "replaced": "<64 hex digits>"}`.
#[derive(Serialize, Deserialize)]
struct StoredRotation {
    at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replaced: Option<String>,
}

impl Serialize for Rotation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredRotation {
            at: self.at,
            replaced: self.replaced.as_ref().map(crate::token::hash_to_hex),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Rotation {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = StoredRotation::deserialize(deserializer)?;
        let replaced = stored
            .replaced
            .map(|text| {
                crate::token::hash_from_hex(&text)
                    .ok_or_else(|| serde::de::Error::custom("replaced: not 64 hex digits"))
            })
            .transpose()?;
        Ok(Self::new(stored.at, replaced))
    }
}

/// Everything a store keeps about one session.
///
/// `Debug` lists the data's keys but never its values: session data may hold
/// anything an application puts there.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hallpass::Handle;
/// use hallpass::store::Record;
/// use hallpass::time::Timestamp;
///
/// let now = Timestamp::from_unix_millis(0);
/// let record = Record::new(Handle::generate(), now, Duration::from_secs(60), Duration::from_secs(3600));
/// assert_eq!(record.expires_at(), Timestamp::from_unix_millis(60_000));
/// let bytes = record.encode();
/// assert_eq!(Record::decode(&bytes)?, record);
/// # Ok::<(), hallpass::store::RecordDecodeError>(())
/// ```
#[non_exhaustive]
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The session's public handle.
    pub handle: Handle,
    /// The authenticated user, `None` for an anonymous session (SR-30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// Application data: names to JSON values.
    #[serde(default)]
    pub data: Data,
    /// When the session was created.
    pub created_at: Timestamp,
    /// The last request that used the session (updated at most once per touch interval).
    pub last_seen_at: Timestamp,
    /// Idle deadline: the session ends here unless activity pushes it on (SR-20).
    pub idle_deadline: Timestamp,
    /// Absolute deadline: activity never moves it (SR-21).
    pub absolute_deadline: Timestamp,
    /// Incremented by every write to the record.
    pub version: u64,
    /// Whether the cookie persists across browser restarts ("remember me").
    #[serde(default)]
    pub remember: bool,
    /// The client as last recorded (at creation or login).
    #[serde(default)]
    pub client: ClientMeta,
    /// When and how the principal last authenticated; `None` for an anonymous
    /// session (and for one logged in before hallpass recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticated: Option<Authenticated>,
    /// The last token rotation, if the session had one (boxed: eight bytes in a
    /// record that never rotated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated: Option<Box<Rotation>>,
    /// The device key the session is bound to (DBSC); `None`: not bound. Changed
    /// only through a [`DeviceChange`](crate::store::DeviceChange) in a delta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Box<BoundDevice>>,
}

/// The format version [`Record::encode`] writes.
pub const RECORD_FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct Envelope<'a> {
    v: u32,
    #[serde(flatten)]
    record: &'a Record,
}

#[derive(Deserialize)]
struct EnvelopeOwned {
    v: u32,
    #[serde(flatten)]
    record: Record,
}

impl Record {
    /// A new, anonymous, empty session starting `now`.
    #[must_use]
    pub fn new(handle: Handle, now: Timestamp, idle: Duration, absolute: Duration) -> Self {
        let absolute_deadline = now.saturating_add(absolute);
        Self {
            handle,
            principal: None,
            data: Data::new(),
            created_at: now,
            last_seen_at: now,
            idle_deadline: now.saturating_add(idle).min(absolute_deadline),
            absolute_deadline,
            version: 1,
            remember: false,
            client: ClientMeta::default(),
            authenticated: None,
            rotated: None,
            device: None,
        }
    }

    /// When the token was last replaced, counting the creation and the last login
    /// as replacements: what a periodic rotation is due from.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use hallpass::Handle;
    /// # use hallpass::store::{Record, Rotation};
    /// # use hallpass::time::Timestamp;
    /// let mut record = Record::new(Handle::generate(), Timestamp::from_unix_millis(5),
    ///     Duration::from_secs(60), Duration::from_secs(600));
    /// assert_eq!(record.token_issued_at(), Timestamp::from_unix_millis(5));
    /// record.rotated = Some(Box::new(Rotation::new(Timestamp::from_unix_millis(9), None)));
    /// assert_eq!(record.token_issued_at(), Timestamp::from_unix_millis(9));
    /// ```
    #[must_use]
    pub fn token_issued_at(&self) -> Timestamp {
        let login = self.authenticated.as_ref().map(|a| a.at);
        let rotation = self.rotated.as_ref().map(|r| r.at);
        [login, rotation]
            .into_iter()
            .flatten()
            .fold(self.created_at, Timestamp::max)
    }

    /// When the session ends: the earlier of its two deadlines.
    #[must_use]
    pub fn expires_at(&self) -> Timestamp {
        self.idle_deadline.min(self.absolute_deadline)
    }

    /// Which deadline has passed at `now`, if any.
    #[must_use]
    pub fn expired_by(&self, now: Timestamp) -> Option<Expiry> {
        if now >= self.absolute_deadline {
            Some(Expiry::Absolute)
        } else if now >= self.idle_deadline {
            Some(Expiry::Idle)
        } else {
            None
        }
    }

    /// Serializes the record in the typed, versioned format (JSON with `"v": 1`).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&Envelope {
            v: RECORD_FORMAT_VERSION,
            record: self,
        })
        .unwrap_or_else(|_| unreachable!("a Record always serializes: string keys, JSON values"))
    }

    /// Parses what [`Record::encode`] wrote.
    ///
    /// # Errors
    ///
    /// [`RecordDecodeError`] for bytes that are not a record of a known version; the
    /// caller treats that as "no session" and logs it (SR-39), never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordDecodeError> {
        let envelope: EnvelopeOwned = serde_json::from_slice(bytes)
            .map_err(|source| RecordDecodeError::Malformed { source })?;
        if envelope.v != RECORD_FORMAT_VERSION {
            return Err(RecordDecodeError::UnknownVersion {
                version: envelope.v,
            });
        }
        Ok(envelope.record)
    }

    /// The size of the data that the bound [`Delta::max_data_bytes`](crate::store::Delta::max_data_bytes)
    /// applies to: for every entry, the key's bytes plus the value's JSON text. Every
    /// store measures it the same way; it allocates nothing.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use hallpass::Handle;
    /// # use hallpass::store::Record;
    /// # use hallpass::time::Timestamp;
    /// let mut record = Record::new(Handle::generate(), Timestamp::from_unix_millis(0),
    ///     Duration::from_secs(60), Duration::from_secs(600));
    /// record.data.insert("views".into(), 12.into());
    /// record.data.insert("name".into(), "ada".into());
    /// assert_eq!(record.data_size(), 5 + 2 + 4 + 5);
    /// ```
    #[must_use]
    pub fn data_size(&self) -> usize {
        self.data
            .iter()
            .map(|(key, value)| entry_size(key, value))
            .fold(0, usize::saturating_add)
    }
}

/// One data entry's share of [`Record::data_size`].
pub(crate) fn entry_size(key: &str, value: &serde_json::Value) -> usize {
    key.len().saturating_add(json_len(value))
}

/// The length of an integer's JSON text.
pub(crate) fn integer_size(n: i64) -> usize {
    let digits = n
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |d| d as usize + 1);
    digits + usize::from(n < 0)
}

/// The length of `value`'s compact JSON text, counted without building it.
fn json_len(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        // A JSON value always serializes; count it as unbounded if it ever did not.
        Err(_) => usize::MAX,
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("handle", &self.handle)
            .field("principal", &self.principal)
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .field("idle_deadline", &self.idle_deadline)
            .field("absolute_deadline", &self.absolute_deadline)
            .field("version", &self.version)
            .field("remember", &self.remember)
            .field("client", &self.client)
            .field("authenticated", &self.authenticated)
            .field("rotated", &self.rotated.as_ref().map(|r| r.at))
            .field("binding", &self.device)
            .finish()
    }
}

/// Which of the two clocks ended a session.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// No activity for the idle timeout.
    Idle,
    /// The absolute lifetime ran out.
    Absolute,
}

impl Expiry {
    /// `"idle"` or `"absolute"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Absolute => "absolute",
        }
    }
}

/// A stored record could not be decoded.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RecordDecodeError {
    /// Not a well-formed record.
    #[error("the stored session record is malformed")]
    Malformed {
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A format version this code does not read.
    #[error("the stored session record has format version {version}, this build reads version 1")]
    UnknownVersion {
        /// The version found.
        version: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty record created at 0 with a 1 s idle and a 2 s absolute timeout.
    fn one_second_record() -> Record {
        Record::new(
            Handle::generate(),
            Timestamp::from_unix_millis(0),
            Duration::from_secs(1),
            Duration::from_secs(2),
        )
    }

    #[test]
    fn an_empty_client_is_written_as_before_and_allocates_nothing() {
        let empty = ClientMeta::new(None, None);
        assert!(empty.is_empty());
        assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
        let meta = ClientMeta::new(Some("::1".parse().unwrap()), Some("curl"));
        let text = serde_json::to_string(&meta).unwrap();
        assert_eq!(text, r#"{"ip":"::1","user_agent":"curl"}"#);
        assert_eq!(serde_json::from_str::<ClientMeta>(&text).unwrap(), meta);
        assert_eq!(serde_json::from_str::<ClientMeta>("{}").unwrap(), empty);
        assert_eq!(
            format!("{meta:?}"),
            r#"ClientMeta { ip: Some(::1), user_agent: Some("curl") }"#
        );
    }

    #[test]
    fn debug_hides_data_values() {
        let mut record = one_second_record();
        record
            .data
            .insert("card".into(), serde_json::json!("4111-1111-SECRET"));
        let shown = format!("{record:?}");
        assert!(shown.contains("card"));
        assert!(!shown.contains("SECRET"));
    }

    #[test]
    fn decode_rejects_garbage_and_other_versions() {
        assert!(matches!(
            Record::decode(b"\xff\x00"),
            Err(RecordDecodeError::Malformed { .. })
        ));
        let record = one_second_record();
        let text = String::from_utf8(record.encode())
            .unwrap()
            .replace("\"v\":1", "\"v\":9");
        assert!(matches!(
            Record::decode(text.as_bytes()),
            Err(RecordDecodeError::UnknownVersion { version: 9 })
        ));
    }

    /// Found by the `record` fuzz target: without serde_json's `float_roundtrip`, a
    /// number such as `1.0000000007423269865e-7` came back one ULP off after a
    /// save and a load, so a store silently altered session data (SR-39).
    #[test]
    fn numbers_in_data_survive_a_round_trip_exactly() {
        let mut record = one_second_record();
        for (i, text) in [
            "1.0000000007423269865e-7",
            "0.1",
            "2.2250738585072014e-308",
            "1e300",
        ]
        .iter()
        .enumerate()
        {
            let number: serde_json::Value = serde_json::from_str(text).unwrap();
            record.data.insert(format!("n{i}"), number);
        }
        let once = Record::decode(&record.encode()).unwrap();
        assert!(once == record);
        assert_eq!(once.encode(), record.encode());
    }

    /// The stored form of an authentication, pinned: stores keep this text
    /// (SQL's `authentication` column, Redis's `au` field, the encoded record), and a
    /// record written before it existed still decodes, with none.
    #[test]
    fn authentication_is_stored_in_a_pinned_form() {
        let mut record = one_second_record();
        record.handle = Handle::from_bytes([7; 16]);
        record.principal = Some("ana".into());
        record.authenticated = Some(Authenticated::new(
            Timestamp::from_unix_millis(1_700_000_000_000),
            Authentication::new()
                .with_level("aal2")
                .with_methods(["pwd", "otp"]),
        ));
        let text = String::from_utf8(record.encode()).unwrap();
        assert_eq!(text, PINNED_WITH_AUTHENTICATION);
        assert_eq!(Record::decode(text.as_bytes()).unwrap(), record);
        let older = PINNED_WITH_AUTHENTICATION.replace(
            r#","authenticated":{"at":1700000000000,"level":"aal2","methods":["pwd","otp"]}"#,
            "",
        );
        assert_eq!(
            Record::decode(older.as_bytes()).unwrap().authenticated,
            None
        );
        assert_eq!(
            serde_json::to_string(&Authenticated::new(
                Timestamp::from_unix_millis(5),
                Authentication::new()
            ))
            .unwrap(),
            r#"{"at":5}"#
        );
    }

    const PINNED_WITH_AUTHENTICATION: &str = concat!(
        r#"{"v":1,"handle":"BwcHBwcHBwcHBwcHBwcHBw","principal":"ana","data":{},"#,
        r#""created_at":0,"last_seen_at":0,"idle_deadline":1000,"absolute_deadline":2000,"#,
        r#""version":1,"remember":false,"client":{},"#,
        r#""authenticated":{"at":1700000000000,"level":"aal2","methods":["pwd","otp"]}}"#
    );

    /// The stored form of a rotation, pinned: the replaced token's hash in hex,
    /// absent for a plain rotation.
    #[test]
    fn a_rotation_is_encoded_as_pinned() {
        let mut record = one_second_record();
        record.handle = Handle::from_bytes([7; 16]);
        let at = Timestamp::from_unix_millis(1_700_000_000_000);
        record.rotated = Some(Box::new(Rotation::new(at, Some([0x01; 32]))));
        let text = String::from_utf8(record.encode()).unwrap();
        let expected = format!(
            r#","rotated":{{"at":1700000000000,"replaced":"{}"}}}}"#,
            "01".repeat(32)
        );
        assert!(text.ends_with(&expected), "{text}");
        assert_eq!(Record::decode(text.as_bytes()).unwrap(), record);
        record.rotated = Some(Box::new(Rotation::new(at, None)));
        let text = String::from_utf8(record.encode()).unwrap();
        assert!(
            text.ends_with(r#","rotated":{"at":1700000000000}}"#),
            "{text}"
        );
        let bad = text.replace(r#""at":1700000000000}"#, r#""at":1,"replaced":"zz"}"#);
        assert!(Record::decode(bad.as_bytes()).is_err());
    }

    /// The stored form of a device binding, pinned (the SQL stores keep the same
    /// JSON in their `binding` column).
    #[test]
    fn a_binding_is_encoded_as_pinned() {
        let mut record = one_second_record();
        record.handle = Handle::from_bytes([7; 16]);
        let mut binding = BoundDevice::new(
            r#"{"crv":"P-256","kty":"EC","x":"AA","y":"AQ"}"#,
            "thumb",
            Timestamp::from_unix_millis(1_000),
        );
        binding.epoch = 3;
        binding.refreshed_at = Timestamp::from_unix_millis(2_000);
        record.device = Some(Box::new(binding));
        let text = String::from_utf8(record.encode()).unwrap();
        let expected = concat!(
            r#","device":{"key":"{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"AA\",\"y\":\"AQ\"}","#,
            r#""thumbprint":"thumb","epoch":3,"registered_at":1000,"refreshed_at":2000}}"#
        );
        assert!(text.ends_with(expected), "{text}");
        assert_eq!(Record::decode(text.as_bytes()).unwrap(), record);
    }

    /// The memory store keeps one record per session: its size is pinned, so a new
    /// field that costs every session memory is a decision, not an accident. In its
    /// `Arc` (16 bytes of counts) 160 bytes is a 176-byte request; at 184 (before
    /// the principal was shared, the client's IP packed into 16 bytes and the data
    /// map boxed) it was 208. The device binding (DBSC) costs an unbound session
    /// the eight bytes of an empty box pointer.
    #[test]
    fn a_record_stays_small() {
        assert_eq!(size_of::<Option<Authenticated>>(), 16);
        // The boxed last rotation (SR-17): eight bytes for a session that never
        // rotated.
        assert_eq!(size_of::<Option<Box<Rotation>>>(), 8);
        assert_eq!(size_of::<Option<Principal>>(), 16);
        assert_eq!(size_of::<ClientMeta>(), 32);
        assert_eq!(size_of::<Data>(), 16);
        assert_eq!(size_of::<Option<Box<BoundDevice>>>(), 8);
        assert!(size_of::<Record>() <= 160, "{}", size_of::<Record>());
        let plain = Authenticated::new(Timestamp::from_unix_millis(1), Authentication::new());
        let other = Authenticated::new(Timestamp::from_unix_millis(2), Authentication::new());
        assert!(
            Arc::ptr_eq(&plain.how, &other.how),
            "a plain login allocates nothing"
        );
    }

    #[test]
    fn expiry_is_the_earlier_deadline() {
        let mut record = Record::new(
            Handle::generate(),
            Timestamp::from_unix_millis(0),
            Duration::from_secs(10),
            Duration::from_secs(20),
        );
        assert_eq!(record.expired_by(Timestamp::from_unix_millis(9_999)), None);
        assert_eq!(
            record.expired_by(Timestamp::from_unix_millis(10_000)),
            Some(Expiry::Idle)
        );
        record.idle_deadline = Timestamp::from_unix_millis(30_000);
        assert_eq!(record.expires_at(), Timestamp::from_unix_millis(20_000));
        assert_eq!(
            record.expired_by(Timestamp::from_unix_millis(20_000)),
            Some(Expiry::Absolute)
        );
    }

    #[test]
    fn integer_sizes_match_their_json_text() {
        for n in [0, 9, 10, -1, -10, 99_999, i64::MAX, i64::MIN] {
            assert_eq!(
                integer_size(n),
                serde_json::to_string(&n).unwrap().len(),
                "{n}"
            );
        }
    }

    #[test]
    fn huge_durations_saturate() {
        let t = Timestamp::from_unix_millis(u64::MAX - 1).saturating_add(Duration::MAX);
        assert_eq!(t, Timestamp::from_unix_millis(u64::MAX));
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            ".{0,16}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(".{0,8}", inner, 0..4)
                    .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any record a session can hold comes back from encode and decode unchanged
        /// (SR-39): any JSON data, principal, clocks, version and client.
        #[test]
        fn any_record_round_trips(
            data in proptest::collection::btree_map(".{0,12}", json_value(), 0..6),
            principal in proptest::option::of(".{0,20}"),
            created in proptest::prelude::any::<u64>(),
            version in proptest::prelude::any::<u64>(),
            remember in proptest::prelude::any::<bool>(),
            user_agent in proptest::option::of(".{0,300}"),
            ip in proptest::option::of(proptest::prelude::any::<IpAddr>()),
        ) {
            let mut record = Record::new(
                Handle::from_bytes([7; 16]),
                Timestamp::from_unix_millis(created),
                Duration::from_secs(60),
                Duration::from_secs(120),
            );
            record.data = data.into_iter().collect();
            record.principal = principal.map(Into::into);
            record.version = version;
            record.remember = remember;
            record.client = ClientMeta::new(ip, user_agent.as_deref());
            let back = Record::decode(&record.encode()).unwrap();
            proptest::prop_assert!(back == record);
        }
    }
}
