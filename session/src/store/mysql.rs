//! Sessions in MySQL or MariaDB: one row per session in an InnoDB table of their own, through
//! sqlx.
//!
//! A row holds the cookie state (`cookie`), the encoded fields as a JSON object of base64
//! strings (`fields`), the expiry (`expires_ms`, indexed) and the owner (`owner`, indexed). A
//! change applies a JSON merge patch (`JSON_MERGE_PATCH`) to the object in one `UPDATE`, which
//! InnoDB runs under the row's lock, so two requests that change different fields of one
//! session both keep their change; being an `UPDATE`, it never brings back a row that was
//! deleted or has expired. Expired rows are never returned; a task the store starts deletes them every 10 minutes
//! ([`MySqlStore::with_cleanup`]; [`MySqlStore::delete_expired`] does it at once).
//!
//! The id and the owner are byte strings (`VARBINARY`): compared byte for byte, with no
//! collation folding case or ignoring trailing spaces, so no two ids can name one row.
//!
//! The store does not create its table by itself: call [`MySqlStore::migrate`] once at startup,
//! or create the table with your own migrations (its shape is in `migrate`'s doc).

use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use serde_json::Value;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlQueryResult};

use crate::record::{Fields, Record};
use crate::store::sql::{
    self, CLIENT_GRACE, DEFAULT_CLEANUP_EVERY, DEFAULT_QUERY_TIMEOUT, Dialect, Param, SqlStore,
    Statement, Statements, TurnStatements, alive_on_release, read_cookie, read_field, read_owner,
    sql, sql_store, stall_clock,
};
use crate::store::{Changed, StoreError};

/// How the warnings about unreadable rows name the database.
const DATABASE: &str = "MySQL";

/// The longest id the `id` column holds, in bytes. A longer id (only a custom `genid` can make
/// one) names no session: loading it finds none, and a new session is given a new id.
const MAX_ID_LEN: usize = 1024;

/// The longest owner the `owner` column holds, in bytes; writing a session with a longer one is
/// an error that says so.
const MAX_OWNER_LEN: usize = 1024;

/// A session store on a MySQL (8.0 or later) or MariaDB (10.6 or later) table.
///
/// Pick it to keep sessions next to the app's data on MySQL or MariaDB (feature `mysql`). An
/// InnoDB table (`sessions` by default, [`with_table`](MySqlStore::with_table)) created by
/// [`migrate`](MySqlStore::migrate): fields in a `JSON` object patched by one
/// `UPDATE … JSON_MERGE_PATCH` under the row's lock (update-only, so a patch never brings back a
/// deleted or expired row), indexed `expires_ms` and `owner` columns. The id and owner are byte
/// strings (`VARBINARY(1024)`, compared byte for byte: no collation makes `a` and `A ` one
/// session); an id longer than 1024 bytes (only a custom `genid` makes one) is a missing
/// session. A load computes the session's size in its `SELECT`, so an oversized one stays in
/// the database. [`MySqlStore::new(pool)`](MySqlStore::new) takes your own pool.
///
/// Timeouts as for [`PostgresStore`](crate::PostgresStore) (2 s,
/// [`connect_with_timeout`](MySqlStore::connect_with_timeout)): a row-lock wait gives up after
/// the timeout (`innodb_lock_wait_timeout`, whole seconds), MariaDB stops any statement that
/// runs longer (`max_statement_time`; MySQL can bound only reads, with `max_execution_time`),
/// and a call without an answer 0.5 s after that fails.
///
/// It has the per-owner index, listing and the store-side turn of
/// [`store_turns`](crate::SessionLayerBuilder::store_turns) (a lease row in `<table>_turns`,
/// made by `migrate`; see [the guide](crate::guide::stores#turns-through-the-store)).
///
/// Tested against MariaDB 10.11 (Debian's), which `.ci/run` starts: the conformance suite, the
/// race tests, a crash and restart, a locked row and a frozen server. MySQL 8 is written for
/// (the same SQL) but not tested here; neither is TLS to either (sqlx's `ssl-mode` in the URL,
/// with a TLS feature of sqlx).
///
/// ```no_run
/// # async fn run() -> Result<(), sessionly::StoreError> {
/// use std::time::Duration;
/// use sessionly::{MySqlStore, SessionLayer};
///
/// let store = MySqlStore::connect("mysql://app:password@127.0.0.1/app").await?;
/// store.migrate().await?;
/// let layer = SessionLayer::builder().secret("a long random secret, 32 bytes or more").store(store).build();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MySqlStore(SqlStore<MySqlDialect>);

sql_store!(MySqlStore, leases);

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
    /// comes back. A server that vanishes without a word (a crashed host, a NAT that forgot
    /// the flow) is handled too: after a call ran out of time, a connection going back to the
    /// pool must answer a ping within `timeout` or is closed, and when none of the pool's
    /// connections comes free while the server answers nothing for twice `timeout`, the pool is
    /// replaced by a new one. A pool you pass to [`new`](Self::new) gets neither.
    pub async fn connect_with_timeout(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let (pool, stalled) = pool(url, timeout).await.map_err(backend)?;
        Ok(Self(Self::new(pool).0.renewable(stalled)).with_query_timeout(timeout))
    }

    /// A store on your own pool, in the table `sessions`, with a query timeout of 2 s
    /// ([`with_query_timeout`](MySqlStore::with_query_timeout) changes it). Give the pool's
    /// connections server-side limits no longer than the query timeout, as
    /// [`connect_with_timeout`](MySqlStore::connect_with_timeout) does: without them, a
    /// statement the store gave up on may still run, and land, later.
    pub fn new(pool: MySqlPool) -> Self {
        let store = SqlStore::new(pool, Some(DEFAULT_QUERY_TIMEOUT + CLIENT_GRACE));
        Self(store.with_cleanup(Some(DEFAULT_CLEANUP_EVERY)))
    }

    /// How long a store call waits for an answer: it fails `timeout` + 0.5 s after it started.
    /// This is the client's side only; the server's limits are set when the pool connects (see
    /// [`connect_with_timeout`](MySqlStore::connect_with_timeout)).
    pub fn with_query_timeout(self, timeout: Duration) -> Self {
        // The cleanup task runs with the new deadline too.
        let every = self.0.cleanup_every();
        Self(
            self.0
                .with_deadline(timeout + CLIENT_GRACE)
                .with_cleanup(every),
        )
    }

    /// Keeps sessions in the table `name` (default `sessions`).
    ///
    /// The name must be a plain SQL identifier: ASCII letters, digits and `_`, not starting with
    /// a digit, at most 48 characters. It is folded to lower case (MySQL's table names follow
    /// the file system's case rules). Any other name is an error.
    pub fn with_table(self, name: &str) -> Result<Self, StoreError> {
        // The cleanup moves to the new table.
        let every = self.0.cleanup_every();
        Ok(Self(self.0.with_table(name)?.with_cleanup(every)))
    }

    /// How long a session without expiry is kept after its last write or touch.
    pub fn with_idle_ttl(self, ttl: Duration) -> Self {
        Self(self.0.with_idle_ttl(ttl))
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
        for statement in self.0.sql.migration() {
            sqlx::raw_sql(sql(statement))
                .execute(&self.0.pool.get())
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    /// Deletes every expired session now and returns how many there were.
    ///
    /// Expired sessions are never returned, but their rows stay until deleted: call this from
    /// time to time, or leave it to the store's cleanup task ([`MySqlStore::with_cleanup`]).
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

/// A pool of its own on `url` whose connections wait at most `timeout` for a row lock (and, on
/// MariaDB, stop any statement after `timeout`), and which waits at most that long for a
/// connection.
async fn pool(url: &str, timeout: Duration) -> Result<(MySqlPool, Arc<AtomicU64>), sqlx::Error> {
    let options = MySqlConnectOptions::from_str(url)?;
    let stalled = stall_clock();
    let on_release = Arc::clone(&stalled);
    // Numbers only: safe to write into the statements.
    let lock_wait = timeout.as_secs().max(1);
    let seconds = timeout.as_secs_f64();
    let millis = timeout.as_millis().max(1);
    let pool = MySqlPoolOptions::new()
        .acquire_timeout(timeout)
        .after_release(move |connection, _| alive_on_release(connection, timeout, &on_release))
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
        .await?;
    Ok((pool, stalled))
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

/// MySQL's and MariaDB's SQL, and how their values and rows look. Parameters are positional
/// (`?`): each statement lists its values in the order they appear.
struct MySqlDialect;

impl Dialect for MySqlDialect {
    type Db = sqlx::MySql;
    type Row = Row;
    /// The id and the owner are byte strings (`VARBINARY`).
    type Key<'a> = Option<&'a [u8]>;

    const TYPE: &'static str = "MySqlStore";
    const STORE: &'static str = "mysql";

    fn statements(table: &str) -> Statements {
        use Param::*;
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
        };
        Statements {
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
            get: Statement::new(
                format!(
                    "SELECT id, cookie, owner, CASE WHEN size <= ? THEN fields END, \
                            CASE WHEN size > ? THEN size END \
                     FROM (SELECT s.id, s.cookie, s.owner, {fields} AS fields, {size} AS size \
                           FROM {t} AS s WHERE s.id = ? AND s.expires_ms > ?) AS sized"
                ),
                &[Limit, Limit, Id, Now],
            ),
            all: Statement::new(select("s.expires_ms > ?"), &[Now]),
            sessions_of: Statement::new(select("s.owner = ? AND s.expires_ms > ?"), &[Owner, Now]),
            upsert: Statement::new(
                format!(
                    "INSERT INTO {t} (cookie, fields, expires_ms, owner, id) \
                     VALUES (?, ?, ?, ?, ?) \
                     ON DUPLICATE KEY UPDATE \
                         cookie = VALUES(cookie), \
                         fields = VALUES(fields), \
                         expires_ms = VALUES(expires_ms), \
                         owner = VALUES(owner)"
                ),
                &[Cookie, Fields, Expires, Owner, Id],
            ),
            replace: Statement::new(
                format!(
                    "UPDATE {t} SET cookie = ?, fields = ?, expires_ms = ?, \
                         owner = CASE WHEN ? THEN ? ELSE owner END \
                     WHERE id = ? AND expires_ms > ?"
                ),
                &[Cookie, Fields, Expires, WritesOwner, Owner, Id, Now],
            ),
            // One statement under the row's lock: a concurrent patch of other fields waits for
            // it, then applies its own change to what this one left. Only an object is patched:
            // a merge patch would turn any other JSON value into an object of just the changed
            // fields.
            patch: Statement::new(
                format!(
                    "UPDATE {t} SET \
                         cookie = ?, fields = JSON_MERGE_PATCH(fields, ?), expires_ms = ?, \
                         owner = CASE WHEN ? THEN ? ELSE owner END \
                     WHERE id = ? AND expires_ms > ? AND JSON_TYPE(fields) = 'OBJECT'"
                ),
                &[Cookie, Patch, Expires, WritesOwner, Owner, Id, Now],
            ),
            touch: Statement::new(
                format!(
                    "UPDATE {t} SET cookie = ?, expires_ms = ? WHERE id = ? AND expires_ms > ?"
                ),
                &[Cookie, Expires, Id, Now],
            ),
            destroy: Statement::new(format!("DELETE FROM {t} WHERE id = ?"), &[Id]),
            // Live rows only, so the count is of sessions that were in use; an expired one is
            // left to `delete_expired`.
            destroy_sessions_of: Statement::new(
                format!(
                    "DELETE FROM {t} \
                     WHERE owner = ? AND (? IS NULL OR id <> ?) AND expires_ms > ?"
                ),
                &[Owner, Keep, Keep, Now],
            ),
            clear: Statement::new(format!("DELETE FROM {t}"), &[]),
            length: Statement::new(
                format!("SELECT COUNT(*) FROM {t} WHERE expires_ms > ?"),
                &[Now],
            ),
            delete_expired: Statement::new(
                format!("DELETE FROM {t} WHERE expires_ms <= ?"),
                &[Now],
            ),
            // MySQL evaluates the assignments in order: `token` is decided before `until_ms`
            // changes, both on the lease as it was.
            turns: Some(TurnStatements {
                lease: Statement::new(
                    format!(
                        "INSERT INTO {turns} (id, token, until_ms) VALUES (?, ?, ?) \
                         ON DUPLICATE KEY UPDATE \
                             token = IF(until_ms <= ?, VALUES(token), token), \
                             until_ms = IF(until_ms <= ?, VALUES(until_ms), until_ms)"
                    ),
                    &[Id, Token, Until, Now, Now],
                ),
                // The upsert cannot say whether it took the lease: whose it is can. `token` is
                // a byte string, compared byte for byte.
                mine: Some(Statement::new(
                    format!("SELECT 1 FROM {turns} WHERE id = ? AND token = ?"),
                    &[Id, Token],
                )),
                hold: Statement::new(
                    format!(
                        "SELECT 1 FROM {turns} \
                         WHERE id = ? AND token = ? AND until_ms > ? FOR UPDATE"
                    ),
                    &[Id, Token, Now],
                ),
                release: Statement::new(
                    format!("DELETE FROM {turns} WHERE id = ? AND token = ?"),
                    &[Id, Token],
                ),
                delete_lapsed: Statement::new(
                    format!("DELETE FROM {turns} WHERE until_ms <= ?"),
                    &[Now],
                ),
            }),
        }
    }

    fn key(text: Option<&str>) -> Option<&[u8]> {
        text.map(str::as_bytes)
    }

    fn rows_affected(done: &MySqlQueryResult) -> u64 {
        done.rows_affected()
    }

    fn oversize(row: &Row) -> Option<i64> {
        row.4
    }

    fn sessions(rows: Vec<Row>) -> Vec<(String, Record)> {
        rows.into_iter().filter_map(parse).collect()
    }

    /// An id or owner longer than its column names no session (only a custom `genid` can make
    /// such an id): loading it finds none, and a new session is given a new id.
    fn holds(text: &str) -> bool {
        text.len() <= MAX_ID_LEN
    }

    /// An owner longer than its column (when the write sets it), or a whole write under an id
    /// longer than its column: an error that says so.
    fn unwritable(id: &str, record: &Record, changed: Changed<'_>) -> Option<String> {
        if let Some(owner) = &record.owner
            && owner.len() > MAX_OWNER_LEN
            && changed.writes_owner()
        {
            return Some(format!(
                "the session's owner is {} bytes long; the store holds at most {MAX_OWNER_LEN}",
                owner.len()
            ));
        }
        if changed.fields().is_none() && id.len() > MAX_ID_LEN {
            return Some(format!(
                "the session id is {} bytes long; the store holds at most {MAX_ID_LEN}",
                id.len()
            ));
        }
        None
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
    sql::backend::<MySqlDialect>(error)
}
