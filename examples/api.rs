//! One JSON API for browsers and for apps, with one login and one session store: the page at
//! `/` keeps its session in the cookie, as browsers do; a command-line client (or a mobile
//! app) carries the same kind of session as a token, `Authorization: Bearer <token>`, and is
//! handed its token in the `Session-Token` response header. A user's browser and phone are two
//! sessions of one owner: each lists both, and either can log the other out.
//!
//! ```sh
//! cargo run --example api                    # the server, on http://127.0.0.1:3000
//! cargo run --example api -- client ada     # a command-line client: signs in as ada, lists
//!                                            # ada's sessions, logs the other devices out
//! ```
//! Listens on 127.0.0.1 and the port in `PORT` (default 3000); the client talks to `API_URL`
//! (default `http://127.0.0.1:3000`). Browser JavaScript on another origin (`API_ORIGIN`,
//! default `http://localhost:8080`) may call the API with a token: CORS lets it send
//! `Authorization` and read the token headers.

#[path = "shared/page.rs"]
mod page;
#[path = "shared/secret.rs"]
mod secret;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sessionly::{
    Carrier, ConfigError, SameSite, Secure, SessionData, SessionError, SessionLayer, TokenHeader,
    Transport, TypedSession,
};
use tower_http::cors::{AllowOrigin, CorsLayer};

#[derive(SessionData)]
struct Account {
    /// Who is signed in; the store indexes sessions by it.
    #[session(owner)]
    user: Option<String>,
}

#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
}

/// What `GET /api/me` answers.
#[derive(Serialize, Deserialize, Debug)]
pub struct Me {
    pub user: String,
    /// How this request's session came: `cookie` or `token`.
    pub via: String,
    /// The user's sessions, oldest first.
    pub sessions: Vec<SessionInfo>,
}

/// One of the user's sessions, as the API shows it: never its id (ids are secrets).
#[derive(Serialize, Deserialize, Debug)]
pub struct SessionInfo {
    /// When it started, in seconds since the Unix epoch.
    pub started: u64,
    /// Whether it is the session of the request that asked.
    pub this: bool,
}

/// An API error: a status and a message.
fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn me(
    carrier: Carrier,
    mut session: TypedSession<Account>,
) -> Result<Response, SessionError> {
    let Some(user) = session.user().clone() else {
        return Ok(refuse(StatusCode::UNAUTHORIZED, "not signed in"));
    };
    let this = session.id();
    let mut sessions = session.owner_sessions().await?;
    sessions.sort_by_key(|(_, record)| record.cookie.created());
    let sessions = sessions
        .iter()
        .map(|(id, record)| SessionInfo {
            started: seconds(record.cookie.created()),
            this: *id == this,
        })
        .collect();
    let via = match carrier {
        Carrier::Cookie => "cookie",
        Carrier::Header => "token",
    };
    let me = Me {
        user,
        via: via.to_owned(),
        sessions,
    };
    Ok(Json(me).into_response())
}

fn seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

async fn login(
    mut session: TypedSession<Account>,
    Json(login): Json<Login>,
) -> Result<Response, SessionError> {
    if login.password != "secret" {
        return Ok(refuse(StatusCode::UNAUTHORIZED, "wrong password"));
    }
    // A new id for the signed-in session (a token or cookie seen before is useless after):
    // a header client is handed the new token, a browser the new cookie.
    session.cycle_id().await?;
    session.set_user(Some(login.user));
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn logout(session: TypedSession<Account>) -> Result<StatusCode, SessionError> {
    // A header client's response carries an empty `Session-Token`: forget the token.
    session.destroy().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logout_others(
    mut session: TypedSession<Account>,
) -> Result<Json<serde_json::Value>, SessionError> {
    let count = session.destroy_other_sessions().await?;
    Ok(Json(serde_json::json!({ "logged_out": count })))
}

/// The page: a sign-in form, then the user's sessions (the browser's, and any app's), with
/// "log out other devices". It calls the API with `fetch`, which sends the cookie.
async fn home() -> Html<String> {
    page::page("API sessions", None, PAGE)
}

const PAGE: &str = r#"<div id=signin><form id=login>
  <label>User name <input type=text name=user autocomplete=username></label>
  <label>Password <input type=password name=password autocomplete=current-password></label>
  <button>Log in</button></form>
  <p class=muted>Any user name; the password is <code>secret</code>. Then sign in as the same
  user from a terminal: <code>cargo run --example api -- client NAME</code>.</p></div>
<div id=account hidden><p>Signed in as <strong id=user></strong>.</p>
  <p>Your sessions:</p><ul id=sessions></ul>
  <button id=refresh>Refresh</button> <button id=others>Log out other devices</button>
  <button id=logout>Log out</button></div>
<script>
const post = (path, body) => fetch(path, { method: "POST",
  headers: { "content-type": "application/json" }, body: JSON.stringify(body ?? {}) });
async function show() {
  const answer = await fetch("/api/me");
  const signedIn = answer.ok;
  document.getElementById("signin").hidden = signedIn;
  document.getElementById("account").hidden = !signedIn;
  if (!signedIn) return;
  const me = await answer.json();
  document.getElementById("user").textContent = me.user;
  const list = document.getElementById("sessions");
  list.replaceChildren(...me.sessions.map(s => {
    const item = document.createElement("li");
    item.textContent = new Date(s.started * 1000).toLocaleTimeString() +
      (s.this ? " (this browser)" : " (another device)");
    return item;
  }));
}
document.getElementById("login").addEventListener("submit", async event => {
  event.preventDefault();
  const form = new FormData(event.target);
  await post("/api/login", { user: form.get("user"), password: form.get("password") });
  show();
});
document.getElementById("refresh").addEventListener("click", show);
document.getElementById("others").addEventListener("click", async () => {
  await post("/api/logout-others"); show(); });
document.getElementById("logout").addEventListener("click", async () => {
  await post("/api/logout"); show(); });
show();
</script>"#;

/// The response headers that hand a token out.
fn token_headers() -> [HeaderName; 2] {
    let header = TokenHeader::bearer();
    [
        header.response_header().clone(),
        header.expires_header().clone(),
    ]
}

/// The sessions: a browser's in its cookie (`SameSite=Lax` keeps it off other sites' form
/// posts, so a cookie request cannot be forged across sites), an app's in
/// `Authorization: Bearer`, which no other site can make a browser send.
pub fn sessions(secret: &str) -> Result<SessionLayer, ConfigError> {
    SessionLayer::builder()
        .secret(secret)
        .cookie(
            sessionly::CookieOptions::new()
                .secure(Secure::Auto)
                .same_site(SameSite::Lax),
        )
        .transport(Transport::CookieOrHeader(TokenHeader::bearer()))
        .build()
}

/// The app, behind `sessions`; browser JavaScript from `origin` may call it with a token.
pub fn app(sessions: SessionLayer, origin: HeaderValue) -> Router {
    // Without `expose_headers`, a script on another origin cannot read the token it is handed.
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::exact(origin))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers(token_headers());
    Router::new()
        .route("/", get(home))
        .route("/api/me", get(me))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/logout-others", post(logout_others))
        .layer(sessions)
        .layer(cors)
}

/// What the command-line client saw.
#[derive(Debug)]
pub struct ClientRun {
    /// The user's sessions once signed in (the browser's too).
    pub before: Me,
    /// How many other sessions "log out other devices" ended.
    pub logged_out: u64,
    /// The user's sessions after that.
    pub after: Me,
    /// Whether the logout voided the token (an empty `Session-Token`).
    pub token_voided: bool,
}

/// The command-line client: signs in at `base` as `user` with a token, lists the user's
/// sessions, logs the other devices out, lists them again, and logs out.
pub async fn client(base: &str, user: &str, password: &str) -> Result<ClientRun, reqwest::Error> {
    let http = reqwest::Client::new();
    let token_header = TokenHeader::bearer().response_header().clone();
    // No token yet: `Bearer` alone asks for one.
    let signed_in = http
        .post(format!("{base}/api/login"))
        .header(header::AUTHORIZATION, "Bearer")
        .json(&serde_json::json!({ "user": user, "password": password }))
        .send()
        .await?
        .error_for_status()?;
    let token = signed_in
        .headers()
        .get(&token_header)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bearer = format!("Bearer {token}");
    let (on, with) = (&http, &bearer);
    let me = || async move {
        on.get(format!("{base}/api/me"))
            .header(header::AUTHORIZATION, with)
            .send()
            .await?
            .error_for_status()?
            .json::<Me>()
            .await
    };
    let before = me().await?;
    let out: serde_json::Value = http
        .post(format!("{base}/api/logout-others"))
        .header(header::AUTHORIZATION, &bearer)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let after = me().await?;
    let logged_out = http
        .post(format!("{base}/api/logout"))
        .header(header::AUTHORIZATION, &bearer)
        .send()
        .await?
        .error_for_status()?;
    let token_voided = logged_out
        .headers()
        .get(&token_header)
        .is_some_and(|v| v.is_empty());
    Ok(ClientRun {
        before,
        logged_out: out["logged_out"].as_u64().unwrap_or_default(),
        after,
        token_voided,
    })
}

#[allow(dead_code)] // The tests include this file for `app` and `client`.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("client") {
        let user = args.next().unwrap_or_else(|| "ada".to_owned());
        let base = std::env::var("API_URL").unwrap_or_else(|_| "http://127.0.0.1:3000".into());
        let run = client(&base, &user, "secret").await?;
        println!(
            "signed in as {} with a token; your sessions:",
            run.before.user
        );
        for session in &run.before.sessions {
            let this = if session.this { " (this client)" } else { "" };
            println!("  started at {}{this}", session.started);
        }
        println!(
            "logged out {} other session(s); {} left",
            run.logged_out,
            run.after.sessions.len()
        );
        println!("logged out (token voided: {})", run.token_voided);
        return Ok(());
    }
    let secret = secret::from_env();
    let origin = std::env::var("API_ORIGIN").unwrap_or_else(|_| "http://localhost:8080".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("api example on http://{}", listener.local_addr()?);
    axum::serve(listener, app(sessions(&secret)?, origin.parse()?)).await?;
    Ok(())
}
