//! Running beside an express-session app: sharing live sessions with Node, and moving off it
//! one route at a time.
//!
//! Teams leaving Node can move one route at a time: a Rust service and an express-session app
//! behind one load balancer share live sessions. The cookie is already express's — with the
//! same secret and cookie name each side verifies the other's cookies — and two stores keep
//! sessions the way connect-redis and connect-pg-simple do, so each side reads what the other
//! wrote:
//!
//! | store | feature | Node side | layout |
//! |---|---|---|---|
//! | [`ConnectRedisStore`](crate::ConnectRedisStore) | `connect-redis` | connect-redis 9 | string key `sess:<id>` ([`with_prefix`](crate::ConnectRedisStore::with_prefix)), express's JSON, its TTL rule |
//! | [`ConnectPgStore`](crate::ConnectPgStore) | `connect-pg` | connect-pg-simple | table `session (sid, sess json, expire timestamp(6))` ([`with_table`](crate::ConnectPgStore::with_table)), [`migrate()`](crate::ConnectPgStore::migrate) creates it |
//!
//! The record is express-session's JSON ([`sessionly::store::express`](crate::store::express)):
//! `cookie` with `originalMaxAge`, `expires` and the per-session attributes, then one top-level
//! key per field. Give the shared fields the [`Json`](crate::Json) codec and Node's names
//! (`#[session(rename = "userId")]` for camelCase); every key the Rust schema does not know
//! (passport's `passport`, flash arrays) is kept byte for byte across Rust writes. What
//! express's cookie has no room for (creation time, absolute expiry, owner) goes under
//! `_sessionly`, which Node keeps as it keeps any key.
//!
#![cfg_attr(feature = "connect-redis", doc = "```no_run")]
#![cfg_attr(not(feature = "connect-redis"), doc = "```ignore")]
//! use std::time::Duration;
//! use sessionly::{ConnectRedisStore, CookieOptions, SessionData, SessionLayer};
//!
//! #[derive(SessionData)]
//! #[session(codec = sessionly::Json)]
//! struct Shared {
//!     user_id: Option<String>, // req.session.user_id
//!     #[session(rename = "rustVisits")]
//!     visits: u64, // req.session.rustVisits
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let sessions = SessionLayer::builder()
//!     .secret("the Node app's secret, the same on both sides") // same secret(s), same cookie name
//!     .allow_short_secrets() // if the Node app's secret is under 32 bytes (warns at build)
//!     .store(ConnectRedisStore::open("redis://10.0.0.5").await?)
//!     .cookie(CookieOptions::new().max_age(Duration::from_secs(86_400))) // as Node's cookie
//!     .build()?;
//! # let _ = sessions;
//! # Ok(())
//! # }
//! ```
//!
//! What holds, tested against the real Node packages (`tests/interop/node_interop.rs`, with
//! `tests/node/app.js` on express 5, express-session 1.19, connect-redis 9, connect-pg-simple
//! 10):
//! - Signed in on either side, signed in on both; destroy or regenerate on either side ends the
//!   old id for both; the same expiry on both sides (within the stores' one-second rounding),
//!   and a touch or rolling refresh on either side moves it for both.
//! - A Rust write of changed fields reads the stored JSON, merges in only the keys the request
//!   changed, and writes it back only if it is still what was read (a script on Redis, a
//!   conditional `UPDATE` on PostgreSQL), reading and merging again otherwise: a Node write
//!   that landed in the meantime is kept, and a session that ended is not written back.
//! - Not guaranteed: connect-redis and connect-pg-simple write the whole JSON, so a Node request
//!   that loaded the session before a Rust write and saves after it puts back the old value of
//!   the keys the Rust request changed — what two Node processes already do to each other. The
//!   owner index (`destroy_other_sessions`) is not available on these stores.
//! - A new session the Rust side creates carries its cookie attributes in the record, as
//!   express does, so Node sends the same cookie for it.
//! - PostgreSQL: `expire` has no time zone; connect-pg-simple writes it in its connection's zone
//!   (the server's default) and these stores' connections use UTC, so run the server with
//!   `TimeZone = 'UTC'`.
//! - Cost: a Rust write of changed fields is two round trips (read, conditional write) instead
//!   of one, and carries the whole JSON.
//!
//! A migration, route by route:
//! 1. Deploy the Rust service with the same secret(s), cookie name and cookie options as the
//!    Node app, on the same Redis prefix or table, and route one path to it at the load
//!    balancer.
//! 2. Map the session keys that path uses to a `Json` schema; leave the rest to Node.
//! 3. Move the next path. Sessions stay valid throughout: nobody is signed out.
//! 4. When Node is gone, stay on the connect store, or move to
//!    [`RedisStore`](crate::RedisStore) / [`PostgresStore`](crate::PostgresStore) (their own
//!    layout; sessions then start afresh).
//!
//! `examples/beside_express.rs` in the repository is such a service: it reads who the Node app
//! signed in and keeps a counter Node sees as `req.session.rustVisits`.
