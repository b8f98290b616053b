//! The demo's accounts: names and argon2id password hashes, kept in the process.
//!
//! Accounts come from `--user NAME:PASSWORD` (or one `demo` user with a random
//! password). A password change lives in this process only; sessions, which are what
//! the demo is about, live in the store and are shared by every process.
//!
//! Verifying a password always runs argon2, also for a name that does not exist (it
//! is checked against a dummy hash), so a failed login takes as long and says the
//! same for an unknown user as for a wrong password (SR-37).

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use zeroize::Zeroizing;

/// The shortest password a change accepts.
pub const MIN_PASSWORD_LEN: usize = 8;
/// The longest password accepted, in bytes (argon2 takes any length; this bounds work).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// One `--user NAME:PASSWORD`. `Debug` hides the password.
#[non_exhaustive]
#[derive(Clone)]
pub struct UserSpec {
    /// The user name.
    pub name: String,
    /// The password.
    pub password: Zeroizing<String>,
}

impl fmt::Debug for UserSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSpec")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl std::str::FromStr for UserSpec {
    type Err = String;

    /// Parses `NAME:PASSWORD`; the name is 1 to 64 of `A-Z a-z 0-9 . _ - @`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, password) = text
            .split_once(':')
            .ok_or_else(|| "expected NAME:PASSWORD".to_owned())?;
        check_name(name)?;
        if password.is_empty() {
            return Err(format!("the password of {name:?} is empty"));
        }
        if password.len() > MAX_PASSWORD_LEN {
            return Err(format!(
                "the password of {name:?} is longer than {MAX_PASSWORD_LEN} bytes"
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            password: Zeroizing::new(password.to_owned()),
        })
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "user name {name:?} must be 1 to 64 of letters, digits and . _ - @"
        ))
    }
}

/// Why a password change was refused.
#[non_exhaustive]
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordChangeError {
    /// The current password given is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// The new password is too short or too long.
    #[error("the new password must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} bytes long")]
    BadLength,
    /// Hashing failed (argon2 reported an error).
    #[error("the password could not be hashed")]
    Hash,
}

/// The accounts, by name.
pub struct Users {
    hashes: RwLock<HashMap<String, String>>,
    /// Checked against when the name is unknown, so that case costs the same time.
    dummy: String,
}

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.hashes.read().map_or(0, |h| h.len());
        f.debug_struct("Users")
            .field("count", &count)
            .finish_non_exhaustive()
    }
}

fn hash(password: &str) -> Result<String, PasswordChangeError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| PasswordChangeError::Hash)
}

fn matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

impl Users {
    /// Hashes every user's password (argon2id, OWASP's parameters: 19 MiB, 2 passes).
    ///
    /// # Errors
    ///
    /// [`PasswordChangeError::Hash`] if argon2 fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use hallpass_demo::users::Users;
    ///
    /// let users = Users::new(&["alice:correct horse".parse()?])?;
    /// assert!(users.verify("alice", "correct horse"));
    /// assert!(!users.verify("alice", "wrong"));
    /// assert!(!users.verify("mallory", "correct horse"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(specs: &[UserSpec]) -> Result<Self, PasswordChangeError> {
        let mut hashes = HashMap::with_capacity(specs.len());
        for spec in specs {
            hashes.insert(spec.name.clone(), hash(&spec.password)?);
        }
        Ok(Self {
            hashes: RwLock::new(hashes),
            dummy: hash("no such user: the hash only costs the same time")?,
        })
    }

    /// Whether `password` is `name`'s. Costs one argon2 run whether or not `name` exists.
    #[must_use]
    pub fn verify(&self, name: &str, password: &str) -> bool {
        if password.len() > MAX_PASSWORD_LEN {
            return false;
        }
        let stored = self
            .hashes
            .read()
            .ok()
            .and_then(|hashes| hashes.get(name).cloned());
        match stored {
            Some(phc) => matches(password, &phc),
            None => {
                let _ = matches(password, &self.dummy);
                false
            }
        }
    }

    /// Replaces `name`'s password after checking the current one.
    ///
    /// # Errors
    ///
    /// [`PasswordChangeError`]: wrong current password, a new one of the wrong length,
    /// or a hashing failure. Nothing changes on error.
    pub fn change(&self, name: &str, current: &str, new: &str) -> Result<(), PasswordChangeError> {
        if !self.verify(name, current) {
            return Err(PasswordChangeError::WrongPassword);
        }
        if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&new.len()) {
            return Err(PasswordChangeError::BadLength);
        }
        let phc = hash(new)?;
        let mut hashes = self.hashes.write().map_err(|_| PasswordChangeError::Hash)?;
        hashes.insert(name.to_owned(), phc);
        Ok(())
    }

    /// The user names, sorted.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .hashes
            .read()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_reject_bad_input() {
        let spec: UserSpec = "bob:pa:ss".parse().unwrap();
        assert_eq!(
            (spec.name.as_str(), spec.password.as_str()),
            ("bob", "pa:ss")
        );
        assert!(!format!("{spec:?}").contains("pa:ss"));
        assert!("nopassword".parse::<UserSpec>().is_err());
        assert!("bob:".parse::<UserSpec>().is_err());
        assert!(":pw".parse::<UserSpec>().is_err());
        assert!("bad name:pw".parse::<UserSpec>().is_err());
    }

    #[test]
    fn change_checks_the_current_password_and_the_length() {
        let users = Users::new(&["carol:old-password".parse().unwrap()]).unwrap();
        assert_eq!(
            users.change("carol", "wrong", "new-password"),
            Err(PasswordChangeError::WrongPassword)
        );
        assert_eq!(
            users.change("carol", "old-password", "short"),
            Err(PasswordChangeError::BadLength)
        );
        assert!(users.verify("carol", "old-password"));
        users
            .change("carol", "old-password", "new-password")
            .unwrap();
        assert!(users.verify("carol", "new-password"));
        assert!(!users.verify("carol", "old-password"));
        assert_eq!(
            users.change("nobody", "x", "new-password"),
            Err(PasswordChangeError::WrongPassword)
        );
    }
}

/// A password as it arrives in a request: zeroized on drop, never printed.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// The text, for checking it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Self(Zeroizing::new(text))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}
