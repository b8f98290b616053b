//! [`Data`]: a session's application data, names to JSON values.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A session's application data: names to JSON values, in name order.
///
/// A map with the methods of `BTreeMap` that sessions use, kept as one sorted
/// slice. Sessions hold a few entries, and a `BTreeMap` allocates a whole node
/// (about 630 bytes for `String` keys and JSON values) for the first; here one entry
/// costs its own 56 bytes, and the map 16 bytes in the record (a boxed slice holds
/// exactly its entries: an insert or a remove reallocates it, which for the few
/// entries of a session costs less than the spare capacity a `Vec` keeps). The order (byte order of the names) is the one a
/// `BTreeMap` has, so the JSON text and [`Record::encode`](crate::store::Record::encode)
/// are the same as before.
///
/// # Examples
///
/// ```
/// use hallpass::store::Data;
/// use serde_json::json;
///
/// let mut data = Data::new();
/// data.insert("views".into(), json!(1));
/// data.insert("cart".into(), json!(["book"]));
/// assert_eq!(data["views"], 1);
/// assert_eq!(data.keys().collect::<Vec<_>>(), ["cart", "views"]);
/// assert_eq!(serde_json::to_string(&data)?, r#"{"cart":["book"],"views":1}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Data {
    entries: Box<[(String, Value)]>,
}

impl Data {
    /// No entries.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The entries of `entries` in name order, the last of equal names kept (as
    /// repeated [`Data::insert`]s would leave them), without an insert each.
    fn from_entries(mut entries: Vec<(String, Value)>) -> Self {
        // A stable sort keeps equal names in arrival order: the last one wins.
        entries.sort_by(|(a, _), (b, _)| a.cmp(b));
        let mut kept: Vec<(String, Value)> = Vec::with_capacity(entries.len());
        for entry in entries {
            match kept.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => kept.push(entry),
            }
        }
        Self {
            entries: kept.into_boxed_slice(),
        }
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(name, _)| name.as_str().cmp(key))
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value under `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        let at = self.find(key).ok()?;
        self.entries.get(at).map(|(_, value)| value)
    }

    /// The value under `key`, to change in place.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        let at = self.find(key).ok()?;
        self.entries.get_mut(at).map(|(_, value)| value)
    }

    /// Whether there is a value under `key`.
    #[must_use]
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Puts `value` under `key`; the value it replaces, if any.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match self.find(&key) {
            Ok(at) => self
                .entries
                .get_mut(at)
                .map(|(_, old)| std::mem::replace(old, value)),
            Err(at) => {
                let mut old = std::mem::take(&mut self.entries).into_vec().into_iter();
                let mut entries = Vec::with_capacity(old.len() + 1);
                entries.extend(old.by_ref().take(at));
                entries.push((key, value));
                entries.extend(old);
                self.entries = entries.into_boxed_slice();
                None
            }
        }
    }

    /// Takes the value under `key` out.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        match self.find(key) {
            Ok(at) => {
                let mut entries = std::mem::take(&mut self.entries).into_vec();
                let (_, value) = entries.remove(at);
                self.entries = entries.into_boxed_slice();
                Some(value)
            }
            Err(_) => None,
        }
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries = Box::default();
    }

    /// The entries, in name order.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &Value)> + '_ {
        self.entries.iter().map(|(name, value)| (name, value))
    }

    /// The entries whose names start with `prefix`, in name order (found by binary
    /// search: a namespace of keys such as `cart.item.*` reads without a scan).
    ///
    /// ```
    /// use hallpass::store::Data;
    /// let data: Data = [("cart.item.2", "pen"), ("cart.item.1", "book"), ("theme", "dark")]
    ///     .into_iter()
    ///     .map(|(k, v)| (k.to_owned(), v.into()))
    ///     .collect();
    /// let items: Vec<_> = data.with_prefix("cart.item.").map(|(_, v)| v.as_str()).collect();
    /// assert_eq!(items, [Some("book"), Some("pen")]);
    /// ```
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        let start = self
            .entries
            .partition_point(|(name, _)| name.as_str() < prefix);
        self.entries
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(move |(name, _)| name.starts_with(prefix))
            .map(|(name, value)| (name, value))
    }

    /// The names, in order.
    #[must_use]
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &String> + '_ {
        self.entries.iter().map(|(name, _)| name)
    }

    /// The values, in name order.
    #[must_use]
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Value> + '_ {
        self.entries.iter().map(|(_, value)| value)
    }
}

/// `data["name"]`: the value under a name, [`Value::Null`] when there is none (as
/// `serde_json::Value` indexes).
impl std::ops::Index<&str> for Data {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(key).unwrap_or(&NULL)
    }
}

impl<'a> IntoIterator for &'a Data {
    type Item = (&'a String, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Value)>,
        fn(&'a (String, Value)) -> (&'a String, &'a Value),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(name, value)| (name, value))
    }
}

impl IntoIterator for Data {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_vec().into_iter()
    }
}

/// Later entries win, as with repeated [`Data::insert`].
impl Extend<(String, Value)> for Data {
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, entries: I) {
        let mut all = std::mem::take(&mut self.entries).into_vec();
        all.extend(entries);
        *self = Self::from_entries(all);
    }
}

impl FromIterator<(String, Value)> for Data {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(entries: I) -> Self {
        Self::from_entries(entries.into_iter().collect())
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Data {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (name, value) in &self.entries {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;

        impl<'de> Visitor<'de> for Entries {
            type Value = Data;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of names to JSON values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Data, A::Error> {
                let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = access.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Data::from_entries(entries))
            }
        }

        deserializer.deserialize_map(Entries)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    /// The same entries give the same JSON text as the `BTreeMap` this replaced, and
    /// read back equal; a repeated name keeps its last value, as `BTreeMap` did.
    #[test]
    fn serialises_as_the_btree_map_did() {
        let entries = [
            ("b", json!(2)),
            ("a", json!({"x": [1, 2]})),
            ("é", json!("u")),
            ("B", json!(null)),
            ("aa", json!(-1)),
        ];
        let tree: BTreeMap<String, Value> = entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let data: Data = entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let text = serde_json::to_string(&data).unwrap();
        assert_eq!(text, serde_json::to_string(&tree).unwrap());
        assert_eq!(serde_json::from_str::<Data>(&text).unwrap(), data);
        let repeated: Data = serde_json::from_str(r#"{"k":1,"k":2}"#).unwrap();
        assert_eq!(repeated["k"], 2);
        assert_eq!(repeated.len(), 1);
    }

    #[test]
    fn insert_get_remove_keep_the_order() {
        let mut data = Data::new();
        assert_eq!(data.insert("m".into(), json!(1)), None);
        assert_eq!(data.insert("a".into(), json!(2)), None);
        assert_eq!(data.insert("z".into(), json!(3)), None);
        assert_eq!(data.insert("m".into(), json!(4)), Some(json!(1)));
        assert_eq!(data.keys().collect::<Vec<_>>(), ["a", "m", "z"]);
        assert_eq!(data.get("m"), Some(&json!(4)));
        assert_eq!(data["nothing"], Value::Null);
        assert_eq!(data.remove("a"), Some(json!(2)));
        assert_eq!(data.remove("a"), None);
        assert!(!data.contains_key("a"));
        if let Some(value) = data.get_mut("z") {
            *value = json!("changed");
        }
        assert_eq!(
            data.iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect::<Vec<_>>(),
            [("m", json!(4)), ("z", json!("changed"))]
        );
        data.clear();
        assert!(data.is_empty());
    }

    /// Built in one go (collected, extended, parsed), the last of equal names wins,
    /// as with one insert after another.
    #[test]
    fn the_last_of_equal_names_wins_however_the_map_is_built() {
        let entries = || {
            [("b", 1), ("a", 2), ("b", 3), ("c", 4), ("a", 5)]
                .map(|(k, v)| (k.to_owned(), json!(v)))
        };
        let expected = [("a", json!(5)), ("b", json!(3)), ("c", json!(4))];
        let as_pairs = |data: &Data| {
            data.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
        };
        let expected: Vec<_> = expected.map(|(k, v)| (k.to_owned(), v)).into();
        let collected: Data = entries().into_iter().collect();
        assert_eq!(as_pairs(&collected), expected);
        let mut inserted = Data::new();
        for (k, v) in entries() {
            inserted.insert(k, v);
        }
        assert_eq!(inserted, collected);
        let mut extended: Data = [("a".to_owned(), json!(0))].into_iter().collect();
        extended.extend(entries());
        assert_eq!(extended, collected);
        let parsed: Data = serde_json::from_str(r#"{"b":1,"a":2,"b":3,"c":4,"a":5}"#).unwrap();
        assert_eq!(parsed, collected);
    }
}
