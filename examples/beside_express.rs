//! A Rust service beside an express-session app, on the same sessions: the Node app signs users
//! in (with connect-redis), and this service reads who is signed in and keeps a counter of its
//! own in the same session, which the Node app sees as `req.session.rustVisits`.
//!
//! ```sh
//! # Redis on 127.0.0.1:6379, and the Node app of tests/node (same secret):
//! (cd tests/node && npm ci && STORE=redis REDIS_URL=redis://127.0.0.1:6379 SECRET='keyboard cat' node app.js)
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --example beside_express
//! # sign in on the Node app (/login/ada), then open this one with the same cookie
//! ```
//! Listens on 127.0.0.1 and the port in `PORT` (default 3000).

#[path = "shared/page.rs"]
mod page;

use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use sessionly::{ConnectRedisStore, CookieOptions, Json, SessionData, SessionLayer, TypedSession};

/// The keys this service shares with the Node app, by the names Node uses. JSON, so that Node
/// reads what this service writes; the keys Node keeps that are not here (`passport`, `flash`)
/// are left as Node wrote them.
#[derive(SessionData)]
#[session(codec = Json)]
struct Shared {
    /// Set by the Node app's login.
    user_id: Option<String>,
    /// Node calls it `rustVisits`.
    #[session(rename = "rustVisits")]
    visits: u64,
}

async fn home(mut session: TypedSession<Shared>) -> Html<String> {
    *session.visits_mut() += 1;
    let body = match session.user_id() {
        Some(user) => format!(
            "<p>Signed in on the Node app as <strong id=user>{}</strong>.</p>\
             <p>Visits to this Rust service: <span id=visits>{}</span>. The Node app reads \
             the count as <code>req.session.rustVisits</code>.</p>",
            page::escape(user),
            session.visits()
        ),
        None => "<p>Not signed in: sign in on the Node app first.</p>".to_owned(),
    };
    page::page("Rust beside Express", None, &body)
}

/// The service behind `sessions`.
pub fn app(sessions: SessionLayer) -> Router {
    Router::new().route("/", get(home)).layer(sessions)
}

#[allow(dead_code)] // The interop tests include this file for `app`.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    // The same store layout, secret, cookie name and cookie options as the Node app's
    // `session({ secret, store: new RedisStore({ client }), cookie: { maxAge: 86400000 } })`.
    // express takes any secret, and an app being moved over may well have a short one (this
    // is the one in express-session's README): `allow_short_secrets` takes it, with a
    // warning. A new app uses 32 random bytes or more.
    let sessions = SessionLayer::builder()
        .secret(std::env::var("SESSION_SECRET").unwrap_or_else(|_| "keyboard cat".to_owned()))
        .allow_short_secrets()
        .store(ConnectRedisStore::open(&url).await?)
        .cookie(CookieOptions::new().max_age(Duration::from_secs(86_400)))
        .build()?;
    let app = app(sessions);

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("beside express on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
