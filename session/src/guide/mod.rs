//! Guides: how to do a task with the crate, beyond what one item's docs say. Each guide is a
//! page of prose; its examples are compiled, and run where they need no server, as doctests,
//! so none of them can drift from the code.
//!
//! Start with the crate's front page (the [README]) for the quick start, then:
//!
//! - [`schema`]: the derive in depth: the accessors, the attributes, fields decoded on first
//!   use, and how a schema evolves (renamed, added, removed and retyped fields).
//! - [`options`]: the layer's options beside express-session's, the cookie's attributes, what
//!   browsers keep of them, when the layer loads a session, and the cookie's format.
//! - [`express_differences`]: the session API and where it differs from express-session on
//!   purpose (defaults, caching headers, errors, an unavailable store).
//! - [`lifetimes`]: idle and absolute expiry, "remember me", no resurrection of an ended
//!   session, and "log out other devices".
//! - [`libraries`]: several schemas in one session, namespaces for libraries, and a CSRF
//!   token as a library would write it.
//! - [`api_clients`]: the session id in a request header for API, mobile and command-line
//!   clients, beside or instead of the cookie.
//! - [`websockets`]: sessions after the response, in websockets and spawned tasks.
//! - [`beside_express`]: sharing live sessions with an express-session app, and moving off it
//!   route by route.
//! - [`stores`]: choosing a store, what every store guarantees, TLS, turns through the store,
//!   and writing a store of your own. Each store's own page has its layout and settings:
//!   [`MemoryStore`](crate::MemoryStore), [`SqliteStore`](crate::SqliteStore),
//!   [`RedisStore`](crate::RedisStore), [`PostgresStore`](crate::PostgresStore),
//!   [`MySqlStore`](crate::MySqlStore), [`CookieStore`](crate::CookieStore) (the whole session in
//!   an encrypted cookie), [`ConnectRedisStore`](crate::ConnectRedisStore) and
//!   [`ConnectPgStore`](crate::ConnectPgStore).
//! - [`testing`]: testing handlers without a server, and in a real browser.
//! - [`observability`]: the `tracing` spans and events, and the metrics.
//! - [`security`]: what the crate protects against and what it leaves to the app.
//! - [`compatibility`]: versioning, the minimum Rust version, and stored sessions across
//!   releases.
//!
//! [README]: https://github.com/sessionly-rs/sessionly#readme

pub mod api_clients;
pub mod beside_express;
pub mod compatibility;
pub mod express_differences;
pub mod libraries;
pub mod lifetimes;
pub mod observability;
pub mod options;
pub mod schema;
pub mod security;
pub mod stores;
pub mod testing;
pub mod websockets;
