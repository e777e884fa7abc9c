//! Login and logout: regenerate the session on login so an id seen before login is useless
//! after it, destroy it on logout, and show a one-time notice with a flash field.
//!
//! ```sh
//! cargo run --example login   # then open http://127.0.0.1:3000
//! ```
//! Listens on 127.0.0.1 and the port in `PORT` (default 3000).

use std::time::Duration;

use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use session::{CookieOptions, SessionData, SessionError, SessionLayer, TypedSession};

#[derive(SessionData)]
struct Auth {
    user: Option<String>,
    #[session(flash)]
    notice: Option<String>,
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
    remember: Option<String>,
}

async fn home(mut session: TypedSession<Auth>) -> Html<String> {
    let notice = session
        .take_notice()
        .map(|n| format!("<p><em>{}</em></p>", escape(&n)))
        .unwrap_or_default();
    let body = match session.user() {
        Some(user) => format!(
            "<p>Hello, {}.</p><form method=post action=/logout><button>Log out</button></form>",
            escape(user)
        ),
        None => "<form method=post action=/login>\
                 <input name=username placeholder=username> \
                 <input name=password type=password placeholder='password (\"secret\")'> \
                 <label><input type=checkbox name=remember> remember me</label> \
                 <button>Log in</button></form>"
            .to_owned(),
    };
    Html(format!("{notice}{body}"))
}

async fn login(
    mut session: TypedSession<Auth>,
    Form(form): Form<Login>,
) -> Result<Response, SessionError> {
    if form.password != "secret" {
        session.set_notice(Some("Wrong password.".to_owned()));
        return Ok(Redirect::to("/").into_response());
    }
    // A new id for the logged-in session: fixation-proof.
    session.regenerate().await?;
    session.set_user(Some(form.username));
    session.set_notice(Some("Logged in.".to_owned()));
    if form.remember.is_some() {
        session.set_max_age(Some(Duration::from_secs(30 * 24 * 60 * 60)));
    }
    Ok(Redirect::to("/").into_response())
}

async fn logout(session: TypedSession<Auth>) -> Result<Redirect, SessionError> {
    session.destroy().await?;
    Ok(Redirect::to("/"))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let sessions = SessionLayer::builder()
        .secret(std::env::var("SESSION_SECRET").unwrap_or_else(|_| "keyboard cat".to_owned()))
        .resave(false)
        .save_uninitialized(false)
        .cookie(CookieOptions::new().max_age(Duration::from_secs(60 * 60)))
        .build()?;
    let app = Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .layer(sessions);

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("login example on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
