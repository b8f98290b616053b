//! A [`Record`] as the fields of a layout-v2 session hash, and back (the scripts
//! module names the fields).

use std::net::IpAddr;
use std::time::Duration;

use hallpass::Handle;
use hallpass::store::{
    Authenticated, Authentication, BoundDevice, ClientMeta, Principal, Record, Rotation,
};
use hallpass::time::Timestamp;
use redis::Value;

/// The hash fields of `record` stored under the token hash `hash`, for `HSET`.
pub(crate) fn to_fields(record: &Record, hash: &[u8; 32]) -> Vec<(&'static str, Vec<u8>)> {
    let ms = |t: Timestamp| t.as_unix_millis().to_string().into_bytes();
    let mut fields = vec![
        ("k", hash.to_vec()),
        ("c", ms(record.created_at)),
        ("l", ms(record.last_seen_at)),
        ("i", ms(record.idle_deadline)),
        ("a", ms(record.absolute_deadline)),
        ("v", record.version.to_string().into_bytes()),
        ("z", record.data_size().to_string().into_bytes()),
    ];
    if record.remember {
        fields.push(("r", b"1".to_vec()));
    }
    if let Some(principal) = &record.principal {
        fields.push(("p", principal.as_bytes().to_vec()));
    }
    if let Some(ip) = record.client.ip() {
        fields.push(("ip", ip.to_string().into_bytes()));
    }
    if let Some(ua) = &record.client.user_agent() {
        fields.push(("ua", ua.as_bytes().to_vec()));
    }
    if let Some(authenticated) = &record.authenticated {
        fields.push(("au", authenticated_field(authenticated).into_bytes()));
    }
    if let Some(rotated) = &record.rotated {
        fields.push(("ro", rotated.to_text().into_bytes()));
    }
    if let Some(binding) = &record.device {
        fields.extend([
            ("bt", binding.thumbprint.as_bytes().to_vec()),
            ("bk", binding.key.as_bytes().to_vec()),
            ("be", binding.epoch.to_string().into_bytes()),
            ("bg", ms(binding.registered_at)),
            ("bf", ms(binding.refreshed_at)),
        ]);
    }
    fields
}

/// The `au` field: the login's Unix milliseconds alone when it recorded no level
/// and no methods (a plain login: the common case, a few bytes per session), else
/// the JSON text of the whole [`Authenticated`].
pub(crate) fn authenticated_field(authenticated: &Authenticated) -> String {
    if *authenticated.how == Authentication::new() {
        return authenticated.at.as_unix_millis().to_string();
    }
    // An `Authenticated` always serializes: a number and strings.
    serde_json::to_string(authenticated).unwrap_or_default()
}

/// The `au` field back.
fn parse_authenticated(field: &[u8]) -> Result<Authenticated, BadRecord> {
    if field.first() == Some(&b'{') {
        return serde_json::from_slice(field).map_err(|source| BadRecord::Data {
            name: "au".to_owned(),
            source,
        });
    }
    std::str::from_utf8(field)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(|ms| Authenticated::new(Timestamp::from_unix_millis(ms), Authentication::new()))
        .ok_or(BadRecord::Field("au"))
}

/// The data fields of `record`: `d:<name>` and the value's compact JSON text.
pub(crate) fn data_fields(record: &Record) -> impl Iterator<Item = (String, String)> + '_ {
    record
        .data
        .iter()
        .map(|(name, value)| (format!("d:{name}"), value.to_string()))
}

/// A stored hash that is not a valid record.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BadRecord {
    #[error("session field {0:?} is missing or malformed")]
    Field(&'static str),
    #[error("session data {name:?} is not JSON")]
    Data {
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("unexpected reply from Redis: {0}")]
    Reply(String),
}

fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// The session in an `HGETALL` reply of the hash of `handle`: its token hash and
/// record. `None` for an empty hash or a fence (a hash with no token hash).
pub(crate) fn from_value(
    handle: Handle,
    value: &Value,
) -> Result<Option<([u8; 32], Record)>, BadRecord> {
    let mut pairs: Vec<(&[u8], &[u8])> = Vec::new();
    match value {
        Value::Array(items) => {
            pairs.reserve(items.len() / 2);
            let mut items = items.iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                let (Some(k), Some(v)) = (bytes(k), bytes(v)) else {
                    return Err(BadRecord::Reply("a field that is not a string".to_owned()));
                };
                pairs.push((k, v));
            }
        }
        Value::Map(map) => {
            for (k, v) in map {
                if let (Some(k), Some(v)) = (bytes(k), bytes(v)) {
                    pairs.push((k, v));
                }
            }
        }
        other => return Err(BadRecord::Reply(format!("{other:?}"))),
    }
    from_pairs(handle, &pairs)
}

fn from_pairs(
    handle: Handle,
    pairs: &[(&[u8], &[u8])],
) -> Result<Option<([u8; 32], Record)>, BadRecord> {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == name.as_bytes())
            .map(|(_, v)| *v)
    };
    let Some(hash) = get("k") else {
        return Ok(None);
    };
    let hash: [u8; 32] = hash.try_into().map_err(|_| BadRecord::Field("k"))?;
    let number = |name: &'static str| -> Result<u64, BadRecord> {
        get(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse().ok())
            .ok_or(BadRecord::Field(name))
    };
    let text = |name: &'static str| -> Result<Option<&str>, BadRecord> {
        get(name)
            .map(|v| std::str::from_utf8(v).map_err(|_| BadRecord::Field(name)))
            .transpose()
    };
    let mut record = Record::new(
        handle,
        Timestamp::from_unix_millis(number("c")?),
        Duration::ZERO,
        Duration::ZERO,
    );
    record.last_seen_at = Timestamp::from_unix_millis(number("l")?);
    record.idle_deadline = Timestamp::from_unix_millis(number("i")?);
    record.absolute_deadline = Timestamp::from_unix_millis(number("a")?);
    record.version = number("v")?;
    record.remember = get("r") == Some(b"1");
    record.authenticated = get("au").map(parse_authenticated).transpose()?;
    record.rotated = get("ro")
        .map(|field| {
            std::str::from_utf8(field)
                .ok()
                .and_then(Rotation::from_text)
                .map(Box::new)
                .ok_or(BadRecord::Field("ro"))
        })
        .transpose()?;
    record.device = match text("bt")? {
        None => None,
        Some(thumbprint) => {
            let key = text("bk")?.ok_or(BadRecord::Field("bk"))?;
            let mut binding =
                BoundDevice::new(key, thumbprint, Timestamp::from_unix_millis(number("bg")?));
            binding.epoch = number("be")?;
            binding.refreshed_at = Timestamp::from_unix_millis(number("bf")?);
            Some(Box::new(binding))
        }
    };
    record.principal = text("p")?.map(Principal::from);
    let ip = text("ip")?.and_then(|ip| ip.parse::<IpAddr>().ok());
    record.client = ClientMeta::new(ip, text("ua")?);
    for (field, value) in pairs {
        if let Some(name) = field.strip_prefix(b"d:") {
            let name = std::str::from_utf8(name).map_err(|_| BadRecord::Field("d:"))?;
            let json = serde_json::from_slice(value).map_err(|source| BadRecord::Data {
                name: name.to_owned(),
                source,
            })?;
            record.data.insert(name.to_owned(), json);
        }
    }
    Ok(Some((hash, record)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(pairs: Vec<(String, Vec<u8>)>) -> Value {
        Value::Array(
            pairs
                .into_iter()
                .flat_map(|(k, v)| [Value::BulkString(k.into_bytes()), Value::BulkString(v)])
                .collect(),
        )
    }

    #[test]
    fn fields_round_trip() {
        let mut record = Record::new(
            Handle::generate(),
            Timestamp::from_unix_millis(1_000),
            Duration::from_secs(60),
            Duration::from_secs(600),
        );
        record.principal = Some("ada".into());
        record
            .data
            .insert("cart".into(), serde_json::json!(["x", {"n": -3}]));
        record.data.insert("big".into(), i64::MAX.into());
        record.client = ClientMeta::new(Some("10.0.0.1".parse().unwrap()), Some("agent"));
        let mut binding =
            BoundDevice::new(r#"{"kty":"EC"}"#, "thumb", Timestamp::from_unix_millis(7));
        binding.epoch = 12;
        binding.refreshed_at = Timestamp::from_unix_millis(9);
        record.device = Some(Box::new(binding));
        let hash = [7u8; 32];
        let mut pairs: Vec<(String, Vec<u8>)> = to_fields(&record, &hash)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        pairs.extend(data_fields(&record).map(|(k, v)| (k, v.into_bytes())));
        let back = from_value(record.handle, &reply(pairs)).unwrap();
        assert_eq!(back, Some((hash, record)));
    }

    /// The `au` field, pinned: a plain login is its milliseconds alone, a login with
    /// a level or methods the JSON text; both come back as they went.
    #[test]
    fn authentication_fields_are_compact_and_round_trip() {
        let at = Timestamp::from_unix_millis(1_700_000_000_000);
        let plain = Authenticated::new(at, Authentication::new());
        assert_eq!(authenticated_field(&plain), "1700000000000");
        let strong = Authenticated::new(
            at,
            Authentication::new()
                .with_level("aal2")
                .with_methods(["pwd", "otp"]),
        );
        assert_eq!(
            authenticated_field(&strong),
            r#"{"at":1700000000000,"level":"aal2","methods":["pwd","otp"]}"#
        );
        for authenticated in [plain, strong] {
            let mut record = Record::new(
                Handle::generate(),
                Timestamp::from_unix_millis(1_000),
                Duration::from_secs(60),
                Duration::from_secs(600),
            );
            record.principal = Some("ada".into());
            record.authenticated = Some(authenticated);
            let hash = [7u8; 32];
            let pairs = to_fields(&record, &hash)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            assert_eq!(
                from_value(record.handle, &reply(pairs)).unwrap(),
                Some((hash, record))
            );
        }
        assert!(parse_authenticated(b"soon").is_err());
    }

    /// The `ro` field comes back as it went, plain and periodic.
    #[test]
    fn rotation_fields_round_trip() {
        let at = Timestamp::from_unix_millis(1_700_000_000_000);
        for rotation in [Rotation::new(at, None), Rotation::new(at, Some([0xab; 32]))] {
            let mut record = Record::new(
                Handle::generate(),
                Timestamp::from_unix_millis(1_000),
                Duration::from_secs(60),
                Duration::from_secs(600),
            );
            record.rotated = Some(Box::new(rotation));
            let hash = [7u8; 32];
            let pairs = to_fields(&record, &hash)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            assert_eq!(
                from_value(record.handle, &reply(pairs)).unwrap(),
                Some((hash, record))
            );
        }
    }

    /// A hash with no token hash is a fence left by a cluster revoke, never a session.
    #[test]
    fn a_fence_is_no_session() {
        assert!(
            from_value(Handle::generate(), &Value::Array(vec![]))
                .unwrap()
                .is_none()
        );
        let fence = reply(vec![
            ("fp".to_owned(), b"ada".to_vec()),
            ("fg".to_owned(), b"3".to_vec()),
        ]);
        assert!(from_value(Handle::generate(), &fence).unwrap().is_none());
    }
}
