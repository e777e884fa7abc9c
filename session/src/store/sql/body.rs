//! The body the SQL stores share: [`SqlStore`] does every store call the same way in each
//! dialect (the checks, which statement runs on which connection, in which transaction, and
//! what its answer means), and [`sql_store!`] makes a public store of it.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use crate::record::Record;
use crate::store::{self, Changed, DEFAULT_IDLE_TTL, StoreError};

use super::dialect::{Args, Dialect, Param, Query, Statement, Statements, TurnStatements};
use super::{
    Cleanup, DEFAULT_TABLE, Pools, count, expires_ms, now_ms, sql, table_name, updated, within,
};

/// A connection of the dialect's database: the pool's, or a transaction's.
type Connection<D> = <<D as Dialect>::Db as Database>::Connection;

/// A session store on a table of dialect `D`'s database.
pub(in crate::store) struct SqlStore<D: Dialect> {
    pub(in crate::store) pool: Pools<D::Db>,
    idle_ttl: Duration,
    /// How long a store call waits for the server before it fails; `None` for an embedded
    /// database (SQLite), whose calls wait for its lock as long as its busy timeout says.
    deadline: Option<Duration>,
    pub(in crate::store) sql: Arc<Statements>,
    /// The task deleting expired rows, shared by the clones that have it.
    cleanup: Option<Cleanup>,
    dialect: PhantomData<D>,
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            idle_ttl: self.idle_ttl,
            deadline: self.deadline,
            sql: Arc::clone(&self.sql),
            cleanup: self.cleanup.clone(),
            dialect: PhantomData,
        }
    }
}

impl<D: Dialect> std::fmt::Debug for SqlStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct(D::TYPE);
        debug
            .field("table", &self.sql.table)
            .field("idle_ttl", &self.idle_ttl);
        if let Some(deadline) = &self.deadline {
            debug.field("deadline", deadline);
        }
        debug.field("cleanup_every", &self.cleanup_every());
        debug.finish_non_exhaustive()
    }
}

impl<D: Dialect> SqlStore<D> {
    /// A store on `pool`, in the table `sessions`, whose calls fail after `deadline`.
    pub(in crate::store) fn new(pool: Pool<D::Db>, deadline: Option<Duration>) -> Self {
        Self {
            pool: Pools::fixed(pool),
            idle_ttl: DEFAULT_IDLE_TTL,
            deadline,
            sql: Arc::new(D::statements(DEFAULT_TABLE)),
            cleanup: None,
            dialect: PhantomData,
        }
    }

    /// How often the store deletes its expired rows, if it does.
    pub(in crate::store) fn cleanup_every(&self) -> Option<Duration> {
        self.cleanup.as_ref().map(Cleanup::every)
    }

    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(in crate::store) fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Keeps sessions in the table `name`, once checked (see [`table_name`]).
    pub(in crate::store) fn with_table(mut self, name: &str) -> Result<Self, StoreError> {
        let table = table_name(name).map_err(backend::<D>)?;
        self.sql = Arc::new(D::statements(&table));
        Ok(self)
    }

    pub(in crate::store) fn with_idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = ttl;
        self
    }

    pub(in crate::store) fn idle_ttl(&self) -> Option<Duration> {
        Some(self.idle_ttl)
    }

    /// The store-side turn's statements, for `operation`: every table `migrate` made in a
    /// dialect with leases has them; without, the operation is unsupported.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))] // Only their stores take turns.
    fn turns(&self, operation: &'static str) -> Result<&TurnStatements, StoreError> {
        self.sql
            .turns
            .as_ref()
            .ok_or(StoreError::unsupported(operation))
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    i64: for<'q> Encode<'q, D::Db> + Type<D::Db>,
    bool: for<'q> Encode<'q, D::Db> + Type<D::Db>,
    String: for<'q> Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q [u8]: Encode<'q, D::Db> + Type<D::Db>,
{
    /// Runs a store call under the deadline, if there is one.
    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        match self.deadline {
            Some(deadline) => within(deadline, &self.pool, call)
                .await
                .map_err(backend::<D>),
            None => call.await.map_err(backend::<D>),
        }
    }

    /// `statement` with the values of `args` it takes bound, in its order.
    fn query(statement: &Statement, args: &Args<'_>) -> Query<D> {
        let query = sqlx::query(sql(&statement.text));
        statement
            .params
            .iter()
            .fold(query, |query, param| match param {
                Param::Id => query.bind(D::key(Some(args.id))),
                Param::Cookie => query.bind(args.cookie),
                Param::Fields => D::bind_fields(query, args.fields),
                Param::Patch => D::bind_patch(query, args.fields, args.changed),
                Param::Expires => query.bind(args.expires),
                Param::Owner => query.bind(D::key(args.owner)),
                Param::WritesOwner => query.bind(args.writes_owner),
                Param::Now => query.bind(args.now),
                Param::Limit => query.bind(args.limit),
                Param::Keep => query.bind(D::key(args.keep)),
                Param::Token => query.bind(args.token),
                Param::Ttl => query.bind(args.ttl),
                Param::Until => query.bind(args.until()),
            })
    }

    /// Runs `statement` on `on` (the pool, a connection, a transaction) and answers how many
    /// rows it changed.
    async fn execute<'c>(
        &self,
        statement: &Statement,
        args: &Args<'_>,
        on: impl Executor<'c, Database = D::Db>,
    ) -> Result<u64, StoreError> {
        let done = self.timed(Self::query(statement, args).execute(on)).await?;
        Ok(D::rows_affected(&done))
    }

    /// Whether `statement`, run on `on`, answers a row.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))] // Only their stores take turns.
    async fn answers<'c>(
        &self,
        statement: &Statement,
        args: &Args<'_>,
        on: impl Executor<'c, Database = D::Db>,
    ) -> Result<bool, StoreError> {
        let row = self
            .timed(Self::query(statement, args).fetch_optional(on))
            .await?;
        Ok(row.is_some())
    }

    /// The rows `statement` answers, as the dialect reads sessions.
    async fn rows(
        &self,
        statement: &Statement,
        args: &Args<'_>,
    ) -> Result<Vec<D::Row>, StoreError> {
        let rows = self
            .timed(Self::query(statement, args).fetch_all(&self.pool.get()))
            .await?;
        rows.iter()
            .map(D::Row::from_row)
            .collect::<Result<_, _>>()
            .map_err(backend::<D>)
    }

    /// The number `statement` answers.
    async fn number(&self, statement: &Statement, args: &Args<'_>) -> Result<i64, StoreError> {
        let row = self
            .timed(Self::query(statement, args).fetch_one(&self.pool.get()))
            .await?;
        let (number,) = <(i64,)>::from_row(&row).map_err(backend::<D>)?;
        Ok(number)
    }

    /// Deletes every expired session now, and the leases that have ended, and answers how many
    /// sessions there were.
    pub(in crate::store) async fn delete_expired(&self) -> Result<u64, StoreError> {
        let deleted = self
            .execute(&self.sql.delete_expired, &Args::now(), &self.pool.get())
            .await?;
        if let Some(turns) = &self.sql.turns {
            // Leases whose holder died before giving them back.
            self.execute(&turns.delete_lapsed, &Args::now(), &self.pool.get())
                .await?;
        }
        Ok(deleted)
    }

    /// Deletes expired rows every `every` (now, then on), on a task this store and its clones
    /// share; `None` stops this store's share of the task it had.
    pub(in crate::store) fn with_cleanup(mut self, every: Option<Duration>) -> Self
    where
        D: 'static,
    {
        self.cleanup = None;
        if let Some(every) = every {
            // The task's own copy has no share in the task, or it would never stop.
            let worker = self.clone();
            self.cleanup = Cleanup::start(D::TYPE, every, move || {
                let store = worker.clone();
                async move { store.delete_expired().await }
            });
        }
        self
    }

    /// Replaces the pool, a copy of the one it was made with, when every connection in it
    /// hangs (see [`Pools`]): for the pools the constructors make.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(in crate::store) fn renewable(mut self, stalled: Arc<AtomicU64>) -> Self
    where
        D: 'static,
    {
        self.pool = Pools::renewable(self.pool.get(), stalled);
        // The cleanup task's copy takes the renewable pool too.
        let every = self.cleanup_every();
        self.with_cleanup(every)
    }

    /// The size is checked in the `SELECT`: an oversized session's fields stay in the database.
    pub(in crate::store) async fn get_within(
        &self,
        id: &str,
        max_size: usize,
    ) -> Result<Option<Record>, StoreError> {
        if !D::holds(id) {
            return Ok(None);
        }
        let limit = i64::try_from(max_size).unwrap_or(i64::MAX);
        let rows = self
            .rows(
                &self.sql.get,
                &Args {
                    id,
                    limit,
                    ..Args::now()
                },
            )
            .await?;
        if let Some(size) = rows.first().and_then(D::oversize) {
            store::too_large(size.unsigned_abs(), max_size);
            return Ok(None);
        }
        Ok(D::sessions(rows)
            .into_iter()
            .next()
            .map(|(_, record)| record))
    }

    pub(in crate::store) async fn set(
        &self,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
    ) -> Result<(), StoreError> {
        let mut connection = self.timed(self.pool.get().acquire()).await?;
        self.write(&mut connection, id, record, changed).await
    }

    /// [`Store::set`](crate::store::Store::set) on `connection` (the pool's, or a transaction's).
    async fn write(
        &self,
        connection: &mut Connection<D>,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
    ) -> Result<(), StoreError> {
        if let Some(reason) = D::unwritable(id, record, changed) {
            return Err(backend::<D>(reason));
        }
        let cookie = record.cookie.encode().map_err(backend::<D>)?;
        let args = Args {
            id,
            cookie: &cookie,
            fields: &record.fields,
            expires: expires_ms(&record.cookie, self.idle_ttl),
            owner: record.owner.as_deref(),
            writes_owner: changed.writes_owner(),
            ..Args::now()
        };
        let Some(names) = changed.fields() else {
            return self
                .execute(&self.sql.upsert, &args, &mut *connection)
                .await
                .map(drop);
        };
        if !D::holds(id) {
            return Err(StoreError::Gone);
        }
        let patch = Args {
            changed: names,
            ..args
        };
        if self
            .execute(&self.sql.patch, &patch, &mut *connection)
            .await?
            > 0
        {
            return Ok(());
        }
        // Nothing patched: the row is gone, or it is live but its fields are not an object. The
        // second case is repaired with the whole record; the replacement, an `UPDATE` of a live
        // row too, cannot bring back a row that is gone.
        let replace = Args {
            now: now_ms(),
            ..args
        };
        updated(
            self.execute(&self.sql.replace, &replace, connection)
                .await?,
        )
    }

    /// Takes the lease with the dialect's upsert, which only replaces a lease that has ended;
    /// it answers whether it took it, or (MySQL) a read of whose the lease is does.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))] // Only their stores take turns.
    pub(in crate::store) async fn lease(
        &self,
        id: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        let token = crate::id::generate_id();
        if !D::holds(id) {
            // No session can be stored under this id, so there is nothing to take turns on:
            // the load finds none, and the new session gets a new id.
            return Ok(Some(token));
        }
        let turns = self.turns("lease")?;
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        let args = Args {
            id,
            token: &token,
            ttl,
            ..Args::now()
        };
        let taken = match &turns.mine {
            None => self.answers(&turns.lease, &args, &self.pool.get()).await?,
            Some(mine) => {
                self.execute(&turns.lease, &args, &self.pool.get()).await?;
                self.answers(mine, &args, &self.pool.get()).await?
            }
        };
        Ok(taken.then_some(token))
    }

    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))] // Only their stores take turns.
    pub(in crate::store) async fn release(&self, id: &str, token: &str) -> Result<(), StoreError> {
        if !D::holds(id) {
            return Ok(());
        }
        let release = &self.turns("release")?.release;
        let args = Args {
            id,
            token,
            ..Args::now()
        };
        self.execute(release, &args, &self.pool.get())
            .await
            .map(drop)
    }

    /// One transaction: lock the lease row if the token still holds it (a holder taking the
    /// lease over waits for this transaction), write as [`set`](crate::store::Store::set) does,
    /// delete the lease if asked, commit.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))] // Only their stores take turns.
    pub(in crate::store) async fn set_within_lease(
        &self,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
        token: &str,
        release: bool,
    ) -> Result<(), StoreError> {
        if !D::holds(id) {
            return Err(StoreError::Gone);
        }
        let turns = self.turns("set_within_lease")?;
        let mut transaction = self.timed(self.pool.get().begin()).await?;
        let args = Args {
            id,
            token,
            ..Args::now()
        };
        if !self.answers(&turns.hold, &args, &mut *transaction).await? {
            return Err(StoreError::LeaseLost);
        }
        let written = self.write(&mut transaction, id, record, changed).await;
        if let Err(StoreError::Backend { .. }) = written {
            return written; // Rolled back; the lease stays until it is given back or ends.
        }
        if release {
            self.execute(&turns.release, &args, &mut *transaction)
                .await?;
        }
        self.timed(transaction.commit()).await?;
        written
    }

    pub(in crate::store) async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        if !D::holds(id) {
            return Ok(());
        }
        let args = Args { id, ..Args::now() };
        self.execute(&self.sql.destroy, &args, &self.pool.get())
            .await
            .map(drop)
    }

    pub(in crate::store) async fn touch(
        &self,
        id: &str,
        record: &Record,
    ) -> Result<(), StoreError> {
        if !D::holds(id) {
            return Err(StoreError::Gone);
        }
        let cookie = record.cookie.encode().map_err(backend::<D>)?;
        let args = Args {
            id,
            cookie: &cookie,
            expires: expires_ms(&record.cookie, self.idle_ttl),
            ..Args::now()
        };
        updated(
            self.execute(&self.sql.touch, &args, &self.pool.get())
                .await?,
        )
    }

    pub(in crate::store) async fn all(&self) -> Result<Vec<(String, Record)>, StoreError> {
        let rows = self.rows(&self.sql.all, &Args::now()).await?;
        Ok(D::sessions(rows))
    }

    pub(in crate::store) async fn clear(&self) -> Result<(), StoreError> {
        self.execute(&self.sql.clear, &Args::now(), &self.pool.get())
            .await
            .map(drop)
    }

    pub(in crate::store) async fn length(&self) -> Result<usize, StoreError> {
        Ok(count(self.number(&self.sql.length, &Args::now()).await?))
    }

    pub(in crate::store) async fn sessions_of(
        &self,
        owner: &str,
    ) -> Result<Vec<(String, Record)>, StoreError> {
        if !D::holds(owner) {
            return Ok(Vec::new());
        }
        let args = Args {
            owner: Some(owner),
            ..Args::now()
        };
        Ok(D::sessions(self.rows(&self.sql.sessions_of, &args).await?))
    }

    pub(in crate::store) async fn destroy_sessions_of(
        &self,
        owner: &str,
        keep: Option<&str>,
    ) -> Result<usize, StoreError> {
        if !D::holds(owner) {
            return Ok(0);
        }
        let args = Args {
            owner: Some(owner),
            keep,
            ..Args::now()
        };
        let destroyed = self
            .execute(&self.sql.destroy_sessions_of, &args, &self.pool.get())
            .await?;
        Ok(count(destroyed))
    }
}

/// A failure of dialect `D`'s store.
pub(in crate::store) fn backend<D: Dialect>(
    error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> StoreError {
    StoreError::backend(D::STORE, error)
}

/// `Debug`, [`Store`](crate::store::Store), [`OwnerIndex`](crate::store::OwnerIndex) and
/// [`Listing`](crate::store::Listing) for a public SQL store, a tuple struct around a
/// [`SqlStore`], and with `leases` [`Leases`](crate::store::Leases) too: every call goes to the
/// shared body. The impls sit in `const _` blocks of their own, as serde's derives do, so that
/// the names they use need no imports where the macro is called.
macro_rules! sql_store {
    ($store:ty) => {
        $crate::store::sql::sql_store!(@core $store, Capabilities::none().owner_index().listing());
    };
    ($store:ty, leases) => {
        $crate::store::sql::sql_store!(
            @core $store,
            Capabilities::none().leases().owner_index().listing()
        );
        const _: () = {
            use std::time::Duration;

            use $crate::record::Record;
            use $crate::store::{Changed, Leases, StoreError};

            impl Leases for $store {
                /// An upsert of the lease row that only replaces a lease that has ended (one
                /// statement; on MySQL, then a read of whose the lease is).
                async fn lease(
                    &self,
                    id: &str,
                    ttl: Duration,
                ) -> Result<Option<String>, StoreError> {
                    self.0.lease(id, ttl).await
                }

                async fn release(&self, id: &str, token: &str) -> Result<(), StoreError> {
                    self.0.release(id, token).await
                }

                /// One transaction: lock the lease row if the token still holds it (a holder
                /// taking the lease over waits for this transaction), write as
                /// [`set`](crate::store::Store::set) does, delete the lease if asked, commit.
                async fn set_within_lease(
                    &self,
                    id: &str,
                    record: &Record,
                    changed: Changed<'_>,
                    token: &str,
                    release: bool,
                ) -> Result<(), StoreError> {
                    let body = &self.0;
                    body.set_within_lease(id, record, changed, token, release)
                        .await
                }
            }
        };
    };
    (@core $store:ty, $capabilities:expr) => {
        const _: () = {
            use std::time::Duration;

            use $crate::record::Record;
            use $crate::store::{Capabilities, Changed, Listing, OwnerIndex, Store, StoreError};

            impl std::fmt::Debug for $store {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    self.0.fmt(f)
                }
            }

            impl Store for $store {
                async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
                    self.0.get_within(id, usize::MAX).await
                }

                /// The size is checked in the `SELECT`: an oversized session's fields stay in
                /// the database.
                async fn get_within(
                    &self,
                    id: &str,
                    max_size: usize,
                ) -> Result<Option<Record>, StoreError> {
                    self.0.get_within(id, max_size).await
                }

                async fn set(
                    &self,
                    id: &str,
                    record: &Record,
                    changed: Changed<'_>,
                ) -> Result<(), StoreError> {
                    self.0.set(id, record, changed).await
                }

                async fn destroy(&self, id: &str) -> Result<(), StoreError> {
                    self.0.destroy(id).await
                }

                fn idle_ttl(&self) -> Option<Duration> {
                    self.0.idle_ttl()
                }

                async fn touch(&self, id: &str, record: &Record) -> Result<(), StoreError> {
                    self.0.touch(id, record).await
                }

                fn capabilities() -> Capabilities<Self> {
                    $capabilities
                }
            }

            impl OwnerIndex for $store {
                async fn sessions_of(
                    &self,
                    owner: &str,
                ) -> Result<Vec<(String, Record)>, StoreError> {
                    self.0.sessions_of(owner).await
                }

                async fn destroy_sessions_of(
                    &self,
                    owner: &str,
                    keep: Option<&str>,
                ) -> Result<usize, StoreError> {
                    self.0.destroy_sessions_of(owner, keep).await
                }
            }

            impl Listing for $store {
                async fn all(&self) -> Result<Vec<(String, Record)>, StoreError> {
                    self.0.all().await
                }

                async fn clear(&self) -> Result<(), StoreError> {
                    self.0.clear().await
                }

                async fn length(&self) -> Result<usize, StoreError> {
                    self.0.length().await
                }
            }
        };
    };
}

pub(in crate::store) use sql_store;
