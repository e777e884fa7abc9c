//! A fixed amount of work for instruction counting: `N` (default 20,000) `oneshot` requests of
//! one route over this project's layer on a memory store, one session. Run it under
//! `valgrind --tool=callgrind` to compare commits; instruction counts repeat, times on a VM do
//! not (bench/README.md).
//!
//! ```sh
//! cargo build --release -p session-bench --bin oneshot
//! valgrind --tool=callgrind target/release/oneshot read 20000
//! ```

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt as _;
use session_bench::apps;
use sessionly::MemoryStore;
use tower::ServiceExt as _;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let route = args.next().unwrap_or_else(|| "read".to_owned());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let app = apps::ours(MemoryStore::new());
    let init = app
        .clone()
        .oneshot(Request::get("/init").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let cookie = init
        .headers()
        .get(http::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let path = format!("/{route}");
    let mut bytes = 0;
    for _ in 0..count {
        let request = Request::get(&path)
            .header(http::header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        bytes += response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .len();
    }
    println!("{count} requests of {path}, {bytes} body bytes");
}
