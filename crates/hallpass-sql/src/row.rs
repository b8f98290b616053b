//! The row: a record as SQL column values, and back.

use std::net::IpAddr;
use std::time::Duration;

use hallpass::Handle;
use hallpass::store::{
    Authenticated, BoundDevice, ClientMeta, Principal, Record, Rotation, StoreError,
    StoreErrorKind, StoreKey,
};
use hallpass::time::Timestamp;

/// The columns every query reads, in this order (see [`Columns`]).
pub(crate) const SELECT_COLUMNS: &str = "handle, principal, data, created_at, last_seen_at, idle_deadline, \
     absolute_deadline, version, remember, client_ip, user_agent, authentication, rotation, device";

/// The columns an insert writes, in the order of [`Columns::bind_all`]'s binds.
pub(crate) const INSERT_COLUMNS: &str = "token_hash, handle, principal, data, created_at, last_seen_at, \
     idle_deadline, absolute_deadline, expires_at, version, remember, client_ip, user_agent, \
     authentication, rotation, device";

/// One `?` per column of [`INSERT_COLUMNS`].
pub(crate) const INSERT_VALUES: &str = "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?";

/// A record as SQL column values.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) struct Columns {
    /// `handle`
    pub(crate) handle: Vec<u8>,
    /// `principal`
    pub(crate) principal: Option<String>,
    /// `data` (JSON object text)
    pub(crate) data: String,
    /// `created_at`
    pub(crate) created_at: i64,
    /// `last_seen_at`
    pub(crate) last_seen_at: i64,
    /// `idle_deadline`
    pub(crate) idle_deadline: i64,
    /// `absolute_deadline`
    pub(crate) absolute_deadline: i64,
    /// `expires_at`
    pub(crate) expires_at: i64,
    /// `version`
    pub(crate) version: i64,
    /// `remember`
    pub(crate) remember: bool,
    /// `client_ip`
    pub(crate) client_ip: Option<String>,
    /// `user_agent`
    pub(crate) user_agent: Option<String>,
    /// `authentication` (JSON text of [`Authenticated`]; NULL: none)
    pub(crate) authentication: Option<String>,
    /// `rotation` (JSON text of [`Rotation`]; NULL: never rotated)
    pub(crate) rotation: Option<String>,
    /// `device` (JSON text of [`BoundDevice`]; NULL: not bound to a device)
    pub(crate) device: Option<String>,
}

/// Milliseconds as a SQL `BIGINT` (saturating: no timestamp reaches `i64::MAX`).
#[must_use]
pub(crate) fn millis(t: Timestamp) -> i64 {
    i64::try_from(t.as_unix_millis()).unwrap_or(i64::MAX)
}

fn timestamp(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(u64::try_from(millis).unwrap_or(0))
}

impl Columns {
    /// The column values of `record`.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::InvalidData`] if the data map cannot be serialized (it always
    /// can: string keys and JSON values).
    pub(crate) fn from_record(record: &Record) -> Result<Self, StoreError> {
        Ok(Self {
            handle: record.handle.as_bytes().to_vec(),
            principal: record.principal.as_deref().map(str::to_owned),
            data: serde_json::to_string(&record.data)
                .map_err(|e| StoreError::new(StoreErrorKind::InvalidData, e))?,
            created_at: millis(record.created_at),
            last_seen_at: millis(record.last_seen_at),
            idle_deadline: millis(record.idle_deadline),
            absolute_deadline: millis(record.absolute_deadline),
            expires_at: millis(record.expires_at()),
            version: i64::try_from(record.version).unwrap_or(i64::MAX),
            remember: record.remember,
            client_ip: record.client.ip().map(|ip| ip.to_string()),
            user_agent: record.client.user_agent().map(str::to_owned),
            authentication: record
                .authenticated
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| StoreError::new(StoreErrorKind::InvalidData, e))?,
            rotation: record
                .rotated
                .as_deref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| StoreError::new(StoreErrorKind::InvalidData, e))?,
            device: record
                .device
                .as_deref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| StoreError::new(StoreErrorKind::InvalidData, e))?,
        })
    }

    /// The record these column values describe.
    ///
    /// # Errors
    ///
    /// [`RowError`] when a value is malformed (a handle of the wrong length, data
    /// that is not a JSON object): the store treats such a row as no session and
    /// logs it (SR-39).
    pub(crate) fn into_record(self) -> Result<Record, RowError> {
        let handle: [u8; 16] = self
            .handle
            .as_slice()
            .try_into()
            .map_err(|_| RowError::Handle)?;
        let data = serde_json::from_str(&self.data).map_err(RowError::Data)?;
        let mut record = Record::new(
            Handle::from_bytes(handle),
            timestamp(self.created_at),
            Duration::ZERO,
            Duration::ZERO,
        );
        record.principal = self.principal.map(Principal::from);
        record.data = data;
        record.last_seen_at = timestamp(self.last_seen_at);
        record.idle_deadline = timestamp(self.idle_deadline);
        record.absolute_deadline = timestamp(self.absolute_deadline);
        record.version = u64::try_from(self.version).unwrap_or(0);
        record.remember = self.remember;
        let ip = self
            .client_ip
            .as_deref()
            .and_then(|ip| ip.parse::<IpAddr>().ok());
        record.client = ClientMeta::new(ip, self.user_agent.as_deref());
        record.authenticated = self
            .authentication
            .as_deref()
            .map(serde_json::from_str::<Authenticated>)
            .transpose()
            .map_err(RowError::Authentication)?;
        record.rotated = self
            .rotation
            .as_deref()
            .map(serde_json::from_str::<Rotation>)
            .transpose()
            .map_err(RowError::Rotation)?
            .map(Box::new);
        record.device = self
            .device
            .as_deref()
            .map(serde_json::from_str::<BoundDevice>)
            .transpose()
            .map_err(RowError::Device)?
            .map(Box::new);
        Ok(record)
    }
}

/// A stored row that does not describe a valid record.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub(crate) enum RowError {
    /// The handle column is not 16 bytes.
    #[error("the stored handle is not 16 bytes")]
    Handle,
    /// The data column is not a JSON object.
    #[error("the stored session data is not a JSON object")]
    Data(#[source] serde_json::Error),
    /// The authentication column is not what hallpass writes there.
    #[error("the stored authentication is malformed")]
    Authentication(#[source] serde_json::Error),
    /// The rotation column is not what hallpass writes there.
    #[error("the stored rotation is malformed")]
    Rotation(#[source] serde_json::Error),
    /// The device column is not what hallpass writes there.
    #[error("the stored device binding is malformed")]
    Device(#[source] serde_json::Error),
}

/// Reads a [`Columns`] from a row whose first columns are [`SELECT_COLUMNS`], starting
/// at column `$offset`. A macro, because sqlx's row decoding is generic per driver.
macro_rules! read_columns {
    ($row:expr, $offset:expr) => {{
        use ::sqlx::Row as _;
        let row = $row;
        let o: usize = $offset;
        (|| -> ::std::result::Result<$crate::row::Columns, ::sqlx::Error> {
            Ok($crate::row::Columns {
                handle: row.try_get(o)?,
                principal: row.try_get(o + 1)?,
                data: row.try_get(o + 2)?,
                created_at: row.try_get(o + 3)?,
                last_seen_at: row.try_get(o + 4)?,
                idle_deadline: row.try_get(o + 5)?,
                absolute_deadline: row.try_get(o + 6)?,
                expires_at: 0,
                version: row.try_get(o + 7)?,
                remember: row.try_get(o + 8)?,
                client_ip: row.try_get(o + 9)?,
                user_agent: row.try_get(o + 10)?,
                authentication: row.try_get(o + 11)?,
                rotation: row.try_get(o + 12)?,
                device: row.try_get(o + 13)?,
            })
        })()
    }};
}
pub(crate) use read_columns;

impl Columns {
    /// Binds `token_hash` and every column, in [`INSERT_COLUMNS`] order.
    pub(crate) fn bind_all<'q, DB>(
        self,
        key: &StoreKey,
        query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    ) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
    where
        DB: sqlx::Database,
        Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        query
            .bind(key.hash().to_vec())
            .bind(self.handle)
            .bind(self.principal)
            .bind(self.data)
            .bind(self.created_at)
            .bind(self.last_seen_at)
            .bind(self.idle_deadline)
            .bind(self.absolute_deadline)
            .bind(self.expires_at)
            .bind(self.version)
            .bind(self.remember)
            .bind(self.client_ip)
            .bind(self.user_agent)
            .bind(self.authentication)
            .bind(self.rotation)
            .bind(self.device)
    }

    /// Binds the columns a delta can change, then `token_hash`, in the order of an
    /// `UPDATE … SET principal, data, last_seen_at, idle_deadline, absolute_deadline,
    /// expires_at, version, remember, client_ip, user_agent, authentication, rotation,
    /// device WHERE token_hash`.
    pub(crate) fn bind_update<'q, DB>(
        self,
        key: &StoreKey,
        query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    ) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
    where
        DB: sqlx::Database,
        Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        query
            .bind(self.principal)
            .bind(self.data)
            .bind(self.last_seen_at)
            .bind(self.idle_deadline)
            .bind(self.absolute_deadline)
            .bind(self.expires_at)
            .bind(self.version)
            .bind(self.remember)
            .bind(self.client_ip)
            .bind(self.user_agent)
            .bind(self.authentication)
            .bind(self.rotation)
            .bind(self.device)
            .bind(key.hash().to_vec())
    }
}

/// Logs a row that could not be decoded; the store then answers "no session" (SR-39).
pub(crate) fn log_bad_row(err: &RowError) {
    tracing::warn!(target: "hallpass::event", event = "corrupt_record", error = %err, "a stored session could not be decoded; treating it as no session");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_round_trip() {
        let mut record = Record::new(
            Handle::generate(),
            Timestamp::from_unix_millis(5),
            Duration::from_secs(1),
            Duration::from_secs(2),
        );
        record.principal = Some("p".into());
        record
            .data
            .insert("k".into(), serde_json::json!({"a": [1, 2]}));
        record.client = ClientMeta::new(Some("::1".parse().unwrap()), Some("ua"));
        record.remember = true;
        let back = Columns::from_record(&record)
            .unwrap()
            .into_record()
            .unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn corrupt_rows_are_errors_not_panics() {
        let mut columns = Columns::from_record(&Record::new(
            Handle::generate(),
            Timestamp::from_unix_millis(5),
            Duration::from_secs(1),
            Duration::from_secs(2),
        ))
        .unwrap();
        columns.data = "not json".into();
        assert!(matches!(columns.into_record(), Err(RowError::Data(_))));
    }
}
