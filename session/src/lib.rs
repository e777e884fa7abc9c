//! Typed, server-side sessions for axum and any tower service.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod codec;
pub mod cookie;
mod record;
mod schema;

pub use codec::{Codec, CodecError, Postcard};
#[cfg(feature = "json")]
pub use codec::Json;
pub use record::{CookieOverrides, CookieState, Fields, Record};
pub use schema::SessionData;
pub use session_derive::SessionData;

/// Items the derive's generated code names. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::record::Fields;
    pub use crate::schema::{Sink, Tracked, decode_field};
    pub use serde::Serialize;
    pub use serde::de::DeserializeOwned;
}
