//! Sessions shared with libraries: an auth module and a CSRF module, each written as a library
//! would be — a namespaced schema of its own, functions over it and a layer — used by an app
//! that keeps its own schema in the same session.
//!
//! - `auth`: `login` / `logout` / `current_user`, and `require_login`, a layer that turns away
//!   requests without a signed-in user. Its schema is stored as `auth/user`, `auth/notice`.
//! - `csrf`: a synchronizer token per session (`csrf::token`), and `csrf::protect`, a layer that
//!   refuses an unsafe request (POST, PUT, PATCH, DELETE) whose `x-csrf-token` header or
//!   `_csrf` form field does not match it. Stored as `csrf/token`.
//! - the app: a visit counter in its own `views` field, which no library can clash with.
//!
//! ```sh
//! cargo run --example libraries   # then open http://127.0.0.1:3000
//! ```
//! Listens on 127.0.0.1 and the port in `PORT` (default 3000).

#[path = "shared/page.rs"]
mod page;
#[path = "shared/secret.rs"]
mod secret;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use sessionly::{SessionData, SessionLayer, TypedSession};

/// What a library crate for sign-in would export.
pub mod auth {
    use axum::extract::Request;
    use axum::middleware::Next;
    use axum::response::{IntoResponse, Redirect, Response};
    use sessionly::{SessionData, SessionError, TypedSession};

    /// The library's part of the session: in its own namespace, so an app field named `user`
    /// is another field.
    #[derive(SessionData)]
    #[session(namespace = "auth")]
    pub struct Auth {
        #[session(owner)]
        user: Option<String>,
        #[session(flash)]
        notice: Option<String>,
    }

    /// Signs `user` in: a new session id first, so an id known before is worthless after;
    /// the app's and other libraries' data stay (`regenerate` would empty them all).
    pub async fn login(session: &mut TypedSession<Auth>, user: &str) -> Result<(), SessionError> {
        session.cycle_id().await?;
        session.set_user(Some(user.to_owned()));
        session.set_notice(Some(format!("Signed in as {user}.")));
        Ok(())
    }

    /// Signs out: the session ends, with every library's and the app's data in it.
    pub async fn logout(session: TypedSession<Auth>) -> Result<(), SessionError> {
        session.destroy().await
    }

    /// The library's data of a session signed in as `user`: what a test seeds to skip the
    /// sign-in form (`sessionly::testing`).
    #[allow(dead_code)] // Used by tests/http/examples.rs, not by the app.
    pub fn signed_in(user: &str) -> Auth {
        Auth {
            user: Some(user.to_owned()),
            notice: None,
        }
    }

    /// Who is signed in.
    pub fn current_user(session: &TypedSession<Auth>) -> Option<&str> {
        session.user().as_deref()
    }

    /// The one-time notice the last sign-in left.
    pub fn take_notice(session: &mut TypedSession<Auth>) -> Option<String> {
        session.take_notice()
    }

    /// A layer (`axum::middleware::from_fn(require_login)`) that sends requests without a
    /// signed-in user to `/`.
    pub async fn require_login(
        session: TypedSession<Auth>,
        request: Request,
        next: Next,
    ) -> Response {
        if current_user(&session).is_none() {
            return Redirect::to("/").into_response();
        }
        // Dropped before the handler runs: the handler may extract `Auth` itself.
        drop(session);
        next.run(request).await
    }
}

/// What a CSRF library crate would export: the synchronizer-token pattern.
pub mod csrf {
    use axum::body::{Body, to_bytes};
    use axum::extract::{FromRequest, Request};
    use axum::middleware::Next;
    use axum::response::{IntoResponse, Response};
    use axum::{Form, http::StatusCode};
    use serde::Deserialize;
    use sessionly::{Carrier, SessionData, TypedSession, generate_id};

    #[derive(SessionData)]
    #[session(namespace = "csrf")]
    pub struct Csrf {
        token: Option<String>,
    }

    /// The session's token, made (192 random bits) on first use. Put it in every form as a
    /// hidden `_csrf` field, or send it as an `x-csrf-token` header.
    pub fn token(session: &mut TypedSession<Csrf>) -> String {
        if session.token().is_none() {
            session.set_token(Some(generate_id()));
        }
        session.token().clone().unwrap_or_default()
    }

    /// Forgets the session's token; the next page gets a new one. Call it when the session's
    /// user changes: a token seen before a login must not work after it.
    pub fn rotate(session: &mut TypedSession<Csrf>) {
        session.reset_token();
    }

    #[derive(Deserialize)]
    struct Field {
        #[serde(rename = "_csrf")]
        csrf: Option<String>,
    }

    /// A layer (`axum::middleware::from_fn(protect)`) that answers `403` to an unsafe request
    /// without the session's token. A form body is read to find the `_csrf` field (up to 64 KiB)
    /// and handed on intact. A request whose session came in a token header
    /// (`Carrier::Header`) is let through: no other site can make a browser send one.
    pub async fn protect(
        carrier: Carrier,
        session: TypedSession<Csrf>,
        request: Request,
        next: Next,
    ) -> Response {
        if request.method().is_safe() || carrier == Carrier::Header {
            drop(session);
            return next.run(request).await;
        }
        let expected = session.token().clone();
        drop(session);
        let header = request
            .headers()
            .get("x-csrf-token")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let (request, sent) = match header {
            Some(sent) => (request, Some(sent)),
            None => {
                let (parts, body) = request.into_parts();
                let Ok(bytes) = to_bytes(body, 64 * 1024).await else {
                    return StatusCode::PAYLOAD_TOO_LARGE.into_response();
                };
                let copy = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
                let sent = Form::<Field>::from_request(copy, &())
                    .await
                    .ok()
                    .and_then(|Form(field)| field.csrf);
                (Request::from_parts(parts, Body::from(bytes)), sent)
            }
        };
        match (expected, sent) {
            (Some(expected), Some(sent)) if same(expected.as_bytes(), sent.as_bytes()) => {
                next.run(request).await
            }
            _ => (StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response(),
        }
    }

    /// Compares in time that depends on the length only, not on where the first difference is.
    fn same(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
    }
}

/// The app's own part of the session. Its `user` field would clash with nothing: the auth
/// library's is `auth/user`.
#[derive(SessionData)]
struct Visits {
    views: u64,
}

async fn home(
    mut visits: TypedSession<Visits>,
    mut auth: TypedSession<auth::Auth>,
    mut csrf: TypedSession<csrf::Csrf>,
) -> Html<String> {
    *visits.views_mut() += 1;
    let token = csrf::token(&mut csrf);
    let notice = auth::take_notice(&mut auth);
    let body = match auth::current_user(&auth) {
        Some(user) => format!(
            "<p>Hello, {}. <a href=/account>Your account</a></p>\
             <form method=post action=/logout><input type=hidden name=_csrf value={token}>\
             <button>Sign out</button></form>",
            page::escape(user)
        ),
        None => format!(
            "<form method=post action=/login><input type=hidden name=_csrf value={token}>\
             <label>Name <input type=text name=user autocomplete=username></label>\
             <button>Sign in</button></form>\
             <p class=muted>Every form carries the session's CSRF token; \
             a post without it is refused.</p>"
        ),
    };
    page::page(
        "Libraries",
        notice.as_deref(),
        &format!(
            "{body}<p class=muted>{} visits in this session.</p>",
            visits.views()
        ),
    )
}

#[derive(serde::Deserialize)]
struct LoginForm {
    user: String,
}

async fn login(
    mut session: TypedSession<auth::Auth>,
    mut csrf: TypedSession<csrf::Csrf>,
    axum::Form(form): axum::Form<LoginForm>,
) -> Result<axum::response::Redirect, sessionly::SessionError> {
    auth::login(&mut session, &form.user).await?;
    csrf::rotate(&mut csrf);
    Ok(axum::response::Redirect::to("/"))
}

async fn logout(
    session: TypedSession<auth::Auth>,
) -> Result<axum::response::Redirect, sessionly::SessionError> {
    auth::logout(session).await?;
    Ok(axum::response::Redirect::to("/"))
}

async fn account(session: TypedSession<auth::Auth>) -> Html<String> {
    let user = auth::current_user(&session).unwrap_or_default();
    page::page(
        "Account",
        None,
        &format!(
            "<p>The account of {}.</p><p><a href=/>Home</a></p>",
            page::escape(user)
        ),
    )
}

/// The app, behind `sessions`.
pub fn app(sessions: SessionLayer) -> Router {
    use axum::middleware::from_fn;
    use axum::routing::post;
    let signed_in = Router::new()
        .route("/account", get(account))
        .layer(from_fn(auth::require_login));
    Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .merge(signed_in)
        .layer(from_fn(csrf::protect))
        .layer(sessions)
}

#[allow(dead_code)] // The tests include this file for `app`.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let sessions = SessionLayer::builder().secret(secret::from_env()).build()?;
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("libraries example on http://{}", listener.local_addr()?);
    axum::serve(listener, app(sessions)).await?;
    Ok(())
}
