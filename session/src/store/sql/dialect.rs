//! What a SQL database does its own way, as the shared body ([`SqlStore`](super::SqlStore))
//! asks for it: the statements in its dialect, each with the values it takes in the order its
//! placeholders bind them, the SQL types those values are bound as, and how its rows are read.

use std::collections::BTreeSet;
use std::sync::Arc;

use sqlx::{Database, Encode, FromRow, Type};

use crate::record::{Fields, Record};
use crate::store::Changed;

use super::{json_fields, json_patch, now_ms};

/// A query of the dialect's database, its values bound one by one.
pub(in crate::store) type Query<D> =
    sqlx::query::Query<'static, <D as Dialect>::Db, <<D as Dialect>::Db as Database>::Arguments>;

/// One SQL database: PostgreSQL, MySQL/MariaDB or SQLite. The store's logic (what is checked,
/// which statement runs, in which transaction, what an answer means) is the same for all of
/// them and lives in [`SqlStore`](super::SqlStore); a dialect supplies only what differs.
pub(in crate::store) trait Dialect: Sized + Send + Sync + 'static {
    /// sqlx's driver.
    type Db: Database;
    /// A row as the dialect's `SELECT`s of sessions answer it.
    type Row: for<'r> FromRow<'r, <Self::Db as Database>::Row> + Send + Unpin;
    /// A session id or owner (or none: SQL `NULL`) as the id and owner columns take it: text,
    /// or a byte string.
    type Key<'a>: Encode<'a, Self::Db> + Type<Self::Db>;

    /// The public store's name, for its `Debug`.
    const TYPE: &'static str;
    /// The store's name in its errors ([`StoreError::Backend`](crate::StoreError::Backend)).
    const STORE: &'static str;

    /// The statements for `table`, a checked identifier (see [`table_name`](super::table_name)),
    /// so quoting it is enough.
    fn statements(table: &str) -> Statements;

    /// `text`, a session id or owner (or none), as the id and owner columns take it.
    fn key(text: Option<&str>) -> Self::Key<'_>;

    /// Binds a whole write's fields ([`Param::Fields`]); by default as one JSON object of
    /// base64 strings.
    fn bind_fields(query: Query<Self>, fields: &Fields) -> Query<Self>
    where
        String: for<'q> Encode<'q, Self::Db> + Type<Self::Db>,
    {
        query.bind(json_fields(fields))
    }

    /// Binds a patch's `changed` fields ([`Param::Patch`]), their values in `fields`; by
    /// default as one JSON merge patch (RFC 7396: `null` for a removed field).
    fn bind_patch(query: Query<Self>, fields: &Fields, changed: &BTreeSet<String>) -> Query<Self>
    where
        String: for<'q> Encode<'q, Self::Db> + Type<Self::Db>,
    {
        query.bind(json_patch(fields, changed))
    }

    /// How many rows a statement changed.
    fn rows_affected(done: &<Self::Db as Database>::QueryResult) -> u64;

    /// The size of a session that a `get` found over its limit: then the row has no fields.
    fn oversize(row: &Self::Row) -> Option<i64>;

    /// The sessions in `rows` that can be read, in order; one that cannot is logged and left
    /// out.
    fn sessions(rows: Vec<Self::Row>) -> Vec<(String, Record)>;

    /// Whether the columns can hold `text` as an id or an owner. An id they cannot hold names
    /// no session, so a call with it is answered as for a missing session, without a round
    /// trip (and without a statement the server would refuse).
    fn holds(text: &str) -> bool {
        let _ = text;
        true
    }

    /// Why the columns cannot hold this write, if they cannot: it then fails with that reason
    /// before reaching the server.
    fn unwritable(id: &str, record: &Record, changed: Changed<'_>) -> Option<String> {
        let _ = (id, record, changed);
        None
    }
}

/// A value a statement takes, named for what it is; [`SqlStore`](super::SqlStore) binds it
/// from the call's [`Args`], in the dialect's types where they differ ([`Dialect::key`],
/// [`Dialect::bind_fields`], [`Dialect::bind_patch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) enum Param {
    /// The session id.
    Id,
    /// The cookie state, encoded.
    Cookie,
    /// The record's fields, all of them: a whole write.
    Fields,
    /// The changed fields: their new values, and which are removed.
    Patch,
    /// The row's expiry, in ms since the epoch.
    Expires,
    /// The owner: the record's, or the one asked about.
    Owner,
    /// Whether the write sets the owner (else the stored one stays).
    WritesOwner,
    /// Now, in ms since the epoch.
    Now,
    /// The largest session a load takes ([`Record::encoded_size`]).
    Limit,
    /// The session `destroy_sessions_of` keeps.
    Keep,
    /// A lease's token.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    Token,
    /// How long a lease lasts, in ms (PostgreSQL adds it to [`Param::Now`] itself).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Ttl,
    /// When a lease taken now ends, in ms since the epoch.
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    Until,
}

/// The values a store call gives its statements; each statement binds those its
/// [`Statement::params`] name. Values a call has no use for are empty.
#[derive(Debug, Clone, Copy)]
pub(in crate::store) struct Args<'a> {
    pub(in crate::store) id: &'a str,
    pub(in crate::store) cookie: &'a [u8],
    /// The record's fields: what [`Param::Fields`] writes, and the new values of
    /// [`Param::Patch`].
    pub(in crate::store) fields: &'a Fields,
    /// The fields a patch changes: written if in `fields`, else removed.
    pub(in crate::store) changed: &'a BTreeSet<String>,
    pub(in crate::store) expires: i64,
    pub(in crate::store) owner: Option<&'a str>,
    pub(in crate::store) writes_owner: bool,
    pub(in crate::store) now: i64,
    pub(in crate::store) limit: i64,
    pub(in crate::store) keep: Option<&'a str>,
    pub(in crate::store) token: &'a str,
    /// At least 1.
    pub(in crate::store) ttl: i64,
}

static NO_FIELDS: Fields = Fields::new();
static NO_NAMES: BTreeSet<String> = BTreeSet::new();

impl Args<'_> {
    /// No values but the time: now.
    pub(in crate::store) fn now() -> Self {
        Self {
            id: "",
            cookie: &[],
            fields: &NO_FIELDS,
            changed: &NO_NAMES,
            expires: 0,
            owner: None,
            writes_owner: false,
            now: now_ms(),
            limit: 0,
            keep: None,
            token: "",
            ttl: 1,
        }
    }

    /// When a lease taken now ends.
    pub(in crate::store) fn until(&self) -> i64 {
        self.now.saturating_add(self.ttl)
    }
}

/// A statement and the values it takes, in the order its placeholders bind them.
pub(in crate::store) struct Statement {
    /// The SQL.
    pub(in crate::store) text: Arc<str>,
    pub(in crate::store) params: &'static [Param],
}

impl Statement {
    pub(in crate::store) fn new(text: String, params: &'static [Param]) -> Self {
        Self {
            text: text.into(),
            params,
        }
    }
}

/// The statements for one table, built once: the table name cannot be a bind parameter. Each
/// dialect builds them in its own SQL ([`Dialect::statements`]).
pub(in crate::store) struct Statements {
    /// The table, a checked identifier (see [`table_name`](super::table_name)).
    pub(in crate::store) table: Arc<str>,
    /// Creates the table, in its current shape, and the expiry index.
    pub(in crate::store) create: Arc<str>,
    /// Brings a table created before the `owner` column existed up to date; `None` for a store
    /// whose tables always had it (MySQL), whose `create` makes the owner index too.
    pub(in crate::store) upgrade: Option<OwnerUpgrade>,
    /// A live session by id; with [`Param::Limit`], an oversized one comes without its fields
    /// and with its size ([`Dialect::oversize`]).
    pub(in crate::store) get: Statement,
    pub(in crate::store) all: Statement,
    pub(in crate::store) sessions_of: Statement,
    /// Creates or replaces a row (`Changed::All`).
    pub(in crate::store) upsert: Statement,
    /// Replaces a live row whole, never creating one: a patch's fallback when the row's fields
    /// cannot be patched.
    pub(in crate::store) replace: Statement,
    /// Updates the changed fields of a live row whose fields are an object.
    pub(in crate::store) patch: Statement,
    pub(in crate::store) touch: Statement,
    pub(in crate::store) destroy: Statement,
    pub(in crate::store) destroy_sessions_of: Statement,
    pub(in crate::store) clear: Statement,
    pub(in crate::store) length: Statement,
    pub(in crate::store) delete_expired: Statement,
    /// The store-side turn's statements, for a store that has it.
    pub(in crate::store) turns: Option<TurnStatements>,
}

/// The statements of the store-side turn (`store_turns`), on a table of leases beside the
/// sessions' (`<table>_turns`: the session id, the holder's token, the lease's end in ms).
pub(in crate::store) struct TurnStatements {
    /// Takes the lease if no live one is there; answers a row when it took it, unless the
    /// dialect cannot say (then `mine` asks).
    pub(in crate::store) lease: Statement,
    /// Answers a row if the token holds the lease: for a dialect whose upsert cannot say
    /// whether it took it (MySQL).
    pub(in crate::store) mine: Option<Statement>,
    /// Inside the fenced write's transaction: locks the lease row if the token still holds it.
    pub(in crate::store) hold: Statement,
    /// Deletes the lease if the token holds it.
    pub(in crate::store) release: Statement,
    /// Deletes the leases that have ended (their holders died).
    pub(in crate::store) delete_lapsed: Statement,
}

/// The statements that give a table of the first version its `owner` column and index.
pub(in crate::store) struct OwnerUpgrade {
    /// Adds the `owner` column to a table created before it existed.
    pub(in crate::store) add_owner: Arc<str>,
    /// Creates the index on `owner`, once the column is there.
    pub(in crate::store) index_owner: Arc<str>,
}

impl Statements {
    /// What brings the table up to date, in order: `create`, then the upgrade's statements.
    /// Each of them must do nothing when its work is already done (SQLite's `ADD COLUMN` cannot:
    /// its store runs the upgrade itself).
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(in crate::store) fn migration(&self) -> impl Iterator<Item = &Arc<str>> {
        let upgrade = self.upgrade.iter();
        std::iter::once(&self.create)
            .chain(upgrade.flat_map(|upgrade| [&upgrade.add_owner, &upgrade.index_owner]))
    }
}
