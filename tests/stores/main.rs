//! The stores: each one against a real server (or file) keeps the shared contract
//! (`sessionly::testing::conformance`) and what is particular to it, across outages, restarts,
//! TLS, turns between processes and the stored format of earlier versions.

#[path = "../common/mod.rs"]
mod common;

mod memory_store;
mod mysql_store;
mod outage;
mod partitions;
mod postgres_store;
mod redis_store;
mod sentinel;
mod sqlite_store;
mod store_turns;
mod stored_format;
mod tls;

use std::time::{Duration, Instant};

use common::{Reply, get_with};

/// Held by the tests that count milliseconds and by the ones that start a database server of
/// their own (`initdb`, `mariadb-install-db`), so that a busy machine does not turn the
/// conformance suite's short lifetimes into flaky failures. One for the whole binary: a
/// server started by the PostgreSQL tests slows the MariaDB tests' clock as much as their own.
static TIMING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Asks for `/views` until it is served (200) or `patience` has passed; answers the last reply.
async fn views_once_served(app: &axum::Router, cookie: &str, patience: Duration) -> Reply {
    let deadline = Instant::now() + patience;
    loop {
        let reply = get_with(app, "/views", Some(cookie)).await;
        if reply.status == 200 || Instant::now() > deadline {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asks for `/views` and answers the reply and how long it took.
async fn timed_views(app: &axum::Router, cookie: &str) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = get_with(app, "/views", Some(cookie)).await;
    (reply, started.elapsed())
}
