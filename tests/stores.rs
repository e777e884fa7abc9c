//! The store contract, as one suite every store runs, plus what is particular to the memory
//! store (sweeping, capacity).

mod common;

use std::time::Duration;

use common::conformance::{HOUR, conformance, record};
use sessionly::{Changed, MemoryStore, Store};

#[tokio::test]
async fn memory_store_conforms() {
    conformance(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_store_lets_no_slow_request_resurrect_a_session() {
    common::a_slow_request_cannot_resurrect(MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_store_logs_out_other_devices() {
    common::log_out_other_devices(MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_store_returns_memory_after_expiry() {
    let store = MemoryStore::new();
    for i in 0..1000 {
        let r = record(&[("n", b"1")], Some(Duration::from_millis(50)));
        store.set(&format!("s{i}"), &r, Changed::All).await.unwrap();
    }
    let keep = record(&[("n", b"1")], HOUR);
    store.set("keep", &keep, Changed::All).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(store.sweep(), 1000);
    assert_eq!(store.length().await.unwrap(), 1);
    assert_eq!(store.sweep(), 0);
}

#[tokio::test]
async fn memory_store_sweeps_as_it_is_used() {
    let store = MemoryStore::new();
    let r = record(&[("n", b"1")], Some(Duration::from_millis(50)));
    store.set("old", &r, Changed::All).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    store
        .set("new", &record(&[], HOUR), Changed::All)
        .await
        .unwrap();
    assert_eq!(
        store.sweep(),
        0,
        "the write already swept the expired session"
    );
}

#[tokio::test]
async fn memory_store_capacity_evicts_the_soonest_to_expire() {
    let store = MemoryStore::new().with_capacity(2);
    let soon = record(&[], Some(Duration::from_secs(60)));
    let later = record(&[], Some(Duration::from_secs(3600)));
    store.set("later", &later, Changed::All).await.unwrap();
    store.set("soon", &soon, Changed::All).await.unwrap();
    store.set("third", &later, Changed::All).await.unwrap();
    assert_eq!(store.length().await.unwrap(), 2);
    assert_eq!(store.get("soon").await.unwrap(), None);
    assert!(store.get("later").await.unwrap().is_some());
    // Updating an existing session never evicts.
    store.set("later", &later, Changed::All).await.unwrap();
    assert_eq!(store.length().await.unwrap(), 2);
}

#[tokio::test]
async fn a_flood_of_first_visits_does_not_evict_a_returning_session() {
    // Signed in (created, then back for more) with the soonest expiry in the store, then
    // 200,000 first visits that each store a session and never return.
    let store = MemoryStore::new().with_capacity(10_000);
    let app = common::app(common::layer_with(store.clone(), |b| {
        b.cookie(sessionly::CookieOptions::new().max_age(Duration::from_secs(600)))
    }));
    let cookie = common::get_with(&app, "/views", None)
        .await
        .cookie()
        .unwrap();
    assert_eq!(
        common::get_with(&app, "/views", Some(&cookie)).await.body,
        "2"
    );
    let visit = record(&[("views", b"1")], HOUR);
    for i in 0..200_000 {
        store
            .set(&format!("visitor-{i}"), &visit, Changed::All)
            .await
            .unwrap();
    }
    assert_eq!(store.length().await.unwrap(), 10_000);
    assert_eq!(
        common::get_with(&app, "/views", Some(&cookie)).await.body,
        "3",
        "still signed in"
    );
    // With nothing but returning sessions, the bound still holds: closest to expiry first.
    let full = MemoryStore::new().with_capacity(3);
    for id in ["a", "b", "c"] {
        full.set(id, &visit, Changed::All).await.unwrap();
        full.get(id).await.unwrap();
    }
    full.set("d", &record(&[], HOUR), Changed::All)
        .await
        .unwrap();
    assert_eq!(full.length().await.unwrap(), 3);
}

#[test]
fn the_default_memory_store_is_bounded() {
    assert_eq!(MemoryStore::DEFAULT_CAPACITY, 1_000_000);
    assert!(format!("{:?}", MemoryStore::new()).contains("capacity: Some(1000000)"));
}

#[tokio::test]
async fn memory_store_keeps_browser_session_records_for_the_idle_ttl() {
    let store = MemoryStore::new().with_idle_ttl(Duration::from_millis(1000));
    let r = record(&[("n", b"1")], None);
    store.set("browser", &r, Changed::All).await.unwrap();
    assert!(store.get("browser").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.get("browser").await.unwrap(), None);
}

#[tokio::test]
async fn memory_store_debug_shows_counts_not_ids() {
    let store = MemoryStore::new();
    store
        .set("secret-session-id", &record(&[], HOUR), Changed::All)
        .await
        .unwrap();
    let shown = format!("{store:?}");
    assert!(shown.contains("sessions: 1"), "{shown}");
    assert!(!shown.contains("secret-session-id"), "{shown}");
}
