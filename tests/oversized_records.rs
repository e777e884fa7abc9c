//! A stored session over `max_session_size` is not loaded into the process: each store checks
//! the size where the record lives. Measured with a counting allocator: loading a 4 MiB
//! record through `get_within` with a 64 KiB limit must not allocate more than a fraction of
//! it, while `get` of the same record (the control, which shows the measurement can fail)
//! allocates at least its size.
//!
//! The SQL stores' own engines allocate outside Rust's allocator; what is measured is what the
//! process takes from the store. Redis checks in Redis only with `with_size_check_in_redis`.

// A test binary of its own: its global allocator counts every allocation in the process, so
// another test running beside it would be measured too. Counting per thread would miss what a
// store allocates on threads of its own (SQLite's worker, for one), and the test is about what
// the process takes from the store.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::conformance::{HOUR, record};
use sessionly::store::{Changed, Store};
use sessionly::{MemoryStore, PostgresStore, RedisStore, SqliteStore};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(size: usize) {
    let now = CURRENT.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is passed on to `System` unchanged; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc`, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc`, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most the heap grew above where it stood while `load` ran.
async fn peak_growth<T>(load: impl Future<Output = T>) -> (T, usize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = load.await;
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

const BIG: usize = 4 << 20;
const LIMIT: usize = 64 << 10;

/// Stores a 4 MiB session in `store`, then checks that a bounded load leaves it there and a
/// plain one does not.
async fn stays_in(name: &str, store: &impl Store) {
    let big = record(&[("views", b"1"), ("blob", &vec![7u8; BIG])], HOUR);
    if let Err(error) = store.set("oversized", &big, Changed::All).await {
        panic!("{name}: writing the big record: {error}");
    }

    let (loaded, growth) = peak_growth(store.get_within("oversized", LIMIT)).await;
    let loaded = loaded.map_err(|e| format!("{name}: {e}"));
    assert_eq!(loaded.unwrap(), None, "{name}: over the limit is missing");
    assert!(
        growth < BIG / 16,
        "{name}: a bounded load allocated {growth} bytes for a {BIG}-byte record"
    );

    let (loaded, growth) = peak_growth(store.get("oversized")).await;
    assert_eq!(
        loaded.unwrap().map(|r| r.encoded_size()),
        Some(big.encoded_size())
    );
    assert!(
        growth >= BIG,
        "{name}: the control allocated only {growth} bytes"
    );
    store.destroy("oversized").await.unwrap();
}

// One test, so that no other test allocates while one measures.
#[tokio::test(flavor = "current_thread")]
async fn an_oversized_record_is_not_loaded_into_the_process() {
    stays_in("memory", &MemoryStore::new()).await;

    stays_in("sqlite", &SqliteStore::in_memory().await.unwrap()).await;

    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:55432/postgres".into());
    let table = format!("sessions_oversized_{}", std::process::id());
    let postgres = PostgresStore::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL must be running at {url} (see .ci/run): {e}"))
        .with_table(&table)
        .unwrap()
        // A 4 MiB write while the other tests run can take longer than the default 2 s.
        .with_query_timeout(std::time::Duration::from_secs(30));
    postgres.migrate().await.unwrap();
    stays_in("postgres", &postgres).await;
    sqlx_drop(&url, &table).await;

    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:56379".into());
    let redis = RedisStore::open(&url)
        .await
        .unwrap_or_else(|e| panic!("Redis must be running at {url} (see .ci/run): {e}"))
        .with_prefix(format!("test:oversized:{}:", std::process::id()))
        .with_size_check_in_redis(true);
    stays_in("redis", &redis).await;
}

async fn sqlx_drop(url: &str, table: &str) {
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE \"{table}\"")))
        .execute(&mut connection)
        .await
        .unwrap();
}
