//! Sessions for API, mobile and command-line clients: the session id in a request header,
//! beside or instead of the cookie.
//!
//! Browsers keep cookies; a mobile app, a command-line tool or another service would rather
//! carry a token. With [`transport`](crate::SessionLayerBuilder::transport), one layer serves
//! both from one store, with one login, one lifetime and one "log out everywhere": a user's
//! browser and phone are two sessions of one owner.
//!
//! ```
//! use axum::{Router, routing::get};
//! use sessionly::{SessionData, SessionLayer, TokenHeader, Transport, TypedSession};
//!
//! #[derive(SessionData)]
//! struct Account {
//!     #[session(owner)]
//!     user: Option<String>,
//! }
//!
//! async fn me(session: TypedSession<Account>) -> String {
//!     session.user().clone().unwrap_or_default()
//! }
//!
//! let sessions = SessionLayer::builder()
//!     .secret("a long random secret, 32 bytes or more")
//!     // Browsers by cookie; apps by `Authorization: Bearer <token>`.
//!     .transport(Transport::CookieOrHeader(TokenHeader::bearer()))
//!     .build()
//!     .unwrap();
//! let app: Router = Router::new().route("/api/me", get(me)).layer(sessions);
//! ```
//!
//! # Which to use
//!
//! | client | carry the session in | why |
//! |---|---|---|
//! | your own web pages | the cookie ([`Transport::Cookie`](crate::Transport::Cookie), the default) | the browser keeps it and sends it; `HttpOnly` keeps it out of reach of any script an attacker slips into a page |
//! | a mobile or desktop app, a CLI, another service | a token header | no cookie jar to keep; the app stores the token where the platform keeps secrets |
//! | both, from one API | [`Transport::CookieOrHeader`](crate::Transport::CookieOrHeader) | each request is answered the way it came |
//!
//! Do not hand tokens to your own web pages' scripts to keep in `localStorage`: a script that
//! can read a token can send it anywhere, where an `HttpOnly` cookie stays in the browser.
//! [`TokenHeader::to_cookie_clients`](crate::TokenHeader::to_cookie_clients) exists for the one page that passes its session on to a
//! native app, and says what it gives up.
//!
//! # How a request is read, and answered
//!
//! [`Transport`](crate::Transport) has the rules in full. In short: a request that carries the token header is a
//! header request, judged by its token alone (a cookie beside it is ignored: the token wins);
//! its response hands out the token in the response header and never sets a cookie. Any other
//! request is a cookie request, as without this option. [`TokenHeader::bearer`](crate::TokenHeader::bearer) reads
//! `Authorization: Bearer <token>` and hands tokens out in `Session-Token`;
//! [`TokenHeader::named`](crate::TokenHeader::named) uses one header of your choosing both ways. An `Authorization` header
//! in another scheme (`Basic`) is the app's business, not a token.
//!
//! The token is the cookie's value, byte for byte, signed with the same secrets (a rotation
//! works alike), so a session can move between the two: a page can hand its cookie's session to
//! an app, or an app log a browser in. Only a server-issued, verifying token names a session:
//! a tampered one, another app's, one over 4,096 bytes, or one sent in several headers at once
//! is no session, and the request gets a new one, never an error.
//!
//! # A token's life
//!
//! - **Getting one.** A client without a token sends the header empty
//!   (`Authorization: Bearer`), usually on its login request; the response's `Session-Token`
//!   carries the token once the session is saved. With [`Transport::Header`](crate::Transport::Header) every request is
//!   a header request, so the header may be left out altogether. An API that would rather
//!   return the token in its login response's body has it from
//!   [`TypedSession::session_token`](crate::TypedSession::session_token) (after `cycle_id`).
//! - **A new id.** A login should call [`cycle_id`](crate::TypedSession::cycle_id) (or
//!   [`regenerate`](crate::TypedSession::regenerate)) as for cookies: the response hands out
//!   the new token, and the old one names nothing from then on.
//! - **Expiry.** The stored session's lifetime governs, exactly as for a cookie: `max_age`,
//!   `rolling`, the touch that keeps an idle session alive, `absolute_lifetime`. With the token
//!   goes `Session-Token-Expires`, the session's expiry as an HTTP date (none for a
//!   browser-session lifetime, which the store's idle TTL bounds). With `rolling`, every
//!   response hands the token out again with the moved expiry. A client should expect a token
//!   to stop working at any time (an expiry, a "log out everywhere"): the request then gets a
//!   new, empty session, and the app answers it as signed out.
//! - **Logging out.** After [`destroy`](crate::TypedSession::destroy) the response carries
//!   `Session-Token` **empty** (and the expiry at the Unix epoch): the client forgets its token.
//!   [`destroy_other_sessions`](crate::TypedSession::destroy_other_sessions) from a browser
//!   ends the phone's session too; the phone's token then names nothing.
//!
//! Two rules of cookies do not bind tokens: the cookie's `Path` (a header request is served on
//! any path) and `Secure` (a token is handed out, and voided, over plain HTTP too: an API
//! client sends its token where it chooses; serve the API over HTTPS). Every response that
//! hands out or voids a token is `Cache-Control: no-store`, whatever caching headers the
//! handler set, and every response to a header request varies with the token header, so no
//! cache keeps one client's token or answer for another.
//!
//! With the [`CookieStore`](crate::CookieStore), the token is the sealed session itself: a
//! stateless, encrypted token of at most 4,096 bytes (a larger session is refused with
//! [`SessionError::CookieTooLarge`](crate::SessionError::CookieTooLarge), as for a cookie),
//! handed out again whenever the session changes, and revoked only by rotating the secret.
//!
//! # CSRF
//!
//! A browser attaches cookies to requests another site makes it send; it never attaches a
//! token header (or `Authorization`) across origins unless the app's CORS policy allows that
//! origin. So header requests need no CSRF check, and cookie requests still do:
//! the [`Carrier`](crate::Carrier) extractor tells them apart. The CSRF library in
//! the [`libraries`](super::libraries) guide skips header requests this way.
//!
//! # CORS, for browser scripts on another origin
//!
//! A single-page app served from another origin that calls the API with a token needs CORS:
//! the browser must be allowed to send `Authorization` and, above all, to let the script read
//! the token handed out: response headers are hidden from cross-origin scripts unless listed in
//! `Access-Control-Expose-Headers`. With `tower-http`'s `CorsLayer`:
//!
//! ```
//! use axum::Router;
//! use axum::http::{HeaderValue, Method, header};
//! use sessionly::{SessionLayer, TokenHeader, Transport};
//! use tower_http::cors::{AllowOrigin, CorsLayer};
//!
//! let token = TokenHeader::bearer();
//! let cors = CorsLayer::new()
//!     .allow_origin(AllowOrigin::exact(HeaderValue::from_static("https://app.example.com")))
//!     .allow_methods([Method::GET, Method::POST])
//!     .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
//!     // Without this, the script cannot read the token it is handed.
//!     .expose_headers([token.response_header().clone(), token.expires_header().clone()]);
//! let sessions = SessionLayer::builder()
//!     .secret("a long random secret, 32 bytes or more")
//!     .transport(Transport::CookieOrHeader(token))
//!     .build()
//!     .unwrap();
//! let app: Router = Router::new().layer(sessions).layer(cors);
//! ```
//!
//! Keep `allow_credentials` off unless the other origin must also send cookies: a token needs
//! no credentials mode.
//!
//! # Everything else
//!
//! Typed access, namespaces, `lazy_load`, `lock_sessions`, `store_turns`, the owner index,
//! [`DetachedSession`](crate::DetachedSession) and every store work the same for header
//! requests: only where the id travels differs. Several session layers (one per cookie name)
//! need one token header each; only one of them can use `Authorization` (a layer that finds
//! another's token in its response header says so, once, at WARN). `build()` refuses a token
//! header with a meaning of its own (`Cookie`, `Set-Cookie`, `Authorization` by name — use
//! [`TokenHeader::bearer`](crate::TokenHeader::bearer) —, `Vary`, `Cache-Control`). The layer
//! writes no token to its logs, spans or metrics, as it writes no cookie value.
//!
//! # Testing
//!
//! [`TestClient::carrying_token`](crate::testing::TestClient::carrying_token) (feature
//! `testing`) makes a test client that carries a token instead of cookies. The repository's
//! `examples/api.rs` serves a JSON API to a browser page and to a command-line client, which
//! sign in as one user, list each other's sessions and log each other out; its tests run it
//! over HTTP and in Chromium.
