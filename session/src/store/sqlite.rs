//! Sessions in SQLite: an embedded, persistent store in a single file, through sqlx.
//!
//! One row per session: the cookie state (`cookie`), the encoded fields as a JSON object of
//! base64 strings (`fields`), the expiry (`expires_ms`, indexed) and the owner (`owner`,
//! indexed). A change applies a JSON merge patch to the object in one `UPDATE`, so two requests
//! that change different fields of one session both keep their change; being an `UPDATE`, it
//! never brings back a row that was deleted or has expired. Expired rows are never returned;
//! [`SqliteStore::delete_expired`], or a task from [`SqliteStore::spawn_cleanup`], deletes them.
//!
//! The per-owner index ([`Store::sessions_of`], [`Store::destroy_sessions_of`]) is an index on
//! `owner`, partial: sessions without an owner are not in it and cost it nothing. A write of a
//! signed-in session's fields also updates its entry there (a touch does not); listing an
//! owner's sessions, or deleting them, is one statement that scans just their entries.
//!
//! sqlx runs each SQLite connection on a worker thread of its own, so a query (or a writer
//! waiting for the database lock) never blocks the async runtime.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::record::{Fields, Record};
use crate::store::sql::{
    self, DEFAULT_TABLE, OwnerUpgrade, Statements, Whole, count, expires_ms, json_object, now_ms,
    read_cookie, read_field, read_owner, sql, table_name, updated,
};
use crate::store::{
    self, Capabilities, Changed, DEFAULT_IDLE_TTL, Listing, OwnerIndex, Store, StoreError,
};

/// How the warnings about unreadable rows name the database.
const DATABASE: &str = "SQLite";

/// How long a writer waits for another connection's write to finish before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether the table (`?1`) has the `owner` column: SQLite's `ADD COLUMN` has no `IF NOT EXISTS`.
const HAS_OWNER: &str = "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = 'owner'";

/// A session store in an SQLite database.
///
/// ```no_run
/// # async fn run() -> Result<(), sessionly::StoreError> {
/// use std::time::Duration;
/// use sessionly::{SessionLayer, SqliteStore};
///
/// let store = SqliteStore::open("sessions.db").await?;
/// store.spawn_cleanup(Duration::from_secs(600));
/// let layer = SessionLayer::builder().secret("a long random secret").store(store).build();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    idle_ttl: Duration,
    sql: Arc<Statements>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("table", &self.sql.table)
            .field("idle_ttl", &self.idle_ttl)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database file at `path`, creating it if missing, and creates the `sessions`
    /// table if missing ([`SqliteStore::migrate`]).
    ///
    /// The connections use WAL journaling (readers do not wait for the writer),
    /// `synchronous = NORMAL` (a commit survives a crash of the process; a power loss may undo
    /// the last commits, never corrupt the file) and a 5 s busy timeout (a writer waits for
    /// another to finish instead of failing).
    ///
    /// Processes that open one file at once take turns: a step SQLite answers "busy" without
    /// waiting (switching the file to WAL while another connection holds it) is tried again
    /// for up to the busy timeout.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT);
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match Self::open_once(&options).await {
                Err(error) if is_busy(&error) && started.elapsed() < BUSY_TIMEOUT => {
                    tracing::debug!(%error, "database busy while opening; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                outcome => return outcome.map_err(backend),
            }
        }
    }

    /// Connects and migrates once.
    async fn open_once(options: &SqliteConnectOptions) -> Result<Self, sqlx::Error> {
        let pool = SqlitePoolOptions::new()
            .connect_with(options.clone())
            .await?;
        let store = Self::new(pool);
        store.migrate_or_busy().await?;
        Ok(store)
    }

    /// A database in memory, gone with the store; for tests and demos. It lives on a single
    /// connection that is never closed, since each SQLite connection to `:memory:` would see a
    /// database of its own. Creates the `sessions` table.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options: SqliteConnectOptions = "sqlite::memory:".parse().map_err(backend)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(backend)?;
        let store = Self::new(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// A store on your own pool, in the table `sessions`. Call [`SqliteStore::migrate`] unless
    /// the table exists.
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            idle_ttl: DEFAULT_IDLE_TTL,
            sql: Arc::new(Statements::sqlite(DEFAULT_TABLE)),
        }
    }

    /// Keeps sessions in the table `name` (default `sessions`). [`SqliteStore::open`] has
    /// created only the default table: call [`SqliteStore::migrate`] after this.
    ///
    /// The name must be a plain SQL identifier: ASCII letters, digits and `_`, not starting with
    /// a digit, at most 48 characters. It is folded to lower case (SQLite compares names
    /// without case anyway). Any other name is an error.
    pub fn with_table(mut self, name: &str) -> Result<Self, StoreError> {
        let table = table_name(name).map_err(backend)?;
        self.sql = Arc::new(Statements::sqlite(&table));
        Ok(self)
    }

    /// How long a session without expiry is kept after its last write or touch.
    pub fn with_idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = ttl;
        self
    }

    /// Creates the table and its indexes if they do not exist, and brings a table of an
    /// earlier version up to date. [`SqliteStore::open`] and [`SqliteStore::in_memory`] call it
    /// for the default table. It runs in one write transaction, so processes that open the
    /// database at once do not trip over each other. The table is:
    ///
    /// ```sql
    /// CREATE TABLE IF NOT EXISTS "sessions" (
    ///     id TEXT PRIMARY KEY NOT NULL,
    ///     cookie BLOB NOT NULL,        -- the cookie state, postcard-encoded
    ///     fields TEXT NOT NULL,        -- {"<field name>": "<standard base64 of its bytes>", ...}
    ///     expires_ms INTEGER NOT NULL, -- ms since the Unix epoch
    ///     owner TEXT                   -- the #[session(owner)] field, NULL without one
    /// );
    /// CREATE INDEX IF NOT EXISTS "sessions_expires_ms_idx" ON "sessions" (expires_ms);
    /// -- For a table created before `owner` existed, when `pragma_table_info` lacks it:
    /// ALTER TABLE "sessions" ADD COLUMN owner TEXT;
    /// CREATE INDEX IF NOT EXISTS "sessions_owner_idx" ON "sessions" (owner)
    ///     WHERE owner IS NOT NULL;
    /// ```
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.migrate_or_busy().await.map_err(backend)
    }

    async fn migrate_or_busy(&self) -> Result<(), sqlx::Error> {
        // IMMEDIATE takes the write lock before the column check, so no other process can add
        // the column between the check and the `ALTER`.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::raw_sql(sql(&self.sql.create))
            .execute(&mut *tx)
            .await?;
        if let Some(upgrade) = &self.sql.upgrade {
            let has_owner: bool = sqlx::query_scalar(HAS_OWNER)
                .bind(&*self.sql.table)
                .fetch_one(&mut *tx)
                .await?;
            if !has_owner {
                sqlx::raw_sql(sql(&upgrade.add_owner))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::raw_sql(sql(&upgrade.index_owner))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// Deletes every expired session now and returns how many there were.
    ///
    /// Expired sessions are never returned, but their rows stay until deleted: call this from
    /// time to time, or let [`SqliteStore::spawn_cleanup`] do it.
    pub async fn delete_expired(&self) -> Result<u64, StoreError> {
        sqlx::query(sql(&self.sql.delete_expired))
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(backend)
    }

    /// Starts a task that calls [`SqliteStore::delete_expired`] now and then every `every`.
    /// A failure is logged and retried at the next tick. Abort the handle to stop it.
    ///
    /// # Panics
    ///
    /// When called outside a Tokio runtime, like [`tokio::spawn`].
    pub fn spawn_cleanup(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        sql::spawn_cleanup(every, move || {
            let store = store.clone();
            async move { store.delete_expired().await }
        })
    }

    /// Writes the whole record `how` (see [`Whole`]) and answers the rows written.
    async fn write_whole(
        &self,
        id: &str,
        record: &Record,
        cookie: &[u8],
        how: Whole,
    ) -> Result<u64, StoreError> {
        let fields = json_object(
            record
                .fields
                .iter()
                .map(|(name, value)| (name.as_str(), Some(value.as_ref()))),
        );
        let mut query = sqlx::query(sql(self.sql.whole(how)))
            .bind(id)
            .bind(cookie)
            .bind(fields)
            .bind(expires_ms(&record.cookie, self.idle_ttl))
            .bind(record.owner.as_deref());
        if let Whole::ReplaceLive { owner } = how {
            query = query.bind(now_ms()).bind(owner);
        }
        query
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(backend)
    }
}

/// One row of a `SELECT` per field: the session id, its cookie state, its owner, whether
/// `fields` is a JSON object, then a field's name (`NULL` when there are no fields) and value
/// (`NULL` when it is not a string), and the session's size if that is over the limit a
/// `get_within` gave (then there are no fields). The id and the owner come as bytes, checked for UTF-8
/// here: SQLite stores whatever another program gave it, and a column sqlx cannot decode would
/// fail the whole query.
pub(crate) type Row = (
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    bool,
    Option<String>,
    Option<String>,
    Option<i64>,
);

impl Store for SqliteStore {
    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        self.get_within(id, usize::MAX).await
    }

    /// The size is checked in the `SELECT`: an oversized session's fields stay in SQLite.
    async fn get_within(&self, id: &str, max_size: usize) -> Result<Option<Record>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(sql(&self.sql.get))
            .bind(id)
            .bind(now_ms())
            .bind(i64::try_from(max_size).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        if let Some(&(.., Some(size))) = rows.first() {
            store::too_large(size.unsigned_abs(), max_size);
            return Ok(None);
        }
        Ok(parse(rows)
            .into_iter()
            .next()
            .and_then(|(_, record)| record))
    }

    async fn set(&self, id: &str, record: &Record, changed: Changed<'_>) -> Result<(), StoreError> {
        let cookie = record.cookie.encode().map_err(backend)?;
        let Some(names) = changed.fields() else {
            return self
                .write_whole(id, record, &cookie, Whole::Upsert)
                .await
                .map(drop);
        };
        // A JSON merge patch (RFC 7396): a changed field's new value, `null` for a removed one.
        let patch = json_object(names.iter().map(|name| {
            let value = record.fields.get(name).map(AsRef::as_ref);
            (name.as_str(), value)
        }));
        let patched = sqlx::query(sql(&self.sql.patch))
            .bind(id)
            .bind(&cookie)
            .bind(patch)
            .bind(expires_ms(&record.cookie, self.idle_ttl))
            .bind(record.owner.as_deref())
            .bind(now_ms())
            .bind(changed.writes_owner())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if patched.rows_affected() > 0 {
            return Ok(());
        }
        // Nothing patched: the row is gone, or it is live but its fields are not a JSON object.
        // The second case is repaired with the whole record; the replacement, an `UPDATE` of a
        // live row too, cannot bring back a row that is gone.
        let replaced = self
            .write_whole(
                id,
                record,
                &cookie,
                Whole::ReplaceLive {
                    owner: changed.writes_owner(),
                },
            )
            .await?;
        updated(replaced)
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query(sql(&self.sql.destroy))
            .bind(id)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(backend)
    }

    fn idle_ttl(&self) -> Option<Duration> {
        Some(self.idle_ttl)
    }

    async fn touch(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        let cookie = record.cookie.encode().map_err(backend)?;
        let touched = sqlx::query(sql(&self.sql.touch))
            .bind(id)
            .bind(cookie)
            .bind(expires_ms(&record.cookie, self.idle_ttl))
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        updated(touched.rows_affected())
    }

    fn capabilities() -> Capabilities<Self> {
        Capabilities::none().owner_index().listing()
    }
}

impl OwnerIndex for SqliteStore {
    async fn sessions_of(&self, owner: &str) -> Result<Vec<(String, Record)>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(sql(&self.sql.sessions_of))
            .bind(owner)
            .bind(now_ms())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        Ok(readable(rows))
    }

    async fn destroy_sessions_of(
        &self,
        owner: &str,
        keep: Option<&str>,
    ) -> Result<usize, StoreError> {
        sqlx::query(sql(&self.sql.destroy_sessions_of))
            .bind(owner)
            .bind(keep)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map(|done| count(done.rows_affected()))
            .map_err(backend)
    }
}

impl Listing for SqliteStore {
    async fn all(&self) -> Result<Vec<(String, Record)>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(sql(&self.sql.all))
            .bind(now_ms())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        Ok(readable(rows))
    }

    async fn clear(&self) -> Result<(), StoreError> {
        sqlx::query(sql(&self.sql.clear))
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn length(&self) -> Result<usize, StoreError> {
        let live: i64 = sqlx::query_scalar(sql(&self.sql.length))
            .bind(now_ms())
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(count(live))
    }
}

impl Statements {
    /// SQLite's statements for the table. `table` is a checked identifier (see
    /// [`table_name`]), so quoting it is enough.
    fn sqlite(table: &str) -> Self {
        let t = format!("\"{table}\"");
        let expires_index = format!("\"{table}_expires_ms_idx\"");
        let owner_index = format!("\"{table}_owner_idx\"");
        // The fields object taken apart in SQL, one row per field: `fields` becomes NULL unless
        // it is a JSON object (the nested CASE keeps `json_type` off invalid JSON, on which it
        // raises an error), and a value that is not a string becomes NULL. The id and the owner
        // are read as bytes whatever another program may have stored in the columns. With a
        // `limit` parameter, a session whose size (`Record::encoded_size`: names, decoded
        // base64 values, owner) is over it comes as one row without fields, with its size in
        // the last column (NULL otherwise).
        let select = |filter: &str, limit: Option<&str>| {
            let (fields, oversize) = match limit {
                Some(limit) => (
                    format!("CASE WHEN size <= {limit} THEN fields END"),
                    format!("CASE WHEN size > {limit} THEN size END"),
                ),
                None => ("fields".into(), "NULL".into()),
            };
            let size = "coalesce(length(owner), 0) + ( \
                            SELECT coalesce(sum(length(CAST(key AS BLOB)) + CASE type \
                                WHEN 'text' THEN length(value) / 4 * 3 \
                                    - (length(value) - length(rtrim(value, '='))) \
                                ELSE 0 END), 0) \
                            FROM json_each(fields) \
                        )";
            let sized = match limit {
                Some(_) => format!("SELECT id, cookie, owner, fields, {size} AS size FROM checked"),
                None => "SELECT * FROM checked".into(),
            };
            format!(
                "WITH checked AS ( \
                     SELECT CAST(id AS BLOB) AS id, CAST(cookie AS BLOB) AS cookie, \
                            CAST(owner AS BLOB) AS owner, \
                            CASE WHEN json_valid(fields) THEN \
                                CASE json_type(fields) WHEN 'object' THEN fields END \
                            END AS fields \
                     FROM {t} WHERE {filter} \
                 ), sized AS ({sized}) \
                 SELECT s.id, s.cookie, s.owner, s.fields IS NOT NULL, e.key, \
                        CASE e.type WHEN 'text' THEN e.value END, s.oversize \
                 FROM (SELECT id, cookie, owner, {fields} AS fields, {oversize} AS oversize \
                       FROM sized) AS s \
                 LEFT JOIN json_each(s.fields) AS e \
                 ORDER BY s.id"
            )
            .into()
        };
        Self {
            table: table.into(),
            create: format!(
                "CREATE TABLE IF NOT EXISTS {t} ( \
                     id TEXT PRIMARY KEY NOT NULL, \
                     cookie BLOB NOT NULL, \
                     fields TEXT NOT NULL, \
                     expires_ms INTEGER NOT NULL, \
                     owner TEXT \
                 ); \
                 CREATE INDEX IF NOT EXISTS {expires_index} ON {t} (expires_ms);"
            )
            .into(),
            upgrade: Some(OwnerUpgrade {
                add_owner: format!("ALTER TABLE {t} ADD COLUMN owner TEXT").into(),
                // Partial: most sessions of most sites have no owner, and SQLite uses the index
                // for `owner = ?1`, which implies `owner IS NOT NULL`.
                index_owner: format!(
                    "CREATE INDEX IF NOT EXISTS {owner_index} ON {t} (owner) \
                     WHERE owner IS NOT NULL"
                )
                .into(),
            }),
            get: select("id = ?1 AND expires_ms > ?2", Some("?3")),
            all: select("expires_ms > ?1", None),
            sessions_of: select("owner = ?1 AND expires_ms > ?2", None),
            upsert: format!(
                "INSERT INTO {t} (id, cookie, fields, expires_ms, owner) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (id) DO UPDATE SET \
                     cookie = excluded.cookie, \
                     fields = excluded.fields, \
                     expires_ms = excluded.expires_ms, \
                     owner = excluded.owner"
            )
            .into(),
            replace: format!(
                "UPDATE {t} SET cookie = ?2, fields = ?3, expires_ms = ?4, \
                     owner = CASE WHEN ?7 THEN ?5 ELSE owner END \
                 WHERE id = ?1 AND expires_ms > ?6"
            )
            .into(),
            // One statement, so one write transaction: a concurrent patch of other fields waits
            // for the lock (busy timeout), then applies its own change to what this one left.
            // Only an object is patched: `json_patch` would turn any other JSON value into an
            // object of just the changed fields.
            patch: format!(
                "UPDATE {t} SET \
                     cookie = ?2, fields = json_patch(fields, ?3), expires_ms = ?4, \
                     owner = CASE WHEN ?7 THEN ?5 ELSE owner END \
                 WHERE id = ?1 AND expires_ms > ?6 \
                     AND CASE WHEN json_valid(fields) THEN json_type(fields) = 'object' END"
            )
            .into(),
            touch: format!(
                "UPDATE {t} SET cookie = ?2, expires_ms = ?3 WHERE id = ?1 AND expires_ms > ?4"
            )
            .into(),
            destroy: format!("DELETE FROM {t} WHERE id = ?1").into(),
            // Live rows only, so the count is of sessions that were in use; an expired one is
            // left to `delete_expired`.
            destroy_sessions_of: format!(
                "DELETE FROM {t} WHERE owner = ?1 AND id IS NOT ?2 AND expires_ms > ?3"
            )
            .into(),
            clear: format!("DELETE FROM {t}").into(),
            length: format!("SELECT count(*) FROM {t} WHERE expires_ms > ?1").into(),
            delete_expired: format!("DELETE FROM {t} WHERE expires_ms <= ?1").into(),
            turns: None,
        }
    }
}

/// Records from rows sorted by id, one per session; `None` for one that cannot be read, which
/// is logged. A field that cannot be read is left out (logged): it gets its default, and the
/// rest of the session survives.
pub(crate) fn parse(rows: Vec<Row>) -> Vec<(String, Option<Record>)> {
    let mut sessions: Vec<(String, Option<Record>)> = Vec::new();
    // The id of the rows being read, and whether they are being left out.
    let mut current: Option<(Vec<u8>, bool)> = None;
    for (id, cookie, owner, object, name, value, _) in rows {
        if current.as_ref().is_none_or(|(last, _)| *last != id) {
            let utf8 = String::from_utf8(id.clone());
            current = Some((id, utf8.is_err()));
            let Ok(id) = utf8 else {
                tracing::warn!("session id in {DATABASE} is not UTF-8; leaving the row out");
                continue;
            };
            let record = read_owner(DATABASE, owner).and_then(|owner| {
                read_cookie(DATABASE, &cookie, object).map(|cookie| Record {
                    cookie,
                    fields: Fields::new(),
                    owner,
                })
            });
            sessions.push((id, record));
        }
        if current.as_ref().is_some_and(|(_, skipped)| *skipped) {
            continue;
        }
        let Some((_, Some(record))) = sessions.last_mut() else {
            continue;
        };
        if let Some(name) = name
            && let Some(bytes) = read_field(DATABASE, &name, value)
        {
            record.fields.insert(name, bytes.into());
        }
    }
    sessions
}

/// The sessions of `rows` that can be read.
fn readable(rows: Vec<Row>) -> Vec<(String, Record)> {
    parse(rows)
        .into_iter()
        .filter_map(|(id, record)| record.map(|record| (id, record)))
        .collect()
}

/// Whether SQLite answered "busy" or "locked" (any extended code of either).
fn is_busy(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(error) = error else {
        return false;
    };
    let code = error.code().and_then(|code| code.parse::<i32>().ok());
    matches!(code.map(|code| code & 0xff), Some(5 | 6))
}

fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::backend("sqlite", error)
}
