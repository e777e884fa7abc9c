//! The session API, and where it differs from express-session on purpose.
//!
//! # The session API
//!
//! On [`TypedSession<T>`](crate::TypedSession), beside the accessors the derive generates (see
//! [`schema`](super::schema)):
//!
//! - [`id()`](crate::TypedSession::id), [`is_new()`](crate::TypedSession::is_new) (created
//!   in this request; express has no `isNew`, every peer has one), and
//!   [`data()`](crate::TypedSession::data) for a read-only `&T`.
//! - [`cycle_id()`](crate::TypedSession::cycle_id) (a new id, the data kept: not in
//!   express), [`regenerate()`](crate::TypedSession::regenerate),
//!   [`destroy()`](crate::TypedSession::destroy), [`reload()`](crate::TypedSession::reload),
//!   [`save()`](crate::TypedSession::save) (an explicit save makes the end-of-request save
//!   unnecessary unless more changes follow), [`touch()`](crate::TypedSession::touch) and
//!   [`unset()`](crate::TypedSession::unset).
//! - The lifetime: [`max_age()`](crate::TypedSession::max_age) (time left),
//!   [`original_max_age()`](crate::TypedSession::original_max_age),
//!   [`expires()`](crate::TypedSession::expires),
//!   [`set_max_age(..)`](crate::TypedSession::set_max_age) and
//!   [`set_expires(..)`](crate::TypedSession::set_expires) (a per-session lifetime: "remember
//!   me"), [`created()`](crate::TypedSession::created),
//!   [`absolute_expiry()`](crate::TypedSession::absolute_expiry),
//!   [`set_absolute_lifetime(..)`](crate::TypedSession::set_absolute_lifetime); see
//!   [`lifetimes`](super::lifetimes).
//! - The cookie's per-session attributes:
//!   [`cookie_overrides()`](crate::TypedSession::cookie_overrides) /
//!   [`set_cookie_overrides(..)`](crate::TypedSession::set_cookie_overrides).
//! - The owner's sessions: [`owner_sessions()`](crate::TypedSession::owner_sessions),
//!   [`destroy_other_sessions()`](crate::TypedSession::destroy_other_sessions),
//!   [`destroy_all_sessions()`](crate::TypedSession::destroy_all_sessions).
//! - [`detach()`](crate::TypedSession::detach), for work after the response (see
//!   [`websockets`](super::websockets)).
//!
//! # Where this differs from express-session
//!
//! - Secrets must be at least 32 bytes ([`MIN_SECRET_LEN`](crate::MIN_SECRET_LEN)); a layer
//!   that shares an express app's shorter secret says so with
//!   [`allow_short_secrets()`](crate::SessionLayerBuilder::allow_short_secrets), and
//!   [`CookieStore`](crate::CookieStore)'s secrets, which are encryption keys, always need 32.
//! - A new session whose `Secure` cookie is not sent (the request is not secure) is not
//!   stored, and the layer warns once (see [`options`](super::options)).
//! - Setting a lifetime or a cookie attribute to the value it already has is not a change: no
//!   save, no resent cookie (express sends nothing there either, as its hash leaves the cookie
//!   out).
//!
//! - `resave` and `save_uninitialized` default to `false`, as express-session's own docs
//!   advise: a request that writes nothing to a new session stores nothing and gets no cookie
//!   (three cookieless health checks leave three stored sessions and three `Set-Cookie` headers
//!   behind with express's defaults, none here), and an unmodified session is touched, not
//!   written back. Set either to `true` for express's behaviour.
//! - `destroy()` (and `unset()` with [`Unset::Destroy`](crate::Unset::Destroy)) also expires
//!   the client's cookie, so the browser stops sending a dead id.
//! - Changing a session's lifetime or cookie attributes counts as a change: it is saved and the
//!   cookie is resent (express forgets `req.session.cookie.maxAge = ...` unless data changed
//!   too).
//! - A new session saved explicitly with `save()` gets its cookie even with
//!   `save_uninitialized(false)`.
//! - A response that sets the session cookie also gets `Vary: Cookie` and
//!   `Cache-Control: no-cache="Set-Cookie"` (unless it already says so), so no shared cache
//!   hands one visitor's cookie to another.
//! - An unmodified session is touched in the store only when that moves its expiry by at least
//!   1% of its lifetime (at most a minute) — for a browser-session cookie, of the store's idle
//!   TTL — so a burst of reads costs one store write, not one per request; the session may end
//!   up to that much earlier than its cookie says. A response that resends the cookie
//!   (`rolling`) always touches, so it never hands back an id another request has ended.
//! - A 5xx response saves nothing and sends no cookie (`save_on_error(true)` to save anyway): a
//!   handler that failed partway may have left half a change in the session.
//! - When the store is down, a request does not fail up front: it runs without a session, and
//!   extracting `TypedSession` answers `503 Service Unavailable`. A change the handler made that
//!   could not be saved also turns the response into a `503`, and no cookie is sent. A `503`
//!   means the layer does not know the write landed — not that it did not: the store may have
//!   applied it and lost the reply (a connection cut after the command, a timeout just after
//!   the server committed). It never means a partial write: every store applies a save in one
//!   atomic step, so the session holds either the whole change or none of it, and a client that
//!   retries may find its change there already. Anything the handler did outside the session (a
//!   payment, an email) happened either way.
//! - Same-session requests take turns within a process
//!   ([`lock_sessions`](crate::SessionLayerBuilder::lock_sessions), on by default), and across
//!   processes with [`store_turns`](crate::SessionLayerBuilder::store_turns) (see
//!   [`stores`](super::stores#turns-through-the-store)); express has neither.
//! - A session is never brought back by a write that lands after it ended (see
//!   [`lifetimes`](super::lifetimes#no-resurrection)).
//!
//! ```
//! use sessionly::{SessionData, SessionError, TypedSession};
//!
//! #[derive(SessionData)]
//! struct Account {
//!     user_id: Option<u64>,
//! }
//!
//! async fn logout(session: TypedSession<Account>) -> Result<&'static str, SessionError> {
//!     session.destroy().await?; // ends it in the store and expires the client's cookie
//!     Ok("signed out")
//! }
//! ```
