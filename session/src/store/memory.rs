//! The embedded default store: sessions in this process's memory.
//!
//! Unlike express's `MemoryStore` it is meant for production on one machine: an expired
//! session is never returned, expired sessions are swept as the store is used (and on
//! [`MemoryStore::sweep`]), so their memory comes back, and an optional capacity bound evicts the
//! session closest to expiry when a new one would not fit.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
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
        lock(&self.sessions).sweep(now_ms())
    }

    fn expiry_of(&self, record: &Record, now: u64) -> u64 {
        let idle = u64::try_from(self.idle_ttl.as_millis()).unwrap_or(u64::MAX);
        record
            .cookie
            .expires_ms
            .unwrap_or_else(|| now.saturating_add(idle))
    }
}

fn lock(sessions: &Mutex<Sessions>) -> MutexGuard<'_, Sessions> {
    // A panic while holding the lock cannot leave a half-written entry (every write is a
    // single insert or remove), so a poisoned lock is safe to keep using.
    sessions
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now_ms() -> u64 {
    millis_since_epoch(SystemTime::now())
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
                self.by_id.remove(&id);
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
            Some((key, _)) => key.clone(),
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
        self.by_id.insert(key.clone(), entry);
        self.by_expiry.push(Reverse((expires, key)));
        self.compact();
    }

    fn evict_soonest(&mut self) {
        while let Some(Reverse((at, id))) = self.by_expiry.pop() {
            if self.by_id.get(&id).is_some_and(|e| e.expires_ms == at) {
                self.by_id.remove(&id);
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
        let now = now_ms();
        let mut sessions = lock(&self.sessions);
        sessions.sweep(now);
        Ok(sessions.live(id, now).map(|e| e.record.clone()))
    }

    async fn set(&self, id: &str, record: &Record, changed: Changed<'_>) -> Result<(), StoreError> {
        let now = now_ms();
        let expires_ms = self.expiry_of(record, now);
        let mut sessions = lock(&self.sessions);
        sessions.sweep(now);
        if let (Changed::Fields(names), Some(current)) = (changed, sessions.live_mut(id, now)) {
            // Patch in place: keep what other requests wrote to the fields this one did not
            // change.
            current.record.cookie = record.cookie.clone();
            for name in names {
                match record.fields.get(name) {
                    Some(bytes) => current.record.fields.insert(name.clone(), bytes.clone()),
                    None => current.record.fields.remove(name),
                };
            }
            sessions.reschedule(id, expires_ms);
            return Ok(());
        }
        let entry = Entry {
            record: record.clone(),
            expires_ms,
        };
        sessions.put(id, entry, self.capacity, now);
        Ok(())
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        lock(&self.sessions).by_id.remove(id);
        Ok(())
    }

    async fn touch(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        let now = now_ms();
        let expires_ms = self.expiry_of(record, now);
        let mut sessions = lock(&self.sessions);
        if let Some(current) = sessions.live_mut(id, now) {
            current.record.cookie = record.cookie.clone();
            sessions.reschedule(id, expires_ms);
        }
        Ok(())
    }

    async fn all(&self) -> Result<Vec<(String, Record)>, StoreError> {
        let now = now_ms();
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
        let now = now_ms();
        let mut sessions = lock(&self.sessions);
        sessions.sweep(now);
        Ok(sessions
            .by_id
            .values()
            .filter(|e| e.expires_ms > now)
            .count())
    }
}
