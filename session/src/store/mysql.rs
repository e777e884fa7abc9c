//! Sessions in MySQL or MariaDB: one row per session in an InnoDB table of their own, through
//! sqlx.
//!
//! A row holds the cookie state (`cookie`), the encoded fields as a JSON object of base64
//! strings (`fields`), the expiry (`expires_ms`, indexed) and the owner (`owner`, indexed). A
//! change applies a JSON merge patch (`JSON_MERGE_PATCH`) to the object in one `UPDATE`, which
//! InnoDB runs under the row's lock, so two requests that change different fields of one
//! session both keep their change; being an `UPDATE`, it never brings back a row that was
//! deleted or has expired. Expired rows are never returned; [`MySqlStore::delete_expired`], or a
//! task from [`MySqlStore::spawn_cleanup`], deletes them.
//!
//! The id and the owner are byte strings (`VARBINARY`): compared byte for byte, with no
//! collation folding case or ignoring trailing spaces, so no two ids can name one row.
//!
//! The store does not create its table by itself: call [`MySqlStore::migrate`] once at startup,
//! or create the table with your own migrations (its shape is in `migrate`'s doc).

use std::future::Future;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions};

use crate::record::{Fields, Record};
use crate::store::sql::{
    self, DEFAULT_TABLE, Statements, TurnStatements, Whole, count, expires_ms, json_object, now_ms,
    read_cookie, read_field, read_owner, sql, table_name, updated, within,
};
use crate::store::{
    self, Capabilities, Changed, DEFAULT_IDLE_TTL, Leases, Listing, OwnerIndex, Store, StoreError,
};

/// How the warnings about unreadable rows name the database.
const DATABASE: &str = "MySQL";

/// The longest id the `id` column holds, in bytes. A longer id (only a custom `genid` can make
/// one) names no session: loading it finds none, and a new session is given a new id.
const MAX_ID_LEN: usize = 1024;

/// The longest owner the `owner` column holds, in bytes; writing a session with a longer one is
/// an error that says so.
const MAX_OWNER_LEN: usize = 1024;

/// How long a statement may run by default, as long as the Redis store waits for an answer.
const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// How much longer than the server's own limits a store call waits for an answer, so that an
/// answered statement is never left undecided (see [`MySqlStore::connect_with_timeout`]).
const CLIENT_GRACE: Duration = Duration::from_millis(500);

/// A session store on a MySQL (8.0 or later) or MariaDB (10.6 or later) table.
///
/// ```no_run
/// # async fn run() -> Result<(), sessionly::StoreError> {
/// use std::time::Duration;
/// use sessionly::{MySqlStore, SessionLayer};
///
/// let store = MySqlStore::connect("mysql://app:password@127.0.0.1/app").await?;
/// store.migrate().await?;
/// store.spawn_cleanup(Duration::from_secs(600));
/// let layer = SessionLayer::builder().secret("a long random secret").store(store).build();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
    idle_ttl: Duration,
    /// How long a store call waits for the server before it fails.
    deadline: Duration,
    sql: Arc<Statements>,
}

impl std::fmt::Debug for MySqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlStore")
            .field("table", &self.sql.table)
            .field("idle_ttl", &self.idle_ttl)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl MySqlStore {
    /// Connects a pool of its own to `url` (`mysql://user:password@host:port/database`), with a
    /// query timeout of 2 s: see [`connect_with_timeout`](MySqlStore::connect_with_timeout).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_timeout(url, DEFAULT_QUERY_TIMEOUT).await
    }

    /// Connects a pool of its own to `url`, so that an outage or a locked row is a prompt error,
    /// not a hang that holds the session's turn:
    /// - a statement waits at most `timeout` for a row lock (`innodb_lock_wait_timeout`, in
    ///   whole seconds, at least 1), and MariaDB stops any statement that runs longer than
    ///   `timeout` (`max_statement_time`; MySQL's `max_execution_time` bounds reads only);
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
    /// ([`with_query_timeout`](MySqlStore::with_query_timeout) changes it). Give the pool's
    /// connections server-side limits no longer than the query timeout, as
    /// [`connect_with_timeout`](MySqlStore::connect_with_timeout) does: without them, a
    /// statement the store gave up on may still run, and land, later.
    pub fn new(pool: MySqlPool) -> Self {
        Self {
            pool,
            idle_ttl: DEFAULT_IDLE_TTL,
            deadline: DEFAULT_QUERY_TIMEOUT + CLIENT_GRACE,
            sql: Arc::new(Statements::mysql(DEFAULT_TABLE)),
        }
    }

    /// How long a store call waits for an answer: it fails `timeout` + 0.5 s after it started.
    /// This is the client's side only; the server's limits are set when the pool connects (see
    /// [`connect_with_timeout`](MySqlStore::connect_with_timeout)).
    pub fn with_query_timeout(mut self, timeout: Duration) -> Self {
        self.deadline = timeout + CLIENT_GRACE;
        self
    }

    /// Keeps sessions in the table `name` (default `sessions`).
    ///
    /// The name must be a plain SQL identifier: ASCII letters, digits and `_`, not starting with
    /// a digit, at most 48 characters. It is folded to lower case (MySQL's table names follow
    /// the file system's case rules). Any other name is an error.
    pub fn with_table(mut self, name: &str) -> Result<Self, StoreError> {
        let table = table_name(name).map_err(backend)?;
        self.sql = Arc::new(Statements::mysql(&table));
        Ok(self)
    }

    /// How long a session without expiry is kept after its last write or touch.
    pub fn with_idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = ttl;
        self
    }

    /// Runs a store call under the deadline.
    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        within(self.deadline, call).await.map_err(backend)
    }

    /// Creates the table and its indexes if they do not exist; the store never does it by
    /// itself. Safe to call at every startup, from several processes at once. The table is:
    ///
    /// ```sql
    /// CREATE TABLE IF NOT EXISTS `sessions` (
    ///     id VARBINARY(1024) NOT NULL PRIMARY KEY,
    ///     cookie BLOB NOT NULL,         -- the cookie state, postcard-encoded
    ///     fields JSON NOT NULL,         -- {"<field name>": "<standard base64 of its bytes>", ...}
    ///     expires_ms BIGINT NOT NULL,   -- ms since the Unix epoch
    ///     owner VARBINARY(1024) NULL,   -- the #[session(owner)] field, NULL without one
    ///     INDEX `sessions_expires_ms_idx` (expires_ms),
    ///     INDEX `sessions_owner_idx` (owner)
    /// ) ENGINE = InnoDB;
    /// -- The leases of `store_turns` (see `SessionLayerBuilder::store_turns`):
    /// CREATE TABLE IF NOT EXISTS `sessions_turns` (
    ///     id VARBINARY(1024) NOT NULL PRIMARY KEY,
    ///     token VARBINARY(64) NOT NULL,
    ///     until_ms BIGINT NOT NULL
    /// ) ENGINE = InnoDB;
    /// ```
    pub async fn migrate(&self) -> Result<(), StoreError> {
        for statement in self.sql.migration() {
            sqlx::raw_sql(sql(statement))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    /// Deletes every expired session now and returns how many there were.
    ///
    /// Expired sessions are never returned, but their rows stay until deleted: call this from
    /// time to time, or let [`MySqlStore::spawn_cleanup`] do it.
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

    /// Starts a task that calls [`MySqlStore::delete_expired`] now and then every `every`. A
    /// failure is logged and retried at the next tick. Abort the handle to stop it.
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
        connection: &mut MySqlConnection,
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
        let expires = expires_ms(&record.cookie, self.idle_ttl);
        let owner = record.owner.as_deref().map(str::as_bytes);
        let query = sqlx::query(sql(self.sql.whole(how)))
            .bind(cookie)
            .bind(fields)
            .bind(expires);
        let query = match how {
            Whole::Upsert => query.bind(owner).bind(id.as_bytes()),
            Whole::ReplaceLive { owner: writes } => query
                .bind(writes)
                .bind(owner)
                .bind(id.as_bytes())
                .bind(now_ms()),
        };
        self.timed(query.execute(connection))
            .await
            .map(|done| done.rows_affected())
    }

    /// The store-side turn's statements: every table `migrate` made has them.
    fn turns(&self) -> Result<&TurnStatements, StoreError> {
        self.sql
            .turns
            .as_ref()
            .ok_or(StoreError::unsupported("lease"))
    }

    /// [`Store::set`] on `connection` (the pool's, or a transaction's).
    async fn write(
        &self,
        connection: &mut MySqlConnection,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
    ) -> Result<(), StoreError> {
        if let Some(owner) = &record.owner
            && owner.len() > MAX_OWNER_LEN
            && changed.writes_owner()
        {
            return Err(backend(format!(
                "the session's owner is {} bytes long; the store holds at most {MAX_OWNER_LEN}",
                owner.len()
            )));
        }
        let cookie = record.cookie.encode().map_err(backend)?;
        let Some(names) = changed.fields() else {
            if id.len() > MAX_ID_LEN {
                return Err(backend(format!(
                    "the session id is {} bytes long; the store holds at most {MAX_ID_LEN}",
                    id.len()
                )));
            }
            return self
                .write_whole(connection, id, record, &cookie, Whole::Upsert)
                .await
                .map(drop);
        };
        if id.len() > MAX_ID_LEN {
            return Err(StoreError::Gone);
        }
        // A JSON merge patch (RFC 7396): a changed field's new value, `null` for a removed one.
        let patch = json_object(names.iter().map(|name| {
            let value = record.fields.get(name).map(AsRef::as_ref);
            (name.as_str(), value)
        }));
        let patched = self
            .timed(
                sqlx::query(sql(&self.sql.patch))
                    .bind(&cookie)
                    .bind(patch)
                    .bind(expires_ms(&record.cookie, self.idle_ttl))
                    .bind(changed.writes_owner())
                    .bind(record.owner.as_deref().map(str::as_bytes))
                    .bind(id.as_bytes())
                    .bind(now_ms())
                    .execute(&mut *connection),
            )
            .await?;
        if patched.rows_affected() > 0 {
            return Ok(());
        }
        // Nothing patched: the row is gone, or it is live but its fields are not a JSON object.
        // The second case is repaired with the whole record; the replacement, an `UPDATE` of a
        // live row too, cannot bring back a row that is gone.
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
}

/// A pool of its own on `url` whose connections wait at most `timeout` for a row lock (and, on
/// MariaDB, stop any statement after `timeout`), and which waits at most that long for a
/// connection.
async fn pool(url: &str, timeout: Duration) -> Result<MySqlPool, sqlx::Error> {
    let options = MySqlConnectOptions::from_str(url)?;
    // Numbers only: safe to write into the statements.
    let lock_wait = timeout.as_secs().max(1);
    let seconds = timeout.as_secs_f64();
    let millis = timeout.as_millis().max(1);
    MySqlPoolOptions::new()
        .acquire_timeout(timeout)
        .after_connect(move |connection, _| {
            Box::pin(async move {
                let set = format!("SET SESSION innodb_lock_wait_timeout = {lock_wait}");
                sqlx::raw_sql(sqlx::AssertSqlSafe(set))
                    .execute(&mut *connection)
                    .await?;
                // MariaDB's statement limit; MySQL has none for writes, and only this one for
                // reads.
                let mariadb = format!("SET SESSION max_statement_time = {seconds}");
                if sqlx::raw_sql(sqlx::AssertSqlSafe(mariadb))
                    .execute(&mut *connection)
                    .await
                    .is_err()
                {
                    let mysql = format!("SET SESSION max_execution_time = {millis}");
                    sqlx::raw_sql(sqlx::AssertSqlSafe(mysql))
                        .execute(&mut *connection)
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
}

/// A row as the `SELECT`s return it: the session id, its cookie state, its owner, its fields as
/// JSON text, and its size if that is over the limit a `get_within` gave (then the fields are
/// `NULL`). Text comes as bytes: the id and the owner are byte strings, and a column sqlx cannot
/// decode would fail the whole query.
type Row = (
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<i64>,
);

impl Store for MySqlStore {
    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        self.get_within(id, usize::MAX).await
    }

    /// The size is computed in the `SELECT`: an oversized session's fields stay in the database.
    async fn get_within(&self, id: &str, max_size: usize) -> Result<Option<Record>, StoreError> {
        if id.len() > MAX_ID_LEN {
            return Ok(None);
        }
        let limit = i64::try_from(max_size).unwrap_or(i64::MAX);
        let row: Option<Row> = self
            .timed(
                sqlx::query_as(sql(&self.sql.get))
                    .bind(limit)
                    .bind(limit)
                    .bind(id.as_bytes())
                    .bind(now_ms())
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
        self.timed(
            sqlx::query(sql(&self.sql.destroy))
                .bind(id.as_bytes())
                .execute(&self.pool),
        )
        .await
        .map(drop)
    }

    fn idle_ttl(&self) -> Option<Duration> {
        Some(self.idle_ttl)
    }

    async fn touch(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        let cookie = record.cookie.encode().map_err(backend)?;
        let touched = self
            .timed(
                sqlx::query(sql(&self.sql.touch))
                    .bind(cookie)
                    .bind(expires_ms(&record.cookie, self.idle_ttl))
                    .bind(id.as_bytes())
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

impl Leases for MySqlStore {
    /// Two statements: an upsert of the lease row that only replaces a lease that has ended,
    /// then a read of whose it is.
    async fn lease(&self, id: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        let token = crate::id::generate_id();
        if id.len() > MAX_ID_LEN {
            // No session can be stored under this id, so there is nothing to take turns on.
            return Ok(Some(token));
        }
        let turns = self.turns()?;
        let Some(holder) = &turns.holder else {
            return Err(StoreError::unsupported("lease"));
        };
        let (now, ttl) = (now_ms(), i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        self.timed(
            sqlx::query(sql(&turns.lease))
                .bind(id.as_bytes())
                .bind(&token)
                .bind(now.saturating_add(ttl.max(1)))
                .bind(now)
                .bind(now)
                .execute(&self.pool),
        )
        .await?;
        let holder: Option<Vec<u8>> = self
            .timed(
                sqlx::query_scalar(sql(holder))
                    .bind(id.as_bytes())
                    .fetch_optional(&self.pool),
            )
            .await?;
        Ok((holder.as_deref() == Some(token.as_bytes())).then_some(token))
    }

    async fn release(&self, id: &str, token: &str) -> Result<(), StoreError> {
        self.timed(
            sqlx::query(sql(&self.turns()?.release))
                .bind(id.as_bytes())
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
        let turns = self.turns()?;
        let mut transaction = self.timed(self.pool.begin()).await?;
        let held: Option<i64> = self
            .timed(
                sqlx::query_scalar(sql(&turns.hold))
                    .bind(id.as_bytes())
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
                    .bind(id.as_bytes())
                    .bind(token)
                    .execute(&mut *transaction),
            )
            .await?;
        }
        self.timed(transaction.commit()).await?;
        written
    }
}

impl OwnerIndex for MySqlStore {
    async fn sessions_of(&self, owner: &str) -> Result<Vec<(String, Record)>, StoreError> {
        let rows: Vec<Row> = self
            .timed(
                sqlx::query_as(sql(&self.sql.sessions_of))
                    .bind(owner.as_bytes())
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
        let keep = keep.map(str::as_bytes);
        self.timed(
            sqlx::query(sql(&self.sql.destroy_sessions_of))
                .bind(owner.as_bytes())
                .bind(keep)
                .bind(keep)
                .bind(now_ms())
                .execute(&self.pool),
        )
        .await
        .map(|done| count(done.rows_affected()))
    }
}

impl Listing for MySqlStore {
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
    /// MySQL's and MariaDB's statements for the table. `table` is a checked identifier (see
    /// [`table_name`]), so quoting it is enough. Parameters are positional (`?`): each store
    /// call binds them in the order they appear.
    fn mysql(table: &str) -> Self {
        let t = format!("`{table}`");
        // The leases of the store-side turn (`store_turns`).
        let turns = format!("`{table}_turns`");
        // A session's size (`Record::encoded_size`: names, decoded base64 values, owner), from
        // the object's keys and its values walked apart (a JSON path naming a key would need
        // the key quoted). The columns are utf8mb4, so `LENGTH` counts a name's UTF-8 bytes
        // whatever the server's default character set.
        let size = "CAST(COALESCE(LENGTH(s.owner), 0) \
                    + COALESCE((SELECT SUM(LENGTH(k.name)) FROM JSON_TABLE(JSON_KEYS(s.fields), \
                          '$[*]' COLUMNS (name LONGTEXT CHARACTER SET utf8mb4 PATH '$')) AS k), 0) \
                    + COALESCE((SELECT SUM(LENGTH(v.value) DIV 4 * 3 \
                          - (LENGTH(v.value) - LENGTH(TRIM(TRAILING '=' FROM v.value)))) \
                          FROM JSON_TABLE(s.fields, \
                          '$.*' COLUMNS (value LONGTEXT CHARACTER SET utf8mb4 PATH '$')) AS v), 0) \
                    AS SIGNED)";
        let fields = "CAST(s.fields AS CHAR CHARACTER SET utf8mb4)";
        let select = |filter: &str| {
            format!(
                "SELECT s.id, s.cookie, s.owner, {fields}, CAST(NULL AS SIGNED) \
                 FROM {t} AS s WHERE {filter}"
            )
            .into()
        };
        Self {
            table: table.into(),
            create: format!(
                "CREATE TABLE IF NOT EXISTS {t} ( \
                     id VARBINARY({MAX_ID_LEN}) NOT NULL PRIMARY KEY, \
                     cookie BLOB NOT NULL, \
                     fields JSON NOT NULL, \
                     expires_ms BIGINT NOT NULL, \
                     owner VARBINARY({MAX_OWNER_LEN}) NULL, \
                     INDEX `{table}_expires_ms_idx` (expires_ms), \
                     INDEX `{table}_owner_idx` (owner) \
                 ) ENGINE = InnoDB; \
                 CREATE TABLE IF NOT EXISTS {turns} ( \
                     id VARBINARY({MAX_ID_LEN}) NOT NULL PRIMARY KEY, \
                     token VARBINARY(64) NOT NULL, \
                     until_ms BIGINT NOT NULL \
                 ) ENGINE = InnoDB"
            )
            .into(),
            upgrade: None,
            // With a limit (the first two parameters): an oversized session comes without its
            // fields, and with its size.
            get: format!(
                "SELECT id, cookie, owner, CASE WHEN size <= ? THEN fields END, \
                        CASE WHEN size > ? THEN size END \
                 FROM (SELECT s.id, s.cookie, s.owner, {fields} AS fields, {size} AS size \
                       FROM {t} AS s WHERE s.id = ? AND s.expires_ms > ?) AS sized"
            )
            .into(),
            all: select("s.expires_ms > ?"),
            sessions_of: select("s.owner = ? AND s.expires_ms > ?"),
            upsert: format!(
                "INSERT INTO {t} (cookie, fields, expires_ms, owner, id) VALUES (?, ?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE \
                     cookie = VALUES(cookie), \
                     fields = VALUES(fields), \
                     expires_ms = VALUES(expires_ms), \
                     owner = VALUES(owner)"
            )
            .into(),
            replace: format!(
                "UPDATE {t} SET cookie = ?, fields = ?, expires_ms = ?, \
                     owner = CASE WHEN ? THEN ? ELSE owner END \
                 WHERE id = ? AND expires_ms > ?"
            )
            .into(),
            // One statement under the row's lock: a concurrent patch of other fields waits for
            // it, then applies its own change to what this one left. Only an object is patched:
            // a merge patch would turn any other JSON value into an object of just the changed
            // fields.
            patch: format!(
                "UPDATE {t} SET \
                     cookie = ?, fields = JSON_MERGE_PATCH(fields, ?), expires_ms = ?, \
                     owner = CASE WHEN ? THEN ? ELSE owner END \
                 WHERE id = ? AND expires_ms > ? AND JSON_TYPE(fields) = 'OBJECT'"
            )
            .into(),
            touch: format!(
                "UPDATE {t} SET cookie = ?, expires_ms = ? WHERE id = ? AND expires_ms > ?"
            )
            .into(),
            destroy: format!("DELETE FROM {t} WHERE id = ?").into(),
            // Live rows only, so the count is of sessions that were in use; an expired one is
            // left to `delete_expired`.
            destroy_sessions_of: format!(
                "DELETE FROM {t} \
                 WHERE owner = ? AND (? IS NULL OR id <> ?) AND expires_ms > ?"
            )
            .into(),
            clear: format!("DELETE FROM {t}").into(),
            length: format!("SELECT COUNT(*) FROM {t} WHERE expires_ms > ?").into(),
            delete_expired: format!("DELETE FROM {t} WHERE expires_ms <= ?").into(),
            // MySQL evaluates the assignments in order: `token` is decided before `until_ms`
            // changes, both on the lease as it was.
            turns: Some(TurnStatements {
                lease: format!(
                    "INSERT INTO {turns} (id, token, until_ms) VALUES (?, ?, ?) \
                     ON DUPLICATE KEY UPDATE \
                         token = IF(until_ms <= ?, VALUES(token), token), \
                         until_ms = IF(until_ms <= ?, VALUES(until_ms), until_ms)"
                )
                .into(),
                holder: Some(format!("SELECT token FROM {turns} WHERE id = ?").into()),
                hold: format!(
                    "SELECT 1 FROM {turns} \
                     WHERE id = ? AND token = ? AND until_ms > ? FOR UPDATE"
                )
                .into(),
                release: format!("DELETE FROM {turns} WHERE id = ? AND token = ?").into(),
                delete_lapsed: format!("DELETE FROM {turns} WHERE until_ms <= ?").into(),
            }),
        }
    }
}

/// A session from a row; one that cannot be read is logged and missing. A field that cannot be
/// read is left out (logged): it gets its default, and the rest of the session survives.
fn parse((id, cookie, owner, fields, _): Row) -> Option<(String, Record)> {
    let Ok(id) = String::from_utf8(id) else {
        tracing::warn!("session id in {DATABASE} is not UTF-8; leaving the row out");
        return None;
    };
    let owner = read_owner(DATABASE, owner)?;
    let object = fields.as_deref().map(serde_json::from_slice::<Value>);
    let object = match object {
        Some(Ok(Value::Object(object))) => Some(object),
        Some(Err(error)) => {
            tracing::warn!(%error, "session fields in {DATABASE} are not JSON; treating the session as missing");
            return None;
        }
        _ => None,
    };
    let cookie = read_cookie(DATABASE, &cookie, object.is_some())?;
    let mut fields = Fields::new();
    for (name, value) in object.into_iter().flatten() {
        let value = match value {
            Value::String(text) => Some(text),
            _ => None,
        };
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

fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::backend("mysql", error)
}
