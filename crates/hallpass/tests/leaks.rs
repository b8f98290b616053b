//! SR-44, SR-49, AT-30: no issued token appears in any log line at `trace` level, in
//! `Debug` output, in a response body or in the store, in any form.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hallpass::MemoryStore;
use hallpass::store::{SessionStore, StoreKey};
use hallpass_testkit::TestApp;
use http::Method;
use sha2::{Digest, Sha256};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn forms_of(cookie_value: &str) -> (Vec<String>, hallpass::Handle, [u8; 32]) {
    let raw = URL_SAFE_NO_PAD.decode(cookie_value).unwrap();
    let handle = hallpass::Handle::from_bytes(raw[1..17].try_into().unwrap());
    let token: [u8; 32] = raw[17..49].try_into().unwrap();
    let hex: String = token.iter().map(|b| format!("{b:02x}")).collect();
    let forms = vec![
        cookie_value.to_owned(),
        cookie_value[..40].to_owned(),
        URL_SAFE_NO_PAD.encode(token),
        STANDARD.encode(token),
        hex.clone(),
        hex.to_uppercase(),
        cookie_value.replace('-', "%2D").replace('_', "%5F"),
        format!("{token:?}"),
    ];
    (forms, handle, token)
}

#[tokio::test]
async fn no_token_in_logs_debug_responses_or_store() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let memory = MemoryStore::new();
    let store: Arc<dyn SessionStore> = Arc::new(memory.clone());
    let app = TestApp::new(Arc::clone(&store));
    let mut issued: Vec<String> = Vec::new();
    let mut bodies = String::new();
    let mut debug = String::new();
    let mut note = |browser: &hallpass_testkit::Browser, reply: &hallpass_testkit::Reply| {
        if let Some(v) = browser.cookie_value() {
            issued.push(v);
        }
        bodies.push_str(&reply.body);
        debug.push_str(&format!("{reply:?}"));
    };

    // Every flow: counter, cart, login, remember, rotate, list, revoke, logout,
    // expiry, forged and duplicate cookies.
    let mut alice = app.browser();
    let mut phone = app.browser();
    for (who, method, uri) in [
        (0, Method::GET, "/views"),
        (0, Method::GET, "/views"),
        (0, Method::POST, "/cart?item=pen"),
        (0, Method::POST, "/login?user=alice"),
        (0, Method::POST, "/remember"),
        (0, Method::POST, "/rotate"),
        (1, Method::POST, "/login?user=alice"),
        (0, Method::GET, "/sessions"),
        (0, Method::GET, "/me"),
    ] {
        let browser = if who == 0 { &mut alice } else { &mut phone };
        let reply = browser.send(method, uri).await;
        note(browser, &reply);
    }
    let alice_cookie = alice.cookie.clone().unwrap();
    let phone_cookie = phone.cookie.clone().unwrap();
    let both = format!("{alice_cookie}; {phone_cookie}");
    let reply = app.raw(Method::GET, "/me", &[both.as_bytes()]).await;
    note(&app.browser(), &reply);
    let reply = alice.post("/revoke-all?except_current=true").await;
    note(&alice, &reply);
    let reply = phone.get("/me").await;
    note(&phone, &reply);
    let mut tampered = alice_cookie.clone();
    tampered.pop();
    tampered.push('A');
    app.raw(Method::GET, "/me", &[tampered.as_bytes()]).await;
    app.advance(Duration::from_secs(3600));
    let reply = alice.get("/me").await;
    note(&alice, &reply);
    let mut again = app.browser();
    let reply = again.post("/login?user=alice").await;
    note(&again, &reply);
    let last = again.cookie_value().unwrap();
    let reply = again.post("/logout").await;
    note(&again, &reply);
    debug.push_str(&format!("{app:?} {store:?}"));

    issued.sort();
    issued.dedup();
    assert!(
        issued.len() >= 5,
        "the flows issued {} tokens",
        issued.len()
    );
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("hallpass::event"),
        "trace logging captured the session events"
    );
    let now = hallpass::time::Clock::now(&app.clock);
    for value in &issued {
        let (forms, handle, token) = forms_of(value);
        for form in &forms {
            assert!(
                !logs.contains(form.as_str()),
                "a token form appears in the logs"
            );
            assert!(
                !bodies.contains(form.as_str()),
                "a token form appears in a response body"
            );
            assert!(
                !debug.contains(form.as_str()),
                "a token form appears in Debug output"
            );
        }
        // The store is keyed by SHA-256(token); the token itself is no key.
        assert_eq!(
            store
                .load(&StoreKey::new(handle, token), now)
                .await
                .unwrap(),
            hallpass::store::Loaded::Missing
        );
        let key = StoreKey::new(handle, Sha256::digest(token).into());
        if let hallpass::store::Loaded::Live(record) = store.load(&key, now).await.unwrap() {
            let encoded = String::from_utf8(record.encode()).unwrap();
            for form in &forms {
                assert!(
                    !encoded.contains(form.as_str()),
                    "a token form is stored in the record"
                );
            }
        }
    }
    assert!(!last.is_empty());
}
