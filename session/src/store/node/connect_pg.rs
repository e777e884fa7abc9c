//! Sessions in PostgreSQL as connect-pg-simple keeps them, shared with a Node app on
//! express-session and connect-pg-simple (feature `connect-pg`).
//!
//! The layout is connect-pg-simple's defaults: a table `session (sid varchar PRIMARY KEY,
//! sess json NOT NULL, expire timestamp(6) NOT NULL)` with an index on `expire`, `sess` holding
//! express-session's JSON ([`express`](crate::store::express)) and `expire` the cookie's expiry rounded up to
//! the second (a session without expiry: a day from its last write, `with_ttl`). A row whose
//! `expire` has passed is not read, and `delete_expired` (connect-pg-simple's pruning) deletes
//! it. connect-pg-simple's touch moves `expire` alone, so a session Node touched has a cookie
//! `expires` older than its row: a load takes `expire` then
//! ([`effective_expiry`](crate::store::express::effective_expiry)).
//!
//! A write of changed fields reads the JSON, merges in the keys this request changed (every
//! other key is kept byte for byte; `json` keeps the text as written) and updates the row only
//! if it still holds the text read, else reads and merges again (up to 8 times). So a Node
//! write that landed before it is kept, and a session that ended is not written back. A Node
//! write that lands after it (connect-pg-simple writes the whole JSON) can undo its change to
//! other keys if Node loaded the session before.
//!
//! `expire` is a `timestamp` without time zone, which connect-pg-simple writes in its
//! connection's time zone (the server's default); this store's connections use UTC, so the
//! server's `TimeZone` must be UTC for both to agree (PostgreSQL's default when the machine's
//! is).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sqlx::{PgPool, Postgres};

use super::express;
use crate::record::{Record, millis_since_epoch};
use crate::store::postgres::pool;
use crate::store::sql::{Cleanup, DEFAULT_CLEANUP_EVERY, Pools, sql, table_name, within};
use crate::store::{Capabilities, Changed, Listing, Store, StoreError};

/// connect-pg-simple's table name.
const DEFAULT_TABLE: &str = "session";
/// How often a write reads and merges again when the session changed under it.
const ATTEMPTS: usize = 8;
/// connect-pg-simple's lifetime of a session without expiry, in seconds.
const ONE_DAY: u64 = 86_400;

/// A session store in connect-pg-simple's layout, for sharing sessions with a Node app (see the
/// module docs and the guide [`beside_express`](crate::guide::beside_express)).
///
/// It has no owner index (connect-pg-simple has none): `sessions_of` and
/// `destroy_sessions_of` answer [`StoreError::Unsupported`].
#[derive(Clone)]
pub struct ConnectPgStore {
    pool: Pools<Postgres>,
    ttl_secs: u64,
    deadline: Duration,
    sql: Arc<Statements>,
    /// The task deleting expired rows, shared by the clones that have it.
    cleanup: Option<Cleanup>,
}

struct Statements {
    create: Arc<str>,
    get: Arc<str>,
    all: Arc<str>,
    upsert: Arc<str>,
    update_if_same: Arc<str>,
    destroy: Arc<str>,
    clear: Arc<str>,
    delete_expired: Arc<str>,
}

impl Statements {
    fn new(table: &str) -> Self {
        let t = format!("\"{table}\"");
        // `expire` as ms since the epoch, read in the connection's time zone (UTC).
        let expire_ms = "(extract(epoch from expire::timestamptz) * 1000)::bigint";
        Self {
            create: format!(
                "CREATE TABLE IF NOT EXISTS {t} ( \
                     \"sid\" varchar NOT NULL COLLATE \"default\" PRIMARY KEY, \
                     \"sess\" json NOT NULL, \
                     \"expire\" timestamp(6) NOT NULL); \
                 CREATE INDEX IF NOT EXISTS \"IDX_{table}_expire\" ON {t} (\"expire\");"
            )
            .into(),
            get: format!(
                "SELECT sess::text, {expire_ms} FROM {t} \
                 WHERE sid = $1 AND expire >= to_timestamp($2)"
            )
            .into(),
            all: format!(
                "SELECT sid, sess::text, {expire_ms} FROM {t} WHERE expire >= to_timestamp($1)"
            )
            .into(),
            upsert: format!(
                "INSERT INTO {t} (sess, expire, sid) VALUES ($1::json, to_timestamp($2), $3) \
                 ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire"
            )
            .into(),
            update_if_same: format!(
                "UPDATE {t} SET sess = $1::json, expire = to_timestamp($2) \
                 WHERE sid = $3 AND sess::text = $4"
            )
            .into(),
            destroy: format!("DELETE FROM {t} WHERE sid = $1").into(),
            clear: format!("DELETE FROM {t}").into(),
            delete_expired: format!("DELETE FROM {t} WHERE expire < to_timestamp($1)").into(),
        }
    }
}

impl std::fmt::Debug for ConnectPgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectPgStore")
            .field("ttl_secs", &self.ttl_secs)
            .field("deadline", &self.deadline)
            .field("cleanup_every", &self.cleanup.as_ref().map(Cleanup::every))
            .finish_non_exhaustive()
    }
}

impl ConnectPgStore {
    /// Connects a pool of its own to `url`, with the same 2 s query timeout as
    /// [`PostgresStore::connect`](crate::PostgresStore::connect).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let (pool, stalled) = pool(url, Duration::from_secs(2)).await.map_err(backend)?;
        Ok(Self::on(Pools::renewable(pool, stalled)))
    }

    /// A store on your own pool, in connect-pg-simple's table `session`. It deletes expired
    /// rows every 10 minutes (see [`with_cleanup`](Self::with_cleanup)).
    pub fn new(pool: PgPool) -> Self {
        Self::on(Pools::fixed(pool))
    }

    /// A store with connect-pg-simple's defaults on `pool`.
    fn on(pool: Pools<Postgres>) -> Self {
        let store = Self {
            pool,
            ttl_secs: ONE_DAY,
            deadline: Duration::from_millis(2500),
            sql: Arc::new(Statements::new(DEFAULT_TABLE)),
            cleanup: None,
        };
        store.with_cleanup(Some(DEFAULT_CLEANUP_EVERY))
    }

    /// The table (connect-pg-simple's `tableName`); the Node app must use the same. A plain
    /// identifier, as for [`PostgresStore::with_table`](crate::PostgresStore::with_table).
    pub fn with_table(mut self, name: &str) -> Result<Self, StoreError> {
        let table = table_name(name).map_err(backend)?;
        self.sql = Arc::new(Statements::new(&table));
        // The cleanup moves to the new table.
        let every = self.cleanup.as_ref().map(Cleanup::every);
        Ok(self.with_cleanup(every))
    }

    /// How long a session without expiry is kept after its last write (connect-pg-simple's
    /// `ttl`).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl_secs = ttl.as_secs().max(1);
        self
    }

    /// How long a store call waits for an answer (the client's side; see
    /// [`PostgresStore::with_query_timeout`](crate::PostgresStore::with_query_timeout)).
    pub fn with_query_timeout(mut self, timeout: Duration) -> Self {
        self.deadline = timeout + Duration::from_millis(500);
        // The cleanup task runs with the new deadline too.
        let every = self.cleanup.as_ref().map(Cleanup::every);
        self.with_cleanup(every)
    }

    /// Creates connect-pg-simple's table and index if they do not exist (its
    /// `createTableIfMissing`).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.timed(sqlx::raw_sql(sql(&self.sql.create)).execute(&self.pool.get()))
            .await
            .map(drop)
    }

    /// Deletes the rows whose `expire` has passed (connect-pg-simple's pruning), answering how
    /// many.
    pub async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.timed(
            sqlx::query(sql(&self.sql.delete_expired))
                .bind(now_secs())
                .execute(&self.pool.get()),
        )
        .await
        .map(|done| done.rows_affected())
    }

    /// How often the store deletes expired rows: `Some(every)` (now, then every `every`), or
    /// `None`, never (for instance when the Node app's connect-pg-simple prunes, which it does
    /// every 15 minutes by default). The default is every 10 minutes, on a task the store's
    /// clones share, as for [`PostgresStore::with_cleanup`](crate::PostgresStore::with_cleanup).
    pub fn with_cleanup(mut self, every: Option<Duration>) -> Self {
        self.cleanup = None;
        if let Some(every) = every {
            // The task's own copy has no share in the task, or it would never stop.
            let worker = self.clone();
            self.cleanup = Cleanup::start("ConnectPgStore", every, move || {
                let store = worker.clone();
                async move { store.delete_expired().await }
            });
        }
        self
    }

    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        within(self.deadline, &self.pool, call)
            .await
            .map_err(backend)
    }

    /// The JSON of session `id` with the record read from it if it is a live session; `None`
    /// if there is no live row.
    async fn read(&self, id: &str) -> Result<Option<(String, Option<Record>)>, StoreError> {
        if id.contains('\0') {
            return Ok(None);
        }
        let row: Option<(String, i64)> = self
            .timed(
                sqlx::query_as(sql(&self.sql.get))
                    .bind(id)
                    .bind(now_secs())
                    .fetch_optional(&self.pool.get()),
            )
            .await?;
        Ok(row.map(|(text, expire_ms)| {
            let record = live(&text, expire_ms);
            (text, record)
        }))
    }

    /// `expire` for `record` written now: its cookie's expiry rounded up to the second (a day
    /// from now without one), capped by its absolute expiry; as seconds since the epoch.
    fn expire_secs(&self, record: &Record) -> f64 {
        let cookie = &record.cookie;
        let now = millis_since_epoch(SystemTime::now());
        let expires = cookie
            .expires_ms
            .unwrap_or_else(|| now.saturating_add(self.ttl_secs * 1000));
        let capped = cookie
            .absolute_ms
            .map_or(expires, |absolute| expires.min(absolute));
        capped.div_ceil(1000) as f64
    }
}

/// The record in `text`, if it reads and is live given its row's `expire_ms`.
fn live(text: &str, expire_ms: i64) -> Option<Record> {
    let now = millis_since_epoch(SystemTime::now());
    match express::from_json(text, now) {
        Ok(mut record) => {
            let key_expiry = u64::try_from(expire_ms).ok();
            if record.cookie.expires_ms.is_some() {
                record.cookie.expires_ms = express::effective_expiry(&record.cookie, key_expiry);
            }
            (!record.is_expired(SystemTime::now())).then_some(record)
        }
        Err(error) => {
            tracing::warn!(%error, "unreadable session in PostgreSQL; treating it as missing");
            None
        }
    }
}

/// Now in seconds since the epoch, rounded up, as connect-pg-simple compares `expire`.
fn now_secs() -> f64 {
    millis_since_epoch(SystemTime::now()).div_ceil(1000) as f64
}

/// `touch` is the default, a patch of no fields: it moves `expire`, as connect-pg-simple's touch
/// does, and writes the cookie's new expiry into the JSON with it.
impl Store for ConnectPgStore {
    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.read(id).await?.and_then(|(_, record)| record))
    }

    async fn set(&self, id: &str, record: &Record, changed: Changed<'_>) -> Result<(), StoreError> {
        if id.contains('\0') {
            return Err(backend(
                "a session id with a NUL character cannot be stored",
            ));
        }
        let expire = self.expire_secs(record);
        if changed.fields().is_none() {
            let json = express::to_json(record).map_err(backend)?;
            return self
                .timed(
                    sqlx::query(sql(&self.sql.upsert))
                        .bind(json)
                        .bind(expire)
                        .bind(id)
                        .execute(&self.pool.get()),
                )
                .await
                .map(drop);
        }
        for _ in 0..ATTEMPTS {
            let Some((text, Some(_))) = self.read(id).await? else {
                return Err(StoreError::Gone);
            };
            let json = express::patch(&text, record, changed).map_err(backend)?;
            let done = self
                .timed(
                    sqlx::query(sql(&self.sql.update_if_same))
                        .bind(json)
                        .bind(expire)
                        .bind(id)
                        .bind(&text)
                        .execute(&self.pool.get()),
                )
                .await?;
            if done.rows_affected() > 0 {
                return Ok(());
            }
            tracing::debug!("session changed while it was merged; merging again");
        }
        Err(backend(
            "the session kept changing while it was written; gave up",
        ))
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        if id.contains('\0') {
            return Ok(());
        }
        self.timed(
            sqlx::query(sql(&self.sql.destroy))
                .bind(id)
                .execute(&self.pool.get()),
        )
        .await
        .map(drop)
    }

    fn idle_ttl(&self) -> Option<Duration> {
        Some(Duration::from_secs(self.ttl_secs))
    }

    fn keeps_cookie_attributes(&self) -> bool {
        true
    }

    fn capabilities() -> Capabilities<Self> {
        Capabilities::none().listing()
    }
}

impl Listing for ConnectPgStore {
    async fn all(&self) -> Result<Vec<(String, Record)>, StoreError> {
        let rows: Vec<(String, String, i64)> = self
            .timed(
                sqlx::query_as(sql(&self.sql.all))
                    .bind(now_secs())
                    .fetch_all(&self.pool.get()),
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, text, expire_ms)| Some((id, live(&text, expire_ms)?)))
            .collect())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.timed(sqlx::query(sql(&self.sql.clear)).execute(&self.pool.get()))
            .await
            .map(drop)
    }

    async fn length(&self) -> Result<usize, StoreError> {
        Ok(self.all().await?.len())
    }
}

fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::backend("connect-pg-simple", error)
}
