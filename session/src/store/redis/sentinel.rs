//! Redis Sentinel: a store that asks the sentinels where the primary is, and asks again when
//! its connection stops answering, fails, or reaches a server that is no longer the primary
//! (after a failover, the old primary comes back as a replica and refuses writes).

use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use ::redis::{ErrorKind, RedisConnectionInfo, RedisError, ServerErrorKind};
use tokio::sync::Mutex;

use super::cache::Cache;
use super::connection::{manager_config, opened, tcp_settings};
use super::link::Link;
use super::{RedisStore, backend};
use crate::store::StoreError;

/// The longest a lookup of the primary (the sentinels' answer, then a connection to the
/// primary it names) may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

impl RedisStore<ConnectionManager> {
    /// Connects to the primary that the Redis Sentinels at `sentinels` (URLs such as
    /// `redis://10.0.0.1:26379`) name for the service `service`, and follows it through
    /// failovers (feature `redis-sentinel`). `primary` says how to log in to the primary and
    /// which database to use (`RedisConnectionInfo::default()` for no password and database
    /// 0); the sentinel URLs carry the sentinels' own credentials, if any.
    ///
    /// A command that times out, fails on its connection, or is refused because the server is
    /// no longer the primary (`READONLY`: an old primary back as a replica) makes the store
    /// ask the sentinels again and connect to the primary they name (at most every 2 s, each
    /// lookup within 2 s). Requests during a failover get the store's error (a `503`); once the
    /// sentinels have promoted a replica, the next lookup finds it. What the old primary had
    /// not yet replicated when it failed is lost, as Redis replication is asynchronous; a
    /// session is never read from a replica. Settings and layout are
    /// [`open`](RedisStore::open)'s; there is no client-side cache over Sentinel.
    ///
    /// ```no_run
    /// use sessionly::RedisStore;
    /// use sessionly::store::RedisConnectionInfo;
    ///
    /// # async fn run() -> Result<(), sessionly::StoreError> {
    /// let sentinels = ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379", "redis://10.0.0.3:26379"];
    /// let primary = RedisConnectionInfo::default().set_password("the primary's password");
    /// let store = RedisStore::open_sentinel(&sentinels, "sessions", primary).await?;
    /// # Ok(()) }
    /// ```
    pub async fn open_sentinel(
        sentinels: &[&str],
        service: &str,
        primary: RedisConnectionInfo,
    ) -> Result<Self, StoreError> {
        let finder = Arc::new(Primary {
            sentinel: Mutex::new(Sentinel::build(sentinels.to_vec()).map_err(backend)?),
            service: service.to_owned(),
            node: SentinelNodeConnectionInfo::default()
                .set_redis_connection_info(primary)
                .set_tcp_settings(tcp_settings()),
        });
        let manager = finder.connect().await.map_err(backend)?;
        let make = move || {
            let finder = Arc::clone(&finder);
            async move { finder.connect().await }
        };
        let link = Link::renewable(manager, make, || {}, failed_over);
        opened(link, Cache::new(None), true).await
    }
}

/// Where to find the primary: the sentinels, the service's name, and how to log in to it.
struct Primary {
    sentinel: Mutex<Sentinel>,
    service: String,
    node: SentinelNodeConnectionInfo,
}

impl Primary {
    /// A connection manager on the primary the sentinels name now (which says, when asked,
    /// that it is the primary).
    async fn connect(&self) -> Result<ConnectionManager, RedisError> {
        let lookup = async {
            let client = self
                .sentinel
                .lock()
                .await
                .async_master_for(&self.service, Some(&self.node))
                .await?;
            ConnectionManager::new_with_config(client, manager_config()).await
        };
        match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
            Ok(connected) => connected,
            Err(_) => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the sentinels or the primary they named did not answer within 2 s",
            ))),
        }
    }
}

/// Whether a command's failure may mean the primary moved: no answer, a failed connection, or
/// a server that is no longer the primary.
fn failed_over(error: &RedisError) -> bool {
    error.is_timeout()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
        || error.is_io_error()
        || matches!(error.kind(), ErrorKind::Server(ServerErrorKind::ReadOnly))
}
