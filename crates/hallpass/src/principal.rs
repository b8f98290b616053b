//! [`Principal`]: who a session belongs to, as one shared string.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The user a session is authenticated as (SR-30): the application's own name for
/// them, compared byte for byte (no case folding, no trimming).
///
/// A `Principal` is a shared string: cloning it copies a pointer. The memory store
/// keeps one per user and every session of that user points at it, so a user with a
/// thousand sessions pays for their name once. It reads like a `&str` (it derefs to
/// one) and serializes as a plain JSON string.
///
/// # Examples
///
/// ```
/// use hallpass::store::Principal;
///
/// let alice = Principal::from("alice");
/// assert_eq!(alice, "alice");
/// assert_eq!(alice.len(), 5);
/// assert_ne!(alice, Principal::from("alice "));
/// let shared = alice.clone();
/// assert!(Principal::ptr_eq(&alice, &shared));
/// assert_eq!(serde_json::to_string(&alice).unwrap(), r#""alice""#);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal(Arc<str>);

impl Principal {
    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `a` and `b` are the same shared string (not just equal names).
    #[must_use]
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl Deref for Principal {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Principal {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// `Arc<str>` hashes and compares as its `str`, so maps keyed by `Principal` can be
// searched with a `&str`.
impl Borrow<str> for Principal {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Principal {
    fn from(name: &str) -> Self {
        Self(Arc::from(name))
    }
}

impl From<&String> for Principal {
    fn from(name: &String) -> Self {
        Self(Arc::from(name.as_str()))
    }
}

impl From<String> for Principal {
    fn from(name: String) -> Self {
        Self(Arc::from(name))
    }
}

impl From<Principal> for String {
    fn from(principal: Principal) -> Self {
        principal.0.as_ref().to_owned()
    }
}

impl PartialEq<str> for Principal {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Principal {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Principal {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Principal> for str {
    fn eq(&self, other: &Principal) -> bool {
        *self == *other.0
    }
}

impl PartialEq<Principal> for &str {
    fn eq(&self, other: &Principal) -> bool {
        **self == *other.0
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::Principal;

    #[test]
    fn a_set_of_principals_is_searched_by_str() {
        let set: HashSet<Principal> = ["alice", "bob"].into_iter().map(Principal::from).collect();
        assert!(set.contains("alice"));
        assert!(!set.contains("alice "));
        assert!(!set.contains("Alice"));
    }

    #[test]
    fn it_round_trips_as_a_json_string() {
        let alice: Principal = serde_json::from_str(r#""al\"ice""#).unwrap();
        assert_eq!(alice, "al\"ice");
        assert_eq!(serde_json::to_string(&alice).unwrap(), r#""al\"ice""#);
    }
}
