//! A session revoked by the CLI is refused by a running demo on its very next
//! request (a device-bound one is told to stop refreshing), and the CLI lists what
//! the demo recorded. The demo runs in this process,
//! started through its own start-up path, on a SQLite file both share.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use clap::Parser as _;
use common::hallpass;

#[tokio::test]
async fn a_session_revoked_by_the_cli_is_refused_by_the_running_demo() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/demo.db", dir.path().display());
    let keys = dir.path().join("demo.key");
    let cli = hallpass_demo::cli::Cli::try_parse_from([
        "hallpass-demo",
        "--listen",
        "127.0.0.1:0",
        "--store",
        &store,
        "--keys-file",
        keys.to_str().unwrap(),
        "--user",
        "alice:alice-password",
    ])
    .unwrap();
    let prepared = hallpass_demo::server::prepare(&cli).await.unwrap();
    let base = format!("http://{}", prepared.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hallpass_demo::server::serve(prepared, async {
        let _ = stopped.await;
    }));

    let http = reqwest::Client::builder().build().unwrap();
    let login = http
        .post(format!("{base}/api/login"))
        .header("user-agent", "phone-browser/3")
        .json(&serde_json::json!({"username": "alice", "password": "alice-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let set = login.headers()["set-cookie"].to_str().unwrap();
    let cookie = set.split(';').next().unwrap().to_owned();
    let me = |cookie: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            http.get(format!("{base}/api/me"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    };
    let reply = me(cookie.clone()).await;
    assert_eq!(reply.status(), 200);
    let handle = reply.json::<serde_json::Value>().await.unwrap()["handle"]
        .as_str()
        .unwrap()
        .to_owned();

    // The CLI sees what the demo recorded.
    let listed = hallpass(&[
        "--store", &store, "sessions", "list", "--user", "alice", "--format", "json",
    ])
    .ok()
    .json();
    assert_eq!(listed[0]["handle"], handle.as_str());
    assert_eq!(listed[0]["user_agent"], "phone-browser/3");
    assert_eq!(listed[0]["ip"], "127.0.0.1");
    // How alice logged in, as the demo recorded it (SR-30).
    assert_eq!(listed[0]["auth_level"], "aal1");
    assert_eq!(listed[0]["auth_methods"], serde_json::json!(["pwd"]));
    humantime::parse_rfc3339(listed[0]["authenticated_at"].as_str().unwrap()).unwrap();

    let out = hallpass(&["--store", &store, "sessions", "revoke", &handle])
        .ok()
        .out;
    assert_eq!(out, format!("revoked {handle} (user alice)\n"));
    assert_eq!(
        me(cookie).await.status(),
        401,
        "the demo still accepted a revoked session"
    );

    // Device binding (on by default for a demo on loopback): a browser binds its new
    // session, the CLI lists it as bound, and its revoke ends the binding too: the
    // browser's next refresh is told to stop.
    let login = http
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({"username": "alice", "password": "alice-password"}))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let offer = login.headers()["secure-session-registration"]
        .to_str()
        .unwrap()
        .to_owned();
    let offer = hallpass_testkit::device::Offer::parse(&offer).unwrap();
    let key = hallpass_testkit::device::DeviceKey::es256();
    let registered = http
        .post(format!("{base}{}", offer.path))
        .header("cookie", &cookie)
        .header(
            "secure-session-response",
            key.registration(&offer.challenge),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 200);
    let id = registered.json::<serde_json::Value>().await.unwrap()["session_identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = hallpass(&[
        "--store", &store, "sessions", "list", "--user", "alice", "--format", "json",
    ])
    .ok()
    .json();
    assert_eq!(listed[0]["handle"], id.as_str());
    humantime::parse_rfc3339(listed[0]["device_bound_at"].as_str().unwrap()).unwrap();
    hallpass(&["--store", &store, "sessions", "revoke", &id]).ok();
    let refresh = http
        .post(format!("{base}/hallpass/dbsc/refresh"))
        .header("cookie", &cookie)
        .header("sec-secure-session-id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), 200);
    assert_eq!(
        refresh.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"continue": false})
    );

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
