//! What the crate protects against, and what it leaves to the app.
//!
//! The threat model is in [`SECURITY.md`] in the repository: what the signature, the id
//! entropy, the per-session turn, no resurrection and the cache headers protect against, and
//! what they do not (a stolen cookie, CSRF, same-field writes across processes, a leaked
//! secret); how to rotate the secret; and how to report a vulnerability.
//!
//! In short, with pointers to where each is explained:
//! - Secrets are at least 32 bytes: `build()` refuses an empty or shorter one, unless
//!   [`allow_short_secrets()`](crate::SessionLayerBuilder::allow_short_secrets) says the layer
//!   must share an existing express app's shorter secret (it warns), and never for the cookie
//!   store.
//! - A login changes the session id ([`cycle_id`](crate::TypedSession::cycle_id) or
//!   [`regenerate`](crate::TypedSession::regenerate)), so a planted id is worthless
//!   ([`lifetimes`](super::lifetimes#a-new-id-on-login-cycle_id-or-regenerate)).
//! - The cookie carries a signed id (express's format, HMAC-SHA256, checked in constant time
//!   against every secret); a cookie that does not verify starts a new session without asking
//!   the store, and an unknown or expired id is never adopted
//!   ([`options`](super::options#the-cookies-value)). Ids are 192 random bits.
//! - A session that ended stays ended: no write that lands later brings it back
//!   ([`lifetimes`](super::lifetimes#no-resurrection)).
//! - A response that sets the cookie carries `Vary: Cookie` and
//!   `Cache-Control: no-cache="Set-Cookie"`, so no shared cache hands it to another visitor
//!   ([`express_differences`](super::express_differences)).
//! - Same-session requests take turns within a process; across processes, writes to the same
//!   field are last-writer-wins unless the store takes turns
//!   ([`stores`](super::stores#turns-through-the-store)).
//! - CSRF protection is the app's: [`libraries`](super::libraries) has a synchronizer token to
//!   copy.
//! - [`CookieStore`](crate::CookieStore) keeps the session on the client, encrypted: its secrets
//!   are encryption keys, and nothing on the server can end a session early; read its page
//!   before choosing it.
//! - No log event carries a session id, a cookie or a secret
//!   ([`observability`](super::observability)).
//!
//! [`SECURITY.md`]: https://github.com/sessionly-rs/sessionly/blob/main/SECURITY.md
