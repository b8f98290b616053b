//! Cookie value decoding and verification (SR-31, SR-38; AT-12, AT-14, AT-15).
//!
//! The input is used twice. As a presented value it must never verify: only the
//! holder of the key can make a valid tag. As a mask XORed over a valid value it must
//! verify only when the mask changed nothing: a 108-character value is 81 bytes with
//! no spare bits, so any other change is malformed or fails the tag.
#![no_main]

use hallpass::__private::{BenchToken as Token, sign_cookie, verify_cookie};
use hallpass::{Handle, Key, Keyring};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

struct Fixture {
    keyring: Keyring,
    valid: Vec<u8>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let key = Key::from_bytes(&[7u8; 32]).expect("32 bytes is a valid key");
    let keyring = Keyring::new(key);
    let valid = sign_cookie(&keyring, "__Host-id", &Handle::generate(), &Token::generate());
    Fixture { keyring, valid: valid.into_bytes() }
});

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    assert_eq!(verify_cookie(&fixture.keyring, "__Host-id", data), None);

    let mut mutated = fixture.valid.clone();
    for (byte, mask) in mutated.iter_mut().zip(data) {
        *byte ^= mask;
    }
    let verdict = verify_cookie(&fixture.keyring, "__Host-id", &mutated);
    if mutated == fixture.valid {
        assert_eq!(verdict, Some(true));
    } else {
        assert_eq!(verdict, None);
    }
    // The same value under another cookie name never verifies (AT-15).
    assert_eq!(verify_cookie(&fixture.keyring, "__Host-other", &fixture.valid), None);
});
