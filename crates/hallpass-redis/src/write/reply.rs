//! Script replies decoded: refusals, written records, handle lists.

use hallpass::Handle;
use hallpass::store::{DeltaError, DeviceConflict, Record, Refusal, StoreError, StoreErrorKind};
use redis::Value;

use crate::record;

/// A script's refusal `{'e', code..':'..detail}` as the delta error it stands for.
pub(super) fn refused_delta(detail: &str) -> DeltaError {
    let (code, rest) = detail.split_once(':').unwrap_or(("integer", detail));
    match code {
        "device" => DeviceConflict::from_name(rest).map_or_else(
            || DeltaError::NotAnInteger {
                key: rest.to_owned(),
            },
            DeltaError::Device,
        ),
        "overflow" => DeltaError::Overflow {
            key: rest.to_owned(),
        },
        "size" => {
            let mut numbers = rest
                .split(':')
                .map(|n| n.parse::<usize>().unwrap_or(usize::MAX));
            DeltaError::TooLarge {
                size: numbers.next().unwrap_or(usize::MAX),
                max: numbers.next().unwrap_or(0),
            }
        }
        _ => DeltaError::NotAnInteger {
            key: rest.to_owned(),
        },
    }
}

pub(super) fn text(value: &Value) -> Option<&str> {
    match value {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

pub(super) fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

pub(super) fn unexpected(value: &Value) -> StoreError {
    StoreError::new(
        StoreErrorKind::Backend,
        record::BadRecord::Reply(format!("{value:?}")),
    )
}

pub(super) fn bad_record(err: record::BadRecord) -> StoreError {
    StoreError::new(StoreErrorKind::InvalidData, err)
}

/// What a script's first element says when it refused: `{'e', detail}` a delta,
/// `{'r', reason, max}` a login.
pub(super) enum Refused {
    Delta(DeltaError),
    Login(Refusal),
    /// Cluster: a cap eviction fenced this login between its admission and its
    /// write; admitted again, it evicts in turn.
    Evicted,
}

pub(super) fn refused(items: &[Value]) -> Option<Refused> {
    match items.first().and_then(text)? {
        "e" => Some(Refused::Delta(refused_delta(
            items.get(1).and_then(text).unwrap_or(""),
        ))),
        "r" if items.get(1).and_then(text) == Some("evicted") => Some(Refused::Evicted),
        "r" => Some(Refused::Login(
            match items.get(1).and_then(text).unwrap_or("") {
                "cap" => Refusal::TooManySessions {
                    max: items
                        .get(2)
                        .and_then(int)
                        .and_then(|n| usize::try_from(n).ok())
                        .unwrap_or(0),
                },
                _ => Refusal::CredentialsChanged,
            },
        )),
        _ => None,
    }
}

pub(super) fn handles(value: &Value) -> Vec<Handle> {
    match value {
        Value::Array(items) => items
            .iter()
            .filter_map(|item| text(item)?.parse().ok())
            .collect(),
        _ => Vec::new(),
    }
}

/// The reply of [`scripts::WRITE`](crate::scripts::WRITE).
pub(super) enum Written {
    Updated {
        evicted: Vec<Handle>,
        before: Option<String>,
        record: std::sync::Arc<Record>,
        /// What the delta's last take removed.
        taken: Option<serde_json::Value>,
    },
    Gone,
    Refused(Refusal),
    /// Cluster: fenced by an eviction on its way; the sessions this attempt's
    /// admission ended.
    Evicted(Vec<Handle>),
}

pub(super) fn written(handle: Handle, value: &Value) -> Result<Written, StoreError> {
    let items = match value {
        Value::Nil | Value::Boolean(false) => return Ok(Written::Gone),
        Value::Array(items) => items,
        other => return Err(unexpected(other)),
    };
    match refused(items) {
        Some(Refused::Delta(err)) => return Err(err.into()),
        Some(Refused::Login(refusal)) => return Ok(Written::Refused(refusal)),
        Some(Refused::Evicted) => return Ok(Written::Evicted(Vec::new())),
        None => {}
    }
    // A take that found nothing ends the reply with a nil, which RESP2 keeps and
    // RESP3 may drop: three elements or four.
    let (evicted, before, fields, taken) = match items.as_slice() {
        [evicted, before, fields] => (evicted, before, fields, &Value::Nil),
        [evicted, before, fields, taken] => (evicted, before, fields, taken),
        _ => return Err(unexpected(value)),
    };
    let before = text(before).filter(|p| !p.is_empty()).map(str::to_owned);
    let taken = match taken {
        Value::Nil | Value::Boolean(false) => None,
        Value::BulkString(json) => Some(serde_json::from_slice(json).map_err(|source| {
            bad_record(record::BadRecord::Data {
                name: "(taken)".to_owned(),
                source,
            })
        })?),
        other => return Err(unexpected(other)),
    };
    match record::from_value(handle, fields).map_err(bad_record)? {
        Some((_, record)) => Ok(Written::Updated {
            evicted: handles(evicted),
            before,
            record: std::sync::Arc::new(record),
            taken,
        }),
        None => Ok(Written::Gone),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_detail() {
        assert_eq!(
            refused_delta("size:10:5"),
            DeltaError::TooLarge { size: 10, max: 5 }
        );
        assert_eq!(
            refused_delta("overflow:n"),
            DeltaError::Overflow { key: "n".into() }
        );
        let cap = [
            Value::BulkString(b"r".to_vec()),
            Value::BulkString(b"cap".to_vec()),
            Value::Int(3),
        ];
        assert!(matches!(
            refused(&cap),
            Some(Refused::Login(Refusal::TooManySessions { max: 3 }))
        ));
    }
}
