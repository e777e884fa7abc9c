//! The client-side cache of [`RedisStore::open_cached`](super::RedisStore::open_cached):
//! sessions this process has read, kept until Redis says they changed.
//!
//! # How it stays true
//!
//! The connection speaks RESP3 with `CLIENT TRACKING ON NOLOOP`: Redis remembers each key this
//! connection reads and pushes an invalidation on the same connection when anyone else writes
//! it (or it expires, or the database is flushed). `NOLOOP` leaves out this connection's own
//! writes, which the cache applies itself.
//!
//! A session key's slot goes through three states:
//! - **Loading**: a read is in flight. Its reply becomes the entry only if the slot is still
//!   this read's when the reply arrives: an invalidation, a write of this process or a lost
//!   connection in between empties the slot, and the reply (which may predate that change) is
//!   used once and not kept.
//! - **Ready**: the session as Redis holds it, with the expiry Redis enforces. A request served
//!   from here makes no round trip.
//! - **Writing**: a write of this process is in flight. Reads meanwhile go to Redis and keep
//!   nothing. A patch or a touch of a Ready session that lands while the slot is still its own
//!   becomes the new entry (the entry it started from with the changed fields, or the new
//!   cookie state, applied): each ends with a read of the key, so Redis tracks it again. Any
//!   other write (whole, destroy, fenced, overlapping) leaves the slot empty for the next read
//!   to fill.
//!
//! Losing the connection loses its tracking: the client library reports the disconnection, or
//! one of the store's commands fails on the connection itself, and every slot goes. Every read
//! that fills a slot turns tracking on first, in the same pipeline, so a read on a new
//! connection is tracked before its reply is kept.
//!
//! Blind spots the heartbeat does not close, each bounded by the entry's max age (a minute by
//! default): Redis's tracking table is bounded (`tracking-table-max-keys`, a million keys across
//! all clients by default; `open_cached` warns when it is) and, when full, forgets keys without
//! telling every client that tracked them; `SWAPDB` replaces a database without any
//! invalidation; and the one below. (`FLUSHDB` and `FLUSHALL` send a flush, which empties the
//! cache; a flush of another database than the store's concerns none of its keys.)
//!
//! `NOLOOP` has one blind spot: Redis skips this connection's invalidation for a key it evicts
//! (`maxmemory`) or drops from its tracking table (`tracking-table-max-keys`) while running a
//! command of this connection, and stops tracking the key. An entry is therefore served for at
//! most its max age (a minute by default) before it is read again.
//!
//! A connection can also fail silently: a crashed host, a failover that moves the address, a
//! NAT that forgets the flow send nothing, and Redis, having dropped the connection's tracking,
//! sends no more invalidations. So a heartbeat task sends a `PING` on the connection every
//! 250 ms ([`RedisStore::with_cache_heartbeat`](super::RedisStore::with_cache_heartbeat)), and
//! an entry is served only while a `PING` sent within the last four intervals has been
//! answered: invalidations come in order with replies, so that `PONG` means every write Redis
//! ran before the `PING` has emptied its slot here. A `PING` that fails, or goes unanswered for
//! two intervals, empties the cache and replaces the connection (see `link`); the cache
//! empties again once the new connection is in place, since Redis tracks nothing for it and
//! tells the old one nothing more.
//!
//! The contract, then: this process sees its own writes at once; another process's write is
//! seen by every request that starts after the invalidation has arrived here (bench/RESULTS.md
//! measures that window under load), and in any case within the window (1 s by default) of the
//! write, even if the network fails silently; a connection lost empties the cache.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use ::redis::aio::{AsyncPushSender, SendError};
use ::redis::{Cmd, PushInfo, PushKind, RedisError, Value};

use crate::record::{Record, millis_since_epoch};

/// How long an entry is served at most before it is read from Redis again, by default.
pub(super) const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

/// How often the tracking connection is asked for a `PING`, by default.
pub(super) const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(250);

/// How many heartbeat intervals an entry is served after the last `PING` that was answered
/// was sent: past that, the invalidation channel is not known to be alive, and loads read Redis.
const HEARTBEATS_PER_WINDOW: u64 = 4;

/// What the cache has done so far; from [`RedisStore::cache_stats`](super::RedisStore::cache_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisCacheStats {
    /// Loads served from memory.
    pub hits: u64,
    /// Loads that went to Redis.
    pub misses: u64,
    /// Keys Redis said another client changed (each drops its entry if there is one).
    pub invalidations: u64,
    /// Times the whole cache was emptied: the connection dropped, or the database was flushed.
    pub resets: u64,
    /// Sessions held now.
    pub entries: u64,
}

/// The store's side of the client-side cache: every call the store makes into it, each doing
/// nothing for a store without one. The request path's use of the cache (a lookup, the read
/// that fills a slot) is the store's read; everything else goes through here.
#[derive(Clone, Default)]
pub(super) struct Cache(Option<Arc<ClientCache>>, Arc<StoreAlive>);

/// Held by the store and its clones only (the connection holds the cache itself, as where its
/// pushes go): the heartbeat task stops when the last of them is dropped, letting its
/// connection go.
#[derive(Default)]
pub(super) struct StoreAlive;

impl Cache {
    /// A cache of up to `capacity` sessions, or none.
    pub(super) fn new(capacity: Option<usize>) -> Self {
        Self(capacity.map(ClientCache::new), Arc::default())
    }

    pub(super) fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// The cache, for its heartbeat task, with the word of whether its store is still alive
    /// (which the task must not keep so).
    pub(super) fn for_heartbeat(&self) -> Option<(Arc<ClientCache>, std::sync::Weak<StoreAlive>)> {
        let cache = self.0.clone()?;
        Some((cache, Arc::downgrade(&self.1)))
    }

    pub(super) fn set_heartbeat(&self, every: Duration) {
        if let Some(cache) = &self.0 {
            cache.set_heartbeat(every);
        }
    }

    /// The cache, for a read that may be served from it or fill it.
    pub(super) fn get(&self) -> Option<&Arc<ClientCache>> {
        self.0.as_ref()
    }

    /// Where the connection sends what Redis pushes (invalidations, a flush) and the library's
    /// word that the connection dropped, if there is a cache.
    pub(super) fn pushes(&self) -> Option<Arc<ClientCache>> {
        self.0.clone()
    }

    /// Marks a write of the session at `key` in flight (see [`ClientCache::writing`]).
    pub(super) fn writing(&self, key: &[u8], patch: bool) -> Option<WriteTicket> {
        self.0.as_ref().map(|cache| cache.writing(key, patch))
    }

    /// Marks writes (not patches) of the sessions at `keys` in flight; the keys are not even
    /// made without a cache.
    pub(super) fn writing_all(&self, keys: impl Iterator<Item = Vec<u8>>) -> Vec<WriteTicket> {
        match &self.0 {
            Some(cache) => keys.map(|key| cache.writing(&key, false)).collect(),
            None => Vec::new(),
        }
    }

    /// Empties the slot at `key`.
    pub(super) fn forget(&self, key: &[u8]) {
        if let Some(cache) = &self.0 {
            cache.forget(key);
        }
    }

    /// Empties the cache, counting a reset.
    pub(super) fn reset(&self, why: &str) {
        if let Some(cache) = &self.0 {
            cache.reset(why);
        }
    }

    /// Resets the cache if `error` is a failure of the connection itself (not a reply Redis
    /// gave): the connection may have been replaced without the library's word, and a new one
    /// tracks nothing yet.
    pub(super) fn command_failed(&self, error: &RedisError) {
        if !matches!(error.kind(), ::redis::ErrorKind::Server(_)) {
            self.reset("a Redis command failed");
        }
    }

    /// Empties the cache now and again when the guard drops.
    pub(super) fn emptied(&self) -> Emptied<'_> {
        let emptied = Emptied(self.0.as_deref());
        emptied.empty();
        emptied
    }

    pub(super) fn set_max_age(&self, max_age: Duration) {
        if let Some(cache) = &self.0 {
            cache.set_max_age(max_age);
        }
    }

    pub(super) fn stats(&self) -> Option<RedisCacheStats> {
        self.0.as_deref().map(ClientCache::stats)
    }
}

/// Empties a client-side cache now and when dropped.
pub(super) struct Emptied<'a>(Option<&'a ClientCache>);

impl Emptied<'_> {
    fn empty(&self) {
        if let Some(cache) = self.0 {
            cache.clear();
        }
    }
}

impl Drop for Emptied<'_> {
    fn drop(&mut self) {
        self.empty();
    }
}

/// Tracking of the keys this connection reads, but not of its own writes.
pub(super) fn tracking_on() -> Cmd {
    let mut command = ::redis::cmd("CLIENT");
    command.arg("TRACKING").arg("ON").arg("NOLOOP");
    command
}

pub(super) struct ClientCache {
    slots: Mutex<Slots>,
    capacity: usize,
    /// How long an entry is served at most (ms): the bound on how stale an entry can get if an
    /// invalidation never comes (see `RedisStore::with_cache_max_age`).
    max_age_ms: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    resets: AtomicU64,
    /// The heartbeat's interval (ms): see [`ClientCache::heartbeat`].
    heartbeat_ms: AtomicU64,
    /// When the latest `PING` that was answered was sent (ms since the epoch). Redis pushes
    /// invalidations on the connection in order with its replies, and they are applied as they
    /// are read, so by that `PONG` every write Redis ran before the `PING` has emptied its slot.
    heard_ms: AtomicU64,
    /// Whether the last heartbeat failed (it is logged when a failure starts and when it ends).
    unheard: AtomicBool,
    /// Whether Redis refused `CLIENT TRACKING` last time it was asked: the refusal is logged as
    /// a warning when it starts, not on every load after it.
    tracking_refused: AtomicBool,
}

#[derive(Default)]
struct Slots {
    /// foldhash rather than SipHash: a cached increment hashes its key five times, and keys
    /// are ids this process signed or Redis sent, not chosen by a client.
    by_key: HashMap<Vec<u8>, Slot, foldhash::quality::RandomState>,
    /// Sessions in the Ready state (what `capacity` bounds).
    ready: usize,
    /// Keys in the order they became Ready, oldest first, for eviction; may hold keys whose
    /// slot has changed since (skipped when met).
    order: VecDeque<Vec<u8>>,
    next_ticket: u64,
}

enum Slot {
    Loading(u64),
    Ready {
        record: Record,
        expires_ms: u64,
    },
    /// `base`: the Ready entry the write started from, with its expiry (which a write-through
    /// keeps: the max age counts from the last read from Redis, not from the last patch).
    Writing {
        ticket: u64,
        base: Option<(Record, u64)>,
    },
}

/// What a load finds.
pub(super) enum Lookup {
    Hit(Record),
    /// Load from Redis; with a ticket, the reply may fill the slot.
    Miss(Option<LoadTicket>),
}

impl ClientCache {
    pub(super) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: Mutex::default(),
            capacity,
            max_age_ms: AtomicU64::new(millis(DEFAULT_MAX_AGE)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            heartbeat_ms: AtomicU64::new(millis(DEFAULT_HEARTBEAT)),
            heard_ms: AtomicU64::new(0),
            unheard: AtomicBool::new(false),
            tracking_refused: AtomicBool::new(false),
        })
    }

    /// The heartbeat's interval.
    pub(super) fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms.load(Relaxed))
    }

    pub(super) fn set_heartbeat(&self, every: Duration) {
        self.heartbeat_ms.store(millis(every).max(1), Relaxed);
    }

    /// How long after the latest answered `PING` was sent entries are still served: the bound
    /// on how late this process sees another's write, even if the network fails silently.
    pub(super) fn window(&self) -> Duration {
        self.heartbeat() * HEARTBEATS_PER_WINDOW as u32
    }

    /// Whether, at `now_ms`, a `PING` sent recently enough has been answered.
    fn heard_recently(&self, now_ms: u64) -> bool {
        let window = self.heartbeat_ms.load(Relaxed) * HEARTBEATS_PER_WINDOW;
        now_ms.saturating_sub(self.heard_ms.load(Relaxed)) <= window
    }

    /// The heartbeat's `PING`, sent at `sent_ms`, was answered (`true`) or failed or timed out
    /// (`false`). A failure empties the cache: its entries are not known to be current.
    pub(super) fn heartbeat_answered(&self, sent_ms: u64, answered: bool) {
        if answered {
            self.heard_ms.fetch_max(sent_ms, Relaxed);
            if self.unheard.swap(false, Relaxed) {
                tracing::info!("Redis answers the session cache's heartbeat again");
            }
            return;
        }
        if !self.unheard.swap(true, Relaxed) {
            tracing::warn!(
                "Redis did not answer the session cache's heartbeat in time; sessions are read \
                 from Redis until it does"
            );
        }
        self.reset("a heartbeat went unanswered");
    }

    /// Notes what Redis answered to `CLIENT TRACKING` before a load, logging a refusal once
    /// when it starts (and again at debug level for each load while it lasts) and the end of
    /// one.
    pub(super) fn tracking_answered(&self, refusal: Option<&RedisError>) {
        let was_refused = self.tracking_refused.swap(refusal.is_some(), Relaxed);
        match (refusal, was_refused) {
            (Some(error), false) => {
                tracing::warn!(%error, "Redis refused CLIENT TRACKING; sessions are served uncached until it allows it again");
            }
            (Some(error), true) => {
                tracing::debug!(%error, "CLIENT TRACKING still refused; session not cached")
            }
            (None, true) => {
                tracing::info!("Redis allows CLIENT TRACKING again; sessions are cached")
            }
            (None, false) => {}
        }
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        // No code panics while holding the lock; if some did, the map is still whole.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The session at `key` if it is held and Redis has not expired it by `now_ms`; else a
    /// miss, with a ticket if this load may fill the slot (no other load or write is in flight).
    pub(super) fn lookup(self: &Arc<Self>, key: &[u8], now_ms: u64) -> Lookup {
        let mut slots = self.slots();
        let ticket = slots.ticket();
        let slots = &mut *slots;
        match slots.by_key.get_mut(key) {
            Some(Slot::Ready { record, expires_ms })
                if now_ms < *expires_ms && self.heard_recently(now_ms) =>
            {
                self.hits.fetch_add(1, Relaxed);
                return Lookup::Hit(record.clone());
            }
            Some(slot @ Slot::Ready { .. }) => {
                *slot = Slot::Loading(ticket);
                slots.ready -= 1;
            }
            Some(_) => {
                self.misses.fetch_add(1, Relaxed);
                return Lookup::Miss(None);
            }
            None => {
                slots.by_key.insert(key.to_vec(), Slot::Loading(ticket));
            }
        }
        self.misses.fetch_add(1, Relaxed);
        Lookup::Miss(Some(LoadTicket {
            cache: Arc::clone(self),
            key: key.to_vec(),
            ticket,
        }))
    }

    /// Marks a write of the session at `key` in flight. With `patch` (a patch or a touch), a
    /// Ready entry is kept aside for [`WriteTicket::patched`] to build on.
    fn writing(self: &Arc<Self>, key: &[u8], patch: bool) -> WriteTicket {
        let mut slots = self.slots();
        let ticket = slots.ticket();
        let slots = &mut *slots;
        let writing = Slot::Writing { ticket, base: None };
        // In place when the slot exists: one lookup, and no copy of the key.
        match slots.by_key.get_mut(key) {
            Some(slot) => {
                if let Slot::Ready { record, expires_ms } = std::mem::replace(slot, writing) {
                    slots.ready -= 1;
                    if let (true, Slot::Writing { base, .. }) = (patch, slot) {
                        *base = Some((record, expires_ms));
                    }
                }
            }
            None => {
                slots.by_key.insert(key.to_vec(), writing);
            }
        }
        WriteTicket {
            cache: Arc::clone(self),
            key: key.to_vec(),
            ticket,
        }
    }

    /// Empties the slot at `key`: the next load reads Redis (a load in flight keeps nothing).
    fn forget(&self, key: &[u8]) {
        self.slots().remove(key);
    }

    /// Empties every slot.
    fn clear(&self) {
        let mut slots = self.slots();
        slots.by_key.clear();
        slots.order.clear();
        slots.ready = 0;
    }

    fn set_max_age(&self, max_age: Duration) {
        self.max_age_ms.store(millis(max_age), Relaxed);
    }

    /// What Redis pushed: invalidated keys, a flush (a nil key list), or the library's word that
    /// the connection dropped.
    fn on_push(&self, push: PushInfo) {
        match push.kind {
            PushKind::Invalidate => match push.data.into_iter().next() {
                Some(Value::Array(keys)) | Some(Value::Set(keys)) => {
                    let mut slots = self.slots();
                    for key in keys {
                        if let Value::BulkString(key) = key {
                            slots.remove(&key);
                        }
                        self.invalidations.fetch_add(1, Relaxed);
                    }
                }
                _ => self.reset("Redis was flushed"),
            },
            PushKind::Disconnection => self.reset("the Redis connection dropped"),
            _ => {}
        }
    }

    pub(super) fn reset(&self, why: &str) {
        self.clear();
        self.resets.fetch_add(1, Relaxed);
        tracing::debug!(why, "client-side session cache emptied");
    }

    fn stats(&self) -> RedisCacheStats {
        RedisCacheStats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            invalidations: self.invalidations.load(Relaxed),
            resets: self.resets.load(Relaxed),
            entries: self.slots().ready as u64,
        }
    }

    /// Makes `record` the entry at `key` if the slot still holds `ticket`, evicting another
    /// entry if the cache is full.
    fn fill(&self, key: &[u8], ticket: u64, filled: Option<(Record, u64)>) {
        let mut slots = self.slots();
        let slots = &mut *slots;
        let Some(slot) = slots.by_key.get_mut(key) else {
            return;
        };
        // A load's reply starts the entry's max age and its place in the eviction order; a
        // write-through keeps both (its key is still queued: eviction requeues Writing slots).
        let loaded = match slot {
            Slot::Loading(t) if *t == ticket => true,
            Slot::Writing { ticket: t, .. } if *t == ticket => false,
            _ => return,
        };
        match filled {
            Some((record, mut expires_ms)) if self.capacity > 0 => {
                if loaded {
                    let now = millis_since_epoch(SystemTime::now());
                    let max_age = self.max_age_ms.load(Relaxed);
                    expires_ms = expires_ms.min(now.saturating_add(max_age));
                }
                *slot = Slot::Ready { record, expires_ms };
                slots.ready += 1;
                if loaded {
                    slots.order.push_back(key.to_vec());
                }
                if slots.ready > self.capacity {
                    slots.evict_one(key);
                }
                if slots.order.len() > 2 * self.capacity + 64 {
                    // Keys queued twice (read again after an invalidation) or no longer held.
                    let Slots { by_key, order, .. } = slots;
                    order.retain(|key| {
                        matches!(
                            by_key.get(key),
                            Some(Slot::Ready { .. } | Slot::Writing { .. })
                        )
                    });
                }
            }
            _ => {
                slots.by_key.remove(key);
            }
        }
    }
}

impl AsyncPushSender for ClientCache {
    fn send(&self, push: PushInfo) -> Result<(), SendError> {
        self.on_push(push);
        Ok(())
    }
}

impl Slots {
    fn ticket(&mut self) -> u64 {
        self.next_ticket += 1;
        self.next_ticket
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some(Slot::Ready { .. }) = self.by_key.remove(key) {
            self.ready -= 1;
        }
    }

    /// Drops the oldest Ready entry other than `keep`'s. (Redis keeps tracking its key and
    /// will send one invalidation for it that finds nothing.)
    fn evict_one(&mut self, keep: &[u8]) {
        for _ in 0..self.order.len() {
            let Some(key) = self.order.pop_front() else {
                return;
            };
            match self.by_key.get(&key) {
                Some(Slot::Ready { .. }) if key != keep => {
                    self.remove(&key);
                    return;
                }
                // Still held (or about to be again): queued behind the others.
                Some(Slot::Ready { .. } | Slot::Writing { .. }) => self.order.push_back(key),
                _ => {}
            }
        }
    }
}

/// A load allowed to fill its slot. Dropped without [`fill`](Self::fill) (an error, a request
/// cancelled mid-load), it empties the slot if the slot is still its own.
pub(super) struct LoadTicket {
    cache: Arc<ClientCache>,
    key: Vec<u8>,
    ticket: u64,
}

impl LoadTicket {
    /// Keeps `record`, which Redis expires at `expires_ms`; `None` keeps nothing.
    pub(super) fn fill(self, loaded: Option<(&Record, u64)>) {
        self.cache.fill(
            &self.key,
            self.ticket,
            loaded.map(|(record, at)| (record.clone(), at)),
        );
    }
}

impl Drop for LoadTicket {
    fn drop(&mut self) {
        let mut slots = self.cache.slots();
        if let Entry::Occupied(slot) = slots.by_key.entry(std::mem::take(&mut self.key))
            && matches!(slot.get(), Slot::Loading(t) if *t == self.ticket)
        {
            slot.remove();
        }
    }
}

/// A write in flight. Dropped without [`patched`](Self::patched), it empties its slot if the
/// slot is still its own.
pub(super) struct WriteTicket {
    cache: Arc<ClientCache>,
    key: Vec<u8>,
    ticket: u64,
}

impl WriteTicket {
    /// The patch landed: if the slot is still this write's and held a Ready entry when it
    /// began, the entry becomes `apply(entry)`, which Redis expires at `expires_ms`.
    pub(super) fn patched(self, expires_ms: u64, apply: impl FnOnce(Record) -> Record) {
        let base = {
            let mut slots = self.cache.slots();
            match slots.by_key.get_mut(&self.key) {
                Some(Slot::Writing { ticket, base }) if *ticket == self.ticket => base.take(),
                _ => None,
            }
        };
        // Applied outside the lock; the slot stays Writing (without its base) meanwhile.
        let filled = base.map(|(base, until)| (apply(base), expires_ms.min(until)));
        self.cache.fill(&self.key, self.ticket, filled);
    }
}

impl Drop for WriteTicket {
    fn drop(&mut self) {
        let mut slots = self.cache.slots();
        if let Entry::Occupied(slot) = slots.by_key.entry(std::mem::take(&mut self.key))
            && matches!(slot.get(), Slot::Writing { ticket, .. } if *ticket == self.ticket)
        {
            slot.remove();
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
