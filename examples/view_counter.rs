//! express-session's view counter, typed.
//!
//! ```sh
//! cargo run --example view_counter   # then open http://127.0.0.1:3000 and reload
//! ```
//! Listens on 127.0.0.1 and the port in `PORT` (default 3000).

use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use sessionly::{CookieOptions, SessionData, SessionLayer, TypedSession};

#[derive(SessionData)]
struct Visits {
    views: u64,
}

async fn count(mut session: TypedSession<Visits>) -> Html<String> {
    *session.views_mut() += 1;
    let seconds = session.max_age().unwrap_or_default().as_secs();
    match *session.views() {
        1 => Html("<p>welcome to the session demo. refresh!</p>".to_owned()),
        views => Html(format!(
            "<p>views: {views}</p><p>expires in: {seconds}s</p>"
        )),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let sessions = SessionLayer::builder()
        .secret(std::env::var("SESSION_SECRET").unwrap_or_else(|_| "keyboard cat".to_owned()))
        .cookie(CookieOptions::new().max_age(Duration::from_secs(60)))
        .build()?;
    let app = Router::new().route("/", get(count)).layer(sessions);

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("view counter on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
