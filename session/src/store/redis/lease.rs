//! The store-side turn on a session
//! ([`store_turns`](crate::SessionLayerBuilder::store_turns)): a lease key taken with
//! `SET NX PX`, given back by a script if the token still holds it, and the fenced write that
//! lands only while it does.

use std::time::Duration;

use ::redis::aio::ConnectionLike;

use super::RedisStore;
use super::hash::{Bulk, COOKIE_FIELD, field_key, owner_of};
use crate::record::Record;
use crate::store::{Changed, StoreError};

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// Takes the turn on session `id` for `ttl`: [`Leases::lease`](crate::store::Leases::lease).
    pub(super) async fn take_lease(
        &self,
        id: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        let key = self.key(id);
        let Some(lease) = lease_key(&key) else {
            return Err(StoreError::unsupported("lease (a session id with `}`)"));
        };
        let token = crate::id::generate_id();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        // Repeating a `SET NX` whose first try landed finds the key taken, by this very token:
        // the token is read back to tell.
        let taken: Option<String> = ::redis::cmd("SET")
            .arg(lease)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|error| self.failed(error))?;
        if taken.is_some() {
            // The turn promises the last holder's write, which may not have been heard of yet.
            self.cache.forget(&key);
        }
        Ok(taken.map(|_| token))
    }

    /// Gives the turn back if `token` still holds it:
    /// [`Leases::release`](crate::store::Leases::release).
    pub(super) async fn release_lease(&self, id: &str, token: &str) -> Result<(), StoreError> {
        let Some(lease) = lease_key(&self.key(id)) else {
            return Ok(());
        };
        self.retried(|| async {
            self.scripts
                .release
                .key(&lease)
                .arg(token)
                .invoke_async::<i64>(&mut self.connection.clone())
                .await
        })
        .await
        .map(drop)
        .map_err(|error| self.failed(error))
    }

    /// The fenced write of [`Leases::set_within_lease`](crate::store::Leases::set_within_lease):
    /// answers the owner the session had.
    pub(super) async fn write_leased(
        &self,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
        (token, release): (&str, bool),
        cookie: &[u8],
        expiry: u64,
    ) -> Result<Option<String>, StoreError> {
        let key = self.key(id);
        let Some(lease) = lease_key(&key) else {
            return Err(StoreError::LeaseLost);
        };
        let mut script = self.scripts.write_leased.prepare_invoke();
        script
            .key(key)
            .key(lease)
            .arg(token)
            .arg(if release { "1" } else { "0" })
            .arg(if changed.fields().is_none() { "1" } else { "0" })
            .arg(expiry);
        match (changed.writes_owner(), &record.owner) {
            (true, Some(owner)) => script.arg("s").arg(owner),
            (true, None) => script.arg("d").arg(""),
            (false, _) => script.arg("k").arg(""),
        };
        let (set, deleted): (Vec<&String>, Vec<&String>) = match changed.fields() {
            None => (record.fields.keys().collect(), Vec::new()),
            Some(names) => names
                .iter()
                .partition(|name| record.fields.contains_key(*name)),
        };
        script.arg(set.len() + 1).arg(COOKIE_FIELD).arg(cookie);
        for name in set {
            script
                .arg(field_key(name))
                .arg(record.fields[name].as_ref());
        }
        for name in deleted {
            script.arg(field_key(name));
        }
        let (status, previous): (i64, Bulk) = script
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|error| self.failed(error))?;
        match status {
            1 => Ok(previous.and_then(owner_of)),
            0 => Err(StoreError::Gone),
            _ => Err(StoreError::LeaseLost),
        }
    }
}

/// The key of the store-side turn on the session at `key`: in the session key's hash slot, so
/// that a cluster runs the fenced write (which reads the one and writes the other) on one node;
/// starting with `{`, so that a `SCAN` of the prefix never meets it (unless the prefix starts
/// with `{`: then the key starts with the prefix's tag and `turn:`). `None` when no key can
/// share the slot: a session key with a `}` but no hash tag.
fn lease_key(key: &[u8]) -> Option<Vec<u8>> {
    match hash_tag(key) {
        Some(tag) => Some([b"{", tag, b"}turn:", key].concat()),
        None if !key.contains(&b'}') => Some([b"{", key, b"}:turn"].concat()),
        None => None,
    }
}

/// The hash tag of a Redis key, by Redis Cluster's rule: what lies between its first `{` and
/// the first `}` after it, if that is not empty.
fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let length = key[open + 1..].iter().position(|&b| b == b'}')?;
    (length > 0).then(|| &key[open + 1..open + 1 + length])
}
