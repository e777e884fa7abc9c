//! The connection a store sends its commands on, and, for the connections the `open*`
//! constructors make, the replacement of one that stops answering.
//!
//! A connection manager reconnects when a command fails on a closed connection, and a cluster
//! connection when a node's connection closes, but a response timeout closes nothing: a
//! connection whose peer vanished without a FIN or an RST (a NAT or load balancer that forgot
//! the flow, a failover that moved the address) would keep every command waiting out its
//! timeout until the kernel gives the socket up. A renewable [`Link`] treats a timeout (or a
//! missed heartbeat of the client-side cache) as the sign of such a connection and puts a new
//! one in its place as soon as it is made (at once for a connection manager, which connects in
//! the background; once connected for a cluster). The old one closes when its last command is
//! done: nothing else holds it, neither the store nor its clones, which take the current
//! connection for each command.
//!
//! After a replacement, the next one waits [`RENEW_AT_MOST_EVERY`]: the commands still waiting
//! on the old connection time out within that, and must not replace the new one. After one
//! that could not connect, the next may come after [`RETRY_FAILED_AFTER`]. And `renewed`
//! runs once the new connection is in place (the client-side cache empties: Redis tracks
//! nothing for the new connection, and stops telling the old one anything).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use ::redis::aio::ConnectionLike;
use ::redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};
use tokio::sync::Notify;

use crate::store::monotonic_ms;

/// The shortest time between two replacements: the stores' response timeout.
pub(super) const RENEW_AT_MOST_EVERY: Duration = Duration::from_secs(2);

/// The shortest time between a replacement that could not connect and the next try.
const RETRY_FAILED_AFTER: Duration = Duration::from_millis(500);

/// A store's connection: fixed (one the app made), or renewable (the connection managers and
/// cluster connections the `open*` constructors make). A command goes out on the connection a
/// link holds, or for a renewable link on the current one, taken when the command is sent.
pub(in crate::store) struct Link<C> {
    source: Source<C>,
    /// The connection a renewable link's command goes out on, once taken.
    taken: Option<C>,
}

enum Source<C> {
    Fixed(C),
    Renewable(Arc<Renewal<C>>),
}

/// A new connection, being made.
type Making<C> = Pin<Box<dyn Future<Output = Result<C, RedisError>> + Send>>;

/// What a renewable link and its clones share: the current connection and how to make another.
struct Renewal<C> {
    current: RwLock<C>,
    make: Box<dyn Fn() -> Making<C> + Send + Sync>,
    /// Run once a new connection is in place.
    renewed: Box<dyn Fn() + Send + Sync>,
    /// Which failures of a command make the connection suspect.
    suspect_on: fn(&RedisError) -> bool,
    /// When the connection was last replaced, or a replacement began (ms, [`monotonic_ms`]).
    renewed_ms: AtomicU64,
    /// Whether a replacement is being made: commands wait for it rather than go out on the
    /// connection it replaces.
    renewing: AtomicBool,
    /// Told when a replacement ends, made or not.
    settled: Notify,
}

impl<C> Renewal<C> {
    /// Waits (at most [`RENEW_AT_MOST_EVERY`]) for the replacement being made, if any.
    async fn settled(&self) {
        let settled = self.settled.notified();
        if self.renewing.load(Ordering::Acquire) {
            let _ = tokio::time::timeout(RENEW_AT_MOST_EVERY, settled).await;
        }
    }

    /// The replacement ended: commands waiting for it go out now.
    fn settle(&self) {
        self.renewing.store(false, Ordering::Release);
        self.settled.notify_waiters();
    }

    fn current(&self) -> C
    where
        C: Clone,
    {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<C: Clone + Send + Sync + 'static> Link<C> {
    /// A link that always uses `connection`.
    pub(in crate::store) fn fixed(connection: C) -> Self {
        Self {
            source: Source::Fixed(connection),
            taken: None,
        }
    }

    /// A link on `connection` that [`suspect`](Link::suspect) replaces with the one `make`
    /// makes, calling `renewed` once it is in place. A command that fails as `suspect_on`
    /// says ([`RedisError::is_timeout`] for a connection to a fixed address) makes it suspect.
    pub(super) fn renewable<F>(
        connection: C,
        make: impl Fn() -> F + Send + Sync + 'static,
        renewed: impl Fn() + Send + Sync + 'static,
        suspect_on: fn(&RedisError) -> bool,
    ) -> Self
    where
        F: Future<Output = Result<C, RedisError>> + Send + 'static,
    {
        let renewal = Renewal {
            current: RwLock::new(connection),
            make: Box::new(move || Box::pin(make())),
            renewed: Box::new(renewed),
            suspect_on,
            renewed_ms: AtomicU64::new(0),
            renewing: AtomicBool::new(false),
            settled: Notify::new(),
        };
        Self {
            source: Source::Renewable(Arc::new(renewal)),
            taken: None,
        }
    }

    /// Notes that a command on this link failed with `error`: a timeout (or, for a link that
    /// says so, another failure) marks the connection as suspect. True if that began a
    /// replacement.
    pub(in crate::store) fn failed(&self, error: &RedisError) -> bool {
        let Source::Renewable(renewal) = &self.source else {
            return false;
        };
        if !(renewal.suspect_on)(error) {
            return false;
        }
        let why = if error.is_timeout() {
            "Redis did not answer in time"
        } else {
            "the connection failed, or reached a server that is no longer the primary"
        };
        self.suspect(why)
    }

    /// Replaces the connection, in a task of its own, if this link is renewable and was not
    /// renewed within [`RENEW_AT_MOST_EVERY`], because of `why`. True if it began to.
    pub(super) fn suspect(&self, why: &'static str) -> bool {
        let Source::Renewable(renewal) = &self.source else {
            return false;
        };
        let now = monotonic_ms();
        let last = renewal.renewed_ms.load(Ordering::Relaxed);
        let soonest = last.saturating_add(RENEW_AT_MOST_EVERY.as_millis() as u64);
        if (last != 0 && now < soonest)
            || renewal
                .renewed_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        renewal.renewing.store(true, Ordering::Release);
        let (renewal, making) = (Arc::clone(renewal), (renewal.make)());
        tokio::spawn(async move {
            match making.await {
                Ok(connection) => {
                    *renewal
                        .current
                        .write()
                        .unwrap_or_else(PoisonError::into_inner) = connection;
                    // The wait for the next replacement counts from here: commands sent on the
                    // old connection until now may still time out.
                    renewal.renewed_ms.store(monotonic_ms(), Ordering::Relaxed);
                    renewal.settle();
                    (renewal.renewed)();
                    tracing::warn!(
                        reason = why,
                        "replaced the Redis connection: a peer that vanished without closing \
                         it would otherwise keep commands waiting out their timeouts"
                    );
                }
                Err(error) => {
                    // Nothing was replaced, so no command can time out on a new connection:
                    // the next try may come sooner (a failover's new primary is found soon
                    // after the sentinels promote it).
                    let sooner = RENEW_AT_MOST_EVERY.saturating_sub(RETRY_FAILED_AFTER);
                    let now = monotonic_ms();
                    let earlier = now.saturating_sub(sooner.as_millis() as u64).max(1);
                    renewal.renewed_ms.store(earlier, Ordering::Relaxed);
                    renewal.settle();
                    tracing::warn!(reason = why, %error, "could not replace the Redis connection")
                }
            }
        });
        true
    }
}

impl<C: Clone> Link<C> {
    /// The replacement a command must wait for first: one being made, when this link has not
    /// taken its connection yet (rare: only while a replacement connects).
    fn replacement_pending(&self) -> Option<Arc<Renewal<C>>> {
        match (&self.source, &self.taken) {
            (Source::Renewable(renewal), None) if renewal.renewing.load(Ordering::Acquire) => {
                Some(Arc::clone(renewal))
            }
            _ => None,
        }
    }

    /// The connection a command goes out on.
    fn connection(&mut self) -> &mut C {
        match &mut self.source {
            Source::Fixed(connection) => connection,
            Source::Renewable(renewal) => self.taken.get_or_insert_with(|| renewal.current()),
        }
    }
}

/// A clone of a renewable link holds no connection until it sends a command: a store's clones
/// (and the cache's heartbeat) do not keep a replaced connection open.
impl<C: Clone> Clone for Link<C> {
    fn clone(&self) -> Self {
        let source = match &self.source {
            Source::Fixed(connection) => Source::Fixed(connection.clone()),
            Source::Renewable(renewal) => Source::Renewable(Arc::clone(renewal)),
        };
        Self {
            source,
            taken: None,
        }
    }
}

impl<C: ConnectionLike + Clone + Send + Sync> ConnectionLike for Link<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        if let Some(renewal) = self.replacement_pending() {
            return Box::pin(async move {
                renewal.settled().await;
                self.connection().req_packed_command(cmd).await
            });
        }
        self.connection().req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        if let Some(renewal) = self.replacement_pending() {
            return Box::pin(async move {
                renewal.settled().await;
                self.connection()
                    .req_packed_commands(pipeline, offset, count)
                    .await
            });
        }
        self.connection()
            .req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        match (&self.source, &self.taken) {
            (Source::Fixed(connection), _) | (_, Some(connection)) => connection.get_db(),
            (Source::Renewable(renewal), None) => renewal.current().get_db(),
        }
    }
}
