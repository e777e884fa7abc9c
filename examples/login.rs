//! Login and logout: give the session a new id on login (`cycle_id`, which keeps what the
//! visitor had) so an id seen before login is useless after it, destroy it on logout, and
//! show a one-time notice with a flash field.
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

#[path = "shared/page.rs"]
mod page;
#[path = "shared/secret.rs"]
mod secret;

use std::time::{Duration, SystemTime};

use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use sessionly::{
    ConfigError, CookieOptions, SameSite, Secure, SessionData, SessionError, SessionLayer,
    TypedSession,
};

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
    let notice = session.take_notice();
    let Some(user) = session.user().clone() else {
        return Ok(page::page("Sign in", notice.as_deref(), SIGN_IN_FORM));
    };
    let this = session.id();
    // The list shows when each session started and ends, never its id: ids are secrets.
    let mut sessions = session.owner_sessions().await?;
    sessions.sort_by_key(|(_, record)| record.cookie.created());
    let rows: String = sessions
        .iter()
        .map(|(id, record)| {
            let started = record.cookie.created();
            let ends = record.expires().or(record.cookie.absolute_expiry());
            format!(
                "<tr><td>{} ({} ago)</td><td>{}</td><td>{}</td></tr>",
                page::time_of_day(started),
                page::span(started.elapsed().unwrap_or_default()),
                ends.map_or("when the browser closes".to_owned(), |at| {
                    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
                    format!("in {}", page::span(left))
                }),
                if *id == this { "this browser" } else { "" },
            )
        })
        .collect();
    let body = format!(
        "<p>Signed in as <strong id=user>{}</strong>.</p>\
         <p>Your sessions:</p><table id=sessions><tr><th>Started</th><th>Ends</th><th></th></tr>\
         {rows}</table>\
         <form class=inline method=post action=/logout><button>Log out</button></form>\
         <form class=inline method=post action=/logout-others><button>Log out other devices</button></form>\
         <form class=inline method=post action=/logout-everywhere><button>Log out everywhere</button></form>",
        page::escape(&user)
    );
    Ok(page::page("Your account", notice.as_deref(), &body))
}

const SIGN_IN_FORM: &str = "<form method=post action=/login>\
    <label>User name <input type=text name=username autocomplete=username></label>\
    <label>Password <input type=password name=password autocomplete=current-password></label>\
    <label><input type=checkbox name=remember> Remember me for 30 days</label>\
    <button>Log in</button></form>\
    <p class=muted>Any user name; the password is <code>secret</code>.</p>";

async fn login(
    mut session: TypedSession<Auth>,
    Form(form): Form<Login>,
) -> Result<Response, SessionError> {
    if form.password != "secret" {
        session.set_notice(Some("Wrong password.".to_owned()));
        return Ok(Redirect::to("/").into_response());
    }
    // A new id for the logged-in session, fixation-proof; what the visitor had stays.
    session.cycle_id().await?;
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
    let sessions = if count == 1 { "session" } else { "sessions" };
    session.set_notice(Some(format!("Logged out of {count} other {sessions}.")));
    Ok(Redirect::to("/"))
}

async fn logout_everywhere(session: TypedSession<Auth>) -> Result<Redirect, SessionError> {
    session.destroy_all_sessions().await?;
    Ok(Redirect::to("/"))
}

/// The example's session options: 30 idle minutes (restarted by every request), 12 hours at
/// most; `Secure` when served over TLS, and `SameSite=Lax`, which keeps the cookie off
/// cross-site form posts.
pub fn sessions(secret: &str) -> Result<SessionLayer, ConfigError> {
    SessionLayer::builder()
        .secret(secret)
        .cookie(
            CookieOptions::new()
                .max_age(30 * MINUTE)
                .secure(Secure::Auto)
                .same_site(SameSite::Lax),
        )
        .rolling(true)
        .absolute_lifetime(12 * 60 * MINUTE)
        .build()
}

/// The app, behind `sessions`.
pub fn app(sessions: SessionLayer) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/logout-others", post(logout_others))
        .route("/logout-everywhere", post(logout_everywhere))
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
    println!("login example on http://{}", listener.local_addr()?);
    axum::serve(listener, app(sessions(&secret)?)).await?;
    Ok(())
}
