//! Sessions in Redis ≥ 6.2 (or Valkey): one hash per session, and one sorted set per owner for
//! the per-owner index.
//!
//! # Sessions
//!
//! The key is `<prefix><id>`. Inside, field `v` marks the format (`1`), `c` holds the cookie
//! state, `o` the owner (absent for a session without one) and `f:<name>` each encoded data
//! field. Loading is one `HGETALL`. A whole write replaces the hash. A patch writes only the
//! fields it changed, with the cookie state, the owner and the expiry, in one `MULTI`
//! transaction, so two requests that change different fields of one session both keep their
//! change. Redis deletes the key at the session's store expiry (its idle expiry capped by its
//! absolute one).
//!
//! Only whole writes set `v`, and a hash without it is not a session. That is how a patch or
//! touch of a session that was destroyed or expired writes nothing a read would take for it: a
//! touch (a script) checks `v` first and writes nothing; a patch checks `v` at the end of its
//! transaction, and if it is missing deletes what it wrote and answers [`StoreError::Gone`].
//! Patches need no script: a patch is the write of every request that changes a field, and
//! running a script costs Redis several times what the same commands cost in a transaction.
//!
//! # The owner index
//!
//! The sessions of owner `<owner>` are listed in a sorted set at `<owner prefix><owner>`: its
//! members are session ids, each scored with an upper bound of that session's store expiry in
//! milliseconds. The owner prefix is the session prefix with `#` (`!` if its last character is
//! `#`) put before its last character, then `owner:`, so `sess:` gives `sess#:owner:alice`.
//! The two prefixes differ at that character, two session prefixes never share an owner prefix, so no owner key is a session key whatever the id, and
//! a `SCAN` of `<prefix>*` sees sessions only. An empty prefix leaves no such room (every key
//! could be a session's): the index is then off, and `sessions_of` and `destroy_sessions_of`
//! answer [`StoreError::Unsupported`].
//!
//! Every write and touch of an owned session raises its member's score to the expiry it sets
//! (`ZADD GT`), drops the members whose score has passed, and sets the set's own expiry to its
//! highest score, so the index of an owner who never comes back disappears with their last
//! session. Destroying a session or changing its owner removes it from the old owner's set;
//! members left stale anyway (a session deleted behind the store's back, a race) are dropped
//! when a listing loads them and finds the session gone or owned by someone else.
//!
//! The set and the session live in different keys (different hash slots on a cluster), so no
//! step updates both at once. The order of the steps keeps every live owned session listed:
//! - a write that gives a session a new owner adds it to the new owner's set after the session
//!   write has landed (as well as alongside it), so a listing that saw the session not yet owned
//!   and dropped the member cannot have the last word;
//! - removing a member whose session still exists is followed by reading the session again and
//!   adding it back if it belongs to that owner by then;
//! - a touch refreshes a session only if its stored owner is the one the touch indexes it under;
//!   if not, another request changed the owner after this one loaded the session, and that
//!   request's write refreshed the expiry (and indexed the session) already.
//!
//! If the index step of a write fails, the write answers [`StoreError::Backend`] and the
//! session may stay unlisted until its next write or touch, which indexes it again.
//!
//! # Cost
//!
//! A session without an owner costs what it did before the index: one round trip per `get`,
//! `set`, `touch` and `destroy` (and one more for a patch that finds its session gone, to
//! delete what it wrote), and no command on any owner key. For an owned session:
//! - `touch`, and a `set` that keeps the owner: one more command (a script on the owner key,
//!   O(log n) in the owner's session count), sent alongside the session's, so the latency stays
//!   about one round trip;
//! - a `set` that changes the owner (signing in or out without a new id): the new owner's
//!   script once more after the write, and a `ZREM` plus a reload of the session for the old
//!   owner: up to three more round trips;
//! - `destroy`: one more round trip (`ZREM`).
//!
//! `sessions_of` is one round trip to trim and read the set, then one to load its members (a
//! pipeline; one round trip per member on a cluster), plus one to drop stale members if it found
//! any. `destroy_sessions_of` is the same, with an owner-checked delete per member instead of a
//! load.
//!
//! # Redis Cluster
//!
//! Every script and atomic pipeline touches a single key, so it stays in one hash slot: on a
//! cluster ([`RedisStore::open_cluster`]) a session lives on the node that owns the slot of its
//! key (CRC16 of `<prefix><id>`, modulo 16384), sessions spread over the nodes, and an owner's
//! set lives wherever its own key hashes to. `all`, `length` and `clear` need a scan of every
//! node and answer `Unsupported` on a cluster.

use std::collections::BTreeSet;
use std::future::{Future, poll_fn};
use std::io::Write as _;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime};

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClient;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, FromRedisValue, Pipeline, RedisError, RedisWrite as _, Script};

use crate::record::{CookieState, Fields, Record, millis_since_epoch};
use crate::store::{
    self, Capabilities, Changed, DEFAULT_IDLE_TTL, Leases, Listing, OwnerIndex, Store, StoreError,
};

mod cache;

pub use cache::RedisCacheStats;
use cache::{ClientCache, Lookup};

/// A bulk reply that may be nil.
type Bulk = Option<Vec<u8>>;

const COOKIE_FIELD: &[u8] = b"c";
/// Written by every whole write, never by a patch: a hash without it is not a session.
const VERSION_FIELD: &[u8] = b"v";
const VERSION: &[u8] = b"1";
const OWNER_FIELD: &[u8] = b"o";
const FIELD_PREFIX: &[u8] = b"f:";

/// The latest expiry written, in ms since the epoch (about the year 287,000): a sorted-set
/// score (a double) holds it exactly, and Redis prints it back without an exponent.
const MAX_EXPIRY_MS: u64 = (1 << 53) - 1;

/// Deletes what a patch wrote into a session that had ended before it landed: a hash without
/// the format marker. A session written whole meanwhile has the marker and stays.
const DROP_STRAY: &str = r"
if redis.call('HEXISTS', KEYS[1], 'v') == 0 then redis.call('DEL', KEYS[1]) end
return 1
";

/// A session's hash, unless it is more than ARGV[1] bytes: then only that size, so an oversized
/// session never leaves Redis. The size is [`Record::encoded_size`] (field names without their
/// `f:`, values, the owner) plus whatever else the hash holds, but for the format marker and a
/// cookie state of at most 1 KiB (a real one is a few dozen bytes).
const GET_WITHIN: &str = r"
local hash = redis.call('HGETALL', KEYS[1])
local size = 0
for i = 1, #hash, 2 do
  local name, value = hash[i], hash[i + 1]
  if string.sub(name, 1, 2) == 'f:' then
    size = size + #name - 2 + #value
  elseif name == 'o' then
    size = size + #value
  elseif name ~= 'v' and not (name == 'c' and #value <= 1024) then
    size = size + #name + #value
  end
end
if size > tonumber(ARGV[1]) then return size end
return hash
";

/// Moves a live session's expiry and cookie state, if its stored owner is the expected one.
/// Answers 0 when the session is not there, 2 when it has another owner (nothing written), 1.
/// It ends with a read of the key: Redis tracks the keys a script reads for the connection
/// that ran it, so a cached store keeps being told of other clients' writes after its touch.
///
/// ARGV: expiry, cookie state, expected owner, `1` if one is expected (else `0`).
const TOUCH: &str = r"
if redis.call('HEXISTS', KEYS[1], 'v') == 0 then return 0 end
local expected = ARGV[4] == '1' and ARGV[3]
if redis.call('HGET', KEYS[1], 'o') ~= expected then return 2 end
redis.call('HSET', KEYS[1], 'c', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
redis.call('EXISTS', KEYS[1])
return 1
";

/// Deletes a session and answers the owner it had (nil if none).
const DESTROY: &str = r"
local owner = redis.call('HGET', KEYS[1], 'o')
redis.call('DEL', KEYS[1])
return owner
";

/// On an owner's set: raises a session's score to its expiry, drops members whose score has
/// passed, and keeps the set until its highest score.
///
/// ARGV: session id, its expiry, now (all in ms).
const INDEX: &str = r"
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
return 1
";

/// Deletes a session if it belongs to the owner ARGV[1]: answers 1 if it did, 0 if the session
/// has another owner or none, -1 if it is not there. Sent with `EVAL`, so it can be pipelined.
const DESTROY_IF_OWNED: &str = r"
if redis.call('HEXISTS', KEYS[1], 'v') == 0 then
  redis.call('DEL', KEYS[1])
  return -1
end
if redis.call('HGET', KEYS[1], 'o') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
return -1
";

/// Gives the store-side turn back if ARGV[1] still holds it: the lease at KEYS[1].
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
";

/// A write under the store-side turn (fenced): only while the lease at KEYS[2] still holds the
/// token ARGV[1], and giving it back if ARGV[2] is `1`. KEYS[1] is the session.
///
/// ARGV: token, release, whole (`1`: replace the hash; else a patch of a live session), expiry,
/// owner (`k` keep, `s` set to ARGV[6], `d` delete), owner, the number n of fields to set, then
/// n name/value pairs (the cookie state's `c` among them), then the names to delete. Answers
/// {status, previous owner}: status 1 written, 0 the session is gone (a patch writes nothing),
/// -1 the turn is no longer this token's (nothing written).
const WRITE_LEASED: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {-1, false} end
if ARGV[2] == '1' then redis.call('DEL', KEYS[2]) end
local whole = ARGV[3] == '1'
if not whole and redis.call('HEXISTS', KEYS[1], 'v') == 0 then return {0, false} end
local previous = redis.call('HGET', KEYS[1], 'o')
if whole then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'v', '1')
end
if ARGV[5] == 's' then redis.call('HSET', KEYS[1], 'o', ARGV[6])
elseif ARGV[5] == 'd' then redis.call('HDEL', KEYS[1], 'o') end
local n = tonumber(ARGV[7])
for i = 8, 7 + 2 * n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for i = 8 + 2 * n, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return {1, previous}
";

/// A session store on Redis.
///
/// Each session is a hash at `<prefix><id>` (default prefix `sess:`), which Redis deletes at
/// the session's expiry. A session with an owner is also listed in its owner's sorted set at
/// `<owner prefix><owner>` (`sess#:owner:<owner>` by default; see
/// [`with_prefix`](RedisStore::with_prefix)), which [`Store::sessions_of`] and
/// [`Store::destroy_sessions_of`] read; the set expires with the owner's latest session.
///
/// Sessions without an owner cost one round trip per operation, as without the index. For an
/// owned session, a touch or a write sends one more command (to the owner's set) alongside the
/// session's; a write that changes the owner (signing in or out on the same id) and a destroy
/// cost one to three more round trips. Listing an owner's sessions costs two or three round
/// trips on one server, and one more per session on a cluster.
///
/// [`open_cached`](RedisStore::open_cached) adds a client-side cache: a session this process
/// has read is loaded without a round trip until Redis says another client changed it.
///
/// ```no_run
/// # async fn run() -> Result<(), sessionly::StoreError> {
/// use sessionly::{RedisStore, SessionLayer};
///
/// let store = RedisStore::open("redis://127.0.0.1:6379").await?;
/// let layer = SessionLayer::builder().secret("a long random secret").store(store).build();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore<C = ConnectionManager> {
    connection: C,
    prefix: String,
    /// Where the owner index lives; `None` (no index) for an empty `prefix`.
    owner_prefix: Option<String>,
    idle_ttl: Duration,
    /// One server: `SCAN` sees every session and a pipeline may span keys. False on a cluster.
    single_node: bool,
    /// Loads check the size in Redis (`with_size_check_in_redis`).
    size_check_in_redis: bool,
    get_within: Script,
    drop_stray: Script,
    touch: Script,
    destroy: Script,
    index: Script,
    release: Script,
    write_leased: Script,
    /// The client-side cache ([`open_cached`](RedisStore::open_cached)).
    cache: Option<Arc<ClientCache>>,
}

impl<C> std::fmt::Debug for RedisStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("owner_prefix", &self.owner_prefix)
            .field("idle_ttl", &self.idle_ttl)
            .field("cache", &self.cache.as_deref().map(ClientCache::stats))
            .finish_non_exhaustive()
    }
}

impl RedisStore<ConnectionManager> {
    /// Connects to `url` with a [`ConnectionManager`]: one multiplexed connection that
    /// reconnects by itself, with a 2 s response timeout so an outage is an error, not a hang.
    ///
    /// With the `redis-tls` feature a `rediss://` URL connects over TLS, trusting the system's
    /// certificate authorities (as a managed Redis needs); [`open_with_ca`] trusts your own.
    ///
    /// [`open_with_ca`]: RedisStore::open_with_ca
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Ok(Self::new(connection_manager(url).await.map_err(backend)?))
    }

    /// Connects to the `rediss://` URL `url` over TLS, trusting the certificate authorities in
    /// `ca_pem` (PEM; a self-hosted Redis with a CA of its own) instead of the system's.
    #[cfg(feature = "redis-tls")]
    pub async fn open_with_ca(url: &str, ca_pem: &[u8]) -> Result<Self, StoreError> {
        let manager = connection_manager_with_ca(url, ca_pem)
            .await
            .map_err(backend)?;
        Ok(Self::new(manager))
    }

    /// Connects to `url` as [`open`](RedisStore::open) does, and keeps the sessions this
    /// process reads in memory, up to `capacity` of them, until Redis says another client
    /// changed them (server-assisted client-side caching; Redis 6 or later, over RESP3).
    ///
    /// A request whose session is held makes no round trip to load it, and a request that
    /// changes a field or touches the session makes one (its patch or its touch), which keeps
    /// the entry up to date.
    ///
    /// What changes: a write by another process (another instance of the app, a Node app on
    /// the same sessions, a script) is seen here once Redis's invalidation has arrived, well
    /// under a millisecond on a quiet network (`bench/RESULTS.md` measures it under load),
    /// rather than by the very next request. This process's own writes are seen at once, and a
    /// dropped connection empties the cache. Off by default for that reason, and because some
    /// proxies in front of Redis refuse RESP3 or `CLIENT TRACKING` (this then fails with the
    /// server's error). Loads that check the size in Redis
    /// ([`with_size_check_in_redis`](RedisStore::with_size_check_in_redis)) bypass the cache.
    /// Under [`store_turns`](crate::SessionLayerBuilder::store_turns) every load reads Redis:
    /// taking the turn empties the session's entry, since the turn promises the last holder's
    /// write.
    ///
    /// An entry is served for at most a minute
    /// ([`with_cache_max_age`](RedisStore::with_cache_max_age)) before it is read again: Redis
    /// drops a tracked key without telling this connection if it evicts the key or trims its
    /// tracking table while running this connection's own command. Give the server
    /// `tracking-table-max-keys 0` and a `maxmemory-policy` that does not evict sessions to
    /// keep that from happening at all. A command that fails on the connection itself (not a
    /// reply from Redis) empties the cache, as a dropped connection does.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), sessionly::StoreError> {
    /// use sessionly::RedisStore;
    ///
    /// let store = RedisStore::open_cached("redis://127.0.0.1:6379", 100_000).await?;
    /// // … after some requests:
    /// if let Some(stats) = store.cache_stats() {
    ///     tracing::info!(hits = stats.hits, misses = stats.misses, "session cache");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn open_cached(url: &str, capacity: usize) -> Result<Self, StoreError> {
        let client = ::redis::Client::open(resp3(url).map_err(backend)?).map_err(backend)?;
        Self::cached(client, capacity).await
    }

    /// [`open_cached`](RedisStore::open_cached) over TLS, trusting the certificate authorities
    /// in `ca_pem` (PEM), as [`open_with_ca`](RedisStore::open_with_ca) does.
    #[cfg(feature = "redis-tls")]
    pub async fn open_cached_with_ca(
        url: &str,
        ca_pem: &[u8],
        capacity: usize,
    ) -> Result<Self, StoreError> {
        let certificates = ::redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(ca_pem.to_vec()),
        };
        let info = resp3(url).map_err(backend)?;
        let client = ::redis::Client::build_with_tls(info, certificates).map_err(backend)?;
        Self::cached(client, capacity).await
    }

    async fn cached(client: ::redis::Client, capacity: usize) -> Result<Self, StoreError> {
        let cache = ClientCache::new(capacity);
        let pushes = Arc::clone(&cache);
        let config = manager_config().set_push_sender(move |push| {
            pushes.on_push(push);
            Ok::<(), std::convert::Infallible>(())
        });
        let manager = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(backend)?;
        // Every load that fills the cache turns tracking on again (a reconnected connection has
        // it off); this first one says now, not at the first request, if the server refuses it.
        tracking_on()
            .query_async::<()>(&mut manager.clone())
            .await
            .map_err(backend)?;
        Ok(Self {
            cache: Some(cache),
            ..Self::new(manager)
        })
    }
}

/// `url`'s connection settings, speaking RESP3 (which carries Redis's invalidations).
fn resp3(url: &str) -> Result<::redis::ConnectionInfo, RedisError> {
    use ::redis::IntoConnectionInfo;
    let info = url.into_connection_info()?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(::redis::ProtocolVersion::RESP3);
    Ok(info.set_redis_settings(settings))
}

/// Tracking of the keys this connection reads, but not of its own writes.
fn tracking_on() -> Cmd {
    let mut command = ::redis::cmd("CLIENT");
    command.arg("TRACKING").arg("ON").arg("NOLOOP");
    command
}

/// A connection manager on `url` with the stores' 2 s timeouts: one multiplexed connection that
/// reconnects by itself.
pub(super) async fn connection_manager(url: &str) -> Result<ConnectionManager, RedisError> {
    managed(::redis::Client::open(url)?).await
}

/// A connection manager on the `rediss://` URL `url` that trusts the certificate authorities
/// in `ca_pem` (PEM) instead of the system's.
#[cfg(feature = "redis-tls")]
pub(super) async fn connection_manager_with_ca(
    url: &str,
    ca_pem: &[u8],
) -> Result<ConnectionManager, RedisError> {
    let certificates = ::redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(ca_pem.to_vec()),
    };
    managed(::redis::Client::build_with_tls(url, certificates)?).await
}

async fn managed(client: ::redis::Client) -> Result<ConnectionManager, RedisError> {
    ConnectionManager::new_with_config(client, manager_config()).await
}

/// The stores' connection settings: 2 s to connect and to answer, one retry.
fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500))
}

impl RedisStore<ClusterConnection> {
    /// Connects to a Redis Cluster through any of its `nodes` (`redis://host:port` each),
    /// with the same 2 s timeouts as [`open`](RedisStore::open). With the `redis-tls` feature,
    /// `rediss://` nodes connect over TLS trusting the system's certificate authorities;
    /// [`open_cluster_with_ca`](RedisStore::open_cluster_with_ca) trusts your own.
    pub async fn open_cluster(nodes: &[&str]) -> Result<Self, StoreError> {
        Self::cluster(ClusterClient::builder(nodes.iter().copied())).await
    }

    /// Connects to a Redis Cluster over TLS through any of its `rediss://` `nodes`, trusting
    /// the certificate authorities in `ca_pem` (PEM) instead of the system's, for every node
    /// the cluster leads it to.
    #[cfg(feature = "redis-tls")]
    pub async fn open_cluster_with_ca(nodes: &[&str], ca_pem: &[u8]) -> Result<Self, StoreError> {
        let certificates = ::redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(ca_pem.to_vec()),
        };
        Self::cluster(ClusterClient::builder(nodes.iter().copied()).certs(certificates)).await
    }

    async fn cluster(builder: ::redis::cluster::ClusterClientBuilder) -> Result<Self, StoreError> {
        let client = builder
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(2))
            .retries(1)
            .build()
            .map_err(backend)?;
        let connection = client.get_async_connection().await.map_err(backend)?;
        Ok(Self::new_cluster(connection))
    }

    /// A store on your own cluster connection.
    pub fn new_cluster(connection: ClusterConnection) -> Self {
        Self {
            single_node: false,
            ..Self::new(connection)
        }
    }
}

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A store on your own connection: a `ConnectionManager`, a cluster connection, or any
    /// cloneable async connection. Keys get the prefix `sess:`, owner indexes `sess#:owner:`.
    pub fn new(connection: C) -> Self {
        Self {
            connection,
            prefix: String::new(),
            owner_prefix: None,
            idle_ttl: DEFAULT_IDLE_TTL,
            single_node: true,
            size_check_in_redis: false,
            get_within: Script::new(GET_WITHIN),
            drop_stray: Script::new(DROP_STRAY),
            touch: Script::new(TOUCH),
            destroy: Script::new(DESTROY),
            index: Script::new(INDEX),
            release: Script::new(RELEASE),
            write_leased: Script::new(WRITE_LEASED),
            cache: None,
        }
        .with_prefix("sess:")
    }

    /// A store error for `error`. A failure of the connection itself (not a reply Redis gave)
    /// may mean the connection was replaced without the library's word, and a new one tracks
    /// nothing yet: the client-side cache empties.
    fn failed(&self, error: RedisError) -> StoreError {
        if let Some(cache) = &self.cache
            && !matches!(error.kind(), ::redis::ErrorKind::Server(_))
        {
            cache.reset("a Redis command failed");
        }
        backend(error)
    }

    /// [`retried`], emptying the client-side cache if the connection dropped.
    async fn retried<T, F, Fut>(&self, attempt: F) -> Result<T, RedisError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let dropped = || {
            if let Some(cache) = &self.cache {
                cache.reset("the Redis connection dropped");
            }
        };
        retried_noting(dropped, attempt).await
    }

    /// How long the client-side cache ([`open_cached`](RedisStore::open_cached)) serves an
    /// entry at most before reading it from Redis again (60 s by default), for this store and
    /// its clones. Invalidations keep entries true; this bounds how stale one can get if an
    /// invalidation never comes: Redis drops a tracked key without telling this connection if it
    /// evicts the key (`maxmemory`) or trims its tracking table (`tracking-table-max-keys`)
    /// while running one of this connection's own commands. No effect without a cache.
    pub fn with_cache_max_age(self, max_age: Duration) -> Self {
        if let Some(cache) = &self.cache {
            cache.set_max_age(max_age);
        }
        self
    }

    /// What the client-side cache has done, if this store has one
    /// ([`open_cached`](RedisStore::open_cached)).
    pub fn cache_stats(&self) -> Option<RedisCacheStats> {
        self.cache.as_deref().map(ClientCache::stats)
    }

    /// Changes the key prefix (default `sess:`). The owner indexes follow it: their prefix is
    /// this one with `#` (`!` if its last character is `#`) put before its last character,
    /// then `owner:`. An empty prefix turns the owner index off, since every key could then be a
    /// session's.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self.owner_prefix = owner_prefix(&self.prefix);
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

    /// The key of session `id`'s store-side turn: in the session key's hash slot, so that a
    /// cluster runs the fenced write (which reads the one and writes the other) on one node;
    /// starting with `{`, so that a `SCAN` of the prefix never meets it (unless the prefix
    /// starts with `{`: then the key starts with the prefix's tag and `turn:`). `None` when no
    /// key can share the slot: a session key with a `}` but no hash tag.
    fn lease_key(&self, id: &str) -> Option<Vec<u8>> {
        let key = self.key(id);
        match hash_tag(&key) {
            Some(tag) => Some([b"{", tag, b"}turn:", &key].concat()),
            None if !key.contains(&b'}') => Some([b"{", &key[..], b"}:turn"].concat()),
            None => None,
        }
    }

    /// The fenced write of [`Store::set_within_lease`]: answers the owner the session had.
    async fn write_leased(
        &self,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
        (token, release): (&str, bool),
        cookie: &[u8],
        expiry: u64,
    ) -> Result<Option<String>, StoreError> {
        let Some(lease) = self.lease_key(id) else {
            return Err(StoreError::LeaseLost);
        };
        let mut script = self.write_leased.prepare_invoke();
        script
            .key(self.key(id))
            .key(lease)
            .arg(token)
            .arg(if release { "1" } else { "0" })
            .arg(if changed.fields().is_none() { "1" } else { "0" })
            .arg(expiry);
        match (changed.writes_owner(), &record.owner) {
            (true, Some(owner)) => script.arg("s").arg(owner),
            (true, None) => script.arg("d").arg(""),
            (false, _) => script.arg("k").arg(""),
        };
        let (set, deleted): (Vec<&String>, Vec<&String>) = match changed.fields() {
            None => (record.fields.keys().collect(), Vec::new()),
            Some(names) => names
                .iter()
                .partition(|name| record.fields.contains_key(*name)),
        };
        script.arg(set.len() + 1).arg(COOKIE_FIELD).arg(cookie);
        for name in set {
            script
                .arg(field_key(name))
                .arg(record.fields[name].as_ref());
        }
        for name in deleted {
            script.arg(field_key(name));
        }
        let (status, previous): (i64, Bulk) = script
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|error| self.failed(error))?;
        match status {
            1 => Ok(previous.and_then(owner_of)),
            0 => Err(StoreError::Gone),
            _ => Err(StoreError::LeaseLost),
        }
    }

    /// Writes the session and keeps the owner index in step: [`Store::set`], or with `fence`
    /// (a token and whether to give the turn back) [`Store::set_within_lease`].
    async fn write(
        &self,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
        fence: Option<(&str, bool)>,
    ) -> Result<(), StoreError> {
        let now = SystemTime::now();
        let expiry = self.expiry_ms(record, now);
        let key = self.key(id);
        let cookie = record.cookie.encode().map_err(backend)?;
        // Only an unfenced patch ends with a read, which keeps the key tracked: the cache may
        // keep what it wrote. Any other write empties the slot (when the ticket drops).
        let patch = fence.is_none() && changed.fields().is_some();
        let ticket = self.cache.as_ref().map(|cache| cache.writing(&key, patch));
        let index = record
            .owner
            .as_deref()
            .and_then(|owner| self.owner_key(owner));
        // Each future is made where it is awaited, so that the common path's (a patch of a
        // session without an owner) stays small: this one is boxed for every store call, and
        // a box of up to 1 KiB comes from the allocator's per-thread cache.
        let write = || async {
            if let Some(fence) = fence {
                return self
                    .write_leased(id, record, changed, fence, &cookie, expiry)
                    .await;
            }
            match changed {
                Changed::All => self.write_all(&key, record, &cookie, expiry).await,
                Changed::Fields(names) | Changed::FieldsAndOwner(names) => {
                    let owner = changed.writes_owner();
                    self.write_fields(&key, record, names, owner, &cookie, expiry)
                        .await
                }
            }
        };
        let previous = match &index {
            None => write().await?,
            Some(index) => {
                // Boxed: the pair would double the future of every write.
                let pair = Box::pin(async {
                    both(
                        pin!(write()),
                        pin!(self.index(index, id.as_bytes(), expiry, now)),
                    )
                    .await
                });
                let (written, indexed) = pair.await;
                let previous = written?;
                indexed?;
                previous
            }
        };
        if let (Some(ticket), Some(names)) = (ticket, changed.fields()) {
            let owner = match changed.writes_owner() {
                true => record.owner.clone(),
                false => previous.clone(),
            };
            ticket.patched(expiry, |base| patched(base, record, names, owner));
        }
        if previous == record.owner {
            return Ok(());
        }
        let moved = self.owner_moved(id, changed, previous, index.as_deref(), expiry, now);
        Box::pin(moved).await
    }

    /// Keeps the owner index in step after a write that found another owner stored than
    /// `record`'s (`previous`).
    async fn owner_moved(
        &self,
        id: &str,
        changed: Changed<'_>,
        previous: Option<String>,
        index: Option<&[u8]>,
        expiry: u64,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        if !changed.writes_owner() {
            // The stored owner stayed. This request's copy of it was stale: the session's
            // score in its real owner's set still has to follow the new expiry; the set this
            // request indexed it in drops it at its next listing.
            if let Some(index) = previous.as_deref().and_then(|o| self.owner_key(o)) {
                self.index(&index, id.as_bytes(), expiry, now).await?;
            }
            return Ok(());
        }
        // The owner changed. A listing of the new owner's sessions that ran between the two
        // steps above may have found the session not yet theirs and dropped the member: add
        // it again now that the write has landed.
        if let Some(index) = index {
            self.index(index, id.as_bytes(), expiry, now).await?;
        }
        if let Some(previous) = previous
            && let Some(old) = self.owner_key(&previous)
        {
            self.unindex(&previous, &old, id.as_bytes()).await?;
        }
        Ok(())
    }

    /// The key of `owner`'s index, if the index is on.
    fn owner_key(&self, owner: &str) -> Option<Vec<u8>> {
        let prefix = self.owner_prefix.as_deref()?;
        Some([prefix.as_bytes(), owner.as_bytes()].concat())
    }

    /// The expiry Redis enforces for `record`, in ms since the epoch.
    fn expiry_ms(&self, record: &Record, now: SystemTime) -> u64 {
        record
            .cookie
            .store_expiry_ms(self.idle_ttl, now)
            .min(MAX_EXPIRY_MS)
    }

    /// Replaces the session; answers the owner it had.
    async fn write_all(
        &self,
        key: &[u8],
        record: &Record,
        cookie: &[u8],
        expiry: u64,
    ) -> Result<Option<String>, StoreError> {
        let fields = record.fields.iter();
        let mut hset = command(
            "HSET",
            [key, VERSION_FIELD, VERSION, COOKIE_FIELD, cookie]
                .map(<[u8]>::len)
                .into_iter()
                .chain(
                    record
                        .owner
                        .iter()
                        .flat_map(|o| [OWNER_FIELD.len(), o.len()]),
                )
                .chain(
                    fields
                        .clone()
                        .flat_map(|(n, v)| [FIELD_PREFIX.len() + n.len(), v.len()]),
                ),
        );
        hset.arg(key)
            .arg(VERSION_FIELD)
            .arg(VERSION)
            .arg(COOKIE_FIELD)
            .arg(cookie);
        if let Some(owner) = &record.owner {
            hset.arg(OWNER_FIELD).arg(owner);
        }
        for (name, value) in fields {
            field_arg(&mut hset, name);
            hset.arg(value.as_ref());
        }
        let mut pipe = Pipeline::with_capacity(4);
        pipe.atomic()
            .add_command(command_with("HGET", [key, OWNER_FIELD]))
            .add_command(command_with("DEL", [key]))
            .ignore()
            .add_command(hset)
            .ignore()
            .add_command(pexpireat(key, expiry))
            .ignore();
        // A whole write is for a new id, which no other request knows: repeating it writes
        // the same session again. (Patches are not repeated: a patch that landed before the
        // connection dropped could, repeated, undo another process's write of the same field.)
        let (previous,): (Bulk,) = self
            .retried(|| async { pipe.query_async(&mut self.connection.clone()).await })
            .await
            .map_err(|error| self.failed(error))?;
        Ok(previous.and_then(owner_of))
    }

    /// Updates the session if it is there (else `Gone`); answers the owner it had.
    ///
    /// One transaction, without a script: write, set the expiry, then check the marker that
    /// only whole writes set (and read the owner it had, before the write if it changes it). If
    /// the session had ended, the writes made a hash without the marker, which no read takes
    /// for a session; it is deleted before answering `Gone` (and would expire with the
    /// session's expiry anyway).
    async fn write_fields(
        &self,
        key: &[u8],
        record: &Record,
        names: &std::collections::BTreeSet<String>,
        owner: bool,
        cookie: &[u8],
        expiry: u64,
    ) -> Result<Option<String>, StoreError> {
        let new_owner = record.owner.as_deref().filter(|_| owner);
        let values = names.iter().map(|name| (name, record.fields.get(name)));
        let mut hset = command(
            "HSET",
            [key, COOKIE_FIELD, cookie]
                .map(<[u8]>::len)
                .into_iter()
                .chain(new_owner.iter().flat_map(|o| [OWNER_FIELD.len(), o.len()]))
                .chain(
                    values
                        .clone()
                        .filter_map(|(name, value)| {
                            value.map(|v| [FIELD_PREFIX.len() + name.len(), v.len()])
                        })
                        .flatten(),
                ),
        );
        hset.arg(key).arg(COOKIE_FIELD).arg(cookie);
        if let Some(new) = new_owner {
            hset.arg(OWNER_FIELD).arg(new);
        }
        // Made only if something is deleted.
        let mut hdel: Option<Cmd> = None;
        let new_hdel = || command_with("HDEL", [key]);
        if owner && new_owner.is_none() {
            hdel.get_or_insert_with(new_hdel).arg(OWNER_FIELD);
        }
        for (name, value) in values {
            match value {
                Some(value) => {
                    field_arg(&mut hset, name);
                    hset.arg(value.as_ref());
                }
                None => field_arg(hdel.get_or_insert_with(new_hdel), name),
            }
        }
        // The owner it had: read before the write if the write changes it, else after (the
        // same value, one command less).
        let mut pipe = Pipeline::with_capacity(5);
        pipe.atomic();
        if owner {
            pipe.add_command(command_with("HGET", [key, OWNER_FIELD]));
        }
        pipe.add_command(hset).ignore();
        if let Some(hdel) = hdel {
            pipe.add_command(hdel).ignore();
        }
        pipe.add_command(pexpireat(key, expiry)).ignore();
        if owner {
            pipe.add_command(command_with("HEXISTS", [key, VERSION_FIELD]));
        } else {
            pipe.add_command(command_with("HMGET", [key, OWNER_FIELD, VERSION_FIELD]));
        }
        let (previous, live) = if owner {
            let (previous, live): (Bulk, bool) = pipe
                .query_async(&mut self.connection.clone())
                .await
                .map_err(|error| self.failed(error))?;
            (previous, live)
        } else {
            let ((previous, version),): ((Bulk, Bulk),) = pipe
                .query_async(&mut self.connection.clone())
                .await
                .map_err(|error| self.failed(error))?;
            (previous, version.is_some())
        };
        if !live {
            // Boxed: a rare path, kept out of every patch's future.
            let mut connection = self.connection.clone();
            let invocation = self.drop_stray.key(key);
            if let Err(error) = Box::pin(invocation.invoke_async::<i64>(&mut connection)).await {
                tracing::warn!(%error, "could not delete a patch of an ended session; it expires with it");
            }
            return Err(StoreError::Gone);
        }
        Ok(previous.and_then(owner_of))
    }

    /// Indexes session `id` in the owner set at `index` until `expiry` (see [`INDEX`]).
    async fn index(
        &self,
        index: &[u8],
        id: &[u8],
        expiry: u64,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        self.index
            .key(index)
            .arg(id)
            .arg(expiry)
            .arg(millis_since_epoch(now))
            .invoke_async::<i64>(&mut self.connection.clone())
            .await
            .map(drop)
            .map_err(|error| self.failed(error))
    }

    /// Drops `ids` from the owner set at `index`, for sessions that are gone for good.
    async fn forget(&self, index: &[u8], ids: &[Vec<u8>]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        tracing::debug!(
            count = ids.len(),
            "dropping stale members of an owner index"
        );
        ::redis::cmd("ZREM")
            .arg(index)
            .arg(ids)
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(|error| self.failed(error))
    }

    /// Drops `id` from `owner`'s set at `index`, for a session that exists but has another
    /// owner. A concurrent write may give it back to `owner` and index it just before the
    /// removal lands, so the session is read again afterwards and re-indexed if it is
    /// `owner`'s by then.
    async fn unindex(&self, owner: &str, index: &[u8], id: &[u8]) -> Result<(), StoreError> {
        self.forget(index, &[id.to_vec()]).await?;
        let now = SystemTime::now();
        match self.load(id).await? {
            Some(record) if record.owner.as_deref() == Some(owner) && !record.is_expired(now) => {
                self.index(index, id, self.expiry_ms(&record, now), now)
                    .await
            }
            _ => Ok(()),
        }
    }

    async fn load(&self, id: &[u8]) -> Result<Option<Record>, StoreError> {
        self.load_key(&self.key(id)).await
    }

    /// The session `id` for a request: from the client-side cache if it holds it, else as
    /// [`load`](Self::load) (filling the cache if it has one).
    async fn read(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let Some(cache) = &self.cache else {
            return self.load(id.as_bytes()).await;
        };
        let key = self.key(id);
        let now = millis_since_epoch(SystemTime::now());
        let ticket = match cache.lookup(&key, now) {
            Lookup::Hit(record) => return Ok(Some(record)),
            Lookup::Miss(ticket) => ticket,
        };
        // Tracking first, so the read is tracked even on a connection that has just been
        // re-made; the time to live, so an entry never outlives the key. Each reply on its own,
        // so that a key of another type is a missing session (see `readable`).
        let mut pipe = Pipeline::new();
        pipe.add_command(tracking_on())
            .cmd("HGETALL")
            .arg(&key)
            .cmd("PTTL")
            .arg(&key)
            .ignore_errors();
        let replies = self
            .retried(|| async {
                pipe.query_async::<Vec<Result<::redis::Value, RedisError>>>(
                    &mut self.connection.clone(),
                )
                .await
            })
            .await
            .map_err(|error| self.failed(error))?;
        let [tracking, hash, ttl] = <[_; 3]>::try_from(replies)
            .map_err(|replies| backend(format!("{} replies to 3 commands", replies.len())))?;
        // Without tracking (a server that stopped allowing it) the reply is served, not kept.
        cache.tracking_answered(tracking.as_ref().err());
        let ticket = ticket.filter(|_| tracking.is_ok());
        let hash = hash.and_then(|hash| Ok(Vec::<(Vec<u8>, Vec<u8>)>::from_redis_value(hash)?));
        let Some(entries) = readable(hash)? else {
            return Ok(None);
        };
        let ttl: i64 = ttl
            .and_then(|ttl| Ok(i64::from_redis_value(ttl)?))
            .map_err(|error| self.failed(error))?;
        let record = parse(entries);
        if let (Some(ticket), Some(record)) = (ticket, &record) {
            // -1: no expiry (not written by this store); -2: gone since the HGETALL.
            let expires = match ttl {
                -1 => Some(u64::MAX),
                ttl => u64::try_from(ttl).ok().map(|ttl| now.saturating_add(ttl)),
            };
            ticket.fill(expires.map(|at| (record, at)));
        }
        Ok(record)
    }

    /// The session at `key` (see [`readable`] for a key of another type).
    async fn load_key(&self, key: &[u8]) -> Result<Option<Record>, StoreError> {
        let hgetall = ::redis::cmd("HGETALL").arg(key).take();
        let loaded = self
            .retried(|| async {
                hgetall
                    .query_async::<Vec<(Vec<u8>, Vec<u8>)>>(&mut self.connection.clone())
                    .await
            })
            .await;
        readable(loaded).map(|entries| entries.and_then(parse))
    }

    /// As [`load`](Self::load), by the [`GET_WITHIN`] script: a session over `max_size` stays in
    /// Redis and is missing.
    async fn load_within(&self, id: &[u8], max_size: usize) -> Result<Option<Record>, StoreError> {
        let mut script = self.get_within.key(self.key(id));
        script.arg(max_size);
        let loaded = self
            .retried(|| async {
                script
                    .invoke_async::<::redis::Value>(&mut self.connection.clone())
                    .await
            })
            .await;
        match readable(loaded)? {
            Some(::redis::Value::Int(size)) => {
                store::too_large(size.unsigned_abs(), max_size);
                Ok(None)
            }
            Some(hash) => Vec::from_redis_value(hash).map(parse).map_err(backend),
            None => Ok(None),
        }
    }

    /// The members of the owner set at `index`, after dropping those whose score has passed.
    async fn members(&self, index: &[u8], now: SystemTime) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut pipe = Pipeline::new();
        pipe.atomic()
            .cmd("ZREMRANGEBYSCORE")
            .arg(index)
            .arg("-inf")
            .arg(millis_since_epoch(now))
            .ignore()
            .cmd("ZRANGE")
            .arg(index)
            .arg(0)
            .arg(-1);
        let (members,): (Vec<Vec<u8>>,) = pipe
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|error| self.failed(error))?;
        Ok(members)
    }

    /// Runs `commands`: as one pipeline on a single node, one by one on a cluster (where a
    /// pipeline must stay in one hash slot).
    /// Each command's reply, in one pipeline on a single node (one command at a time on a
    /// cluster, where the keys may live on different nodes). A command that Redis refused
    /// (a key of another type) fails alone, not the batch; see [`readable`].
    async fn batch<T: FromRedisValue>(
        &self,
        commands: Vec<Cmd>,
    ) -> Result<Vec<Result<T, RedisError>>, StoreError> {
        let mut connection = self.connection.clone();
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        if self.single_node {
            let mut pipe = Pipeline::new();
            for command in commands {
                pipe.add_command(command);
            }
            return pipe
                .ignore_errors()
                .query_async(&mut connection)
                .await
                .map_err(|error| self.failed(error));
        }
        let mut replies = Vec::with_capacity(commands.len());
        for command in commands {
            match command.query_async(&mut connection).await {
                Err(error) if error.code() != Some("WRONGTYPE") => return Err(backend(error)),
                reply => replies.push(reply),
            }
        }
        Ok(replies)
    }

    /// Every key that starts with `prefix`, by `SCAN`.
    async fn keys(
        &self,
        operation: &'static str,
        prefix: &str,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        if !self.single_node {
            return Err(StoreError::unsupported(operation));
        }
        let pattern = [glob_escape(prefix).as_bytes(), b"*"].concat();
        let mut connection = self.connection.clone();
        let mut cursor = 0u64;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<Vec<u8>>) = ::redis::cmd("SCAN")
                .cursor_arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await
                .map_err(|error| self.failed(error))?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    async fn unlink(&self, keys: &[Vec<u8>]) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        for batch in keys.chunks(500) {
            ::redis::cmd("UNLINK")
                .arg(batch)
                .query_async::<()>(&mut connection)
                .await
                .map_err(|error| self.failed(error))?;
        }
        Ok(())
    }
}

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

    // The write's own future, not one around it: every store call is boxed.
    fn set(
        &self,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.write(id, record, changed, None)
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        // Repeating a destroy deletes nothing more. (If the first try landed, the repeat finds
        // no owner, and the owner index keeps a stale member until its next listing drops it.)
        let key = self.key(id);
        let _ticket = self.cache.as_ref().map(|cache| cache.writing(&key, false));
        let destroy = self.destroy.key(&key);
        let owner: Option<Vec<u8>> = self
            .retried(|| async { destroy.invoke_async(&mut self.connection.clone()).await })
            .await
            .map_err(|error| self.failed(error))?;
        match owner
            .and_then(owner_of)
            .and_then(|owner| self.owner_key(&owner))
        {
            Some(index) => self.forget(&index, &[id.as_bytes().to_vec()]).await,
            None => Ok(()),
        }
    }

    fn idle_ttl(&self) -> Option<Duration> {
        Some(self.idle_ttl)
    }

    async fn touch(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        let now = SystemTime::now();
        let expiry = self.expiry_ms(record, now);
        let cookie = record.cookie.encode().map_err(backend)?;
        let key = self.key(id);
        // A touch that lands keeps the cached entry, with the new cookie state and expiry: the
        // script ends with a read, so Redis tracks the key again. Otherwise the slot empties
        // (when the ticket drops).
        let ticket = self.cache.as_ref().map(|cache| cache.writing(&key, true));
        let mut invocation = self.touch.key(&key);
        invocation
            .arg(expiry)
            .arg(cookie)
            .arg(record.owner.as_deref().unwrap_or_default())
            .arg(u8::from(record.owner.is_some()));
        // Repeating a touch writes the same cookie state and expiry again.
        let touch = || async {
            self.retried(|| async {
                invocation
                    .invoke_async::<i64>(&mut self.connection.clone())
                    .await
            })
            .await
            .map_err(|error| self.failed(error))
        };
        let touched = match record
            .owner
            .as_deref()
            .and_then(|owner| self.owner_key(owner))
        {
            None => touch().await?,
            Some(index) => {
                let (touched, indexed) = both(
                    pin!(touch()),
                    pin!(self.index(&index, id.as_bytes(), expiry, now)),
                )
                .await;
                let touched = touched?;
                indexed?;
                touched
            }
        };
        match touched {
            0 => Err(StoreError::Gone),
            2 => {
                // Another request changed the owner since this one loaded the session, and its
                // write refreshed the session: nothing left to do.
                tracing::debug!("session owner changed meanwhile; touch skipped");
                Ok(())
            }
            _ => {
                if let Some(ticket) = ticket {
                    ticket.patched(expiry, |mut base| {
                        base.cookie = record.cookie.clone();
                        base
                    });
                }
                Ok(())
            }
        }
    }

    fn capabilities() -> Capabilities<Self> {
        Capabilities::none().leases().owner_index().listing()
    }
}

impl<C> Leases for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn lease(&self, id: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        let Some(key) = self.lease_key(id) else {
            return Err(StoreError::unsupported("lease (a session id with `}`)"));
        };
        let token = crate::id::generate_id();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        // Repeating a `SET NX` whose first try landed finds the key taken, by this very token:
        // the token is read back to tell.
        let taken: Option<String> = ::redis::cmd("SET")
            .arg(key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|error| self.failed(error))?;
        if taken.is_some()
            && let Some(cache) = &self.cache
        {
            // The turn promises the last holder's write, which may not have been heard of yet.
            cache.forget(&self.key(id));
        }
        Ok(taken.map(|_| token))
    }

    async fn release(&self, id: &str, token: &str) -> Result<(), StoreError> {
        let Some(key) = self.lease_key(id) else {
            return Ok(());
        };
        self.retried(|| async {
            self.release
                .key(&key)
                .arg(token)
                .invoke_async::<i64>(&mut self.connection.clone())
                .await
        })
        .await
        .map(drop)
        .map_err(|error| self.failed(error))
    }

    async fn set_within_lease(
        &self,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
        token: &str,
        release: bool,
    ) -> Result<(), StoreError> {
        self.write(id, record, changed, Some((token, release)))
            .await
    }
}

impl<C> OwnerIndex for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn sessions_of(&self, owner: &str) -> Result<Vec<(String, Record)>, StoreError> {
        let index = self
            .owner_key(owner)
            .ok_or(StoreError::unsupported("sessions_of"))?;
        let now = SystemTime::now();
        let members = self.members(&index, now).await?;
        let loads = members
            .iter()
            .map(|id| ::redis::cmd("HGETALL").arg(self.key(id)).take())
            .collect();
        let loaded = self.batch::<Vec<(Vec<u8>, Vec<u8>)>>(loads).await?;
        let (mut sessions, mut gone, mut moved) = (Vec::new(), Vec::new(), Vec::new());
        for (member, entries) in members.into_iter().zip(loaded) {
            let record = readable(entries)?.and_then(parse);
            match (String::from_utf8(member), record) {
                (Ok(id), Some(record)) if record.owner.as_deref() == Some(owner) => {
                    // A session past its expiry that Redis has not deleted yet (within the
                    // millisecond) is not listed; its member goes with its score.
                    if !record.is_expired(now) {
                        sessions.push((id, record));
                    }
                }
                (Ok(id), Some(_)) => moved.push(id.into_bytes()),
                (Ok(id), None) => gone.push(id.into_bytes()),
                (Err(error), _) => gone.push(error.into_bytes()),
            }
        }
        self.forget(&index, &gone).await?;
        for id in moved {
            self.unindex(owner, &index, &id).await?;
        }
        Ok(sessions)
    }

    async fn destroy_sessions_of(
        &self,
        owner: &str,
        keep: Option<&str>,
    ) -> Result<usize, StoreError> {
        let index = self
            .owner_key(owner)
            .ok_or(StoreError::unsupported("destroy_sessions_of"))?;
        let members: Vec<Vec<u8>> = self
            .members(&index, SystemTime::now())
            .await?
            .into_iter()
            .filter(|id| keep.map(str::as_bytes) != Some(id.as_slice()))
            .collect();
        // This connection's own deletes send it no invalidation: their slots empty here.
        let _tickets: Vec<_> = match &self.cache {
            Some(cache) => members
                .iter()
                .map(|id| cache.writing(&self.key(id), false))
                .collect(),
            None => Vec::new(),
        };
        let deletes = members
            .iter()
            .map(|id| {
                ::redis::cmd("EVAL")
                    .arg(DESTROY_IF_OWNED)
                    .arg(1)
                    .arg(self.key(id))
                    .arg(owner)
                    .take()
            })
            .collect();
        let outcomes = self.batch::<i64>(deletes).await?;
        let (mut destroyed, mut gone, mut moved) = (0, Vec::new(), Vec::new());
        for (id, outcome) in members.into_iter().zip(outcomes) {
            // A key of another type is no session of this owner: forget its member.
            match readable(outcome)?.unwrap_or(-1) {
                1 => {
                    destroyed += 1;
                    gone.push(id);
                }
                0 => moved.push(id),
                _ => gone.push(id),
            }
        }
        self.forget(&index, &gone).await?;
        for id in moved {
            self.unindex(owner, &index, &id).await?;
        }
        Ok(destroyed)
    }
}

impl<C> Listing for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn all(&self) -> Result<Vec<(String, Record)>, StoreError> {
        let now = SystemTime::now();
        let mut sessions = Vec::new();
        for key in self.keys("all", &self.prefix).await? {
            let loaded = self.load_key(&key).await?;
            let id = String::from_utf8_lossy(&key[self.prefix.len()..]).into_owned();
            if let Some(record) = loaded.filter(|record| !record.is_expired(now)) {
                sessions.push((id, record));
            }
        }
        Ok(sessions)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        // Emptied before (loads in flight keep nothing) and after, even on an error (nor do loads
        // that ran between).
        let _emptied = Emptied(self.cache.as_deref());
        _emptied.empty();
        self.unlink(&self.keys("clear", &self.prefix).await?)
            .await?;
        if let Some(owner_prefix) = &self.owner_prefix {
            self.unlink(&self.keys("clear", owner_prefix).await?)
                .await?;
        }
        Ok(())
    }

    async fn length(&self) -> Result<usize, StoreError> {
        Ok(self.keys("length", &self.prefix).await?.len())
    }
}

/// Empties a client-side cache now and when dropped.
struct Emptied<'a>(Option<&'a ClientCache>);

impl Emptied<'_> {
    fn empty(&self) {
        if let Some(cache) = self.0 {
            cache.clear();
        }
    }
}

impl Drop for Emptied<'_> {
    fn drop(&mut self) {
        self.empty();
    }
}

/// Runs `attempt` a second time if the first failed because the connection had dropped (a
/// Redis restart, a failover, an idle connection closed by a proxy): the connection manager
/// reconnects only after a command has failed, so without this the first request after a
/// restart would fail. Only for commands that are safe to repeat. Timeouts are not repeated:
/// a server that does not answer would only make the request wait twice as long.
#[cfg(feature = "connect-redis")]
pub(super) async fn retried<T, F, Fut>(attempt: F) -> Result<T, RedisError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, RedisError>>,
{
    retried_noting(|| {}, attempt).await
}

/// [`retried`], calling `dropped` before the second try (the new connection tracks nothing).
async fn retried_noting<T, F, Fut>(dropped: impl FnOnce(), attempt: F) -> Result<T, RedisError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, RedisError>>,
{
    match attempt().await {
        Err(error) if error.is_connection_dropped() && !error.is_timeout() => {
            tracing::debug!(%error, "Redis connection dropped; trying once more");
            dropped();
            attempt().await
        }
        outcome => outcome,
    }
}

/// Runs two futures at once and waits for both: on a multiplexed or cluster connection their
/// commands are in flight together, so the pair costs one round trip of latency.
async fn both<A: Future, B: Future>(
    mut a: Pin<&mut A>,
    mut b: Pin<&mut B>,
) -> (A::Output, B::Output) {
    let (mut first, mut second) = (None, None);
    poll_fn(|cx| {
        if first.is_none()
            && let Poll::Ready(output) = a.as_mut().poll(cx)
        {
            first = Some(output);
        }
        if second.is_none()
            && let Poll::Ready(output) = b.as_mut().poll(cx)
        {
            second = Some(output);
        }
        match (first.take(), second.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                (first, second) = (a, b);
                Poll::Pending
            }
        }
    })
    .await
}

/// The owner-index prefix for the session prefix `prefix`: `prefix` with `#` (`!` if its last
/// character is `#`) put before its last character, then `owner:` (`sess:` gives
/// `sess#:owner:`). Session keys and owner keys then differ at that character, whatever
/// follows, and two session prefixes never share an owner prefix (the last character is kept,
/// so the session prefix can be read back). `None` for an empty prefix, which leaves no room.
fn owner_prefix(prefix: &str) -> Option<String> {
    let last = prefix.chars().next_back()?;
    let head = &prefix[..prefix.len() - last.len_utf8()];
    let marker = if last == '#' { '!' } else { '#' };
    Some(format!("{head}{marker}{last}owner:"))
}

/// The hash tag of a Redis key, by Redis Cluster's rule: what lies between its first `{` and
/// the first `}` after it, if that is not empty.
fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let length = key[open + 1..].iter().position(|&b| b == b'}')?;
    (length > 0).then(|| &key[open + 1..open + 1 + length])
}

fn field_key(name: &str) -> Vec<u8> {
    [FIELD_PREFIX, name.as_bytes()].concat()
}

/// A command named `name` with room for arguments of the given lengths, so that adding them
/// allocates nothing more.
fn command(name: &str, lengths: impl IntoIterator<Item = usize>) -> Cmd {
    let mut command = Cmd::with_capacity(1, name.len());
    command.arg(name);
    command.reserve_space_for_args(lengths);
    command
}

/// The command `name args...`, built in one allocation per buffer.
fn command_with<const N: usize>(name: &str, args: [&[u8]; N]) -> Cmd {
    let mut command = command(name, args.map(<[u8]>::len));
    for arg in args {
        command.arg(arg);
    }
    command
}

/// `PEXPIREAT key at`.
fn pexpireat(key: &[u8], at: u64) -> Cmd {
    // At most 16 digits (`MAX_EXPIRY_MS`).
    let mut command = command("PEXPIREAT", [key.len(), 16]);
    command.arg(key).arg(at);
    command
}

/// Adds the hash field of session field `name` (`f:<name>`) to `command`, written straight
/// into its buffer.
fn field_arg(command: &mut Cmd, name: &str) {
    let mut arg = command.writer_for_next_arg();
    // Writing into the command's buffer cannot fail.
    let _ = arg
        .write_all(FIELD_PREFIX)
        .and_then(|()| arg.write_all(name.as_bytes()));
}

/// An owner as stored; one that is not UTF-8 was never written by this store.
fn owner_of(bytes: Vec<u8>) -> Option<String> {
    String::from_utf8(bytes).ok()
}

/// What a read of a session key answered; a key of another type (something else wrote there) is
/// not a session: logged and missing (`None`), so its client gets a new session instead of an
/// error on every request until the key goes.
fn readable<T>(loaded: Result<T, RedisError>) -> Result<Option<T>, StoreError> {
    match loaded {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.code() == Some("WRONGTYPE") => {
            tracing::warn!(
                "a key of another type is where a session would be; treating the session as missing"
            );
            Ok(None)
        }
        Err(error) => Err(backend(error)),
    }
}

/// A record from `HGETALL`; a hash without the format marker is not a session, and one
/// without a readable cookie state or owner is logged; both are missing.
pub(crate) fn parse(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Option<Record> {
    if entries.is_empty() {
        return None;
    }
    let mut cookie = None;
    let mut owner = None;
    let mut version = None;
    let mut fields = Fields::new();
    for (name, value) in entries {
        if name == VERSION_FIELD {
            version = Some(value);
        } else if name == COOKIE_FIELD {
            cookie = Some(value);
        } else if name == OWNER_FIELD {
            owner = Some(value);
        } else if let Some(field) = name.strip_prefix(FIELD_PREFIX)
            && let Ok(field) = String::from_utf8(field.to_vec())
        {
            fields.insert(field, value.into());
        }
    }
    match version.as_deref() {
        Some(VERSION) => {}
        Some(other) => {
            tracing::warn!(version = %String::from_utf8_lossy(other), "session hash in Redis has an unknown format; treating it as missing");
            return None;
        }
        None => {
            // What a patch left of a session that ended before it landed (deleted right after).
            tracing::debug!("hash without a format marker in Redis; not a session");
            return None;
        }
    }
    let owner = match owner.map(String::from_utf8).transpose() {
        Ok(owner) => owner,
        Err(error) => {
            tracing::warn!(%error, "session owner in Redis is not UTF-8; treating the session as missing");
            return None;
        }
    };
    match cookie.as_deref().map(CookieState::decode) {
        Some(Ok(cookie)) => Some(Record {
            cookie,
            fields,
            owner,
        }),
        Some(Err(error)) => {
            tracing::warn!(%error, "corrupt session record in Redis; treating it as missing");
            None
        }
        None => {
            tracing::warn!("session hash in Redis has no cookie state; treating it as missing");
            None
        }
    }
}

/// The session as Redis holds it after a patch of `base`: `record`'s value (or absence) for each
/// field in `names`, `record`'s cookie state, and `owner`.
fn patched(
    mut base: Record,
    record: &Record,
    names: &BTreeSet<String>,
    owner: Option<String>,
) -> Record {
    for name in names {
        match record.fields.get(name) {
            Some(value) => {
                base.fields.insert(name.clone(), value.clone());
            }
            None => {
                base.fields.remove(name);
            }
        }
    }
    base.cookie = record.cookie.clone();
    base.owner = owner;
    base
}

/// Escapes glob characters so a prefix matches only itself in `SCAN MATCH`.
fn glob_escape(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::backend("redis", error)
}

#[cfg(test)]
mod tests {
    use super::owner_prefix;

    #[test]
    fn owner_keys_never_start_like_session_keys() {
        for (prefix, owners) in [
            ("sess:", Some("sess#:owner:")),
            ("app:sessions#", Some("app:sessions!#owner:")),
            ("é", Some("#éowner:")),
            ("x", Some("#xowner:")),
            ("", None),
        ] {
            assert_eq!(owner_prefix(prefix).as_deref(), owners, "{prefix:?}");
            if let Some(owners) = owners {
                // Neither prefix starts the other, so no `<owners><owner>` is a
                // `<prefix><id>`.
                assert!(!owners.starts_with(prefix) && !prefix.starts_with(owners));
            }
        }
    }

    #[test]
    fn two_session_prefixes_never_share_an_owner_index() {
        let prefixes = [
            "sess:", "sess_", "app:a", "app:b", "t1", "t2", "a#", "a!", "#", "!",
        ];
        let owners: std::collections::HashSet<String> =
            prefixes.iter().filter_map(|p| owner_prefix(p)).collect();
        assert_eq!(owners.len(), prefixes.len());
    }
}
