//! A [`Record`] as the fields of a Redis hash, and back.

use std::net::IpAddr;
use std::time::Duration;

use hallpass::{ClientMeta, Handle, Record, Timestamp};
use redis::Value;

/// The hash fields of `record` (see the scripts module for the names).
pub(crate) fn to_fields(record: &Record) -> Vec<(String, String)> {
    let ms = |t: Timestamp| t.as_unix_millis().to_string();
    let mut fields = vec![
        ("h".to_owned(), record.handle.to_string()),
        ("c".to_owned(), ms(record.created_at)),
        ("l".to_owned(), ms(record.last_seen_at)),
        ("i".to_owned(), ms(record.idle_deadline)),
        ("a".to_owned(), ms(record.absolute_deadline)),
        ("x".to_owned(), ms(record.expires_at())),
        ("v".to_owned(), record.version.to_string()),
        (
            "r".to_owned(),
            if record.remember { "1" } else { "0" }.to_owned(),
        ),
    ];
    if let Some(principal) = &record.principal {
        fields.push(("p".to_owned(), principal.clone()));
    }
    if let Some(ip) = record.client.ip {
        fields.push(("ip".to_owned(), ip.to_string()));
    }
    if let Some(ua) = &record.client.user_agent {
        fields.push(("ua".to_owned(), ua.clone()));
    }
    for (name, value) in &record.data {
        fields.push((format!("d:{name}"), value.to_string()));
    }
    fields
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

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// The record in an `HGETALL` reply; `None` for an empty hash (no session).
pub(crate) fn from_value(value: Value) -> Result<Option<Record>, BadRecord> {
    let pairs: Vec<(String, String)> = match value {
        Value::Array(items) => {
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut items = items.iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                let (Some(k), Some(v)) = (text(k), text(v)) else {
                    return Err(BadRecord::Reply("a field that is not UTF-8".to_owned()));
                };
                pairs.push((k, v));
            }
            pairs
        }
        Value::Map(map) => map
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
            .collect(),
        other => return Err(BadRecord::Reply(format!("{other:?}"))),
    };
    if pairs.is_empty() {
        return Ok(None);
    }
    let get = |name: &'static str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let number = |name: &'static str| -> Result<u64, BadRecord> {
        get(name)
            .and_then(|v| v.parse().ok())
            .ok_or(BadRecord::Field(name))
    };
    let handle: Handle = get("h")
        .and_then(|h| h.parse().ok())
        .ok_or(BadRecord::Field("h"))?;
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
    record.remember = get("r") == Some("1");
    record.principal = get("p").map(str::to_owned);
    let ip = get("ip").and_then(|ip| ip.parse::<IpAddr>().ok());
    record.client = ClientMeta::new(ip, get("ua"));
    for (field, value) in &pairs {
        if let Some(name) = field.strip_prefix("d:") {
            let json = serde_json::from_str(value).map_err(|source| BadRecord::Data {
                name: name.to_owned(),
                source,
            })?;
            record.data.insert(name.to_owned(), json);
        }
    }
    Ok(Some(record))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let reply = Value::Array(
            to_fields(&record)
                .into_iter()
                .flat_map(|(k, v)| {
                    [
                        Value::BulkString(k.into_bytes()),
                        Value::BulkString(v.into_bytes()),
                    ]
                })
                .collect(),
        );
        assert_eq!(from_value(reply).unwrap(), Some(record));
        assert!(from_value(Value::Array(vec![])).unwrap().is_none());
    }
}
