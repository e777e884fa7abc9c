//! A Redis store for tower-sessions 0.15, equivalent to `tower-sessions-redis-store`.
//!
//! The published `tower-sessions-redis-store` (0.16) is built on `tower-sessions-core` 0.14 and
//! cannot be used with tower-sessions 0.15, so this is the same store over the `redis` crate
//! (one multiplexed `ConnectionManager`, as this project's `RedisStore` uses): the whole record
//! is one MessagePack value (`rmp_serde`) under the session id, written with
//! `SET ... EXAT <expiry> NX` on create and `XX` on save, read with `GET`, deleted with `DEL`.

use std::fmt;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, Error};

/// tower-sessions' Redis store, over the `redis` crate.
#[derive(Clone)]
pub struct TowerRedisStore {
    connection: ConnectionManager,
}

impl fmt::Debug for TowerRedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TowerRedisStore").finish_non_exhaustive()
    }
}

impl TowerRedisStore {
    /// Connects to `url`.
    pub async fn open(url: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        Ok(Self {
            connection: ConnectionManager::new(client).await?,
        })
    }

    /// `SET id value EXAT expiry NX|XX`; whether Redis wrote it.
    async fn write(&self, record: &Record, condition: &str) -> session_store::Result<bool> {
        let value = rmp_serde::to_vec(record).map_err(|e| Error::Encode(e.to_string()))?;
        let reply: Option<String> = redis::cmd("SET")
            .arg(record.id.to_string())
            .arg(value)
            .arg("EXAT")
            .arg(record.expiry_date.unix_timestamp())
            .arg(condition)
            .query_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        Ok(reply.is_some())
    }
}

fn backend(error: redis::RedisError) -> Error {
    Error::Backend(error.to_string())
}

#[async_trait]
impl SessionStore for TowerRedisStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // An id collision (practically never) draws a new id, as the real store does; bounded
        // so a misbehaving server cannot spin us forever.
        for _ in 0..16 {
            if self.write(record, "NX").await? {
                return Ok(());
            }
            record.id = Id::default();
        }
        Err(Error::Backend("no free session id after 16 tries".into()))
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(record, "XX").await.map(drop)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let data: Option<Vec<u8>> = redis::cmd("GET")
            .arg(id.to_string())
            .query_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        data.map(|bytes| rmp_serde::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string())))
            .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        redis::cmd("DEL")
            .arg(id.to_string())
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(backend)
    }
}
