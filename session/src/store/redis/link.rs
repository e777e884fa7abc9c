//! The connection a store sends its commands on, and, for the connections the `open*`
//! constructors make, the replacement of one that stops answering.
//!
//! A connection manager reconnects when a command fails on a closed connection, but a response
//! timeout does not close anything: a connection whose peer vanished without a FIN or an RST
//! (a NAT or load balancer that forgot the flow, a failover that moved the address) would keep
//! every command waiting out its timeout until the kernel gives the socket up. A [`Link`] that
//! can be renewed treats a timeout (or a missed heartbeat of the client-side cache) as the sign
//! of such a connection and puts a new one in its place as soon as it is made (at once for a
//! connection manager, which connects in the background; once connected for a cluster); the
//! old one closes when its last command is done. At most one replacement per [`RENEW_AT_MOST_EVERY`]: the commands still
//! waiting on the old connection time out within that, and must not replace the new one.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use ::redis::aio::ConnectionLike;
use ::redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

use crate::record::millis_since_epoch;

/// The shortest time between two replacements: the stores' response timeout.
pub(super) const RENEW_AT_MOST_EVERY: Duration = Duration::from_secs(2);

/// A store's connection: fixed (a cluster connection, or one the app made), or renewable (the
/// connection managers and cluster connections the `open*` constructors make). A clone holds
/// the connection in use when it was made, so a command sent on a clone goes out on the current
/// connection; the store's own renewable link holds none (it would keep a replaced connection,
/// and its socket, open).
pub(in crate::store) struct Link<C> {
    /// `None` only in a renewable link that is not a clone.
    connection: Option<C>,
    renewal: Option<Arc<Renewal<C>>>,
}

/// A new connection, being made.
type Making<C> = Pin<Box<dyn Future<Output = Result<C, RedisError>> + Send>>;

/// What a renewable link's clones share: the current connection and how to make another.
struct Renewal<C> {
    current: RwLock<C>,
    make: Box<dyn Fn() -> Making<C> + Send + Sync>,
    /// When the connection was last replaced, in ms since the epoch.
    renewed_ms: AtomicU64,
}

impl<C: Clone + Send + Sync + 'static> Link<C> {
    /// A link that always uses `connection`.
    pub(in crate::store) fn fixed(connection: C) -> Self {
        Self {
            connection: Some(connection),
            renewal: None,
        }
    }

    /// A link on `connection` that [`suspect`](Link::suspect) replaces with the one `make`
    /// makes.
    pub(super) fn renewable<F>(connection: C, make: impl Fn() -> F + Send + Sync + 'static) -> Self
    where
        F: Future<Output = Result<C, RedisError>> + Send + 'static,
    {
        let renewal = Renewal {
            current: RwLock::new(connection),
            make: Box::new(move || Box::pin(make())),
            renewed_ms: AtomicU64::new(0),
        };
        Self {
            connection: None,
            renewal: Some(Arc::new(renewal)),
        }
    }

    /// Notes that a command on this link failed with `error`: a timeout marks the connection
    /// as suspect. True if that replaced it.
    pub(in crate::store) fn failed(&self, error: &RedisError) -> bool {
        error.is_timeout() && self.suspect("Redis did not answer in time")
    }

    /// Replaces the connection, in a task of its own, if this link is renewable and was not
    /// renewed within [`RENEW_AT_MOST_EVERY`], because of `why`. True if it began to.
    pub(super) fn suspect(&self, why: &'static str) -> bool {
        let Some(renewal) = &self.renewal else {
            return false;
        };
        let now = millis_since_epoch(SystemTime::now());
        let last = renewal.renewed_ms.load(Ordering::Relaxed);
        let soonest = last.saturating_add(RENEW_AT_MOST_EVERY.as_millis() as u64);
        if now < soonest
            || renewal
                .renewed_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        let (renewal, making) = (Arc::clone(renewal), (renewal.make)());
        tokio::spawn(async move {
            match making.await {
                Ok(connection) => {
                    *renewal
                        .current
                        .write()
                        .unwrap_or_else(PoisonError::into_inner) = connection;
                    tracing::warn!(
                        reason = why,
                        "replaced the Redis connection: a peer that vanished without closing \
                         it would otherwise keep commands waiting out their timeouts"
                    );
                }
                Err(error) => {
                    tracing::warn!(reason = why, %error, "could not replace the Redis connection")
                }
            }
        });
        true
    }
}

impl<C: Clone> Link<C> {
    /// The connection to send a command on: this link's own, or the current one.
    fn current(&self) -> Option<C> {
        match &self.renewal {
            Some(renewal) => Some(
                renewal
                    .current
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
            ),
            None => self.connection.clone(),
        }
    }

    /// This link's connection, taking the current one if it has none (the store's own
    /// renewable link, which sends nothing itself).
    fn connection(&mut self) -> &mut C {
        if self.connection.is_none() {
            self.connection = self.current();
        }
        match &mut self.connection {
            Some(connection) => connection,
            // A link is made with a connection or a renewal that holds one.
            None => unreachable!("a link without a connection"),
        }
    }
}

impl<C: Clone> Clone for Link<C> {
    fn clone(&self) -> Self {
        Self {
            connection: self.current(),
            renewal: self.renewal.clone(),
        }
    }
}

impl<C: ConnectionLike + Clone + Send> ConnectionLike for Link<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.connection().req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.connection()
            .req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        match &self.connection {
            Some(connection) => connection.get_db(),
            None => self.current().map_or(0, |connection| connection.get_db()),
        }
    }
}
