//! Where express-session 1.19 and this crate answered differently for the same requests, now
//! answered as express does (found by running the same request sequences against both).

use crate::common;

use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use common::*;
use sessionly::{CookieOptions, MemoryStore, SessionLayer};

/// 2100-01-01T00:00:00Z.
const Y2100: Duration = Duration::from_secs(4_102_444_800);

#[tokio::test]
async fn a_fixed_expires_date_is_sent_as_configured() {
    // express: `Expires=Fri, 01 Jan 2100 00:00:00 GMT`; the time left was once rounded apart
    // from now, which sent 23:59:59 the day before.
    for _ in 0..20 {
        let app = app(layer_with(MemoryStore::new(), |b| {
            b.cookie(CookieOptions::new().expires(UNIX_EPOCH + Y2100))
        }));
        let reply = get_with(&app, "/views", None).await;
        assert_eq!(
            reply.attr("Expires").as_deref(),
            Some("Fri, 01 Jan 2100 00:00:00 GMT")
        );
    }
}

#[tokio::test]
async fn an_expiry_in_the_past_is_sent_as_that_date() {
    // The `expires` option in the past: express sends that date (the session has ended).
    let past = UNIX_EPOCH + Duration::from_secs(946_684_800); // 2000-01-01
    let app = app(layer_with(MemoryStore::new(), |b| {
        b.cookie(CookieOptions::new().expires(past))
    }));
    let reply = get_with(&app, "/views", None).await;
    assert_eq!(
        reply.attr("Expires").as_deref(),
        Some("Sat, 01 Jan 2000 00:00:00 GMT")
    );

    // A handler that sets the session's expiry to the epoch.
    let layer = layer_with(MemoryStore::new(), |b| {
        b.cookie(CookieOptions::new().max_age(Duration::from_secs(3600)))
    });
    let app = Router::new()
        .route(
            "/end",
            get(|mut s: Session| async move {
                *s.views_mut() += 1;
                s.set_expires(Some(UNIX_EPOCH));
            }),
        )
        .layer(layer);
    let reply = get_with(&app, "/end", None).await;
    assert_eq!(
        reply.attr("Expires").as_deref(),
        Some("Thu, 01 Jan 1970 00:00:00 GMT")
    );
}

#[tokio::test]
async fn an_id_with_a_bare_percent_sign_is_kept_as_express_keeps_it() {
    // A custom genid whose ids have a `%` not followed by two hex digits. express's cookie
    // parser keeps a value it cannot percent-decode as it is, so such a cookie sent unencoded
    // still opens the session.
    let layer = SessionLayer::builder()
        .secret(SECRET)
        .store(MemoryStore::new())
        .genid(|_| format!("100%-{}", sessionly::generate_id()))
        .build()
        .unwrap();
    let app = app(layer);
    let first = get_with(&app, "/views", None).await;
    let encoded = first.cookie().unwrap();
    assert!(encoded.contains("100%25-"), "{encoded}");
    assert_eq!(get_with(&app, "/views", Some(&encoded)).await.body, "2");
    // The value unencoded, as another client may send it (the MAC's `+` and `/` included).
    let raw = encoded
        .replace("s%3A", "s:")
        .replace("%25", "%")
        .replace("%2B", "+")
        .replace("%2F", "/");
    assert!(raw.contains("s:100%-"), "{raw}");
    assert_eq!(
        get_with(&app, "/views", Some(&raw)).await.body,
        "3",
        "the same session"
    );
}
