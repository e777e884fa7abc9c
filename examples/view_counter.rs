//! express-session's view counter, typed.
//!
//! ```sh
//! cargo run --example view_counter   # then open http://127.0.0.1:3000 and reload
//! ```
//! Listens on 127.0.0.1 and the port in `PORT` (default 3000).

#[path = "shared/page.rs"]
mod page;
#[path = "shared/secret.rs"]
mod secret;

use std::time::Duration;

use axum::Router;
use axum::response::{Html, Redirect};
use axum::routing::{get, post};
use sessionly::{
    ConfigError, CookieOptions, SessionData, SessionError, SessionLayer, TypedSession,
};

#[derive(SessionData)]
struct Visits {
    views: u64,
}

async fn count(mut session: TypedSession<Visits>) -> Html<String> {
    *session.views_mut() += 1;
    let left = page::span(session.max_age().unwrap_or_default());
    let body = match *session.views() {
        1 => {
            "<p>Welcome! This is your first visit in this session. Reload the page.</p>".to_owned()
        }
        views => format!("<p>Views in this session:</p><p class=count id=views>{views}</p>"),
    };
    page::page(
        "View counter",
        None,
        &format!(
            "{body}<p class=muted>The session ends after a minute without a visit \
             (in {left}).</p>\
             <form method=post action=/forget><button>Start over</button></form>"
        ),
    )
}

/// Ends the session: the store forgets it and the browser's cookie is cleared.
async fn forget(session: TypedSession<Visits>) -> Result<Redirect, SessionError> {
    session.destroy().await?;
    Ok(Redirect::to("/"))
}

/// The example's session options: sessions end after a minute without a visit.
pub fn sessions(secret: &str) -> Result<SessionLayer, ConfigError> {
    SessionLayer::builder()
        .secret(secret)
        .cookie(CookieOptions::new().max_age(Duration::from_secs(60)))
        .build()
}

/// The app, behind `sessions`.
pub fn app(sessions: SessionLayer) -> Router {
    Router::new()
        .route("/", get(count))
        .route("/forget", post(forget))
        .layer(sessions)
}

#[allow(dead_code)] // The tests include this file for `app`.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let secret = secret::from_env();
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("view counter on http://{}", listener.local_addr()?);
    axum::serve(listener, app(sessions(&secret)?)).await?;
    Ok(())
}
