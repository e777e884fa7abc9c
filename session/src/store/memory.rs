//! The embedded default store: sessions in this process's memory.
//!
//! Unlike express's `MemoryStore` it is meant for production on one machine: an expired
//! session is never returned, expired sessions are swept as the store is used (a few entries
//! per call, and all of them on [`MemoryStore::sweep`]), so their memory comes back, and an
//! optional capacity bound evicts a session close to expiry when a new one would not fit.
//!
//! Each session is one compact entry: its expiry, owner and record encoded into a single
//! allocation, next to its id. Reading decodes it; a touch rewrites the expiry and the cookie
//! state in place when their size allows.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use indexmap::IndexMap;

use crate::observe::{self, metric::MEMORY_EVICTIONS};
use crate::record::{CookieState, Fields, Record, millis_since_epoch};
use crate::store::{
    self, Capabilities, Changed, DEFAULT_IDLE_TTL, Listing, OwnerIndex, Store, StoreError,
};

/// Entries checked for expiry by each write (two by each read): enough to keep up with the
/// sessions a steady load creates, without a pause for a long sweep.
const SWEEP_PER_WRITE: usize = 4;

/// How many entries a full store samples to pick the one to evict.
const EVICTION_SAMPLE: usize = 16;

/// The top bit of an entry's stored expiry: the session came back after it was created (a
/// later request loaded, touched or changed it). Expiries are far below it (see
/// `store_expiry_ms`), so the bit costs no byte of its own.
const RETURNED: u64 = 1 << 63;

/// Sessions in memory. Cloning it gives another handle to the same sessions.
///
/// The layer's default store, always compiled. Pick it for one process, where sessions may
/// vanish on a restart (see [the guide to stores](crate::guide::stores) for the others).
///
/// ```
/// use sessionly::{MemoryStore, SessionLayer};
///
/// let store = MemoryStore::new().with_capacity(100_000);
/// let layer = SessionLayer::builder()
///     .secret("a long random secret, 32 bytes or more")
///     .store(store.clone())
///     .build()
///     .unwrap();
/// ```
///
/// In-process, but fit for production on one machine, unlike express's `MemoryStore`:
/// - An expired session is never returned, and expired sessions are swept as the store is used
///   (or all at once by [`sweep`](MemoryStore::sweep)), so their memory comes back.
/// - A session without expiry (a browser-session cookie) is kept for an idle TTL after its last
///   write or touch: 24 hours by default, [`with_idle_ttl`](MemoryStore::with_idle_ttl).
/// - It holds at most 1,000,000 sessions ([`DEFAULT_CAPACITY`](MemoryStore::DEFAULT_CAPACITY),
///   about 250 MB of small sessions; [`with_capacity(n)`](MemoryStore::with_capacity) to change
///   it). When full, a new session evicts one that never came back after its first request
///   before any that did, closest to expiry first, so a flood of first visits does not sign out
///   the users who keep coming back.
/// - A session costs about 184 bytes beyond its encoded data (measured with 1,000,000
///   sessions, `bench/`), and every byte comes back when it expires.
/// - It has the per-owner index ([`OwnerIndex`]: a set of ids per owner) and listing
///   ([`Listing`]); not the store-side turn, which one process does not need
///   ([`lock_sessions`](crate::SessionLayerBuilder::lock_sessions) orders its requests).
#[derive(Clone)]
pub struct MemoryStore {
    sessions: Arc<Mutex<Sessions>>,
    capacity: Option<usize>,
    idle_ttl: Duration,
}

#[derive(Default)]
struct Sessions {
    /// Entries in a dense vector behind a hash index: the sweep walks it with a cursor and
    /// eviction samples it, so no second structure orders the sessions by expiry.
    by_id: IndexMap<Box<str>, Entry>,
    /// Where the incremental sweep goes on.
    cursor: usize,
    /// The per-owner index: the ids of each owner's sessions, kept in step with `by_id`.
    by_owner: HashMap<Box<str>, HashSet<Box<str>>>,
}

/// One session in a single allocation: its store expiry (8 bytes, little-endian), its owner
/// (length + 1, then the text; 0 for none), its cookie state (length, then postcard), then each
/// field as length-prefixed name and value. Lengths are LEB128.
pub(crate) struct Entry(Box<[u8]>);

/// An entry's owner, encoded cookie state and fields by name.
#[cfg(feature = "fuzzing")]
pub(crate) type EntryParts<'a> = (
    Option<&'a str>,
    &'a [u8],
    std::collections::BTreeMap<&'a str, &'a [u8]>,
);

/// The parts of an entry after the expiry.
struct Sections<'a> {
    owner: Option<&'a str>,
    cookie: &'a [u8],
    fields: &'a [u8],
}

/// Counts only: the ids are the sessions' credentials and stay out of logs.
impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sessions = lock(&self.sessions);
        f.debug_struct("MemoryStore")
            .field("sessions", &sessions.by_id.len())
            .field("owners", &sessions.by_owner.len())
            .field("capacity", &self.capacity)
            .field("idle_ttl", &self.idle_ttl)
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// How many sessions [`MemoryStore::new`] keeps at most.
    pub const DEFAULT_CAPACITY: usize = 1_000_000;

    /// An empty store that keeps at most [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY)
    /// (1,000,000) sessions — about
    /// 250 MB for sessions of a few small fields — so that a flood of new visitors cannot take
    /// all the memory; see [`with_capacity`](MemoryStore::with_capacity) for what happens when
    /// it is full.
    pub fn new() -> Self {
        Self {
            sessions: Arc::default(),
            capacity: Some(Self::DEFAULT_CAPACITY),
            idle_ttl: DEFAULT_IDLE_TTL,
        }
    }

    /// Keeps at most `capacity` sessions (`usize::MAX`: no bound). A new session beyond that
    /// first sweeps the next 16 sessions for expired ones and, if none was, evicts one from a
    /// sample of 16: a session that never came back after it was created (one request, then
    /// nothing) before any that did, and among those the one closest to expiry. So a flood of
    /// first visits (a crawler, an attack) evicts other first visits, not the signed-in users
    /// who keep coming back; only a store full of returning sessions evicts those, closest to
    /// expiry first. An expired session elsewhere may wait for the sweep meanwhile. Handles
    /// cloned before this call keep the old bound.
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity.max(1));
        self
    }

    /// How long a session without expiry is kept after its last write or touch.
    pub fn with_idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = ttl;
        self
    }

    /// Removes every expired session now, gives the memory they held back to the allocator,
    /// and returns how many there were. The store sweeps a few sessions on every call anyway;
    /// call this after a burst of sessions has expired, or from a timer.
    pub fn sweep(&self) -> usize {
        lock(&self.sessions).sweep(millis_since_epoch(SystemTime::now()))
    }

    /// The expiry an entry stores: below the [`RETURNED`] bit (a saturated expiry, about 292
    /// million years from now, is cut to 146 million).
    fn expiry_of(&self, record: &Record, now: SystemTime) -> u64 {
        record
            .cookie
            .store_expiry_ms(self.idle_ttl, now)
            .min(RETURNED - 1)
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
        let before = self.by_id.len();
        let mut expired = Vec::new();
        self.by_id.retain(|id, entry| {
            let live = entry.expires_ms() > now;
            if !live && let Some(owner) = entry.owner() {
                expired.push((id.clone(), Box::<str>::from(owner)));
            }
            live
        });
        for (id, owner) in expired {
            self.unindex(&id, Some(&owner));
        }
        self.cursor = 0;
        self.shrink();
        before - self.by_id.len()
    }

    /// Checks up to `budget` entries at the cursor and removes the expired ones.
    fn sweep_some(&mut self, now: u64, budget: usize) {
        for _ in 0..budget {
            if self.cursor >= self.by_id.len() {
                self.cursor = 0;
                if self.by_id.is_empty() {
                    return;
                }
            }
            let expired = self
                .by_id
                .get_index(self.cursor)
                .is_some_and(|(_, entry)| entry.expires_ms() <= now);
            if expired {
                // The last entry moves here; the next round checks it.
                self.remove_index(self.cursor);
            } else {
                self.cursor += 1;
            }
        }
        self.shrink();
    }

    /// Gives memory back once the sessions fill less than a quarter of it.
    fn shrink(&mut self) {
        let (len, capacity) = (self.by_id.len(), self.by_id.capacity());
        if capacity > 64 && len < capacity / 4 {
            self.by_id.shrink_to(len * 2);
        }
    }

    fn live(&self, id: &str, now: u64) -> Option<&Entry> {
        self.by_id.get(id).filter(|e| e.expires_ms() > now)
    }

    fn live_mut(&mut self, id: &str, now: u64) -> Option<&mut Entry> {
        self.by_id.get_mut(id).filter(|e| e.expires_ms() > now)
    }

    /// A live session a request came back for: marked so that eviction spares it.
    fn returning(&mut self, id: &str, now: u64) -> Option<&Entry> {
        let entry = self.live_mut(id, now)?;
        entry.mark_returned();
        Some(entry)
    }

    fn remove(&mut self, id: &str) -> Option<Entry> {
        let index = self.by_id.get_index_of(id)?;
        self.remove_index(index)
    }

    /// Removes a session and its index entry.
    fn remove_index(&mut self, index: usize) -> Option<Entry> {
        let (id, entry) = self.by_id.swap_remove_index(index)?;
        observe::memory_sessions(self.by_id.len());
        self.unindex(&id, entry.owner());
        Some(entry)
    }

    fn unindex(&mut self, id: &str, owner: Option<&str>) {
        if let Some(owner) = owner
            && let Some(ids) = self.by_owner.get_mut(owner)
        {
            ids.remove(id);
            if ids.is_empty() {
                self.by_owner.remove(owner);
            }
        }
    }

    fn index(&mut self, id: &str, owner: Option<&str>) {
        if let Some(owner) = owner {
            self.by_owner
                .entry(owner.into())
                .or_default()
                .insert(id.into());
        }
    }

    /// Inserts or replaces a session, evicting another if a new one would not fit.
    fn put(&mut self, id: &str, entry: Entry, capacity: Option<usize>, now: u64) {
        if let Some(slot) = self.by_id.get_mut(id) {
            // Written again: the session came back.
            let mut entry = entry;
            entry.mark_returned();
            let old = std::mem::replace(slot, entry);
            let new_owner: Option<Box<str>> = slot.owner().map(Into::into);
            if old.owner() != new_owner.as_deref() {
                self.unindex(id, old.owner());
                self.index(id, new_owner.as_deref());
            }
            return;
        }
        if let Some(capacity) = capacity
            && self.by_id.len() >= capacity
        {
            self.sweep_some(now, EVICTION_SAMPLE);
            if self.by_id.len() >= capacity {
                self.evict_soonest();
            }
        }
        self.index(id, entry.owner());
        self.by_id.insert(id.into(), entry);
        observe::memory_sessions(self.by_id.len());
    }

    /// Evicts a session from a sample at the cursor: one that never came back if there is
    /// one, closest to expiry first.
    fn evict_soonest(&mut self) {
        let len = self.by_id.len();
        let soonest = (0..EVICTION_SAMPLE.min(len))
            .map(|step| (self.cursor + step) % len)
            .min_by_key(|&index| {
                let entry = &self.by_id[index];
                (entry.returned(), entry.expires_ms())
            });
        if let Some(index) = soonest {
            self.remove_index(index);
            observe::count_one(MEMORY_EVICTIONS);
        }
    }
}

/// A record as the store keeps it.
fn encode(record: &Record, expires_ms: u64) -> Result<Entry, StoreError> {
    let cookie = postcard::to_allocvec(&record.cookie).map_err(backend)?;
    let fields: &Fields = &record.fields;
    Ok(assemble(
        expires_ms,
        record.owner.as_deref(),
        &cookie,
        fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_ref())),
    ))
}

pub(crate) fn assemble<'a>(
    expires_ms: u64,
    owner: Option<&str>,
    cookie: &[u8],
    fields: impl Iterator<Item = (&'a str, &'a [u8])> + Clone,
) -> Entry {
    const PREFIX: usize = 10;
    let size = 8
        + owner.map_or(1, |o| o.len() + PREFIX)
        + cookie.len()
        + PREFIX
        + fields
            .clone()
            .map(|(name, value)| name.len() + value.len() + 2 * PREFIX)
            .sum::<usize>();
    let mut blob = Vec::with_capacity(size);
    blob.extend_from_slice(&expires_ms.to_le_bytes());
    match owner {
        Some(owner) => {
            put_len(&mut blob, owner.len() + 1);
            blob.extend_from_slice(owner.as_bytes());
        }
        None => put_len(&mut blob, 0),
    }
    put_bytes(&mut blob, cookie);
    for (name, value) in fields {
        put_bytes(&mut blob, name.as_bytes());
        put_bytes(&mut blob, value);
    }
    Entry(blob.into_boxed_slice())
}

impl Entry {
    /// An entry of arbitrary bytes, for the fuzz targets.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        Self(bytes.into())
    }

    /// The entry's bytes, for the fuzz targets.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The owner, the encoded cookie state and the fields by name, for the fuzz targets.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn parts(&self) -> Result<EntryParts<'_>, StoreError> {
        let sections = self.sections()?;
        let fields = Self::fields(sections.fields).collect::<Result<_, _>>()?;
        Ok((sections.owner, sections.cookie, fields))
    }

    /// The first eight bytes: the expiry, with the [`RETURNED`] bit.
    fn head(&self) -> u64 {
        self.0
            .first_chunk::<8>()
            .map_or(0, |bytes| u64::from_le_bytes(*bytes))
    }

    /// When the store drops the session; an unreadable entry counts as expired.
    pub(crate) fn expires_ms(&self) -> u64 {
        self.head() & !RETURNED
    }

    /// Whether a request came back for the session after it was created.
    pub(crate) fn returned(&self) -> bool {
        self.head() & RETURNED != 0
    }

    fn mark_returned(&mut self) {
        let head = self.head() | RETURNED;
        if let Some(bytes) = self.0.first_chunk_mut::<8>() {
            *bytes = head.to_le_bytes();
        }
    }

    fn sections(&self) -> Result<Sections<'_>, StoreError> {
        let corrupt = || backend("corrupt memory store entry");
        let mut rest = self.0.get(8..).ok_or_else(corrupt)?;
        let owner = match take_len(&mut rest).ok_or_else(corrupt)? {
            0 => None,
            len => {
                let (owner, after) = rest.split_at_checked(len - 1).ok_or_else(corrupt)?;
                rest = after;
                Some(std::str::from_utf8(owner).map_err(|_| corrupt())?)
            }
        };
        let cookie = take_bytes(&mut rest).ok_or_else(corrupt)?;
        Ok(Sections {
            owner,
            cookie,
            fields: rest,
        })
    }

    pub(crate) fn owner(&self) -> Option<&str> {
        self.sections().ok()?.owner
    }

    /// The encoded fields, as (name, value) slices of the blob.
    fn fields(fields: &[u8]) -> impl Iterator<Item = Result<(&str, &[u8]), StoreError>> + Clone {
        let mut rest = fields;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let pair = take_bytes(&mut rest).and_then(|name| {
                let name = std::str::from_utf8(name).ok()?;
                Some((name, take_bytes(&mut rest)?))
            });
            if pair.is_none() {
                rest = &[];
            }
            Some(pair.ok_or_else(|| backend("corrupt memory store entry")))
        })
    }

    /// The entry's [`Record::encoded_size`] if it is over `max_size`, read off its length
    /// prefixes; `None` without reading them when the entry itself is no longer than that.
    fn size_over(&self, max_size: usize) -> Result<Option<usize>, StoreError> {
        if self.0.len() <= max_size {
            return Ok(None);
        }
        let sections = self.sections()?;
        let mut size = sections.owner.map_or(0, str::len);
        for pair in Self::fields(sections.fields) {
            let (name, value) = pair?;
            size += name.len() + value.len();
        }
        Ok((size > max_size).then_some(size))
    }

    pub(crate) fn record(&self) -> Result<Record, StoreError> {
        let sections = self.sections()?;
        // One copy of the fields' bytes, which every value is a slice of: a value costs no
        // allocation of its own, here or when a typed session keeps it until it is read.
        let shared = Bytes::copy_from_slice(sections.fields);
        // Inserted one by one: collecting would first gather and sort the pairs in a vector.
        let mut fields = Fields::new();
        for pair in Self::fields(sections.fields) {
            let (name, value) = pair?;
            let start = value.as_ptr() as usize - sections.fields.as_ptr() as usize;
            fields.insert(name.to_owned(), shared.slice(start..start + value.len()));
        }
        Ok(Record {
            cookie: postcard::from_bytes(sections.cookie).map_err(backend)?,
            fields,
            owner: sections.owner.map(str::to_owned),
        })
    }

    /// This entry with the cookie state of `record`, its owner if `owner` says so, and, of its
    /// fields, those named in `names` (removed where `record` lacks them).
    pub(crate) fn patched(
        &self,
        record: &Record,
        names: &std::collections::BTreeSet<String>,
        owner: bool,
        cookie: &[u8],
        expires_ms: u64,
    ) -> Result<Entry, StoreError> {
        let sections = self.sections()?;
        // Straight from the old entry's bytes and the record's: no copy of a field in between.
        let mut fields = Vec::new();
        for pair in Self::fields(sections.fields) {
            let (name, value) = pair?;
            if !names.contains(name) {
                fields.push((name, value));
            }
        }
        for name in names {
            if let Some(value) = record.fields.get(name) {
                fields.push((name.as_str(), value.as_ref()));
            }
        }
        let owner = if owner {
            record.owner.as_deref()
        } else {
            sections.owner
        };
        Ok(assemble(expires_ms, owner, cookie, fields.into_iter()))
    }

    /// Where `part`, a slice of this entry, starts in it.
    fn offset_of(&self, part: &[u8]) -> usize {
        part.as_ptr() as usize - self.0.as_ptr() as usize
    }

    /// Applies a patch ([`patched`](Self::patched)'s arguments, the cookie state encoded) in
    /// place if it changes no length: the owner stays, the cookie state and each field in
    /// `names` keep their length, and every such field is there before and after. Answers
    /// whether it did; the entry is untouched if not. An increment of a counter beside a large
    /// cart then rewrites a few bytes instead of copying the cart into a new entry.
    pub(crate) fn patch_in_place(
        &mut self,
        record: &Record,
        names: &std::collections::BTreeSet<String>,
        owner: bool,
        cookie: &[u8],
        expires_ms: u64,
    ) -> Result<bool, StoreError> {
        let sections = self.sections()?;
        if (owner && record.owner.as_deref() != sections.owner)
            || sections.cookie.len() != cookie.len()
        {
            return Ok(false);
        }
        let mut writes = Vec::with_capacity(names.len());
        for name in names {
            let Some(new) = record.fields.get(name) else {
                return Ok(false);
            };
            let mut old = None;
            for pair in Self::fields(sections.fields) {
                let (stored, value) = pair?;
                if stored == name {
                    old = Some(value);
                    break;
                }
            }
            match old {
                Some(old) if old.len() == new.len() => writes.push((self.offset_of(old), new)),
                _ => return Ok(false),
            }
        }
        let start = self.offset_of(sections.cookie);
        self.0[start..start + cookie.len()].copy_from_slice(cookie);
        for (start, value) in writes {
            self.0[start..start + value.len()].copy_from_slice(value);
        }
        self.0[..8].copy_from_slice(&expires_ms.to_le_bytes());
        self.mark_returned();
        Ok(true)
    }

    /// Replaces the expiry and the cookie state, in place when the new cookie state is as long
    /// as the old (a touch: only the expiry in it moved).
    fn retouch(&mut self, cookie: &CookieState, expires_ms: u64) -> Result<(), StoreError> {
        let new_cookie = postcard::to_allocvec(cookie).map_err(backend)?;
        let sections = self.sections()?;
        if sections.cookie.len() == new_cookie.len() {
            let start = self.offset_of(sections.cookie);
            self.0[start..start + new_cookie.len()].copy_from_slice(&new_cookie);
            self.0[..8].copy_from_slice(&expires_ms.to_le_bytes());
            self.mark_returned();
            return Ok(());
        }
        let fields = Self::fields(sections.fields).collect::<Result<Vec<_>, _>>()?;
        *self = assemble(expires_ms, sections.owner, &new_cookie, fields.into_iter());
        self.mark_returned();
        Ok(())
    }
}

/// Appends a length (LEB128).
fn put_len(out: &mut Vec<u8>, mut len: usize) {
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
}

/// Takes a length (LEB128) off the front of `input`.
fn take_len(input: &mut &[u8]) -> Option<usize> {
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        len |= usize::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(len);
        }
        shift += 7;
        if shift >= usize::BITS {
            return None;
        }
    }
}

/// Appends `bytes` with its length in front.
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// Takes one length-prefixed slice off the front of `input`.
fn take_bytes<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = take_len(input)?;
    let (bytes, rest) = input.split_at_checked(len)?;
    *input = rest;
    Some(bytes)
}

fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::backend("memory", error)
}

impl Store for MemoryStore {
    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        self.get_within(id, usize::MAX).await
    }

    /// An oversized entry is left in its blob: only its length prefixes are read.
    async fn get_within(&self, id: &str, max_size: usize) -> Result<Option<Record>, StoreError> {
        let now = millis_since_epoch(SystemTime::now());
        let mut sessions = lock(&self.sessions);
        sessions.sweep_some(now, SWEEP_PER_WRITE / 2);
        let Some(entry) = sessions.returning(id, now) else {
            return Ok(None);
        };
        let record = match entry.size_over(max_size) {
            Ok(Some(size)) => {
                store::too_large(size as u64, max_size);
                return Ok(None);
            }
            Ok(None) => entry.record(),
            Err(error) => Err(error),
        };
        match record {
            Ok(record) => Ok(Some(record)),
            Err(error) => {
                tracing::error!(%error, "unreadable memory store entry; treating it as missing");
                Ok(None)
            }
        }
    }

    async fn set(&self, id: &str, record: &Record, changed: Changed<'_>) -> Result<(), StoreError> {
        let now = SystemTime::now();
        let expires_ms = self.expiry_of(record, now);
        let now = millis_since_epoch(now);
        match changed {
            Changed::All => {
                let entry = encode(record, expires_ms)?;
                let mut sessions = lock(&self.sessions);
                sessions.sweep_some(now, SWEEP_PER_WRITE);
                sessions.put(id, entry, self.capacity, now);
            }
            Changed::Fields(names) | Changed::FieldsAndOwner(names) => {
                let owner = changed.writes_owner();
                let cookie = postcard::to_allocvec(&record.cookie).map_err(backend)?;
                let mut sessions = lock(&self.sessions);
                sessions.sweep_some(now, SWEEP_PER_WRITE);
                // Keeps what other requests wrote to the fields this one did not change.
                let live = sessions.live_mut(id, now).ok_or(StoreError::Gone)?;
                if !live.patch_in_place(record, names, owner, &cookie, expires_ms)? {
                    let entry = live.patched(record, names, owner, &cookie, expires_ms)?;
                    sessions.put(id, entry, self.capacity, now);
                }
            }
        }
        Ok(())
    }

    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        lock(&self.sessions).remove(id);
        Ok(())
    }

    fn idle_ttl(&self) -> Option<Duration> {
        Some(self.idle_ttl)
    }

    async fn touch(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        let now = SystemTime::now();
        let expires_ms = self.expiry_of(record, now);
        let now = millis_since_epoch(now);
        let mut sessions = lock(&self.sessions);
        sessions.sweep_some(now, SWEEP_PER_WRITE);
        match sessions.by_id.get_mut(id) {
            Some(entry) if entry.expires_ms() > now => entry.retouch(&record.cookie, expires_ms),
            _ => Err(StoreError::Gone),
        }
    }

    fn capabilities() -> Capabilities<Self> {
        Capabilities::none().owner_index().listing()
    }
}

impl OwnerIndex for MemoryStore {
    async fn sessions_of(&self, owner: &str) -> Result<Vec<(String, Record)>, StoreError> {
        let now = millis_since_epoch(SystemTime::now());
        let sessions = lock(&self.sessions);
        let Some(ids) = sessions.by_owner.get(owner) else {
            return Ok(Vec::new());
        };
        ids.iter()
            .filter_map(|id| Some((id, sessions.live(id, now)?)))
            .map(|(id, entry)| Ok((id.to_string(), entry.record()?)))
            .collect()
    }

    async fn destroy_sessions_of(
        &self,
        owner: &str,
        keep: Option<&str>,
    ) -> Result<usize, StoreError> {
        let now = millis_since_epoch(SystemTime::now());
        let mut sessions = lock(&self.sessions);
        let ids: Vec<Box<str>> = sessions
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
            .filter_map(|id| sessions.remove(id))
            .filter(|entry| entry.expires_ms() > now)
            .count())
    }
}

impl Listing for MemoryStore {
    async fn all(&self) -> Result<Vec<(String, Record)>, StoreError> {
        let now = millis_since_epoch(SystemTime::now());
        let mut sessions = lock(&self.sessions);
        sessions.sweep(now);
        sessions
            .by_id
            .iter()
            .map(|(id, e)| Ok((id.to_string(), e.record()?)))
            .collect()
    }

    async fn clear(&self) -> Result<(), StoreError> {
        *lock(&self.sessions) = Sessions::default();
        Ok(())
    }

    async fn length(&self) -> Result<usize, StoreError> {
        let now = millis_since_epoch(SystemTime::now());
        let sessions = lock(&self.sessions);
        Ok(sessions
            .by_id
            .values()
            .filter(|e| e.expires_ms() > now)
            .count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_with(fields: &[(&str, usize)]) -> Record {
        Record {
            cookie: CookieState::new(Some(Duration::from_secs(60)), SystemTime::now()),
            fields: fields
                .iter()
                .map(|(name, len)| ((*name).to_owned(), Bytes::from(vec![7u8; *len])))
                .collect(),
            owner: Some("owner".to_owned()),
        }
    }

    /// A patch applied in place gives the entry a rebuild would: the same record, expiry and
    /// owner; and it is applied in place exactly when no length changes.
    #[test]
    fn patches_in_place_exactly_when_no_length_changes() {
        let base = record_with(&[("a", 1), ("b", 3), ("cart", 2000)]);
        let names = |list: &[&str]| -> std::collections::BTreeSet<String> {
            list.iter().map(|n| (*n).to_owned()).collect()
        };
        let with = |edit: &dyn Fn(&mut Record)| {
            let mut record = base.clone();
            edit(&mut record);
            record
        };
        // The base with field `name` set to `value`.
        let set = |name: &str, value: &'static [u8]| {
            with(&|r| {
                r.fields.insert(name.into(), Bytes::from_static(value));
            })
        };
        let longer_cookie = with(&|r| {
            r.cookie.set_max_age(
                Some(Duration::from_secs(u64::from(u32::MAX))),
                SystemTime::now(),
            );
        });
        let other_owner = with(&|r| r.owner = Some("other".into()));
        // (case, record written, fields named, owner written, in place)
        let cases: Vec<(&str, Record, &[&str], bool, bool)> = vec![
            ("same length", set("a", &[9]), &["a"], false, true),
            (
                "two fields",
                with(&|r| {
                    r.fields.insert("a".into(), Bytes::from_static(&[9]));
                    r.fields.insert("b".into(), Bytes::from_static(b"xyz"));
                }),
                &["a", "b"],
                false,
                true,
            ),
            ("nothing named", base.clone(), &[], false, true),
            ("owner written, same", base.clone(), &[], true, true),
            ("longer value", set("a", &[1, 2]), &["a"], false, false),
            ("shorter value", set("b", &[1]), &["b"], false, false),
            ("new field", set("new", &[1]), &["new"], false, false),
            (
                "removed field",
                with(&|r| {
                    r.fields.remove("a");
                }),
                &["a"],
                false,
                false,
            ),
            ("owner changed", other_owner.clone(), &[], true, false),
            ("owner not written", other_owner, &[], false, true),
            (
                "cookie length changed",
                longer_cookie.clone(),
                &["a"],
                false,
                false,
            ),
        ];
        for (case, written, named, owner, in_place) in cases {
            let named = names(named);
            let cookie = postcard::to_allocvec(&written.cookie).unwrap();
            let stored = encode(&base, 1).unwrap();
            let rebuilt = stored.patched(&written, &named, owner, &cookie, 2).unwrap();
            let mut patched = Entry(stored.0.clone());
            let applied = patched
                .patch_in_place(&written, &named, owner, &cookie, 2)
                .unwrap();
            assert_eq!(applied, in_place, "{case}: in place");
            if !applied {
                assert_eq!(patched.0, stored.0, "{case}: untouched when not applied");
                continue;
            }
            assert_eq!(
                patched.record().unwrap(),
                rebuilt.record().unwrap(),
                "{case}"
            );
            assert_eq!(patched.expires_ms(), rebuilt.expires_ms(), "{case}: expiry");
            assert!(patched.returned(), "{case}: marked as come back");
        }
    }

    #[test]
    fn entries_round_trip_records_of_any_field_length() {
        let record = record_with(&[("", 0), ("a", 1), ("b", 127), ("c", 128), ("d", 70_000)]);
        let entry = encode(&record, 1).unwrap();
        assert_eq!(entry.record().unwrap(), record);
        let mut touched = entry;
        let mut cookie = record.cookie.clone();
        cookie.set_max_age(Some(Duration::from_secs(3600)), SystemTime::now());
        touched.retouch(&cookie, 2).unwrap();
        let back = touched.record().unwrap();
        assert_eq!((back.cookie, back.fields), (cookie, record.fields));
    }

    #[test]
    fn a_corrupt_entry_is_an_error_not_a_panic() {
        let entry = encode(&record_with(&[("name", 300)]), 1).unwrap();
        for cut in [0, 7, 9, 20, entry.0.len() - 1] {
            let broken = Entry(entry.0[..cut].into());
            assert!(broken.record().is_err(), "cut at {cut}");
        }
        assert_eq!(Entry(Box::new([])).expires_ms(), 0, "unreadable: expired");
        let mut overlong = vec![0xff; 12];
        assert_eq!(take_bytes(&mut &overlong[..]), None);
        overlong.truncate(0);
        assert_eq!(take_bytes(&mut &overlong[..]), None);
    }

    #[test]
    fn use_alone_sweeps_every_expired_entry_and_shrinks_the_map() {
        let mut sessions = Sessions::default();
        let entry = |expires_ms| encode(&record_with(&[("n", 1)]), expires_ms).unwrap();
        for i in 0..1_000 {
            sessions.put(&format!("old{i}"), entry(10), None, 0);
        }
        sessions.put("live", entry(1_000), None, 0);
        let grown = sessions.by_id.capacity();
        // Each write checks a few entries: a few hundred writes visit them all.
        for _ in 0..300 {
            sessions.sweep_some(20, SWEEP_PER_WRITE);
        }
        assert_eq!(sessions.by_id.len(), 1);
        assert!(sessions.by_id.contains_key("live"));
        assert!(sessions.by_id.capacity() < grown / 4, "memory given back");
        assert!(sessions.by_owner["owner"].len() == 1, "index in step");
    }
}
