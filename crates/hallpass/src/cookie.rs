//! A strict parser for the request `Cookie` header, written for one job: finding the
//! session cookie without being fooled (SR-32, SR-33, SR-34; AT-04…AT-08, AT-26…AT-28).
//!
//! The general-purpose stack (`cookie::Cookie::parse_encoded`) percent-decodes names
//! and trims Unicode whitespace, which turns `__%48ost-id` or `U+2000 __Host-id` into
//! `__Host-id`. This parser does neither:
//!
//! - pairs are split on `;`; only ASCII space and horizontal tab are stripped around a
//!   name and a value;
//! - the name is compared byte for byte with the configured name: no decoding, no case
//!   folding, no `$Version` or quoted-string handling;
//! - a pair without `=`, or with an empty name, is skipped (nameless cookies, AT-06);
//! - several `Cookie` header fields are merged (HTTP/2 and HTTP/3 split them);
//! - the session cookie's distinct values are all returned, so the caller never picks
//!   one by order (AT-08);
//! - the input is bounded and the parse is a single linear pass; it never panics.

pub use crate::codec::{FORMAT_VERSION, VALUE_LEN};

use http::HeaderMap;
use http::header::COOKIE;
use smallvec::SmallVec;

/// The most distinct session-cookie values considered in one request; more than this
/// is treated as an attack and yields no session.
pub const MAX_CANDIDATES: usize = 4;

/// The session cookie's values found in a request.
#[non_exhaustive]
#[derive(Debug, PartialEq, Eq)]
pub enum Found<'a> {
    /// No cookie with the session cookie's name.
    None,
    /// One or more distinct values (at most [`MAX_CANDIDATES`]), in no meaningful order.
    Values(Vec<&'a [u8]>),
    /// More than [`MAX_CANDIDATES`] distinct values: nothing is authenticated.
    TooMany,
}

/// The `Cookie` header fields together exceed the configured bound: reply 431.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the Cookie header is {len} bytes, more than the {max} allowed")]
pub struct TooLarge {
    /// Total bytes seen across all `Cookie` fields (counting stops just past `max`).
    pub len: usize,
    /// The bound.
    pub max: usize,
}

/// Iterates over the `name=value` pairs of one `Cookie` header field.
///
/// # Examples
///
/// ```
/// use hallpass::cookie::pairs;
///
/// let found: Vec<_> = pairs(b"a=1; =b=2; c; __%48ost-id=x").collect();
/// assert_eq!(found, [(&b"a"[..], &b"1"[..]), (&b"__%48ost-id"[..], &b"x"[..])]);
/// ```
pub fn pairs(field: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    // `memchr`, not a byte loop: the scan for `;` crosses every value, and a
    // browser's `Cookie` header carries every cookie of the site.
    let mut rest = Some(field);
    std::iter::from_fn(move || {
        loop {
            let field = rest?;
            let piece = match memchr::memchr(b';', field) {
                Some(end) => {
                    rest = field.get(end + 1..);
                    &field[..end]
                }
                None => {
                    rest = None;
                    field
                }
            };
            let Some(eq) = memchr::memchr(b'=', piece) else {
                continue;
            };
            let name = trim_ows(&piece[..eq]);
            if !name.is_empty() {
                return Some((name, trim_ows(&piece[eq + 1..])));
            }
        }
    })
}

/// Strips ASCII space and horizontal tab only (never Unicode whitespace, AT-07).
fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Finds every distinct value of the cookie named exactly `name` across all `Cookie`
/// header fields, refusing input over `max_bytes` in total.
///
/// # Errors
///
/// [`TooLarge`] when the fields together are longer than `max_bytes`.
///
/// # Examples
///
/// ```
/// use hallpass::cookie::{Found, find};
/// use http::{HeaderMap, HeaderValue, header::COOKIE};
///
/// let mut headers = HeaderMap::new();
/// headers.append(COOKIE, HeaderValue::from_static("a=1; __Host-id=X"));
/// headers.append(COOKIE, HeaderValue::from_static("__host-id=Y; __Host-id=X"));
/// assert_eq!(find(&headers, "__Host-id", 8192)?, Found::Values(vec![&b"X"[..]]));
/// # Ok::<(), hallpass::cookie::TooLarge>(())
/// ```
pub fn find<'a>(
    headers: &'a HeaderMap,
    name: &str,
    max_bytes: usize,
) -> Result<Found<'a>, TooLarge> {
    Ok(match find_inline(headers, name, max_bytes)? {
        Inline::None => Found::None,
        Inline::Values(values) => Found::Values(values.into_vec()),
        Inline::TooMany => Found::TooMany,
    })
}

/// [`Found`] with the values kept inline: what the engine reads on every request,
/// without a heap allocation.
pub(crate) enum Inline<'a> {
    None,
    Values(SmallVec<[&'a [u8]; MAX_CANDIDATES]>),
    TooMany,
}

/// [`find`], for the engine.
pub(crate) fn find_inline<'a>(
    headers: &'a HeaderMap,
    name: &str,
    max_bytes: usize,
) -> Result<Inline<'a>, TooLarge> {
    let mut total = 0usize;
    for field in headers.get_all(COOKIE) {
        total = total.saturating_add(field.len());
        if total > max_bytes {
            return Err(TooLarge {
                len: total,
                max: max_bytes,
            });
        }
    }
    let name = name.as_bytes();
    let mut values: SmallVec<[&'a [u8]; MAX_CANDIDATES]> = SmallVec::new();
    for field in headers.get_all(COOKIE) {
        for (found_name, value) in pairs(field.as_bytes()) {
            if found_name != name || values.contains(&value) {
                continue;
            }
            if values.len() == MAX_CANDIDATES {
                return Ok(Inline::TooMany);
            }
            values.push(value);
        }
    }
    Ok(if values.is_empty() {
        Inline::None
    } else {
        Inline::Values(values)
    })
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(fields: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for field in fields {
            map.append(COOKIE, HeaderValue::from_bytes(field).unwrap());
        }
        map
    }

    fn values(fields: &[&[u8]]) -> Found<'static> {
        let map = Box::leak(Box::new(headers(fields)));
        find(map, "__Host-id", 8192).unwrap()
    }

    #[test]
    fn exact_name_matches() {
        assert_eq!(values(&[b"__Host-id=V"]), Found::Values(vec![b"V"]));
        assert_eq!(
            values(&[b" \t__Host-id = V \t; x=1"]),
            Found::Values(vec![b"V"])
        );
    }

    #[test]
    fn spoofed_names_never_match() {
        // SR-32's table: each of these must not be read as the session cookie.
        let spoofs: [&[u8]; 10] = [
            b"__%48ost-id=V",
            b"%5F%5FHost-id=V",
            b"\xe2\x80\x80__Host-id=V",
            b"\xc2\xa0__Host-id=V",
            b"=__Host-id=V",
            b"__host-id=V",
            b"..Host-id=V",
            b"__Host-id",
            b"__Host_id=V",
            b"__Host-id.=V",
        ];
        for spoof in spoofs {
            assert_eq!(
                values(&[spoof]),
                Found::None,
                "{}",
                String::from_utf8_lossy(spoof)
            );
        }
    }

    #[test]
    fn quoted_and_legacy_values_are_kept_verbatim() {
        // No quoted-string handling: the quotes stay, so the codec rejects the value.
        assert_eq!(
            values(&[b"$Version=1; __Host-id=\"V\""]),
            Found::Values(vec![b"\"V\""])
        );
    }

    #[test]
    fn several_fields_are_merged_and_duplicates_kept_distinct() {
        let one = values(&[b"__Host-id=A", b"x=1; __Host-id=B"]);
        let other = values(&[b"__Host-id=B; __Host-id=A"]);
        let (Found::Values(mut one), Found::Values(mut other)) = (one, other) else {
            panic!("expected values");
        };
        one.sort();
        other.sort();
        assert_eq!(one, other);
        assert_eq!(one, vec![&b"A"[..], b"B"]);
        assert_eq!(
            values(&[b"__Host-id=A; __Host-id=A"]),
            Found::Values(vec![b"A"])
        );
    }

    #[test]
    fn too_many_distinct_values_authenticate_nothing() {
        assert_eq!(
            values(&[b"__Host-id=1; __Host-id=2; __Host-id=3; __Host-id=4; __Host-id=5"]),
            Found::TooMany
        );
    }

    #[test]
    fn size_bound_counts_all_fields() {
        let big = vec![b'a'; 5000];
        let mut field = b"x=".to_vec();
        field.extend_from_slice(&big);
        let map = headers(&[&field, &field]);
        assert_eq!(
            find(&map, "__Host-id", 8192).unwrap_err(),
            TooLarge {
                len: 10004,
                max: 8192
            }
        );
        assert!(find(&map, "__Host-id", 20_000).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// SR-32/SR-36: any bytes parse without panicking, and every name returned is
        /// exactly a slice of the input between separators, never altered.
        #[test]
        fn any_bytes_parse_and_names_are_verbatim(field in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            for (name, value) in pairs(&field) {
                proptest::prop_assert!(!name.is_empty());
                proptest::prop_assert!(field.windows(name.len()).any(|w| w == name));
                proptest::prop_assert!(!name.contains(&b';') && !name.contains(&b'='));
                proptest::prop_assert!(!value.contains(&b';'));
                proptest::prop_assert!(name.first() != Some(&b' ') && name.last() != Some(&b' '));
            }
        }

        /// The `memchr` scan finds the pairs the plain definition does: split on
        /// `;`, keep pieces with an `=` and a non-empty trimmed name.
        #[test]
        fn pairs_are_the_plain_definitions(field in proptest::collection::vec(proptest::sample::select(b" \t;=ab".to_vec()), 0..64)) {
            let plain: Vec<_> = field
                .split(|&b| b == b';')
                .filter_map(|piece| {
                    let eq = piece.iter().position(|&b| b == b'=')?;
                    let name = trim_ows(&piece[..eq]);
                    (!name.is_empty()).then(|| (name, trim_ows(&piece[eq + 1..])))
                })
                .collect();
            proptest::prop_assert_eq!(pairs(&field).collect::<Vec<_>>(), plain);
        }

        /// Whatever else the header holds, an exact `__Host-id=V` pair is found, and a
        /// name differing in any byte is not.
        #[test]
        fn the_exact_name_is_found_among_noise(
            noise in "[ -~]{0,200}",
            value in "[A-Za-z0-9_-]{1,108}",
        ) {
            let noise = noise.replace("__Host-id", "x");
            let header = format!("{noise}; __Host-id={value}");
            if let Ok(header_value) = HeaderValue::from_str(&header) {
                let mut map = HeaderMap::new();
                map.insert(COOKIE, header_value);
                match find(&map, "__Host-id", 8192).unwrap() {
                    Found::Values(values) => proptest::prop_assert!(values.contains(&value.as_bytes())),
                    other => proptest::prop_assert!(false, "{other:?}"),
                }
            }
        }
    }
}
