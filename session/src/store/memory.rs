//! The embedded default store: sessions in this process's memory.
//!
//! Unlike express's `MemoryStore` it is meant for production on one machine: an expired
//! session is never returned, expired sessions are swept as the store is used (and on
//! [`MemoryStore::sweep`]), so their memory comes back, and an optional capacity bound evicts the
//! session closest to expiry when a new one would not fit.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::record::{Record, millis_since_epoch};
use crate::store::{Changed, DEFAULT_IDLE_TTL, Store, StoreError};

/// Sessions in memory. Cloning it gives another handle to the same sessions.
///
/// ```
/// use session::{MemoryStore, SessionLayer};
///
/// let store = MemoryStore::new().with_capacity(100_000);
/// let layer = SessionLayer::builder()
///     .secret("a long random secret")
///     .store(store.clone())
///     .build()
///     .unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct MemoryStore {
    sessions: Arc<Mutex<Sessions>>,
    capacity: Option<usize>,
    idle_ttl: Duration,
}

#[derive(Debug, Default)]
struct Sessions {
    by_id: HashMap<Arc<str>, Entry>,
    /// Expiry order. An entry whose expiry has since changed stays until popped and is then
    /// skipped, so updates cost no search; the heap is rebuilt when such entries pile up.
    by_expiry: BinaryHeap<Reverse<(u64, Arc<str>)>>,
    /// The per-owner index: the ids of each owner's sessions, kept in step with `by_id`.
    by_owner: HashMap<String, HashSet<Arc<str>>>,
}

#[derive(Debug)]
struct Entry {
    record: Record,
    expires_ms: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store without capacity bound.
    pub fn new() -> Self {
        Self {
            sessions: Arc::default(),
            capacity: None,
            idle_ttl: DEFAULT_IDLE_TTL,
        }
    }

    /// Keeps at most `capacity` sessions; a new session beyond that evicts the one closest to
    /// expiry. Handles cloned before this call keep the old bound.
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity.max(1));
        self
    }

    /// How long a session without expiry is kept after its last write or touch.
    pub fn with_idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = ttl;
        self
    }

    /// Removes every expired session now and returns how many there were.
    pub fn sweep(&self) -> usize {
        lock(&self.sessions).sweep(millis_since_epoch(SystemTime::now()))
    }

    fn expiry_of(&self, record: &Record, now: SystemTime) -> u64 {
        record.cookie.store_expiry_ms(self.idle_ttl, now)
    }
}

fn lock(sessions: &Mutex<Sessions>) -> MutexGuard<'_, Sessions> {
    // A panic while holding the lock cannot leave a half-written entry (every write is a
    // single insert or remove), so a poisoned lock is safe to keep using.
    sessions
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Sessions {
    fn sweep(&mut self, now: u64) -> usize {
        let mut removed = 0;
        while let Some(Reverse((at, _))) = self.by_expiry.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((at, id))) = self.by_expiry.pop()
                && self.by_id.get(&id).is_some_and(|e| e.expires_ms == at)
            {
                self.remove(&id);
                removed += 1;
            }
        }
        removed
    }

    fn live(&self, id: &str, now: u64) -> Option<&Entry> {
        self.by_id.get(id).filter(|e| e.expires_ms > now)
    }

    fn live_mut(&mut self, id: &str, now: u64) -> Option<&mut Entry> {
        self.by_id.get_mut(id).filter(|e| e.expires_ms > now)
    }

    /// Removes a session and its index entry.
    fn remove(&mut self, id: &str) -> Option<Entry> {
        let (key, entry) = self.by_id.remove_entry(id)?;
        self.unindex(&key, entry.record.owner.as_deref());
        Some(entry)
    }

    fn unindex(&mut self, key: &Arc<str>, owner: Option<&str>) {
        if let Some(owner) = owner
            && let Some(ids) = self.by_owner.get_mut(owner)
        {
            ids.remove(key);
            if ids.is_empty() {
                self.by_owner.remove(owner);
            }
        }
    }

    fn index(&mut self, key: &Arc<str>, owner: Option<&str>) {
        if let Some(owner) = owner {
            self.by_owner
                .entry(owner.to_owned())
                .or_default()
                .insert(key.clone());
        }
    }

    /// Moves a live session's expiry.
    fn reschedule(&mut self, id: &str, expires_ms: u64) {
        let Some((key, _)) = self.by_id.get_key_value(id) else {
            return;
        };
        let key = key.clone();
        if let Some(entry) = self.by_id.get_mut(id) {
            entry.expires_ms = expires_ms;
        }
        self.by_expiry.push(Reverse((expires_ms, key)));
        self.compact();
    }

    fn put(&mut self, id: &str, entry: Entry, capacity: Option<usize>, now: u64) {
        let expires = entry.expires_ms;
        let key = match self.by_id.get_key_value(id) {
            Some((key, old)) => {
                let (key, old_owner) = (key.clone(), old.record.owner.clone());
                self.unindex(&key, old_owner.as_deref());
                key
            }
            None => {
                if let Some(capacity) = capacity
                    && self.by_id.len() >= capacity
                    && self.sweep(now) == 0
                {
                    self.evict_soonest();
                }
                Arc::from(id)
            }
        };
        self.index(&key, entry.record.owner.as_deref());
        self.by_id.insert(key.clone(), entry);
        self.by_expiry.push(Reverse((expires, key)));
        self.compact();
    }

    /// Updates a live session's cookie state, owner and the fields `names` from `record`.
    fn patch(&mut self, id: &str, record: &Record, names: &[&String], expires_ms: u64) {
        let Some((key, entry)) = self.by_id.get_key_value(id) else {
            return;
        };
        let key = key.clone();
        if entry.record.owner != record.owner {
            let old = entry.record.owner.clone();
            self.unindex(&key, old.as_deref());
            self.index(&key, record.owner.as_deref());
        }
        if let Some(current) = self.by_id.get_mut(id) {
            current.record.cookie = record.cookie.clone();
            current.record.owner.clone_from(&record.owner);
            for name in names {
                match record.fields.get(*name) {
                    Some(bytes) => current.record.fields.insert((*name).clone(), bytes.clone()),
                    None => current.record.fields.remove(*name),
                };
            }
        }
        self.reschedule(id, expires_ms);
    }

    fn evict_soonest(&mut self) {
        while let Some(Reverse((at, id))) = self.by_expiry.pop() {
            if self.by_id.get(&id).is_some_and(|e| e.expires_ms == at) {
                self.remove(&id);
                return;
            }
        }
    }

    /// Drops heap entries left behind by updates once they outnumber the sessions.
    fn compact(&mut self) {
        if self.by_expiry.len() > 2 * self.by_id.len() + 64 {
            self.by_expiry = self
                .by_id
                .iter()
                .map(|(id, e)| Reverse((e.expires_ms, id.clone())))
                .collect();
        }
    }
}

impl Store for MemoryStore {
    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let now = millis_since_epoch(SystemTime::now());
        let mut sessions = lock(&self.sessions);
        sessions.sweep(now);
        Ok(sessions.live(id, now).map(|e| e.record.clone()))
    }

    async fn set(&self, id: &str, record: &Record, changed: Changed<'_>) -> Result<(), StoreError> {
        let now = SystemTime::now();
        let expires_ms = self.expiry_of(record, now);
        let now = millis_since_epoch(now);
        let mut sessions = lock(&self.sessions);
        sessions.sweep(now);
        match changed {
            Changed::All => {
                let entry = Entry {
                    record: record.clone(),
                    expires_ms,
                };
                sessions.put(id, entry, self.capacity, now);
            }
            Changed::Fields(names) => {
                if sessions.live(id, now).is_none() {
                    return Err(StoreError::Gone);
                }
                // In place: keep what other requests wrote to the fields this one did not
                // change.
                let names: Vec<&String> = names.iter().collect();
                sessions.patch(id, record, &names, expires_ms);
            }
        }
        Ok(())
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        lock(&self.sessions).remove(id);
        Ok(())
    }

    async fn touch(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        let now = SystemTime::now();
        let expires_ms = self.expiry_of(record, now);
        let mut sessions = lock(&self.sessions);
        let current = sessions
            .live_mut(id, millis_since_epoch(now))
            .ok_or(StoreError::Gone)?;
        current.record.cookie = record.cookie.clone();
        sessions.reschedule(id, expires_ms);
        Ok(())
    }

    async fn all(&self) -> Result<Vec<(String, Record)>, StoreError> {
        let now = millis_since_epoch(SystemTime::now());
        let mut sessions = lock(&self.sessions);
        sessions.sweep(now);
        Ok(sessions
            .by_id
            .iter()
            .filter(|(_, e)| e.expires_ms > now)
            .map(|(id, e)| (id.to_string(), e.record.clone()))
            .collect())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        *lock(&self.sessions) = Sessions::default();
        Ok(())
    }

    async fn length(&self) -> Result<usize, StoreError> {
        let now = millis_since_epoch(SystemTime::now());
        let mut sessions = lock(&self.sessions);
        sessions.sweep(now);
        Ok(sessions
            .by_id
            .values()
            .filter(|e| e.expires_ms > now)
            .count())
    }

    async fn sessions_of(&self, owner: &str) -> Result<Vec<(String, Record)>, StoreError> {
        let now = millis_since_epoch(SystemTime::now());
        let mut sessions = lock(&self.sessions);
        sessions.sweep(now);
        let Some(ids) = sessions.by_owner.get(owner) else {
            return Ok(Vec::new());
        };
        Ok(ids
            .iter()
            .filter_map(|id| Some((id.to_string(), sessions.live(id, now)?.record.clone())))
            .collect())
    }

    async fn destroy_sessions_of(
        &self,
        owner: &str,
        keep: Option<&str>,
    ) -> Result<usize, StoreError> {
        let now = millis_since_epoch(SystemTime::now());
        let mut sessions = lock(&self.sessions);
        sessions.sweep(now);
        let ids: Vec<Arc<str>> = sessions
            .by_owner
            .get(owner)
            .map(|ids| {
                ids.iter()
                    .filter(|id| Some(&***id) != keep)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Ok(ids
            .iter()
            .filter(|id| sessions.remove(id).is_some())
            .count())
    }
}
