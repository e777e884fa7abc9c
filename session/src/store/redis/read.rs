//! Loading a session: from the client-side cache when it holds it, else one `HGETALL` (or the
//! size-checking script, with `with_size_check_in_redis`).

use std::time::SystemTime;

use ::redis::aio::ConnectionLike;
use ::redis::{FromRedisValue, Pipeline, RedisError};

use super::cache::{Lookup, tracking_on};
use super::hash::{parse, readable};
use super::{RedisStore, backend};
use crate::record::{Record, millis_since_epoch};
use crate::store::{self, StoreError};

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    pub(super) async fn load(&self, id: &[u8]) -> Result<Option<Record>, StoreError> {
        self.load_key(&self.key(id)).await
    }

    /// The session `id` for a request: from the client-side cache if it holds it, else as
    /// [`load`](Self::load) (filling the cache if it has one).
    pub(super) async fn read(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let Some(cache) = self.cache.get() else {
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
    pub(super) async fn load_key(&self, key: &[u8]) -> Result<Option<Record>, StoreError> {
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

    /// As [`load`](Self::load), by the `get_within.lua` script: a session over `max_size` stays in
    /// Redis and is missing.
    pub(super) async fn load_within(
        &self,
        id: &[u8],
        max_size: usize,
    ) -> Result<Option<Record>, StoreError> {
        let mut script = self.scripts.get_within.key(self.key(id));
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
}
