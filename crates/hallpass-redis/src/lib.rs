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
//! # Layout (v2)
//!
//! With prefix `P` (default `hallpass:`), a session with handle `H`, of principal
//! `U`:
//!
//! | key | what |
//! |---|---|
//! | `P2:{H}` | a hash: the token hash, the record's fields, one `d:<name>` field per data key (the scripts module lists them); expires a minute after the session's deadline |
//! | `P2:u{U}:i` | a sorted set of `U`'s sessions (handles), scored by their absolute deadline; no TTL |
//! | `P2:u{U}:g` | `U`'s generation (moved on by every revoke-all) and admission counter; no TTL |
//!
//! The session is keyed by its public handle, not its token: a rotation swaps the
//! token hash inside the hash under the guard, so a session never moves, and a revoke
//! by handle is one delete that cannot miss. Every call first checks the guard —
//! the hash holds the caller's token hash and is live at the caller's `now` — so no
//! write resurrects a session, and a rotated-away token does nothing. A load is one
//! `HGETALL` (the token hash compared in constant time); every write is one script,
//! one round trip, with increments checked by Redis's own 64-bit arithmetic and the
//! data bound checked against the stored record. The TTL a minute past the deadline
//! only frees memory: deadlines are always checked against `now`, so a Redis clock a
//! little ahead of the app's never ends a session early.
//!
//! **Standalone Redis**: the principal index and the generation are written by the
//! same script as the session, so a login's admission (generation, cap) and a
//! revoke-all are each one atomic step. Calls made at the same time by concurrent
//! requests are sent together, as one pipeline in one write (each keeps its own
//! reply), so Redis reads, parses and answers them in one go.
//!
//! **Redis Cluster**: the principal's keys share the slot of `{U}`, not the
//! session's, so a login first runs its admission on the principal's slot (checking
//! the generation and the cap, ending the victims, entering the handle in the index)
//! and only then writes the session; a revoke-all moves the generation on and then
//! ends each indexed session, fencing each handle that is not (yet) the principal's
//! so that a login admitted before it cannot finish (see the scripts). The index can
//! hold members whose session is gone or is someone else's (a login that failed
//! after its admission, a logout that kept the session); they are pruned when
//! their absolute deadline passes, by purge, and — gone ones — before a login is
//! refused for the cap.
//!
//! # Upgrading from layout v1
//!
//! Layout v2 does not read v1 keys (`P{H}:s:<hash>`, `P{H}:h`, `Px`, `Pp:*`,
//! `Pg:*`): sessions stored by an older hallpass simply end, and their users sign in
//! again. `hallpass purge` (or any purge) deletes the v1 keys.
//!
//! # Eviction
//!
//! Index and generation keys have no TTL. At connect the store reads
//! `maxmemory-policy`: `noeviction` is what it wants; a `volatile-*` policy may evict
//! sessions under memory pressure (their users are signed out) and is accepted with a
//! warning; an `allkeys-*` policy can evict the principal index, so that revocation
//! silently misses sessions, and is refused unless
//! [`RedisOptions::dangerous_accept_evicting_policy`] is set.

mod batch;
mod connect;
mod labels;
mod options;
mod record;
mod scripts;
mod walk;
mod write;

use std::fmt;
use std::future::Future;

use hallpass::store::{
    Admission, Applied, Created, Delta, Loaded, Record, Rotated, SessionPage, SessionStore,
    StoreError, StoreErrorKind, StoreFuture, StoreKey, Touch,
};
use hallpass::time::Timestamp;
use hallpass::{Handle, SessionSummary};
use redis::aio::ConnectionLike;
use redis::{Cmd, RedisError, Value};

use connect::{Conn, store_error};
pub use connect::{ConnectError, connect, connect_cluster};
pub use options::{InvalidPrefix, RedisOptions};

/// A Redis session store (standalone or cluster). Cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    options: RedisOptions,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.conn {
            Conn::Single(..) => "standalone",
            Conn::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("mode", &mode)
            .field("options", &self.options)
            .finish()
    }
}

/// How long after its deadline a session's hash expires in Redis (ms). The
/// deadlines are checked against `now` on every call; the TTL only frees memory, so
/// this grace keeps a Redis clock that runs ahead of the app's from ending sessions
/// early. The scripts' `grace` is the same number.
pub(crate) const TTL_GRACE_MS: u64 = 60_000;

impl RedisStore {
    fn prefix(&self) -> &str {
        &self.options.prefix
    }

    /// Standalone Redis: the scripts keep the principal index and admission inline.
    fn inline(&self) -> bool {
        matches!(self.conn, Conn::Single(..))
    }

    fn session_key(&self, handle: &Handle) -> String {
        format!("{}2:{{{handle}}}", self.options.prefix)
    }

    fn index_key(&self, principal: &str) -> String {
        format!("{}2:u{{{principal}}}:i", self.options.prefix)
    }

    fn meta_key(&self, principal: &str) -> String {
        format!("{}2:u{{{principal}}}:g", self.options.prefix)
    }

    /// How long a cluster fence on a handle with no session lives: far longer than a
    /// login can take between its admission and its write (one call, bounded by the
    /// call timeout).
    fn fence_ttl_ms(&self) -> u64 {
        let call = u64::try_from(self.options.call_timeout.as_millis()).unwrap_or(u64::MAX);
        call.saturating_mul(10).max(60_000)
    }

    /// One command on the store's connection: on standalone Redis through the
    /// batcher (see the `batch` module), on a cluster straight to its node.
    async fn send(&self, cmd: Cmd) -> Result<Value, RedisError> {
        match &self.conn {
            Conn::Single(_, batcher) => batcher.call(cmd).await?.extract_error(),
            Conn::Cluster(conn) => conn.clone().req_packed_command(&cmd).await?.extract_error(),
        }
    }

    /// One command, its reply converted.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let value = self.send(cmd.clone()).await.map_err(store_error)?;
        redis::from_redis_value(value).map_err(|err| store_error(err.into()))
    }

    /// One script (`EVALSHA`, loading the script once when the server answers
    /// `NOSCRIPT`, as after a restart or a failover).
    async fn run<T: redis::FromRedisValue>(&self, call: &scripts::Call) -> Result<T, StoreError> {
        let value = match self.send(call.evalsha()).await {
            Err(err)
                if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                self.send(call.lua().load()).await.map_err(store_error)?;
                self.send(call.evalsha()).await
            }
            other => other,
        }
        .map_err(store_error)?;
        redis::from_redis_value(value).map_err(|err| store_error(err.into()))
    }

    /// A call under the store's time limit ([`hallpass::store::timed`]).
    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        hallpass::store::timed(self.options.call_timeout, call).await
    }

    /// Sends `cmds` at once: one pipeline on standalone Redis; on a cluster, where a
    /// pipeline must not cross slots, each on its own, concurrently. The replies in
    /// order, each under the call timeout.
    pub(crate) async fn query_each(&self, cmds: Vec<Cmd>) -> Result<Vec<Value>, StoreError> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        if self.inline() {
            let mut pipe = redis::pipe();
            for cmd in cmds {
                pipe.add_command(cmd);
            }
            return self
                .timed(async {
                    pipe.query_async(&mut self.conn.clone())
                        .await
                        .map_err(store_error)
                })
                .await;
        }
        let mut tasks = tokio::task::JoinSet::new();
        let count = cmds.len();
        for (n, cmd) in cmds.into_iter().enumerate() {
            let mut conn = self.conn.clone();
            let limit = self.options.call_timeout;
            tasks.spawn(async move {
                let reply = hallpass::store::timed(limit, async {
                    cmd.query_async::<Value>(&mut conn)
                        .await
                        .map_err(store_error)
                })
                .await;
                (n, reply)
            });
        }
        let mut replies = vec![Value::Nil; count];
        while let Some(done) = tasks.join_next().await {
            let (n, reply) = done.map_err(|err| StoreError::new(StoreErrorKind::Backend, err))?;
            if let Some(slot) = replies.get_mut(n) {
                *slot = reply?;
            }
        }
        Ok(replies)
    }

    /// Every session hash of `handles`, in order (see [`Self::query_each`]).
    pub(crate) async fn hgetall_each(&self, handles: &[Handle]) -> Result<Vec<Value>, StoreError> {
        self.query_each(
            handles
                .iter()
                .map(|handle| redis::cmd("HGETALL").arg(self.session_key(handle)).clone())
                .collect(),
        )
        .await
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

    fn increment<'a>(
        &'a self,
        key: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, hallpass::store::Incremented> {
        Box::pin(self.timed(self.do_increment(key, delta, now)))
    }

    fn take<'a>(
        &'a self,
        key: &'a StoreKey,
        delta: &'a Delta,
        now: Timestamp,
    ) -> StoreFuture<'a, hallpass::store::Taken> {
        Box::pin(self.timed(self.do_take(key, delta, now)))
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

    fn delete<'a>(
        &'a self,
        key: &'a StoreKey,
    ) -> StoreFuture<'a, Option<hallpass::store::Deleted>> {
        Box::pin(self.timed(self.delete_key(key)))
    }

    fn load_handle<'a>(
        &'a self,
        handle: &'a Handle,
        now: Timestamp,
    ) -> StoreFuture<'a, Option<(StoreKey, Record)>> {
        Box::pin(self.timed(self.do_load_handle(handle, now)))
    }

    fn revoke<'a>(&'a self, handle: &'a Handle) -> StoreFuture<'a, bool> {
        Box::pin(self.timed(async move { Ok(self.delete_session(handle, None).await?.is_some()) }))
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

    // The walks take as long as the store is large: each of their Redis calls is
    // under the call timeout, not the whole walk.
    fn list_sessions<'a>(
        &'a self,
        cursor: Option<&'a str>,
        limit: usize,
        now: Timestamp,
    ) -> StoreFuture<'a, SessionPage> {
        Box::pin(self.do_list_page(cursor, limit, now))
    }

    fn purge_expired(&self, now: Timestamp, batch: usize) -> StoreFuture<'_, u64> {
        Box::pin(self.do_purge(now, batch))
    }

    fn count(&self, now: Timestamp) -> StoreFuture<'_, u64> {
        Box::pin(self.do_count(now))
    }

    fn revoke_label<'a>(
        &'a self,
        name: &'a str,
        value: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, u64> {
        Box::pin(self.do_revoke_label(name, value, now))
    }
}
