//! One request at a time per session, within this process.
//!
//! A request that carries a session cookie waits for the other requests carrying the same id
//! to finish their session work (load, handler, save) before it loads. Without this, two
//! requests that both read, change and write the same field would each write their own
//! version, and one change would be lost — what express-session does. Requests without a
//! cookie need no lock: their id is new.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

const SHARDS: usize = 16;

type Shard = Mutex<HashMap<String, Arc<AsyncMutex<()>>>>;

/// The per-session locks of one layer.
#[derive(Debug)]
pub(crate) struct Locks {
    shards: [Shard; SHARDS],
    hasher: RandomState,
}

impl Default for Locks {
    fn default() -> Self {
        Self {
            shards: Default::default(),
            hasher: RandomState::new(),
        }
    }
}

/// Held while a request works on its session; released on drop.
pub(crate) struct SessionLock {
    locks: Arc<Locks>,
    id: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Locks {
    fn shard(&self, id: &str) -> &Shard {
        // The hash only spreads ids over shards; lengths up to SHARDS fit any usize.
        let index = (self.hasher.hash_one(id) % SHARDS as u64) as usize;
        &self.shards[index]
    }

    /// Waits until no other request holds `id`.
    pub(crate) async fn acquire(self: &Arc<Self>, id: &str) -> SessionLock {
        let mutex = {
            let mut shard = lock(self.shard(id));
            shard.entry(id.to_owned()).or_default().clone()
        };
        SessionLock {
            locks: self.clone(),
            id: id.to_owned(),
            guard: Some(mutex.lock_owned().await),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut shard = lock(self.locks.shard(&self.id));
        // Only the map's own reference left: nobody holds or waits for it.
        if shard
            .get(&self.id)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            shard.remove(&self.id);
        }
    }
}

fn lock(shard: &Shard) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AsyncMutex<()>>>> {
    // Map operations cannot panic halfway, so a poisoned shard is still consistent.
    shard.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn same_id_waits_other_ids_do_not_and_entries_go_away() {
        let locks = Arc::new(Locks::default());
        let first = locks.acquire("a").await;
        let _other = locks.acquire("b").await;
        let waiting = tokio::spawn({
            let locks = locks.clone();
            async move { locks.acquire("a").await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a second request on `a` waits");
        drop(first);
        let second = waiting.await.unwrap();
        assert_eq!(locks.len(), 2);
        drop(second);
        drop(_other);
        assert_eq!(locks.len(), 0, "no entry outlives its last holder");
    }
}
