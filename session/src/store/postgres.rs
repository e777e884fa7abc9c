//! Sessions in PostgreSQL: one row per session in a table of their own, through sqlx.
//!
//! A row holds the cookie state (`cookie`), the encoded fields as a `jsonb` object of base64
//! strings (`fields`), the expiry (`expires_ms`, indexed) and the owner (`owner`, indexed). A
//! change patches the `jsonb` object in one `UPDATE`, so two requests that change different
//! fields of one session both keep their change; being an `UPDATE`, it never brings back a row
//! that was deleted or has expired. Expired rows are never returned;
//! [`PostgresStore::delete_expired`], or a task from [`PostgresStore::spawn_cleanup`], deletes
//! them.
//!
//! The per-owner index ([`Store::sessions_of`], [`Store::destroy_sessions_of`]) is an index on
//! `owner`, partial: sessions without an owner are not in it and cost it nothing. PostgreSQL
//! writes a new version of a row on every update, so each write or touch of a session with an
//! owner also adds an entry to that index (as to the expiry index), which `VACUUM` reclaims like
//! the dead rows. Listing an owner's sessions, or deleting them, is one statement that scans just
//! their entries.
//!
//! The store does not create its table by itself: call [`PostgresStore::migrate`] once at
//! startup, or create the table with your own migrations (its shape is in `migrate`'s doc).

use std::future::Future;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::record::{Fields, Record};
use crate::store::sql::{
    self, DEFAULT_TABLE, OwnerUpgrade, Statements, TurnStatements, Whole, count, expires_ms,
    now_ms, read_cookie, read_field, sql, table_name, updated, within,
};
use crate::store::{
    self, Capabilities, Changed, DEFAULT_IDLE_TTL, Leases, Listing, OwnerIndex, Store, StoreError,
};

/// How the warnings about unreadable rows name the database.
const DATABASE: &str = "PostgreSQL";

/// How long a statement may run by default, as long as the Redis store waits for an answer.
const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// How much longer than the statement timeout a store call waits for the server. The server
/// cancels a statement that runs too long (a lock wait included) by itself, and the connection
/// stays usable; the client gives up only when the server does not answer at all (frozen,
/// unreachable), a little later, so that an answered statement is never left undecided.
const CLIENT_GRACE: Duration = Duration::from_millis(500);

/// A session store on a PostgreSQL table.
///
/// ```no_run
/// # async fn run() -> Result<(), sessionly::StoreError> {
/// use std::time::Duration;
/// use sessionly::{PostgresStore, SessionLayer};
///
/// let store = PostgresStore::connect("postgres://app@127.0.0.1/app").await?;
/// store.migrate().await?;
/// store.spawn_cleanup(Duration::from_secs(600));
/// let layer = SessionLayer::builder().secret("a long random secret").store(store).build();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    idle_ttl: Duration,
    /// How long a store call waits for the server before it fails.
    deadline: Duration,
    sql: Arc<Statements>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.sql.table)
            .field("idle_ttl", &self.idle_ttl)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects a pool of its own to `url`, with a query timeout of 2 s: see
    /// [`connect_with_timeout`].
    ///
    /// [`connect_with_timeout`]: PostgresStore::connect_with_timeout
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_timeout(url, DEFAULT_QUERY_TIMEOUT).await
    }

    /// Connects a pool of its own to `url`, so that an outage or a locked table is a prompt
    /// error, not a hang that holds the session's turn:
    /// - the server cancels any statement of the store that runs longer than `timeout`
    ///   (`statement_timeout`, waiting for a lock included), which writes nothing;
    /// - getting a connection from the pool waits at most `timeout`;
    /// - a store call that has no answer `timeout` + 0.5 s after it started (a frozen or
    ///   unreachable server) fails.
    ///
    /// The pool replaces broken connections by itself, so the store recovers when the server
    /// comes back.
    pub async fn connect_with_timeout(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let pool = pool(url, timeout).await.map_err(backend)?;
        Ok(Self::new(pool).with_query_timeout(timeout))
    }

    /// A store on your own pool, in the table `sessions`, with a query timeout of 2 s
    /// ([`with_query_timeout`](PostgresStore::with_query_timeout) changes it). Give the pool's connections a `statement_timeout` no
    /// longer than the query timeout (`PgConnectOptions::options`), as
    /// [`connect_with_timeout`](PostgresStore::connect_with_timeout) does: without one, a
    /// statement the store gave up on may still run, and land, later.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            idle_ttl: DEFAULT_IDLE_TTL,
            deadline: DEFAULT_QUERY_TIMEOUT + CLIENT_GRACE,
            sql: Arc::new(Statements::postgres(DEFAULT_TABLE)),
        }
    }

    /// How long a store call waits for an answer: it fails `timeout` + 0.5 s after it started.
    /// This is the client's side only; the server's `statement_timeout` is set when the pool
    /// connects (see [`connect_with_timeout`](PostgresStore::connect_with_timeout)).
    pub fn with_query_timeout(mut self, timeout: Duration) -> Self {
        self.deadline = timeout + CLIENT_GRACE;
        self
    }

    /// Runs a store call under the deadline.
    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        within(self.deadline, call).await.map_err(backend)
    }

    /// Keeps sessions in the table `name` (default `sessions`).
    ///
    /// The name must be a plain SQL identifier: ASCII letters, digits and `_`, not starting with
    /// a digit, at most 48 characters. Like PostgreSQL does with unquoted names, it is folded to
    /// lower case. Any other name is an error.
    pub fn with_table(mut self, name: &str) -> Result<Self, StoreError> {
        let table = table_name(name).map_err(backend)?;
        self.sql = Arc::new(Statements::postgres(&table));
        Ok(self)
    }

    /// How long a session without expiry is kept after its last write or touch.
    pub fn with_idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = ttl;
        self
    }

    /// Creates the table and its indexes if they do not exist, and brings a table of an
    /// earlier version up to date; the store never does it by itself. Safe to call at every
    /// startup, from several processes at once: it runs in one transaction, under an advisory
    /// lock named after the table. The table is:
    ///
    /// ```sql
    /// CREATE TABLE IF NOT EXISTS "sessions" (
    ///     id TEXT PRIMARY KEY,
    ///     cookie BYTEA NOT NULL,      -- the cookie state, postcard-encoded
    ///     fields JSONB NOT NULL,      -- {"<field name>": "<standard base64 of its bytes>", ...}
    ///     expires_ms BIGINT NOT NULL, -- ms since the Unix epoch
    ///     owner TEXT                  -- the #[session(owner)] field, NULL without one
    /// );
    /// CREATE INDEX IF NOT EXISTS "sessions_expires_ms_idx" ON "sessions" (expires_ms);
    /// -- The leases of `store_turns` (see `SessionLayerBuilder::store_turns`):
    /// CREATE UNLOGGED TABLE IF NOT EXISTS "sessions_turns" (
    ///     id TEXT PRIMARY KEY,
    ///     token TEXT NOT NULL,
    ///     until_ms BIGINT NOT NULL
    /// );
    /// -- For a table created before `owner` existed:
    /// ALTER TABLE "sessions" ADD COLUMN IF NOT EXISTS owner TEXT;
    /// CREATE INDEX IF NOT EXISTS "sessions_owner_idx" ON "sessions" (owner)
    ///     WHERE owner IS NOT NULL;
    /// ```
    ///
    /// Adding the column to an existing table is instant, but building the index reads the
    /// whole table while blocking writes to it. For a large table, create the index first with
    /// `CREATE INDEX CONCURRENTLY`, under the same name; `migrate` then keeps it.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Two `CREATE TABLE IF NOT EXISTS` at once can both find no table, and one then fails.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("session migrate {}", self.sql.table))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        for statement in self.sql.migration() {
            sqlx::raw_sql(sql(statement))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    /// Deletes every expired session now and returns how many there were.
    ///
    /// Expired sessions are never returned, but their rows stay until deleted: call this from
    /// time to time, or let [`PostgresStore::spawn_cleanup`] do it.
    pub async fn delete_expired(&self) -> Result<u64, StoreError> {
        let deleted = self
            .timed(
                sqlx::query(sql(&self.sql.delete_expired))
                    .bind(now_ms())
                    .execute(&self.pool),
            )
            .await?;
        if let Some(turns) = &self.sql.turns {
            // Leases whose holder died before giving them back.
            self.timed(
                sqlx::query(sql(&turns.delete_lapsed))
                    .bind(now_ms())
                    .execute(&self.pool),
            )
            .await?;
        }
        Ok(deleted.rows_affected())
    }

    /// Starts a task that calls [`PostgresStore::delete_expired`] now and then every `every`.
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

    /// Writes the whole record `how` (see [`Whole`]) on `connection` and answers the rows
    /// written.
    async fn write_whole(
        &self,
        connection: &mut PgConnection,
        id: &str,
        record: &Record,
        cookie: &[u8],
        how: Whole,
    ) -> Result<u64, StoreError> {
        let names: Vec<&str> = record.fields.keys().map(String::as_str).collect();
        let values: Vec<String> = record.fields.values().map(|v| STANDARD.encode(v)).collect();
        let mut query = sqlx::query(sql(self.sql.whole(how)))
            .bind(id)
            .bind(cookie)
            .bind(names)
            .bind(values)
            .bind(expires_ms(&record.cookie, self.idle_ttl))
            .bind(record.owner.as_deref());
        if let Whole::ReplaceLive { owner } = how {
            query = query.bind(now_ms()).bind(owner);
        }
        self.timed(query.execute(connection))
            .await
            .map(|done| done.rows_affected())
    }

    /// [`Store::set`] on `connection` (the pool's, or a transaction's).
    async fn write(
        &self,
        connection: &mut PgConnection,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
    ) -> Result<(), StoreError> {
        let cookie = record.cookie.encode().map_err(backend)?;
        let Some(names) = changed.fields() else {
            return self
                .write_whole(connection, id, record, &cookie, Whole::Upsert)
                .await
                .map(drop);
        };
        let (written, removed): (Vec<&str>, Vec<&str>) = names
            .iter()
            .map(String::as_str)
            .partition(|name| record.fields.contains_key(*name));
        let values: Vec<String> = written
            .iter()
            .map(|name| STANDARD.encode(&record.fields[*name]))
            .collect();
        if !storable(id) {
            return Err(StoreError::Gone);
        }
        let patched = self
            .timed(
                sqlx::query(sql(&self.sql.patch))
                    .bind(id)
                    .bind(&cookie)
                    .bind(removed)
                    .bind(written)
                    .bind(values)
                    .bind(expires_ms(&record.cookie, self.idle_ttl))
                    .bind(record.owner.as_deref())
                    .bind(now_ms())
                    .bind(changed.writes_owner())
                    .execute(&mut *connection),
            )
            .await?;
        if patched.rows_affected() > 0 {
            return Ok(());
        }
        // Nothing patched: the row is gone, or it is live but its fields are not an object. The
        // second case is repaired with the whole record; the replacement, an `UPDATE` of a live
        // row too, cannot bring back a row that is gone.
        let replaced = self
            .write_whole(
                connection,
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

    /// The store-side turn's statements: every table `migrate` made has them.
    fn turns(&self) -> Result<&TurnStatements, StoreError> {
        self.sql
            .turns
            .as_ref()
            .ok_or(StoreError::unsupported("lease"))
    }
}

/// A pool of its own on `url` whose statements the server cancels after `timeout`, and which
/// waits at most that long for a connection.
pub(super) async fn pool(url: &str, timeout: Duration) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?
        .options([("statement_timeout", timeout.as_millis().max(1).to_string())]);
    PgPoolOptions::new()
        .acquire_timeout(timeout)
        .connect_with(options)
        .await
}

/// A row as the `SELECT`s return it: the session id, its cookie state, its owner, whether
/// `fields` is a JSON object, its names and values (`NULL` for a value that is not a string),
/// and its size if that is over the limit a `get_within` gave (then names and values are
/// `NULL`).
pub(crate) type Row = (
    String,
    Vec<u8>,
    Option<String>,
    bool,
    Option<Vec<String>>,
    Option<Vec<Option<String>>>,
    Option<i64>,
);

impl Store for PostgresStore {
    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        self.get_within(id, usize::MAX).await
    }

    /// The size is checked in the `SELECT`: an oversized session's fields stay in PostgreSQL.
    async fn get_within(&self, id: &str, max_size: usize) -> Result<Option<Record>, StoreError> {
        if !storable(id) {
            return Ok(None);
        }
        let row: Option<Row> = self
            .timed(
                sqlx::query_as(sql(&self.sql.get))
                    .bind(id)
                    .bind(now_ms())
                    .bind(i64::try_from(max_size).unwrap_or(i64::MAX))
                    .fetch_optional(&self.pool),
            )
            .await?;
        match row {
            Some((.., Some(size))) => {
                store::too_large(size.unsigned_abs(), max_size);
                Ok(None)
            }
            row => Ok(row.and_then(parse).map(|(_, record)| record)),
        }
    }

    async fn set(&self, id: &str, record: &Record, changed: Changed<'_>) -> Result<(), StoreError> {
        let mut connection = self.timed(self.pool.acquire()).await?;
        self.write(&mut connection, id, record, changed).await
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        if !storable(id) {
            return Ok(());
        }
        self.timed(
            sqlx::query(sql(&self.sql.destroy))
                .bind(id)
                .execute(&self.pool),
        )
        .await
        .map(drop)
    }

    fn idle_ttl(&self) -> Option<Duration> {
        Some(self.idle_ttl)
    }

    async fn touch(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        if !storable(id) {
            return Err(StoreError::Gone);
        }
        let cookie = record.cookie.encode().map_err(backend)?;
        let touched = self
            .timed(
                sqlx::query(sql(&self.sql.touch))
                    .bind(id)
                    .bind(cookie)
                    .bind(expires_ms(&record.cookie, self.idle_ttl))
                    .bind(now_ms())
                    .execute(&self.pool),
            )
            .await?;
        updated(touched.rows_affected())
    }

    fn capabilities() -> Capabilities<Self> {
        Capabilities::none().leases().owner_index().listing()
    }
}

impl Leases for PostgresStore {
    /// One statement: an upsert of the lease row that only replaces a lease that has ended.
    async fn lease(&self, id: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        let token = crate::id::generate_id();
        if !storable(id) {
            // No session can be stored under this id, so there is nothing to take turns on:
            // the load finds none, and the new session gets a new id.
            return Ok(Some(token));
        }
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        let taken: Option<String> = self
            .timed(
                sqlx::query_scalar(sql(&self.turns()?.lease))
                    .bind(id)
                    .bind(&token)
                    .bind(now_ms())
                    .bind(ttl)
                    .fetch_optional(&self.pool),
            )
            .await?;
        Ok(taken.map(|_| token))
    }

    async fn release(&self, id: &str, token: &str) -> Result<(), StoreError> {
        if !storable(id) {
            return Ok(());
        }
        self.timed(
            sqlx::query(sql(&self.turns()?.release))
                .bind(id)
                .bind(token)
                .execute(&self.pool),
        )
        .await
        .map(drop)
    }

    /// One transaction: lock the lease row if the token still holds it (a holder taking the
    /// lease over waits for this transaction), write as [`set`](Store::set) does, delete the
    /// lease if asked, commit.
    async fn set_within_lease(
        &self,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
        token: &str,
        release: bool,
    ) -> Result<(), StoreError> {
        if !storable(id) {
            return Err(StoreError::Gone);
        }
        let turns = self.turns()?;
        let mut transaction = self.timed(self.pool.begin()).await?;
        let held: Option<i32> = self
            .timed(
                sqlx::query_scalar(sql(&turns.hold))
                    .bind(id)
                    .bind(token)
                    .bind(now_ms())
                    .fetch_optional(&mut *transaction),
            )
            .await?;
        if held.is_none() {
            return Err(StoreError::LeaseLost);
        }
        let written = self.write(&mut transaction, id, record, changed).await;
        if let Err(StoreError::Backend { .. }) = written {
            return written; // Rolled back; the lease stays until it is given back or ends.
        }
        if release {
            self.timed(
                sqlx::query(sql(&turns.release))
                    .bind(id)
                    .bind(token)
                    .execute(&mut *transaction),
            )
            .await?;
        }
        self.timed(transaction.commit()).await?;
        written
    }
}

impl OwnerIndex for PostgresStore {
    async fn sessions_of(&self, owner: &str) -> Result<Vec<(String, Record)>, StoreError> {
        if !storable(owner) {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = self
            .timed(
                sqlx::query_as(sql(&self.sql.sessions_of))
                    .bind(owner)
                    .bind(now_ms())
                    .fetch_all(&self.pool),
            )
            .await?;
        Ok(rows.into_iter().filter_map(parse).collect())
    }

    async fn destroy_sessions_of(
        &self,
        owner: &str,
        keep: Option<&str>,
    ) -> Result<usize, StoreError> {
        if !storable(owner) {
            return Ok(0);
        }
        self.timed(
            sqlx::query(sql(&self.sql.destroy_sessions_of))
                .bind(owner)
                .bind(keep)
                .bind(now_ms())
                .execute(&self.pool),
        )
        .await
        .map(|done| count(done.rows_affected()))
    }
}

impl Listing for PostgresStore {
    async fn all(&self) -> Result<Vec<(String, Record)>, StoreError> {
        let rows: Vec<Row> = self
            .timed(
                sqlx::query_as(sql(&self.sql.all))
                    .bind(now_ms())
                    .fetch_all(&self.pool),
            )
            .await?;
        Ok(rows.into_iter().filter_map(parse).collect())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.timed(sqlx::query(sql(&self.sql.clear)).execute(&self.pool))
            .await
            .map(drop)
    }

    async fn length(&self) -> Result<usize, StoreError> {
        let live: i64 = self
            .timed(
                sqlx::query_scalar(sql(&self.sql.length))
                    .bind(now_ms())
                    .fetch_one(&self.pool),
            )
            .await?;
        Ok(count(live))
    }
}

impl Statements {
    /// PostgreSQL's statements for the table. `table` is a checked identifier (see
    /// [`table_name`]), so quoting it is enough.
    fn postgres(table: &str) -> Self {
        let t = format!("\"{table}\"");
        // The leases of the store-side turn (`store_turns`): unlogged, as they are worth nothing
        // after a crash (a restart ends them all, and a fenced write then finds its lease gone).
        let turns = format!("\"{table}_turns\"");
        let expires_index = format!("\"{table}_expires_ms_idx\"");
        let owner_index = format!("\"{table}_owner_idx\"");
        // The fields object taken apart in SQL: names and string values as two arrays (NULL
        // when there are none), a NULL value for anything that is not a string, and `fields`
        // not being an object reported in a column of its own. With a `limit` parameter, a
        // session whose size (`Record::encoded_size`: names, decoded base64 values, owner) is
        // over it comes without its fields, and its size in the last column (NULL otherwise).
        let select = |filter: &str, limit: Option<&str>| {
            let (names, encoded, oversize) = match limit {
                Some(limit) => (
                    format!("CASE WHEN f.size <= {limit} THEN f.names END"),
                    format!("CASE WHEN f.size <= {limit} THEN f.encoded END"),
                    format!("CASE WHEN f.size > {limit} THEN f.size END"),
                ),
                None => ("f.names".into(), "f.encoded".into(), "NULL::bigint".into()),
            };
            format!(
                "SELECT s.id, s.cookie, s.owner, jsonb_typeof(s.fields) = 'object', \
                        {names}, {encoded}, {oversize} \
                 FROM {t} AS s CROSS JOIN LATERAL ( \
                     SELECT array_agg(e.key), array_agg(v.text), \
                            coalesce(octet_length(s.owner), 0) + coalesce(sum( \
                                octet_length(e.key) + octet_length(v.text) / 4 * 3 \
                                - (octet_length(v.text) - octet_length(rtrim(v.text, '='))) \
                            ), 0) \
                     FROM jsonb_each( \
                         CASE jsonb_typeof(s.fields) WHEN 'object' THEN s.fields END \
                     ) AS e CROSS JOIN LATERAL ( \
                         SELECT CASE jsonb_typeof(e.value) WHEN 'string' THEN e.value #>> '{{}}' END \
                     ) AS v(text) \
                 ) AS f(names, encoded, size) \
                 WHERE {filter}"
            )
            .into()
        };
        Self {
            table: table.into(),
            create: format!(
                "CREATE TABLE IF NOT EXISTS {t} ( \
                     id TEXT PRIMARY KEY, \
                     cookie BYTEA NOT NULL, \
                     fields JSONB NOT NULL, \
                     expires_ms BIGINT NOT NULL, \
                     owner TEXT \
                 ); \
                 CREATE INDEX IF NOT EXISTS {expires_index} ON {t} (expires_ms); \
                 CREATE UNLOGGED TABLE IF NOT EXISTS {turns} ( \
                     id TEXT PRIMARY KEY, \
                     token TEXT NOT NULL, \
                     until_ms BIGINT NOT NULL \
                 );"
            )
            .into(),
            upgrade: Some(OwnerUpgrade {
                add_owner: format!("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS owner TEXT").into(),
                // Partial: most sessions of most sites have no owner, and `owner = $1` implies
                // `owner IS NOT NULL`, so the lookups below can use it.
                index_owner: format!(
                    "CREATE INDEX IF NOT EXISTS {owner_index} ON {t} (owner) \
                     WHERE owner IS NOT NULL"
                )
                .into(),
            }),
            get: select("s.id = $1 AND s.expires_ms > $2", Some("$3")),
            all: select("s.expires_ms > $1", None),
            sessions_of: select("s.owner = $1 AND s.expires_ms > $2", None),
            upsert: format!(
                "INSERT INTO {t} (id, cookie, fields, expires_ms, owner) \
                 VALUES ($1, $2, jsonb_object($3::text[], $4::text[]), $5, $6) \
                 ON CONFLICT (id) DO UPDATE SET \
                     cookie = EXCLUDED.cookie, \
                     fields = EXCLUDED.fields, \
                     expires_ms = EXCLUDED.expires_ms, \
                     owner = EXCLUDED.owner"
            )
            .into(),
            replace: format!(
                "UPDATE {t} SET \
                     cookie = $2, \
                     fields = jsonb_object($3::text[], $4::text[]), \
                     expires_ms = $5, \
                     owner = CASE WHEN $8 THEN $6 ELSE owner END \
                 WHERE id = $1 AND expires_ms > $7"
            )
            .into(),
            // Atomic per row: a concurrent patch of other fields waits for the row lock, then
            // applies its own change to the row this one left (PostgreSQL re-checks the WHERE
            // clause on the newest version, so a row deleted meanwhile is not updated).
            patch: format!(
                "UPDATE {t} SET \
                     cookie = $2, \
                     fields = (fields - $3::text[]) || jsonb_object($4::text[], $5::text[]), \
                     expires_ms = $6, \
                     owner = CASE WHEN $9 THEN $7 ELSE owner END \
                 WHERE id = $1 AND expires_ms > $8 AND jsonb_typeof(fields) = 'object'"
            )
            .into(),
            touch: format!(
                "UPDATE {t} SET cookie = $2, expires_ms = $3 WHERE id = $1 AND expires_ms > $4"
            )
            .into(),
            destroy: format!("DELETE FROM {t} WHERE id = $1").into(),
            // Live rows only, so the count is of sessions that were in use; an expired one is
            // left to `delete_expired`.
            destroy_sessions_of: format!(
                "DELETE FROM {t} \
                 WHERE owner = $1 AND id IS DISTINCT FROM $2 AND expires_ms > $3"
            )
            .into(),
            clear: format!("DELETE FROM {t}").into(),
            length: format!("SELECT count(*) FROM {t} WHERE expires_ms > $1").into(),
            delete_expired: format!("DELETE FROM {t} WHERE expires_ms <= $1").into(),
            turns: Some(TurnStatements {
                lease: format!(
                    "INSERT INTO {turns} (id, token, until_ms) VALUES ($1, $2, $3 + $4) \
                     ON CONFLICT (id) DO UPDATE \
                         SET token = EXCLUDED.token, until_ms = EXCLUDED.until_ms \
                         WHERE {turns}.until_ms <= $3 \
                     RETURNING token"
                )
                .into(),
                holder: None,
                hold: format!(
                    "SELECT 1 FROM {turns} \
                     WHERE id = $1 AND token = $2 AND until_ms > $3 FOR UPDATE"
                )
                .into(),
                release: format!("DELETE FROM {turns} WHERE id = $1 AND token = $2").into(),
                delete_lapsed: format!("DELETE FROM {turns} WHERE until_ms <= $1").into(),
            }),
        }
    }
}

/// A session from a row; one that cannot be read is logged and missing.
pub(crate) fn parse(
    (id, cookie, owner, object, names, values, _): Row,
) -> Option<(String, Record)> {
    let cookie = read_cookie(DATABASE, &cookie, object)?;
    let mut fields = Fields::new();
    for (name, value) in names
        .unwrap_or_default()
        .into_iter()
        .zip(values.unwrap_or_default())
    {
        // A field that cannot be read is left out: the schema gives it its default, and the
        // rest of the session survives.
        if let Some(bytes) = read_field(DATABASE, &name, value) {
            fields.insert(name, bytes.into());
        }
    }
    Some((
        id,
        Record {
            cookie,
            fields,
            owner,
        },
    ))
}

/// Whether PostgreSQL can hold `text` at all: its `TEXT` has no NUL character, and a statement
/// that binds one fails. No session can be stored under such an id (or owner), so it is
/// answered as one that is not there rather than as an error on every request.
fn storable(text: &str) -> bool {
    !text.contains('\0')
}

fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::backend("postgres", error)
}
