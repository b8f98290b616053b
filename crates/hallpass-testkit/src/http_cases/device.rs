//! Device binding (DBSC) over a real socket (issue 16, AT-34): a browser with a
//! software key registers after login, is authenticated by its short-lived bound
//! cookie, and renews it with signed proofs; a stolen session cookie gets nothing
//! once the bound cookie it came with has run out; and every malformed, replayed,
//! stale or substituted proof mints nothing.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde_json::{Value, json};

use hallpass::dbsc::DeviceBinding;
use hallpass::store::SessionStore;

use super::MINUTE;
use crate::Framework;
use crate::app::TestApp;
use crate::device::{DeviceBrowser, DeviceKey, Offer, parse_challenge};
use crate::front::{DEVICE_REFRESH, DEVICE_REGISTRATION, Reply};

/// The origin the test app's instructions name.
const ORIGIN: &str = "https://app.test";
/// The bound cookie's default name.
const BOUND: &str = "__Host-hallpass-bound";
/// The session cookie's name in the test configuration.
const SESSION: &str = "__Host-id";

fn bound_app(framework: Framework, store: Arc<dyn SessionStore>) -> TestApp {
    TestApp::on(framework.over_tcp(), store, |config| {
        config.with_device_binding(DeviceBinding::after_login(ORIGIN))
    })
}

/// A browser logged in as `user`, and the offer its login response carried.
async fn logged_in(app: &TestApp, key: DeviceKey, user: &str) -> (DeviceBrowser, String) {
    let mut browser = DeviceBrowser::new(app, key);
    let login = browser.post(&format!("/login?user={user}")).await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    let offer = login
        .header("secure-session-registration")
        .unwrap_or_else(|| panic!("a login offers registration: {login:?}"));
    (browser, offer)
}

/// A browser logged in as `user` whose session is bound to its key.
async fn registered(app: &TestApp, key: DeviceKey, user: &str) -> DeviceBrowser {
    let (mut browser, offer) = logged_in(app, key, user).await;
    let reply = browser.register(&offer).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    browser
}

/// Whether a reply sets the bound cookie.
fn mints(reply: &Reply) -> bool {
    reply
        .set_cookies()
        .iter()
        .any(|set| set.starts_with(&format!("{BOUND}=")) && !set.contains("Max-Age=0"))
}

/// A refusal that mints nothing.
#[track_caller]
fn assert_refused(reply: &Reply, status: StatusCode, what: &str) {
    assert_eq!(reply.status, status, "{what}: {reply:?}");
    assert!(!mints(reply), "{what}: minted a bound cookie: {reply:?}");
}

/// The challenge of a 403, after checking it names the browser's session.
#[track_caller]
fn challenge_of(reply: &Reply, browser: &DeviceBrowser) -> String {
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
    let (challenge, id) = reply
        .header("secure-session-challenge")
        .as_deref()
        .and_then(parse_challenge)
        .unwrap_or_else(|| panic!("a 403 carries a challenge: {reply:?}"));
    assert_eq!(
        Some(id),
        browser.session_id,
        "the challenge names the session"
    );
    challenge
}

/// The whole flow with an ES256 key.
pub async fn a_bound_session_lives_on_proofs_es256(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    round_trip(framework, store, DeviceKey::es256()).await;
}

/// The whole flow with an RS256 key.
pub async fn a_bound_session_lives_on_proofs_rs256(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    round_trip(framework, store, DeviceKey::rs256()).await;
}

/// login → offer → registration (instructions and bound cookie as the browser checks
/// them) → protected request → bound cookie dropped: not authenticated → refresh
/// 403 with a challenge → signed refresh → 200 → authenticated again. A thief with
/// the session cookie and a copy of the bound cookie is shut out by the next refresh
/// of the real browser (the epoch moves), and with the session cookie alone once the
/// copied bound cookie ran out (injected clock); without the key it cannot refresh.
async fn round_trip(framework: Framework, store: Arc<dyn SessionStore>, key: DeviceKey) {
    let app = bound_app(framework, store);
    let alg = key.alg();
    let (mut browser, offer) = logged_in(&app, key, "ana").await;
    let parsed = Offer::parse(&offer).unwrap_or_else(|| panic!("RFC 9651 list: {offer}"));
    assert_eq!(parsed.algorithms, ["ES256", "RS256"]);
    assert_eq!(parsed.path, DEVICE_REGISTRATION);

    let reply = browser.register(&offer).await;
    assert_eq!(reply.status, StatusCode::OK, "{alg}: {reply:?}");
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
    let instructions: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    let handle = browser.get("/handle").await.body;
    assert_eq!(instructions["session_identifier"], handle.as_str());
    assert_eq!(instructions["refresh_url"], DEVICE_REFRESH);
    assert_eq!(instructions["scope"]["origin"], ORIGIN);
    assert_eq!(instructions["scope"]["include_site"], false);
    let credential = &instructions["credentials"][0];
    assert_eq!(credential["type"], "cookie");
    assert_eq!(credential["name"], BOUND);
    let attributes = credential["attributes"].as_str().unwrap_or_default();
    assert_eq!(attributes, "Path=/; Secure; HttpOnly; SameSite=Strict");
    let set = reply
        .set_cookies()
        .into_iter()
        .find(|set| set.starts_with(BOUND))
        .unwrap_or_else(|| panic!("a bound cookie: {reply:?}"));
    // The Set-Cookie's attributes, less its expiry, are the credential's exactly.
    let (_, after_value) = set.split_once("; ").unwrap_or_default();
    assert_eq!(after_value, format!("Max-Age=600; {attributes}"));
    assert_eq!(
        app.event_names()
            .iter()
            .filter(|e| **e == "device_registered")
            .count(),
        1
    );

    assert_eq!(browser.get("/me").await.body, "ana");
    let bound = browser.jar.remove(BOUND).unwrap_or_default();
    let session_cookie = browser.cookie(SESSION).map(str::to_owned);
    let unproven = browser.get("/me").await;
    assert_eq!(
        unproven.status,
        StatusCode::UNAUTHORIZED,
        "no bound cookie: not authenticated"
    );
    assert!(
        unproven.set_cookies().is_empty(),
        "the session is neither ended nor replaced"
    );
    assert!(app.event_names().contains(&"device_proof_missing"));

    let first = browser.refresh_with(None).await;
    let challenge = challenge_of(&first, &browser);
    assert!(!mints(&first));
    let proof = browser.key.refresh(&challenge);
    let refreshed = browser.refresh_with(Some(&proof)).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{refreshed:?}");
    assert!(mints(&refreshed));
    let again: Value = serde_json::from_str(&refreshed.body).unwrap_or(Value::Null);
    assert_eq!(again, instructions, "the instructions again");
    assert_ne!(
        browser.cookie(BOUND),
        Some(bound.as_str()),
        "a new bound cookie"
    );
    assert_eq!(browser.get("/me").await.body, "ana");
    assert_eq!(browser.cookie(SESSION).map(str::to_owned), session_cookie);

    // A thief copies both cookies: it works until the real browser refreshes.
    let mut thief = DeviceBrowser::new(&app, DeviceKey::es256());
    thief.jar = browser.jar.clone();
    thief.session_id = browser.session_id.clone();
    assert_eq!(
        thief.get("/me").await.body,
        "ana",
        "a copied bound cookie works for now"
    );
    assert_eq!(browser.refresh().await.status, StatusCode::OK);
    assert_eq!(
        thief.get("/me").await.status,
        StatusCode::UNAUTHORIZED,
        "a refresh spends the copy"
    );
    assert_eq!(browser.get("/me").await.body, "ana");

    // A thief with a fresh copy, once it ran out, and one without the key.
    thief.jar = browser.jar.clone();
    app.advance(11 * MINUTE);
    assert_eq!(thief.get("/me").await.status, StatusCode::UNAUTHORIZED);
    let challenge = challenge_of(&thief.refresh_with(None).await, &thief);
    let forged = thief.key.refresh(&challenge);
    assert_refused(
        &thief.refresh_with(Some(&forged)).await,
        StatusCode::FORBIDDEN,
        "a proof by another key",
    );
    thief.jar.remove(BOUND);
    assert_eq!(thief.get("/me").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        browser.get("/me").await.status,
        StatusCode::UNAUTHORIZED,
        "expired for all"
    );
    assert_eq!(browser.refresh().await.status, StatusCode::OK);
    assert_eq!(browser.get("/me").await.body, "ana");
}

/// Registration proofs that must bind nothing: the wrong algorithm for the key,
/// `alg: none`, a private key in the header, the wrong `typ`, a DER signature, a
/// challenge that is not this session's (another session's, made up, or a refresh
/// challenge), a stale one, no session cookie, an oversized header (refused unread);
/// then a good one binds, and a second registration of the bound session is refused.
pub async fn registrations_that_must_bind_nothing(
    framework: Framework,
    store: Arc<dyn SessionStore>,
) {
    let app = bound_app(framework, store);
    let (mut browser, offer) = logged_in(&app, DeviceKey::es256(), "ana").await;
    let challenge = Offer::parse(&offer)
        .map(|o| o.challenge)
        .unwrap_or_default();
    let key = browser.key.clone();
    let jwk = key.jwk();
    let mut private = jwk.clone();
    private["d"] = json!("AAAA");
    let payload = json!({"jti": challenge});
    let (_, other_offer) = logged_in(&app, DeviceKey::es256(), "bob").await;
    let others = Offer::parse(&other_offer)
        .map(|o| o.challenge)
        .unwrap_or_default();
    let cases: Vec<(&str, String)> = vec![
        (
            "RS256 with an EC key",
            key.jws(
                &json!({"alg": "RS256", "typ": "dbsc+jwt", "jwk": jwk}),
                &payload,
            ),
        ),
        (
            "alg none",
            DeviceKey::unsigned(&json!({"alg": "none", "typ": "dbsc+jwt"}), &payload),
        ),
        (
            "a private key",
            key.jws(
                &json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": private}),
                &payload,
            ),
        ),
        (
            "typ jwt",
            key.jws(&json!({"alg": "ES256", "typ": "jwt", "jwk": jwk}), &payload),
        ),
        ("a DER signature", {
            let good = key.registration(&challenge);
            let (input, _) = good.rsplit_once('.').unwrap_or_default();
            let der = key.der_refresh(&challenge);
            let (_, der_signature) = der.rsplit_once('.').unwrap_or_default();
            format!("{input}.{der_signature}")
        }),
        ("a made-up challenge", key.registration("AAAA")),
        ("another session's challenge", key.registration(&others)),
    ];
    for (what, proof) in cases {
        let reply = browser.register_with(DEVICE_REGISTRATION, &proof).await;
        assert_refused(&reply, StatusCode::FORBIDDEN, what);
    }
    let oversized = "a".repeat(9000);
    assert_refused(
        &browser.register_with(DEVICE_REGISTRATION, &oversized).await,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "oversized",
    );
    let mut cookieless = DeviceBrowser::new(&app, key.clone());
    assert_refused(
        &cookieless
            .register_with(DEVICE_REGISTRATION, &key.registration(&challenge))
            .await,
        StatusCode::FORBIDDEN,
        "no session cookie",
    );
    assert_eq!(
        browser.get("/me").await.body,
        "ana",
        "still unbound: no bound cookie needed"
    );
    assert!(app.event_names().contains(&"device_proof_failed"));

    assert_eq!(browser.register(&offer).await.status, StatusCode::OK);
    let second = DeviceKey::es256().registration(&challenge);
    assert_refused(
        &browser.register_with(DEVICE_REGISTRATION, &second).await,
        StatusCode::FORBIDDEN,
        "a second registration of a bound session",
    );
    assert_eq!(
        browser.get("/me").await.body,
        "ana",
        "the first binding stands"
    );

    // A refresh challenge is not a registration challenge, even for the session it
    // names once its binding has ended (a new login starts unbound).
    let refresh_challenge = challenge_of(&browser.refresh_with(None).await, &browser);
    let relogin = browser.post("/login?user=ana").await;
    let new_offer = relogin
        .header("secure-session-registration")
        .unwrap_or_default();
    assert_refused(
        &browser
            .register_with(DEVICE_REGISTRATION, &key.registration(&refresh_challenge))
            .await,
        StatusCode::FORBIDDEN,
        "a refresh challenge",
    );
    assert_eq!(browser.register(&new_offer).await.status, StatusCode::OK);

    let (mut late, late_offer) = logged_in(&app, DeviceKey::es256(), "cy").await;
    app.advance(6 * MINUTE);
    assert_refused(
        &late.register(&late_offer).await,
        StatusCode::FORBIDDEN,
        "a stale challenge",
    );
}

/// Refresh proofs that must mint nothing: another key's, one carrying a key (even
/// the bound one: key substitution), the wrong algorithm, `alg: none`, a DER
/// signature, a made-up challenge, a registration challenge, a stale challenge, and
/// a replay of a proof that worked once. The previous challenge of the same epoch is
/// still good. An unknown session id is a 404 (the browser drops it), a missing
/// `Sec-Secure-Session-Id` a 400, an oversized proof a 431.
pub async fn refreshes_that_must_mint_nothing(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = bound_app(framework, store);
    let (mut browser, offer) = logged_in(&app, DeviceKey::es256(), "ana").await;
    let registration_challenge = Offer::parse(&offer)
        .map(|o| o.challenge)
        .unwrap_or_default();
    assert_eq!(browser.register(&offer).await.status, StatusCode::OK);
    let key = browser.key.clone();
    let challenge = challenge_of(&browser.refresh_with(None).await, &browser);
    let payload = json!({"jti": challenge});
    let cases: Vec<(&str, String)> = vec![
        ("another key", DeviceKey::es256().refresh(&challenge)),
        ("a key in the header", key.registration(&challenge)),
        (
            "RS256 with the EC key",
            key.jws(&json!({"alg": "RS256", "typ": "dbsc+jwt"}), &payload),
        ),
        (
            "alg none",
            DeviceKey::unsigned(&json!({"alg": "none", "typ": "dbsc+jwt"}), &payload),
        ),
        ("a DER signature", key.der_refresh(&challenge)),
        ("a made-up challenge", key.refresh("AAAA")),
        (
            "a registration challenge",
            key.refresh(&registration_challenge),
        ),
    ];
    for (what, proof) in cases {
        let reply = browser.refresh_with(Some(&proof)).await;
        assert_refused(&reply, StatusCode::FORBIDDEN, what);
        challenge_of(&reply, &browser);
    }

    // The previous challenge of the epoch still works; its proof works once.
    app.advance(Duration::from_secs(1));
    let newer = challenge_of(&browser.refresh_with(None).await, &browser);
    assert_ne!(newer, challenge);
    let proof = key.refresh(&challenge);
    assert_eq!(
        browser.refresh_with(Some(&proof)).await.status,
        StatusCode::OK
    );
    assert_refused(
        &browser.refresh_with(Some(&proof)).await,
        StatusCode::FORBIDDEN,
        "a replayed proof",
    );
    assert_refused(
        &browser.refresh_with(Some(&key.refresh(&newer))).await,
        StatusCode::FORBIDDEN,
        "a challenge of a spent epoch",
    );

    let stale = challenge_of(&browser.refresh_with(None).await, &browser);
    app.advance(6 * MINUTE);
    assert_refused(
        &browser.refresh_with(Some(&key.refresh(&stale))).await,
        StatusCode::FORBIDDEN,
        "a stale challenge",
    );

    let own = browser.session_id.clone();
    browser.session_id = Some(hallpass::Handle::generate().to_string());
    assert_refused(
        &browser.refresh_with(None).await,
        StatusCode::NOT_FOUND,
        "an unknown session id",
    );
    browser.session_id = own;
    assert_refused(
        &browser.send(http::Method::POST, DEVICE_REFRESH, &[]).await,
        StatusCode::BAD_REQUEST,
        "no Sec-Secure-Session-Id",
    );
    assert_refused(
        &browser.refresh_with(Some(&"a".repeat(9000))).await,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "oversized",
    );
    assert_eq!(
        browser.refresh().await.status,
        StatusCode::OK,
        "the real browser still can"
    );
}

/// The binding ends with the session: a logout clears the browser's cookies
/// (`Clear-Site-Data`) and its next refresh is told `{"continue":false}`, as is a
/// session revoked from elsewhere and one whose user logged in again (a login
/// starts unbound, and is offered registration again). A store outage during a
/// refresh is a 503, never a 4xx that would end the browser's session. A skipped
/// refresh is logged and the request is unauthenticated; an unbound session needs
/// no bound cookie at all.
pub async fn the_binding_ends_with_the_session(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = bound_app(framework, store);
    let end = json!({"continue": false});

    let mut leaving = registered(&app, DeviceKey::es256(), "ana").await;
    let logout = leaving.post("/logout").await;
    assert_eq!(
        logout.header("clear-site-data").as_deref(),
        Some("\"cookies\"")
    );
    let after = leaving.refresh_with(None).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&after.body).ok(),
        Some(end.clone())
    );
    assert!(!mints(&after));

    let mut phone = registered(&app, DeviceKey::es256(), "bob").await;
    let mut laptop = registered(&app, DeviceKey::rs256(), "bob").await;
    assert_eq!(
        laptop.post("/revoke-all?except_current=true").await.body,
        "1"
    );
    let revoked = phone.refresh_with(None).await;
    assert_eq!(
        serde_json::from_str::<Value>(&revoked.body).ok(),
        Some(end.clone())
    );
    assert_eq!(
        laptop.get("/me").await.body,
        "bob",
        "the other one stays bound and live"
    );

    app.store.set_down(true);
    let down = laptop.refresh_with(None).await;
    app.store.set_down(false);
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE, "{down:?}");
    assert!(!mints(&down));

    let relogin = laptop.post("/login?user=bob").await;
    assert!(
        relogin.header("secure-session-registration").is_some(),
        "offered again"
    );
    let unbound = laptop.refresh_with(None).await;
    assert_eq!(serde_json::from_str::<Value>(&unbound.body).ok(), Some(end));
    laptop.jar.remove(BOUND);
    assert_eq!(
        laptop.get("/me").await.body,
        "bob",
        "a new login is unbound"
    );

    let mut skipping = registered(&app, DeviceKey::es256(), "cy").await;
    skipping.jar.remove(BOUND);
    let id = skipping.session_id.clone().unwrap_or_default();
    let notice = format!("quota_exceeded;session_identifier=\"{id}\"");
    let reply = skipping
        .send(
            http::Method::GET,
            "/me",
            &[("secure-session-skipped", &notice)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(app.event_names().contains(&"device_refresh_skipped"));

    let (mut plain, _offer_ignored) = logged_in(&app, DeviceKey::es256(), "dee").await;
    for _ in 0..3 {
        app.advance(Duration::from_secs(300));
        assert_eq!(
            plain.get("/me").await.body,
            "dee",
            "an unbound session as before"
        );
    }
}

/// A bound session may live longer than any session (configured): it outlives the
/// absolute timeout that ends an unbound one logged in at the same time.
pub async fn a_bound_session_may_live_longer(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework.over_tcp(), store, |config| {
        config
            .with_idle_timeout(10 * MINUTE)
            .with_absolute_timeout(15 * MINUTE)
            .with_device_binding(
                DeviceBinding::after_login(ORIGIN).with_bound_absolute_timeout(60 * MINUTE),
            )
    });
    let mut bound = registered(&app, DeviceKey::es256(), "ana").await;
    let (mut plain, _) = logged_in(&app, DeviceKey::es256(), "bob").await;
    for _ in 0..4 {
        app.advance(5 * MINUTE);
        assert_eq!(bound.refresh().await.status, StatusCode::OK);
        assert_eq!(bound.get("/me").await.body, "ana");
        let _ = plain.get("/me").await;
    }
    assert_eq!(
        plain.get("/me").await.status,
        StatusCode::UNAUTHORIZED,
        "20 minutes > 15"
    );
    assert_eq!(bound.get("/me").await.body, "ana", "bound: 60 minutes");
}

/// A refresh that comes with a session cookie a rotation has just replaced (a
/// periodic rotation racing the browser's proactive refresh) still refreshes: the
/// proof by the bound key is what counts, and ending the binding of a live session
/// for a lost race would cost the user it. A session that is gone still ends.
pub async fn a_refresh_follows_a_rotation(framework: Framework, store: Arc<dyn SessionStore>) {
    let app = TestApp::on(framework.over_tcp(), store, |config| {
        config
            .with_rotation_interval(5 * MINUTE)
            .with_device_binding(DeviceBinding::after_login(ORIGIN))
    });
    let mut browser = registered(&app, DeviceKey::es256(), "ana").await;
    let before = browser.cookie(SESSION).map(str::to_owned);
    app.advance(6 * MINUTE);
    let mut late = browser.clone();
    assert_eq!(browser.get("/me").await.body, "ana");
    assert_ne!(
        browser.cookie(SESSION).map(str::to_owned),
        before,
        "rotated"
    );
    // `late` still holds the replaced session cookie.
    assert_eq!(
        late.refresh().await.status,
        StatusCode::OK,
        "the refresh follows the rotation"
    );
    assert_eq!(browser.refresh().await.status, StatusCode::OK);
    assert_eq!(browser.post("/logout").await.status, StatusCode::OK);
    let after = late.refresh_with(None).await;
    assert_eq!(
        serde_json::from_str::<Value>(&after.body).ok(),
        Some(json!({"continue": false}))
    );
}
