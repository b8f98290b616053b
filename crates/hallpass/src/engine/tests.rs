//! Engine-level tests that need to mint cookie values directly: cookies naming tokens
//! that were never issued, and store keys presented as cookies (SR-13, SR-37).

use http::header::{COOKIE, SET_COOKIE};
use std::sync::Arc;

use http::{HeaderMap, HeaderValue};

use crate::engine::RequestHead;
use crate::engine::SessionEngine;
use crate::store::{Loaded, SessionStore};
use crate::time::SystemClock;
use crate::token::Token;
use crate::{Handle, Key, Keyring, MemoryStore, SessionConfig, codec};

fn keyring() -> Keyring {
    Keyring::new(Key::from_bytes(&[9u8; 32]).unwrap())
}

fn engine(store: &MemoryStore) -> SessionEngine {
    SessionEngine::new(store.clone(), SessionConfig::new(keyring())).unwrap()
}

fn cookie_headers(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        HeaderValue::from_str(&format!("__Host-id={value}")).unwrap(),
    );
    headers
}

#[tokio::test]
async fn a_signed_never_issued_token_gets_no_session_and_no_data() {
    // AT-01: even a correctly signed value is only a key to look up, never adopted.
    let store = MemoryStore::new();
    let engine = engine(&store);
    let token = Token::generate();
    let handle = Handle::generate();
    let value = codec::encode(&keyring(), "__Host-id", &handle, &token);
    let (session, commit) = engine
        .begin(&RequestHead::from_http(&cookie_headers(&value), None))
        .unwrap();
    assert_eq!(session.principal().await.unwrap(), None);
    session.insert("planted", "x").await.unwrap();
    assert_eq!(session.increment("views", 1).await.unwrap(), 1);
    let mut response = HeaderMap::new();
    commit.finish().await.unwrap().apply(&mut response);
    let issued = response
        .get(SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!issued.contains(&value), "a fresh token is minted");
    let now = crate::time::Clock::now(&SystemClock);
    assert_eq!(
        store.load(&token.store_key(&handle), now).await.unwrap(),
        Loaded::Missing
    );
    assert_eq!(store.count(now).await.unwrap(), 1);
}

#[tokio::test]
async fn the_increment_fast_path_never_writes_under_an_unknown_token() {
    let store = MemoryStore::new();
    let engine = engine(&store);
    let token = Token::generate();
    let handle = Handle::generate();
    let value = codec::encode(&keyring(), "__Host-id", &handle, &token);
    let (session, commit) = engine
        .begin(&RequestHead::from_http(&cookie_headers(&value), None))
        .unwrap();
    assert_eq!(session.increment("views", 1).await.unwrap(), 1);
    let mut response = HeaderMap::new();
    commit.finish().await.unwrap().apply(&mut response);
    let now = crate::time::Clock::now(&SystemClock);
    assert_eq!(
        store.load(&token.store_key(&handle), now).await.unwrap(),
        Loaded::Missing
    );
}

#[tokio::test]
async fn a_store_key_presented_as_a_cookie_does_not_work() {
    // SR-37: the stored key, even signed into a cookie, is hashed again on lookup.
    let store = MemoryStore::new();
    let engine = engine(&store);
    let (session, commit) = engine
        .begin(&RequestHead::from_http(&HeaderMap::new(), None))
        .unwrap();
    session.login("alice").await.unwrap();
    let mut response = HeaderMap::new();
    commit.finish().await.unwrap().apply(&mut response);
    let handle = session.handle().await.unwrap().unwrap();
    let now = crate::time::Clock::now(&SystemClock);
    let (stored_key, _) = store.load_handle(&handle, now).await.unwrap().unwrap();
    let as_token = Token::from_bytes(*stored_key.hash());
    let value = codec::encode(&keyring(), "__Host-id", &handle, &as_token);
    let (replay, _commit) = engine
        .begin(&RequestHead::from_http(&cookie_headers(&value), None))
        .unwrap();
    assert_eq!(replay.principal().await.unwrap(), None);
}

#[tokio::test]
async fn a_cookie_whose_handle_was_swapped_gets_nothing() {
    // The MAC binds handle and token: a valid token under another handle fails.
    let store = MemoryStore::new();
    let engine = engine(&store);
    let (session, commit) = engine
        .begin(&RequestHead::from_http(&HeaderMap::new(), None))
        .unwrap();
    session.login("alice").await.unwrap();
    let mut response = HeaderMap::new();
    commit.finish().await.unwrap().apply(&mut response);
    let issued = response.get(SET_COOKIE).unwrap().to_str().unwrap();
    let value = issued
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("__Host-id=");
    let verified = codec::decode(&keyring(), "__Host-id", value.as_bytes()).unwrap();
    let forged = codec::encode(
        &keyring(),
        "__Host-id",
        &Handle::generate(),
        &verified.token,
    );
    let (replay, _commit) = engine
        .begin(&RequestHead::from_http(&cookie_headers(&forged), None))
        .unwrap();
    assert_eq!(replay.principal().await.unwrap(), None);
}

/// Logs `principal` in through the engine and returns the cookie's `name=value`.
async fn logged_in(engine: &SessionEngine, principal: &str) -> String {
    let (session, commit) = engine.begin(&RequestHead::new()).unwrap();
    session.login(principal).await.unwrap();
    let set = commit.finish().await.unwrap();
    let issued = set.set_cookie().unwrap().to_str().unwrap();
    issued.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_second_cookie_field_counts_so_a_duplicated_session_cookie_is_refused() {
    // AT-08 / SR-33 through the adapter contract: a head built field by field keeps
    // every Cookie field, so two live sessions in two fields authenticate nobody.
    let store = MemoryStore::new();
    let engine = engine(&store);
    let alice = logged_in(&engine, "alice").await;
    let mallory = logged_in(&engine, "mallory").await;
    let mut head = RequestHead::new();
    head.push_cookie(alice.as_bytes()).unwrap();
    let (one, _commit) = engine.begin(&head).unwrap();
    assert_eq!(one.principal().await.unwrap().as_deref(), Some("alice"));
    head.push_cookie(format!("theme=dark; {mallory}").as_bytes())
        .unwrap();
    let (two, commit) = engine.begin(&head).unwrap();
    assert_eq!(two.principal().await.unwrap(), None);
    let set = commit.finish().await.unwrap();
    assert!(
        set.set_cookie().is_none(),
        "neither duplicate is deleted or replaced"
    );
}

#[tokio::test]
async fn every_forwarded_for_field_is_read_behind_a_trusted_proxy() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook_seen = Arc::clone(&seen);
    let config = SessionConfig::new(keyring())
        .with_trusted_proxies(["127.0.0.1/32".parse().unwrap()])
        .with_event_hook(move |event| {
            if let crate::events::Event::InvalidToken { ip, .. } = event {
                hook_seen.lock().unwrap().push(*ip);
            }
        });
    let engine = SessionEngine::new(MemoryStore::new(), config).unwrap();
    let mut head = RequestHead::new();
    head.push_cookie(b"__Host-id=not-a-cookie-value").unwrap();
    head.push_forwarded_for(b"203.0.113.9").unwrap();
    head.push_forwarded_for(b"127.0.0.1").unwrap();
    head.set_peer(Some("127.0.0.1".parse().unwrap()));
    let _started = engine.begin(&head).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [Some("203.0.113.9".parse().unwrap())],
        "the rightmost untrusted hop, from the first field: the second holds only the proxy"
    );
}

/// A trusted range written IPv4-mapped (`::ffff:10.0.0.0/104`) matches the IPv4
/// peers of a dual-stack socket, which the engine compares as IPv4 addresses.
#[tokio::test]
async fn an_ipv4_mapped_trusted_range_matches_ipv4_mapped_peers() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook_seen = Arc::clone(&seen);
    let config = SessionConfig::new(keyring())
        .with_trusted_proxies(["::ffff:10.0.0.0/104".parse().unwrap()])
        .with_event_hook(move |event| {
            if let crate::events::Event::InvalidToken { ip, .. } = event {
                hook_seen.lock().unwrap().push(*ip);
            }
        });
    let engine = SessionEngine::new(MemoryStore::new(), config).unwrap();
    let mut head = RequestHead::new();
    head.push_cookie(b"__Host-id=not-a-cookie-value").unwrap();
    head.push_forwarded_for(b"203.0.113.9").unwrap();
    head.set_peer(Some("::ffff:10.1.2.3".parse().unwrap()));
    let _started = engine.begin(&head).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [Some("203.0.113.9".parse().unwrap())],
        "the proxy is trusted, so the forwarded client is the client"
    );
}

#[tokio::test]
async fn an_oversized_cookie_header_is_a_rejection_with_431() {
    let engine = engine(&MemoryStore::new());
    let mut head = RequestHead::new();
    head.push_cookie(format!("a={}", "x".repeat(5000)).as_bytes())
        .unwrap();
    head.push_cookie(format!("b={}", "y".repeat(5000)).as_bytes())
        .unwrap();
    let rejection = engine.begin(&head).unwrap_err();
    assert_eq!(
        rejection.status(),
        http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
}

#[test]
fn vary_is_merged_never_duplicated() {
    use http::header::VARY;
    let set = |vary: Option<&'static str>| {
        let mut headers = HeaderMap::new();
        if let Some(vary) = vary {
            headers.insert(VARY, HeaderValue::from_static(vary));
        }
        super::SetHeaders {
            set_cookie: None,
            vary_cookie: true,
            extra: Vec::new(),
        }
        .apply(&mut headers);
        headers
            .get_all(VARY)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(set(None), ["Cookie"]);
    assert_eq!(set(Some("Accept-Encoding")), ["Accept-Encoding", "Cookie"]);
    assert_eq!(
        set(Some("accept-encoding, COOKIE")),
        ["accept-encoding, COOKIE"]
    );
    assert_eq!(set(Some("*")), ["*"]);
}

#[tokio::test]
async fn a_commit_with_nothing_to_write_is_ready_at_once() {
    let store = MemoryStore::new();
    let engine = engine(&store);
    let (session, commit) = engine.begin(&RequestHead::new()).unwrap();
    session.login("alice").await.unwrap();
    let finish = commit.finish();
    assert!(!finish.needs_no_store(), "a login is written at commit");
    let mut response = HeaderMap::new();
    finish.await.unwrap().apply(&mut response);
    let cookie = response[SET_COOKIE].to_str().unwrap();
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("__Host-id=");
    let request = cookie_headers(value);

    // A read, a counted visit (sent at once) and a request that never looked: no
    // store call is left for the commit.
    let (session, commit) = engine
        .begin(&RequestHead::from_http(&request, None))
        .unwrap();
    assert_eq!(session.principal().await.unwrap().as_deref(), Some("alice"));
    assert!(commit.finish().needs_no_store(), "a read");
    let (session, commit) = engine
        .begin(&RequestHead::from_http(&request, None))
        .unwrap();
    session.increment("views", 1).await.unwrap();
    assert!(commit.finish().needs_no_store(), "an increment");
    let (_session, commit) = engine
        .begin(&RequestHead::from_http(&request, None))
        .unwrap();
    assert!(
        commit.finish().needs_no_store(),
        "a request that never looked"
    );

    // An insert is sent at commit.
    let (session, commit) = engine
        .begin(&RequestHead::from_http(&request, None))
        .unwrap();
    session.insert("theme", "dark").await.unwrap();
    let finish = commit.finish();
    assert!(!finish.needs_no_store(), "an insert");
}

/// The futures of the calls a typical handler awaits stay within glibc's tcache
/// (1,032 bytes): past it, each request's allocation took malloc's slow path and
/// `malloc_consolidate` (docs/PERFORMANCE.md, stop 27: `principal` was 1,544 bytes,
/// `increment` 2,232, before their rare branches were boxed).
#[tokio::test]
async fn a_handlers_session_futures_stay_small() {
    let store = MemoryStore::new();
    let engine = engine(&store);
    let (session, _commit) = engine.begin(&RequestHead::new()).unwrap();
    let sizes = [
        ("principal", size_of_val(&session.principal())),
        ("increment", size_of_val(&session.increment("views", 1))),
        ("insert", size_of_val(&session.insert("views", 0))),
        ("login", size_of_val(&session.login("alice"))),
    ];
    for (call, size) in sizes {
        assert!(size <= 1_032, "Session::{call}'s future is {size} bytes");
    }
}
