//! The Session API on the extractor: id, regenerate, destroy, reload, save, touch, cookie
//! lifetime, flash fields and exact modification.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use sessionly::cookie::Secure;
use sessionly::store::{Listing, Store};
use sessionly::{Codec, CookieOptions, MemoryStore, Postcard};

const MINUTE: Duration = Duration::from_secs(60);

async fn stored_views(store: &MemoryStore, id: &str) -> Option<u64> {
    let record = store.get(id).await.unwrap()?;
    Some(
        record
            .fields
            .get("views")
            .map_or(0, |b| Postcard::decode(b).unwrap()),
    )
}

#[tokio::test]
async fn id_is_the_cookie_id() {
    let app = app(layer_with(MemoryStore::new(), |b| {
        b.save_uninitialized(true)
    }));
    let reply = get_with(&app, "/id", None).await;
    assert_eq!(reply.cookie_id().as_deref(), Some(reply.body.as_str()));
    assert_eq!(reply.body.len(), 32);
}

#[tokio::test]
async fn regenerate_replaces_id_and_data() {
    let store = MemoryStore::new();
    let app = app(layer_with(store.clone(), |b| b.save_uninitialized(false)));
    let first = get_with(&app, "/views", None).await;
    let cookie = first.cookie().unwrap();
    let old_id = first.cookie_id().unwrap();

    let reply = get_with(&app, "/regenerate", Some(&cookie)).await;
    let (before, after) = reply.body.split_once('>').unwrap();
    assert_eq!(before, old_id);
    let (new_id, views) = after.split_once(':').unwrap();
    assert_ne!(new_id, old_id);
    assert_eq!(views, "0", "a regenerated session starts empty");
    assert_eq!(reply.cookie_id().as_deref(), Some(new_id), "new id sent");
    assert_eq!(
        stored_views(&store, &old_id).await,
        None,
        "old session deleted"
    );
    assert!(
        store.get(new_id).await.unwrap().is_some(),
        "new session saved"
    );

    let old_again = get_with(&app, "/id", Some(&cookie)).await;
    assert_ne!(old_again.body, old_id, "the old id is not adopted again");
}

#[tokio::test]
async fn login_regenerates_then_writes() {
    let store = MemoryStore::new();
    let app = app(layer_with(store.clone(), |b| b.save_uninitialized(false)));
    let anonymous = get_with(&app, "/views", None).await.cookie().unwrap();
    let login = get_with(&app, "/login/ada", Some(&anonymous)).await;
    let cookie = login.cookie().unwrap();
    assert_ne!(cookie, anonymous);
    assert_eq!(get_with(&app, "/whoami", Some(&cookie)).await.body, "ada:0");
    assert_eq!(store.length().await.unwrap(), 1);
}

#[tokio::test]
async fn destroy_deletes_and_clears_the_cookie() {
    let store = MemoryStore::new();
    let app = app(layer_with(store.clone(), |b| b.save_uninitialized(false)));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let reply = get_with(&app, "/destroy", Some(&cookie)).await;
    assert_eq!(reply.body, "bye");
    assert_eq!(store.length().await.unwrap(), 0);
    let cleared = reply.set_cookie().unwrap();
    assert!(
        cleared.contains("Expires=Thu, 01 Jan 1970 00:00:00 GMT"),
        "{cleared}"
    );
    let after = get_with(&app, "/read", Some(&cookie)).await;
    assert_eq!(after.body, "0", "a destroyed session is gone");
}

#[tokio::test]
async fn reload_discards_unsaved_changes() {
    let app = app(layer_with(MemoryStore::new(), |b| b));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    assert_eq!(get_with(&app, "/reload", Some(&cookie)).await.body, "1");
    assert_eq!(get_with(&app, "/read", Some(&cookie)).await.body, "1");
}

#[tokio::test]
async fn reload_of_a_vanished_session_fails() {
    let store = MemoryStore::new();
    let app = app(layer_with(store.clone(), |b| b));
    // A session the store does not hold (the cookie's session is gone, so the request gets a
    // new one that was never saved) cannot be reloaded.
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    store.clear().await.unwrap();
    let reply = get_with(&app, "/reload", Some(&cookie)).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.body, "session not found");
}

#[tokio::test]
async fn explicit_save_writes_now_and_prevents_the_end_save() {
    let store = Counting::default();
    let app = app(layer_with(store.clone(), |b| b.resave(false)));
    let reply = get_with(&app, "/save", None).await;
    assert_eq!(reply.body, "1");
    assert_eq!(store.counts()[1], 1, "one write: the explicit save");
    assert!(reply.cookie().is_some());
    let cookie = reply.cookie().unwrap();
    assert_eq!(get_with(&app, "/save", Some(&cookie)).await.body, "2");
    assert_eq!(store.counts()[1], 2);
}

#[tokio::test]
async fn explicit_save_of_an_uninitialized_session_sends_its_cookie() {
    let store = MemoryStore::new();
    let app = app(layer_with(store.clone(), |b| b.save_uninitialized(false)));
    let reply = get_with(&app, "/save-only", None).await;
    assert_eq!(store.length().await.unwrap(), 1);
    assert!(
        reply.cookie().is_some(),
        "a stored session's id reaches the client"
    );
}

#[tokio::test]
async fn touch_and_max_age_arithmetic() {
    // Bounds from the times this test observed around each request, not fixed slack: the time
    // left is 60 s minus what passed between the save and the read, give or take 2 ms of
    // rounding (the expiry is kept in whole ms, and the time left is read in whole ms).
    let app = app(layer_with(MemoryStore::new(), |b| {
        b.cookie(CookieOptions::new().max_age(MINUTE))
    }));
    let ms = |d: Duration| d.as_millis() as u64;
    let saved_from = Instant::now();
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let saved_by = Instant::now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let read_from = Instant::now();
    let reply = get_with(&app, "/max-age", Some(&cookie)).await;
    let read_by = Instant::now();
    let (left, original) = reply.body.split_once(' ').unwrap();
    let (left, original): (u64, u64) = (left.parse().unwrap(), original.parse().unwrap());
    assert_eq!(original, 60_000);
    let (least, most) = (
        60_000 - ms(read_by - saved_from) - 2,
        60_000 - ms(read_from - saved_by) + 2,
    );
    assert!(
        (least..=most).contains(&left) && left < 59_000,
        "time has passed since the last save: {left}, expected {least}..={most}"
    );
    let touched_from = Instant::now();
    assert_eq!(
        get_with(&app, "/touch", Some(&cookie)).await.body,
        "touched"
    );
    let after_touch = get_with(&app, "/max-age", Some(&cookie)).await;
    let read_by = Instant::now();
    let left: u64 = after_touch.body.split(' ').next().unwrap().parse().unwrap();
    let least = 60_000 - ms(read_by - touched_from) - 2;
    assert!(
        left >= least,
        "touch restarted the countdown: {left}, at least {least}"
    );
}

#[tokio::test]
async fn remember_me_sets_a_lifetime_for_one_session() {
    let store = MemoryStore::new();
    let app = app(layer_with(store.clone(), |b| b.resave(false)));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let reply = get_with(&app, "/remember", Some(&cookie)).await;
    let expires =
        httpdate::parse_http_date(&reply.attr("Expires").expect("cookie resent")).unwrap();
    let days = expires
        .duration_since(std::time::SystemTime::now())
        .unwrap()
        .as_secs()
        / 86_400;
    assert_eq!(days, 29);
    let id = reply.cookie_id().unwrap();
    let record = store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        record.cookie.original_max_age(),
        Some(Duration::from_secs(30 * 86_400))
    );
    let later = get_with(&app, "/max-age", Some(&cookie)).await;
    assert!(later.body.ends_with(" 2592000000"), "{}", later.body);

    let forget = get_with(&app, "/forget", Some(&cookie)).await;
    assert!(
        forget.set_cookie().is_some(),
        "back to a browser-session cookie"
    );
    assert_eq!(forget.attr("Expires"), None);
    assert_eq!(
        get_with(&app, "/max-age", Some(&cookie)).await.body,
        "none none"
    );
}

/// A lifetime set to what it already is changes nothing: no save, no cookie resent (express
/// sends nothing there either).
#[tokio::test]
async fn a_lifetime_set_to_what_it_is_is_not_a_change() {
    let store = Counting::default();
    let app = app(layer_with(store.clone(), |b| b));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    // Each route sets a lifetime twice: the first time (from a browser-session cookie, or
    // from the 30 days the first `/remember` gave) changes it, the second does not.
    for (route, changes) in [
        ("/forget", false),
        ("/remember", true),
        ("/remember", false),
        ("/remember-me", true),
        ("/remember-me", false),
        ("/forget", true),
        ("/forget", false),
    ] {
        let sets = store.counts()[1];
        let reply = get_with(&app, route, Some(&cookie)).await;
        assert_eq!(reply.status, 200, "{route}");
        assert_eq!(
            reply.set_cookie().is_some(),
            changes,
            "{route}: cookie resent"
        );
        assert_eq!(
            store.counts()[1] - sets,
            usize::from(changes),
            "{route}: saved"
        );
    }
}

#[tokio::test]
async fn set_expires_fixes_the_expiry() {
    let app = app(layer_with(MemoryStore::new(), |b| b));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let reply = get_with(&app, "/expires-in/3600", Some(&cookie)).await;
    assert!(reply.attr("Expires").is_some());
    let after = get_with(&app, "/max-age", Some(&cookie)).await;
    let original: u64 = after.body.split(' ').nth(1).unwrap().parse().unwrap();
    assert!((3_599_000..=3_600_000).contains(&original), "{original}");
}

#[tokio::test]
async fn flash_is_read_once() {
    let app = app(layer_with(MemoryStore::new(), |b| b));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let posted = send_request(&app, request("POST", "/flash/saved", Some(&cookie))).await;
    assert_eq!(posted.body, "ok");
    assert_eq!(get_with(&app, "/flash", Some(&cookie)).await.body, "saved");
    assert_eq!(get_with(&app, "/flash", Some(&cookie)).await.body, "");
}

#[tokio::test]
async fn uninitialized_means_nothing_written() {
    // A new session whose fields were only read, or borrowed and left equal, or taken while
    // empty, is uninitialized: with saveUninitialized=false nothing is stored and no cookie sent.
    for route in ["/read", "/borrow", "/flash", "/id", "/none"] {
        let store = MemoryStore::new();
        let app = app(layer_with(store.clone(), |b| b.save_uninitialized(false)));
        let reply = get_with(&app, route, None).await;
        assert_eq!(reply.status, 200, "{route}");
        assert_eq!(reply.set_cookie(), None, "{route}");
        assert_eq!(store.length().await.unwrap(), 0, "{route}");
    }
}

#[tokio::test]
async fn only_changed_fields_are_written() {
    let store = MemoryStore::new();
    let app = app(layer_with(store.clone(), |b| b.resave(false)));
    let first = get_with(&app, "/name/ada", None).await;
    let id = first.cookie_id().unwrap();
    let record = store.get(&id).await.unwrap().unwrap();
    let names: Vec<_> = record.fields.keys().cloned().collect();
    assert_eq!(names, ["name"], "untouched fields are not stored");
    get_with(&app, "/cart/7", Some(&first.cookie().unwrap())).await;
    let record = store.get(&id).await.unwrap().unwrap();
    let names: Vec<_> = record.fields.keys().cloned().collect();
    assert_eq!(names, ["cart", "name"]);
}

#[tokio::test]
async fn a_5xx_response_saves_nothing_unless_asked() {
    for (save_on_error, saved) in [(false, false), (true, true)] {
        let store = MemoryStore::new();
        let app = app(layer_with(store.clone(), |b| {
            b.save_on_error(save_on_error)
        }));
        let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
        let reply = get_with(&app, "/fail", Some(&cookie)).await;
        assert_eq!(reply.status, 500);
        let views = get_with(&app, "/read", Some(&cookie)).await.body;
        assert_eq!(
            views == "2",
            saved,
            "save_on_error={save_on_error}: {views}"
        );
        let fresh = get_with(&app, "/fail", None).await;
        assert_eq!(
            fresh.set_cookie().is_some(),
            saved,
            "save_on_error={save_on_error}"
        );
    }
}

#[tokio::test]
async fn responses_that_set_the_cookie_are_kept_out_of_shared_caches() {
    let app = app(layer_with(MemoryStore::new(), |b| b));
    let request = request("GET", "/views", None);
    let response = tower::ServiceExt::oneshot(app.clone(), request)
        .await
        .unwrap();
    let header = |name| {
        response
            .headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(header(http::header::VARY), ["Cookie"]);
    assert_eq!(
        header(http::header::CACHE_CONTROL),
        ["no-cache=\"Set-Cookie\""]
    );
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let without = tower::ServiceExt::oneshot(app, common::request("GET", "/read", Some(&cookie)))
        .await
        .unwrap();
    assert!(without.headers().get(http::header::SET_COOKIE).is_none());
    assert!(
        without.headers().get(http::header::VARY).is_none(),
        "only when a cookie is set"
    );
}

/// A `Secure` cookie on a plain connection is withheld (express's rule), and the session it
/// would carry is not stored, since no request could ever come back with it. The first time
/// one layer withholds it, it says so at WARN, naming the fixes; after that at DEBUG only.
#[tokio::test]
async fn a_secure_cookie_withheld_on_plain_http_stores_nothing_and_warns_once() {
    let (logs, _logging) = capture_logs(tracing_subscriber::filter::LevelFilter::WARN);
    let store = MemoryStore::new();
    let secure = |b: sessionly::SessionLayerBuilder| {
        b.cookie(CookieOptions::new().secure(Secure::Always))
            .proxy(true)
    };
    let app = app(layer_with(store.clone(), secure));
    for _ in 0..3 {
        let reply = get_with(&app, "/views", None).await;
        assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "1"));
        assert_eq!(reply.set_cookie(), None);
    }
    assert_eq!(store.length().await.unwrap(), 0, "no orphan sessions");
    let warnings = logs.text();
    assert_eq!(
        warnings.matches("was not sent").count(),
        1,
        "one warning for three withheld cookies: {warnings}"
    );
    for fix in ["proxy(true)", "AppSecure", "DirectTls", "Secure::Auto"] {
        assert!(
            warnings.contains(fix),
            "the warning names {fix}: {warnings}"
        );
    }

    // Over HTTPS (here behind the trusted proxy) the cookie goes out and the session is stored.
    let request = http::Request::get("/views")
        .header("x-forwarded-proto", "https")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(app.clone(), request)
        .await
        .unwrap();
    assert!(response.headers().get(http::header::SET_COOKIE).is_some());
    assert_eq!(store.length().await.unwrap(), 1);
    assert_eq!(logs.text().matches("was not sent").count(), 1);
}

#[tokio::test]
async fn schema_evolution_keeps_the_rest_of_the_session() {
    let store = MemoryStore::new();
    let app = app(layer_with(store.clone(), |b| b.resave(false)));
    let first = get_with(&app, "/views", None).await;
    let (cookie, id) = (first.cookie().unwrap(), first.cookie_id().unwrap());

    // An older or newer version of the app left a field this struct does not have, and a
    // `name` whose bytes no longer decode as `Option<String>`.
    let mut record = store.get(&id).await.unwrap().unwrap();
    record
        .fields
        .insert("legacy".into(), bytes::Bytes::from_static(b"kept"));
    record
        .fields
        .insert("name".into(), bytes::Bytes::from_static(&[7, 0xff]));
    store
        .set(&id, &record, sessionly::store::Changed::All)
        .await
        .unwrap();

    assert_eq!(
        get_with(&app, "/whoami", Some(&cookie)).await.body,
        ":1",
        "name reset, views kept"
    );
    assert_eq!(get_with(&app, "/views", Some(&cookie)).await.body, "2");
    let record = store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        record.fields["legacy"].as_ref(),
        b"kept",
        "unknown fields survive writes"
    );
}

/// A field type that counts how often it is decoded.
#[derive(Debug, Default, PartialEq, serde::Serialize)]
struct Counted(Vec<u32>);

static DECODED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl<'de> serde::Deserialize<'de> for Counted {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DECODED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Vec::<u32>::deserialize(deserializer).map(Counted)
    }
}

#[derive(sessionly::SessionData)]
struct WithCart {
    views: u64,
    cart: Counted,
}

#[tokio::test]
async fn a_field_no_handler_reads_is_neither_decoded_nor_rewritten() {
    use axum::routing::get;
    use sessionly::TypedSession;
    let decoded = || DECODED.load(std::sync::atomic::Ordering::SeqCst);
    let store = MemoryStore::new();
    let app = axum::Router::new()
        .route(
            "/fill",
            get(|mut s: TypedSession<WithCart>| async move {
                s.set_cart(Counted(vec![1, 2, 3]));
                "ok"
            }),
        )
        .route(
            "/incr",
            get(|mut s: TypedSession<WithCart>| async move {
                *s.views_mut() += 1;
                s.views().to_string()
            }),
        )
        .route(
            "/cart",
            get(|s: TypedSession<WithCart>| async move { s.cart().0.len().to_string() }),
        )
        .route(
            "/replace",
            get(|mut s: TypedSession<WithCart>| async move {
                s.set_cart(Counted(vec![9]));
                "ok"
            }),
        )
        .layer(layer_with(store.clone(), |b| b));

    let filled = get_with(&app, "/fill", None).await;
    let (cookie, id) = (filled.cookie().unwrap(), filled.cookie_id().unwrap());
    let stored_cart = || async { store.get(&id).await.unwrap().unwrap().fields["cart"].clone() };
    let before = stored_cart().await;
    for expected in ["1", "2"] {
        assert_eq!(get_with(&app, "/incr", Some(&cookie)).await.body, expected);
    }
    assert_eq!(decoded(), 0, "the cart was never read");
    assert_eq!(stored_cart().await, before, "and is stored as it was");
    assert_eq!(get_with(&app, "/cart", Some(&cookie)).await.body, "3");
    assert_eq!(decoded(), 1, "read once, decoded once");
    get_with(&app, "/replace", Some(&cookie)).await;
    assert_eq!(decoded(), 1, "replacing a field does not decode it");
    assert_eq!(get_with(&app, "/cart", Some(&cookie)).await.body, "1");
}

/// Like [`WithCart`], with a plain cart: decoding it counts nothing, so this schema's test
/// runs beside the counting one.
#[derive(sessionly::SessionData)]
struct WithPlainCart {
    views: u64,
    cart: Vec<u32>,
}

#[tokio::test]
async fn data_sees_earlier_changes_and_changes_after_it_are_saved() {
    use axum::routing::get;
    use sessionly::TypedSession;
    let store = MemoryStore::new();
    let app = axum::Router::new()
        .route(
            "/mixed",
            get(|mut s: TypedSession<WithPlainCart>| async move {
                *s.views_mut() += 1;
                let data = s.data();
                let seen = format!("{} {:?}", data.views, data.cart);
                // After `data()`, the accessors work on the gathered struct.
                s.cart_mut().push(7);
                *s.views_mut() += 10;
                format!("{seen} / {} {:?}", s.views(), s.cart())
            }),
        )
        .layer(layer_with(store.clone(), |b| b));
    let first = get_with(&app, "/mixed", None).await;
    assert_eq!(first.body, "1 [] / 11 [7]");
    let second = get_with(&app, "/mixed", Some(&first.cookie().unwrap())).await;
    assert_eq!(second.body, "12 [7] / 22 [7, 7]");
}
