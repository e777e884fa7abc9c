//! Sessions in PostgreSQL: one row per session in a table of their own, through sqlx.
//!
//! A row holds the cookie state (`cookie`), the encoded fields as a `jsonb` object of base64
//! strings (`fields`), the expiry (`expires_ms`, indexed) and the owner (`owner`, indexed). A
//! change patches the `jsonb` object in one `UPDATE`, so two requests that change different
//! fields of one session both keep their change; being an `UPDATE`, it never brings back a row
//! that was deleted or has expired. Expired rows are never returned;
//! a task the store starts deletes them every 10 minutes
//! ([`PostgresStore::with_cleanup`]; [`PostgresStore::delete_expired`] does it at once).
//!
//! The per-owner index ([`OwnerIndex::sessions_of`], [`OwnerIndex::destroy_sessions_of`]) is an index on
//! `owner`, partial: sessions without an owner are not in it and cost it nothing. PostgreSQL
//! writes a new version of a row on every update, so each write or touch of a session with an
//! owner also adds an entry to that index (as to the expiry index), which `VACUUM` reclaims like
//! the dead rows. Listing an owner's sessions, or deleting them, is one statement that scans just
//! their entries.
//!
//! The store does not create its table by itself: call [`PostgresStore::migrate`] once at
//! startup, or create the table with your own migrations (its shape is in `migrate`'s doc).
//!
//! [`OwnerIndex::sessions_of`]: crate::store::OwnerIndex::sessions_of
//! [`OwnerIndex::destroy_sessions_of`]: crate::store::OwnerIndex::destroy_sessions_of

use std::collections::BTreeSet;
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgQueryResult};

use crate::record::{Fields, Record};
use crate::store::StoreError;
use crate::store::sql::{
    self, CLIENT_GRACE, DEFAULT_CLEANUP_EVERY, DEFAULT_QUERY_TIMEOUT, Dialect, OwnerUpgrade, Param,
    Query, SqlStore, Statement, Statements, TurnStatements, alive_on_release, read_cookie,
    read_field, sql, sql_store, stall_clock,
};

/// How the warnings about unreadable rows name the database.
const DATABASE: &str = "PostgreSQL";

/// A session store on a PostgreSQL table.
///
/// Pick it to keep sessions next to the app's data (feature `postgres`; `postgres-tls` for TLS,
/// set in the URL: see [the guide to stores](crate::guide::stores#over-tls-managed-redis-and-postgresql)).
/// A table (`sessions` by default, [`with_table`](PostgresStore::with_table)) created by
/// [`migrate`](PostgresStore::migrate), fields in a `jsonb` object patched by one `UPDATE`, an
/// indexed `expires_ms` column. [`PostgresStore::new(pool)`](PostgresStore::new) takes your own
/// pool.
///
/// Every call has a query timeout (2 s, or
/// [`connect_with_timeout(url, d)`](PostgresStore::connect_with_timeout)): the server cancels a
/// statement that runs longer, a lock wait included, and a call the server has not answered
/// 0.5 s later (a frozen or unreachable server) fails, so an outage is a prompt error that does
/// not hold the session's turn. With your own pool, give its connections a `statement_timeout`
/// no longer than [`with_query_timeout(d)`](PostgresStore::with_query_timeout).
///
/// It has the per-owner index, listing and the store-side turn of
/// [`store_turns`](crate::SessionLayerBuilder::store_turns) (a lease row in `<table>_turns`,
/// unlogged, made by `migrate`; see [the guide](crate::guide::stores#turns-through-the-store)).
///
/// ```no_run
/// # async fn run() -> Result<(), sessionly::StoreError> {
/// use std::time::Duration;
/// use sessionly::{PostgresStore, SessionLayer};
///
/// let store = PostgresStore::connect("postgres://app@127.0.0.1/app").await?;
/// store.migrate().await?;
/// let layer = SessionLayer::builder().secret("a long random secret, 32 bytes or more").store(store).build();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore(SqlStore<PostgresDialect>);

sql_store!(PostgresStore, leases);

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
    /// ([`with_query_timeout`](PostgresStore::with_query_timeout) changes it). Give the pool's connections a `statement_timeout` no
    /// longer than the query timeout (`PgConnectOptions::options`), as
    /// [`connect_with_timeout`](PostgresStore::connect_with_timeout) does: without one, a
    /// statement the store gave up on may still run, and land, later.
    pub fn new(pool: PgPool) -> Self {
        let store = SqlStore::new(pool, Some(DEFAULT_QUERY_TIMEOUT + CLIENT_GRACE));
        Self(store.with_cleanup(Some(DEFAULT_CLEANUP_EVERY)))
    }

    /// How long a store call waits for an answer: it fails `timeout` + 0.5 s after it started.
    /// This is the client's side only; the server's `statement_timeout` is set when the pool
    /// connects (see [`connect_with_timeout`](PostgresStore::connect_with_timeout)).
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
    /// a digit, at most 48 characters. Like PostgreSQL does with unquoted names, it is folded to
    /// lower case. Any other name is an error.
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
        let store = &self.0;
        let mut tx = store.pool.get().begin().await.map_err(backend)?;
        // Two `CREATE TABLE IF NOT EXISTS` at once can both find no table, and one then fails.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("session migrate {}", store.sql.table))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        for statement in store.sql.migration() {
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
    /// time to time, or leave it to the store's cleanup task ([`PostgresStore::with_cleanup`]).
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

/// A pool of its own on `url` whose statements the server cancels after `timeout`, and which
/// waits at most that long for a connection; with the stall time its release check reads (see
/// `alive_on_release`).
pub(super) async fn pool(
    url: &str,
    timeout: Duration,
) -> Result<(PgPool, Arc<AtomicU64>), sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?
        .options([("statement_timeout", timeout.as_millis().max(1).to_string())]);
    let stalled = stall_clock();
    let on_release = Arc::clone(&stalled);
    let pool = PgPoolOptions::new()
        .acquire_timeout(timeout)
        .after_release(move |connection, _| alive_on_release(connection, timeout, &on_release))
        .connect_with(options)
        .await?;
    Ok((pool, stalled))
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

/// PostgreSQL's SQL, and how its values and rows look.
struct PostgresDialect;

impl Dialect for PostgresDialect {
    type Db = sqlx::Postgres;
    type Row = Row;
    type Key<'a> = Option<&'a str>;

    const TYPE: &'static str = "PostgresStore";
    const STORE: &'static str = "postgres";

    fn statements(table: &str) -> Statements {
        use Param::*;
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
        };
        Statements {
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
            get: Statement::new(
                select("s.id = $1 AND s.expires_ms > $2", Some("$3")),
                &[Id, Now, Limit],
            ),
            all: Statement::new(select("s.expires_ms > $1", None), &[Now]),
            sessions_of: Statement::new(
                select("s.owner = $1 AND s.expires_ms > $2", None),
                &[Owner, Now],
            ),
            // `Fields` is `$3` and `$4`: the names and the values.
            upsert: Statement::new(
                format!(
                    "INSERT INTO {t} (id, cookie, fields, expires_ms, owner) \
                 VALUES ($1, $2, jsonb_object($3::text[], $4::text[]), $5, $6) \
                 ON CONFLICT (id) DO UPDATE SET \
                     cookie = EXCLUDED.cookie, \
                     fields = EXCLUDED.fields, \
                     expires_ms = EXCLUDED.expires_ms, \
                     owner = EXCLUDED.owner"
                ),
                &[Id, Cookie, Fields, Expires, Owner],
            ),
            replace: Statement::new(
                format!(
                    "UPDATE {t} SET \
                     cookie = $2, \
                     fields = jsonb_object($3::text[], $4::text[]), \
                     expires_ms = $5, \
                     owner = CASE WHEN $8 THEN $6 ELSE owner END \
                 WHERE id = $1 AND expires_ms > $7"
                ),
                &[Id, Cookie, Fields, Expires, Owner, Now, WritesOwner],
            ),
            // Atomic per row: a concurrent patch of other fields waits for the row lock, then
            // applies its own change to the row this one left (PostgreSQL re-checks the WHERE
            // clause on the newest version, so a row deleted meanwhile is not updated).
            // `Patch` is `$3` to `$5`: the removed names, the written names and their values.
            patch: Statement::new(
                format!(
                    "UPDATE {t} SET \
                         cookie = $2, \
                         fields = (fields - $3::text[]) || jsonb_object($4::text[], $5::text[]), \
                         expires_ms = $6, \
                         owner = CASE WHEN $9 THEN $7 ELSE owner END \
                     WHERE id = $1 AND expires_ms > $8 AND jsonb_typeof(fields) = 'object'"
                ),
                &[Id, Cookie, Patch, Expires, Owner, Now, WritesOwner],
            ),
            touch: Statement::new(
                format!(
                    "UPDATE {t} SET cookie = $2, expires_ms = $3 WHERE id = $1 AND expires_ms > $4"
                ),
                &[Id, Cookie, Expires, Now],
            ),
            destroy: Statement::new(format!("DELETE FROM {t} WHERE id = $1"), &[Id]),
            // Live rows only, so the count is of sessions that were in use; an expired one is
            // left to `delete_expired`.
            destroy_sessions_of: Statement::new(
                format!(
                    "DELETE FROM {t} \
                     WHERE owner = $1 AND id IS DISTINCT FROM $2 AND expires_ms > $3"
                ),
                &[Owner, Keep, Now],
            ),
            clear: Statement::new(format!("DELETE FROM {t}"), &[]),
            length: Statement::new(
                format!("SELECT count(*) FROM {t} WHERE expires_ms > $1"),
                &[Now],
            ),
            delete_expired: Statement::new(
                format!("DELETE FROM {t} WHERE expires_ms <= $1"),
                &[Now],
            ),
            turns: Some(TurnStatements {
                // Answers the token when it took the lease.
                lease: Statement::new(
                    format!(
                        "INSERT INTO {turns} (id, token, until_ms) VALUES ($1, $2, $3 + $4) \
                         ON CONFLICT (id) DO UPDATE \
                             SET token = EXCLUDED.token, until_ms = EXCLUDED.until_ms \
                             WHERE {turns}.until_ms <= $3 \
                         RETURNING token"
                    ),
                    &[Id, Token, Now, Ttl],
                ),
                mine: None,
                hold: Statement::new(
                    format!(
                        "SELECT 1 FROM {turns} \
                         WHERE id = $1 AND token = $2 AND until_ms > $3 FOR UPDATE"
                    ),
                    &[Id, Token, Now],
                ),
                release: Statement::new(
                    format!("DELETE FROM {turns} WHERE id = $1 AND token = $2"),
                    &[Id, Token],
                ),
                delete_lapsed: Statement::new(
                    format!("DELETE FROM {turns} WHERE until_ms <= $1"),
                    &[Now],
                ),
            }),
        }
    }

    fn key(text: Option<&str>) -> Option<&str> {
        text
    }

    /// Two arrays (`$3` and `$4` of `upsert` and `replace`): the names and the values.
    fn bind_fields(query: Query<Self>, fields: &Fields) -> Query<Self> {
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        let values: Vec<String> = fields.values().map(|v| STANDARD.encode(v)).collect();
        query.bind(names).bind(values)
    }

    /// Three arrays (`$3` to `$5` of `patch`): the removed names, the written names and their
    /// values.
    fn bind_patch(query: Query<Self>, fields: &Fields, changed: &BTreeSet<String>) -> Query<Self> {
        let (written, removed): (Vec<&str>, Vec<&str>) = changed
            .iter()
            .map(String::as_str)
            .partition(|name| fields.contains_key(*name));
        let values: Vec<String> = written
            .iter()
            .map(|name| STANDARD.encode(&fields[*name]))
            .collect();
        query.bind(removed).bind(written).bind(values)
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    fn oversize(row: &Row) -> Option<i64> {
        row.6
    }

    fn sessions(rows: Vec<Row>) -> Vec<(String, Record)> {
        rows.into_iter().filter_map(parse).collect()
    }

    /// PostgreSQL's `TEXT` has no NUL character, and a statement that binds one fails.
    fn holds(text: &str) -> bool {
        storable(text)
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
    sql::backend::<PostgresDialect>(error)
}
