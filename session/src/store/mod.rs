//! Where sessions live between requests: the [`Store`] contract and its implementations.
//!
//! The contract is express-session's, split by what every store has and what only some do:
//! - [`Store`], the core the layer calls on every request: `get`, `set` and `destroy` are
//!   required; `touch` (for sessions that were used but not changed) has a default that writes
//!   a patch of no fields, so no store is left without one.
//! - Capabilities, each a trait of its own that a store implements and declares in
//!   [`Store::capabilities`]: [`Leases`] (the store-side turn of `store_turns`), [`OwnerIndex`]
//!   ("my sessions", "log out other devices"), [`Listing`] (`all`, `length`, `clear`). An
//!   operation of a capability the store does not declare answers [`StoreError::Unsupported`]
//!   where the layer would call it; the builder refuses `store_turns` without [`Leases`].
//!
//! Two rules go beyond express's contract:
//! - Expiry is the store's job: a store drops a record at
//!   [`CookieState::store_expiry_ms`](crate::store::CookieState::store_expiry_ms) (the idle expiry
//!   capped by the absolute one) and never returns one whose expiry has passed.
//! - No resurrection: only [`Changed::All`] creates a record. A patch
//!   ([`Changed::Fields`], [`Changed::FieldsAndOwner`]) or a `touch` of a record that is not there (destroyed, regenerated
//!   or expired since it was loaded) writes nothing and answers [`StoreError::Gone`], and it
//!   checks and writes in one atomic step. So a slow request cannot bring back a session that
//!   a logout destroyed meanwhile.

use std::collections::BTreeSet;
use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use crate::observe;
pub use crate::record::{CookieOverrides, CookieState, Fields, Record};

pub(crate) mod capability;
#[cfg(feature = "cookie-store")]
mod cookie;
mod erased;
pub(crate) mod memory;
#[cfg(feature = "mysql")]
mod mysql;
mod node;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
mod sql;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

/// How [`RedisStore::open_sentinel`] logs in to the primary (the `redis` crate's own type).
#[cfg(feature = "redis-sentinel")]
pub use ::redis::RedisConnectionInfo;
pub(crate) use capability::BoxFuture;
pub use capability::Capabilities;
#[cfg(feature = "cookie-store")]
pub use cookie::{CookieStore, MAX_COOKIE_LEN};
pub(crate) use erased::{Chosen, DynStore};
pub use erased::{IntoBackend, Storage};
pub use memory::MemoryStore;
#[cfg(feature = "mysql")]
pub use mysql::MySqlStore;
#[cfg(feature = "connect-pg")]
pub use node::ConnectPgStore;
#[cfg(feature = "json")]
pub use node::express;
#[cfg(feature = "connect-redis")]
pub use node::{CONNECT_REDIS_TTL, ConnectRedisStore};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use redis::{RedisCacheStats, RedisStore};
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
pub use sql::DEFAULT_CLEANUP_EVERY;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// How long a session without expiry (a browser-session cookie) is kept after its last write
/// or touch, unless the store's `with_idle_ttl` (such as [`MemoryStore::with_idle_ttl`]) says
/// otherwise. Every store has this default.
pub const DEFAULT_IDLE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Which parts of a record a [`Store::set`] call changes.
///
/// New kinds of write may be added in a minor release. A store written against
/// [`fields`](Changed::fields) (what to patch, or `None` for a whole write) and
/// [`writes_owner`](Changed::writes_owner) handles them without change.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Changed<'a> {
    /// The whole record is new or replaced: write all of it, owner included.
    All,
    /// Only these fields (by stored name) changed since the record was loaded or last written,
    /// plus the cookie state, which is always written; the stored owner stays as it is (another
    /// request may have changed it since this one loaded the record). A store that can patch
    /// single fields should write just these, so concurrent requests that change different
    /// fields of one session do not undo each other; a store that cannot may write the whole
    /// record. Either way the write is update-only: it must not create a record that is not
    /// there (see [`StoreError::Gone`]).
    Fields(&'a BTreeSet<String>),
    /// As [`Fields`](Changed::Fields), and the owner changed too (a sign-in or sign-out on
    /// this id): write `record.owner` as well, and move the session in the owner index.
    FieldsAndOwner(&'a BTreeSet<String>),
}

impl<'a> Changed<'a> {
    /// The changed fields of a patch; `None` for [`Changed::All`].
    pub fn fields(&self) -> Option<&'a BTreeSet<String>> {
        match *self {
            Changed::All => None,
            Changed::Fields(names) | Changed::FieldsAndOwner(names) => Some(names),
        }
    }

    /// Whether the write sets the owner: a whole record, or a patch that changed it.
    pub fn writes_owner(&self) -> bool {
        !matches!(self, Changed::Fields(_))
    }
}

/// A session store.
///
/// Implementations write plain `async fn`s. This one keeps nothing, so every update finds its
/// record gone:
///
/// ```
/// use sessionly::store::{Changed, Record, Store, StoreError};
///
/// struct Nowhere;
///
/// impl Store for Nowhere {
///     async fn get(&self, _id: &str) -> Result<Option<Record>, StoreError> {
///         Ok(None)
///     }
///     async fn set(&self, _id: &str, _record: &Record, changed: Changed<'_>) -> Result<(), StoreError> {
///         // A whole write creates; a patch (`fields()` is `Some`) finds nothing to update.
///         match changed.fields() {
///             None => Ok(()),
///             Some(_) => Err(StoreError::Gone),
///         }
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

    /// Loads a session as [`get`](Store::get) does, unless it is larger than `max_size`
    /// ([`Record::encoded_size`]): such a record is logged and reported as `Ok(None)`. The
    /// middleware loads through this, with its
    /// [`max_session_size`](crate::SessionLayerBuilder::max_session_size). A store should
    /// check the size where the record lives, so that an oversized one is neither transferred
    /// nor decoded; the default loads it with `get`, then checks.
    fn get_within(
        &self,
        id: &str,
        max_size: usize,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send {
        async move { Ok(self.get(id).await?.filter(|record| fits(record, max_size))) }
    }

    /// Writes a session and sets its expiry from `record.cookie`: creates or replaces it for
    /// [`Changed::All`]; for a patch ([`Changed::Fields`], [`Changed::FieldsAndOwner`]) updates
    /// it only if it is there and live, else answers [`StoreError::Gone`] without writing.
    fn set(
        &self,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes a session; deleting a missing one is not an error.
    fn destroy(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Refreshes a session's expiry and cookie state from `record.cookie` without writing its
    /// fields; answers [`StoreError::Gone`] if it is not there. The default is a patch of no
    /// fields ([`Changed::Fields`] with an empty set), which writes just that through
    /// [`set`](Store::set); a store with a cheaper way (an `EXPIRE`, one column) overrides it.
    fn touch(
        &self,
        id: &str,
        record: &Record,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.set(id, record, Changed::Fields(&NO_FIELDS))
    }

    /// How long the store keeps a session without expiry (a browser-session cookie) after its
    /// last write or touch, if it has such a limit. The layer uses it to skip a touch that
    /// would move that limit by less than 1 % (at most a minute); `None`, the default, means
    /// every such touch is sent.
    fn idle_ttl(&self) -> Option<Duration> {
        None
    }

    /// Whether the store keeps each session's cookie attributes, as express-session does (its
    /// stored `cookie` has `path`, `httpOnly`, `secure`, ...). If so, the layer gives each new
    /// session its options as the session's own attributes, so that a Node app serving the
    /// session sends the same cookie. `false` by default.
    fn keeps_cookie_attributes(&self) -> bool {
        false
    }

    /// The optional capabilities the store has: the store-side turn ([`Leases`]), the
    /// per-owner index ([`OwnerIndex`]), listing ([`Listing`]). None by default. Each one
    /// named here must be implemented (the compiler checks), and only those named here are
    /// used: the layer's
    /// [`store_turns`](crate::SessionLayerBuilder::store_turns) needs [`Leases`], and
    /// [`TypedSession::owner_sessions`](crate::TypedSession::owner_sessions) and "log out other
    /// devices" need [`OwnerIndex`].
    ///
    /// ```
    /// # use sessionly::store::{Capabilities, Changed, Listing, Record, Store, StoreError};
    /// # struct Mine;
    /// impl Store for Mine {
    ///     fn capabilities() -> Capabilities<Self> {
    ///         Capabilities::none().listing()
    ///     }
    ///     // get, set, destroy ...
    /// #   async fn get(&self, _: &str) -> Result<Option<Record>, StoreError> { Ok(None) }
    /// #   async fn set(&self, _: &str, _: &Record, _: Changed<'_>) -> Result<(), StoreError> { Ok(()) }
    /// #   async fn destroy(&self, _: &str) -> Result<(), StoreError> { Ok(()) }
    /// }
    ///
    /// impl Listing for Mine {
    ///     // all, clear, length ...
    /// #   async fn all(&self) -> Result<Vec<(String, Record)>, StoreError> { Ok(Vec::new()) }
    /// #   async fn clear(&self) -> Result<(), StoreError> { Ok(()) }
    /// #   async fn length(&self) -> Result<usize, StoreError> { Ok(0) }
    /// }
    /// ```
    fn capabilities() -> Capabilities<Self>
    where
        Self: Sized,
    {
        Capabilities::none()
    }
}

/// The changed fields of a touch: none.
pub(crate) static NO_FIELDS: BTreeSet<String> = BTreeSet::new();

/// The store-side turn that
/// [`store_turns`](crate::SessionLayerBuilder::store_turns) needs: a lease per session, and
/// writes fenced by it. Declare it in [`Store::capabilities`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `Leases`",
    label = "declared here, not implemented",
    note = "implement `sessionly::store::Leases` for `{Self}` (`lease`, `release` and `set_within_lease`), or leave it out of `Store::capabilities`"
)]
pub trait Leases: Store {
    /// Takes the store-side turn on session `id` for at most `ttl`, if no one holds it:
    /// answers the lease's token, or `None` while another holder has it. A holder that dies
    /// keeps the turn until `ttl` has passed, no longer.
    fn lease(
        &self,
        id: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Gives back the turn on session `id` if `token` still holds it (else does nothing).
    fn release(&self, id: &str, token: &str)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes as [`Store::set`] does, only while `token` holds session `id`'s turn, in one
    /// atomic step with that check (fencing): a holder whose lease ran out writes nothing and
    /// gets [`StoreError::LeaseLost`]. With `release`, gives the turn back in the same step.
    fn set_within_lease(
        &self,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
        token: &str,
        release: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The per-owner index ([`Record::owner`]), which a store keeps in step with `set`, `destroy`
/// and expiry: "my sessions" and "log out other devices". Declare it in
/// [`Store::capabilities`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `OwnerIndex`",
    label = "declared here, not implemented",
    note = "implement `sessionly::store::OwnerIndex` for `{Self}` (`sessions_of` (and, if it can do better than the default, `destroy_sessions_of`)), or leave it out of `Store::capabilities`"
)]
pub trait OwnerIndex: Store {
    /// Every live session whose [`Record::owner`] is `owner`.
    fn sessions_of(
        &self,
        owner: &str,
    ) -> impl Future<Output = Result<Vec<(String, Record)>, StoreError>> + Send;

    /// Deletes every session of `owner` except the one with id `keep`, and answers how many it
    /// deleted. The default lists them with [`sessions_of`](OwnerIndex::sessions_of) and
    /// destroys them one by one; a store that can do it in one step should.
    fn destroy_sessions_of(
        &self,
        owner: &str,
        keep: Option<&str>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        async move {
            let mut destroyed = 0;
            for (id, _) in self.sessions_of(owner).await? {
                if keep != Some(id.as_str()) {
                    self.destroy(&id).await?;
                    destroyed += 1;
                }
            }
            Ok(destroyed)
        }
    }
}

/// Listing and clearing every session, express's optional `all`, `length` and `clear`: for
/// tools and tests, never called by the layer. Declare it in [`Store::capabilities`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `Listing`",
    label = "declared here, not implemented",
    note = "implement `sessionly::store::Listing` for `{Self}` (`all`, `clear` and `length`), or leave it out of `Store::capabilities`"
)]
pub trait Listing: Store {
    /// Every live session.
    fn all(&self) -> impl Future<Output = Result<Vec<(String, Record)>, StoreError>> + Send;

    /// Deletes every session.
    fn clear(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The number of live sessions.
    fn length(&self) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// Whether `record` is within `max_size`; one that is not is logged (and counted) as a load
/// that found a session too large to take.
/// Milliseconds on a clock that never goes back (unlike the system's), counted from its first
/// reading, plus one: 0 is free to mean "never". For the stores' rate limits and windows.
#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite"
))]
pub(crate) fn monotonic_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

pub(crate) fn fits(record: &Record, max_size: usize) -> bool {
    let size = record.encoded_size();
    if size > max_size {
        too_large(size as u64, max_size);
        return false;
    }
    true
}

/// Logs (and counts) a stored session of `size` bytes that a load left where it was, being over
/// `max_size`.
pub(crate) fn too_large(size: u64, max_size: usize) {
    observe::count(observe::metric::LOADS, "too_large");
    tracing::warn!(
        size,
        limit = max_size,
        "stored session over max_session_size; treating it as missing"
    );
}

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store does not implement this optional operation.
    #[error("the session store does not support `{operation}`")]
    Unsupported {
        /// The operation asked for.
        operation: &'static str,
    },
    /// An update (a patch or a `touch`) found no live record to update:
    /// the session was destroyed, regenerated or expired after it was loaded. Nothing was
    /// written.
    #[error("the session is no longer in the store")]
    Gone,
    /// A write under a store-side turn found the turn no longer its own: its lease ran out
    /// (the request took longer than the lease) and another request may have written since.
    /// Nothing was written.
    #[error("the session's store-side turn ran out before this write; nothing was written")]
    LeaseLost,
    /// Another request held the session's store-side turn for longer than the layer waits.
    #[error("another request held the session's turn for {waited:?}; gave up waiting")]
    TurnTimeout {
        /// How long this request waited.
        waited: Duration,
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
