//! The owner index: the sessions of each owner, listed in a sorted set that every write and
//! touch of an owned session keeps in step.
//!
//! The sessions of owner `<owner>` are listed in a sorted set at `<owner prefix><owner>`: its
//! members are session ids, each scored with an upper bound of that session's store expiry in
//! milliseconds. The owner prefix is the session prefix with `#` (`!` if its last character is
//! `#`) put before its last character, then `owner:`, so `sess:` gives `sess#:owner:alice`.
//! The two prefixes differ at that character, two session prefixes never share an owner prefix,
//! so no owner key is a session key whatever the id, and a `SCAN` of `<prefix>*` sees sessions
//! only. An empty prefix leaves no such room (every key could be a session's): the index is
//! then off, and `sessions_of` and `destroy_sessions_of` answer [`StoreError::Unsupported`].
//!
//! Every write and touch of an owned session raises its member's score to the expiry it sets
//! (`ZADD GT`), drops the members whose score has passed, and sets the set's own expiry to its
//! highest score, so the index of an owner who never comes back disappears with their last
//! session. Destroying a session or changing its owner removes it from the old owner's set;
//! members left stale anyway (a session deleted behind the store's back, a race) are dropped
//! when a listing loads them and finds the session gone or owned by someone else.
//!
//! The set and the session live in different keys (different hash slots on a cluster), so no
//! step updates both at once. The order of the steps keeps every live owned session listed:
//! - a write that gives a session a new owner adds it to the new owner's set after the session
//!   write has landed (as well as alongside it), so a listing that saw the session not yet owned
//!   and dropped the member cannot have the last word;
//! - removing a member whose session still exists is followed by reading the session again and
//!   adding it back if it belongs to that owner by then;
//! - a touch refreshes a session only if its stored owner is the one the touch indexes it under;
//!   if not, another request changed the owner after this one loaded the session, and that
//!   request's write refreshed the expiry (and indexed the session) already.
//!
//! If the index step of a write fails, the write answers [`StoreError::Backend`] and the
//! session may stay unlisted until its next write or touch, which indexes it again.
//!
//! # Cost
//!
//! A session without an owner costs what it did before the index: one round trip per `get`,
//! `set`, `touch` and `destroy` (and one more for a patch that finds its session gone, to
//! delete what it wrote), and no command on any owner key. For an owned session:
//! - `touch`, and a `set` that keeps the owner: one more command (a script on the owner key,
//!   O(log n) in the owner's session count), sent alongside the session's, so the latency stays
//!   about one round trip;
//! - a `set` that changes the owner (signing in or out without a new id): the new owner's
//!   script once more after the write, and a `ZREM` plus a reload of the session for the old
//!   owner: up to three more round trips;
//! - `destroy`: one more round trip (`ZREM`).
//!
//! `sessions_of` is one round trip to trim and read the set, then one to load its members (a
//! pipeline; one round trip per member on a cluster), plus one to drop stale members if it found
//! any. `destroy_sessions_of` is the same, with an owner-checked delete per member instead of a
//! load.

use std::time::SystemTime;

use ::redis::aio::ConnectionLike;
use ::redis::{Cmd, FromRedisValue, Pipeline, RedisError};

use super::RedisStore;
use super::hash::{parse, readable};
use super::scripts::DESTROY_IF_OWNED;
use crate::record::{Record, millis_since_epoch};
use crate::store::{Changed, StoreError};

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// Keeps the owner index in step after a write that found another owner stored than
    /// `record`'s (`previous`).
    pub(super) async fn owner_moved(
        &self,
        id: &str,
        changed: Changed<'_>,
        previous: Option<String>,
        index: Option<&[u8]>,
        expiry: u64,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        if !changed.writes_owner() {
            // The stored owner stayed. This request's copy of it was stale: the session's
            // score in its real owner's set still has to follow the new expiry; the set this
            // request indexed it in drops it at its next listing.
            if let Some(index) = previous.as_deref().and_then(|o| self.owner_key(o)) {
                self.index(&index, id.as_bytes(), expiry, now).await?;
            }
            return Ok(());
        }
        // The owner changed. A listing of the new owner's sessions that ran between the two
        // steps above may have found the session not yet theirs and dropped the member: add
        // it again now that the write has landed.
        if let Some(index) = index {
            self.index(index, id.as_bytes(), expiry, now).await?;
        }
        if let Some(previous) = previous
            && let Some(old) = self.owner_key(&previous)
        {
            self.unindex(&previous, &old, id.as_bytes()).await?;
        }
        Ok(())
    }

    /// The key of `owner`'s index, if the index is on.
    pub(super) fn owner_key(&self, owner: &str) -> Option<Vec<u8>> {
        let prefix = self.owner_prefix.as_deref()?;
        Some([prefix.as_bytes(), owner.as_bytes()].concat())
    }

    /// Indexes session `id` in the owner set at `index` until `expiry` (see `index.lua`).
    pub(super) async fn index(
        &self,
        index: &[u8],
        id: &[u8],
        expiry: u64,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        self.scripts
            .index
            .key(index)
            .arg(id)
            .arg(expiry)
            .arg(millis_since_epoch(now))
            .invoke_async::<i64>(&mut self.connection.clone())
            .await
            .map(drop)
            .map_err(|error| self.failed(error))
    }

    /// Drops `ids` from the owner set at `index`, for sessions that are gone for good.
    pub(super) async fn forget(&self, index: &[u8], ids: &[Vec<u8>]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        tracing::debug!(
            count = ids.len(),
            "dropping stale members of an owner index"
        );
        ::redis::cmd("ZREM")
            .arg(index)
            .arg(ids)
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(|error| self.failed(error))
    }

    /// Drops `id` from `owner`'s set at `index`, for a session that exists but has another
    /// owner. A concurrent write may give it back to `owner` and index it just before the
    /// removal lands, so the session is read again afterwards and re-indexed if it is
    /// `owner`'s by then.
    async fn unindex(&self, owner: &str, index: &[u8], id: &[u8]) -> Result<(), StoreError> {
        self.forget(index, &[id.to_vec()]).await?;
        let now = SystemTime::now();
        match self.load(id).await? {
            Some(record) if record.owner.as_deref() == Some(owner) && !record.is_expired(now) => {
                self.index(index, id, self.expiry_ms(&record, now), now)
                    .await
            }
            _ => Ok(()),
        }
    }

    /// The members of the owner set at `index`, after dropping those whose score has passed.
    async fn members(&self, index: &[u8], now: SystemTime) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut pipe = Pipeline::new();
        pipe.atomic()
            .cmd("ZREMRANGEBYSCORE")
            .arg(index)
            .arg("-inf")
            .arg(millis_since_epoch(now))
            .ignore()
            .cmd("ZRANGE")
            .arg(index)
            .arg(0)
            .arg(-1);
        let (members,): (Vec<Vec<u8>>,) = pipe
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|error| self.failed(error))?;
        Ok(members)
    }

    /// Runs `commands`: as one pipeline on a single node, one by one on a cluster (where a
    /// pipeline must stay in one hash slot).
    /// Each command's reply, in one pipeline on a single node (one command at a time on a
    /// cluster, where the keys may live on different nodes). A command that Redis refused
    /// (a key of another type) fails alone, not the batch; see [`readable`].
    async fn batch<T: FromRedisValue>(
        &self,
        commands: Vec<Cmd>,
    ) -> Result<Vec<Result<T, RedisError>>, StoreError> {
        let mut connection = self.connection.clone();
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        if self.single_node {
            let mut pipe = Pipeline::new();
            for command in commands {
                pipe.add_command(command);
            }
            return pipe
                .ignore_errors()
                .query_async(&mut connection)
                .await
                .map_err(|error| self.failed(error));
        }
        let mut replies = Vec::with_capacity(commands.len());
        for command in commands {
            match command.query_async(&mut connection).await {
                Err(error) if error.code() != Some("WRONGTYPE") => return Err(self.failed(error)),
                reply => replies.push(reply),
            }
        }
        Ok(replies)
    }

    /// Every live session of `owner`: [`OwnerIndex::sessions_of`](crate::store::OwnerIndex::sessions_of).
    pub(super) async fn owned_by(&self, owner: &str) -> Result<Vec<(String, Record)>, StoreError> {
        let index = self
            .owner_key(owner)
            .ok_or(StoreError::unsupported("sessions_of"))?;
        let now = SystemTime::now();
        let members = self.members(&index, now).await?;
        let loads = members
            .iter()
            .map(|id| ::redis::cmd("HGETALL").arg(self.key(id)).take())
            .collect();
        let loaded = self.batch::<Vec<(Vec<u8>, Vec<u8>)>>(loads).await?;
        let (mut sessions, mut gone, mut moved) = (Vec::new(), Vec::new(), Vec::new());
        for (member, entries) in members.into_iter().zip(loaded) {
            let record = readable(entries)?.and_then(parse);
            match (String::from_utf8(member), record) {
                (Ok(id), Some(record)) if record.owner.as_deref() == Some(owner) => {
                    // A session past its expiry that Redis has not deleted yet (within the
                    // millisecond) is not listed; its member goes with its score.
                    if !record.is_expired(now) {
                        sessions.push((id, record));
                    }
                }
                (Ok(id), Some(_)) => moved.push(id.into_bytes()),
                (Ok(id), None) => gone.push(id.into_bytes()),
                (Err(error), _) => gone.push(error.into_bytes()),
            }
        }
        self.forget(&index, &gone).await?;
        for id in moved {
            self.unindex(owner, &index, &id).await?;
        }
        Ok(sessions)
    }

    /// Deletes `owner`'s sessions but `keep`:
    /// [`OwnerIndex::destroy_sessions_of`](crate::store::OwnerIndex::destroy_sessions_of).
    pub(super) async fn destroy_owned_by(
        &self,
        owner: &str,
        keep: Option<&str>,
    ) -> Result<usize, StoreError> {
        let index = self
            .owner_key(owner)
            .ok_or(StoreError::unsupported("destroy_sessions_of"))?;
        let members: Vec<Vec<u8>> = self
            .members(&index, SystemTime::now())
            .await?
            .into_iter()
            .filter(|id| keep.map(str::as_bytes) != Some(id.as_slice()))
            .collect();
        // This connection's own deletes send it no invalidation: their slots empty here.
        let _tickets = self
            .cache
            .writing_all(members.iter().map(|id| self.key(id)));
        let deletes = members
            .iter()
            .map(|id| {
                ::redis::cmd("EVAL")
                    .arg(DESTROY_IF_OWNED)
                    .arg(1)
                    .arg(self.key(id))
                    .arg(owner)
                    .take()
            })
            .collect();
        let outcomes = self.batch::<i64>(deletes).await?;
        let (mut destroyed, mut gone, mut moved) = (0, Vec::new(), Vec::new());
        for (id, outcome) in members.into_iter().zip(outcomes) {
            // A key of another type is no session of this owner: forget its member.
            match readable(outcome)?.unwrap_or(-1) {
                1 => {
                    destroyed += 1;
                    gone.push(id);
                }
                0 => moved.push(id),
                _ => gone.push(id),
            }
        }
        self.forget(&index, &gone).await?;
        for id in moved {
            self.unindex(owner, &index, &id).await?;
        }
        Ok(destroyed)
    }
}

/// The owner-index prefix for the session prefix `prefix`: `prefix` with `#` (`!` if its last
/// character is `#`) put before its last character, then `owner:` (`sess:` gives
/// `sess#:owner:`). Session keys and owner keys then differ at that character, whatever
/// follows, and two session prefixes never share an owner prefix (the last character is kept,
/// so the session prefix can be read back). `None` for an empty prefix, which leaves no room.
pub(super) fn owner_prefix(prefix: &str) -> Option<String> {
    let last = prefix.chars().next_back()?;
    let head = &prefix[..prefix.len() - last.len_utf8()];
    let marker = if last == '#' { '!' } else { '#' };
    Some(format!("{head}{marker}{last}owner:"))
}

#[cfg(test)]
mod tests {
    use super::owner_prefix;

    #[test]
    fn owner_keys_never_start_like_session_keys() {
        for (prefix, owners) in [
            ("sess:", Some("sess#:owner:")),
            ("app:sessions#", Some("app:sessions!#owner:")),
            ("é", Some("#éowner:")),
            ("x", Some("#xowner:")),
            ("", None),
        ] {
            assert_eq!(owner_prefix(prefix).as_deref(), owners, "{prefix:?}");
            if let Some(owners) = owners {
                // Neither prefix starts the other, so no `<owners><owner>` is a
                // `<prefix><id>`.
                assert!(!owners.starts_with(prefix) && !prefix.starts_with(owners));
            }
        }
    }

    #[test]
    fn two_session_prefixes_never_share_an_owner_index() {
        let prefixes = [
            "sess:", "sess_", "app:a", "app:b", "t1", "t2", "a#", "a!", "#", "!",
        ];
        let owners: std::collections::HashSet<String> =
            prefixes.iter().filter_map(|p| owner_prefix(p)).collect();
        assert_eq!(owners.len(), prefixes.len());
    }
}
