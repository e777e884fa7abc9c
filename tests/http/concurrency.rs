//! Requests that share one session at the same time.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::routing::get;
use common::*;
use http::Request;
use sessionly::store::Store;
use sessionly::{Codec, MemoryStore, Postcard, SessionError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_loses_no_update() {
    no_lost_updates(MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazily_loaded_sessions_still_take_turns() {
    // The turn is taken when the handler extracts the session, and held until it is saved.
    no_lost_updates_with(Yielding::default(), |b| b.lazy_load(true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_extraction_after_the_response_finds_the_session_ended() {
    late_extraction_finds_the_session_ended(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_extraction_after_a_dropped_request_finds_the_session_ended() {
    late_extraction_finds_the_session_ended(true).await;
}

/// With lazy_load, a task the handler spawned may extract the session after the request is
/// over — answered, or dropped by the client (`drop_request`) while the handler still ran: it
/// must neither get the session (its changes would never be saved) nor keep the session's
/// turn from the client's next request.
async fn late_extraction_finds_the_session_ended(drop_request: bool) {
    let (sender, outcome) = tokio::sync::oneshot::channel();
    let sender = Arc::new(Mutex::new(Some(sender)));
    let late = get(move |request: Request<Body>| async move {
        let sender = sender.lock().unwrap().take();
        tokio::spawn(async move {
            let (mut parts, _) = request.into_parts();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let session = Session::from_request_parts(&mut parts, &()).await;
            let ended = matches!(session, Err(SessionError::Ended));
            // Held a while, as a task that got it would.
            tokio::time::sleep(Duration::from_secs(3)).await;
            drop(session);
            sender.map(|s| s.send(ended));
        });
        if drop_request {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        "spawned"
    });
    let layer = layer_with(MemoryStore::new(), |b| b.lazy_load(true));
    let app = routes().route("/late", late).layer(layer);
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let request = get_with(&app, "/late", Some(&cookie));
    if drop_request {
        let dropped = tokio::time::timeout(Duration::from_millis(100), request).await;
        assert!(dropped.is_err(), "the handler is still running");
    } else {
        assert_eq!(request.await.body, "spawned");
    }
    // The spawned task extracts at 500 ms and, had it got the session, would hold it 3 s.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let next = tokio::time::timeout(
        Duration::from_secs(1),
        get_with(&app, "/views", Some(&cookie)),
    )
    .await
    .expect("the next request does not wait for the spawned task");
    assert_eq!(next.body, "2");
    assert!(
        outcome.await.unwrap(),
        "the late extraction finds the session ended"
    );
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
    // A new visitor's request held inside its handler does not hold up another new visitor's
    // (with `lock_sessions`, as by default): there is no session id to take turns on.
    let gate = Gate::default();
    let app = gated_app(layer_with(MemoryStore::new(), |b| b), gate.clone());
    let held = tokio::spawn({
        let app = app.clone();
        async move { get_with(&app, "/slow-write", None).await.cookie_id() }
    });
    gate.loaded.notified().await;
    let others: Vec<_> = (0..32)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { get_with(&app, "/views", None).await.cookie_id() })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for task in others {
        let id = tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .expect("served while the first new visitor's request is held")
            .unwrap();
        ids.insert(id.unwrap());
    }
    gate.release.notify_one();
    ids.insert(held.await.unwrap().unwrap());
    assert_eq!(ids.len(), 33, "every new visitor gets a session of its own");
}
