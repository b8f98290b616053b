//! The Redis session store for hallpass: standalone Redis and Redis Cluster.
//!
//! ```no_run
//! # async fn run() -> Result<(), hallpass_redis::ConnectError> {
//! use hallpass_redis::RedisOptions;
//!
//! let store = hallpass_redis::connect("redis://127.0.0.1:6379", RedisOptions::default()).await?;
//! let cluster = hallpass_redis::connect_cluster(&["redis://127.0.0.1:7000"], RedisOptions::default()).await?;
//! # let _ = (store, cluster);
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! With prefix `P` (default `hallpass:`), a session with handle `H` and token hash `K`:
//!
//! | key | what |
//! |---|---|
//! | `P{H}:s:K` | a hash: the record's fields, one `d:<name>` field per data key; expires (`PEXPIREAT`) at the session's one deadline |
//! | `P{H}:h` | the hash `K` the handle currently points to (revoke and show by handle) |
//! | `P{H}:t` | scratch space of the write script |
//! | `Px` | a sorted set of every session (`H:K`), scored by a lower bound of its expiry: what purge and count walk |
//! | `Pp:<principal>` | a sorted set of the principal's sessions (`H:K`), scored by their absolute deadline |
//! | `Pg:<principal>` | the principal's generation, moved on by every revoke-all (no TTL) |
//!
//! The `{H}` hash tag puts all of a session's keys in one slot, so each write — and
//! rotation, which renames `P{H}:s:K` to `P{H}:s:K'` — is one atomic script on
//! standalone Redis and on a cluster alike. A load is one `HGETALL`; a write is one
//! script that refuses a session that is gone or expired, so no write resurrects one.
//! Increments are checked with Redis's own 64-bit arithmetic before anything is
//! written (see the scripts).
//!
//! The two indexes live in other slots and are written by separate commands after the
//! session's script, so on a failure between the two they can disagree with the
//! sessions. They only ever point at too many sessions, never miss one: readers
//! check every member against its session and drop the stale ones (lists repair the
//! principal index as they go; purge re-scores members whose session was extended).
//! A rotation indexes the new key before it unindexes the old one, and a revoke —
//! by handle or of a whole principal — follows each handle's pointer, which the
//! rotation script moves together with the session: a revoke finds a session that
//! rotated while it ran.
//!
//! Not yet one step here (the Redis store v2 issue): a login's admission — the
//! principal's generation (`P g:<principal>`) and its cap — is checked by separate
//! commands before the write, so concurrent logins can pass the cap.

mod record;
mod scripts;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hallpass::{
    Admission, Applied, Created, Delta, DeltaError, Handle, Loaded, Op, PrincipalChange, Record,
    Refusal, Rotated, SessionPage, SessionStore, SessionSummary, StoreError, StoreErrorKind,
    StoreFuture, StoreKey, Timestamp, Touch,
};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

/// Options of a Redis store.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let options = hallpass_redis::RedisOptions::default()
///     .with_prefix("myapp:sessions:")?
///     .with_call_timeout(Duration::from_millis(500));
/// # Ok::<(), hallpass_redis::InvalidPrefix>(())
/// ```
#[derive(Clone, Debug)]
pub struct RedisOptions {
    prefix: String,
    call_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "hallpass:".to_owned(),
            call_timeout: Duration::from_secs(2),
        }
    }
}

/// A key prefix with `{`, `}` or control characters, or longer than 100 bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("key prefix {0:?} must be 1 to 100 printable ASCII characters without braces")]
pub struct InvalidPrefix(String);

impl RedisOptions {
    /// The prefix of every key (default `hallpass:`). Braces are refused: they would
    /// change the hash tag that keeps a session's keys together.
    ///
    /// # Errors
    ///
    /// [`InvalidPrefix`].
    pub fn with_prefix(mut self, prefix: &str) -> Result<Self, InvalidPrefix> {
        let valid = !prefix.is_empty()
            && prefix.len() <= 100
            && prefix
                .bytes()
                .all(|b| (0x21..0x7f).contains(&b) && b != b'{' && b != b'}');
        if !valid {
            return Err(InvalidPrefix(prefix.to_owned()));
        }
        prefix.clone_into(&mut self.prefix);
        Ok(self)
    }

    /// The time limit of every store call (default 2 s).
    #[must_use]
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// The prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// The connection: a reconnecting manager for standalone Redis, or a cluster client.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// A Redis session store (standalone or cluster). Cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    options: RedisOptions,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.conn {
            Conn::Single(_) => "standalone",
            Conn::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("mode", &mode)
            .field("options", &self.options)
            .finish()
    }
}

/// The store could not be opened.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not a Redis URL.
    #[error("not a valid Redis URL: {0}")]
    Url(#[source] RedisError),
    /// The server could not be reached.
    #[error("cannot connect to Redis: {0}")]
    Connect(#[source] StoreError),
}

/// Maps a Redis error to the kind the layer acts on (H6: the source is kept).
///
/// Everything that says "not now" is [`StoreErrorKind::Unavailable`] (503): a lost or
/// refused connection, and the replies of a server that is up but not ready —
/// `LOADING` while it replays its append-only file after a restart, `TRYAGAIN`,
/// `CLUSTERDOWN`, `MASTERDOWN` and `READONLY` during a failover, and a cluster with no
/// connection to the slot's node. Mapping `LOADING` to a 500 made the restart test fail
/// at random: for the few milliseconds of the replay, every request was a bare 500.
fn store_error(err: RedisError) -> StoreError {
    use redis::{ErrorKind, ServerErrorKind};
    let not_ready = matches!(
        err.kind(),
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ReadOnly
        ) | ErrorKind::ClusterConnectionNotFound
    );
    let kind = if err.is_timeout() {
        StoreErrorKind::Timeout
    } else if not_ready
        || err.is_io_error()
        || err.is_connection_refusal()
        || err.is_connection_dropped()
        || err.is_unrecoverable_error()
    {
        StoreErrorKind::Unavailable
    } else {
        StoreErrorKind::Backend
    };
    StoreError::new(kind, err)
}

/// Opens a store on standalone Redis, with automatic reconnection.
///
/// # Errors
///
/// [`ConnectError`] when the URL is invalid or the server does not answer.
pub async fn connect(url: &str, options: RedisOptions) -> Result<RedisStore, ConnectError> {
    let client = redis::Client::open(url).map_err(ConnectError::Url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(options.call_timeout))
        .set_response_timeout(Some(options.call_timeout))
        .set_number_of_retries(1);
    let manager = tokio::time::timeout(
        options.call_timeout,
        ConnectionManager::new_with_config(client, config),
    )
    .await
    .map_err(|elapsed| ConnectError::Connect(StoreError::new(StoreErrorKind::Timeout, elapsed)))?
    .map_err(|err| ConnectError::Connect(store_error(err)))?;
    Ok(RedisStore {
        conn: Conn::Single(manager),
        options,
    })
}

/// Opens a store on a Redis Cluster, given one or more of its nodes.
///
/// # Errors
///
/// [`ConnectError`] when a URL is invalid or no node answers.
pub async fn connect_cluster(
    nodes: &[&str],
    options: RedisOptions,
) -> Result<RedisStore, ConnectError> {
    let client = redis::cluster::ClusterClientBuilder::new(nodes.iter().copied())
        .connection_timeout(options.call_timeout)
        .response_timeout(options.call_timeout)
        .retries(2)
        .build()
        .map_err(ConnectError::Url)?;
    let conn = tokio::time::timeout(options.call_timeout, client.get_async_connection())
        .await
        .map_err(|elapsed| {
            ConnectError::Connect(StoreError::new(StoreErrorKind::Timeout, elapsed))
        })?
        .map_err(|err| ConnectError::Connect(store_error(err)))?;
    Ok(RedisStore {
        conn: Conn::Cluster(conn),
        options,
    })
}

/// The delta as script arguments, after `ARGV[base - 1]`.
///
/// # Errors
///
/// [`DeltaError::UnknownOp`] for an op this store does not know: refused, never
/// skipped.
fn delta_args(delta: &Delta, now: Timestamp) -> Result<Vec<String>, StoreError> {
    let ms = |t: Timestamp| t.as_unix_millis().to_string();
    let mut args = vec![ms(now), if delta.clear_data { "1" } else { "0" }.to_owned()];
    match &delta.principal {
        None => args.extend([String::new(), String::new()]),
        Some(PrincipalChange::Login { principal, .. }) => {
            args.extend(["=".to_owned(), principal.clone()]);
        }
        Some(_) => args.extend(["-".to_owned(), String::new()]),
    }
    args.push(
        delta
            .remember
            .map_or(String::new(), |r| if r { "1" } else { "0" }.to_owned()),
    );
    match &delta.client {
        None => args.extend([String::new(), String::new(), String::new()]),
        Some(client) => args.extend([
            "1".to_owned(),
            client.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            client.user_agent.clone().unwrap_or_default(),
        ]),
    }
    args.push(delta.absolute_deadline.map(ms).unwrap_or_default());
    match &delta.touch {
        None => args.extend([String::new(), String::new()]),
        Some(touch) => args.extend([ms(touch.last_seen_at), ms(touch.idle_deadline)]),
    }
    args.push(delta.ops.len().to_string());
    args.push(
        delta
            .max_data_bytes
            .map(|max| max.to_string())
            .unwrap_or_default(),
    );
    for op in &delta.ops {
        match op {
            Op::Set { key, value } => args.extend(["S".to_owned(), key.clone(), value.to_string()]),
            Op::Remove { key } => args.extend(["R".to_owned(), key.clone()]),
            Op::Increment { key, by } => args.extend(["I".to_owned(), key.clone(), by.to_string()]),
            other => {
                return Err(DeltaError::UnknownOp {
                    op: format!("{other:?}"),
                }
                .into());
            }
        }
    }
    Ok(args)
}

/// A script's refusal `{'e', code..':'..detail}` as the delta error it stands for.
fn refused_delta(detail: &str) -> DeltaError {
    let (code, rest) = detail.split_once(':').unwrap_or(("integer", detail));
    match code {
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

/// A script's reply to a write, before it is told apart as an apply or a rotation.
enum Reply {
    Updated(Record),
    Gone,
    Taken,
}

/// A script's reply to a write: the record, gone, taken, or a refused delta.
fn write_reply(value: Value) -> Result<Reply, StoreError> {
    match value {
        Value::Nil | Value::Boolean(false) | Value::Int(0) => Ok(Reply::Gone),
        Value::SimpleString(s) if s == "taken" => Ok(Reply::Taken),
        Value::BulkString(s) if s == b"taken" => Ok(Reply::Taken),
        Value::Array(items)
            if items.len() == 2 && matches!(&items[0], Value::BulkString(e) if e == b"e") =>
        {
            let detail = match &items[1] {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            };
            Err(refused_delta(&detail).into())
        }
        other => match record::from_value(other) {
            Ok(Some(record)) => Ok(Reply::Updated(record)),
            Ok(None) => Ok(Reply::Gone),
            Err(err) => Err(StoreError::new(StoreErrorKind::InvalidData, err)),
        },
    }
}

impl RedisStore {
    fn session_key(&self, key: &StoreKey) -> String {
        format!(
            "{}{{{}}}:s:{}",
            self.options.prefix,
            key.handle(),
            key.to_hex()
        )
    }

    fn pointer_key(&self, handle: &Handle) -> String {
        format!("{}{{{handle}}}:h", self.options.prefix)
    }

    fn scratch_key(&self, handle: &Handle) -> String {
        format!("{}{{{handle}}}:t", self.options.prefix)
    }

    fn expiry_index(&self) -> String {
        format!("{}x", self.options.prefix)
    }

    fn principal_index(&self, principal: &str) -> String {
        format!("{}p:{principal}", self.options.prefix)
    }

    /// The principal's generation counter (no TTL: it must outlive every session).
    fn generation_key(&self, principal: &str) -> String {
        format!("{}g:{principal}", self.options.prefix)
    }

    async fn do_generation(&self, principal: &str) -> Result<u64, StoreError> {
        let generation: Option<u64> = redis::cmd("GET")
            .arg(self.generation_key(principal))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        Ok(generation.unwrap_or(0))
    }

    /// The admission checks of a login. Not yet one atomic step on Redis: the
    /// generation and the principal index live in other slots than the session (the
    /// Redis store v2 moves them into the write).
    async fn admit(
        &self,
        principal: &str,
        admission: &Admission,
        own: Option<&Handle>,
        now: Timestamp,
    ) -> Result<Result<Vec<Handle>, Refusal>, StoreError> {
        if let Some(expected) = admission.generation {
            if self.do_generation(principal).await? != expected {
                return Ok(Err(Refusal::CredentialsChanged));
            }
        }
        let Some(cap) = admission.cap else {
            return Ok(Ok(Vec::new()));
        };
        let others: Vec<(Timestamp, Timestamp, Handle)> = self
            .principal_sessions(principal, now)
            .await?
            .into_iter()
            .filter(|(_, record)| Some(&record.handle) != own)
            .map(|(_, record)| (record.last_seen_at, record.created_at, record.handle))
            .collect();
        Ok(cap.victims(others))
    }

    /// Revokes the sessions a cap chose; the handles that were there.
    async fn evict(&self, victims: Vec<Handle>) -> Result<Vec<Handle>, StoreError> {
        let mut evicted = Vec::with_capacity(victims.len());
        for handle in victims {
            if self.do_revoke(&handle).await? {
                evicted.push(handle);
            }
        }
        Ok(evicted)
    }

    fn member(key: &StoreKey) -> String {
        format!("{}:{}", key.handle(), key.to_hex())
    }

    fn parse_member(member: &str) -> Option<StoreKey> {
        let (handle, hex) = member.split_once(':')?;
        StoreKey::from_hex(handle.parse().ok()?, hex)
    }

    /// A call under the store's time limit ([`hallpass::store::timed`]).
    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        hallpass::store::timed(self.options.call_timeout, call).await
    }

    /// Adds `member` to the sorted set `index` with `score`; the set expires with its
    /// last member (`deadline`). One pipeline on one key, so one slot.
    async fn zadd_expiring(
        &self,
        index: &str,
        member: &str,
        score: u64,
        deadline: u64,
    ) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.zadd(index, member, score).ignore();
        pipe.cmd("PEXPIREAT")
            .arg(index)
            .arg(deadline)
            .arg("GT")
            .ignore();
        pipe.cmd("PEXPIREAT")
            .arg(index)
            .arg(deadline)
            .arg("NX")
            .ignore();
        pipe.query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(store_error)
    }

    /// Adds `key` to the expiry index (and its principal's index). The indexes live
    /// in other slots than the session, so these are separate commands.
    ///
    /// The two are sent together (the connection multiplexes them), so indexing costs
    /// one round trip, not two: `bench/run.sh` showed a login waiting on three.
    async fn index(&self, key: &StoreKey, record: &Record) -> Result<(), StoreError> {
        let member = Self::member(key);
        let a = record.absolute_deadline.as_unix_millis();
        let expiry_index = self.expiry_index();
        let expiry = self.zadd_expiring(
            &expiry_index,
            &member,
            record.expires_at().as_unix_millis(),
            a,
        );
        match &record.principal {
            Some(principal) => {
                let principal_index = self.principal_index(principal);
                let principal = self.zadd_expiring(&principal_index, &member, a, a);
                tokio::try_join!(expiry, principal).map(|_| ())
            }
            None => expiry.await,
        }
    }

    /// Removes `key` from the expiry index and `principal`'s index.
    async fn unindex(&self, key: &StoreKey, principal: Option<&str>) -> Result<(), StoreError> {
        let member = Self::member(key);
        let mut conn = self.conn.clone();
        redis::cmd("ZREM")
            .arg(self.expiry_index())
            .arg(&member)
            .query_async::<()>(&mut conn)
            .await
            .map_err(store_error)?;
        if let Some(principal) = principal.filter(|p| !p.is_empty()) {
            redis::cmd("ZREM")
                .arg(self.principal_index(principal))
                .arg(&member)
                .query_async::<()>(&mut conn)
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    async fn do_create(
        &self,
        key: &StoreKey,
        record: &Record,
        admission: &Admission,
    ) -> Result<Created, StoreError> {
        let victims = match &record.principal {
            Some(principal) => {
                match self
                    .admit(principal, admission, None, record.last_seen_at)
                    .await?
                {
                    Ok(victims) => victims,
                    Err(refusal) => return Ok(Created::Refused(refusal)),
                }
            }
            None => Vec::new(),
        };
        let mut invocation = scripts::CREATE.prepare_invoke();
        invocation
            .key(self.session_key(key))
            .key(self.pointer_key(key.handle()));
        invocation
            .arg(record.expires_at().as_unix_millis())
            .arg(key.to_hex());
        for (field, value) in record::to_fields(record) {
            invocation.arg(field).arg(value);
        }
        let inserted: i64 = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        if inserted == 0 {
            return Ok(Created::KeyTaken);
        }
        self.index(key, record).await?;
        let evicted = self.evict(victims).await?;
        Ok(Created::Inserted { evicted })
    }

    async fn do_load(&self, key: &StoreKey, now: Timestamp) -> Result<Loaded, StoreError> {
        let value: Value = redis::cmd("HGETALL")
            .arg(self.session_key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        match record::from_value(value) {
            Ok(Some(record)) => Ok(match record.expired_by(now) {
                Some(expiry) => Loaded::Expired(expiry),
                None => Loaded::Live(Arc::new(record)),
            }),
            Ok(None) => Ok(Loaded::Missing),
            Err(err) => {
                tracing::warn!(target: "hallpass::event", event = "corrupt_record", error = %err, "a stored session could not be decoded; treating it as no session");
                Ok(Loaded::Missing)
            }
        }
    }

    async fn do_apply(
        &self,
        key: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        if matches!(delta.principal, Some(PrincipalChange::Login { .. })) {
            return Err(StoreError::login_needs_rotation());
        }
        let mut invocation = scripts::APPLY.prepare_invoke();
        invocation
            .key(self.session_key(key))
            .key(self.pointer_key(key.handle()))
            .key(self.scratch_key(key.handle()));
        for arg in delta_args(delta, now)? {
            invocation.arg(arg);
        }
        let reply: Value = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        // A principal cleared leaves a stale member in the old principal's index,
        // repaired lazily by lists (its member no longer matches).
        Ok(match write_reply(reply)? {
            Reply::Updated(record) => Applied::Updated(Arc::new(record)),
            Reply::Gone | Reply::Taken => Applied::Gone,
        })
    }

    async fn do_touch(
        &self,
        key: &StoreKey,
        touch: Touch,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let touched: i64 = scripts::TOUCH
            .key(self.session_key(key))
            .key(self.pointer_key(key.handle()))
            .arg(now.as_unix_millis())
            .arg(touch.last_seen_at.as_unix_millis())
            .arg(touch.idle_deadline.as_unix_millis())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        Ok(touched == 1)
    }

    async fn do_rotate(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        delta: &Delta,
        now: Timestamp,
    ) -> Result<Rotated, StoreError> {
        if old.handle() != new.handle() {
            return Err(StoreError::msg(
                StoreErrorKind::InvalidData,
                "a rotation keeps the session's handle",
            ));
        }
        let victims = match &delta.principal {
            Some(PrincipalChange::Login {
                principal,
                admission,
            }) => match self
                .admit(principal, admission, Some(old.handle()), now)
                .await?
            {
                Ok(victims) => victims,
                Err(refusal) => return Ok(Rotated::Refused(refusal)),
            },
            _ => Vec::new(),
        };
        let mut invocation = scripts::ROTATE.prepare_invoke();
        invocation
            .key(self.session_key(old))
            .key(self.pointer_key(old.handle()))
            .key(self.scratch_key(old.handle()))
            .key(self.session_key(new))
            .arg(new.to_hex());
        for arg in delta_args(delta, now)? {
            invocation.arg(arg);
        }
        let reply: Value = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        Ok(match write_reply(reply)? {
            Reply::Updated(record) => {
                // Index the new key before unindexing the old one: a revoke walking
                // the index meanwhile finds the session under one of them (and
                // follows the handle's pointer either way).
                self.index(new, &record).await?;
                self.unindex(old, record.principal.as_deref()).await?;
                let evicted = self.evict(victims).await?;
                Rotated::Updated {
                    record: Arc::new(record),
                    evicted,
                }
            }
            Reply::Gone => Rotated::Gone,
            Reply::Taken => Rotated::KeyTaken,
        })
    }

    /// Deletes the session under `key`; its principal (empty if none) when it existed.
    async fn delete_key(&self, key: &StoreKey) -> Result<Option<String>, StoreError> {
        let (deleted, principal): (i64, String) = scripts::DELETE
            .key(self.session_key(key))
            .key(self.pointer_key(key.handle()))
            .arg(key.to_hex())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        self.unindex(key, Some(&principal)).await?;
        Ok((deleted == 1).then_some(principal))
    }

    async fn key_of(&self, handle: &Handle) -> Result<Option<StoreKey>, StoreError> {
        let hex: Option<String> = redis::cmd("GET")
            .arg(self.pointer_key(handle))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        Ok(hex.and_then(|hex| StoreKey::from_hex(*handle, &hex)))
    }

    async fn do_load_handle(
        &self,
        handle: &Handle,
        now: Timestamp,
    ) -> Result<Option<(StoreKey, Record)>, StoreError> {
        // A rotation may move the session between reading the pointer and loading:
        // a missing session counts only if the pointer still names the same key.
        for _ in 0..8 {
            let Some(key) = self.key_of(handle).await? else {
                return Ok(None);
            };
            match self.do_load(&key, now).await? {
                Loaded::Live(record) => return Ok(Some((key, Arc::unwrap_or_clone(record)))),
                Loaded::Missing if self.key_of(handle).await? != Some(key) => {}
                _ => return Ok(None),
            }
        }
        Err(StoreError::msg(
            StoreErrorKind::Backend,
            "session kept moving while being looked up",
        ))
    }

    async fn do_revoke(&self, handle: &Handle) -> Result<bool, StoreError> {
        // A rotation may move the session between reading the pointer and deleting:
        // follow the pointer until the delete hits or the pointer is gone.
        for _ in 0..8 {
            let Some(key) = self.key_of(handle).await? else {
                return Ok(false);
            };
            if self.delete_key(&key).await?.is_some() {
                return Ok(true);
            }
        }
        Err(StoreError::msg(
            StoreErrorKind::Backend,
            "session kept moving while being revoked",
        ))
    }

    /// The principal's index members with their live records; stale members are
    /// removed from the index as they are found.
    async fn principal_sessions(
        &self,
        principal: &str,
        now: Timestamp,
    ) -> Result<Vec<(StoreKey, Record)>, StoreError> {
        let index = self.principal_index(principal);
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg(&index)
            .arg(0)
            .arg(-1)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        let mut found = Vec::new();
        let mut stale = Vec::new();
        for member in members {
            let live = match Self::parse_member(&member) {
                Some(key) => match self.do_load(&key, now).await? {
                    Loaded::Live(record) if record.principal.as_deref() == Some(principal) => {
                        Some((key, Arc::unwrap_or_clone(record)))
                    }
                    Loaded::Live(_) | Loaded::Missing => None,
                    _ => {
                        // Expired but not yet deleted: not listed, left for purge.
                        continue;
                    }
                },
                None => None,
            };
            match live {
                Some(entry) => found.push(entry),
                None => stale.push(member),
            }
        }
        if !stale.is_empty() {
            redis::cmd("ZREM")
                .arg(&index)
                .arg(&stale)
                .query_async::<()>(&mut self.conn.clone())
                .await
                .map_err(store_error)?;
        }
        found.sort_by_key(|(_, record)| (record.created_at, record.handle));
        Ok(found)
    }

    async fn do_list(
        &self,
        principal: &str,
        now: Timestamp,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        Ok(self
            .principal_sessions(principal, now)
            .await?
            .iter()
            .map(|(_, r)| SessionSummary::from(r))
            .collect())
    }

    async fn do_revoke_principal(
        &self,
        principal: &str,
        except: Option<&Handle>,
    ) -> Result<u64, StoreError> {
        // The generation first: a login that checks it afterwards is refused.
        redis::cmd("INCR")
            .arg(self.generation_key(principal))
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        let index = self.principal_index(principal);
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg(&index)
            .arg(0)
            .arg(-1)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        // Each member is followed through its handle's pointer, which the rotation
        // script moves atomically with the session: a session rotated after its
        // member was written is found under its new key.
        let mut total = 0;
        for member in &members {
            let Some(listed) = Self::parse_member(member) else {
                continue;
            };
            if Some(listed.handle()) == except {
                continue;
            }
            for _ in 0..8 {
                let Some(key) = self.key_of(listed.handle()).await? else {
                    break;
                };
                let deleted: i64 = scripts::DELETE_OF_PRINCIPAL
                    .key(self.session_key(&key))
                    .key(self.pointer_key(key.handle()))
                    .arg(key.to_hex())
                    .arg(principal)
                    .invoke_async(&mut self.conn.clone())
                    .await
                    .map_err(store_error)?;
                if deleted == 1 {
                    self.unindex(&key, Some(principal)).await?;
                    total += 1;
                    break;
                }
                if self.key_of(listed.handle()).await? == Some(key) {
                    // Still there under that key: someone else's now, or anonymous.
                    break;
                }
            }
        }
        let gone: Vec<&String> = members
            .iter()
            .filter(|member| {
                Self::parse_member(member).is_none_or(|key| Some(key.handle()) != except)
            })
            .collect();
        if !gone.is_empty() {
            redis::cmd("ZREM")
                .arg(&index)
                .arg(&gone)
                .query_async::<()>(&mut self.conn.clone())
                .await
                .map_err(store_error)?;
        }
        Ok(total)
    }

    async fn do_purge(&self, now: Timestamp, batch: usize) -> Result<u64, StoreError> {
        let expiry = self.expiry_index();
        let limit = i64::try_from(batch).unwrap_or(i64::MAX);
        let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(&expiry)
            .arg("-inf")
            .arg(now.as_unix_millis())
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        let mut purged = 0;
        for member in members {
            let Some(key) = Self::parse_member(&member) else {
                redis::cmd("ZREM")
                    .arg(&expiry)
                    .arg(&member)
                    .query_async::<()>(&mut self.conn.clone())
                    .await
                    .map_err(store_error)?;
                continue;
            };
            let (deleted, detail): (i64, String) = scripts::PURGE_ONE
                .key(self.session_key(&key))
                .key(self.pointer_key(key.handle()))
                .arg(now.as_unix_millis())
                .arg(key.to_hex())
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(store_error)?;
            if deleted == 1 {
                self.unindex(&key, Some(&detail)).await?;
                purged += 1;
            } else {
                // Extended since it was indexed: move its score to the real deadline.
                redis::cmd("ZADD")
                    .arg(&expiry)
                    .arg("XX")
                    .arg(&detail)
                    .arg(&member)
                    .query_async::<()>(&mut self.conn.clone())
                    .await
                    .map_err(store_error)?;
            }
        }
        Ok(purged)
    }

    /// One `ZSCAN` step over the expiry index (which holds every session), each
    /// member checked against its session; the cursor is Redis's own.
    async fn do_list_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
        now: Timestamp,
    ) -> Result<SessionPage, StoreError> {
        let cursor = cursor.unwrap_or("0");
        if cursor.is_empty() || !cursor.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StoreError::bad_cursor());
        }
        let (next, flat): (String, Vec<String>) = redis::cmd("ZSCAN")
            .arg(self.expiry_index())
            .arg(cursor)
            .arg("COUNT")
            .arg(limit.max(1))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        let mut sessions = Vec::new();
        // The reply alternates member, score.
        for member in flat.iter().step_by(2) {
            if let Some(key) = Self::parse_member(member) {
                if let Loaded::Live(record) = self.do_load(&key, now).await? {
                    sessions.push(SessionSummary::from(&*record));
                }
            }
        }
        Ok(SessionPage::new(sessions, (next != "0").then_some(next)))
    }

    async fn do_count(&self, now: Timestamp) -> Result<u64, StoreError> {
        let expiry = self.expiry_index();
        let later: u64 = redis::cmd("ZCOUNT")
            .arg(&expiry)
            .arg(format!("({}", now.as_unix_millis()))
            .arg("+inf")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        // Members scored at or before `now` may belong to sessions extended since.
        let earlier: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(&expiry)
            .arg("-inf")
            .arg(now.as_unix_millis())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        let mut live = later;
        for member in earlier {
            if let Some(key) = Self::parse_member(&member) {
                if matches!(self.do_load(&key, now).await?, Loaded::Live(_)) {
                    live += 1;
                }
            }
        }
        Ok(live)
    }
}

impl SessionStore for RedisStore {
    fn create<'a>(
        &'a self,
        key: &'a StoreKey,
        record: &'a Record,
        admission: &'a Admission,
    ) -> StoreFuture<'a, Created> {
        Box::pin(self.timed(self.do_create(key, record, admission)))
    }

    fn load<'a>(&'a self, key: &'a StoreKey, now: Timestamp) -> StoreFuture<'a, Loaded> {
        Box::pin(self.timed(self.do_load(key, now)))
    }

    fn apply<'a>(
        &'a self,
        key: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, Applied> {
        Box::pin(self.timed(self.do_apply(key, delta, now)))
    }

    fn touch<'a>(
        &'a self,
        key: &'a StoreKey,
        touch: Touch,
        now: Timestamp,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.timed(self.do_touch(key, touch, now)))
    }

    fn rotate<'a>(
        &'a self,
        old: &'a StoreKey,
        new: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, Rotated> {
        Box::pin(self.timed(self.do_rotate(old, new, delta, now)))
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, bool> {
        Box::pin(self.timed(async move { Ok(self.delete_key(key).await?.is_some()) }))
    }

    fn load_handle<'a>(
        &'a self,
        handle: &'a Handle,
        now: Timestamp,
    ) -> StoreFuture<'a, Option<(StoreKey, Record)>> {
        Box::pin(self.timed(self.do_load_handle(handle, now)))
    }

    fn revoke<'a>(&'a self, handle: &'a Handle) -> StoreFuture<'a, bool> {
        Box::pin(self.timed(self.do_revoke(handle)))
    }

    fn list_principal<'a>(
        &'a self,
        principal: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, Vec<SessionSummary>> {
        Box::pin(self.timed(self.do_list(principal, now)))
    }

    fn revoke_principal<'a>(
        &'a self,
        principal: &'a str,
        except: Option<&'a Handle>,
    ) -> StoreFuture<'a, u64> {
        Box::pin(self.timed(self.do_revoke_principal(principal, except)))
    }

    fn generation<'a>(&'a self, principal: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(self.timed(self.do_generation(principal)))
    }

    fn list_sessions<'a>(
        &'a self,
        cursor: Option<&'a str>,
        limit: usize,
        now: Timestamp,
    ) -> StoreFuture<'a, SessionPage> {
        Box::pin(self.timed(self.do_list_page(cursor, limit, now)))
    }

    fn purge_expired(&self, now: Timestamp, batch: usize) -> StoreFuture<'_, u64> {
        Box::pin(self.timed(self.do_purge(now, batch)))
    }

    fn count(&self, now: Timestamp) -> StoreFuture<'_, u64> {
        Box::pin(self.timed(self.do_count(now)))
    }
}

#[cfg(test)]
mod tests {
    use redis::{ErrorKind, RedisError, ServerErrorKind};

    use super::*;

    fn kind_of(kind: ErrorKind) -> StoreErrorKind {
        store_error(RedisError::from((kind, "test"))).kind()
    }

    /// A server that is up but not ready (restarting, failing over) answers 503, never
    /// a bare 500: the restart test saw `LOADING` as a 500 in 5 of 10 runs.
    #[test]
    fn not_ready_replies_are_unavailable() {
        for server in [
            ServerErrorKind::BusyLoading,
            ServerErrorKind::TryAgain,
            ServerErrorKind::ClusterDown,
            ServerErrorKind::MasterDown,
            ServerErrorKind::ReadOnly,
        ] {
            assert_eq!(
                kind_of(ErrorKind::Server(server)),
                StoreErrorKind::Unavailable,
                "{server:?}"
            );
        }
        assert_eq!(
            kind_of(ErrorKind::ClusterConnectionNotFound),
            StoreErrorKind::Unavailable
        );
        assert_eq!(kind_of(ErrorKind::Io), StoreErrorKind::Unavailable);
    }

    #[test]
    fn other_failures_stay_backend_errors() {
        assert_eq!(
            kind_of(ErrorKind::Server(ServerErrorKind::ResponseError)),
            StoreErrorKind::Backend
        );
        assert_eq!(
            kind_of(ErrorKind::UnexpectedReturnType),
            StoreErrorKind::Backend
        );
    }
}
