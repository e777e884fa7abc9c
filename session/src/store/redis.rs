//! Sessions in Redis (or Valkey): one hash per session.
//!
//! The key is `<prefix><id>`. Inside, field `c` holds the cookie state and `f:<name>` each
//! encoded data field, so a change writes only the fields it touched (`HSET`) and moves the
//! expiry (`PEXPIREAT`) in the same atomic round trip, and two requests that change different
//! fields of one session both keep their change. Loading is one `HGETALL`. Redis deletes the
//! key at its expiry.
//!
//! Each session is a single key, so every command and script touches one hash slot: on a Redis
//! Cluster ([`RedisStore::open_cluster`]) a session lives on the node that owns the slot of its
//! key (CRC16 of `<prefix><id>`, modulo 16384), and sessions spread over the nodes. `all`,
//! `length` and `clear` need a scan of every node and answer `Unsupported` on a cluster.

use std::time::{Duration, SystemTime};

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClient;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, Pipeline, Script};

use crate::codec::{Codec, Postcard};
use crate::record::{CookieState, Fields, Record, millis_since_epoch};
use crate::store::{Changed, DEFAULT_IDLE_TTL, Store, StoreError};

const COOKIE_FIELD: &[u8] = b"c";
const FIELD_PREFIX: &[u8] = b"f:";

/// Writes changed fields only if the session still exists, and moves its expiry; answers 0 when
/// it does not, so the caller writes the whole record instead of leaving a partial one.
const PATCH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'c', ARGV[2])
local removed = tonumber(ARGV[3])
for i = 4, 3 + removed do redis.call('HDEL', KEYS[1], ARGV[i]) end
for i = 4 + removed, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
";

/// Moves a session's expiry and cookie state, if it still exists.
const TOUCH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'c', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
";

/// A session store on Redis.
///
/// ```no_run
/// # async fn run() -> Result<(), session::StoreError> {
/// use session::{RedisStore, SessionLayer};
///
/// let store = RedisStore::open("redis://127.0.0.1:6379").await?;
/// let layer = SessionLayer::builder().secret("a long random secret").store(store).build();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore<C = ConnectionManager> {
    connection: C,
    prefix: String,
    idle_ttl: Duration,
    /// `SCAN` sees every session: false on a cluster.
    scannable: bool,
    patch: Script,
    touch: Script,
}

impl<C> std::fmt::Debug for RedisStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("idle_ttl", &self.idle_ttl)
            .finish_non_exhaustive()
    }
}

impl RedisStore<ConnectionManager> {
    /// Connects to `url` with a [`ConnectionManager`]: one multiplexed connection that
    /// reconnects by itself, with a 2 s response timeout so an outage is an error, not a hang.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let client = ::redis::Client::open(url).map_err(backend)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(backend)?;
        Ok(Self::new(manager))
    }
}

impl RedisStore<ClusterConnection> {
    /// Connects to a Redis Cluster through any of its `nodes` (`redis://host:port` each),
    /// with the same 2 s timeouts as [`open`](RedisStore::open).
    pub async fn open_cluster(nodes: &[&str]) -> Result<Self, StoreError> {
        let client = ClusterClient::builder(nodes.iter().copied())
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
            scannable: false,
            ..Self::new(connection)
        }
    }
}

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A store on your own connection: a `ConnectionManager`, a cluster connection, or any
    /// cloneable async connection. Keys get the prefix `sess:`.
    pub fn new(connection: C) -> Self {
        Self {
            connection,
            prefix: "sess:".to_owned(),
            idle_ttl: DEFAULT_IDLE_TTL,
            scannable: true,
            patch: Script::new(PATCH),
            touch: Script::new(TOUCH),
        }
    }

    /// Changes the key prefix (default `sess:`).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a session without expiry is kept after its last write.
    pub fn with_idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = ttl;
        self
    }

    fn key(&self, id: &str) -> Vec<u8> {
        [self.prefix.as_bytes(), id.as_bytes()].concat()
    }

    /// The expiry Redis enforces, in ms since the epoch.
    fn expires_ms(&self, cookie: &CookieState) -> u64 {
        cookie
            .expires_ms
            .unwrap_or_else(|| millis_since_epoch(SystemTime::now() + self.idle_ttl))
    }

    async fn write_all(
        &self,
        key: &[u8],
        record: &Record,
        cookie: &[u8],
    ) -> Result<(), StoreError> {
        let mut hset = Cmd::new();
        hset.arg("HSET").arg(key).arg(COOKIE_FIELD).arg(cookie);
        for (name, value) in &record.fields {
            hset.arg(field_key(name)).arg(value.as_ref());
        }
        let mut pipe = Pipeline::new();
        pipe.atomic()
            .cmd("DEL")
            .arg(key)
            .ignore()
            .add_command(hset)
            .ignore()
            .cmd("PEXPIREAT")
            .arg(key)
            .arg(self.expires_ms(&record.cookie))
            .ignore();
        pipe.query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(backend)
    }

    /// Every session key, by `SCAN`.
    async fn keys(&self, operation: &'static str) -> Result<Vec<Vec<u8>>, StoreError> {
        if !self.scannable {
            return Err(StoreError::unsupported(operation));
        }
        let pattern = [glob_escape(&self.prefix).as_bytes(), b"*"].concat();
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
                .map_err(backend)?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }
}

impl<C> Store for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = ::redis::cmd("HGETALL")
            .arg(self.key(id))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        Ok(parse(entries).filter(|record| !record.is_expired(SystemTime::now())))
    }

    async fn set(&self, id: &str, record: &Record, changed: Changed<'_>) -> Result<(), StoreError> {
        let key = self.key(id);
        let cookie = Postcard::encode(&record.cookie).map_err(backend)?;
        let Changed::Fields(names) = changed else {
            return self.write_all(&key, record, &cookie).await;
        };
        let (written, removed): (Vec<_>, Vec<_>) = names
            .iter()
            .partition(|name| record.fields.contains_key(*name));
        let mut invocation = self.patch.key(&key);
        invocation
            .arg(self.expires_ms(&record.cookie))
            .arg(&cookie)
            .arg(removed.len());
        for name in removed {
            invocation.arg(field_key(name));
        }
        for name in written {
            invocation
                .arg(field_key(name))
                .arg(record.fields[name].as_ref());
        }
        let patched: i64 = invocation
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        if patched == 0 {
            self.write_all(&key, record, &cookie).await?;
        }
        Ok(())
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        ::redis::cmd("DEL")
            .arg(self.key(id))
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(backend)
    }

    async fn touch(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        let cookie = Postcard::encode(&record.cookie).map_err(backend)?;
        self.touch
            .key(self.key(id))
            .arg(self.expires_ms(&record.cookie))
            .arg(cookie)
            .invoke_async::<i64>(&mut self.connection.clone())
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn all(&self) -> Result<Vec<(String, Record)>, StoreError> {
        let mut sessions = Vec::new();
        let mut connection = self.connection.clone();
        for key in self.keys("all").await? {
            let entries: Vec<(Vec<u8>, Vec<u8>)> = ::redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .map_err(backend)?;
            let id = String::from_utf8_lossy(&key[self.prefix.len()..]).into_owned();
            if let Some(record) = parse(entries) {
                sessions.push((id, record));
            }
        }
        Ok(sessions)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        for batch in self.keys("clear").await?.chunks(500) {
            ::redis::cmd("UNLINK")
                .arg(batch)
                .query_async::<()>(&mut connection)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    async fn length(&self) -> Result<usize, StoreError> {
        Ok(self.keys("length").await?.len())
    }
}

fn field_key(name: &str) -> Vec<u8> {
    [FIELD_PREFIX, name.as_bytes()].concat()
}

/// A record from `HGETALL`; a hash without a readable cookie state is logged and missing.
fn parse(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Option<Record> {
    if entries.is_empty() {
        return None;
    }
    let mut cookie = None;
    let mut fields = Fields::new();
    for (name, value) in entries {
        if name == COOKIE_FIELD {
            cookie = Some(value);
        } else if let Some(field) = name.strip_prefix(FIELD_PREFIX)
            && let Ok(field) = String::from_utf8(field.to_vec())
        {
            fields.insert(field, value.into());
        }
    }
    match cookie.as_deref().map(Postcard::decode::<CookieState>) {
        Some(Ok(cookie)) => Some(Record {
            cookie,
            fields,
            owner: None,
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
