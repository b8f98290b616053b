//! `hallpass keys generate | rotate`, and that the demo reads what rotate writes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use std::os::unix::fs::PermissionsExt as _;

use common::hallpass;
use hallpass::{Key, Keyring};

#[test]
fn generate_prints_a_fresh_32_byte_key() {
    let first = hallpass(&["keys", "generate"]).ok().out;
    let second = hallpass(&["keys", "generate"]).ok().out;
    assert_eq!(first.trim().len(), 43, "{first}");
    assert_ne!(first, second);
    Key::from_base64url(first.trim()).unwrap();
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn rotate_prepends_keeps_the_old_keys_and_writes_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.keys");
    let file = path.to_str().unwrap();

    let run = hallpass(&["keys", "rotate", "--keys-file", file]).ok();
    assert!(
        run.out.contains("1 key in all, file created"),
        "{}",
        run.out
    );
    assert_eq!(mode(&path), 0o600);
    let one = std::fs::read_to_string(&path).unwrap();
    let first = Keyring::from_base64url_list(&one).unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        !run.out.contains(first.primary().to_base64url().as_str()),
        "rotate never prints a key"
    );

    let run = hallpass(&["keys", "rotate", "--keys-file", file]).ok();
    assert!(run.out.contains("2 keys in all"), "{}", run.out);
    assert_eq!(mode(&path), 0o600);
    let two = Keyring::from_base64url_list(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(two.len(), 2);
    assert_ne!(
        two.primary().to_base64url().as_str(),
        first.primary().to_base64url().as_str()
    );
    // The old primary is still there, now second (verify-only).
    let text = std::fs::read_to_string(&path).unwrap();
    let keys: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(keys[1], first.primary().to_base64url().as_str());
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // The demo reads the rotated file as its keyring: new key signs, old one verifies.
    let (keyring, _) = hallpass_demo::keys::load_from(None, Some(&path)).unwrap();
    assert_eq!(keyring.len(), 2);
    assert_eq!(keyring.primary().to_base64url().as_str(), keys[0]);
}

#[test]
fn a_damaged_keys_file_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.keys");
    std::fs::write(&path, "not-a-key\n").unwrap();
    let run = hallpass(&["keys", "rotate", "--keys-file", path.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.err);
    assert!(run.err.contains("nothing was changed"), "{}", run.err);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not-a-key\n");
    let run = hallpass(&["keys", "rotate", "--keys-file", "/nonexistent-dir/keys"]);
    assert_eq!(run.code, 1, "{}", run.err);
}
