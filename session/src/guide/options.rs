//! The layer's options beside express-session's, the cookie's attributes and what browsers
//! keep of them, when the layer loads a session, and the cookie's format.
//!
//! # The options
//!
//! [`SessionLayer::builder()`](crate::SessionLayer::builder) takes express-session's options,
//! with its defaults except two that express itself deprecates:
//!
//! | express | here | default |
//! |---|---|---|
//! | `secret` (string or array) | [`.secret(s)`](crate::SessionLayerBuilder::secret) (repeatable), [`.secrets([..])`](crate::SessionLayerBuilder::secrets) | required |
//! | `name` | [`.name(..)`](crate::SessionLayerBuilder::name) | `connect.sid` |
//! | `store` | [`.store(..)`](crate::SessionLayerBuilder::store) | [`MemoryStore`](crate::MemoryStore) |
//! | `cookie` (object) | [`.cookie(CookieOptions::new()...)`](crate::SessionLayerBuilder::cookie) | `Path=/; HttpOnly`, no expiry |
//! | `cookie` (function) | [`.cookie_with(\|parts\| CookieOptions)`](crate::SessionLayerBuilder::cookie_with) | |
//! | `genid` | [`.genid(\|parts\| String)`](crate::SessionLayerBuilder::genid) | 192 random bits, URL-safe |
//! | `proxy` | [`.proxy(bool)`](crate::SessionLayerBuilder::proxy); unset: the [`AppSecure`](crate::AppSecure) extension | unset |
//! | `resave` | [`.resave(bool)`](crate::SessionLayerBuilder::resave) | `false` (express: `true`, deprecated) |
//! | `rolling` | [`.rolling(bool)`](crate::SessionLayerBuilder::rolling) | `false` |
//! | `saveUninitialized` | [`.save_uninitialized(bool)`](crate::SessionLayerBuilder::save_uninitialized) | `false` (express: `true`, deprecated) |
//! | `unset` | [`.unset(Unset::Keep \| Unset::Destroy)`](crate::SessionLayerBuilder::unset) | `Keep` |
//! | (none) | [`.lock_sessions(bool)`](crate::SessionLayerBuilder::lock_sessions): same-session requests take turns | `true` |
//! | (none) | [`.store_turns(StoreTurns)`](crate::SessionLayerBuilder::store_turns): the turns also across processes (see [`stores`](super::stores#turns-through-the-store)) | off |
//! | (none) | [`.lazy_load(bool)`](crate::SessionLayerBuilder::lazy_load): load the session only when a handler extracts it | `false` |
//! | (none) | [`.save_on_error(bool)`](crate::SessionLayerBuilder::save_on_error): save and send the cookie on a 5xx response | `false` |
//! | (none) | [`.absolute_lifetime(d)`](crate::SessionLayerBuilder::absolute_lifetime): every session ends `d` after its creation, however active | no limit |
//! | (none) | [`.max_session_size(bytes)`](crate::SessionLayerBuilder::max_session_size): a larger session is not saved and a larger stored one is not loaded (below) | 64 KiB |
//!
//! A session larger than `max_session_size` is not saved: the response is a `500`, or an
//! explicit [`save()`](crate::TypedSession::save) answers
//! [`SessionError::TooLarge`](crate::SessionError::TooLarge). A larger stored one is not
//! loaded: the memory and SQL stores check the size where the record lives, so it never enters
//! the process; Redis does so with
//! [`RedisStore::with_size_check_in_redis(true)`](crate::RedisStore::with_size_check_in_redis)
//! (a script, about 3× Redis's CPU per load), and otherwise reads it and drops it.
//!
//! ```
//! use std::time::Duration;
//! use sessionly::{CookieOptions, SameSite, Secure, SessionLayer};
//!
//! # fn main() -> Result<(), sessionly::ConfigError> {
//! let layer = SessionLayer::builder()
//!     .secret("a secret of at least thirty-two bytes!")
//!     .name("sid")
//!     .cookie(
//!         CookieOptions::new()
//!             .max_age(Duration::from_secs(24 * 3600))
//!             .same_site(SameSite::Lax)
//!             .secure(Secure::Auto),
//!     )
//!     .rolling(true)
//!     .lazy_load(true)
//!     .build()?;
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```
//!
//! # The cookie
//!
//! [`CookieOptions`](crate::CookieOptions) has `domain`, `expires`, `http_only`, `max_age`,
//! `partitioned`, `path`, `priority` ([`Priority`](crate::Priority)), `same_site`
//! ([`SameSite`](crate::SameSite): `Strict`, `Lax`, `None`, `Auto`; unset = express's `false`)
//! and `secure` ([`Secure`](crate::Secure): `Never`, `Always`, `Auto`). A request whose path is
//! outside the cookie's `Path` has no session.
//!
//! `Secure` cookies are not sent over insecure connections (express's rule); a new session whose
//! cookie is held back that way is not stored either at the end of the request (express stores
//! it, and nobody can ever load it; an explicit `save()` still stores it), and the first time a layer holds a cookie back it says so at WARN, naming the
//! fixes below (later cases log at DEBUG). Whether a connection is secure comes
//! from the [`DirectTls`](crate::DirectTls) request extension or an `https` URI, from
//! `X-Forwarded-Proto` when `.proxy(true)`, or from your [`AppSecure`](crate::AppSecure)
//! extension when `proxy` is unset. Behind your own TLS acceptor, add
//! `.layer(axum::Extension(sessionly::DirectTls))` to the router it serves (the repository's
//! `tests/interop/browser.rs` serves the examples over HTTPS so).
//!
//! ## What browsers keep
//!
//! Browsers drop a cookie whose attributes they dislike without a word, and no HTTP-level test
//! notices. `tests/interop/browser.rs` serves each setting below to headless Chromium (156,
//! Debian's, over WebDriver) and reads back what its cookie jar holds; a second request tells
//! whether the cookie came back. Unset `SameSite` is kept as `Lax` (Chromium's default).
//! WebDriver does not report `Partitioned` or `Priority`.
//!
//! | setting | served over | Chromium keeps | `build()` warns |
//! |---|---|---|---|
//! | defaults (express's) | HTTP | `Path=/`, `Lax`, `HttpOnly`, browser-session | |
//! | `max_age(1 h)` | HTTP | expires in 1 h | |
//! | `max_age(1000 days)` | HTTP | expires in **400 days** (the browsers' cap) | `LifetimeOverBrowserCap` |
//! | `SameSite::Strict` / `Lax` | HTTP | `Strict` / `Lax` | |
//! | `SameSite::None` without `Secure` | HTTPS | **nothing** | `SameSiteNoneWithoutSecure` |
//! | `SameSite::None` + `Secure::Always` | HTTPS | `None`, `Secure` | |
//! | `SameSite::None` + `Secure::Auto` | HTTP | **nothing** (no `Secure` on plain HTTP) | |
//! | `SameSite::Auto` | HTTP | `Lax` | `SameSiteAutoWithoutSecure` |
//! | `SameSite::Auto` without `Secure` | HTTPS | **nothing** (`None` without `Secure`) | `SameSiteAutoWithoutSecure` |
//! | `SameSite::Auto` + `Secure::Auto` | HTTPS | `None`, `Secure` | |
//! | `Secure::Always` | HTTPS | `Secure` | |
//! | `Secure::Always` | HTTP | nothing: the layer does not send it (express's rule) | |
//! | `Secure::Auto` | HTTP | not `Secure` | |
//! | `partitioned(true)` without `Secure` | HTTPS | **nothing** | `PartitionedWithoutSecure` |
//! | `partitioned(true)` + `Secure::Always` | HTTPS | kept | |
//! | `Priority::High`, `http_only(false)` | HTTP | kept (the latter without `HttpOnly`) | |
//! | `domain` = the request's host (`127.0.0.1`, `localhost`) | HTTP | kept | |
//! | `domain("example.com")` on another host | HTTP | **nothing** | (only known per request) |
//! | `domain("127.0.0.1:80")` (not a host name) | HTTP | **nothing** | `InvalidDomain` |
//! | `path("/app")`, visited at `/app` | HTTP | `Path=/app` | |
//! | name `__Host-sid` + `Secure::Always` | HTTPS | kept | |
//! | name `__Host-sid` + `domain("localhost")` | HTTPS | **nothing** | `HostPrefixMisused` |
//! | name `__Host-sid` + `domain("127.0.0.1")` | HTTPS | kept (an IP host's own `Domain` is ignored) | `HostPrefixMisused` |
//! | name `__Secure-sid` without `Secure` | HTTPS | **nothing** | `SecurePrefixWithoutSecure` |
//!
//! [`SessionLayerBuilder::build`](crate::SessionLayerBuilder::build) logs each
//! [`CookieWarning`](crate::cookie::CookieWarning) at `warn` level: the settings browsers drop
//! or shorten on every connection.
//! [`CookieOptions::browser_warnings(name)`](crate::CookieOptions::browser_warnings) returns
//! them, to check the options a `cookie_with` function makes. What depends on the request is
//! not warned of: a `Domain` that does not match the host, and `Secure::Auto` with
//! `SameSite::None` or `Partitioned`, which works behind TLS and is dropped on plain HTTP. The
//! layer sends `Secure` only on a secure connection, so Chromium's exception for
//! `http://localhost` (which lets a page there set `Secure` cookies) does not come into play:
//! test `Secure` cookies over HTTPS.
//!
//! ```
//! use sessionly::cookie::CookieWarning;
//! use sessionly::{CookieOptions, SameSite};
//!
//! let options = CookieOptions::new().same_site(SameSite::None); // and no `Secure`
//! assert!(!options.browser_warnings("connect.sid").is_empty());
//! # let _: Vec<CookieWarning> = options.browser_warnings("connect.sid");
//! ```
//!
//! # When the layer loads a session
//!
//! Like express, the layer loads the session of every request that carries a session cookie,
//! before the handler runs, and touches or resaves it afterwards as the options say. With
//! `.lazy_load(true)` a request whose handler never extracts [`TypedSession`](crate::TypedSession)
//! (a static file, a health check) costs no store call and gets no cookie; only requests that
//! extract the session then keep an idle session alive.
//!
//! The default is express's because an express app moved here route by route relies on every
//! page view keeping its session alive (`rolling`, the expiry touch). What it costs: each
//! request that carries the cookie and never uses the session makes a store read, on Redis a
//! round trip and about 2.7 times the layer's work on such a route (`bench/RESULTS.md`, "lazy_load's
//! default, measured"). Turn `lazy_load` on for an API, or a site whose many routes never use
//! the session, unless an idle timeout must count every request.
//!
//! # The cookie's value
//!
//! The cookie value is express's: `s:<id>.<HMAC-SHA256 in base64>`, percent-encoded, so a
//! session cookie issued by express-session with the same secret verifies here and vice versa.
//! Signatures are checked in constant time against every secret (the first one signs, so a new
//! secret goes first and the old ones stay until their cookies have expired); an unsigned or
//! badly signed cookie starts a new session without asking the store, and an unknown or expired
//! id is never adopted: the new session gets a new id.
