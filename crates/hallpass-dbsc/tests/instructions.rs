//! The session instructions have the shape the draft and shipping Chrome read
//! (research notes §2.2): every member present, `include_site` false for a
//! `__Host-` cookie, and no expiry or `Partitioned` in the credential's attributes.

#![allow(clippy::unwrap_used, reason = "tests report failures by panicking")]

use hallpass_dbsc::{Instructions, InstructionsError};
use serde_json::json;

#[test]
fn the_instructions_json_is_pinned() {
    let body = Instructions::new(
        "3q2-7w",
        "/hallpass/dbsc/refresh",
        "https://app.example",
        "__Host-Http-bound",
        "Path=/; Secure; HttpOnly; SameSite=Lax",
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({
            "session_identifier": "3q2-7w",
            "refresh_url": "/hallpass/dbsc/refresh",
            "scope": {"origin": "https://app.example", "include_site": false, "scope_specification": []},
            "credentials": [{"type": "cookie", "name": "__Host-Http-bound",
                             "attributes": "Path=/; Secure; HttpOnly; SameSite=Lax"}],
            "allowed_refresh_initiators": []
        })
    );
    let end: serde_json::Value = serde_json::from_str(Instructions::end()).unwrap();
    assert_eq!(end, json!({"continue": false}));
}

#[test]
fn expiry_and_partitioned_attributes_are_refused_in_any_case() {
    for (attributes, name) in [
        ("Path=/; max-age=600", "Max-Age"),
        ("Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT", "Expires"),
        ("Path=/;partitioned", "Partitioned"),
    ] {
        assert_eq!(
            Instructions::new("s", "/r", "https://a.example", "__Host-b", attributes).unwrap_err(),
            InstructionsError::Attribute(name),
            "{attributes}"
        );
    }
    // A value that merely contains the word is not the attribute.
    assert!(Instructions::new("s", "/r", "https://a.example", "__Host-b", "Path=/expires").is_ok());
}
