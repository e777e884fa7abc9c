//! Where sessions live between requests: the [`Store`] contract and its implementations.
//!
//! The contract is express-session's: `get`, `set` and `destroy` are required; `touch` is
//! recommended (the middleware calls it for sessions that were used but not changed); `all`,
//! `clear` and `length` are optional conveniences. An operation a store lacks answers
//! [`StoreError::Unsupported`] instead of being faked. Expiry is the store's job: a store never
//! returns a record whose expiry has passed.

use std::collections::BTreeSet;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::record::Record;

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use redis::RedisStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// How long a session without expiry (a browser-session cookie) is kept after its last write
/// or touch, unless the store's `with_idle_ttl` (such as [`MemoryStore::with_idle_ttl`]) says
/// otherwise. Every store has this default.
pub const DEFAULT_IDLE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Which fields of a record a [`Store::set`] call changes.
#[derive(Debug, Clone, Copy)]
pub enum Changed<'a> {
    /// The whole record is new or replaced: write all of it.
    All,
    /// Only these fields (by stored name) changed since the record was loaded or last written,
    /// plus the cookie state, which is always written. A store that can patch single fields
    /// should write just these, so concurrent requests that change different fields of one
    /// session do not undo each other; a store that cannot may write the whole record.
    Fields(&'a BTreeSet<String>),
}

/// A session store.
///
/// Implementations write plain `async fn`s:
///
/// ```
/// use session::{Changed, Record, Store, StoreError};
///
/// struct Nowhere;
///
/// impl Store for Nowhere {
///     async fn get(&self, _id: &str) -> Result<Option<Record>, StoreError> {
///         Ok(None)
///     }
///     async fn set(&self, _id: &str, _record: &Record, _changed: Changed<'_>) -> Result<(), StoreError> {
///         Ok(())
///     }
///     async fn destroy(&self, _id: &str) -> Result<(), StoreError> {
///         Ok(())
///     }
/// }
/// ```
pub trait Store: Send + Sync + 'static {
    /// Loads a session; `Ok(None)` when there is none or it has expired. A record that exists
    /// but cannot be read is logged and reported as `Ok(None)`.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Creates or updates a session, and sets its expiry from `record.cookie`.
    fn set(
        &self,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes a session; deleting a missing one is not an error.
    fn destroy(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Refreshes a session's expiry from `record.cookie` without writing its fields.
    /// Recommended; the default answers [`StoreError::Unsupported`].
    fn touch(
        &self,
        id: &str,
        record: &Record,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (id, record);
        async { Err(StoreError::unsupported("touch")) }
    }

    /// Every live session. Optional.
    fn all(&self) -> impl Future<Output = Result<Vec<(String, Record)>, StoreError>> + Send {
        async { Err(StoreError::unsupported("all")) }
    }

    /// Deletes every session. Optional.
    fn clear(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Err(StoreError::unsupported("clear")) }
    }

    /// The number of live sessions. Optional.
    fn length(&self) -> impl Future<Output = Result<usize, StoreError>> + Send {
        async { Err(StoreError::unsupported("length")) }
    }
}

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store does not implement this optional operation.
    #[error("the session store does not support `{operation}`")]
    Unsupported {
        /// The operation asked for.
        operation: &'static str,
    },
    /// The store's backend failed (unreachable, timed out, refused the command, ...).
    #[error("the {store} session store failed: {source}")]
    Backend {
        /// Which store.
        store: &'static str,
        /// What went wrong.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl StoreError {
    /// An optional operation the store does not have.
    pub fn unsupported(operation: &'static str) -> Self {
        Self::Unsupported { operation }
    }

    /// A failure of the store named `store`.
    pub fn backend(
        store: &'static str,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self::Backend {
            store,
            source: source.into(),
        }
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`Store`] as the middleware holds it: behind one pointer, whatever the store's type.
/// Native `async fn` in traits cannot be called through `dyn`, so this boxes each call; a store
/// call is a round trip (or a map lookup), next to which the box costs nothing.
pub(crate) trait DynStore: Send + Sync + 'static {
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Record>, StoreError>>;
    fn set<'a>(
        &'a self,
        id: &'a str,
        record: &'a Record,
        changed: Changed<'a>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn destroy<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    fn touch<'a>(
        &'a self,
        id: &'a str,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

impl<S: Store> DynStore for S {
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(Store::get(self, id))
    }

    fn set<'a>(
        &'a self,
        id: &'a str,
        record: &'a Record,
        changed: Changed<'a>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(Store::set(self, id, record, changed))
    }

    fn destroy<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(Store::destroy(self, id))
    }

    fn touch<'a>(
        &'a self,
        id: &'a str,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(Store::touch(self, id, record))
    }
}
