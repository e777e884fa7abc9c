//! Sessions in Redis as connect-redis 9 keeps them, shared with a Node app on express-session
//! and connect-redis (feature `connect-redis`).
//!
//! The layout is connect-redis's defaults: a string key `<prefix><id>` (`sess:` by default)
//! holding express-session's JSON ([`express`](crate::store::express)), expiring after the cookie's time left in
//! whole seconds, rounded up (a session without expiry: 86400 s, `with_ttl`; one already
//! expired is deleted). connect-redis's touch is an `EXPIRE` alone, so a session Node touched
//! has a cookie `expires` older than its key: a load takes the key's expiry then (see
//! [`effective_expiry`](crate::store::express::effective_expiry)). This store's touch also writes the
//! cookie's new expiry into the JSON.
//!
//! The value is one string, so a write of changed fields is a read-merge-write: read the JSON
//! and its expiry, merge in the keys this request changed (every other key is kept byte for
//! byte), and write it back with a script only if the key still holds what was read; if not,
//! read again and merge again (up to 8 times). So a Rust write never loses a Node write that
//! landed before it, and never writes over a session that ended (no resurrection). What this
//! cannot give: connect-redis itself writes the whole JSON, so a Node write that lands after a
//! Rust write can undo the Rust change to other keys if Node loaded the session before it.

use std::time::SystemTime;

use ::redis::Script;
use ::redis::aio::{ConnectionLike, ConnectionManager};
use std::time::Duration;

use super::express;
use crate::record::{Record, millis_since_epoch};
use crate::store::redis::{RedisLink, connection_manager, retried};
use crate::store::{Changed, Store, StoreError};

/// Writes `ARGV[2]` at `KEYS[1]` for `ARGV[3]` seconds (deletes the key if that is not
/// positive) if the key still holds `ARGV[1]`. Answers 1 if written, 0 if the key holds
/// something else, -1 if it is gone.
const WRITE_IF_SAME: &str = r"
local current = redis.call('GET', KEYS[1])
if not current then return -1 end
if current ~= ARGV[1] then return 0 end
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)
else
  redis.call('DEL', KEYS[1])
end
return 1
";

/// How often a write reads and merges again when the session changed under it.
const ATTEMPTS: usize = 8;

/// connect-redis's default lifetime of a session without expiry, in seconds.
pub const CONNECT_REDIS_TTL: u64 = 86_400;

/// A session store in connect-redis's layout, for sharing sessions with a Node app (see the
/// module docs and the guide [`beside_express`](crate::guide::beside_express)). Fields Node should
/// read are best in a schema with `#[session(codec = sessionly::Json)]`.
///
/// It has no owner index (connect-redis has none): `sessions_of` and `destroy_sessions_of`
/// answer [`StoreError::Unsupported`], as do `all`, `length` and `clear`.
#[derive(Clone)]
pub struct ConnectRedisStore<C = ConnectionManager> {
    connection: RedisLink<C>,
    prefix: String,
    ttl_secs: u64,
    write_if_same: Script,
}

impl<C> std::fmt::Debug for ConnectRedisStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectRedisStore")
            .field("prefix", &self.prefix)
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

impl ConnectRedisStore<ConnectionManager> {
    /// Connects to `url` as [`RedisStore::open`](crate::RedisStore::open) does (a connection
    /// manager with 2 s timeouts, replaced when a command times out).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Ok(Self::on(connection_manager(url).await.map_err(backend)?))
    }

    /// Connects to the `rediss://` URL `url` over TLS, trusting the certificate authorities in
    /// `ca_pem` (PEM) instead of the system's, as
    /// [`RedisStore::open_with_ca`](crate::RedisStore::open_with_ca).
    #[cfg(feature = "redis-tls")]
    pub async fn open_with_ca(url: &str, ca_pem: &[u8]) -> Result<Self, StoreError> {
        let manager = crate::store::redis::connection_manager_with_ca(url, ca_pem)
            .await
            .map_err(backend)?;
        Ok(Self::on(manager))
    }
}

impl<C> ConnectRedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A store on your own connection, with connect-redis's defaults: prefix `sess:`, 86400 s
    /// for a session without expiry.
    pub fn new(connection: C) -> Self {
        Self::on(RedisLink::fixed(connection))
    }

    /// A store with connect-redis's defaults on `connection`.
    fn on(connection: RedisLink<C>) -> Self {
        Self {
            connection,
            prefix: "sess:".to_owned(),
            ttl_secs: CONNECT_REDIS_TTL,
            write_if_same: Script::new(WRITE_IF_SAME),
        }
    }

    /// The key prefix (connect-redis's `prefix`); the Node app must use the same.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a session without expiry (a browser-session cookie) is kept after its last
    /// write or touch (connect-redis's `ttl`, in seconds).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl_secs = ttl.as_secs().max(1);
        self
    }

    /// A store error for `error`; a timeout marks the connection as suspect (see
    /// [`RedisStore`](crate::RedisStore)'s replacement of a connection that stopped answering).
    fn failed(&self, error: ::redis::RedisError) -> StoreError {
        self.connection.failed(&error);
        backend(error)
    }

    fn key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }

    /// The JSON at `key` and when Redis drops it, with the record read from it if it is a live
    /// session; `None` if there is no key (or one of another type, or one that is not a
    /// session, which is logged).
    async fn read(&self, key: &str) -> Result<Option<(String, Option<Record>)>, StoreError> {
        let mut pipe = ::redis::pipe();
        pipe.cmd("GET").arg(key).cmd("PTTL").arg(key);
        let read = retried(|| async {
            pipe.query_async::<(Option<Vec<u8>>, i64)>(&mut self.connection.clone())
                .await
        })
        .await;
        let (value, pttl) = match read {
            Ok((Some(value), pttl)) => (value, pttl),
            Ok((None, _)) => return Ok(None),
            Err(error) if error.code() == Some("WRONGTYPE") => {
                tracing::warn!(
                    "a key of another type is where a session would be; treating the session as missing"
                );
                return Ok(None);
            }
            Err(error) => return Err(self.failed(error)),
        };
        let Ok(text) = String::from_utf8(value) else {
            tracing::warn!("session in Redis is not UTF-8; treating it as missing");
            return Ok(None);
        };
        let now = millis_since_epoch(SystemTime::now());
        let record = match express::from_json(&text, now) {
            Ok(mut record) => {
                let key_expiry = u64::try_from(pttl).ok().map(|pttl| now + pttl);
                record.cookie.expires_ms = express::effective_expiry(&record.cookie, key_expiry)
                    .filter(|_| record.cookie.expires_ms.is_some());
                (!record.is_expired(SystemTime::now())).then_some(record)
            }
            Err(error) => {
                tracing::warn!(%error, "unreadable session in Redis; treating it as missing");
                None
            }
        };
        Ok(Some((text, record)))
    }

    /// Reads the session at `key` and writes what `next` makes of its JSON, for `ttl` seconds,
    /// only while the key still holds the JSON read: `Gone` if the session is not there or not
    /// live.
    async fn read_and_write(
        &self,
        key: &str,
        ttl: i64,
        next: impl Fn(&str) -> Result<String, StoreError>,
    ) -> Result<(), StoreError> {
        for _ in 0..ATTEMPTS {
            let Some((text, Some(_))) = self.read(key).await? else {
                return Err(StoreError::Gone);
            };
            let mut invocation = self.write_if_same.key(key);
            invocation.arg(&text).arg(next(&text)?).arg(ttl);
            let outcome: i64 = invocation
                .invoke_async(&mut self.connection.clone())
                .await
                .map_err(|error| self.failed(error))?;
            match outcome {
                1 => return Ok(()),
                -1 => return Err(StoreError::Gone),
                _ => tracing::debug!("session changed while it was merged; merging again"),
            }
        }
        Err(backend(
            "the session kept changing while it was written; gave up",
        ))
    }
}

/// `touch` is the default, a patch of no fields: it moves the key's expiry, as connect-redis's
/// touch does, and writes the cookie's new expiry into the JSON with it (connect-redis leaves
/// the JSON as it was; Node reads either).
impl<C> Store for ConnectRedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        Ok(self
            .read(&self.key(id))
            .await?
            .and_then(|(_, record)| record))
    }

    async fn set(&self, id: &str, record: &Record, changed: Changed<'_>) -> Result<(), StoreError> {
        let now = millis_since_epoch(SystemTime::now());
        let ttl = express::store_ttl_secs(&record.cookie, now, self.ttl_secs);
        let key = self.key(id);
        if changed.fields().is_none() {
            let json = express::to_json(record).map_err(backend)?;
            let write = if ttl > 0 {
                ::redis::cmd("SET")
                    .arg(&key)
                    .arg(json)
                    .arg("EX")
                    .arg(ttl)
                    .take()
            } else {
                ::redis::cmd("DEL").arg(&key).take()
            };
            return retried(|| async {
                write.query_async::<()>(&mut self.connection.clone()).await
            })
            .await
            .map_err(|error| self.failed(error));
        }
        self.read_and_write(&key, ttl, |text| {
            express::patch(text, record, changed).map_err(backend)
        })
        .await
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        let del = ::redis::cmd("DEL").arg(self.key(id)).take();
        retried(|| async { del.query_async::<()>(&mut self.connection.clone()).await })
            .await
            .map_err(|error| self.failed(error))
    }

    fn idle_ttl(&self) -> Option<Duration> {
        Some(Duration::from_secs(self.ttl_secs))
    }

    fn keeps_cookie_attributes(&self) -> bool {
        true
    }
}

fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::backend("connect-redis", error)
}
