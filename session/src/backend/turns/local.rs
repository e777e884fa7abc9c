//! One request at a time per session, within this process.
//!
//! A request that carries a session cookie waits for the other requests carrying the same id
//! to finish their session work (load, handler, save) before it loads. Without this, two
//! requests that both read, change and write the same field would each write their own
//! version, and one change would be lost — what express-session does. Requests without a
//! cookie need no lock: their id is new.
//!
//! An id has an entry in its shard's table while a request holds it; the entry is the queue
//! of the requests waiting for it, each handed the id in turn by the one before (first come,
//! first served). A request that finds no entry takes the id in one short critical section
//! without allocating (for ids up to [`INLINE`] bytes), and gives it back in another.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

const SHARDS: usize = 16;

/// Ids up to this length (those of `generate_id`: 32; UUIDs: 36) are kept without allocating.
const INLINE: usize = 48;

/// The requests waiting for an id, in arrival order. A sender whose receiver is gone
/// belongs to a request that stopped waiting and is skipped.
type Queue = VecDeque<oneshot::Sender<()>>;

/// One shard's table, alone on its cache lines: requests on different cores that lock
/// neighbouring shards do not pull the same line back and forth.
#[derive(Default)]
#[repr(align(128))]
struct Shard(Mutex<HashMap<Key, Queue, PrehashedState>>);

/// The per-session locks of one layer.
#[derive(Default)]
pub(crate) struct Locks {
    shards: [Shard; SHARDS],
}

impl std::fmt::Debug for Locks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The held ids are session ids: not for logs.
        f.debug_struct("Locks").finish_non_exhaustive()
    }
}

/// Held while a request works on its session; released on drop.
pub(crate) struct SessionLock {
    locks: Arc<Locks>,
    key: Key,
    /// Set while the request waits in the id's queue. A request cancelled then must not
    /// lose a turn: one handed over already is passed on, and later ones can no longer
    /// arrive.
    waiting: Option<oneshot::Receiver<()>>,
}

impl Locks {
    fn shard(&self, key: &Key) -> MutexGuard<'_, HashMap<Key, Queue, PrehashedState>> {
        // The tables' buckets use the hash's low bits; these are independent of them.
        let index = (key.hash >> 32) as usize % SHARDS;
        // Nothing panics while a shard is locked (map and queue operations, sends), so a
        // poisoned shard is still consistent.
        self.shards[index]
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until no other request holds `id`.
    pub(crate) async fn acquire(self: &Arc<Self>, id: &str) -> SessionLock {
        let mut lock = SessionLock {
            locks: self.clone(),
            key: Key::new(id),
            waiting: None,
        };
        loop {
            {
                let mut shard = self.shard(&lock.key);
                let Some(queue) = shard.get_mut(&lock.key) else {
                    shard.insert(lock.key.clone(), Queue::new());
                    return lock;
                };
                let (sender, receiver) = oneshot::channel();
                queue.push_back(sender);
                lock.waiting = Some(receiver);
            }
            if let Some(receiver) = &mut lock.waiting {
                let handed_over = receiver.await.is_ok();
                lock.waiting = None;
                if handed_over {
                    return lock;
                }
                // Not reachable: a queued sender is only dropped after it sent, or once its
                // receiver is gone. Queueing again is right whatever happened.
            }
        }
    }

    /// Passes `key` to the first request still waiting for it, or removes its entry.
    fn release(&self, key: &Key) {
        let mut shard = self.shard(key);
        let Some(queue) = shard.get_mut(key) else {
            return;
        };
        while let Some(next) = queue.pop_front() {
            if next.send(()).is_ok() {
                return;
            }
        }
        shard.remove(key);
    }

    /// Drops the senders of cancelled waiters now rather than when the holder releases, so
    /// a client that keeps cancelling requests cannot grow the queue.
    fn forget_cancelled(&self, key: &Key) {
        if let Some(queue) = self.shard(key).get_mut(key) {
            queue.retain(|sender| !sender.is_closed());
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.0.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        let Some(receiver) = &mut self.waiting else {
            return self.locks.release(&self.key);
        };
        // After `close`, a turn was either handed over before (`try_recv` sees it) or can
        // no longer be.
        receiver.close();
        if receiver.try_recv().is_ok() {
            self.locks.release(&self.key);
        } else {
            self.locks.forget_cancelled(&self.key);
        }
    }
}

/// A session id and its hash, computed once per request.
#[derive(Clone)]
struct Key {
    hash: u64,
    id: Id,
}

#[derive(Clone)]
enum Id {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Key {
    fn new(id: &str) -> Self {
        let bytes = id.as_bytes();
        let id = match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE => {
                let mut inline = [0; INLINE];
                inline[..bytes.len()].copy_from_slice(bytes);
                Id::Inline { len, bytes: inline }
            }
            _ => Id::Heap(bytes.into()),
        };
        Self {
            hash: hash_id(bytes),
            id,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match &self.id {
            Id::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Id::Heap(bytes) => bytes,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Mixes every byte of `id`, so that ids from a custom `genid` that differ in a few
/// characters (counters, timestamps) still spread over shards and buckets. Not keyed: only
/// ids this server signed get here, so clients cannot choose colliding ones.
fn hash_id(id: &[u8]) -> u64 {
    // Odd constants with well-mixed bits (2^64 / golden ratio, and MurmurHash3's finalizer).
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut hash = id.len() as u64;
    let (words, rest) = id.as_chunks::<8>();
    for word in words {
        hash = (hash.rotate_left(23) ^ u64::from_le_bytes(*word)).wrapping_mul(K);
    }
    let mut last = [0; 8];
    last[..rest.len()].copy_from_slice(rest);
    hash = (hash.rotate_left(23) ^ u64::from_le_bytes(last)).wrapping_mul(K);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^ (hash >> 33)
}

/// The map's hasher: keys carry their hash already.
#[derive(Debug, Default, Clone, Copy)]
struct PrehashedState;

impl BuildHasher for PrehashedState {
    type Hasher = Prehashed;

    fn build_hasher(&self) -> Prehashed {
        Prehashed(0)
    }
}

struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `Key` is hashed here, and it writes one u64; this keeps any other use sound.
        self.0 = self.0.rotate_left(5) ^ hash_id(bytes);
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::{Pin, pin};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    /// Polls once; a turn handed over later is seen by polling again.
    fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    fn queued(locks: &Locks, id: &str) -> Option<usize> {
        let key = Key::new(id);
        locks.shard(&key).get(&key).map(VecDeque::len)
    }

    #[tokio::test]
    async fn same_id_waits_other_ids_do_not_and_entries_go_away() {
        let locks = Arc::new(Locks::default());
        let first = locks.acquire("a").await;
        let other = locks.acquire("b").await;
        let mut waiting = pin!(locks.acquire("a"));
        let early = tokio::time::timeout(Duration::from_millis(50), waiting.as_mut()).await;
        assert!(early.is_err(), "a second request on `a` waits");
        drop(first);
        let second = waiting.await;
        assert_eq!(locks.len(), 2);
        drop(second);
        drop(other);
        assert_eq!(locks.len(), 0, "no entry outlives its last holder");
    }

    #[tokio::test]
    async fn waiters_take_turns_in_arrival_order() {
        let locks = Arc::new(Locks::default());
        let holder = locks.acquire("a").await;
        let mut waiters: Vec<_> = (0..4).map(|_| Box::pin(locks.acquire("a"))).collect();
        for waiter in &mut waiters {
            assert!(poll_once(waiter.as_mut()).is_pending());
        }
        drop(holder);
        for i in 0..waiters.len() {
            for later in &mut waiters[i + 1..] {
                assert!(poll_once(later.as_mut()).is_pending(), "before waiter {i}");
            }
            let Poll::Ready(turn) = poll_once(waiters[i].as_mut()) else {
                panic!("waiter {i} is next");
            };
            drop(turn);
        }
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn a_waiter_cancelled_before_its_turn_leaves_the_queue() {
        let locks = Arc::new(Locks::default());
        let holder = locks.acquire("a").await;
        let mut cancelled = Box::pin(locks.acquire("a"));
        let mut next = pin!(locks.acquire("a"));
        assert!(poll_once(cancelled.as_mut()).is_pending());
        assert!(poll_once(next.as_mut()).is_pending());
        assert_eq!(queued(&locks, "a"), Some(2));
        drop(cancelled);
        assert_eq!(queued(&locks, "a"), Some(1));
        drop(holder);
        let Poll::Ready(turn) = poll_once(next.as_mut()) else {
            panic!("the remaining waiter is next");
        };
        drop(turn);
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn a_waiter_cancelled_after_its_turn_came_passes_it_on() {
        let locks = Arc::new(Locks::default());
        let holder = locks.acquire("a").await;
        let mut cancelled = Box::pin(locks.acquire("a"));
        let mut next = pin!(locks.acquire("a"));
        assert!(poll_once(cancelled.as_mut()).is_pending());
        assert!(poll_once(next.as_mut()).is_pending());
        drop(holder);
        // The turn is the cancelled one's now, but it never sees it.
        assert!(poll_once(next.as_mut()).is_pending());
        drop(cancelled);
        let Poll::Ready(turn) = poll_once(next.as_mut()) else {
            panic!("the turn was passed on");
        };
        drop(turn);
        assert_eq!(locks.len(), 0);

        // The last waiter cancelled after its turn came: the entry goes away.
        let holder = locks.acquire("a").await;
        let mut cancelled = Box::pin(locks.acquire("a"));
        assert!(poll_once(cancelled.as_mut()).is_pending());
        drop(holder);
        drop(cancelled);
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn a_release_skips_senders_of_requests_gone_meanwhile() {
        let locks = Arc::new(Locks::default());
        let holder = locks.acquire("a").await;
        let key = Key::new("a");
        let (gone, receiver) = oneshot::channel();
        drop(receiver);
        locks.shard(&key).get_mut(&key).unwrap().push_back(gone);
        drop(holder);
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn ids_are_compared_whole() {
        let long = "x".repeat(INLINE * 3);
        let ids = [
            "a",
            "a\0",
            "\0a",
            "",
            &long[..INLINE],
            &long[..INLINE + 1],
            &long,
        ];
        let locks = Arc::new(Locks::default());
        let mut held = Vec::new();
        for id in ids {
            let mut turn = pin!(locks.acquire(id));
            let Poll::Ready(turn) = poll_once(turn.as_mut()) else {
                panic!("{id:?} is free while the others are held");
            };
            held.push(turn);
        }
        for id in ids {
            assert!(
                poll_once(pin!(locks.acquire(id))).is_pending(),
                "{id:?} is held"
            );
        }
        drop(held);
        assert_eq!(locks.len(), 0);
    }

    #[test]
    fn ids_that_are_not_random_still_spread() {
        let mut per_shard = [0; SHARDS];
        for n in 0..1600 {
            let key = Key::new(&format!("user-{n}"));
            per_shard[(key.hash >> 32) as usize % SHARDS] += 1;
        }
        assert!(
            per_shard.iter().all(|&n| (50..=150).contains(&n)),
            "{per_shard:?}"
        );
    }

    /// Counts the requests inside a critical section, also when one is cancelled there.
    struct Inside<'a>(&'a AtomicUsize);

    impl<'a> Inside<'a> {
        fn enter(count: &'a AtomicUsize) -> Self {
            assert_eq!(count.fetch_add(1, Ordering::SeqCst), 0, "alone with the id");
            Self(count)
        }
    }

    impl Drop for Inside<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_at_a_time_per_id_under_load_and_cancellation() {
        const IDS: usize = 4;
        let locks = Arc::new(Locks::default());
        let inside: Arc<[AtomicUsize; IDS]> = Arc::default();
        let tasks: Vec<_> = (0..400)
            .map(|n| {
                let (locks, inside) = (locks.clone(), inside.clone());
                tokio::spawn(async move {
                    let slot = n % IDS;
                    let id = format!("session-{slot}");
                    let work = async {
                        let _turn = locks.acquire(&id).await;
                        let _inside = Inside::enter(&inside[slot]);
                        tokio::task::yield_now().await;
                    };
                    // Every third request is dropped after one to three polls: while it
                    // waits, when its turn has just come, or while it holds the id.
                    if n % 3 == 0 {
                        let mut work = pin!(work);
                        let mut polls = 1 + n / 3 % 3;
                        std::future::poll_fn(|cx| {
                            if polls == 0 {
                                return Poll::Ready(());
                            }
                            polls -= 1;
                            work.as_mut().poll(cx)
                        })
                        .await;
                    } else {
                        work.await;
                    }
                })
            })
            .collect();
        let all = async {
            for task in tasks {
                task.await.unwrap();
            }
        };
        let finished = tokio::time::timeout(Duration::from_secs(10), all).await;
        assert!(finished.is_ok(), "no request waits forever");
        assert_eq!(locks.len(), 0);
    }
}
