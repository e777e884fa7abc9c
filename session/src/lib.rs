//! Typed, server-side sessions for axum and any tower service, with express-session's options
//! and Session API.
//!
//! Derive [`SessionData`] on a struct, add a [`SessionLayer`], and extract
//! [`TypedSession<YourStruct>`](TypedSession) in handlers:
//!
//! ```
//! use axum::{Router, routing::get};
//! use sessionly::{SessionData, SessionLayer, TypedSession};
//!
//! #[derive(SessionData)]
//! struct Account {
//!     user_id: Option<u64>,
//!     cart: Vec<u32>,
//!     #[session(flash)]
//!     notice: Option<String>,
//! }
//!
//! async fn handler(mut session: TypedSession<Account>) -> String {
//!     session.set_user_id(Some(7)); // marks user_id changed
//!     session.cart_mut().push(42); // marks cart changed
//!     let items = session.cart().len(); // a read changes nothing
//!     let notice = session.take_notice(); // read-once
//!     format!("{items} items, {notice:?}")
//! }
//!
//! # fn main() -> Result<(), sessionly::ConfigError> {
//! let sessions = SessionLayer::builder().secret("a long random secret, 32 bytes or more").build()?;
//! let app: Router = Router::new().route("/", get(handler)).layer(sessions);
//! # Ok(())
//! # }
//! ```
//!
//! The [`guide`] explains how to do a task with the crate: the derive in depth, the options and
//! what browsers keep, lifetimes and "log out other devices", libraries sharing a session,
//! websockets, running beside an express-session app, choosing a store, testing,
//! observability and security.
//!
//! # One request's path through the crate
//!
//! In the order the code runs; each step calls only the ones below it (layer → request →
//! backend → store):
//!
//! 1. **layer** ([`SessionService`], its `call`): the request is outside the cookie's `Path`, or it
//!    goes on; its session cookie, if any, is handed to the backend to verify (a signed id, or
//!    with [`CookieStore`] a sealed session).
//! 2. **request**: a handle on the request's session goes into the request's extensions. Unless
//!    [`lazy_load`](SessionLayerBuilder::lazy_load) leaves it to the first extractor, the
//!    handle opens the session now: it takes the session's turn (`lock_sessions`, and with
//!    [`store_turns`](SessionLayerBuilder::store_turns) the store's lease), then has the
//!    backend load it, or starts a new one.
//! 3. **the handler**: [`TypedSession`] decodes fields on first access ([`Codec`]), tracks what
//!    changes, and hands the changes to the handle. `save`, `reload`, `regenerate`, `destroy`
//!    and the owner's sessions go through the handle to the backend.
//! 4. **layer** again: a pure function of the options and what happened to the session decides
//!    whether to save, touch or destroy and which cookie to send; the backend carries out the
//!    store's part and makes the cookie's value; the layer sets the cookie, and the turn goes
//!    back.
//! 5. **backend → store**: the backend is the only caller of a [`Store`](store::Store): `get_within`, `set`,
//!    `touch`, `destroy`, and the optional leases and owner index. Everything a store
//!    implementer needs is in [`store`]; an app only picks a store.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The derive names this crate `::sessionly`; the testing kit's own schema needs that here too.
#[cfg(feature = "testing")]
extern crate self as sessionly;

mod backend;
mod codec;
mod config;
pub mod cookie;
mod error;
pub mod guide;
mod id;
mod layer;
pub mod observe;
mod record;
mod request;
mod schema;
mod shape;
pub mod store;
mod transport;

pub use backend::StoreTurns;
#[cfg(feature = "json")]
pub use codec::Json;
pub use codec::{Codec, CodecError, Postcard};
pub use config::{ConfigError, CookieOptions, MIN_SECRET_LEN, Unset};
pub use cookie::{Priority, SameSite, Secure};
pub use error::SessionError;
pub use id::generate_id;
pub use layer::{
    AppSecure, DEFAULT_MAX_SESSION_SIZE, DirectTls, SessionLayer, SessionLayerBuilder,
    SessionService,
};
pub use record::CookieOverrides;
pub use request::detach::DetachedSession;
pub use request::extract::TypedSession;
pub use schema::SessionData;
pub use sessionly_derive::SessionData;
#[cfg(feature = "connect-pg")]
pub use store::ConnectPgStore;
#[cfg(feature = "mysql")]
pub use store::MySqlStore;
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
#[cfg(feature = "connect-redis")]
pub use store::{CONNECT_REDIS_TTL, ConnectRedisStore};
#[cfg(feature = "cookie-store")]
pub use store::{CookieStore, MAX_COOKIE_LEN};
pub use store::{MemoryStore, StoreError};
#[cfg(feature = "redis")]
pub use store::{RedisCacheStats, RedisStore};
pub use transport::{Carrier, TokenHeader, Transport};

#[cfg(feature = "testing")]
pub mod testing;

/// The README's examples, compiled (and run, unless `no_run`) as doc tests. Only under
/// `doctest`: the README is outside this package's directory, so a build from the packaged
/// sources (`cargo package`) must not read it.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;

/// Items the derive's generated code names. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::record::Fields;
    pub use crate::schema::{
        FieldCodec, FieldDefault, FieldInfo, LazyField, SessionValue, Sink, Tracked, field_codec,
    };
}
