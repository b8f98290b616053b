//! The tower adapter: [`SessionLayer`] and [`SessionService`].
//!
//! For every request the service finds the session cookie (no store call), puts a
//! [`Session`](crate::Session) in the request extensions, runs the inner service, then
//! commits the session *before* the response head leaves: if the write fails the
//! response is replaced by a bare 500/503 without `Set-Cookie`. A `Cookie` header over
//! the bound gets 431 without reaching the inner service.
//!
//! The client IP comes from a [`ClientAddr`] extension, or with the `connect-info` feature from
//! axum's `ConnectInfo<SocketAddr>` (serve with `into_make_service_with_connect_info`).

mod service;

use std::net::SocketAddr;

pub use service::{ResponseFuture, SessionService};

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use crate::extract::MissingSessionLayer;

use crate::config::{ConfigError, SessionConfig};
use crate::engine::SessionEngine;
use crate::store::IntoStore;

/// The peer address of a connection, for servers that are not axum: insert it into
/// the request extensions before the session layer runs.
#[expect(
    clippy::exhaustive_structs,
    reason = "a newtype that callers construct"
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// Adds sessions to a tower service.
///
/// # Examples
///
/// ```
/// use axum::{Router, routing::get};
/// use hallpass::{Key, MemoryStore, Session, SessionConfig, SessionLayer};
///
/// let layer = SessionLayer::new(MemoryStore::new(), SessionConfig::new(Key::generate()))?;
/// let app: Router = Router::new()
///     .route("/", get(|session: Session| async move { session.increment("views", 1).await.map(|n| n.to_string()) }))
///     .layer(layer);
/// # let _ = app;
/// # Ok::<(), hallpass::ConfigError>(())
/// ```
#[must_use]
#[derive(Clone, Debug)]
pub struct SessionLayer {
    engine: SessionEngine,
}

impl SessionLayer {
    /// Validates `config` and builds the layer.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an unsafe or inconsistent configuration, with a message
    /// saying how to fix it.
    pub fn new(store: impl IntoStore, config: SessionConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            engine: SessionEngine::new(store, config)?,
        })
    }

    /// The layer over an engine built elsewhere (one engine can serve this layer and
    /// another framework's adapter at once).
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass::engine::SessionEngine;
    /// use hallpass::{Key, MemoryStore, SessionConfig, SessionLayer};
    ///
    /// let engine = SessionEngine::new(MemoryStore::new(), SessionConfig::new(Key::generate()))?;
    /// let layer = SessionLayer::from_engine(engine.clone());
    /// # let _ = layer;
    /// # Ok::<(), hallpass::ConfigError>(())
    /// ```
    pub fn from_engine(engine: SessionEngine) -> Self {
        Self { engine }
    }

    /// The engine behind the layer (shares the store and configuration).
    #[must_use]
    pub fn engine(&self) -> &SessionEngine {
        &self.engine
    }
}

impl<S> tower_layer::Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService::new(inner, self.engine.clone())
    }
}
