//! The `Cookie` header parser (SR-32…SR-34, AT-04…AT-08, AT-26…AT-28) on any bytes.
//!
//! The input is split on `\n` into header fields (HTTP/2 sends several). Whatever the
//! bytes: no panic; every pair's name and value are verbatim sub-slices of their field
//! (never decoded or trimmed of anything but ASCII space and tab); the session cookie's
//! values are exactly the distinct values of pairs named byte-for-byte `__Host-id`,
//! at most `MAX_CANDIDATES` of them; and the size bound is applied to the total.
#![no_main]

use hallpass::cookie::{Found, MAX_CANDIDATES, find, pairs};
use http::{HeaderMap, HeaderValue, header::COOKIE};
use libfuzzer_sys::fuzz_target;

const NAME: &[u8] = b"__Host-id";

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let start = outer.as_ptr() as usize;
    let at = inner.as_ptr() as usize;
    at >= start && at + inner.len() <= start + outer.len()
}

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    let mut total = 0;
    let mut expected: Vec<&[u8]> = Vec::new();
    for field in data.split(|&b| b == b'\n') {
        for (name, value) in pairs(field) {
            assert!(!name.is_empty());
            assert!(within(field, name) && within(field, value));
            assert!(!name.contains(&b';') && !name.contains(&b'=') && !value.contains(&b';'));
            for edge in [name.first(), name.last(), value.first(), value.last()] {
                assert!(!matches!(edge, Some(b' ' | b'\t')));
            }
            if name == NAME && !expected.contains(&value) {
                expected.push(value);
            }
        }
        if let Ok(value) = HeaderValue::from_bytes(field) {
            total += field.len();
            headers.append(COOKIE, value);
        } else {
            // A field http refuses never reaches the parser; drop what it held.
            expected.retain(|v| !within(field, v));
        }
    }
    match find(&headers, "__Host-id", 4096) {
        Err(too_large) => assert!(total > 4096 && too_large.max == 4096),
        Ok(found) => {
            assert!(total <= 4096);
            let mut expected: Vec<Vec<u8>> = expected.iter().map(|v| v.to_vec()).collect();
            expected.sort();
            expected.dedup();
            match found {
                Found::None => assert!(expected.is_empty()),
                Found::TooMany => assert!(expected.len() > MAX_CANDIDATES),
                Found::Values(values) => {
                    let mut values: Vec<Vec<u8>> = values.iter().map(|v| v.to_vec()).collect();
                    values.sort();
                    assert_eq!(values, expected);
                }
                _ => unreachable!("Found has three variants"),
            }
        }
    }
});
