//! What can go wrong, and the exit status for it.

use std::path::PathBuf;

/// A failed command. [`CliError::exit_code`]: 2 for what the user must fix in the
/// command line (including a bad URL), 1 for everything else.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Flags or arguments that cannot work.
    #[error("{0}")]
    Usage(String),
    /// The store could not be opened.
    #[error("cannot open the session store {url}: {source}")]
    Open {
        url: String,
        #[source]
        source: hallpass_stores::OpenError,
    },
    /// A store call failed.
    #[error("session store error: {0}")]
    Store(#[from] hallpass::store::StoreError),
    /// Nothing matched (a handle with no live session).
    #[error("{0}")]
    NotFound(String),
    /// A keys file.
    #[error("{path}: {message}")]
    KeysFile { path: PathBuf, message: String },
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
    /// Interrupted (Ctrl-C).
    #[error("{0}")]
    Interrupted(String),
}

impl CliError {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Open { source, .. } if source.is_bad_url() => 2,
            Self::Interrupted(_) => 130,
            _ => 1,
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(err: std::io::Error) -> Self {
        Self::Output(err)
    }
}
