//! The calls that walk the whole store — list, count, purge — with `SCAN` over the
//! store's keys (on a cluster, over each master in turn). Layout v2 keeps no index
//! of every session: it would cost each session a sorted-set entry and each login a
//! write to one hot key, for calls an operator makes now and then.

use hallpass::store::{SessionPage, StoreError, StoreErrorKind};
use hallpass::time::Timestamp;
use hallpass::{Handle, SessionSummary};
use redis::Value;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

use crate::{Conn, RedisStore, record, scripts, store_error};

/// What `SCAN` asks for in one step while counting and purging.
const STEP: usize = 1_000;

/// `text` with the glob characters of `MATCH` escaped.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A node to scan: the one server, or a cluster master by address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Node {
    Single,
    Master(String, u16),
}

/// A session's token hash, idle and absolute deadlines, as `HMGET` returns them.
type Stamps = (Option<Vec<u8>>, Option<u64>, Option<u64>);

/// What a key under the store's prefix is.
enum Kind {
    /// A v2 session hash, by handle.
    Session(Handle),
    /// A v2 principal index.
    Index,
    /// A v2 principal's generation and admission counters.
    Meta,
    /// A key of layout v1 (or anything else under the prefix): `true` for a v1
    /// session hash.
    Legacy(bool),
}

impl RedisStore {
    fn classify(&self, key: &[u8]) -> Kind {
        let rest = key.strip_prefix(self.prefix().as_bytes()).unwrap_or(key);
        if let Some(tagged) = rest.strip_prefix(b"2:{") {
            let handle = tagged
                .strip_suffix(b"}")
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| h.parse().ok());
            return handle.map_or(Kind::Legacy(false), Kind::Session);
        }
        if rest.starts_with(b"2:u{") {
            return if rest.ends_with(b"}:i") {
                Kind::Index
            } else {
                Kind::Meta
            };
        }
        let v1_session = rest.starts_with(b"{") && rest.windows(3).any(|w| w == b":s:");
        Kind::Legacy(v1_session)
    }

    pub(crate) async fn nodes(&self) -> Result<Vec<Node>, StoreError> {
        let Conn::Cluster(cluster) = &self.conn else {
            return Ok(vec![Node::Single]);
        };
        let reply = self
            .timed(async {
                cluster
                    .clone()
                    .route_command(
                        redis::cmd("CLUSTER").arg("SLOTS").clone(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
                    )
                    .await
                    .map_err(store_error)
            })
            .await?;
        let mut masters = Vec::new();
        if let Value::Array(ranges) = reply {
            for range in ranges {
                let Value::Array(parts) = range else { continue };
                let Some(Value::Array(master)) = parts.get(2) else {
                    continue;
                };
                let host = match master.first() {
                    Some(Value::BulkString(host)) => String::from_utf8_lossy(host).into_owned(),
                    Some(Value::SimpleString(host)) => host.clone(),
                    _ => continue,
                };
                let Some(Value::Int(port)) = master.get(1) else {
                    continue;
                };
                if let Ok(port) = u16::try_from(*port) {
                    masters.push(Node::Master(host, port));
                }
            }
        }
        masters.sort();
        masters.dedup();
        Ok(masters)
    }

    /// Sends `cmd` to `node`, under the call timeout.
    pub(crate) async fn on_node(&self, node: &Node, cmd: redis::Cmd) -> Result<Value, StoreError> {
        self.timed(async {
            match (node, &self.conn) {
                (Node::Master(host, port), Conn::Cluster(cluster)) => cluster
                    .clone()
                    .route_command(
                        cmd,
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port: *port,
                        }),
                    )
                    .await
                    .map_err(store_error),
                _ => self.query(&cmd).await,
            }
        })
        .await
    }

    /// One `SCAN` step on `node`: the next cursor and the keys.
    async fn scan(
        &self,
        node: &Node,
        cursor: u64,
        pattern: &str,
        count: usize,
    ) -> Result<(u64, Vec<Vec<u8>>), StoreError> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count.max(1));
        let reply = self.on_node(node, cmd).await?;
        redis::from_redis_value(reply).map_err(|err| StoreError::new(StoreErrorKind::Backend, err))
    }

    /// One command under the call timeout.
    async fn call<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        self.timed(self.query(cmd)).await
    }

    fn session_pattern(&self) -> String {
        format!("{}2:{{*", glob_escape(self.prefix()))
    }

    /// The live session summaries among `handles`.
    async fn live_among(
        &self,
        handles: &[Handle],
        now: Timestamp,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        if handles.is_empty() {
            return Ok(Vec::new());
        }
        let replies = self.hgetall_each(handles).await?;
        let mut live = Vec::new();
        for (handle, reply) in handles.iter().zip(&replies) {
            if let Ok(Some((_, record))) = record::from_value(*handle, reply) {
                if record.expired_by(now).is_none() {
                    live.push(SessionSummary::from(&record));
                }
            }
        }
        Ok(live)
    }

    fn handles_of(&self, keys: &[Vec<u8>]) -> Vec<Handle> {
        keys.iter()
            .filter_map(|key| match self.classify(key) {
                Kind::Session(handle) => Some(handle),
                _ => None,
            })
            .collect()
    }

    /// A page of live sessions: `SCAN` steps until one finds a session or the walk
    /// ends. The cursor is `<node>.<cursor>`: the master's place in the sorted list
    /// of masters (0 on standalone Redis) and Redis's own cursor on it.
    pub(crate) async fn do_list_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
        now: Timestamp,
    ) -> Result<SessionPage, StoreError> {
        let (mut node, mut position) = match cursor {
            None => (0usize, 0u64),
            Some(text) => {
                let parsed = text
                    .split_once('.')
                    .filter(|(n, c)| {
                        !n.is_empty()
                            && !c.is_empty()
                            && n.bytes().all(|b| b.is_ascii_digit())
                            && c.bytes().all(|b| b.is_ascii_digit())
                    })
                    .and_then(|(n, c)| Some((n.parse().ok()?, c.parse().ok()?)));
                parsed.ok_or_else(StoreError::bad_cursor)?
            }
        };
        let nodes = self.nodes().await?;
        if cursor.is_some() && node >= nodes.len() {
            return Err(StoreError::bad_cursor());
        }
        let pattern = self.session_pattern();
        let mut sessions = Vec::new();
        while let Some(target) = nodes.get(node) {
            let (next, keys) = self.scan(target, position, &pattern, limit).await?;
            sessions.extend(self.live_among(&self.handles_of(&keys), now).await?);
            if next == 0 {
                node += 1;
                position = 0;
            } else {
                position = next;
            }
            if !sessions.is_empty() {
                break;
            }
        }
        let next = (node < nodes.len()).then(|| format!("{node}.{position}"));
        Ok(SessionPage::new(sessions, next))
    }

    pub(crate) async fn do_count(&self, now: Timestamp) -> Result<u64, StoreError> {
        let pattern = self.session_pattern();
        let mut total = 0u64;
        for node in self.nodes().await? {
            let mut cursor = 0;
            loop {
                let (next, keys) = self.scan(&node, cursor, &pattern, STEP).await?;
                let handles = self.handles_of(&keys);
                for (_, (idle, absolute)) in self.deadlines(&handles).await? {
                    if idle.min(absolute) > now.as_unix_millis() {
                        total += 1;
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(total)
    }

    /// The idle and absolute deadlines of those of `handles` that hold a session.
    async fn deadlines(&self, handles: &[Handle]) -> Result<Vec<(Handle, (u64, u64))>, StoreError> {
        if handles.is_empty() {
            return Ok(Vec::new());
        }
        let replies = self
            .query_each(
                handles
                    .iter()
                    .map(|handle| {
                        redis::cmd("HMGET")
                            .arg(self.session_key(handle))
                            .arg("k")
                            .arg("i")
                            .arg("a")
                            .clone()
                    })
                    .collect(),
            )
            .await?;
        let replies: Vec<Stamps> = replies
            .into_iter()
            .map(|reply| redis::from_redis_value(reply).unwrap_or((None, None, None)))
            .collect();
        Ok(handles
            .iter()
            .zip(replies)
            .filter_map(|(handle, (hash, idle, absolute))| {
                hash.and(Some((*handle, (idle?, absolute?))))
            })
            .collect())
    }

    /// Deletes at most `batch` sessions expired at `now`, walking every key under the
    /// prefix from the start: it also prunes the principal indexes of members whose
    /// absolute deadline passed and deletes every key of layout v1 (a v1 session
    /// counts as one purged). Redis deletes expired sessions by itself (each expires
    /// a minute after its deadline); this catches the rest and keeps the indexes small.
    pub(crate) async fn do_purge(&self, now: Timestamp, batch: usize) -> Result<u64, StoreError> {
        let pattern = format!("{}*", glob_escape(self.prefix()));
        let mut purged = 0u64;
        let limit = u64::try_from(batch).unwrap_or(u64::MAX);
        for node in self.nodes().await? {
            let mut cursor = 0;
            loop {
                let (next, keys) = self.scan(&node, cursor, &pattern, STEP).await?;
                let mut sessions = Vec::new();
                for key in &keys {
                    match self.classify(key) {
                        Kind::Session(handle) => sessions.push(handle),
                        Kind::Index => {
                            // A cluster index scores deadline × 1,024 (see ADMIT).
                            let bound = if self.inline() {
                                format!("({}", now.as_unix_millis().saturating_add(1))
                            } else {
                                format!(
                                    "({}",
                                    now.as_unix_millis().saturating_add(1).saturating_mul(1024)
                                )
                            };
                            let mut cmd = redis::cmd("ZREMRANGEBYSCORE");
                            cmd.arg(key).arg("-inf").arg(bound);
                            self.call::<()>(&cmd).await?;
                        }
                        Kind::Meta => {}
                        Kind::Legacy(session) => {
                            if purged >= limit {
                                continue;
                            }
                            let deleted: u64 = self.call(redis::cmd("DEL").arg(key)).await?;
                            if session && deleted == 1 {
                                purged += 1;
                            }
                        }
                    }
                }
                for (handle, (idle, absolute)) in self.deadlines(&sessions).await? {
                    if purged >= limit {
                        break;
                    }
                    if idle.min(absolute) > now.as_unix_millis() {
                        continue;
                    }
                    let mut invocation = scripts::PURGE_ONE.call();
                    invocation
                        .key(self.session_key(&handle))
                        .arg(if self.inline() { "1" } else { "0" })
                        .arg(self.prefix())
                        .arg(handle.to_string())
                        .arg(now.as_unix_millis());
                    let (deleted, principal): (i64, String) =
                        self.timed(self.run(&invocation)).await?;
                    if deleted == 1 {
                        purged += 1;
                        if !self.inline() && !principal.is_empty() {
                            self.timed(self.zrem(&principal, &handle)).await?;
                        }
                    }
                }
                if next == 0 || purged >= limit {
                    break;
                }
                cursor = next;
            }
            if purged >= limit {
                break;
            }
        }
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("a*b?[c]\\:"), "a\\*b\\?\\[c\\]\\\\:");
        assert_eq!(glob_escape("hallpass:"), "hallpass:");
    }
}
