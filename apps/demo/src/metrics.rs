//! The operators' `/metrics`: hallpass's metrics (`docs/METRICS.md`) in Prometheus
//! text format, on a listener of its own that `--metrics-listen` must put on a
//! loopback address, never on the public port.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The metrics endpoint could not be set up.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A metrics recorder is already installed in this process, or the exporter
    /// refused its settings.
    #[error("{0}")]
    Recorder(String),
}

/// How often histograms are folded into the rendered summaries.
const UPKEEP: Duration = Duration::from_secs(5);

/// The recorder, installed for the process, and its bound listener.
#[derive(Debug)]
pub(crate) struct Metrics {
    listener: std::net::TcpListener,
    handle: PrometheusHandle,
}

impl Metrics {
    /// Installs the Prometheus recorder for this process and binds `addr`.
    pub(crate) fn prepare(addr: SocketAddr) -> Result<Self, MetricsError> {
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| MetricsError::Listen { addr, source })?;
        let handle = PrometheusBuilder::new()
            .install_recorder()
            .map_err(|err| MetricsError::Recorder(err.to_string()))?;
        Ok(Self { listener, handle })
    }

    /// The address actually bound.
    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `GET /metrics` until the task is aborted.
    pub(crate) fn spawn(self) -> std::io::Result<tokio::task::JoinHandle<()>> {
        let Self { listener, handle } = self;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let upkeep = handle.clone();
        let render = handle;
        let app = Router::new().route(
            "/metrics",
            get(move || {
                let render = render.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        render.render(),
                    )
                }
            }),
        );
        Ok(tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP);
            let upkeep = async move {
                loop {
                    tick.tick().await;
                    upkeep.run_upkeep();
                }
            };
            tokio::select! {
                served = axum::serve(listener, app) => {
                    if let Err(err) = served {
                        tracing::error!(target: "hallpass_demo", error = %err, "the metrics listener failed");
                    }
                }
                () = upkeep => {}
            }
        }))
    }
}
