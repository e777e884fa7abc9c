//! Writing a session: a whole write or a patch ([`Store::set`](crate::store::Store::set)), a
//! touch and a destroy, each keeping the owner index and the client-side cache in step.

use std::pin::pin;
use std::time::SystemTime;

use ::redis::aio::ConnectionLike;
use ::redis::{Cmd, Pipeline};

use super::connection::both;
use super::hash::{
    Bulk, COOKIE_FIELD, FIELD_PREFIX, OWNER_FIELD, VERSION, VERSION_FIELD, command, command_with,
    field_arg, owner_of, patched, pexpireat,
};
use super::{RedisStore, backend};
use crate::record::Record;
use crate::store::{Changed, StoreError};

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// Writes the session and keeps the owner index in step: [`Store::set`], or with `fence`
    /// (a token and whether to give the turn back) [`Leases::set_within_lease`].
    ///
    /// [`Store::set`]: crate::store::Store::set
    /// [`Leases::set_within_lease`]: crate::store::Leases::set_within_lease
    pub(super) async fn write(
        &self,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
        fence: Option<(&str, bool)>,
    ) -> Result<(), StoreError> {
        let now = SystemTime::now();
        let expiry = self.expiry_ms(record, now);
        let key = self.key(id);
        let cookie = record.cookie.encode().map_err(backend)?;
        // Only an unfenced patch ends with a read, which keeps the key tracked: the cache may
        // keep what it wrote. Any other write empties the slot (when the ticket drops).
        let patch = fence.is_none() && changed.fields().is_some();
        let ticket = self.cache.writing(&key, patch);
        let index = record
            .owner
            .as_deref()
            .and_then(|owner| self.owner_key(owner));
        // Each future is made where it is awaited, so that the common path's (a patch of a
        // session without an owner) stays small: this one is boxed for every store call, and
        // a box of up to 1 KiB comes from the allocator's per-thread cache.
        let write = || async {
            if let Some(fence) = fence {
                return self
                    .write_leased(id, record, changed, fence, &cookie, expiry)
                    .await;
            }
            match changed {
                Changed::All => self.write_all(&key, record, &cookie, expiry).await,
                Changed::Fields(names) | Changed::FieldsAndOwner(names) => {
                    let owner = changed.writes_owner();
                    self.write_fields(&key, record, names, owner, &cookie, expiry)
                        .await
                }
            }
        };
        let previous = match &index {
            None => write().await?,
            Some(index) => {
                // Boxed: the pair would double the future of every write.
                let pair = Box::pin(async {
                    both(
                        pin!(write()),
                        pin!(self.index(index, id.as_bytes(), expiry, now)),
                    )
                    .await
                });
                let (written, indexed) = pair.await;
                let previous = written?;
                indexed?;
                previous
            }
        };
        if let (Some(ticket), Some(names)) = (ticket, changed.fields()) {
            let owner = match changed.writes_owner() {
                true => record.owner.clone(),
                false => previous.clone(),
            };
            ticket.patched(expiry, |base| patched(base, record, names, owner));
        }
        if previous == record.owner {
            return Ok(());
        }
        let moved = self.owner_moved(id, changed, previous, index.as_deref(), expiry, now);
        Box::pin(moved).await
    }

    /// Replaces the session; answers the owner it had.
    async fn write_all(
        &self,
        key: &[u8],
        record: &Record,
        cookie: &[u8],
        expiry: u64,
    ) -> Result<Option<String>, StoreError> {
        let fields = record.fields.iter();
        let mut hset = command(
            "HSET",
            [key, VERSION_FIELD, VERSION, COOKIE_FIELD, cookie]
                .map(<[u8]>::len)
                .into_iter()
                .chain(
                    record
                        .owner
                        .iter()
                        .flat_map(|o| [OWNER_FIELD.len(), o.len()]),
                )
                .chain(
                    fields
                        .clone()
                        .flat_map(|(n, v)| [FIELD_PREFIX.len() + n.len(), v.len()]),
                ),
        );
        hset.arg(key)
            .arg(VERSION_FIELD)
            .arg(VERSION)
            .arg(COOKIE_FIELD)
            .arg(cookie);
        if let Some(owner) = &record.owner {
            hset.arg(OWNER_FIELD).arg(owner);
        }
        for (name, value) in fields {
            field_arg(&mut hset, name);
            hset.arg(value.as_ref());
        }
        let mut pipe = Pipeline::with_capacity(4);
        pipe.atomic()
            .add_command(command_with("HGET", [key, OWNER_FIELD]))
            .add_command(command_with("DEL", [key]))
            .ignore()
            .add_command(hset)
            .ignore()
            .add_command(pexpireat(key, expiry))
            .ignore();
        // A whole write is for a new id, which no other request knows: repeating it writes
        // the same session again. (Patches are not repeated: a patch that landed before the
        // connection dropped could, repeated, undo another process's write of the same field.)
        let (previous,): (Bulk,) = self
            .retried(|| async { pipe.query_async(&mut self.connection.clone()).await })
            .await
            .map_err(|error| self.failed(error))?;
        Ok(previous.and_then(owner_of))
    }

    /// Updates the session if it is there (else `Gone`); answers the owner it had.
    ///
    /// One transaction, without a script: write, set the expiry, then check the marker that
    /// only whole writes set (and read the owner it had, before the write if it changes it). If
    /// the session had ended, the writes made a hash without the marker, which no read takes
    /// for a session; it is deleted before answering `Gone` (and would expire with the
    /// session's expiry anyway).
    async fn write_fields(
        &self,
        key: &[u8],
        record: &Record,
        names: &std::collections::BTreeSet<String>,
        owner: bool,
        cookie: &[u8],
        expiry: u64,
    ) -> Result<Option<String>, StoreError> {
        let new_owner = record.owner.as_deref().filter(|_| owner);
        let values = names.iter().map(|name| (name, record.fields.get(name)));
        let mut hset = command(
            "HSET",
            [key, COOKIE_FIELD, cookie]
                .map(<[u8]>::len)
                .into_iter()
                .chain(new_owner.iter().flat_map(|o| [OWNER_FIELD.len(), o.len()]))
                .chain(
                    values
                        .clone()
                        .filter_map(|(name, value)| {
                            value.map(|v| [FIELD_PREFIX.len() + name.len(), v.len()])
                        })
                        .flatten(),
                ),
        );
        hset.arg(key).arg(COOKIE_FIELD).arg(cookie);
        if let Some(new) = new_owner {
            hset.arg(OWNER_FIELD).arg(new);
        }
        // Made only if something is deleted.
        let mut hdel: Option<Cmd> = None;
        let new_hdel = || command_with("HDEL", [key]);
        if owner && new_owner.is_none() {
            hdel.get_or_insert_with(new_hdel).arg(OWNER_FIELD);
        }
        for (name, value) in values {
            match value {
                Some(value) => {
                    field_arg(&mut hset, name);
                    hset.arg(value.as_ref());
                }
                None => field_arg(hdel.get_or_insert_with(new_hdel), name),
            }
        }
        // The owner it had: read before the write if the write changes it, else after (the
        // same value, one command less).
        let mut pipe = Pipeline::with_capacity(5);
        pipe.atomic();
        if owner {
            pipe.add_command(command_with("HGET", [key, OWNER_FIELD]));
        }
        pipe.add_command(hset).ignore();
        if let Some(hdel) = hdel {
            pipe.add_command(hdel).ignore();
        }
        pipe.add_command(pexpireat(key, expiry)).ignore();
        if owner {
            pipe.add_command(command_with("HEXISTS", [key, VERSION_FIELD]));
        } else {
            pipe.add_command(command_with("HMGET", [key, OWNER_FIELD, VERSION_FIELD]));
        }
        let (previous, live) = if owner {
            let (previous, live): (Bulk, bool) = pipe
                .query_async(&mut self.connection.clone())
                .await
                .map_err(|error| self.failed(error))?;
            (previous, live)
        } else {
            let ((previous, version),): ((Bulk, Bulk),) = pipe
                .query_async(&mut self.connection.clone())
                .await
                .map_err(|error| self.failed(error))?;
            (previous, version.is_some())
        };
        if !live {
            // Boxed: a rare path, kept out of every patch's future.
            let mut connection = self.connection.clone();
            let invocation = self.scripts.drop_stray.key(key);
            if let Err(error) = Box::pin(invocation.invoke_async::<i64>(&mut connection)).await {
                tracing::warn!(%error, "could not delete a patch of an ended session; it expires with it");
            }
            return Err(StoreError::Gone);
        }
        Ok(previous.and_then(owner_of))
    }

    /// Refreshes the session's expiry and cookie state: [`Store::touch`](crate::store::Store::touch).
    pub(super) async fn refresh(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        let now = SystemTime::now();
        let expiry = self.expiry_ms(record, now);
        let cookie = record.cookie.encode().map_err(backend)?;
        let key = self.key(id);
        // A touch that lands keeps the cached entry, with the new cookie state and expiry: the
        // script ends with a read, so Redis tracks the key again. Otherwise the slot empties
        // (when the ticket drops).
        let ticket = self.cache.writing(&key, true);
        let mut invocation = self.scripts.touch.key(&key);
        invocation
            .arg(expiry)
            .arg(cookie)
            .arg(record.owner.as_deref().unwrap_or_default())
            .arg(u8::from(record.owner.is_some()));
        // Repeating a touch writes the same cookie state and expiry again.
        let touch = || async {
            self.retried(|| async {
                invocation
                    .invoke_async::<i64>(&mut self.connection.clone())
                    .await
            })
            .await
            .map_err(|error| self.failed(error))
        };
        let touched = match record
            .owner
            .as_deref()
            .and_then(|owner| self.owner_key(owner))
        {
            None => touch().await?,
            Some(index) => {
                let (touched, indexed) = both(
                    pin!(touch()),
                    pin!(self.index(&index, id.as_bytes(), expiry, now)),
                )
                .await;
                let touched = touched?;
                indexed?;
                touched
            }
        };
        match touched {
            0 => Err(StoreError::Gone),
            2 => {
                // Another request changed the owner since this one loaded the session, and its
                // write refreshed the session: nothing left to do.
                tracing::debug!("session owner changed meanwhile; touch skipped");
                Ok(())
            }
            _ => {
                if let Some(ticket) = ticket {
                    ticket.patched(expiry, |mut base| {
                        base.cookie = record.cookie.clone();
                        base
                    });
                }
                Ok(())
            }
        }
    }

    /// Deletes the session: [`Store::destroy`](crate::store::Store::destroy).
    pub(super) async fn delete(&self, id: &str) -> Result<(), StoreError> {
        // Repeating a destroy deletes nothing more. (If the first try landed, the repeat finds
        // no owner, and the owner index keeps a stale member until its next listing drops it.)
        let key = self.key(id);
        let _ticket = self.cache.writing(&key, false);
        let destroy = self.scripts.destroy.key(&key);
        let owner: Option<Vec<u8>> = self
            .retried(|| async { destroy.invoke_async(&mut self.connection.clone()).await })
            .await
            .map_err(|error| self.failed(error))?;
        match owner
            .and_then(owner_of)
            .and_then(|owner| self.owner_key(&owner))
        {
            Some(index) => self.forget(&index, &[id.as_bytes().to_vec()]).await,
            None => Ok(()),
        }
    }
}
