//! Typed, server-side sessions for axum and any tower service.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod codec;
mod config;
pub mod cookie;
mod error;
mod extract;
mod id;
mod middleware;
mod record;
mod schema;
mod state;
mod store;

#[cfg(feature = "json")]
pub use codec::Json;
pub use codec::{Codec, CodecError, Postcard};
pub use config::{ConfigError, CookieOptions, SessionLayerBuilder, Unset};
pub use error::SessionError;
pub use extract::TypedSession;
pub use id::generate_id;
pub use middleware::{AppSecure, DirectTls, SessionLayer, SessionService};
pub use record::{CookieOverrides, CookieState, Fields, Record};
pub use schema::SessionData;
pub use session_derive::SessionData;
pub use store::{Changed, MemoryStore, Store, StoreError};

/// Items the derive's generated code names. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::record::Fields;
    pub use crate::schema::{Sink, Tracked, decode_field};
    pub use serde::Serialize;
    pub use serde::de::DeserializeOwned;
}
