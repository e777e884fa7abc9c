//! Sessions in SQLite: an embedded, persistent store in a single file, through sqlx.
//!
//! One row per session: the cookie state (`cookie`), the encoded fields as a JSON object of
//! base64 strings (`fields`), the expiry (`expires_ms`, indexed) and the owner (`owner`,
//! indexed). A change applies a JSON merge patch to the object in one `UPDATE`, so two requests
//! that change different fields of one session both keep their change; being an `UPDATE`, it
//! never brings back a row that was deleted or has expired. Expired rows are never returned;
//! a task the store starts deletes them every 10 minutes
//! ([`SqliteStore::with_cleanup`]; [`SqliteStore::delete_expired`] does it at once).
//!
//! The per-owner index ([`OwnerIndex::sessions_of`], [`OwnerIndex::destroy_sessions_of`]) is an index on
//! `owner`, partial: sessions without an owner are not in it and cost it nothing. A write of a
//! signed-in session's fields also updates its entry there (a touch does not); listing an
//! owner's sessions, or deleting them, is one statement that scans just their entries.
//!
//! sqlx runs each SQLite connection on a worker thread of its own, so a query (or a writer
//! waiting for the database lock) never blocks the async runtime.
//!
//! [`OwnerIndex::sessions_of`]: crate::store::OwnerIndex::sessions_of
//! [`OwnerIndex::destroy_sessions_of`]: crate::store::OwnerIndex::destroy_sessions_of

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};

use crate::record::{Fields, Record};
use crate::store::StoreError;
use crate::store::sql::{
    self, DEFAULT_CLEANUP_EVERY, Dialect, OwnerUpgrade, Param, SqlStore, Statement, Statements,
    read_cookie, read_field, read_owner, sql, sql_store,
};

/// How the warnings about unreadable rows name the database.
const DATABASE: &str = "SQLite";

/// How long a writer waits for another connection's write to finish before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether the table (`?1`) has the `owner` column: SQLite's `ADD COLUMN` has no `IF NOT EXISTS`.
const HAS_OWNER: &str = "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = 'owner'";

/// A session store in an SQLite database.
///
/// Pick it for one machine whose sessions must survive a restart (feature `sqlite`, with
/// SQLite bundled). One file, WAL journaling, `synchronous = NORMAL`; sqlx runs SQLite on worker
/// threads, so the async runtime never blocks. [`open`](SqliteStore::open) creates the table
/// (`sessions` by default, [`with_table`](SqliteStore::with_table)). A change is one
/// `json_patch` of the row's fields. It has the per-owner index and listing; not the store-side
/// turn of [`store_turns`](crate::SessionLayerBuilder::store_turns): SQLite is one machine, whose
/// processes share the file lock, not a turn. See [the guide to stores](crate::guide::stores)
/// for the others.
///
/// ```no_run
/// # async fn run() -> Result<(), sessionly::StoreError> {
/// use std::time::Duration;
/// use sessionly::{SessionLayer, SqliteStore};
///
/// let store = SqliteStore::open("sessions.db").await?;
/// let layer = SessionLayer::builder().secret("a long random secret, 32 bytes or more").store(store).build();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore(SqlStore<SqliteDialect>);

sql_store!(SqliteStore);

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
        // No deadline: a call waits for the database lock as long as the busy timeout says.
        Self(SqlStore::new(pool, None).with_cleanup(Some(DEFAULT_CLEANUP_EVERY)))
    }

    /// Keeps sessions in the table `name` (default `sessions`). [`SqliteStore::open`] has
    /// created only the default table: call [`SqliteStore::migrate`] after this.
    ///
    /// The name must be a plain SQL identifier: ASCII letters, digits and `_`, not starting with
    /// a digit, at most 48 characters. It is folded to lower case (SQLite compares names
    /// without case anyway). Any other name is an error.
    pub fn with_table(self, name: &str) -> Result<Self, StoreError> {
        // The cleanup moves to the new table.
        let every = self.0.cleanup_every();
        Ok(Self(self.0.with_table(name)?.with_cleanup(every)))
    }

    /// How long a session without expiry is kept after its last write or touch.
    pub fn with_idle_ttl(self, ttl: Duration) -> Self {
        Self(self.0.with_idle_ttl(ttl))
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
        let store = &self.0;
        let mut tx = store.pool.get().begin_with("BEGIN IMMEDIATE").await?;
        sqlx::raw_sql(sql(&store.sql.create))
            .execute(&mut *tx)
            .await?;
        if let Some(upgrade) = &store.sql.upgrade {
            let has_owner: bool = sqlx::query_scalar(HAS_OWNER)
                .bind(&*store.sql.table)
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
    /// time to time, or leave it to the store's cleanup task ([`SqliteStore::with_cleanup`]).
    pub async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.0.delete_expired().await
    }

    /// How often the store deletes its expired rows: `Some(every)` (now, then every `every`),
    /// or `None`, never (another process does it, or a job of yours calls
    /// [`delete_expired`](Self::delete_expired)). The default, from every constructor, is
    /// every 10 minutes ([`DEFAULT_CLEANUP_EVERY`](crate::store::DEFAULT_CLEANUP_EVERY)), on a
    /// task of the Tokio runtime the store was made in; the store's clones share it, and it
    /// stops when the last of them is dropped. A failed run is logged at WARN and tried again
    /// at the next one. Made outside a runtime, the store logs a warning and runs none: call
    /// this inside one.
    ///
    /// Several processes on one database may all run it: each run deletes what has expired by
    /// then, and finding nothing costs one indexed `DELETE`.
    pub fn with_cleanup(self, every: Option<Duration>) -> Self {
        Self(self.0.with_cleanup(every))
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

/// SQLite's SQL, and how its values and rows look.
struct SqliteDialect;

impl Dialect for SqliteDialect {
    type Db = sqlx::Sqlite;
    type Row = Row;
    type Key<'a> = Option<&'a str>;

    const TYPE: &'static str = "SqliteStore";
    const STORE: &'static str = "sqlite";

    fn statements(table: &str) -> Statements {
        use Param::*;
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
        };
        Statements {
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
            get: Statement::new(
                select("id = ?1 AND expires_ms > ?2", Some("?3")),
                &[Id, Now, Limit],
            ),
            all: Statement::new(select("expires_ms > ?1", None), &[Now]),
            sessions_of: Statement::new(
                select("owner = ?1 AND expires_ms > ?2", None),
                &[Owner, Now],
            ),
            upsert: Statement::new(
                format!(
                    "INSERT INTO {t} (id, cookie, fields, expires_ms, owner) \
                     VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (id) DO UPDATE SET \
                         cookie = excluded.cookie, \
                         fields = excluded.fields, \
                         expires_ms = excluded.expires_ms, \
                         owner = excluded.owner"
                ),
                &[Id, Cookie, Fields, Expires, Owner],
            ),
            replace: Statement::new(
                format!(
                    "UPDATE {t} SET cookie = ?2, fields = ?3, expires_ms = ?4, \
                         owner = CASE WHEN ?7 THEN ?5 ELSE owner END \
                     WHERE id = ?1 AND expires_ms > ?6"
                ),
                &[Id, Cookie, Fields, Expires, Owner, Now, WritesOwner],
            ),
            // One statement, so one write transaction: a concurrent patch of other fields waits
            // for the lock (busy timeout), then applies its own change to what this one left.
            // Only an object is patched: `json_patch` would turn any other JSON value into an
            // object of just the changed fields.
            patch: Statement::new(
                format!(
                    "UPDATE {t} SET \
                         cookie = ?2, fields = json_patch(fields, ?3), expires_ms = ?4, \
                         owner = CASE WHEN ?7 THEN ?5 ELSE owner END \
                     WHERE id = ?1 AND expires_ms > ?6 \
                         AND CASE WHEN json_valid(fields) THEN json_type(fields) = 'object' END"
                ),
                &[Id, Cookie, Patch, Expires, Owner, Now, WritesOwner],
            ),
            touch: Statement::new(
                format!(
                    "UPDATE {t} SET cookie = ?2, expires_ms = ?3 WHERE id = ?1 AND expires_ms > ?4"
                ),
                &[Id, Cookie, Expires, Now],
            ),
            destroy: Statement::new(format!("DELETE FROM {t} WHERE id = ?1"), &[Id]),
            // Live rows only, so the count is of sessions that were in use; an expired one is
            // left to `delete_expired`.
            destroy_sessions_of: Statement::new(
                format!("DELETE FROM {t} WHERE owner = ?1 AND id IS NOT ?2 AND expires_ms > ?3"),
                &[Owner, Keep, Now],
            ),
            clear: Statement::new(format!("DELETE FROM {t}"), &[]),
            length: Statement::new(
                format!("SELECT count(*) FROM {t} WHERE expires_ms > ?1"),
                &[Now],
            ),
            delete_expired: Statement::new(
                format!("DELETE FROM {t} WHERE expires_ms <= ?1"),
                &[Now],
            ),
            // No store-side turn: the lease methods answer `Unsupported`.
            turns: None,
        }
    }

    fn key(text: Option<&str>) -> Option<&str> {
        text
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    fn oversize(row: &Row) -> Option<i64> {
        row.6
    }

    fn sessions(rows: Vec<Row>) -> Vec<(String, Record)> {
        parse(rows)
            .into_iter()
            .filter_map(|(id, record)| record.map(|record| (id, record)))
            .collect()
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

/// Whether SQLite answered "busy" or "locked" (any extended code of either).
fn is_busy(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(error) = error else {
        return false;
    };
    let code = error.code().and_then(|code| code.parse::<i32>().ok());
    matches!(code.map(|code| code & 0xff), Some(5 | 6))
}

fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    sql::backend::<SqliteDialect>(error)
}
