//! Login and logout: regenerate the session on login so an id seen before login is useless
//! after it, destroy it on logout, and show a one-time notice with a flash field.
//!
//! Sessions end after 30 idle minutes and after 12 hours in any case; "remember me" raises both
//! limits for that one session (30 idle days, 90 days at most). The user field is the session's
//! owner, so the page lists the user's signed-in sessions and offers "log out other devices"
//! and "log out everywhere" (log in from two browsers to see it).
//!
//! ```sh
//! cargo run --example login   # then open http://127.0.0.1:3000
//! ```
//! Listens on 127.0.0.1 and the port in `PORT` (default 3000).

use std::time::{Duration, SystemTime};

use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use sessionly::{CookieOptions, SessionData, SessionError, SessionLayer, TypedSession};

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(SessionData)]
struct Auth {
    /// Who is signed in; the store indexes sessions by it.
    #[session(owner)]
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

async fn home(mut session: TypedSession<Auth>) -> Result<Html<String>, SessionError> {
    let notice = session
        .take_notice()
        .map(|n| format!("<p><em>{}</em></p>", escape(&n)))
        .unwrap_or_default();
    let this = session.id();
    // The list shows when each session started and ends, never its id: ids are secrets.
    let sessions: String = session
        .owner_sessions()
        .await?
        .iter()
        .map(|(id, record)| {
            let marker = if *id == this { " (this browser)" } else { "" };
            format!(
                "<li>since {}, ends in {}{marker}</li>",
                ago(record.cookie.created()),
                left(record.expires().or(record.cookie.absolute_expiry())),
            )
        })
        .collect();
    let body = match session.user() {
        Some(user) => format!(
            "<p>Hello, {}. Your sessions:</p><ul>{sessions}</ul>\
             <form method=post action=/logout><button>Log out</button></form>\
             <form method=post action=/logout-others><button>Log out other devices</button></form>\
             <form method=post action=/logout-everywhere><button>Log out everywhere</button></form>",
            escape(user)
        ),
        None => "<form method=post action=/login>\
                 <input name=username placeholder=username> \
                 <input name=password type=password placeholder='password (\"secret\")'> \
                 <label><input type=checkbox name=remember> remember me</label> \
                 <button>Log in</button></form>"
            .to_owned(),
    };
    Ok(Html(format!("{notice}{body}")))
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
        // Both limits, for this session only; the order does not matter.
        session.set_max_age(Some(30 * DAY));
        session.set_absolute_lifetime(Some(90 * DAY));
    }
    Ok(Redirect::to("/").into_response())
}

async fn logout(session: TypedSession<Auth>) -> Result<Redirect, SessionError> {
    session.destroy().await?;
    Ok(Redirect::to("/"))
}

async fn logout_others(mut session: TypedSession<Auth>) -> Result<Redirect, SessionError> {
    let count = session.destroy_other_sessions().await?;
    session.set_notice(Some(format!("Logged out of {count} other sessions.")));
    Ok(Redirect::to("/"))
}

async fn logout_everywhere(session: TypedSession<Auth>) -> Result<Redirect, SessionError> {
    session.destroy_all_sessions().await?;
    Ok(Redirect::to("/"))
}

fn ago(at: SystemTime) -> String {
    let minutes = at.elapsed().unwrap_or_default().as_secs() / 60;
    format!("{minutes} min ago")
}

fn left(at: Option<SystemTime>) -> String {
    at.and_then(|at| at.duration_since(SystemTime::now()).ok())
        .map_or("a day of inactivity".to_owned(), |d| {
            format!("{} min", d.as_secs() / 60)
        })
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
        // 30 idle minutes (restarted by every request), 12 hours at most.
        .cookie(CookieOptions::new().max_age(30 * MINUTE))
        .rolling(true)
        .absolute_lifetime(12 * 60 * MINUTE)
        .build()?;
    let app = Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/logout-others", post(logout_others))
        .route("/logout-everywhere", post(logout_everywhere))
        .layer(sessions);

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("login example on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
