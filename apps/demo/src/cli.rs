//! The command line of `hallpass-demo`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ipnet::IpNet;

use crate::users::UserSpec;

const EXAMPLES: &str = "\
Examples:
  hallpass-demo
      Serve http://127.0.0.1:3000/ on the SQLite file hallpass-demo.db, with one user
      `demo` whose random password is printed at start-up.
  hallpass-demo --user alice:correct-horse --idle-timeout 2m --absolute-timeout 1h
  hallpass-demo --store redis://127.0.0.1:6379 --listen 127.0.0.1:3001
      Run two of these (ports 3000 and 3001) on one store, with the same HALLPASS_KEYS,
      and a session started on one is valid on the other.
  hallpass-demo --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem
  hallpass-demo --tls-self-signed --listen 127.0.0.1:8443
  hallpass-demo --metrics-listen 127.0.0.1:9100
      Also serve Prometheus metrics at http://127.0.0.1:9100/metrics (loopback only).

Keys: HALLPASS_KEYS (comma-separated base64url keys, the first signs) or the keys file
(one key per line, the first signs). Without either, a key is generated and saved to
hallpass-demo.key with mode 0600, so sessions survive a restart.

Stores: memory:, sqlite://PATH, sqlite::memory:, postgres://…, mysql://…, mariadb://…,
redis://…, redis-cluster://HOST:PORT,HOST:PORT,…

Exit status: 0 after Ctrl-C or SIGTERM, 2 for bad flags, keys or URLs, 1 when the store,
the address or the TLS files cannot be used.";

/// The seed tutorials' session exercises as one secure web application: a visit
/// counter, login that regenerates the session, idle and absolute timeouts, your
/// active sessions with revoke and "log out everywhere else", and logout that
/// destroys the session.
#[derive(Debug, Parser)]
#[command(name = "hallpass-demo", version, after_long_help = EXAMPLES, after_help = "Run with --help for examples.")]
#[non_exhaustive]
pub struct Cli {
    /// Address to listen on. Plain HTTP is allowed only on a loopback address
    /// (browsers accept Secure cookies from localhost); elsewhere give TLS.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Session store URL (created if missing for SQLite).
    #[arg(long, value_name = "URL", default_value = "sqlite://hallpass-demo.db")]
    pub store: String,

    /// Namespace in the store: tables `<NAME>_sessions`, Redis keys `<NAME>:…`. Every
    /// server sharing sessions, and the `hallpass` CLI, must use the same one.
    #[arg(long, value_name = "NAME", default_value = hallpass_stores::DEFAULT_NAMESPACE)]
    pub namespace: String,

    /// An account, repeatable. Without any, one user `demo` gets a random password,
    /// printed once at start-up.
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub users: Vec<UserSpec>,

    /// Idle timeout: the session ends after this long without a request (`30m`,
    /// `2s`, `8h`).
    #[arg(long, value_name = "DUR", default_value = "30m", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Absolute timeout: the session ends this long after login, however active.
    #[arg(long, value_name = "DUR", default_value = "12h", value_parser = parse_duration)]
    pub absolute_timeout: Duration,

    /// How old a login may be before "log out everywhere else" asks for the
    /// password again (a re-authentication; changing the password always asks).
    #[arg(long, value_name = "DUR", default_value = "5m", value_parser = parse_duration)]
    pub reauthenticate_after: Duration,

    /// Re-issue the session token this often (SR-17): a copied cookie stops working
    /// at the next rotation, and one used after it ends the session. `0s` turns
    /// rotation off.
    #[arg(long, value_name = "DUR", default_value = "15m", value_parser = parse_duration)]
    pub rotate_every: Duration,

    /// OpenID Connect back-channel logout: the identity provider's P-256 public key
    /// (PEM). Turns on `POST /backchannel-logout`, which ends every session labelled
    /// with the verified logout token's `sid`. Needs --oidc-issuer and
    /// --oidc-client-id.
    #[arg(long, value_name = "PEM", requires_all = ["oidc_issuer", "oidc_client_id"])]
    pub backchannel_key: Option<PathBuf>,

    /// The issuer (`iss`) logout tokens must name.
    #[arg(long, value_name = "URL", requires = "backchannel_key")]
    pub oidc_issuer: Option<String>,

    /// The client id (`aud`) logout tokens must be addressed to.
    #[arg(long, value_name = "ID", requires = "backchannel_key")]
    pub oidc_client_id: Option<String>,

    /// Keys file, read if it exists, else created with a new key (mode 0600).
    /// Ignored when HALLPASS_KEYS is set. [default: hallpass-demo.key]
    #[arg(long, value_name = "PATH")]
    pub keys_file: Option<PathBuf>,

    /// TLS certificate chain (PEM); needs --tls-key.
    #[arg(
        long,
        value_name = "PEM",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1); needs --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve TLS with a certificate for localhost generated at start-up (browsers
    /// will warn; for trying HTTPS locally).
    #[arg(long)]
    pub tls_self_signed: bool,

    /// A reverse proxy whose X-Forwarded-For is believed (CIDR or address),
    /// repeatable. Requests from anywhere else are taken at their TCP address.
    #[arg(long = "trust-proxy", value_name = "CIDR", value_parser = parse_net)]
    pub trust_proxy: Vec<IpNet>,

    /// At most N sessions per user; logging in once more logs out the oldest.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_sessions_per_user: Option<u32>,

    /// Serve hallpass's metrics in Prometheus text format at http://ADDR/metrics, on a
    /// listener of their own. Loopback addresses only: metrics are for operators.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// The origin browsers load the demo from, for device-bound sessions (DBSC):
    /// `https://host[:port]`. By default the listen address (with TLS, or on
    /// loopback); give it when the demo is reached by a name, or behind a proxy.
    /// Chrome binds a session to a key it cannot export, and a copied cookie then
    /// stops working within minutes.
    #[arg(long, value_name = "URL", conflicts_with = "no_device_binding")]
    pub device_binding_origin: Option<String>,

    /// Turn device-bound sessions (DBSC) off.
    #[arg(long)]
    pub no_device_binding: bool,

    /// Allow plain HTTP on a non-loopback address. Anyone on the network can then
    /// read and replay session cookies, which also lose their Secure flag.
    #[arg(long)]
    pub dangerous_plain_http: bool,
}

/// How the demo serves TLS.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsChoice {
    /// Plain HTTP.
    Off,
    /// A certificate chain and key from PEM files.
    Files {
        /// The chain.
        cert: PathBuf,
        /// The key.
        key: PathBuf,
    },
    /// A self-signed certificate for localhost, made at start-up.
    SelfSigned,
}

impl Cli {
    /// The TLS choice the flags make.
    #[must_use]
    pub fn tls(&self) -> TlsChoice {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => TlsChoice::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ if self.tls_self_signed => TlsChoice::SelfSigned,
            _ => TlsChoice::Off,
        }
    }

    /// Checks what clap cannot: plain HTTP only on loopback (SR-07, AT-34).
    ///
    /// # Errors
    ///
    /// A message for the user.
    pub fn check(&self) -> Result<(), String> {
        if self.tls() == TlsChoice::Off
            && !self.listen.ip().is_loopback()
            && !self.dangerous_plain_http
        {
            return Err(format!(
                "refusing plain HTTP on {}: session cookies would cross the network in clear. \
                 Give --tls-cert and --tls-key (or --tls-self-signed), listen on a loopback \
                 address such as 127.0.0.1, or pass --dangerous-plain-http",
                self.listen
            ));
        }
        if let Some(metrics) = self.metrics_listen {
            if !metrics.ip().is_loopback() {
                return Err(format!(
                    "refusing --metrics-listen on {metrics}: metrics are for operators, not the \
                     network; give a loopback address such as 127.0.0.1:9100"
                ));
            }
            if metrics == self.listen && metrics.port() != 0 {
                return Err(format!(
                    "--metrics-listen {metrics} is the public --listen address; give it a port of its own"
                ));
            }
        }
        if self.idle_timeout > self.absolute_timeout {
            return Err(format!(
                "--idle-timeout ({}) must not be longer than --absolute-timeout ({})",
                crate::times::short(self.idle_timeout),
                crate::times::short(self.absolute_timeout)
            ));
        }
        Ok(())
    }

    /// Whether the cookie must lose `Secure`: plain HTTP off loopback.
    #[must_use]
    pub fn insecure_cookie(&self) -> bool {
        self.tls() == TlsChoice::Off && !self.listen.ip().is_loopback()
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|err| format!("{err} (use a number and a unit: 500ms, 2s, 15m, 8h, 1d)"))?;
    if duration < Duration::from_secs(1) {
        return Err("must be at least 1s".to_owned());
    }
    Ok(duration)
}

fn parse_net(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither a CIDR (10.0.0.0/8) nor an IP address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("hallpass-demo").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.listen, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(cli.store, "sqlite://hallpass-demo.db");
        assert_eq!(cli.idle_timeout, Duration::from_secs(1800));
        assert_eq!(cli.absolute_timeout, Duration::from_secs(43_200));
        assert_eq!(cli.tls(), TlsChoice::Off);
        assert!(cli.check().is_ok());
    }

    #[test]
    fn plain_http_off_loopback_needs_the_dangerous_flag() {
        let cli = parse(&["--listen", "0.0.0.0:3000"]).unwrap();
        let err = cli.check().unwrap_err();
        assert!(
            err.contains("--tls-cert") && err.contains("--dangerous-plain-http"),
            "{err}"
        );
        let cli = parse(&["--listen", "0.0.0.0:3000", "--dangerous-plain-http"]).unwrap();
        assert!(cli.check().is_ok());
        assert!(cli.insecure_cookie());
        let cli = parse(&["--listen", "[::1]:3000"]).unwrap();
        assert!(cli.check().is_ok() && !cli.insecure_cookie());
        let cli = parse(&["--listen", "0.0.0.0:3000", "--tls-self-signed"]).unwrap();
        assert!(cli.check().is_ok() && !cli.insecure_cookie());
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["--idle-timeout", "soon"][..],
            &["--idle-timeout", "0s"],
            &["--user", "nopassword"],
            &["--trust-proxy", "10.0.0.0/99"],
            &["--max-sessions-per-user", "0"],
            &["--tls-cert", "c.pem"],
            &[
                "--tls-self-signed",
                "--tls-cert",
                "c.pem",
                "--tls-key",
                "k.pem",
            ],
            &["--listen", "localhost"],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
        let cli = parse(&["--idle-timeout", "2h", "--absolute-timeout", "1h"]).unwrap();
        assert!(cli.check().unwrap_err().contains("--idle-timeout"));
        let cli = parse(&["--trust-proxy", "10.0.0.1", "--trust-proxy", "fd00::/8"]).unwrap();
        assert_eq!(cli.trust_proxy.len(), 2);
    }
}
