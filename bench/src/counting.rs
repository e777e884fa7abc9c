//! Stores that add up the bytes they are asked to write, for "bytes written to the store per
//! request" on the memory stores (Redis is measured by Redis itself).
//!
//! Counting costs time (tower-sessions' record has to be serialized just to be measured), so the
//! load benchmark measures bytes in a separate, shorter run with these wrappers and throughput
//! without them.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sessionly::MemoryStore;
use sessionly::store::{Changed, Record, Store, StoreError};
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record as TowerRecord};
use tower_sessions::session_store;

/// Bytes and write calls a counting store has seen.
#[derive(Debug, Default)]
pub struct WriteStats {
    bytes: AtomicU64,
    writes: AtomicU64,
}

impl WriteStats {
    fn add(&self, bytes: usize) {
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    /// `(bytes, writes)` so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.bytes.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }
}

/// This project's [`MemoryStore`], counting what each `set` and `touch` writes: the cookie
/// state (postcard, as the Redis store writes it) plus, for every field written, its name and
/// its encoded bytes.
#[derive(Clone, Default)]
pub struct CountingStore {
    /// The store that does the work.
    pub inner: MemoryStore,
    /// What has been written.
    pub stats: Arc<WriteStats>,
}

fn cookie_bytes(record: &Record) -> usize {
    postcard::to_allocvec(&record.cookie).map_or(0, |v| v.len())
}

fn field_bytes(record: &Record, name: &str) -> usize {
    name.len() + record.fields.get(name).map_or(0, |v| v.len())
}

impl Store for CountingStore {
    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        self.inner.get(id).await
    }

    async fn set(&self, id: &str, record: &Record, changed: Changed<'_>) -> Result<(), StoreError> {
        let fields: usize = match changed.fields() {
            None => record.fields.keys().map(|n| field_bytes(record, n)).sum(),
            Some(names) => names.iter().map(|n| field_bytes(record, n)).sum(),
        };
        self.stats.add(cookie_bytes(record) + fields);
        self.inner.set(id, record, changed).await
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        self.inner.destroy(id).await
    }

    async fn touch(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        self.stats.add(cookie_bytes(record));
        self.inner.touch(id, record).await
    }

    /// The memory store's, so the middleware skips the same touches it skips without the
    /// counter (one per session and minute at most, for a browser-session cookie).
    fn idle_ttl(&self) -> Option<Duration> {
        self.inner.idle_ttl()
    }
}

/// A tower-sessions store wrapper counting the MessagePack size (`rmp_serde`, what
/// tower-sessions' own Redis and SQL stores write) of every record it creates or saves.
#[derive(Clone)]
pub struct CountingTowerStore<S> {
    /// The store that does the work.
    pub inner: S,
    /// What has been written.
    pub stats: Arc<WriteStats>,
}

impl<S> fmt::Debug for CountingTowerStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingTowerStore")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// An `io::Write` that only counts.
#[derive(Default)]
struct ByteCount(usize);

impl io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The MessagePack size of a tower-sessions record.
pub fn tower_record_bytes(record: &TowerRecord) -> usize {
    let mut count = ByteCount::default();
    rmp_serde::encode::write(&mut count, record).map_or(0, |()| count.0)
}

#[async_trait]
impl<S: SessionStore + Clone> SessionStore for CountingTowerStore<S> {
    async fn create(&self, record: &mut TowerRecord) -> session_store::Result<()> {
        self.stats.add(tower_record_bytes(record));
        self.inner.create(record).await
    }

    async fn save(&self, record: &TowerRecord) -> session_store::Result<()> {
        self.stats.add(tower_record_bytes(record));
        self.inner.save(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<TowerRecord>> {
        self.inner.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.inner.delete(id).await
    }
}
