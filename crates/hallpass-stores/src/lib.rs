//! Open any hallpass session store from one URL, behind the core's object-safe trait.
//!
//! | URL | store |
//! |---|---|
//! | `memory:` | [`hallpass::MemoryStore`] (one process, nothing persisted) |
//! | `sqlite://path/to/file.db`, `sqlite::memory:` | SQLite (feature `sqlite`) |
//! | `postgres://…`, `postgresql://…` | PostgreSQL (feature `postgres`) |
//! | `mysql://…`, `mariadb://…` | MySQL / MariaDB (feature `mysql`) |
//! | `redis://…`, `rediss://…` | standalone Redis (feature `redis`) |
//! | `redis-cluster://host:port,host:port,…` | Redis Cluster, given any of its nodes (feature `redis`) |
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = hallpass_stores::open("sqlite::memory:").await?;
//! # let _ = store;
//! assert!(matches!(hallpass_stores::open("ftp://x").await, Err(hallpass_stores::OpenError::UnknownScheme(_))));
//! # Ok::<(), hallpass_stores::OpenError>(())
//! # }).unwrap();
//! ```

use std::sync::Arc;

use hallpass::store::SessionStore;

/// A store could not be opened from a URL.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The scheme names no store this build knows.
    #[error(
        "unknown store URL {0:?}: use memory:, sqlite://PATH, sqlite::memory:, postgres://…, mysql://…, redis://… or redis-cluster://HOST:PORT,…"
    )]
    UnknownScheme(String),
    /// The scheme is known but its feature is not compiled in.
    #[error("this build has no {0} store (enable the `{0}` feature of hallpass-stores)")]
    NotCompiled(&'static str),
    /// A SQL store failed to open.
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    #[error(transparent)]
    Sql(#[from] hallpass_sql::ConnectError),
    /// Redis failed to open.
    #[cfg(feature = "redis")]
    #[error(transparent)]
    Redis(#[from] hallpass_redis::ConnectError),
    /// The namespace is not 1 to 30 of `a-z`, `0-9` and `_`, starting with a letter.
    #[error("namespace {0:?} must be 1 to 30 of a-z, 0-9 and _, starting with a letter")]
    BadNamespace(String),
}

impl OpenError {
    /// Whether the URL itself is at fault (a usage error), rather than the store.
    #[must_use]
    pub fn is_bad_url(&self) -> bool {
        match self {
            Self::UnknownScheme(_) | Self::NotCompiled(_) | Self::BadNamespace(_) => true,
            #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
            Self::Sql(err) => err.is_bad_url(),
            #[cfg(feature = "redis")]
            Self::Redis(err) => matches!(err, hallpass_redis::ConnectError::Url(_)),
        }
    }
}

/// The store kinds, by URL scheme.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `memory:`
    Memory,
    /// `sqlite:`
    Sqlite,
    /// `postgres:` / `postgresql:`
    Postgres,
    /// `mysql:` / `mariadb:`
    MySql,
    /// `redis:` / `rediss:`
    Redis,
    /// `redis-cluster:`
    RedisCluster,
}

/// Which store a URL names, without opening it.
///
/// # Errors
///
/// [`OpenError::UnknownScheme`].
pub fn kind(url: &str) -> Result<Kind, OpenError> {
    let scheme = url
        .split_once(':')
        .map_or("", |(scheme, _)| scheme)
        .to_ascii_lowercase();
    match scheme.as_str() {
        "memory" => Ok(Kind::Memory),
        "sqlite" => Ok(Kind::Sqlite),
        "postgres" | "postgresql" => Ok(Kind::Postgres),
        "mysql" | "mariadb" => Ok(Kind::MySql),
        "redis" | "rediss" => Ok(Kind::Redis),
        "redis-cluster" => Ok(Kind::RedisCluster),
        _ => Err(OpenError::UnknownScheme(redact(url))),
    }
}

/// The URL without any password, for messages: the password of the user-info part
/// (`user:***@host`) and the value of every query parameter whose name mentions a
/// password or a secret (`?password=***`, `sslpassword=***`, `secret=***`).
///
/// # Examples
///
/// ```
/// use hallpass_stores::redact;
///
/// assert_eq!(redact("postgres://app:s3cret@db/sessions"), "postgres://app:***@db/sessions");
/// assert_eq!(
///     redact("mysql://db/sessions?user=app&password=s3cret&ssl-mode=required"),
///     "mysql://db/sessions?user=app&password=***&ssl-mode=required"
/// );
/// ```
#[must_use]
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let credentials = &base[start + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..start + 3], &base[at..]),
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let (query, fragment) = match query.split_once('#') {
            Some((query, fragment)) => (query, Some(fragment)),
            None => (query, None),
        };
        out.push('?');
        for (index, pair) in query.split('&').enumerate() {
            if index > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) if is_secret_parameter(name) => {
                    out.push_str(name);
                    out.push_str("=***");
                }
                _ => out.push_str(pair),
            }
        }
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(fragment);
        }
    }
    out
}

/// A query parameter that carries a credential (`password`, `sslpassword`,
/// `pass`, `secret`, `auth`, `token`, in any case or percent-encoding of letters).
fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "secret", "auth", "token"]
        .iter()
        .any(|word| name.contains(word))
        || name.contains('%')
}

/// The namespace [`open`] uses: tables `hallpass_sessions`…, Redis keys `hallpass:…`.
pub const DEFAULT_NAMESPACE: &str = "hallpass";

/// Opens the store `url` names with default options (the [`DEFAULT_NAMESPACE`],
/// tables created on first use; 5 s per call).
///
/// # Errors
///
/// [`OpenError`]: an unknown scheme, or the store's own connect error.
pub async fn open(url: &str) -> Result<Arc<dyn SessionStore>, OpenError> {
    open_in(url, DEFAULT_NAMESPACE).await
}

/// Opens the store `url` names under `namespace`, so several applications (or test
/// runs) can share one database or Redis: SQL tables are prefixed `<namespace>_`,
/// Redis keys `<namespace>:`. Every process that shares sessions must use the same
/// namespace.
///
/// # Errors
///
/// [`OpenError::BadNamespace`], or as [`open`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = hallpass_stores::open_in("sqlite::memory:", "shop").await?;
/// # let _ = store;
/// assert!(hallpass_stores::open_in("sqlite::memory:", "Not OK").await.is_err());
/// # Ok::<(), hallpass_stores::OpenError>(())
/// # }).unwrap();
/// ```
pub async fn open_in(url: &str, namespace: &str) -> Result<Arc<dyn SessionStore>, OpenError> {
    let valid = (1..=30).contains(&namespace.len())
        && namespace.starts_with(|c: char| c.is_ascii_lowercase())
        && namespace
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return Err(OpenError::BadNamespace(namespace.to_owned()));
    }
    match kind(url)? {
        Kind::Memory => Ok(Arc::new(hallpass::MemoryStore::new())),
        Kind::Sqlite => open_sqlite(url, namespace).await,
        Kind::Postgres => open_postgres(url, namespace).await,
        Kind::MySql => open_mysql(url, namespace).await,
        Kind::Redis | Kind::RedisCluster => open_redis(url, namespace).await,
    }
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(url: &str, namespace: &str) -> Result<Arc<dyn SessionStore>, OpenError> {
    Ok(Arc::new(
        hallpass_sql::sqlite::connect(url, hallpass_sql_options(namespace)?).await?,
    ))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(_: &str, _: &str) -> Result<Arc<dyn SessionStore>, OpenError> {
    Err(OpenError::NotCompiled("sqlite"))
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str, namespace: &str) -> Result<Arc<dyn SessionStore>, OpenError> {
    Ok(Arc::new(
        hallpass_sql::postgres::connect(url, hallpass_sql_options(namespace)?).await?,
    ))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_: &str, _: &str) -> Result<Arc<dyn SessionStore>, OpenError> {
    Err(OpenError::NotCompiled("postgres"))
}

#[cfg(feature = "mysql")]
async fn open_mysql(url: &str, namespace: &str) -> Result<Arc<dyn SessionStore>, OpenError> {
    // sqlx speaks mysql://; accept mariadb:// as a synonym.
    let url = url
        .strip_prefix("mariadb:")
        .map_or_else(|| url.to_owned(), |rest| format!("mysql:{rest}"));
    Ok(Arc::new(
        hallpass_sql::mysql::connect(&url, hallpass_sql_options(namespace)?).await?,
    ))
}

#[cfg(not(feature = "mysql"))]
async fn open_mysql(_: &str, _: &str) -> Result<Arc<dyn SessionStore>, OpenError> {
    Err(OpenError::NotCompiled("mysql"))
}

#[cfg(feature = "redis")]
async fn open_redis(url: &str, namespace: &str) -> Result<Arc<dyn SessionStore>, OpenError> {
    let options = hallpass_redis::RedisOptions::default()
        .with_prefix(&format!("{namespace}:"))
        .map_err(|_| OpenError::BadNamespace(namespace.to_owned()))?;
    match url.strip_prefix("redis-cluster://") {
        Some(nodes) => {
            let nodes: Vec<String> = nodes
                .split(',')
                .map(|node| format!("redis://{node}"))
                .collect();
            let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
            Ok(Arc::new(
                hallpass_redis::connect_cluster(&nodes, options).await?,
            ))
        }
        None => Ok(Arc::new(hallpass_redis::connect(url, options).await?)),
    }
}

#[cfg(not(feature = "redis"))]
async fn open_redis(_: &str, _: &str) -> Result<Arc<dyn SessionStore>, OpenError> {
    Err(OpenError::NotCompiled("redis"))
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn hallpass_sql_options(namespace: &str) -> Result<hallpass_sql::SqlOptions, OpenError> {
    hallpass_sql::SqlOptions::default()
        .with_table_prefix(&format!("{namespace}_"))
        .map_err(|_| OpenError::BadNamespace(namespace.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_recognised_case_insensitively() {
        assert_eq!(kind("SQLITE://x.db").unwrap(), Kind::Sqlite);
        assert_eq!(kind("postgresql://h/db").unwrap(), Kind::Postgres);
        assert_eq!(kind("mariadb://h/db").unwrap(), Kind::MySql);
        assert_eq!(kind("memory:").unwrap(), Kind::Memory);
        assert_eq!(kind("redis://h").unwrap(), Kind::Redis);
        assert_eq!(kind("redis-cluster://a:1,b:2").unwrap(), Kind::RedisCluster);
        assert!(kind("memcached://h").is_err());
        assert!(kind("no scheme").is_err());
    }

    #[test]
    fn passwords_never_appear_in_messages() {
        assert_eq!(redact("postgres://u:s3cret@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            redact("postgres://h/db?password=s3cret"),
            "postgres://h/db?password=***"
        );
        assert_eq!(
            redact("postgres://u:a@h/db?sslmode=require&sslpassword=s3cret#x"),
            "postgres://u:***@h/db?sslmode=require&sslpassword=***#x"
        );
        assert_eq!(
            redact("redis://h:6379/0?PASSWORD=s3cret"),
            "redis://h:6379/0?PASSWORD=***"
        );
        // A percent-encoded name could spell "password": hidden too.
        assert_eq!(
            redact("mysql://h/db?p%61ssword=s3cret"),
            "mysql://h/db?p%61ssword=***"
        );
        assert_eq!(
            redact("sqlite://sessions.db?mode=rwc"),
            "sqlite://sessions.db?mode=rwc"
        );
        let err = kind("ftp://u:s3cret@h").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}
