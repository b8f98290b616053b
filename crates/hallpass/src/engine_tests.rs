//! Engine-level tests that need to mint cookie values directly: cookies naming tokens
//! that were never issued, and store keys presented as cookies (SR-13, SR-37).

use std::sync::Arc;

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};

use crate::{
    Handle, Key, Keyring, Loaded, MemoryStore, SessionConfig, SessionEngine, SessionStore,
    SystemClock, Token, codec,
};

fn keyring() -> Keyring {
    Keyring::new(Key::from_bytes(&[9u8; 32]).unwrap())
}

fn engine(store: &MemoryStore) -> SessionEngine {
    SessionEngine::new(Arc::new(store.clone()), SessionConfig::new(keyring())).unwrap()
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
    let session = engine.begin(&cookie_headers(&value), None).unwrap();
    assert_eq!(session.principal().await.unwrap(), None);
    session.insert("planted", "x").await.unwrap();
    assert_eq!(session.increment("views", 1).await.unwrap(), 1);
    let mut response = HeaderMap::new();
    session.commit(&mut response).await.unwrap();
    let issued = response
        .get(SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!issued.contains(&value), "a fresh token is minted");
    let now = crate::Clock::now(&SystemClock);
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
    let session = engine.begin(&cookie_headers(&value), None).unwrap();
    assert_eq!(session.increment("views", 1).await.unwrap(), 1);
    let mut response = HeaderMap::new();
    session.commit(&mut response).await.unwrap();
    let now = crate::Clock::now(&SystemClock);
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
    let session = engine.begin(&HeaderMap::new(), None).unwrap();
    session.login("alice").await.unwrap();
    let mut response = HeaderMap::new();
    session.commit(&mut response).await.unwrap();
    let record = session.record().await.unwrap().unwrap();
    let now = crate::Clock::now(&SystemClock);
    let (stored_key, _) = store
        .load_handle(&record.handle, now)
        .await
        .unwrap()
        .unwrap();
    let as_token = Token::from_bytes(*stored_key.hash());
    let value = codec::encode(&keyring(), "__Host-id", &record.handle, &as_token);
    let replay = engine.begin(&cookie_headers(&value), None).unwrap();
    assert_eq!(replay.principal().await.unwrap(), None);
}

#[tokio::test]
async fn a_cookie_whose_handle_was_swapped_gets_nothing() {
    // The MAC binds handle and token: a valid token under another handle fails.
    let store = MemoryStore::new();
    let engine = engine(&store);
    let session = engine.begin(&HeaderMap::new(), None).unwrap();
    session.login("alice").await.unwrap();
    let mut response = HeaderMap::new();
    session.commit(&mut response).await.unwrap();
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
    let replay = engine.begin(&cookie_headers(&forged), None).unwrap();
    assert_eq!(replay.principal().await.unwrap(), None);
}
