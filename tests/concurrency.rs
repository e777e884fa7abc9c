//! Requests that share one session at the same time.

mod common;

use common::*;
use session::{Codec, MemoryStore, Postcard, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_loses_no_update() {
    no_lost_updates(MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazily_loaded_sessions_still_take_turns() {
    // The turn is taken when the handler extracts the session, and held until it is saved.
    no_lost_updates_with(MemoryStore::new(), |b| b.lazy_load(true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_locks_different_fields_still_both_survive() {
    // With lock_sessions(false) requests interleave freely; the store's field-level writes
    // still keep every change to a field that only one request writes.
    let store = MemoryStore::new();
    let app = app(layer_with(store.clone(), |b| {
        b.resave(false).lock_sessions(false)
    }));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let tasks: Vec<_> = ["/name/ada", "/cart/1"]
        .into_iter()
        .chain(std::iter::repeat_n("/read", 30))
        .map(|path| {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move { get_with(&app, path, Some(&cookie)).await.status })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let record = store.get(&id_of(&cookie)).await.unwrap().unwrap();
    let name: Option<String> = Postcard::decode(&record.fields["name"]).unwrap();
    let cart: Vec<Item> = Postcard::decode(&record.fields["cart"]).unwrap();
    let views: u64 = Postcard::decode(&record.fields["views"]).unwrap();
    assert_eq!((name.as_deref(), cart.len(), views), (Some("ada"), 1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_cookie_do_not_wait_for_each_other() {
    let app = app(layer_with(MemoryStore::new(), |b| b));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { get_with(&app, "/views", None).await.cookie_id() })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap().unwrap());
    }
    assert_eq!(ids.len(), 32, "every new visitor gets a session of its own");
}
