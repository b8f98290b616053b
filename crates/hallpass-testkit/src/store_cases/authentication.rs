//! The authentication a record keeps (SR-30): set by a login, kept by everything
//! else, gone with the principal.

use std::sync::Arc;

use hallpass::store::{
    Admission, Applied, Authenticated, Authentication, Delta, PrincipalChange, Rotated,
    SessionStore,
};

use super::{at, base, create, key_for, live, record};

fn login(principal: &str, authenticated: Option<Authenticated>) -> Delta {
    let mut delta = Delta::default();
    delta.principal = Some(PrincipalChange::login(principal, Admission::default()));
    delta.authenticated = authenticated;
    delta
}

/// A record's authentication survives the store: created with it, kept by data
/// writes and a rotation that leaves it alone, replaced by a re-authentication of
/// the same principal (a step-up), dropped by a switch to another principal that
/// brings none and by a logout to anonymous — an authentication never carries over.
pub async fn authentication_is_kept_and_never_carried_to_another_principal(
    store: Arc<dyn SessionStore>,
) {
    let now = base();
    let aal1 = Authenticated::new(
        now,
        Authentication::new()
            .with_level("aal1")
            .with_methods(["pwd"]),
    );
    let mut rec = record(now);
    rec.principal = Some("ana".into());
    rec.authenticated = Some(aal1.clone());
    let key = create(&*store, &rec).await;
    assert_eq!(
        live(&*store, &key, now).await.authenticated,
        Some(aal1.clone())
    );

    let mut data = Delta::default();
    data.set("cart", serde_json::json!([1]));
    let Applied::Updated(after) = store.apply(&key, &data, now).await.unwrap() else {
        panic!("live");
    };
    assert_eq!(
        after.authenticated,
        Some(aal1.clone()),
        "a data write keeps it"
    );

    let later = at(now, 30);
    let rotated = key_for(&rec.handle);
    assert!(matches!(
        store.rotate(&key, &rotated, &Delta::default(), later).await.unwrap(),
        Rotated::Updated { record, .. } if record.authenticated == Some(aal1.clone())
    ));

    let aal2 = Authenticated::new(
        later,
        Authentication::new()
            .with_level("aal2")
            .with_methods(["pwd", "otp"]),
    );
    let stepped = key_for(&rec.handle);
    assert!(matches!(
        store
            .rotate(&rotated, &stepped, &login("ana", Some(aal2.clone())), later)
            .await
            .unwrap(),
        Rotated::Updated { .. }
    ));
    let stored = live(&*store, &stepped, later).await;
    assert_eq!(stored.authenticated, Some(aal2), "a step-up replaces it");
    assert_eq!(stored.data["cart"], serde_json::json!([1]));

    let bob = key_for(&rec.handle);
    assert!(matches!(
        store
            .rotate(&stepped, &bob, &login("bob", None), later)
            .await
            .unwrap(),
        Rotated::Updated { .. }
    ));
    let stored = live(&*store, &bob, later).await;
    assert_eq!(stored.principal.as_deref(), Some("bob"));
    assert_eq!(stored.authenticated, None, "ana's level is not bob's");

    let cara_auth = Authenticated::new(later, Authentication::new().with_methods(["webauthn"]));
    let cara = key_for(&rec.handle);
    store
        .rotate(&bob, &cara, &login("cara", Some(cara_auth.clone())), later)
        .await
        .unwrap();
    assert_eq!(
        live(&*store, &cara, later).await.authenticated,
        Some(cara_auth)
    );

    let mut logout = Delta::default();
    logout.principal = Some(PrincipalChange::Clear);
    store.apply(&cara, &logout, later).await.unwrap();
    let stored = live(&*store, &cara, later).await;
    assert_eq!((stored.principal, stored.authenticated), (None, None));
}
