//! A fixed amount of work for counting: `N` (default 20,000) `oneshot` requests of one route
//! over one system (this project's layer by default, or tower-sessions, or bare axum) on one
//! session, on a memory store or on Redis. It prints the heap allocations per request (a
//! counting global allocator; they repeat from run to run), and under
//! `valgrind --tool=callgrind` the instruction count compares commits, where times on a VM do
//! not (bench/README.md).
//!
//! ```sh
//! cargo build --release -p session-bench --bin oneshot
//! target/release/oneshot read 20000                       # ours, memory store
//! target/release/oneshot read 20000 tower redis://127.0.0.1:6379
//! valgrind --tool=callgrind target/release/oneshot read 20000
//! ```
//!
//! Systems: `ours`, `ours-default` (the layer's defaults: `lazy_load` off),
//! `ours-cached` (Redis only: `RedisStore::open_cached`), `tower`, `bare`;
//! the store is `memory` or a Redis URL.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::Router;
use axum::body::Body;
use http::Request;
use http_body_util::BodyExt as _;
use session_bench::{apps, tower_redis::TowerRedisStore};
use sessionly::{MemoryStore, RedisStore};
use tower::ServiceExt as _;

/// Counts every allocation (and reallocation, which may move) the process makes.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

async fn app(system: &str, store: &str) -> Router {
    let redis = store != "memory";
    match (system, redis) {
        ("bare", _) => apps::bare(),
        ("ours", false) => apps::ours(MemoryStore::new()),
        ("ours", true) => apps::ours(RedisStore::open(store).await.expect("Redis")),
        ("ours-default", false) => apps::ours_default(MemoryStore::new()),
        ("ours-default", true) => apps::ours_default(RedisStore::open(store).await.expect("Redis")),
        ("ours-cached", true) => apps::ours(
            RedisStore::open_cached(store, 1000)
                .await
                .expect("Redis with tracking"),
        ),
        ("tower", false) => apps::tower(tower_sessions::MemoryStore::default()),
        ("tower", true) => apps::tower(TowerRedisStore::open(store).await.expect("Redis")),
        _ => panic!("unknown system {system} on {store}"),
    }
}

async fn send(app: &Router, path: &str, cookie: Option<&str>) -> (Option<String>, usize) {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(http::header::COOKIE, cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("a request"))
        .await
        .expect("infallible router");
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    let cookie = response
        .headers()
        .get(http::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (cookie, body.len())
}

/// Sends `count` requests of `route` to `system` on `store`, after one to set the session up
/// and one not counted (what is made once, a connection's buffers, does not count): the heap
/// allocations and bytes allocated they made, and the body bytes they answered.
async fn measure(route: &str, count: u64, system: &str, store: &str) -> (u64, u64, usize) {
    let app = app(system, store).await;
    let init = match route {
        "large" | "large-read" => "/init-large",
        _ => "/init",
    };
    let cookie = match send(&app, init, None).await.0 {
        Some(cookie) => cookie,
        // Bare axum sets none; send one of the same shape, as the load benchmark does.
        None => format!("connect.sid=s%3A{}.{}", "a".repeat(32), "b".repeat(43)),
    };
    let path = format!("/{route}");
    send(&app, &path, Some(&cookie)).await;
    let (allocations, bytes) = (ALLOCATIONS.load(Relaxed), BYTES.load(Relaxed));
    let mut body_bytes = 0;
    for _ in 0..count {
        body_bytes += send(&app, &path, Some(&cookie)).await.1;
    }
    (
        ALLOCATIONS.load(Relaxed) - allocations,
        BYTES.load(Relaxed) - bytes,
        body_bytes,
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let route = args.next().unwrap_or_else(|| "read".to_owned());
    let count: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let system = args.next().unwrap_or_else(|| "ours".to_owned());
    let store = args.next().unwrap_or_else(|| "memory".to_owned());
    let (allocations, bytes, body_bytes) = measure(&route, count, &system, &store).await;
    println!(
        "{system} on {store}: {count} requests of /{route}, {body_bytes} body bytes; per request {:.1} allocations, {:.0} bytes allocated",
        allocations as f64 / count as f64,
        bytes as f64 / count as f64,
    );
}

/// Allocation budgets: `cargo test` (CI) fails when a change adds a heap allocation to a
/// request, so each one added is a decision, not a drift.
#[cfg(test)]
mod budgets {
    use super::measure;

    /// Heap allocations per request of each route, this crate's layer (configured as in the
    /// load benchmark's `ours`) on the memory store, the harness's own request and response
    /// included (bare axum, with its default features, makes 18 of them on `/none`). Exact: a change that adds one fails
    /// here, and one that saves some must lower its budget here.
    const BUDGETS: [(&str, u64); 5] = [
        // The signed cookie checked; the session not loaded (lazy).
        ("none", 27),
        // The session loaded, one field decoded.
        ("read", 37),
        // Loaded, one field changed, the patch written.
        ("incr", 48),
        // A new session: an id, a cookie, a whole write.
        ("init", 42),
        // A 16 KiB cart of 1,024 items decoded (an allocation each).
        ("large-read", 1061),
    ];

    #[test]
    fn each_route_allocates_what_its_budget_says() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        // The only test in this binary: nothing else allocates while it counts.
        let bare = runtime.block_on(measure("none", 100, "bare", "memory")).0 / 100;
        println!("bare axum: {bare} allocations per request on /none");
        for (route, budget) in BUDGETS {
            let (allocations, ..) = runtime.block_on(measure(route, 100, "ours", "memory"));
            assert_eq!(
                allocations as f64 / 100.0,
                budget as f64,
                "/{route} allocates {} per request; its budget is {budget}",
                allocations as f64 / 100.0
            );
        }
    }
}
