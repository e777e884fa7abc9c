//! `CookieStore`: the whole session in an encrypted cookie, over HTTP through the layer. The
//! session travels with the cookie (a second server with the same secret continues it), the
//! cookie hides and authenticates it, secrets rotate, expiry is enforced from inside the
//! cookie, a session too large for a cookie is an error that keeps the client's cookie, and
//! what destroy, regenerate, cycle_id and the owner index can and cannot do without a server-side store.

use crate::common;

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use common::*;
use sessionly::{CookieOptions, CookieStore, MAX_COOKIE_LEN, SessionError, SessionLayerBuilder};

/// The secrets of these tests: a cookie store's are encryption keys, of 32 bytes or more.
const S3CRET: &str = "s3cret, and thirty-two bytes long";
const K: &str = "k, padded to the thirty-two bytes";

/// The common test app on a cookie store, with `secrets` and any other options.
fn cookie_app(
    secrets: &[&str],
    configure: impl FnOnce(SessionLayerBuilder) -> SessionLayerBuilder,
) -> Router {
    cookie_app_on(CookieStore::new(), secrets, configure)
}

fn cookie_app_on(
    store: CookieStore,
    secrets: &[&str],
    configure: impl FnOnce(SessionLayerBuilder) -> SessionLayerBuilder,
) -> Router {
    app(layer_with(store, |b| configure(b.secrets(secrets))))
}

/// The value of a `name=value` cookie pair.
fn value(cookie: &str) -> &str {
    cookie.split_once('=').map_or("", |(_, value)| value)
}

#[tokio::test]
async fn the_session_lives_in_the_cookie() {
    let one = cookie_app(&[S3CRET], |b| b);
    let first = get_with(&one, "/views", None).await;
    assert_eq!(first.body, "1");
    let c1 = first.cookie().expect("a cookie");
    let second = get_with(&one, "/views", Some(&c1)).await;
    assert_eq!(second.body, "2");
    let c2 = second
        .cookie()
        .expect("a changed session goes out in a new cookie");
    assert_ne!(c1, c2);

    // Another server (a new layer and store, nothing shared but the secret) continues it.
    let other = cookie_app(&[S3CRET], |b| b);
    assert_eq!(get_with(&other, "/views", Some(&c2)).await.body, "3");

    // `reload` goes back to what the request's cookie held.
    assert_eq!(get_with(&one, "/reload", Some(&c2)).await.body, "2");

    // A request that changes nothing sends no cookie: the one the client has is current.
    let read = get_with(&one, "/read", Some(&c2)).await;
    assert_eq!(read.body, "2");
    assert!(read.set_cookie().is_none(), "{:?}", read.set_cookies);

    // The cookie hides what it holds.
    let named = get_with(&one, "/name/plaintextmarker", Some(&c2)).await;
    let c3 = named.cookie().unwrap();
    assert!(!c3.contains("plaintextmarker"), "{c3}");
    assert!(!c3.contains("cGxhaW50ZXh0bWFya2Vy"), "{c3}");
    assert!(named.has_attr("HttpOnly"));
    assert_eq!(
        get_with(&other, "/whoami", Some(&c3)).await.body,
        "plaintextmarker:2"
    );
}

#[tokio::test]
async fn a_tampered_or_foreign_cookie_is_a_fresh_session() {
    let app = cookie_app(&[S3CRET], |b| b);
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let cookie = get_with(&app, "/views", Some(&cookie))
        .await
        .cookie()
        .unwrap();
    let mut foreign = vec![];
    // Each byte of the value changed in turn (a sample across nonce, ciphertext and tag).
    let value = value(&cookie);
    for at in (0..value.len()).step_by(value.len() / 16) {
        let mut bytes = value.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        foreign.push(format!("connect.sid={}", String::from_utf8(bytes).unwrap()));
    }
    foreign.push(format!("connect.sid={}", &value[..value.len() - 4]));
    // Sealed with the same secret for a cookie of another name.
    let renamed = cookie_app(&[S3CRET], |b| b.name("other.sid"));
    let reply = get_with(&renamed, "/views", None).await;
    let other = reply.set_cookie_named("other.sid").unwrap();
    let other = other.split(';').next().unwrap();
    foreign.push(format!("connect.sid={}", value_of(other)));
    // A signed id from a server-side store with the same secret.
    let signed = app_with_store(S3CRET);
    foreign.push(get_with(&signed, "/views", None).await.cookie().unwrap());
    for cookie in foreign {
        let reply = get_with(&app, "/views", Some(&cookie)).await;
        assert_eq!(
            (reply.status.as_u16(), reply.body.as_str()),
            (200, "1"),
            "{cookie}"
        );
    }
}

fn value_of(pair: &str) -> &str {
    value(pair)
}

/// The common app on a memory store.
fn app_with_store(secret: &str) -> Router {
    app(layer_with(sessionly::MemoryStore::new(), |b| {
        b.secrets([secret])
    }))
}

#[tokio::test]
async fn secrets_rotate() {
    let before = cookie_app(&["the old key, thirty-two bytes long"], |b| b);
    let old = get_with(&before, "/views", None).await.cookie().unwrap();
    // The new secret first, the old one kept: old cookies open, new ones are sealed anew.
    let rotating = cookie_app(
        &[
            "the new key, thirty-two bytes long",
            "the old key, thirty-two bytes long",
        ],
        |b| b,
    );
    let reply = get_with(&rotating, "/views", Some(&old)).await;
    assert_eq!(reply.body, "2");
    let new = reply.cookie().unwrap();
    // Once the old secret is dropped, only the cookies sealed with the new one open.
    let after = cookie_app(&["the new key, thirty-two bytes long"], |b| b);
    assert_eq!(get_with(&after, "/views", Some(&new)).await.body, "3");
    assert_eq!(get_with(&after, "/views", Some(&old)).await.body, "1");
}

#[tokio::test]
async fn expiry_is_enforced_from_inside_the_cookie() {
    // A client that ignores the cookie's `Expires` (or an attacker replaying a copy) cannot
    // extend a session: each of these ends 300 ms after it was sealed.
    let short = Duration::from_millis(300);
    let cases: Vec<(&str, Router)> = vec![
        (
            "max age",
            cookie_app(&[K], |b| b.cookie(CookieOptions::new().max_age(short))),
        ),
        (
            "absolute lifetime",
            cookie_app(&[K], |b| {
                b.cookie(CookieOptions::new().max_age(Duration::from_secs(3600)))
                    .absolute_lifetime(short)
            }),
        ),
        (
            "idle expiry of a browser-session cookie",
            cookie_app_on(CookieStore::new().with_idle_ttl(short), &[K], |b| b),
        ),
    ];
    for (case, app) in cases {
        let sealed = Instant::now();
        let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
        // Within its lifetime (measured from before the request), it opens.
        let reply = get_with(&app, "/read", Some(&cookie)).await;
        if sealed.elapsed() < short {
            assert_eq!(reply.body, "1", "{case}");
        }
        tokio::time::sleep(short * 2 - sealed.elapsed().min(short)).await;
        let reply = get_with(&app, "/views", Some(&cookie)).await;
        assert_eq!(reply.body, "1", "{case}: a new session after its end");
    }
}

#[tokio::test]
async fn a_due_touch_moves_a_browser_session_cookies_idle_expiry() {
    // Idle expiry 1 s: the touch is due once 1 % of it (10 ms) has passed, and re-sends the
    // cookie with its idle expiry moved, so a session in use stays open past its first second.
    let idle = Duration::from_secs(1);
    let app = cookie_app_on(CookieStore::new().with_idle_ttl(idle), &[K], |b| b);
    let mut cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let started = Instant::now();
    while started.elapsed() < idle * 2 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let reply = get_with(&app, "/read", Some(&cookie)).await;
        assert_eq!(reply.body, "1", "after {:?}", started.elapsed());
        cookie = reply.cookie().expect("a due touch re-sends the cookie");
    }
}

#[tokio::test]
async fn a_session_too_large_for_a_cookie_is_an_error_and_the_client_keeps_its_cookie() {
    let app = cookie_app(&[K], |b| b);
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    // A name that fits, and one that cannot (after encryption and base64, 3,100 bytes of data
    // are over 4,096).
    let fits = "n".repeat(2_800);
    let reply = get_with(&app, &format!("/name/{fits}"), Some(&cookie)).await;
    assert_eq!(reply.status, 200);
    let big = reply.cookie().unwrap();
    assert!(big.len() <= MAX_COOKIE_LEN, "{}", big.len());
    let too_big = "n".repeat(3_100);
    let reply = get_with(&app, &format!("/name/{too_big}"), Some(&cookie)).await;
    assert_eq!(reply.status, 500);
    assert!(reply.set_cookie().is_none(), "never a truncated cookie");
    // The client's cookie still holds its session.
    assert_eq!(get_with(&app, "/views", Some(&cookie)).await.body, "2");

    // An explicit save reports it to the handler first.
    let app = Router::new()
        .route(
            "/big",
            get(|mut s: Session| async move {
                s.set_name(Some("n".repeat(3_100)));
                match s.save().await {
                    Err(SessionError::CookieTooLarge { size, limit }) => {
                        s.set_name(None);
                        format!("{size}>{limit}")
                    }
                    other => format!("{other:?}"),
                }
            }),
        )
        .layer(layer_with(CookieStore::new(), |b| b));
    let reply = get_with(&app, "/big", None).await;
    let (size, limit) = reply.body.split_once('>').expect(&reply.body);
    assert!(size.parse::<usize>().unwrap() > MAX_COOKIE_LEN);
    assert_eq!(limit.parse::<usize>().unwrap(), MAX_COOKIE_LEN);
}

#[tokio::test]
async fn destroy_regenerate_and_cycle_id_act_only_in_the_browser() {
    let app = cookie_app(&[K], |b| b);
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let cookie = get_with(&app, "/views", Some(&cookie))
        .await
        .cookie()
        .unwrap();

    // Destroy clears the browser's cookie...
    let reply = get_with(&app, "/destroy", Some(&cookie)).await;
    assert_eq!(reply.body, "bye");
    let cleared = reply.set_cookie().expect("the cookie is cleared");
    assert!(cleared.starts_with("connect.sid=;"), "{cleared}");
    assert!(cleared.contains("Expires=Thu, 01 Jan 1970"), "{cleared}");
    // ...but a copy kept elsewhere still opens until it expires: nothing on the server knows.
    assert_eq!(get_with(&app, "/views", Some(&cookie)).await.body, "3");

    // Regenerate gives a new id with no data; the old cookie, again, still opens.
    let before = get_with(&app, "/id", Some(&cookie)).await.body;
    let reply = get_with(&app, "/regenerate", Some(&cookie)).await;
    assert_eq!(
        reply.body,
        format!("{before}>{}:0", reply_id(&app, &reply).await)
    );
    assert_eq!(get_with(&app, "/views", Some(&cookie)).await.body, "3");

    // `cycle_id` gives a new id with the data; the response's cookie carries both.
    let before = get_with(&app, "/id", Some(&cookie)).await.body;
    let reply = get_with(&app, "/cycle-id", Some(&cookie)).await;
    let after = reply_id(&app, &reply).await;
    assert_ne!(after, before);
    assert_eq!(reply.body, format!("{before}>{after}:2"));
    let cycled = reply.cookie().unwrap();
    assert_eq!(get_with(&app, "/views", Some(&cycled)).await.body, "3");
}

/// The id the cookie `reply` set holds.
async fn reply_id(app: &Router, reply: &Reply) -> String {
    get_with(app, "/id", Some(&reply.cookie().unwrap()))
        .await
        .body
}

#[tokio::test]
async fn the_owner_index_is_not_available() {
    let app = cookie_app(&[K], |b| b);
    let cookie = get_with(&app, "/signin/ada", None).await.cookie().unwrap();
    for path in ["/logout-others", "/logout-everywhere", "/sessions"] {
        let reply = get_with(&app, path, Some(&cookie)).await;
        assert_eq!(reply.status, 500, "{path}");
        assert!(
            reply.body.contains("does not support"),
            "{path}: {}",
            reply.body
        );
    }
}

/// A cookie sealed by this version, under the secret [`GOLDEN_SECRET`], with a lifetime of 100
/// years and `views` = 41: the format later versions must open (tests/golden/v1/). (The
/// first golden cookie was sealed under a 13-byte secret, which no layer takes any more.)
const GOLDEN: &str = include_str!("../golden/v1/cookie_store.txt");

#[tokio::test]
async fn a_cookie_sealed_by_this_version_still_opens() {
    let app = cookie_app(&[GOLDEN_SECRET], |b| b);
    let cookie = format!("connect.sid={}", GOLDEN.trim());
    assert_eq!(get_with(&app, "/views", Some(&cookie)).await.body, "42");
}

const GOLDEN_SECRET: &str = "golden secret, thirty-two bytes long";

/// Makes the golden cookie: `GOLDEN_OUT=path cargo test ... make_the_golden_cookie -- --ignored`.
#[tokio::test]
#[ignore = "writes tests/golden/v1/cookie_store.txt when asked"]
async fn make_the_golden_cookie() {
    let century = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    let app = cookie_app(&[GOLDEN_SECRET], |b| {
        b.cookie(CookieOptions::new().max_age(century))
    });
    let mut cookie = None;
    for _ in 0..41 {
        let reply = get_with(&app, "/views", cookie.as_deref()).await;
        cookie = reply.cookie().or(cookie);
    }
    let cookie = cookie.expect("a cookie");
    let path = std::env::var("GOLDEN_OUT").expect("GOLDEN_OUT names the file to write");
    std::fs::write(path, format!("{}\n", value(&cookie))).expect("written");
}

#[tokio::test]
async fn a_cookie_session_outside_a_request_cannot_save_or_reload() {
    // A session with no response to follow (a detached one, or the testing kit's) has no
    // cookie to go to: saving it must not answer `Ok` and keep nothing.
    let layer = layer_with(CookieStore::new(), |b| b);
    let mut session = sessionly::testing::Sessions::new(&layer).session(Visit {
        views: 1,
        name: None,
        notice: None,
        cart: Vec::new(),
        user: None,
    });
    *session.views_mut() += 1;
    let unsupported = |result: Result<(), SessionError>| {
        matches!(result, Err(SessionError::Store(error))
            if matches!(*error, sessionly::StoreError::Unsupported { .. }))
    };
    let saved = session.save().await;
    assert!(unsupported(saved.clone()), "save: {saved:?}");
    let reloaded = session.reload().await;
    assert!(unsupported(reloaded.clone()), "reload: {reloaded:?}");
}
