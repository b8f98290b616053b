//! `docs/ASVS.md` stays true: every requirement SR-01…SR-52 and every attack
//! AT-01…AT-35 has a row, each row names a test or gives a reason, and every test it
//! names exists where it says (a `#[test]`/`#[tokio::test]`/proptest function, or a
//! conformance case in `crates/hallpass-testkit/src/*_cases.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `` `path.rs::name` `` and `` `path.rs` `` in a line.
fn references(line: &str) -> Vec<(String, Option<String>)> {
    line.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|quoted| {
            let (path, name) = match quoted.split_once("::") {
                Some((path, name)) => (path, Some(name.to_owned())),
                None => (quoted, None),
            };
            let is_path = path.ends_with(".rs")
                && path.contains('/')
                && path
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
                && name
                    .as_deref()
                    .is_none_or(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            is_path.then(|| (path.to_owned(), name))
        })
        .collect()
}

/// Whether `source` (the file at `path`) defines `name` as a test.
fn is_test(source: &str, path: &str, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    // A conformance case is a `pub async fn` in a `*_cases.rs` file or a
    // `*_cases/` directory of the testkit.
    let conformance_case = path.starts_with("crates/hallpass-testkit/src/")
        && (path.ends_with("_cases.rs") || path.contains("_cases/"));
    let declaration = format!("fn {name}(");
    lines.iter().enumerate().any(|(i, line)| {
        let decl = line.trim_start();
        if !(decl.starts_with(&declaration) || decl.contains(&format!(" {declaration}"))) {
            return false;
        }
        if conformance_case {
            return decl.starts_with("pub async fn");
        }
        let attributes = &lines[i.saturating_sub(4)..i];
        attributes
            .iter()
            .any(|l| l.contains("#[test]") || l.contains("#[tokio::test"))
            || (source.contains("proptest!") && decl.starts_with("fn "))
    })
}

#[test]
fn every_id_is_mapped_and_every_named_test_exists() {
    let map = std::fs::read_to_string(root().join("docs/ASVS.md")).unwrap();
    let mut rows = std::collections::BTreeMap::new();
    for line in map.lines() {
        let Some(rest) = line.strip_prefix("| ") else {
            continue;
        };
        let id = rest.split([' ', '|']).next().unwrap_or_default();
        if id.starts_with("SR-") || id.starts_with("AT-") {
            assert!(
                rows.insert(id.to_owned(), line).is_none(),
                "{id} has two rows"
            );
        }
    }
    let expected: Vec<String> = (1..=52)
        .map(|n| format!("SR-{n:02}"))
        .chain((1..=35).map(|n| format!("AT-{n:02}")))
        .collect();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !rows.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "no row in docs/ASVS.md for {missing:?}");
    assert_eq!(rows.len(), expected.len(), "ids beyond the catalogue");
    for (id, row) in &rows {
        let names_a_test = references(row).iter().any(|(_, name)| name.is_some());
        let gives_a_reason = row.contains("does not apply") || row.ends_with("| reason |");
        assert!(
            names_a_test || gives_a_reason,
            "{id} names no test and gives no reason: {row}"
        );
    }

    let mut checked = 0;
    for line in map.lines() {
        for (path, name) in references(line) {
            let source = std::fs::read_to_string(root().join(&path))
                .unwrap_or_else(|e| panic!("docs/ASVS.md names {path}, which cannot be read: {e}"));
            if let Some(name) = name {
                assert!(
                    is_test(&source, &path, &name),
                    "docs/ASVS.md names {path}::{name}, which is not a test there"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 150, "only {checked} references checked");
}

#[test]
fn the_reference_reader_finds_paths_and_names_only() {
    let refs =
        references("| x | `a/b.rs::c_d`, `fuzz/t.rs`, `src/{a,b}.rs`, `Set-Cookie` and `x::y` |");
    assert_eq!(
        refs,
        [
            ("a/b.rs".to_owned(), Some("c_d".to_owned())),
            ("fuzz/t.rs".to_owned(), None)
        ]
    );
    assert!(!is_test("fn helper() {}", "crates/x/tests/y.rs", "helper"));
    assert!(is_test(
        "#[test]\nfn real() {}",
        "crates/x/tests/y.rs",
        "real"
    ));
    assert!(is_test(
        "pub async fn case(store: S) {}",
        "crates/hallpass-testkit/src/http_cases.rs",
        "case"
    ));
    assert!(!is_test(
        "fn assert_helper(x: u8) {}",
        "crates/hallpass-testkit/src/http_cases.rs",
        "assert_helper"
    ));
    assert!(is_test(
        "pub async fn case(framework: F, store: S) {}",
        "crates/hallpass-testkit/src/http_cases/cookies.rs",
        "case"
    ));
}
