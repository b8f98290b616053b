//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  export HALLPASS_STORE=postgres://app@db.internal/app
  hallpass sessions list --user alice            who is logged in as alice, from where
  hallpass sessions list --format json | jq .    every session, for a script
  hallpass sessions show 2VjNfvvn6eSuD4P4wesVrw  one session's metadata and data keys
  hallpass sessions revoke 2VjNfvvn6eSuD4P4wesVrw
  hallpass sessions revoke --user alice          a compromised account, everywhere
  hallpass purge                                 delete expired sessions (cron-safe)
  hallpass stats
  hallpass keys generate
  hallpass keys rotate --keys-file /etc/myapp/session.keys
  hallpass completions bash > /etc/bash_completion.d/hallpass

Stores: sqlite://PATH, postgres://…, mysql://…, mariadb://…, redis://…,
redis-cluster://HOST:PORT,HOST:PORT,… (the same URLs as the application's).

The CLI names sessions by their public handle only: it never prints, and never takes,
a session token.

Exit status: 0 done, 1 a store error or nothing found, 2 a usage error or a bad URL.";

/// Operate hallpass sessions in any store: see who is logged in and from where,
/// revoke a stolen session or every session of an account, purge expired sessions,
/// and make or rotate signing keys.
#[derive(Debug, Parser)]
#[command(name = "hallpass", version, after_long_help = EXAMPLES, after_help = "Run with --help for examples.")]
pub(crate) struct Cli {
    /// The session store (required by `sessions`, `purge` and `stats`).
    #[arg(
        long,
        global = true,
        env = "HALLPASS_STORE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub(crate) store: Option<String>,

    /// The namespace the application uses in the store (tables `<NAME>_sessions`,
    /// Redis keys `<NAME>:…`).
    #[arg(long, global = true, env = "HALLPASS_NAMESPACE", value_name = "NAME", default_value = hallpass_stores::DEFAULT_NAMESPACE, hide_env_values = true)]
    pub(crate) namespace: String,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List, inspect and revoke sessions.
    #[command(subcommand)]
    Sessions(Sessions),
    /// Delete expired sessions in batches (safe to interrupt and run again).
    #[command(
        after_help = "Examples:\n  hallpass purge\n  hallpass purge --batch 5000 --log-batches   # from cron, one line per batch"
    )]
    Purge(PurgeArgs),
    /// Totals: sessions, authenticated and anonymous, top users, expiring soon.
    #[command(after_help = "Examples:\n  hallpass stats\n  hallpass stats --top 3 --format json")]
    Stats(StatsArgs),
    /// Make and rotate signing keys.
    #[command(subcommand)]
    Keys(Keys),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  hallpass completions bash > /etc/bash_completion.d/hallpass\n  hallpass completions zsh > \"${fpath[1]}/_hallpass\""
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A table on a terminal, JSON otherwise.
    Auto,
    /// A readable table.
    Table,
    /// JSON, for scripts.
    Json,
}

impl Format {
    /// `Auto` decided by whether standard output is a terminal.
    pub(crate) fn resolve(self) -> Self {
        match self {
            Self::Auto if std::io::IsTerminal::is_terminal(&std::io::stdout()) => Self::Table,
            Self::Auto => Self::Json,
            other => other,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct FormatArg {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub(crate) format: Format,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Sessions {
    /// List live sessions: handle, user, created, last seen, deadlines, IP, user agent.
    /// Streams the store a page at a time; with --user, only that user's sessions.
    #[command(
        after_help = "Examples:\n  hallpass sessions list --user alice --format table\n  hallpass sessions list --format json | jq -r '.[] | select(.user == null) | .handle'\n  hallpass sessions list --limit 20"
    )]
    List {
        /// Only this user's sessions (through the per-user index).
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Stop after N sessions.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        #[command(flatten)]
        format: FormatArg,
    },
    /// One session's metadata and the names of its data keys.
    #[command(
        after_help = "Examples:\n  hallpass sessions show 2VjNfvvn6eSuD4P4wesVrw\n  hallpass sessions show 2VjNfvvn6eSuD4P4wesVrw --show-data --format json"
    )]
    Show {
        /// The session's handle (22 characters, as `sessions list` shows; it may
        /// start with `-`).
        #[arg(allow_hyphen_values = true)]
        handle: String,
        /// Also print the data values (they may be personal data).
        #[arg(long)]
        show_data: bool,
        #[command(flatten)]
        format: FormatArg,
    },
    /// Revoke sessions by handle, or every session of a user.
    #[command(
        after_help = "Examples:\n  hallpass sessions revoke 2VjNfvvn6eSuD4P4wesVrw -n3bZ0Q8hN1mWq7yTLk2xgA\n  hallpass sessions revoke --user alice\n  hallpass sessions revoke --user alice --except 2VjNfvvn6eSuD4P4wesVrw"
    )]
    #[command(group = clap::ArgGroup::new("what").required(true).args(["handles", "user"]))]
    Revoke {
        /// Handles of the sessions to end (they may start with `-`).
        #[arg(value_name = "HANDLE", allow_hyphen_values = true)]
        handles: Vec<String>,
        /// End every session of this user instead.
        #[arg(long, value_name = "NAME", conflicts_with = "handles")]
        user: Option<String>,
        /// With --user: keep this one session.
        #[arg(
            long,
            value_name = "HANDLE",
            requires = "user",
            allow_hyphen_values = true
        )]
        except: Option<String>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct PurgeArgs {
    /// Sessions deleted per batch (each batch is one bounded store call).
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) batch: u32,
    /// Print one line per batch on standard error (for logs; a terminal gets a
    /// progress display either way).
    #[arg(long)]
    pub(crate) log_batches: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// How many users to show, by session count.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) top: usize,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Keys {
    /// Print a fresh 32-byte signing key (base64url).
    #[command(after_help = "Examples:\n  HALLPASS_KEYS=$(hallpass keys generate) myapp")]
    Generate,
    /// Add a new primary key at the top of a keys file, keeping the older keys for
    /// verification; written atomically, mode 0600. Created if missing.
    #[command(after_help = "Examples:\n  hallpass keys rotate --keys-file /etc/myapp/session.keys")]
    Rotate {
        /// The keys file: one base64url key per line, the first signs.
        #[arg(long, value_name = "PATH")]
        keys_file: PathBuf,
    },
}
