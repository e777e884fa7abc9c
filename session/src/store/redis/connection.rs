//! Reaching Redis: the connection settings every Redis store here uses (2 s timeouts, one
//! connection attempt at a time, a connection replaced when it stops answering: see `link`), TLS with the system's certificate authorities or your own, the one retry of a command
//! whose connection dropped, and the constructors, which differ only in data and share one body
//! ([`connect`]).

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::{Duration, SystemTime};

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClient;
use ::redis::cluster_async::ClusterConnection;
use ::redis::io::tcp::{TcpSettings, socket2::TcpKeepalive};
use ::redis::{Client, ConnectionInfo, IntoConnectionInfo as _, RedisError};

use super::cache::{Cache, ClientCache, StoreAlive, tracking_on};
use super::link::Link;
use super::scripts::Scripts;
use super::{RedisStore, backend};
use crate::record::millis_since_epoch;
use crate::store::{DEFAULT_IDLE_TTL, StoreError};

impl RedisStore<ConnectionManager> {
    /// Connects to `url` with a [`ConnectionManager`]: one multiplexed connection that
    /// reconnects by itself, with a 2 s response timeout so an outage is an error, not a hang.
    /// A command that times out replaces the connection at once (at most every 2 s): its peer
    /// may have vanished without closing it (a crashed host, a NAT that forgot the flow), and
    /// a new connection does not wait for TCP to notice.
    ///
    /// With the `redis-tls` feature a `rediss://` URL connects over TLS, trusting the system's
    /// certificate authorities (as a managed Redis needs); [`open_with_ca`] trusts your own.
    ///
    /// [`open_with_ca`]: RedisStore::open_with_ca
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        connect(url, None, None).await
    }

    /// Connects to the `rediss://` URL `url` over TLS, trusting the certificate authorities in
    /// `ca_pem` (PEM; a self-hosted Redis with a CA of its own) instead of the system's.
    #[cfg(feature = "redis-tls")]
    pub async fn open_with_ca(url: &str, ca_pem: &[u8]) -> Result<Self, StoreError> {
        connect(url, Some(ca_pem), None).await
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
    /// rather than by the very next request; and within 1 s in any case, even when the network
    /// fails silently (see [`with_cache_heartbeat`](RedisStore::with_cache_heartbeat)). This process's own writes are seen at once, and a
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
        connect(url, None, Some(capacity)).await
    }

    /// [`open_cached`](RedisStore::open_cached) over TLS, trusting the certificate authorities
    /// in `ca_pem` (PEM), as [`open_with_ca`](RedisStore::open_with_ca) does.
    #[cfg(feature = "redis-tls")]
    pub async fn open_cached_with_ca(
        url: &str,
        ca_pem: &[u8],
        capacity: usize,
    ) -> Result<Self, StoreError> {
        connect(url, Some(ca_pem), Some(capacity)).await
    }
}

impl RedisStore<ClusterConnection> {
    /// Connects to a Redis Cluster through any of its `nodes` (`redis://host:port` each),
    /// with the same 2 s timeouts as [`open`](RedisStore::open). With the `redis-tls` feature,
    /// `rediss://` nodes connect over TLS trusting the system's certificate authorities;
    /// [`open_cluster_with_ca`](RedisStore::open_cluster_with_ca) trusts your own.
    pub async fn open_cluster(nodes: &[&str]) -> Result<Self, StoreError> {
        connect(nodes, None, None).await
    }

    /// Connects to a Redis Cluster over TLS through any of its `rediss://` `nodes`, trusting
    /// the certificate authorities in `ca_pem` (PEM) instead of the system's, for every node
    /// the cluster leads it to.
    #[cfg(feature = "redis-tls")]
    pub async fn open_cluster_with_ca(nodes: &[&str], ca_pem: &[u8]) -> Result<Self, StoreError> {
        connect(nodes, Some(ca_pem), None).await
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
    /// Its TCP settings are yours: give it keepalive and `TCP_USER_TIMEOUT`
    /// (`ConnectionInfo::set_tcp_settings`) as the `open*` constructors do, or a host that
    /// vanishes without a word keeps its commands waiting out their timeouts for minutes.
    pub fn new(connection: C) -> Self {
        Self::on(Link::fixed(connection))
    }

    /// A store with the defaults on `connection`.
    fn on(connection: Link<C>) -> Self {
        Self {
            connection,
            prefix: String::new(),
            owner_prefix: None,
            idle_ttl: DEFAULT_IDLE_TTL,
            single_node: true,
            size_check_in_redis: false,
            scripts: Scripts::new(),
            cache: Cache::default(),
        }
        .with_prefix("sess:")
    }

    /// A store error for `error`. A failure of the connection itself (not a reply Redis gave)
    /// may mean the connection was replaced without the library's word, and a new one tracks
    /// nothing yet: the client-side cache empties.
    pub(super) fn failed(&self, error: RedisError) -> StoreError {
        self.cache.command_failed(&error);
        self.connection.failed(&error);
        backend(error)
    }

    /// [`retried`], emptying the client-side cache if the connection dropped, and replacing a
    /// connection that timed out (some callers read errors as answers, not through
    /// [`failed`](Self::failed)).
    pub(super) async fn retried<T, F, Fut>(&self, attempt: F) -> Result<T, RedisError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let dropped = || self.cache.reset("the Redis connection dropped");
        let outcome = retried_noting(dropped, attempt).await;
        if let Err(error) = &outcome {
            self.connection.failed(error);
        }
        outcome
    }
}

/// The one body of the `open*` constructors: connects to `target`, over TLS trusting the
/// certificate authorities in `ca_pem` (PEM) if given, with a client-side cache of `capacity`
/// sessions if asked.
async fn connect<'a, C: Connect>(
    target: C::Target<'a>,
    ca_pem: Option<&'a [u8]>,
    capacity: Option<usize>,
) -> Result<RedisStore<C>, StoreError> {
    let cache = Cache::new(capacity);
    let connection = C::connect(target, ca_pem, cache.clone())
        .await
        .map_err(backend)?;
    opened(connection, cache, C::SINGLE_NODE).await
}

/// The rest of opening a store on `connection`: the client-side cache's tracking and heartbeat
/// if `cache` is on.
pub(super) async fn opened<C: ConnectionLike + Clone + Send + Sync + 'static>(
    connection: Link<C>,
    cache: Cache,
    single_node: bool,
) -> Result<RedisStore<C>, StoreError> {
    if let Some((client_cache, alive)) = cache.for_heartbeat() {
        // Every load that fills the cache turns tracking on again (a reconnected connection has
        // it off); this first one says now, not at the first request, if the server refuses it.
        let sent = millis_since_epoch(SystemTime::now());
        tracking_on()
            .query_async::<()>(&mut connection.clone())
            .await
            .map_err(backend)?;
        client_cache.heartbeat_answered(sent, true);
        check_tracking_table(&mut connection.clone()).await;
        spawn_heartbeat(connection.clone(), client_cache, alive);
    }
    Ok(RedisStore {
        cache,
        single_node,
        ..RedisStore::on(connection)
    })
}

/// Warns if Redis's tracking table is bounded (`tracking-table-max-keys`, 1,000,000 keys across
/// all clients by default): when it is full, Redis forgets tracked keys without telling every
/// client that must hear of it, and the cache may then serve a changed or logged-out session
/// until its max age. A server that refuses `CONFIG GET` (a managed Redis) is noted at DEBUG.
async fn check_tracking_table<C: ConnectionLike + Send>(connection: &mut C) {
    let answer = ::redis::cmd("CONFIG")
        .arg("GET")
        .arg("tracking-table-max-keys")
        .query_async::<std::collections::HashMap<String, String>>(connection)
        .await;
    // A map in RESP3 (the cache's protocol), pairs in RESP2: either reads as a map.
    let limit = answer.map(|mut config| config.remove("tracking-table-max-keys"));
    match limit {
        Ok(Some(limit)) if limit != "0" => tracing::warn!(
            limit = %limit,
            "Redis's tracking table is bounded (tracking-table-max-keys): once it is full, Redis \
             forgets tracked sessions without telling this cache, which may then serve a changed \
             or logged-out session for up to its max age (`with_cache_max_age`, a minute by \
             default). Set `tracking-table-max-keys 0` on the server to close that gap"
        ),
        Ok(_) => {}
        Err(error) => {
            tracing::debug!(%error, "could not read tracking-table-max-keys; not checked")
        }
    }
}

/// Sends the client-side cache's heartbeat, a `PING` on its tracking connection, every
/// interval until the store is dropped (see the `cache` module): an answer keeps the entries
/// servable, a failure or no answer within the window empties the cache and replaces the
/// connection (it may be one whose peer vanished without a word). The task holds the
/// connection, and the connection the cache; only `alive` says the store is gone.
fn spawn_heartbeat<C: ConnectionLike + Clone + Send + Sync + 'static>(
    connection: Link<C>,
    cache: Arc<ClientCache>,
    alive: Weak<StoreAlive>,
) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(cache.heartbeat()).await;
            if alive.strong_count() == 0 {
                return;
            }
            let sent = millis_since_epoch(SystemTime::now());
            let (ping, mut on) = (::redis::cmd("PING"), connection.clone());
            // Unanswered for two intervals: the first `PING` a silent connection leaves
            // unanswered is sent up to one interval after the last answered one, so the
            // connection is replaced an interval before entries stop being served (four after
            // that one), and the loads that then go to Redis find the new connection. (Three
            // would reach the window's end at the same instant: a race a load could lose,
            // waiting out its timeout on the old connection.)
            let within = cache.window().saturating_sub(2 * cache.heartbeat());
            let answered = tokio::time::timeout(within, ping.query_async::<()>(&mut on));
            let answered = matches!(answered.await, Ok(Ok(())));
            cache.heartbeat_answered(sent, answered);
            if !answered {
                connection.suspect("the client-side cache's heartbeat went unanswered");
            }
        }
    });
}

/// A connection the constructors open: a connection manager on one server, or a connection to
/// a cluster. What differs between the two is here; everything else is [`connect`]'s.
trait Connect: ConnectionLike + Clone + Send + Sync + 'static {
    /// Where to connect: a URL, or some of a cluster's nodes.
    type Target<'a>;
    /// One server: `SCAN` sees every session and a pipeline may span keys.
    const SINGLE_NODE: bool;

    /// Connects with the stores' settings (2 s timeouts, one attempt), sending Redis's pushes
    /// to `cache` if it is on.
    fn connect<'a>(
        target: Self::Target<'a>,
        ca_pem: Option<&'a [u8]>,
        cache: Cache,
    ) -> impl Future<Output = Result<Link<Self>, RedisError>> + Send + 'a;
}

impl Connect for ConnectionManager {
    type Target<'a> = &'a str;
    const SINGLE_NODE: bool = true;

    async fn connect<'a>(
        url: &'a str,
        ca_pem: Option<&'a [u8]>,
        cache: Cache,
    ) -> Result<Link<Self>, RedisError> {
        let mut info = url.into_connection_info()?.set_tcp_settings(tcp_settings());
        let mut config = manager_config();
        if let Some(pushes) = cache.pushes() {
            // RESP3 carries Redis's invalidations.
            info = resp3(info);
            config = config.set_push_sender(pushes);
        }
        let client = client(info, ca_pem)?;
        let manager = Self::new_with_config(client.clone(), config.clone()).await?;
        // A replacement connects in the background; commands sent meanwhile wait for it.
        let make =
            move || std::future::ready(Self::new_lazy_with_config(client.clone(), config.clone()));
        // Redis tracks nothing for a new connection, and no longer tells the old one anything.
        // The cache alone: `Cache` also holds the store's liveness, which the link (held by the
        // heartbeat task) must not keep.
        let client_cache = cache.pushes();
        let renewed = move || {
            if let Some(cache) = &client_cache {
                cache.reset("the Redis connection was replaced");
            }
        };
        Ok(Link::renewable(
            manager,
            make,
            renewed,
            RedisError::is_timeout,
        ))
    }
}

impl Connect for ClusterConnection {
    type Target<'a> = &'a [&'a str];
    const SINGLE_NODE: bool = false;

    async fn connect<'a>(
        nodes: &'a [&'a str],
        ca_pem: Option<&'a [u8]>,
        cache: Cache,
    ) -> Result<Link<Self>, RedisError> {
        // No constructor offers a cache on a cluster: tracking would have to follow each node.
        debug_assert!(!cache.is_on(), "no client-side cache on a cluster");
        let builder = ClusterClient::builder(nodes.iter().copied());
        let builder = match ca_pem {
            #[cfg(feature = "redis-tls")]
            Some(ca_pem) => builder.certs(certificates(ca_pem)),
            _ => builder,
        };
        let client = builder
            .tcp_settings(tcp_settings())
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(2))
            .retries(1)
            .build()?;
        let connection = client.get_async_connection().await?;
        // The cluster connection retries a timed-out command on the same connection: a new
        // one takes over once it has reached the cluster.
        let make = move || {
            let client = client.clone();
            async move { client.get_async_connection().await }
        };
        Ok(Link::renewable(
            connection,
            make,
            || {},
            RedisError::is_timeout,
        ))
    }
}

/// A connection manager on `url` with the stores' 2 s timeouts: one multiplexed connection that
/// reconnects by itself, replaced when a command times out.
#[cfg(feature = "connect-redis")]
pub(in crate::store) async fn connection_manager(
    url: &str,
) -> Result<Link<ConnectionManager>, RedisError> {
    ConnectionManager::connect(url, None, Cache::default()).await
}

/// A connection manager on the `rediss://` URL `url` that trusts the certificate authorities
/// in `ca_pem` (PEM) instead of the system's.
#[cfg(all(feature = "connect-redis", feature = "redis-tls"))]
pub(in crate::store) async fn connection_manager_with_ca(
    url: &str,
    ca_pem: &[u8],
) -> Result<Link<ConnectionManager>, RedisError> {
    ConnectionManager::connect(url, Some(ca_pem), Cache::default()).await
}

/// A client for `info`: over TLS trusting the certificate authorities in `ca_pem` if given,
/// else as the URL says (a `rediss://` URL trusting the system's).
fn client(info: ConnectionInfo, ca_pem: Option<&[u8]>) -> Result<Client, RedisError> {
    match ca_pem {
        #[cfg(feature = "redis-tls")]
        Some(ca_pem) => Client::build_with_tls(info, certificates(ca_pem)),
        // Without `redis-tls`, no constructor has a CA to pass.
        _ => Client::open(info),
    }
}

/// Trust in the certificate authorities in `ca_pem` (PEM) instead of the system's.
#[cfg(feature = "redis-tls")]
fn certificates(ca_pem: &[u8]) -> ::redis::TlsCertificates {
    ::redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(ca_pem.to_vec()),
    }
}

/// `info` speaking RESP3 (which carries Redis's invalidations).
fn resp3(info: ConnectionInfo) -> ConnectionInfo {
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(::redis::ProtocolVersion::RESP3);
    info.set_redis_settings(settings)
}

/// How long a connection may sit idle before TCP checks that the peer is still there.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);

/// How long data sent may go unacknowledged before the connection is given up.
#[cfg(target_os = "linux")]
const USER_TIMEOUT: Duration = Duration::from_secs(4);

/// The TCP settings of every Redis connection. A peer that vanished without a word (a crashed
/// host, a failover that moved the address, a NAT or load balancer that forgot the flow) sends
/// no FIN or RST, and left alone the kernel would keep the connection for about 15 minutes
/// (`tcp_retries2`), each command meanwhile waiting out its response timeout. With these, a
/// connection whose sent data goes unacknowledged for 4 s (`TCP_USER_TIMEOUT`, Linux), or that
/// sat idle 5 s and then missed three probes a second apart (keepalive), is closed; the
/// connection manager then connects anew. No Nagle delay: commands are small and wait for
/// their reply.
pub(super) fn tcp_settings() -> TcpSettings {
    let keepalive = TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(Duration::from_secs(1))
        .with_retries(3);
    let settings = TcpSettings::default()
        .set_nodelay(true)
        .set_keepalive(keepalive);
    #[cfg(target_os = "linux")]
    let settings = settings.set_user_timeout(USER_TIMEOUT);
    settings
}

/// The stores' connection settings: 2 s to connect and to answer, and one attempt to connect
/// (a second attempt at a server that does not answer would double the wait of every request
/// meanwhile; a command on a dropped connection is repeated once anyway, see [`retried`]).
pub(super) fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(0)
        .set_max_delay(Duration::from_millis(500))
}

/// Runs `attempt` a second time if the first failed because the connection had dropped (a
/// Redis restart, a failover, an idle connection closed by a proxy): the connection manager
/// reconnects only after a command has failed, so without this the first request after a
/// restart would fail. Only for commands that are safe to repeat. Timeouts are not repeated:
/// a server that does not answer would only make the request wait twice as long.
#[cfg(feature = "connect-redis")]
pub(in crate::store) async fn retried<T, F, Fut>(attempt: F) -> Result<T, RedisError>
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
pub(super) async fn both<A: Future, B: Future>(
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

#[cfg(test)]
mod tests {
    use super::RedisStore;

    fn send<T: Send>(_: T) {}

    /// An app may connect inside a spawned task: the constructors' futures stay `Send` through
    /// the body they share (a future of a trait's method, which the compiler must see through).
    #[test]
    fn constructors_can_run_in_a_spawned_task() {
        // Made, never polled: nothing connects.
        send(RedisStore::open("redis://127.0.0.1:1"));
        send(RedisStore::open_cached("redis://127.0.0.1:1", 1));
        send(RedisStore::open_cluster(&["redis://127.0.0.1:1"]));
        #[cfg(feature = "redis-tls")]
        {
            send(RedisStore::open_with_ca("rediss://127.0.0.1:1", b""));
            send(RedisStore::open_cached_with_ca(
                "rediss://127.0.0.1:1",
                b"",
                1,
            ));
            send(RedisStore::open_cluster_with_ca(
                &["rediss://127.0.0.1:1"],
                b"",
            ));
        }
    }
}
