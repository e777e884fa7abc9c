//! Promises of the README and the docs that no other test held: each of these tests failed when
//! the behaviour it checks was broken on purpose (the breakage is named in each).

use crate::common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::get;
use common::*;
use http::{HeaderValue, Request, header};
use sessionly::cookie::Secure;
use sessionly::store::Store;
use sessionly::{
    CookieOptions, CookieOverrides, DirectTls, MemoryStore, PostgresStore, RedisStore,
    SessionError, SessionLayer, SqliteStore,
};

/// A request to `path` with `cookie`, marked as arriving on a direct TLS connection.
fn over_tls(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = request("GET", path, cookie);
    request.extensions_mut().insert(DirectTls);
    request
}

#[tokio::test]
async fn a_direct_tls_connection_gets_its_secure_cookie() {
    // Broken: `is_secure` ignoring the `DirectTls` extension. With `Secure::Always` such a
    // deployment would then never send its cookie.
    for proxy in [None, Some(false)] {
        let app = app(layer_with(MemoryStore::new(), |b| {
            let b = b.cookie(CookieOptions::new().secure(Secure::Always));
            match proxy {
                Some(trust) => b.proxy(trust),
                None => b,
            }
        }));
        let plain = get_with(&app, "/views", None).await;
        assert_eq!(
            plain.set_cookie(),
            None,
            "proxy {proxy:?}: not over plain http"
        );
        let tls = send_request(&app, over_tls("/views", None)).await;
        assert!(
            tls.has_attr("Secure"),
            "proxy {proxy:?}: {:?}",
            tls.set_cookies
        );
    }
    // `Secure::Auto`: Secure over TLS, not over plain http.
    let app = app(layer_with(MemoryStore::new(), |b| {
        b.cookie(CookieOptions::new().secure(Secure::Auto))
    }));
    assert!(
        send_request(&app, over_tls("/views", None))
            .await
            .has_attr("Secure")
    );
    assert!(!get_with(&app, "/views", None).await.has_attr("Secure"));
}

#[tokio::test]
async fn new_cookie_attributes_are_a_change_that_is_saved_and_resent() {
    // Broken: `set_cookie_overrides` not marking the cookie changed. Then a request that only
    // changes the session's cookie attributes would save nothing and send no cookie.
    let store = MemoryStore::new();
    let layer = layer_with(store.clone(), |b| b);
    let app = Router::new()
        .route(
            "/domain",
            get(|mut s: Session| async move {
                let mut overrides = CookieOverrides::default();
                overrides.domain = Some("example.com".into());
                s.set_cookie_overrides(overrides);
            }),
        )
        .merge(routes())
        .layer(layer);
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let reply = get_with(&app, "/domain", Some(&cookie)).await;
    assert_eq!(
        reply.attr("Domain").as_deref(),
        Some("example.com"),
        "resent"
    );
    let stored = store.get(&id_of(&cookie)).await.unwrap().unwrap();
    assert_eq!(
        stored.cookie.overrides.domain.as_deref(),
        Some("example.com"),
        "saved"
    );
}

#[tokio::test]
async fn touch_restarts_the_countdown_when_called() {
    // Broken: `TypedSession::touch` as a no-op. The end-of-request touch restarts the countdown
    // too, so only what the handler reads right after calling it tells them apart.
    let layer = layer_with(MemoryStore::new(), |b| {
        b.cookie(CookieOptions::new().max_age(Duration::from_secs(10)))
    });
    let app = Router::new()
        .route(
            "/touch-now",
            get(|mut s: Session| async move {
                let before = s.max_age().unwrap();
                s.touch();
                let after = s.max_age().unwrap();
                format!("{} {}", before.as_millis(), after.as_millis())
            }),
        )
        .merge(routes())
        .layer(layer);
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let body = get_with(&app, "/touch-now", Some(&cookie)).await.body;
    let (before, after) = body.split_once(' ').unwrap();
    let (before, after): (u64, u64) = (before.parse().unwrap(), after.parse().unwrap());
    assert!(
        before <= 8_800,
        "time passed since the last request: {before} ms left"
    );
    assert!(after >= 9_900, "the countdown restarted: {after} ms left");
}

#[tokio::test]
async fn a_long_session_is_touched_once_its_expiry_would_move_a_minute() {
    // Broken: the throttle without its one-minute cap. A 30-day session would then be touched
    // only when its expiry moved by 1 % of 30 days (7.2 hours).
    let store = Counting::default();
    let app = app(layer_with(store.clone(), |b| {
        b.cookie(CookieOptions::new().max_age(Duration::from_secs(30 * 86_400)))
    }));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let id = id_of(&cookie);
    // As if the session had last been written `ago` before now.
    let backdate = |ago: u64| {
        let store = store.clone();
        let id = id.clone();
        async move {
            let mut record = store.inner.get(&id).await.unwrap().unwrap();
            record.cookie.expires_ms = record.cookie.expires_ms.map(|at| at - ago);
            record.cookie.touched_ms -= ago;
            store
                .inner
                .set(&id, &record, sessionly::store::Changed::All)
                .await
                .unwrap();
        }
    };
    let touches = || store.counts()[2];

    backdate(30_000).await;
    get_with(&app, "/read", Some(&cookie)).await;
    assert_eq!(touches(), 0, "30 s moved: not worth a store call");
    backdate(61_000).await;
    get_with(&app, "/read", Some(&cookie)).await;
    assert_eq!(touches(), 1, "61 s moved: touched");
}

#[tokio::test]
async fn the_cache_headers_a_handler_set_are_not_doubled() {
    // Broken: adding `Vary: Cookie` and `Cache-Control: no-cache="Set-Cookie"` whatever the
    // response already says. A handler's own headers would then be repeated or contradicted.
    let app = Router::new()
        .route(
            "/own",
            get(|mut s: Session| async move {
                *s.views_mut() += 1;
                (
                    [
                        (header::VARY, "Accept-Encoding, Cookie"),
                        (header::CACHE_CONTROL, "private, no-store"),
                    ],
                    "own",
                )
                    .into_response()
            }),
        )
        .route(
            "/star",
            get(|mut s: Session| async move {
                *s.views_mut() += 1;
                (
                    [(header::VARY, "*"), (header::CACHE_CONTROL, "no-cache")],
                    "star",
                )
            }),
        )
        .route(
            "/other",
            get(|mut s: Session| async move {
                *s.views_mut() += 1;
                ([(header::VARY, "Accept-Encoding")], "other")
            }),
        )
        .layer(layer_with(MemoryStore::new(), |b| b));
    let headers = |path: &'static str| {
        let app = app.clone();
        async move {
            let response = tower::ServiceExt::oneshot(app, request("GET", path, None))
                .await
                .unwrap();
            let all = |name| -> Vec<String> {
                response
                    .headers()
                    .get_all(name)
                    .iter()
                    .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
                    .collect()
            };
            assert!(
                response.headers().contains_key(header::SET_COOKIE),
                "{path}"
            );
            (all(header::VARY), all(header::CACHE_CONTROL))
        }
    };
    assert_eq!(
        headers("/own").await,
        (
            vec!["Accept-Encoding, Cookie".to_owned()],
            vec!["private, no-store".to_owned()]
        )
    );
    assert_eq!(
        headers("/star").await,
        (vec!["*".to_owned()], vec!["no-cache".to_owned()])
    );
    assert_eq!(
        headers("/other").await,
        (
            vec!["Accept-Encoding".to_owned(), "Cookie".to_owned()],
            vec!["no-cache=\"Set-Cookie\"".to_owned()]
        )
    );
}

#[tokio::test]
async fn regenerate_takes_its_new_id_from_a_custom_genid() {
    // Broken: `regenerate` calling `generate_id` instead of the configured `genid`.
    let layer = SessionLayer::builder()
        .secret(SECRET)
        .genid(|parts| {
            format!(
                "{}-{}",
                parts.uri.path().trim_start_matches('/'),
                sessionly::generate_id()
            )
        })
        .build()
        .unwrap();
    let app = app(layer);
    let first = get_with(&app, "/views", None).await;
    assert!(first.cookie_id().unwrap().starts_with("views-"));
    let regenerated = get_with(&app, "/regenerate", Some(&first.cookie().unwrap())).await;
    let id = regenerated.cookie_id().unwrap();
    assert!(id.starts_with("regenerate-"), "{id}");
}

#[tokio::test]
async fn store_errors_of_an_explicit_save_or_regenerate_reach_the_handler() {
    // Broken: `save()` / `regenerate()` swallowing the store's error. The handler gets the
    // error itself (here turned into a body of its own), not only the end-of-request 503.
    let store = Flaky::default();
    let down = store.clone();
    let app = Router::new()
        .route(
            "/save-while-down",
            get(move |mut s: Session| {
                let down = down.clone();
                async move {
                    *s.views_mut() += 1;
                    down.set_down(true);
                    let saved = s.save().await;
                    let regenerated = s.regenerate().await;
                    down.set_down(false);
                    let kind = |r: &Result<(), SessionError>| match r {
                        Err(SessionError::Store(_)) => "store error",
                        Err(_) => "other error",
                        Ok(()) => "ok",
                    };
                    format!("save: {}, regenerate: {}", kind(&saved), kind(&regenerated))
                }
            }),
        )
        .merge(routes())
        .layer(layer_with(store.clone(), |b| b));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let reply = get_with(&app, "/save-while-down", Some(&cookie)).await;
    assert_eq!(reply.body, "save: store error, regenerate: store error");
}

#[tokio::test]
async fn each_store_runs_on_the_users_own_connection_or_pool() {
    // `RedisStore::new`, `PostgresStore::new`, `SqliteStore::new`: a session round trip over
    // HTTP on a connection or pool the app made itself.
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let manager = redis::aio::ConnectionManager::new(redis::Client::open(redis_url).unwrap())
        .await
        .unwrap();
    let redis = RedisStore::new(manager).with_prefix(format!("test:own:{}:", std::process::id()));
    round_trip(redis, "redis").await;

    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
    let table = format!("sessions_own_pool_{}", std::process::id());
    let postgres = PostgresStore::new(pool.clone()).with_table(&table).unwrap();
    postgres.migrate().await.unwrap();
    round_trip(postgres, "postgres").await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE \"{table}\"")))
        .execute(&pool)
        .await
        .unwrap();

    let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
    let sqlite = SqliteStore::new(pool);
    sqlite.migrate().await.unwrap();
    round_trip(sqlite, "sqlite").await;
}

async fn round_trip(store: impl Store + Clone, what: &str) {
    let app = app(layer_with(store.clone(), |b| b));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    assert_eq!(
        get_with(&app, "/views", Some(&cookie)).await.body,
        "2",
        "{what}"
    );
    assert!(
        store.get(&id_of(&cookie)).await.unwrap().is_some(),
        "{what}"
    );
}
