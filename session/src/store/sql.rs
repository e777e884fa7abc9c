//! What the SQL stores (`PostgresStore`, `MySqlStore`, `SqliteStore`) share: one body
//! ([`SqlStore`], in `body`) that makes every store call the same way in each dialect, over a
//! [`Dialect`] (in `dialect`) that supplies the statements in its SQL, the values each takes in
//! its order, and how its rows are read. Here: the table name and its check, the expiry column
//! and its clock, what an update that found no row means, the cleanup task, the deadline on a
//! server's answer, the JSON object of base64 fields, and reading a row's cookie state, owner
//! and field values back.

mod body;
mod dialect;
mod pool;

use std::future::Future;
use std::sync::Arc;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sqlx::AssertSqlSafe;

pub(super) use self::body::{SqlStore, backend, sql_store};
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(super) use self::dialect::OwnerUpgrade;
#[cfg(feature = "postgres")]
pub(super) use self::dialect::Query;
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(super) use self::dialect::TurnStatements;
pub(super) use self::dialect::{Dialect, Param, Statement, Statements};
pub(super) use self::pool::Pools;
use crate::record::{CookieState, Fields, millis_since_epoch};
use crate::store::StoreError;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use crate::store::monotonic_ms;

/// The table a store keeps its sessions in unless told otherwise (`with_table`).
pub(super) const DEFAULT_TABLE: &str = "sessions";

/// Leaves room for the index names (`<table>_expires_ms_idx`, the longer one, and
/// `<table>_owner_idx`) within PostgreSQL's 63 bytes (MySQL's 64); SQLite keeps the same bound,
/// so that a name valid for one store is valid for the others.
const MAX_TABLE_LEN: usize = 48;

/// How long a statement may run by default on a database server, as long as the Redis store
/// waits for an answer.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(super) const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// How much longer than the server's own limits (its statement timeout) a store call waits for
/// an answer. The server cancels a statement that runs too long (a lock wait included) by
/// itself, and the connection stays usable; the client gives up only when the server does not
/// answer at all (frozen, unreachable), a little later, so that an answered statement is never
/// left undecided.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(super) const CLIENT_GRACE: Duration = Duration::from_millis(500);

/// A statement for sqlx. It is safe to run as SQL because its only variable part is the table
/// name, checked by [`table_name`]; values are bound.
pub(super) fn sql(statement: &Arc<str>) -> AssertSqlSafe<Arc<str>> {
    AssertSqlSafe(Arc::clone(statement))
}

/// A plain SQL identifier, folded to lower case: PostgreSQL folds unquoted names so, and SQLite
/// compares names without case anyway. The error says what a valid name is.
pub(super) fn table_name(name: &str) -> Result<String, String> {
    let plain = name.len() <= MAX_TABLE_LEN
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(format!(
            "invalid table name {name:?}: use ASCII letters, digits and `_`, not starting with \
             a digit, at most {MAX_TABLE_LEN} characters"
        ))
    }
}

/// `call`'s outcome, or an error once `deadline` has passed without one (a frozen server, or
/// one that vanished without a word). The outcome goes to `pools` (see [`Pools`]); a call that
/// did not finish, because it ran out of time or because the request was dropped, is noted as a
/// stall before its connection goes back to the pool (see [`alive_on_release`]).
pub(super) async fn within<T, DB: sqlx::Database>(
    deadline: Duration,
    pools: &Pools<DB>,
    call: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, Box<dyn std::error::Error + Send + Sync>> {
    let mut call = std::pin::pin!(call);
    // Declared after `call`, so dropped before it: the stall is noted before the connection
    // the call holds goes back to the pool.
    let mut unfinished = Unfinished(Some(pools));
    match tokio::time::timeout(deadline, call.as_mut()).await {
        Ok(result) => {
            unfinished.0 = None;
            pools.noted(&result);
            Ok(result?)
        }
        Err(_) => {
            pools.no_answer();
            Err(format!("no answer from the server within {deadline:?}").into())
        }
    }
}

/// Notes a stall in its pools when dropped, unless the call finished.
struct Unfinished<'a, DB: sqlx::Database>(Option<&'a Pools<DB>>);

impl<DB: sqlx::Database> Drop for Unfinished<'_, DB> {
    fn drop(&mut self) {
        if let Some(pools) = self.0 {
            pools.stalled();
        }
    }
}

/// How long after a call did not finish a connection going back to its pool is checked.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const STALL_CHECKS_FOR: Duration = Duration::from_secs(5);

/// The `after_release` check of the pools the stores make (PostgreSQL, MySQL), for a
/// connection whose server vanished without a word (a crashed host, a failover that moved the
/// address, a NAT that forgot the flow). A call that does not finish leaves its connection
/// mid-statement, and sqlx pings every connection going back to the pool with no time limit:
/// on such a connection the ping would wait for the server's next retransmission or for the
/// kernel to give up (minutes; about 15 of them for a host that is gone), holding one of the
/// pool's connections all along, so that a few such calls leave the pool with none and every
/// request failing long after the network healed. So for a few seconds after a call of this
/// pool did not finish (`stalled`, ms on [`monotonic_ms`]), a connection going back must answer
/// a ping within `timeout`, or it is closed (sqlx logs the error). Otherwise this costs
/// nothing: sqlx's own ping follows.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(super) fn alive_on_release<'c, C: sqlx::Connection>(
    connection: &'c mut C,
    timeout: Duration,
    stalled: &AtomicU64,
) -> std::pin::Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + 'c>> {
    let stalled = stalled.load(Ordering::Relaxed);
    let recent = stalled != 0
        && monotonic_ms().saturating_sub(stalled) < STALL_CHECKS_FOR.as_millis() as u64;
    Box::pin(async move {
        if !recent {
            return Ok(true);
        }
        match tokio::time::timeout(timeout, connection.ping()).await {
            Ok(answered) => answered.map(|()| true),
            Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "a connection going back to the pool after a store call did not finish \
                     did not answer a ping within {timeout:?}; closing it"
                ),
            ))),
        }
    })
}

/// A pool's stall time, shared by its `after_release` check and the store's [`Pools`]: see
/// [`alive_on_release`].
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(super) fn stall_clock() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(0))
}

/// Now, in ms since the epoch, as the `expires_ms` column stores it.
pub(super) fn now_ms() -> i64 {
    i64::try_from(millis_since_epoch(SystemTime::now())).unwrap_or(i64::MAX)
}

/// The `expires_ms` of a row written now: [`CookieState::store_expiry_ms`], the cookie's expiry
/// (or `idle_ttl` from now for a browser-session cookie) capped by the absolute expiry.
pub(super) fn expires_ms(cookie: &CookieState, idle_ttl: Duration) -> i64 {
    let ms = cookie.store_expiry_ms(idle_ttl, SystemTime::now());
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The outcome of an update-only write (a patch, a touch) from the rows it changed: none means
/// the row was not there or had expired, which the contract calls [`StoreError::Gone`].
pub(super) fn updated(rows_affected: u64) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(StoreError::Gone)
    } else {
        Ok(())
    }
}

/// A row count from the database as a `usize`.
pub(super) fn count(rows: impl TryInto<usize>) -> usize {
    rows.try_into().unwrap_or(usize::MAX)
}

/// How often an SQL store deletes its expired rows unless told otherwise (`with_cleanup`).
pub const DEFAULT_CLEANUP_EVERY: Duration = Duration::from_secs(10 * 60);

/// How long after a store is made its cleanup first runs, at most.
const FIRST_CLEANUP_AFTER: Duration = Duration::from_secs(5);

/// A store's task that deletes its expired rows now and then every `every`. Clones of the
/// store share it; it stops when the last of them is dropped (or changes its cleanup).
#[derive(Clone)]
pub(super) struct Cleanup(Arc<CleanupTask>);

struct CleanupTask {
    every: Duration,
    task: tokio::task::AbortHandle,
}

impl Drop for CleanupTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Cleanup {
    /// Runs `delete_expired` now and then every `every` on a task of the current Tokio
    /// runtime; a failure is logged and retried at the next tick. Outside a runtime there is
    /// nothing to run it on: `None`, and a warning naming `store` and the fix.
    pub(super) fn start<F, Fut>(store: &str, every: Duration, delete_expired: F) -> Option<Self>
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<u64, StoreError>> + Send + 'static,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                store,
                "session store made outside a Tokio runtime: its expired sessions are not \
                 deleted by themselves; call `with_cleanup(Some(..))` on it inside the \
                 runtime, or `delete_expired()` from time to time"
            );
            return None;
        };
        let task = runtime.spawn(async move {
            // Not at once: the store is usually made before its table (`migrate`) or before
            // `with_table` picks another one, which replaces this task.
            let every = every.max(Duration::from_millis(1));
            let first = tokio::time::Instant::now() + every.min(FIRST_CLEANUP_AFTER);
            let mut ticks = tokio::time::interval_at(first, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match delete_expired().await {
                    Ok(deleted) => tracing::debug!(deleted, "deleted expired sessions"),
                    Err(error) => tracing::warn!(%error, "deleting expired sessions failed"),
                }
            }
        });
        Some(Self(Arc::new(CleanupTask {
            every,
            task: task.abort_handle(),
        })))
    }

    /// How often it runs.
    pub(super) fn every(&self) -> Duration {
        self.0.every
    }
}

/// A row's cookie state, when it decodes and the row's `fields` is a JSON object (`object`);
/// otherwise logged, naming the `database`, and `None`.
pub(super) fn read_cookie(database: &str, cookie: &[u8], object: bool) -> Option<CookieState> {
    let cookie = match CookieState::decode(cookie) {
        Ok(cookie) => cookie,
        Err(error) => {
            tracing::warn!(
                %error,
                "corrupt session cookie state in {database}; treating the session as missing"
            );
            return None;
        }
    };
    if !object {
        tracing::warn!(
            "session fields in {database} are not a JSON object; treating the session as missing"
        );
        return None;
    }
    Some(cookie)
}

/// A field's bytes from its stored value, a base64 string (`None` when the JSON value was not a
/// string); one that cannot be read is logged, naming the `database`, and `None`: the caller
/// leaves the field out, so it gets its default and the rest of the session survives.
pub(super) fn read_field(database: &str, name: &str, value: Option<String>) -> Option<Vec<u8>> {
    let Some(value) = value else {
        tracing::warn!(
            field = %name,
            "session field in {database} is not a string; resetting it to its default"
        );
        return None;
    };
    STANDARD
        .decode(value)
        .map_err(|error| {
            tracing::warn!(
                field = %name,
                %error,
                "corrupt session field in {database}; resetting it to its default"
            );
        })
        .ok()
}

/// A record's fields as the JSON object a row keeps: `{"<name>": "<base64 of the value>", ...}`.
pub(super) fn json_fields(fields: &Fields) -> String {
    json_object(
        fields
            .iter()
            .map(|(name, value)| (name.as_str(), Some(value.as_ref()))),
    )
}

/// A JSON merge patch (RFC 7396) of the `changed` fields: a changed field's new value from
/// `fields`, `null` for a removed one (not in `fields`).
pub(super) fn json_patch(fields: &Fields, changed: &std::collections::BTreeSet<String>) -> String {
    json_object(changed.iter().map(|name| {
        let value = fields.get(name).map(AsRef::as_ref);
        (name.as_str(), value)
    }))
}

/// A JSON object of base64 strings, `null` where the value is `None`: a whole `fields` value,
/// or a JSON merge patch (RFC 7396) when some values are `None` (those fields are removed).
fn json_object<'a>(entries: impl Iterator<Item = (&'a str, Option<&'a [u8]>)>) -> String {
    let mut json = String::from("{");
    for (i, (name, value)) in entries.enumerate() {
        if i > 0 {
            json.push(',');
        }
        push_json_string(&mut json, name);
        json.push(':');
        match value {
            Some(bytes) => {
                json.push('"');
                STANDARD.encode_string(bytes, &mut json);
                json.push('"');
            }
            None => json.push_str("null"),
        }
    }
    json.push('}');
    json
}

/// Appends `s` as a JSON string literal (RFC 8259: quote, backslash and control characters
/// escaped).
fn push_json_string(json: &mut String, s: &str) {
    json.push('"');
    for c in s.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            c if u32::from(c) < 0x20 => json.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => json.push(c),
        }
    }
    json.push('"');
}

/// A row's owner, stored as bytes; one that is not UTF-8 is logged, naming the `database`, and
/// the session treated as missing (`None`): whose it is cannot be known, so it must not be
/// listed or kept under the wrong owner.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(super) fn read_owner(database: &str, owner: Option<Vec<u8>>) -> Option<Option<String>> {
    match owner.map(String::from_utf8).transpose() {
        Ok(owner) => Some(owner),
        Err(_) => {
            tracing::warn!(
                "session owner in {database} is not UTF-8; treating the session as missing"
            );
            None
        }
    }
}
