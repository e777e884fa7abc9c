//! Memory per stored session in `MemoryStore`, and whether expired sessions give it back.
//!
//! ```text
//! cargo run --release -p session-bench --bin memory -- [--sessions 1000000] [--ttl-seconds 10]
//! ```
//!
//! A counting global allocator tracks live heap bytes. The program inserts N small sessions
//! (the three-field `Small` schema, encoded as the middleware encodes fields: one postcard
//! value per field, held as `Bytes`; each session lives `--ttl-seconds` from its insertion),
//! reports the live bytes each session costs beyond its encoded data, waits until every session
//! has expired, calls `MemoryStore::sweep()`, and reports how much of that memory came back.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use sessionly::store::{Changed, CookieState, Fields, Listing, Record, Store};
use sessionly::{Codec, MemoryStore, Postcard};

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        ALLOCATIONS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> (usize, usize) {
    (
        LIVE.load(Ordering::Relaxed),
        ALLOCATIONS.load(Ordering::Relaxed),
    )
}

/// Resident set size from `/proc/self/statm`, for context (the allocator may keep freed pages).
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

struct Args {
    sessions: usize,
    ttl: Duration,
}

fn args() -> Result<Args, String> {
    let mut parsed = Args {
        sessions: 1_000_000,
        ttl: Duration::from_secs(10),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number: u64 = value.parse().map_err(|e| format!("{flag}: {e}"))?;
        match flag.as_str() {
            "--sessions" => parsed.sessions = number as usize,
            "--ttl-seconds" => parsed.ttl = Duration::from_secs(number),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(parsed)
}

/// A small session's fields, encoded as the derive's flush encodes them.
fn fields(i: usize) -> Fields {
    let encode = |value: &dyn erased::Encode| Bytes::from(value.encode());
    let mut fields = Fields::new();
    fields.insert("views".to_owned(), encode(&(i as u64)));
    fields.insert(
        "user".to_owned(),
        encode(&Some(format!("user{i:07}@example.com"))),
    );
    fields.insert("theme".to_owned(), encode(&"dark".to_owned()));
    fields
}

/// Encoding through one function, so `fields` reads as a list.
mod erased {
    use super::{Codec, Postcard};

    pub trait Encode {
        fn encode(&self) -> Vec<u8>;
    }

    impl<T: serde::Serialize> Encode for T {
        fn encode(&self) -> Vec<u8> {
            Postcard::encode(self).expect("plain values encode")
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    let n = args.sessions;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let store = MemoryStore::new();

    // Each session lives `ttl` from its insertion, like sessions created by requests.
    let now = SystemTime::now();

    let sample = fields(0);
    let value_bytes: usize = sample.values().map(Bytes::len).sum();
    let name_bytes: usize = sample.keys().map(String::len).sum();
    let record_bytes = postcard::to_allocvec(&sample)?.len();
    let id_bytes = sessionly::generate_id().len();

    let (before, allocations_before) = live();
    let rss_before = rss_bytes();
    let started = Instant::now();
    let mut inserted_data = 0usize;
    runtime.block_on(async {
        for i in 0..n {
            let id = sessionly::generate_id();
            let record = Record::new(
                CookieState::new(Some(args.ttl), SystemTime::now()),
                fields(i),
            );
            inserted_data += record.fields.values().map(Bytes::len).sum::<usize>();
            store.set(&id, &record, Changed::All).await?;
        }
        Ok::<_, sessionly::StoreError>(())
    })?;
    let insert_time = started.elapsed();
    let (after, allocations_after) = live();
    let rss_after = rss_bytes();
    let stored = runtime.block_on(store.length())?;
    if SystemTime::now() >= now + args.ttl || stored != n {
        return Err(format!(
            "only {stored} of {n} sessions alive after inserting them in {insert_time:?}: \
             raise --ttl-seconds above the insertion time"
        )
        .into());
    }

    let per_session = (after - before) as f64 / n as f64;
    let data = inserted_data as f64 / n as f64;
    println!("MemoryStore, {n} sessions of the 3-field schema, inserted in {insert_time:.2?}");
    println!(
        "  encoded data per session: {data:.1} B of field values (+ {name_bytes} B of field \
         names, {id_bytes} B of id; postcard of the whole field map: {record_bytes} B)"
    );
    println!(
        "  sample session: {value_bytes} B of values; size_of::<Record>() = {} B, \
         size_of::<CookieState>() = {} B",
        std::mem::size_of::<Record>(),
        std::mem::size_of::<CookieState>()
    );
    println!(
        "  live heap: {} -> {} (+{per_session:.1} B per session, {:.2} allocations per session)",
        mib(before as f64),
        mib(after as f64),
        (allocations_after - allocations_before) as f64 / n as f64
    );
    let overhead_values = per_session - data;
    let overhead_all = per_session - data - name_bytes as f64 - id_bytes as f64;
    println!(
        "  overhead beyond the encoded field values: {overhead_values:.1} B per session \
         (beyond values + names + id: {overhead_all:.1} B); target <= 200 B: {}",
        if overhead_values <= 200.0 {
            "met"
        } else {
            "MISSED"
        }
    );
    if let (Some(a), Some(b)) = (rss_before, rss_after) {
        println!("  RSS: {} -> {}", mib(a as f64), mib(b as f64));
    }

    let last_expiry = SystemTime::now() + args.ttl;
    let wait = (last_expiry + Duration::from_millis(50))
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    println!("waiting {wait:.1?} for every session to expire");
    std::thread::sleep(wait);
    let swept_at = Instant::now();
    let removed = store.sweep();
    let sweep_time = swept_at.elapsed();
    let (end, allocations_end) = live();
    let returned = after.saturating_sub(end) as f64;
    let grown = (after - before) as f64;
    println!(
        "sweep() removed {removed} sessions in {sweep_time:.2?}; live heap {} -> {}",
        mib(after as f64),
        mib(end as f64)
    );
    println!(
        "  returned {} of the {} the sessions took ({:.1}%); still held: {} \
         ({:.1} B per swept session, {} allocations)",
        mib(returned),
        mib(grown),
        100.0 * returned / grown,
        mib(end.saturating_sub(before) as f64),
        end.saturating_sub(before) as f64 / n as f64,
        allocations_end as i64 - allocations_before as i64
    );
    if let Some(rss) = rss_bytes() {
        println!("  RSS after sweep: {}", mib(rss as f64));
    }
    println!(
        "  target (expired sessions return the memory): {}",
        if end.saturating_sub(before) as f64 <= 0.01 * grown {
            "met"
        } else {
            "MISSED"
        }
    );
    Ok(())
}
