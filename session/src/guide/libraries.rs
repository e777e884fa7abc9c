//! Sharing a session with libraries: several schemas in one session, each library's under a
//! namespace of its own.
//!
//! A session can hold several schemas at once: the app's own, and one for each library that
//! keeps something in it (sign-in, CSRF, flash messages). A library gives its schema a
//! namespace, so its field names cannot meet anyone else's:
//!
//! ```
//! use sessionly::{SessionData, TypedSession};
//!
//! #[derive(SessionData)]
//! #[session(namespace = "auth")] // stored as "auth/user"
//! pub struct Auth {
//!     #[session(owner)]
//!     user: Option<String>,
//! }
//!
//! #[derive(SessionData)]
//! struct App {
//!     // stored as "user": another field
//!     user: Option<u32>,
//! }
//!
//! async fn page(auth: TypedSession<Auth>, mut app: TypedSession<App>) -> String {
//!     app.set_user(Some(7));
//!     format!("{:?} {:?}", auth.user(), app.user())
//! }
//! ```
//!
//! A namespace is a plain word (ASCII letters, digits, `_`, `-`); `/` is reserved for it, so no
//! `rename` can pose as a namespaced field.
//!
//! Every extractor of the request works on the same session — a library's `from_fn` layer that
//! extracts `TypedSession<Auth>` and the handler after it, or several extractors in one handler
//! — and each one's changes are saved with the others', as one field patch, with the same
//! modified/uninitialized decision as for a single schema, under any combination of `lazy_load`
//! and `lock_sessions`. An extractor hands its changes to the session when it is dropped (or
//! saved), so a layer should drop its extractor before calling the handler if the handler is to
//! see its changes:
//!
//! ```
//! use axum::extract::Request;
//! use axum::middleware::Next;
//! use axum::response::{IntoResponse, Response};
//! use axum::http::StatusCode;
//! use sessionly::{SessionData, TypedSession};
//!
//! #[derive(SessionData)]
//! #[session(namespace = "auth")]
//! pub struct Auth {
//!     #[session(owner)]
//!     user: Option<String>,
//! }
//!
//! /// A `from_fn` layer: only signed-in users get through.
//! pub async fn require_login(auth: TypedSession<Auth>, request: Request, next: Next) -> Response {
//!     let signed_in = auth.user().is_some();
//!     drop(auth); // hand its changes (none here) to the session before the handler runs
//!     if !signed_in {
//!         return StatusCode::UNAUTHORIZED.into_response();
//!     }
//!     next.run(request).await
//! }
//! ```
//!
//! A library that writes on every request — an audit counter, a "last seen" time — would make
//! every anonymous visit a stored session, and `save_uninitialized(false)` would not help: the
//! session is modified. [`is_new()`](crate::TypedSession::is_new) says whether the session was
//! created in this request; leave those alone, and a visit stores nothing until the app itself
//! writes to the session:
//!
//! ```
//! use axum::extract::Request;
//! use axum::middleware::Next;
//! use axum::response::Response;
//! use sessionly::{SessionData, TypedSession};
//!
//! #[derive(SessionData)]
//! #[session(namespace = "audit")]
//! pub struct Audit {
//!     requests: u64,
//! }
//!
//! /// A `from_fn` layer: counts the requests of sessions that existed before this request.
//! pub async fn audit(mut audit: TypedSession<Audit>, request: Request, next: Next) -> Response {
//!     if !audit.is_new() {
//!         *audit.requests_mut() += 1;
//!     }
//!     drop(audit);
//!     next.run(request).await
//! }
//! ```
//!
//! A library's login should change the session id with
//! [`cycle_id()`](crate::TypedSession::cycle_id), which keeps the app's and other libraries'
//! data; [`regenerate()`](crate::TypedSession::regenerate) empties every namespace (see
//! [`lifetimes`](super::lifetimes#a-new-id-on-login-cycle_id-or-regenerate)).
//!
//! Two schemas that store different types (or the same type with different codecs) under one
//! name, or two schemas that both have an owner field, cannot share a layer: the first request
//! that extracts the second one gets `500` and the log names both schemas and the field
//! ([`SessionError::SchemaConflict`](crate::SessionError::SchemaConflict)), instead of one
//! schema reading the other's bytes. Schemas that store the same type under the same name share
//! it.
//!
//! `examples/libraries.rs` in the repository shows it as libraries would write it: an `auth`
//! module (`login`, `logout`, `current_user`, a `require_login` layer) and a `csrf` module — a
//! per-session synchronizer token (`csrf::token`) that `csrf::protect` checks on unsafe
//! methods, from an `x-csrf-token` header or a `_csrf` form field — used by an app with its own
//! schema (`cargo run --example libraries`). CSRF protection does not ship in the crate: which
//! defence fits (synchronizer token, double submit, `Origin` checks, SameSite cookies) and how
//! tokens reach the forms are the app's choices, and the example's 60 lines are there to copy.
