//! How long another process's write stays unseen by `RedisStore::open_cached`: the invalidation
//! window, under load.
//!
//! ```text
//! window [--redis redis://127.0.0.1:6390] [--samples 2000] [--tasks 16]
//! ```
//!
//! Two cached stores on connections of their own stand for two processes, A and B, each with
//! `--tasks` tasks loading and patching sessions of their own meanwhile (a read and a write per
//! round, as `/incr` does). For each sample, A holds session `s` in its cache and B patches it;
//! the window is the time from B's reply (the write has landed) until A has received Redis's
//! invalidation, after which A's next load must return B's value (counted if not: "stale").
//! A window of 0 means the invalidation arrived before B's own reply did.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use sessionly::RedisStore;
use sessionly::store::{Changed, CookieState, Listing, Record, Store};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn record(value: &str) -> Record {
    let mut fields = sessionly::store::Fields::new();
    fields.insert("n".to_owned(), Bytes::copy_from_slice(value.as_bytes()));
    Record::new(
        CookieState::new(Some(Duration::from_secs(3600)), SystemTime::now()),
        fields,
    )
}

fn option(args: &[String], name: &str) -> Option<String> {
    let at = args.iter().position(|arg| arg == name)?;
    args.get(at + 1).cloned()
}

/// Loads and patches `id` on `store` until `stop`, counting rounds.
async fn busy(store: RedisStore, id: String, stop: Arc<AtomicBool>, rounds: Arc<AtomicU64>) {
    let changed = BTreeSet::from(["n".to_owned()]);
    let mut n = 0u64;
    while !stop.load(Relaxed) {
        let Ok(Some(mut session)) = store.get(&id).await else {
            let _ = store.set(&id, &record("0"), Changed::All).await;
            continue;
        };
        n += 1;
        session
            .fields
            .insert("n".to_owned(), Bytes::from(n.to_string()));
        let _ = store.set(&id, &session, Changed::Fields(&changed)).await;
        rounds.fetch_add(1, Relaxed);
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let url = option(&args, "--redis").unwrap_or_else(|| "redis://127.0.0.1:6390".to_owned());
    let samples: usize = option(&args, "--samples").map_or(Ok(2000), |n| n.parse())?;
    let tasks: usize = option(&args, "--tasks").map_or(Ok(16), |n| n.parse())?;
    let prefix = format!("window:{}:", std::process::id());
    let a = RedisStore::open_cached(&url, 100_000)
        .await?
        .with_prefix(&prefix);
    let b = RedisStore::open_cached(&url, 100_000)
        .await?
        .with_prefix(&prefix);

    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for task in 0..tasks {
        for (side, store) in [("a", &a), ("b", &b)] {
            load.push(tokio::spawn(busy(
                store.clone(),
                format!("busy-{side}-{task}"),
                stop.clone(),
                rounds.clone(),
            )));
        }
    }

    let changed = BTreeSet::from(["n".to_owned()]);
    let invalidations = |store: &RedisStore| store.cache_stats().map_or(0, |s| s.invalidations);
    a.set("s", &record("0"), Changed::All).await?;
    let started = Instant::now();
    let (mut windows, mut stale, mut lost) = (Vec::with_capacity(samples), 0, 0);
    for sample in 1..=samples {
        a.get("s").await?; // held in A's cache from here on
        let mut session = b.get("s").await?.ok_or("session s is gone")?;
        let value = sample.to_string();
        session
            .fields
            .insert("n".to_owned(), Bytes::from(value.clone()));
        let before = invalidations(&a);
        b.set("s", &session, Changed::Fields(&changed)).await?;
        let landed = Instant::now();
        let deadline = landed + Duration::from_secs(2);
        while invalidations(&a) == before && Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        if invalidations(&a) == before {
            lost += 1;
            continue;
        }
        windows.push(landed.elapsed());
        let seen = a.get("s").await?.and_then(|r| r.fields.get("n").cloned());
        if seen.as_deref() != Some(value.as_bytes()) {
            stale += 1;
        }
    }
    let elapsed = started.elapsed();
    stop.store(true, Relaxed);
    for task in load {
        task.await?;
    }
    a.clear().await?;

    windows.sort();
    let at = |q: f64| {
        windows
            .get(((windows.len() as f64 - 1.0) * q).round() as usize)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
    };
    println!(
        "samples {} (no invalidation within 2 s: {lost}), background load {:.0} rounds/s over {} tasks",
        windows.len(),
        rounds.load(Relaxed) as f64 / elapsed.as_secs_f64(),
        2 * tasks
    );
    println!(
        "window after the write's reply, µs: p50 {:.0}, p90 {:.0}, p99 {:.0}, max {:.0}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
    println!("loads after the invalidation that returned the old value: {stale}");
    if stale + lost > 0 {
        return Err("the cache kept a value Redis had invalidated".into());
    }
    Ok(())
}
