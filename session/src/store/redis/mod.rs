//! Sessions in Redis ≥ 6.2 (or Valkey): one hash per session (`hash`), and one sorted set per
//! owner for the per-owner index (`index`).
//!
//! The folder reads in the order of a store's life: `connection` (reaching Redis, the
//! constructors), then the request path, `read` and `write`, on the session hash's layout
//! (`hash`), with the owner index (`index`), the store-side turn (`lease`), listing by `SCAN`
//! (`scan`), the client-side cache (`cache`) and the Lua scripts (`scripts`, one `.lua` file
//! each).
//!
//! # Redis Cluster
//!
//! Every script and atomic pipeline touches a single key, so it stays in one hash slot: on a
//! cluster ([`RedisStore::open_cluster`]) a session lives on the node that owns the slot of its
//! key (CRC16 of `<prefix><id>`, modulo 16384), sessions spread over the nodes, and an owner's
//! set lives wherever its own key hashes to. `all`, `length` and `clear` need a scan of every
//! node and answer `Unsupported` on a cluster.

use std::future::Future;
use std::time::{Duration, SystemTime};

use ::redis::aio::{ConnectionLike, ConnectionManager};

use crate::record::Record;
use crate::store::{self, Capabilities, Changed, Leases, Listing, OwnerIndex, Store, StoreError};

mod cache;
mod connection;
mod hash;
mod index;
mod lease;
mod link;
mod read;
mod scan;
mod scripts;
#[cfg(feature = "redis-sentinel")]
mod sentinel;
mod write;

use cache::Cache;
pub use cache::RedisCacheStats;
#[cfg(all(feature = "connect-redis", feature = "redis-tls"))]
pub(super) use connection::connection_manager_with_ca;
#[cfg(feature = "connect-redis")]
pub(super) use connection::{connection_manager, retried};
#[cfg(feature = "fuzzing")]
pub(crate) use hash::parse;
use link::Link;
#[cfg(feature = "connect-redis")]
pub(super) use link::Link as RedisLink;
use scripts::Scripts;

/// The latest expiry written, in ms since the epoch (about the year 287,000): a sorted-set
/// score (a double) holds it exactly, and Redis prints it back without an exponent.
const MAX_EXPIRY_MS: u64 = (1 << 53) - 1;

/// A session store on Redis.
///
/// Pick it for several processes or machines (feature `redis`; `redis-tls` for TLS; Valkey
/// works too; Redis 6.2 or newer for the owner index). See
/// [the guide to stores](crate::guide::stores) for the others, TLS and Sentinel.
///
/// Each session is a hash at `<prefix><id>` (default prefix `sess:`), which Redis deletes at
/// the session's expiry. A session with an owner is also listed in its owner's sorted set at
/// `<owner prefix><owner>` (`sess#:owner:<owner>` by default; see
/// [`with_prefix`](RedisStore::with_prefix)), which [`OwnerIndex::sessions_of`] and
/// [`OwnerIndex::destroy_sessions_of`] read; the set expires with the owner's latest session.
///
/// Sessions without an owner cost one round trip per operation, as without the index. For an
/// owned session, a touch or a write sends one more command (to the owner's set) alongside the
/// session's; a write that changes the owner (signing in or out on the same id) and a destroy
/// cost one to three more round trips. Listing an owner's sessions costs two or three round
/// trips on one server, and one more per session on a cluster.
///
/// ```no_run
/// # async fn run() -> Result<(), sessionly::StoreError> {
/// use sessionly::{RedisStore, SessionLayer};
///
/// let store = RedisStore::open("redis://127.0.0.1:6379").await?;
/// let layer = SessionLayer::builder().secret("a long random secret, 32 bytes or more").store(store).build();
/// # Ok(()) }
/// ```
///
/// # Layout and writes
///
/// Inside a session's hash the cookie state is in field `c`, each data field in `f:<name>`, the
/// owner in `o`, and a format marker in `v` that only a whole write sets. Loading is one
/// `HGETALL`; a change is one `MULTI` transaction (no script) that writes the changed fields,
/// moves the expiry (`PEXPIREAT`) and checks the marker, so a change that lands after the
/// session ended is undone and never read as a session. Redis deletes expired sessions. A key
/// of another type where a session would be is a missing session, logged.
///
/// # Connections
///
/// [`open`](RedisStore::open) makes a connection of its own; [`RedisStore::new(conn)`](RedisStore::new)
/// takes your own `ConnectionManager` (or any cloneable async connection).
/// [`open_cluster(&["redis://10.0.0.1:6379", ...])`](RedisStore::open_cluster) works on a Redis
/// Cluster: each session is one key, so every command and script stays in the hash slot of
/// `<prefix><id>` and sessions spread over the nodes; `all`, `length` and `clear` answer
/// `Unsupported` there.
///
/// Every connection the constructors open has TCP keepalive (probes after 5 s idle, three a
/// second apart) and, on Linux, `TCP_USER_TIMEOUT` of 4 s, so a peer that vanished without a
/// FIN or an RST (a crashed host, a failover that moved the address, a NAT that forgot the
/// flow) is noticed within seconds and the connection replaced, instead of each command
/// waiting out its 2 s response timeout until the kernel gives up (about 15 minutes). Once the
/// network heals, the store serves again within about a second (`tests/stores/partitions.rs`
/// measures both in a private network namespace). A command that fails because the connection
/// dropped (a Redis restart, a failover) is sent once more on the new connection when repeating it is safe — loads,
/// touches, destroys and the first write of a new id — so the first request after a restart is
/// served; a field change is not repeated (it could undo another process's newer write) and
/// answers the error.
///
/// # The client-side cache
///
/// [`open_cached(url, capacity)`](RedisStore::open_cached) (and
/// [`open_cached_with_ca`](RedisStore::open_cached_with_ca)) keeps up to `capacity` sessions this
/// process has read in memory, and Redis tells it (RESP3 `CLIENT TRACKING`, on the same
/// connection) when another client changes one. A request whose session is held loads it
/// without a round trip; a field change is still its one `MULTI`, and a touch (`rolling`, or a
/// due expiry refresh) its one script, and both keep the held copy up to date.
///
/// The contract: this process sees its own writes at once; a write by another process (another
/// instance, a Node app, a script) — a logout included — is seen by every request that starts
/// after Redis's invalidation has arrived here, not by a request served from memory before
/// that, and in any case **within 1 s of the write, even if the network fails without a
/// word**: a heartbeat `PING` on the tracking connection every 250 ms
/// ([`with_cache_heartbeat`](RedisStore::with_cache_heartbeat)), and an entry is served only
/// while a `PING` sent within the last four intervals has been answered (invalidations arrive
/// in order with replies). Tested with a silent network failure in a private network
/// namespace (`tests/stores/partitions.rs`). Measured
/// under load (`bench/RESULTS.md`), the invalidation arrived a median 75 µs and at the 99th
/// percentile 4.4 ms (12.2 ms at most) after that write's own reply, with both stores under load
/// on the same two cores. A dropped connection empties the cache (so does a command that fails
/// on the connection), and every load that fills it turns tracking back on first. An entry is
/// served for at most a minute ([`with_cache_max_age`](RedisStore::with_cache_max_age)) before
/// it is read again, which bounds the blind spots Redis leaves: a full tracking table
/// (`tracking-table-max-keys`, a million keys across all clients by default; `open_cached`
/// warns when it is bounded) forgets keys without telling every client that tracked them;
/// Redis skips the word for a key it evicts while running one of this connection's own
/// commands; `SWAPDB` replaces a database without any word. `tracking-table-max-keys 0` and a
/// `maxmemory-policy` that keeps sessions close the first two. (`FLUSHDB` and `FLUSHALL` empty
/// the cache; a flush of another database concerns none of its sessions.) SECURITY.md has
/// the figures of each fault.
///
/// Off by default: [`open`](RedisStore::open) keeps "the next request anywhere sees every
/// write", and some proxies in front of Redis refuse RESP3 or `CLIENT TRACKING` (`open_cached`
/// then fails with the server's error; a later refusal serves sessions uncached). Not on a
/// cluster; loads that check the size in Redis bypass it, and every load under `store_turns`
/// reads Redis (taking the turn empties the session's entry: the turn promises the last
/// holder's write). [`cache_stats()`](RedisStore::cache_stats) gives hits, misses,
/// invalidations, resets and entries. `tests/redis_cache.rs` in the repository runs the
/// conformance suite on it and the contract between two connections, over the store API and
/// over HTTP.
#[derive(Clone)]
pub struct RedisStore<C = ConnectionManager> {
    connection: Link<C>,
    prefix: String,
    /// Where the owner index lives; `None` (no index) for an empty `prefix`.
    owner_prefix: Option<String>,
    idle_ttl: Duration,
    /// One server: `SCAN` sees every session and a pipeline may span keys. False on a cluster.
    single_node: bool,
    /// Loads check the size in Redis (`with_size_check_in_redis`).
    size_check_in_redis: bool,
    scripts: Scripts,
    /// The client-side cache ([`open_cached`](RedisStore::open_cached)), if any.
    cache: Cache,
}

impl<C> std::fmt::Debug for RedisStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("owner_prefix", &self.owner_prefix)
            .field("idle_ttl", &self.idle_ttl)
            .field("cache", &self.cache.stats())
            .finish_non_exhaustive()
    }
}

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// How long the client-side cache ([`open_cached`](RedisStore::open_cached)) serves an
    /// entry at most before reading it from Redis again (60 s by default), for this store and
    /// its clones. Invalidations keep entries true; this bounds how stale one can get if an
    /// invalidation never comes: Redis drops a tracked key without telling this connection if it
    /// evicts the key (`maxmemory`) or trims its tracking table (`tracking-table-max-keys`)
    /// while running one of this connection's own commands. No effect without a cache.
    pub fn with_cache_max_age(self, max_age: Duration) -> Self {
        self.cache.set_max_age(max_age);
        self
    }

    /// How often the client-side cache checks that its invalidation channel is alive (default
    /// every 250 ms): a `PING` on the tracking connection. An entry is served only while a
    /// `PING` sent within the last four intervals has been answered, so another process's
    /// write or logout is seen here within four intervals (1 s by default) even when the
    /// network fails without a word; a heartbeat that fails or goes unanswered replaces the
    /// connection (at most every 2 s) and empties the cache. No effect without a cache.
    pub fn with_cache_heartbeat(self, every: Duration) -> Self {
        self.cache.set_heartbeat(every);
        self
    }

    /// What the client-side cache has done, if this store has one
    /// ([`open_cached`](RedisStore::open_cached)).
    pub fn cache_stats(&self) -> Option<RedisCacheStats> {
        self.cache.stats()
    }

    /// Changes the key prefix (default `sess:`). The owner indexes follow it: their prefix is
    /// this one with `#` (`!` if its last character is `#`) put before its last character,
    /// then `owner:`. An empty prefix turns the owner index off, since every key could then be a
    /// session's.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self.owner_prefix = index::owner_prefix(&self.prefix);
        self
    }

    /// How long a session without expiry is kept after its last write or touch.
    pub fn with_idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = ttl;
        self
    }

    /// Whether a load checks the session's size in Redis, by a script, so that a session over
    /// [`max_session_size`](crate::SessionLayerBuilder::max_session_size) never leaves Redis.
    /// Off by default: the script costs Redis about three times the CPU of the plain `HGETALL`
    /// a load is otherwise (see `bench/RESULTS.md`), and the layer never writes a session over
    /// the limit, so only another writer (an older version with a higher limit, another program)
    /// can have put one there. Off, such a session is read and then dropped by the same check in
    /// the process.
    pub fn with_size_check_in_redis(mut self, on: bool) -> Self {
        self.size_check_in_redis = on;
        self
    }

    fn key(&self, id: impl AsRef<[u8]>) -> Vec<u8> {
        [self.prefix.as_bytes(), id.as_ref()].concat()
    }

    /// The expiry Redis enforces for `record`, in ms since the epoch.
    fn expiry_ms(&self, record: &Record, now: SystemTime) -> u64 {
        record
            .cookie
            .store_expiry_ms(self.idle_ttl, now)
            .min(MAX_EXPIRY_MS)
    }
}

// Each operation answers the future of the method that does it, not one around it: every store
// call is boxed.
impl<C> Store for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let record = self.read(id).await?;
        Ok(record.filter(|record| !record.is_expired(SystemTime::now())))
    }

    async fn get_within(&self, id: &str, max_size: usize) -> Result<Option<Record>, StoreError> {
        let record = if self.size_check_in_redis {
            self.load_within(id.as_bytes(), max_size).await?
        } else {
            self.read(id)
                .await?
                .filter(|record| store::fits(record, max_size))
        };
        Ok(record.filter(|record| !record.is_expired(SystemTime::now())))
    }

    fn set(
        &self,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.write(id, record, changed, None)
    }

    fn destroy(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.delete(id)
    }

    fn idle_ttl(&self) -> Option<Duration> {
        Some(self.idle_ttl)
    }

    fn touch(
        &self,
        id: &str,
        record: &Record,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.refresh(id, record)
    }

    fn capabilities() -> Capabilities<Self> {
        Capabilities::none().leases().owner_index().listing()
    }
}

impl<C> Leases for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    fn lease(
        &self,
        id: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        self.take_lease(id, ttl)
    }

    fn release(
        &self,
        id: &str,
        token: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.release_lease(id, token)
    }

    fn set_within_lease(
        &self,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
        token: &str,
        release: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.write(id, record, changed, Some((token, release)))
    }
}

impl<C> OwnerIndex for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    fn sessions_of(
        &self,
        owner: &str,
    ) -> impl Future<Output = Result<Vec<(String, Record)>, StoreError>> + Send {
        self.owned_by(owner)
    }

    fn destroy_sessions_of(
        &self,
        owner: &str,
        keep: Option<&str>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        self.destroy_owned_by(owner, keep)
    }
}

impl<C> Listing for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    fn all(&self) -> impl Future<Output = Result<Vec<(String, Record)>, StoreError>> + Send {
        self.scan_all()
    }

    fn clear(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.delete_all()
    }

    fn length(&self) -> impl Future<Output = Result<usize, StoreError>> + Send {
        self.count()
    }
}

fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::backend("redis", error)
}
