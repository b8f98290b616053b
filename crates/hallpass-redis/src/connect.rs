//! Opening a store: the connection (standalone with its batcher, or cluster), the
//! eviction-policy check, and how Redis errors map to the store's error kinds.

use hallpass::store::{StoreError, StoreErrorKind};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

use crate::{RedisOptions, RedisStore, batch};

/// The connection: a reconnecting manager for standalone Redis (with the batcher
/// that sends concurrent calls together), or a cluster client.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager, batch::Batcher),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c, _) => c.req_packed_command(cmd),
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
            Self::Single(c, _) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c, _) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
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
    /// The server may evict any key under memory pressure, the principal index
    /// included, and revocation would silently miss sessions.
    #[error(
        "Redis maxmemory-policy is {policy:?}, which can evict the session indexes; set it to \
         noeviction (or a volatile-* policy), or accept the risk with \
         RedisOptions::dangerous_accept_evicting_policy"
    )]
    EvictingPolicy {
        /// The server's policy.
        policy: String,
    },
}

/// Maps a Redis error to the kind the layer acts on (H6: the source is kept).
///
/// Everything that says "not now" is [`StoreErrorKind::Unavailable`] (503): a lost or
/// refused connection, and the replies of a server that is up but not ready —
/// `LOADING` while it replays its append-only file after a restart, `TRYAGAIN`,
/// `CLUSTERDOWN`, `MASTERDOWN` and `READONLY` during a failover, and a cluster with no
/// connection to the slot's node. Mapping `LOADING` to a 500 made the restart test fail
/// at random: for the few milliseconds of the replay, every request was a bare 500.
pub(crate) fn store_error(err: RedisError) -> StoreError {
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
        // One timer per call: `hallpass::store::timed` bounds every call already.
        .set_response_timeout(None)
        .set_number_of_retries(1);
    let manager = tokio::time::timeout(
        options.call_timeout,
        ConnectionManager::new_with_config(client, config),
    )
    .await
    .map_err(|elapsed| ConnectError::Connect(StoreError::new(StoreErrorKind::Timeout, elapsed)))?
    .map_err(|err| ConnectError::Connect(store_error(err)))?;
    let store = RedisStore {
        conn: Conn::Single(manager.clone(), batch::Batcher::start(manager)),
        options,
    };
    store.check_policy().await?;
    Ok(store)
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
    let store = RedisStore {
        conn: Conn::Cluster(conn),
        options,
    };
    store.check_policy().await?;
    Ok(store)
}

impl RedisStore {
    /// Reads `maxmemory-policy` (on every master of a cluster) and refuses one that
    /// can evict keys without a TTL, unless told to accept it. A server that hides
    /// `CONFIG` (some managed services) is accepted with a warning.
    pub(crate) async fn check_policy(&self) -> Result<(), ConnectError> {
        let policies = match self.timed(self.policies()).await {
            Ok(policies) => policies,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read Redis maxmemory-policy; make sure it is noeviction");
                return Ok(());
            }
        };
        for policy in policies {
            if policy.starts_with("allkeys") {
                if self.options.accept_evicting_policy {
                    tracing::warn!(%policy, "Redis may evict session indexes (accepted by dangerous_accept_evicting_policy)");
                } else {
                    return Err(ConnectError::EvictingPolicy { policy });
                }
            } else if policy.starts_with("volatile") {
                tracing::warn!(%policy, "Redis may evict sessions under memory pressure (their users are signed out); noeviction avoids it");
            }
        }
        Ok(())
    }

    async fn policies(&self) -> Result<Vec<String>, StoreError> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("GET").arg("maxmemory-policy");
        let mut policies = Vec::new();
        for node in self.nodes().await? {
            let reply = self.on_node(&node, cmd.clone()).await?;
            let pair: Vec<String> = redis::from_redis_value(reply)
                .map_err(|err| StoreError::new(StoreErrorKind::Backend, err))?;
            policies.extend(pair.into_iter().nth(1));
        }
        Ok(policies)
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
