//! Where the demo's signing keys come from.
//!
//! In this order: `HALLPASS_KEYS` (comma-separated base64url keys, the first signs);
//! else the keys file (`--keys-file`, default `hallpass-demo.key`: one base64url key
//! per line, the first signs, `#` starts a comment); else a fresh key, saved to that
//! file with mode 0600 so sessions survive a restart. The same file format is what
//! `hallpass keys rotate --keys-file` writes.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use hallpass::config::KeyError;
use hallpass::{Key, Keyring};

/// The keys file used when `--keys-file` is not given.
pub const DEFAULT_KEYS_FILE: &str = "hallpass-demo.key";

/// The environment variable that carries keys directly.
pub const KEYS_ENV: &str = "HALLPASS_KEYS";

/// Where the keyring came from, for the start-up banner (never the keys themselves).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `HALLPASS_KEYS`.
    Environment,
    /// An existing keys file.
    File(PathBuf),
    /// A key generated now and saved to this file.
    Generated(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Environment => write!(f, "from {KEYS_ENV}"),
            Self::File(path) => write!(f, "from {}", path.display()),
            Self::Generated(path) => {
                write!(f, "generated now, saved to {} (mode 0600)", path.display())
            }
        }
    }
}

/// The keys could not be read, parsed or saved.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// `HALLPASS_KEYS` or the file holds something that is not a valid key.
    #[error("bad signing key {where_}: {source}")]
    Invalid {
        /// `HALLPASS_KEYS` or the file's path.
        where_: String,
        /// What is wrong with it.
        #[source]
        source: KeyError,
    },
    /// The keys file has no key in it.
    #[error("keys file {0} holds no key")]
    Empty(PathBuf),
    /// Reading or writing the keys file failed.
    #[error("keys file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

/// Loads the keyring as the module docs describe; `keys_file` is `--keys-file`.
///
/// # Errors
///
/// [`KeysError`] when the keys given are invalid or the file cannot be read or written.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("demo.key");
/// let (_, first) = hallpass_demo::keys::load_from(None, Some(&path))?;
/// assert!(matches!(first, hallpass_demo::keys::KeySource::Generated(_)));
/// let (_, second) = hallpass_demo::keys::load_from(None, Some(&path))?;
/// assert!(matches!(second, hallpass_demo::keys::KeySource::File(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load(keys_file: Option<&Path>) -> Result<(Keyring, KeySource), KeysError> {
    let from_env = std::env::var(KEYS_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    load_from(from_env.as_deref(), keys_file)
}

/// [`load`] with the environment's value passed in (for tests).
///
/// # Errors
///
/// As [`load`].
pub fn load_from(
    from_env: Option<&str>,
    keys_file: Option<&Path>,
) -> Result<(Keyring, KeySource), KeysError> {
    if let Some(list) = from_env {
        let keyring =
            Keyring::from_base64url_list(list.trim()).map_err(|source| KeysError::Invalid {
                where_: format!("in {KEYS_ENV}"),
                source,
            })?;
        return Ok((keyring, KeySource::Environment));
    }
    let path = keys_file.map_or_else(|| PathBuf::from(DEFAULT_KEYS_FILE), Path::to_path_buf);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((parse_file(&text, &path)?, KeySource::File(path))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key = Key::generate();
            save_new(&path, &key)?;
            Ok((Keyring::new(key), KeySource::Generated(path)))
        }
        Err(source) => Err(KeysError::Io { path, source }),
    }
}

/// One key per line (or comma-separated), first signs; `#` comments are skipped.
fn parse_file(text: &str, path: &Path) -> Result<Keyring, KeysError> {
    Keyring::from_base64url_list(text).map_err(|source| match source {
        KeyError::Empty => KeysError::Empty(path.to_path_buf()),
        source => KeysError::Invalid {
            where_: format!("in {}", path.display()),
            source,
        },
    })
}

/// Writes a new keys file that only its owner can read; never overwrites one.
fn save_new(path: &Path, key: &Key) -> Result<(), KeysError> {
    let io = |source| KeysError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    let line = zeroize::Zeroizing::new(format!(
        "# hallpass signing keys: one base64url key per line, the first signs.\n{}\n",
        key.to_base64url().as_str()
    ));
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_saved_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let (first, source) = load_from(None, Some(&path)).unwrap();
        assert_eq!(source, KeySource::Generated(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (second, source) = load_from(None, Some(&path)).unwrap();
        assert_eq!(source, KeySource::File(path));
        assert_eq!(
            first.primary().to_base64url().as_str(),
            second.primary().to_base64url().as_str()
        );
    }

    #[test]
    fn the_environment_wins_and_bad_keys_are_named() {
        let key = Key::generate();
        let (ring, source) = load_from(Some(key.to_base64url().as_str()), None).unwrap();
        assert_eq!(source, KeySource::Environment);
        assert_eq!(ring.len(), 1);
        let err = load_from(Some("short"), None).unwrap_err();
        assert!(err.to_string().contains(KEYS_ENV), "{err}");
    }

    #[test]
    fn files_take_one_key_per_line_with_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let (a, b) = (Key::generate(), Key::generate());
        std::fs::write(
            &path,
            format!(
                "# keys\n{}\n\n{}  # old\n",
                a.to_base64url().as_str(),
                b.to_base64url().as_str()
            ),
        )
        .unwrap();
        let (ring, _) = load_from(None, Some(&path)).unwrap();
        assert_eq!(ring.len(), 2);
        assert_eq!(
            ring.primary().to_base64url().as_str(),
            a.to_base64url().as_str()
        );
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(matches!(
            load_from(None, Some(&path)),
            Err(KeysError::Empty(_))
        ));
    }
}
