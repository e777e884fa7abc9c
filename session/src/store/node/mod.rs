//! What a Node app shares with this crate: express-session's stored format ([`express`]) and
//! the stores that keep sessions where connect-redis and connect-pg-simple do, in their layout,
//! so that an express app and an axum app serve the same live sessions.

#[cfg(feature = "connect-pg")]
mod connect_pg;
#[cfg(feature = "connect-redis")]
mod connect_redis;
#[cfg(feature = "json")]
pub mod express;

#[cfg(feature = "connect-pg")]
pub use connect_pg::ConnectPgStore;
#[cfg(feature = "connect-redis")]
pub use connect_redis::{CONNECT_REDIS_TTL, ConnectRedisStore};
