//! Cookies the server did not issue: unsigned, tampered, foreign-secret, unknown and expired
//! ids, and secret rotation.

use crate::common;

use std::time::Duration;

use common::*;
use sessionly::store::{Listing, Store};
use sessionly::{CookieOptions, MemoryStore, SessionLayer};

#[tokio::test]
async fn bad_cookies_start_a_new_session_without_asking_the_store() {
    let store = Counting::default();
    let app = app(layer_with(store.clone(), |b| b));
    let good = get_with(&app, "/views", None).await.cookie().unwrap();
    let id = id_of(&good);
    let value = good.split_once('=').unwrap().1.to_owned();
    let flip_last = {
        let mut v = value.clone().into_bytes();
        let last = v.last_mut().unwrap();
        *last = if *last == b'A' { b'B' } else { b'A' };
        String::from_utf8(v).unwrap()
    };
    let cases = [
        ("unsigned id", format!("connect.sid={id}")),
        ("s: without signature", format!("connect.sid=s%3A{id}")),
        ("tampered signature", format!("connect.sid={flip_last}")),
        (
            "tampered id",
            format!("connect.sid={}", value.replacen(&id[..4], "AAAA", 1)),
        ),
        ("empty", "connect.sid=".to_owned()),
        ("garbage", "connect.sid=%ZZ%%".to_owned()),
        ("signed by another secret", {
            let other = SessionLayer::builder()
                .secret("another app's secret, also 32+ bytes")
                .build()
                .unwrap();
            get_with(&app_of(other), "/views", None)
                .await
                .cookie()
                .unwrap()
        }),
    ];
    for (name, cookie) in cases {
        let gets = store.counts()[0];
        let reply = get_with(&app, "/views", Some(&cookie)).await;
        assert_eq!(reply.status, 200, "{name}");
        assert_eq!(reply.body, "1", "{name}: a fresh session");
        assert_ne!(reply.cookie_id().unwrap(), id, "{name}");
        assert_eq!(store.counts()[0], gets, "{name}: the store was not asked");
    }
}

fn app_of(layer: SessionLayer) -> axum::Router {
    app(layer)
}

#[tokio::test]
async fn a_signed_but_unknown_id_is_never_adopted() {
    // Signed with our secret (say, a session the store has since lost): still a new id.
    let store = MemoryStore::new();
    let app = app(layer_with(store.clone(), |b| {
        b.genid(|_| "chosen-by-client".to_owned())
            .save_uninitialized(true)
    }));
    let forged = get_with(&app, "/id", None).await.cookie().unwrap();
    store.clear().await.unwrap();
    let fresh = app_with_default_ids(store.clone());
    let reply = get_with(&fresh, "/id", Some(&forged)).await;
    assert_ne!(reply.body, "chosen-by-client");
    assert_eq!(reply.cookie_id().as_deref(), Some(reply.body.as_str()));
}

fn app_with_default_ids(store: MemoryStore) -> axum::Router {
    app(layer_with(store, |b| b.save_uninitialized(true)))
}

#[tokio::test]
async fn expired_sessions_are_gone() {
    let store = MemoryStore::new();
    let app = app(layer_with(store.clone(), |b| {
        b.cookie(CookieOptions::new().max_age(Duration::from_millis(1000)))
    }));
    let first = get_with(&app, "/views", None).await;
    let cookie = first.cookie().unwrap();
    assert_eq!(get_with(&app, "/views", Some(&cookie)).await.body, "2");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = get_with(&app, "/views", Some(&cookie)).await;
    assert_eq!(reply.body, "1", "expired: a fresh session");
    assert_ne!(reply.cookie_id(), first.cookie_id(), "under a new id");
    assert_eq!(store.get(&first.cookie_id().unwrap()).await.unwrap(), None);
}

#[tokio::test]
async fn secret_rotation_keeps_sessions() {
    let store = MemoryStore::new();
    let old = app(layer_with(store.clone(), |b| {
        b.secrets(["the old secret, 32 bytes or more..."])
    }));
    let cookie = get_with(&old, "/views", None).await.cookie().unwrap();

    let rotated = app(layer_with(store.clone(), |b| {
        b.secrets([
            "the new secret, 32 bytes or more...",
            "the old secret, 32 bytes or more...",
        ])
        .rolling(true)
    }));
    let reply = get_with(&rotated, "/views", Some(&cookie)).await;
    assert_eq!(reply.body, "2", "old signature still accepted");
    let resigned = reply.cookie().unwrap();
    assert_ne!(resigned, cookie, "re-signed with the new secret");
    assert_eq!(id_of(&resigned), id_of(&cookie));

    let new_only = app(layer_with(store.clone(), |b| {
        b.secrets(["the new secret, 32 bytes or more..."])
    }));
    assert_eq!(
        get_with(&new_only, "/views", Some(&resigned)).await.body,
        "3"
    );
    assert_eq!(
        get_with(&new_only, "/views", Some(&cookie)).await.body,
        "1",
        "old secret retired"
    );
}

#[tokio::test]
async fn cookie_value_is_express_compatible() {
    let reply = get_with(&app(layer_with(MemoryStore::new(), |b| b)), "/views", None).await;
    let value = reply.cookie().unwrap();
    assert!(value.starts_with("connect.sid=s%3A"), "{value}");
    let id = reply.cookie_id().unwrap();
    assert_eq!(id.len(), 32);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
}

#[tokio::test]
async fn a_non_ascii_cookie_beside_it_does_not_hide_the_session() {
    // Browsers send all of a site's cookies in one line; another app's cookie may hold UTF-8.
    let app = app(layer_with(MemoryStore::new(), |b| b));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let headers = [
        format!("name=José; {cookie}"),
        format!("{cookie}; name=José"),
        format!("caf\u{e9}=1; {cookie}; theme=dark"),
    ];
    for (n, header) in headers.iter().enumerate() {
        let reply = get_with(&app, "/views", Some(header)).await;
        assert_eq!(reply.status, 200, "{header}");
        assert_eq!(reply.body, (n + 2).to_string(), "{header}: same session");
    }
}

#[tokio::test]
async fn a_session_over_the_size_limit_is_not_saved_and_the_stored_one_stays() {
    let store = MemoryStore::new();
    let app = app_with_limit(store.clone(), 300);
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let id = id_of(&cookie);
    let before = store.get(&id).await.unwrap().unwrap();

    // The end-of-request save: a 500, no cookie, nothing written.
    let long = "x".repeat(400);
    let reply = get_with(&app, &format!("/name/{long}"), Some(&cookie)).await;
    assert_eq!(reply.status, 500);
    assert!(reply.set_cookies.is_empty());
    assert_eq!(store.get(&id).await.unwrap().unwrap().fields, before.fields);
    assert_eq!(get_with(&app, "/whoami", Some(&cookie)).await.body, ":1");

    // An explicit save answers the error to the handler.
    let saving = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|mut s: Session| async move {
                s.set_name(Some("y".repeat(400)));
                match s.save().await {
                    Err(sessionly::SessionError::TooLarge { size, limit }) => {
                        s.set_name(None);
                        format!("refused {size} > {limit}")
                    }
                    other => format!("{other:?}"),
                }
            }),
        )
        .layer(layer_with(store.clone(), |b| b.max_session_size(300)));
    let reply = get_with(&saving, "/", Some(&cookie)).await;
    assert!(reply.body.starts_with("refused "), "{}", reply.body);
    assert!(reply.body.ends_with("> 300"), "{}", reply.body);
    // (The handler then cleared the name, which the end of the request saved.)
    assert_eq!(get_with(&app, "/whoami", Some(&cookie)).await.body, ":1");

    // A stored session over the limit (written under a larger one) is not loaded: the request
    // gets a new session.
    let generous = app_with_limit(store.clone(), 10_000);
    let big = get_with(&generous, &format!("/name/{long}"), None).await;
    let big_cookie = big.cookie().unwrap();
    assert_eq!(
        get_with(&generous, "/whoami", Some(&big_cookie)).await.body,
        format!("{long}:0")
    );
    let reply = get_with(&app, "/whoami", Some(&big_cookie)).await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, ":0"));
}

fn app_with_limit(store: MemoryStore, limit: usize) -> axum::Router {
    app(layer_with(store, |b| b.max_session_size(limit)))
}
