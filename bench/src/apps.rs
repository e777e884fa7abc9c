//! The same routes for the systems under test.
//!
//! | route | does | answers |
//! |---|---|---|
//! | `/none` | no session access (the session cookie is still sent) | `ok` |
//! | `/read` | reads `views` of the small session | `views` |
//! | `/incr` | increments `views` of the small session | the new `views` |
//! | `/large` | increments `views` of the large session (16 KiB cart beside it) | the new `views` |
//! | `/large-read` | reads the cart of the large session, changes nothing | the cart's length, `1024` |
//! | `/init` | creates a small session (a new visitor; also makes the load benchmark's pool) | `ok` |
//! | `/init-large` | creates a large session (setup, not measured) | `ok` |
//!
//! Bare axum answers bodies of the same form without any session: the limit. The answers are
//! decimal numbers so the load benchmark can check every body (`bench/cookies.lua`).

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use sessionly::store::IntoBackend;
use sessionly::{SessionLayer, TypedSession};
use tower_sessions::{Session, SessionManagerLayer, SessionStore};

use crate::schema::{self, Large, Small};

/// The secret this project's layer signs with.
pub const SECRET: &str = "a benchmark secret that is long enough";

/// The measured routes, in the order the load benchmark reports them.
pub const ROUTES: [&str; 6] = ["none", "read", "incr", "large", "large-read", "init"];

/// Bare axum: the same routes with no session layer.
pub fn bare() -> Router {
    Router::new()
        .route("/none", get(|| async { "ok" }))
        .route("/read", get(|| async { "1" }))
        .route("/incr", get(|| async { "2" }))
        .route("/large", get(|| async { "2" }))
        .route("/large-read", get(|| async { "1024" }))
        .route("/init", get(|| async { "ok" }))
        .route("/init-large", get(|| async { "ok" }))
}

/// This project's layer, configured like tower-sessions' defaults: unmodified sessions are
/// not saved back, new sessions nobody wrote to are not stored, a session is loaded only by a
/// handler that extracts it, browser-session cookie.
pub fn layer(store: impl IntoBackend) -> SessionLayer {
    SessionLayer::builder()
        .secret(SECRET)
        .resave(false)
        .save_uninitialized(false)
        .lazy_load(true)
        .store(store)
        .build()
        .expect("valid benchmark configuration")
}

/// This project's layer with its defaults: only the secret and the store are set. It differs
/// from [`layer`] in `lazy_load` (off, as express-session works): every request that carries
/// a session cookie loads its session, and keeps it alive, whether or not the handler extracts
/// it.
pub fn default_layer(store: impl IntoBackend) -> SessionLayer {
    SessionLayer::builder()
        .secret(SECRET)
        .store(store)
        .build()
        .expect("valid benchmark configuration")
}

/// This project: the routes over [`layer`].
pub fn ours(store: impl IntoBackend) -> Router {
    ours_routes().layer(layer(store))
}

/// This project with same-session requests taking turns through the store, across processes
/// (`store_turns`): [`layer`]'s options plus that one.
pub fn ours_turns(store: impl IntoBackend) -> Router {
    let layer = SessionLayer::builder()
        .secret(SECRET)
        .store(store)
        .lazy_load(true)
        .store_turns(sessionly::StoreTurns::new())
        .build()
        .expect("valid benchmark configuration");
    ours_routes().layer(layer)
}

/// This project as an express app with `rolling: true` and a `maxAge` would run it: [`layer`]'s
/// options, plus the cookie resent with a new expiry (and the session touched in the store) on
/// every response that loaded the session.
pub fn ours_rolling(store: impl IntoBackend) -> Router {
    let layer = SessionLayer::builder()
        .secret(SECRET)
        .resave(false)
        .save_uninitialized(false)
        .lazy_load(true)
        .rolling(true)
        .cookie(sessionly::CookieOptions::new().max_age(std::time::Duration::from_secs(24 * 3600)))
        .store(store)
        .build()
        .expect("valid benchmark configuration");
    ours_routes().layer(layer)
}

/// This project on its default options: the routes over [`default_layer`].
pub fn ours_default(store: impl IntoBackend) -> Router {
    ours_routes().layer(default_layer(store))
}

/// This project's handlers, without a layer.
fn ours_routes() -> Router {
    Router::new()
        .route("/none", get(|| async { "ok" }))
        .route(
            "/read",
            get(|s: TypedSession<Small>| async move { s.views().to_string() }),
        )
        .route(
            "/incr",
            get(|mut s: TypedSession<Small>| async move {
                *s.views_mut() += 1;
                s.views().to_string()
            }),
        )
        .route(
            "/large",
            get(|mut s: TypedSession<Large>| async move {
                *s.views_mut() += 1;
                s.views().to_string()
            }),
        )
        .route(
            "/large-read",
            get(|s: TypedSession<Large>| async move { s.cart().len().to_string() }),
        )
        .route(
            "/init",
            get(|mut s: TypedSession<Small>| async move {
                s.set_views(1);
                s.set_user(schema::small_user());
                s.set_theme(schema::THEME.to_owned());
                "ok"
            }),
        )
        .route(
            "/init-large",
            get(|mut s: TypedSession<Large>| async move {
                s.set_views(1);
                s.set_cart(schema::cart());
                "ok"
            }),
        )
}

type Reply = Result<String, StatusCode>;

fn failed(_: tower_sessions::session::Error) -> StatusCode {
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn tower_views(session: &Session) -> Result<u64, StatusCode> {
    Ok(session
        .get::<u64>("views")
        .await
        .map_err(failed)?
        .unwrap_or_default())
}

async fn tower_increment(session: Session) -> Reply {
    let views = tower_views(&session).await? + 1;
    session.insert("views", views).await.map_err(failed)?;
    Ok(views.to_string())
}

/// tower-sessions with its default configuration, over `store`.
pub fn tower<S: SessionStore + Clone>(store: S) -> Router {
    Router::new()
        .route("/none", get(|| async { "ok" }))
        .route(
            "/read",
            get(|session: Session| async move {
                Ok::<_, StatusCode>(tower_views(&session).await?.to_string())
            }),
        )
        .route("/incr", get(tower_increment))
        .route("/large", get(tower_increment))
        .route(
            "/large-read",
            get(|session: Session| async move {
                let cart = session
                    .get::<Vec<schema::Item>>("cart")
                    .await
                    .map_err(failed)?
                    .unwrap_or_default();
                Ok::<_, StatusCode>(cart.len().to_string())
            }),
        )
        .route(
            "/init",
            get(|session: Session| async move {
                session.insert("views", 1u64).await.map_err(failed)?;
                session
                    .insert("user", schema::small_user())
                    .await
                    .map_err(failed)?;
                session
                    .insert("theme", schema::THEME)
                    .await
                    .map_err(failed)?;
                Ok::<_, StatusCode>("ok")
            }),
        )
        .route(
            "/init-large",
            get(|session: Session| async move {
                session.insert("views", 1u64).await.map_err(failed)?;
                session
                    .insert("cart", schema::cart())
                    .await
                    .map_err(failed)?;
                Ok::<_, StatusCode>("ok")
            }),
        )
        .layer(SessionManagerLayer::new(store))
}
