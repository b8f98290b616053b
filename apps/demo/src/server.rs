//! Starting the demo: keys, store, users, TLS, the listening socket, the banner, and
//! serving until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hallpass::CleanupConfig;
use hallpass::time::SystemClock;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use crate::app::AppOptions;
use crate::cli::{Cli, TlsChoice};
use crate::keys::{self, KeysError};
use crate::users::{UserSpec, Users};

/// How long open connections get to finish after Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the demo could not start or stopped with an error. [`StartError::exit_code`]
/// is 2 for what the user must fix in the command line, 1 for the environment.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A flag combination that cannot work.
    #[error("{0}")]
    Usage(String),
    /// The signing keys.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The store could not be opened.
    #[error("cannot open the session store {url}: {source}")]
    Store {
        /// The URL, without any password.
        url: String,
        /// Why.
        #[source]
        source: hallpass_stores::OpenError,
    },
    /// The session configuration is unsafe or inconsistent.
    #[error("invalid session settings: {0}")]
    Config(#[from] hallpass::ConfigError),
    /// The TLS certificate or key.
    #[error("TLS: {0}")]
    Tls(String),
    /// Hashing the users' passwords failed.
    #[error("cannot hash the users' passwords: {0}")]
    Users(#[from] crate::users::PasswordChangeError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
    /// The metrics endpoint could not be set up.
    #[error("metrics: {0}")]
    Metrics(#[from] crate::metrics::MetricsError),
    /// The back-channel logout key.
    #[error(transparent)]
    Backchannel(#[from] crate::backchannel::BackchannelKeyError),
}

impl StartError {
    /// 2 for usage errors (flags, keys, URLs, TLS files that do not parse), else 1.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::Config(_) | Self::Tls(_) | Self::Backchannel(_) => 2,
            Self::Keys(err) => match err {
                KeysError::Io { .. } => 1,
                _ => 2,
            },
            Self::Store { source, .. } if source.is_bad_url() => 2,
            Self::Store { .. }
            | Self::Users(_)
            | Self::Listen { .. }
            | Self::Serve(_)
            | Self::Metrics(_) => 1,
        }
    }
}

/// The users the flags give, or one `demo` user with a fresh random password (returned
/// so the banner can show it once).
fn users_of(cli: &Cli) -> (Vec<UserSpec>, Option<Zeroizing<String>>) {
    if !cli.users.is_empty() {
        return (cli.users.clone(), None);
    }
    let mut bytes = Zeroizing::new([0u8; 12]);
    if getrandom::fill(bytes.as_mut()).is_err() {
        // Unreachable in practice; the session tokens would fail the same way.
        return (Vec::new(), None);
    }
    let password = Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref()));
    let spec = UserSpec {
        name: "demo".to_owned(),
        password: password.clone(),
    };
    (vec![spec], Some(password))
}

fn install_crypto_provider() {
    // Only the first call in a process installs; later ones report "already set".
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The rustls configuration for `choice`, or `None` for plain HTTP.
///
/// # Errors
///
/// [`StartError::Tls`] when the files cannot be read or do not hold a usable chain
/// and key.
pub fn tls_config(choice: &TlsChoice) -> Result<Option<rustls::ServerConfig>, StartError> {
    install_crypto_provider();
    let (chain, key) = match choice {
        TlsChoice::Off => return Ok(None),
        TlsChoice::Files { cert, key } => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|err| StartError::Tls(format!("{}: {err}", cert.display())))?;
            if chain.is_empty() {
                return Err(StartError::Tls(format!(
                    "{} holds no certificate",
                    cert.display()
                )));
            }
            let private = PrivateKeyDer::from_pem_file(key)
                .map_err(|err| StartError::Tls(format!("{}: {err}", key.display())))?;
            (chain, private)
        }
        TlsChoice::SelfSigned => {
            let names = vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ];
            let made = rcgen::generate_simple_self_signed(names)
                .map_err(|err| StartError::Tls(format!("cannot make a certificate: {err}")))?;
            let key = PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
            (vec![made.cert.der().clone()], key)
        }
    };
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|err| {
            StartError::Tls(format!(
                "the certificate and key do not make a TLS setup: {err}"
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(config))
}

/// Everything before serving: a bound socket and the application, ready to go.
#[derive(Debug)]
pub struct Prepared {
    listener: std::net::TcpListener,
    app: axum::Router,
    tls: Option<rustls::ServerConfig>,
    store: Arc<dyn hallpass::store::SessionStore>,
    metrics: Option<crate::metrics::Metrics>,
    banner: String,
}

impl Prepared {
    /// The address actually bound (`--listen 127.0.0.1:0` picks a free port).
    ///
    /// # Errors
    ///
    /// The socket's own error.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address of the metrics listener, if `--metrics-listen` was given.
    ///
    /// # Errors
    ///
    /// The socket's own error.
    pub fn metrics_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        self.metrics
            .as_ref()
            .map(crate::metrics::Metrics::local_addr)
            .transpose()
    }

    /// The start-up banner: URL, store, timeouts, keys, and the demo credentials.
    #[must_use]
    pub fn banner(&self) -> &str {
        &self.banner
    }
}

/// Opens everything the flags name and binds the socket.
///
/// # Errors
///
/// [`StartError`], with a message fit for one line on stderr.
pub async fn prepare(cli: &Cli) -> Result<Prepared, StartError> {
    cli.check().map_err(StartError::Usage)?;
    // Before anything records: the recorder must be in place for the first metric.
    let metrics = cli
        .metrics_listen
        .map(crate::metrics::Metrics::prepare)
        .transpose()?;
    let (keyring, key_source) = keys::load(cli.keys_file.as_deref())?;
    let tls = tls_config(&cli.tls())?;
    let url = hallpass_stores::redact(&cli.store);
    let store = hallpass_stores::open_in(&cli.store, &cli.namespace)
        .await
        .map_err(|source| StartError::Store {
            url: url.clone(),
            source,
        })?;
    let (specs, generated) = users_of(cli);
    let users = Arc::new(
        tokio::task::spawn_blocking(move || Users::new(&specs))
            .await
            .map_err(|_| StartError::Users(crate::users::PasswordChangeError::Hash))??,
    );
    let options = AppOptions {
        idle_timeout: cli.idle_timeout,
        reauthenticate_after: cli.reauthenticate_after,
        rotate_every: (!cli.rotate_every.is_zero()).then_some(cli.rotate_every),
        backchannel: match (&cli.backchannel_key, &cli.oidc_issuer, &cli.oidc_client_id) {
            (Some(key), Some(issuer), Some(client)) => Some(
                crate::backchannel::BackchannelLogout::from_key_file(key, issuer, client)?,
            ),
            _ => None,
        },
        absolute_timeout: cli.absolute_timeout,
        trusted_proxies: cli.trust_proxy.clone(),
        max_sessions_per_user: cli
            .max_sessions_per_user
            .and_then(|n| usize::try_from(n).ok()),
        tls: tls.is_some(),
        insecure_cookie: cli.insecure_cookie(),
        ..AppOptions::default()
    };
    let listener = std::net::TcpListener::bind(cli.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|source| StartError::Listen {
            addr: cli.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: cli.listen,
        source,
    })?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let host = match addr.ip() {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        std::net::IpAddr::V4(ip) => ip.to_string(),
    };
    // Device binding: on with TLS and on loopback (Chrome's developer mode allows
    // http://localhost), at the origin browsers use.
    let options = AppOptions {
        device_binding_origin: if cli.no_device_binding {
            None
        } else if let Some(origin) = &cli.device_binding_origin {
            Some(origin.clone())
        } else if addr.ip().is_unspecified() {
            tracing::info!(target: "hallpass_demo", "device-bound sessions are off: listening on every address, give --device-binding-origin to say which origin browsers use");
            None
        } else if tls.is_some() || addr.ip().is_loopback() {
            Some(format!("{scheme}://{host}:{}", addr.port()))
        } else {
            None
        },
        ..options
    };
    let key_count = keyring.len();
    let app = crate::app::router(Arc::clone(&store), keyring, Arc::clone(&users), &options)?;
    let mut banner = format!(
        "hallpass-demo listening on {scheme}://{host}:{}/\n",
        addr.port()
    );
    let line = |banner: &mut String, text: String| {
        banner.push_str("  ");
        banner.push_str(&text);
        banner.push('\n');
    };
    line(&mut banner, format!("store:    {url}"));
    line(
        &mut banner,
        format!(
            "timeouts: idle {}, absolute {}",
            crate::times::short(cli.idle_timeout),
            crate::times::short(cli.absolute_timeout)
        ),
    );
    line(
        &mut banner,
        format!(
            "keys:     {key_count} key{}, {key_source}",
            if key_count == 1 { "" } else { "s" }
        ),
    );
    match cli.tls() {
        TlsChoice::Off if options.insecure_cookie => line(
            &mut banner,
            "tls:      off (--dangerous-plain-http: cookies are not Secure)".to_owned(),
        ),
        TlsChoice::Off => line(&mut banner, "tls:      off (loopback only)".to_owned()),
        TlsChoice::Files { cert, .. } => line(&mut banner, format!("tls:      {}", cert.display())),
        TlsChoice::SelfSigned => line(
            &mut banner,
            "tls:      self-signed certificate for localhost (your browser will warn)".to_owned(),
        ),
    }
    line(
        &mut banner,
        match &options.device_binding_origin {
            Some(origin) => format!("dbsc:     device-bound sessions offered to {origin}"),
            None => "dbsc:     off".to_owned(),
        },
    );
    if let Some(metrics) = &metrics {
        let addr = metrics.local_addr().map_err(|source| StartError::Listen {
            addr: cli.metrics_listen.unwrap_or(addr),
            source,
        })?;
        line(
            &mut banner,
            format!("metrics:  http://{addr}/metrics (loopback only)"),
        );
    }
    match &generated {
        Some(password) => line(
            &mut banner,
            format!(
                "login:    demo / {} (generated now, shown once)",
                password.as_str()
            ),
        ),
        None => line(
            &mut banner,
            format!("users:    {}", users.names().join(", ")),
        ),
    }
    Ok(Prepared {
        listener,
        app,
        tls,
        store,
        metrics,
        banner,
    })
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Serves a prepared demo until `shutdown` resolves, purging expired sessions in the
/// background.
///
/// # Errors
///
/// [`StartError::Serve`] when the server fails.
pub async fn serve(
    prepared: Prepared,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let Prepared {
        listener,
        app,
        tls,
        store,
        metrics,
        ..
    } = prepared;
    let cleanup = hallpass::spawn_cleanup(store, Arc::new(SystemClock), CleanupConfig::default());
    let metrics = metrics
        .map(crate::metrics::Metrics::spawn)
        .transpose()
        .map_err(StartError::Serve)?;
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!(target: "hallpass_demo", "shutting down");
        stopper.graceful_shutdown(Some(SHUTDOWN_GRACE));
    });
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let served = async {
        match tls {
            Some(config) => {
                let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config));
                axum_server::from_tcp_rustls(listener, config)?
                    .handle(handle)
                    .serve(service)
                    .await
            }
            None => {
                axum_server::from_tcp(listener)?
                    .handle(handle)
                    .serve(service)
                    .await
            }
        }
    }
    .await;
    // The purge task and the metrics listener end with the server, however it ended.
    cleanup.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    served.map_err(StartError::Serve)
}

/// The whole binary: prepare, print the banner to `out`, serve until Ctrl-C/SIGTERM.
///
/// # Errors
///
/// [`StartError`].
pub async fn run(cli: &Cli, mut out: impl Write) -> Result<(), StartError> {
    let prepared = prepare(cli).await?;
    // The banner is the only thing on stdout; a closed stdout must not stop the demo.
    let _ = out.write_all(prepared.banner().as_bytes());
    let _ = out.flush();
    serve(prepared, shutdown_signal()).await
}
