//! A Node app on express-session (tests/node/app.js, with connect-redis or connect-pg-simple)
//! and a Rust app on `ConnectRedisStore` / `ConnectPgStore` share live sessions: the same
//! cookie opens the same session on either side, both directions.
//!
//! Needs `node` and `npm ci` in tests/node (`.ci/run` does both), Redis at `REDIS_URL` and
//! PostgreSQL at `DATABASE_URL`.

use crate::common;

#[path = "../../examples/beside_express.rs"]
mod beside_express;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::get;
use common::database_url;
use common::node::{Node, SECRET, redis_pair};
use sessionly::store::{Listing, Store};
use sessionly::testing::TestClient;
use sessionly::{
    ConnectPgStore, CookieOptions, Json, SessionData, SessionError, SessionLayer, TypedSession,
};
use tokio::sync::Notify;

/// The Rust app's view of the session: the keys it shares with the Node app, as JSON.
#[derive(SessionData, Debug)]
#[session(codec = Json)]
struct Shared {
    user_id: Option<String>,
    views: u64,
}

/// The Rust app: reads and changes the shared keys; `/slow-views` loads the session, waits at
/// `gate`, then counts.
fn rust_app(store: impl Store, gate: Arc<(Notify, Notify)>) -> (Router, SessionLayer) {
    let layer = SessionLayer::builder()
        .secret(SECRET)
        .allow_short_secrets() // the Node app's secret is 28 bytes
        .store(store)
        .cookie(CookieOptions::new().max_age(Duration::from_secs(86_400)))
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/whoami",
            get(|s: TypedSession<Shared>| async move {
                format!("{}:{}", s.user_id().clone().unwrap_or_default(), s.views())
            }),
        )
        .route(
            "/views",
            get(|mut s: TypedSession<Shared>| async move {
                *s.views_mut() += 1;
                s.views().to_string()
            }),
        )
        .route(
            "/slow-views",
            get(move |mut s: TypedSession<Shared>| async move {
                gate.0.notify_one();
                gate.1.notified().await;
                *s.views_mut() += 1;
                s.views().to_string()
            }),
        )
        .route(
            "/destroy",
            get(|s: TypedSession<Shared>| async move { s.destroy().await }),
        )
        .route(
            "/regenerate",
            get(|mut s: TypedSession<Shared>| async move {
                s.regenerate().await?;
                s.set_user_id(Some("rust".into()));
                Ok::<_, SessionError>("new")
            }),
        )
        .layer(layer.clone());
    (app, layer)
}

/// A Rust browser holding `cookie` (a `name=value` pair).
fn browser(app: &Router, cookie: &str) -> TestClient {
    let client = TestClient::new(app.clone());
    let (name, value) = cookie.split_once('=').unwrap();
    client.set_cookie(name, value);
    client
}

async fn both_ways(node: Node, store: impl Store + Clone, what: &str) {
    let gate = Arc::new((Notify::new(), Notify::new()));
    let (app, _layer) = rust_app(store.clone(), gate.clone());

    // Signed in on Node: Rust sees the user, under the same cookie.
    let (status, cookie, _) = node.get("/login/ada", None).await;
    assert_eq!(status, 200, "{what}");
    let cookie = cookie.expect("Node's session cookie");
    let rust = browser(&app, &cookie);
    assert_eq!(rust.get("/whoami").await.text(), "ada:0", "{what}");

    // Rust changes a field: Node sees it, and its own keys are as it wrote them.
    assert_eq!(rust.get("/views").await.text(), "1", "{what}");
    let seen = node.whoami(&cookie).await;
    assert_eq!(seen["session"]["views"], 1, "{what}: {seen}");
    assert_eq!(seen["session"]["passport"]["user"], "ada", "{what}: {seen}");
    assert_eq!(
        seen["session"]["flash"]["info"][0], "Welcome, \"ada\"",
        "{what}: {seen}"
    );
    assert_eq!(
        rust.get("/whoami").await.text(),
        "ada:1",
        "{what}: still one session"
    );

    // Node changes its key while a Rust request that changes another is under way: both stay.
    let slow = tokio::spawn({
        let rust = browser(&app, &cookie);
        async move { rust.get("/slow-views").await.text() }
    });
    gate.0.notified().await;
    let (_, _, count) = node.get("/incr/node_count", Some(&cookie)).await;
    assert_eq!(count, "1", "{what}");
    gate.1.notify_one();
    assert_eq!(slow.await.unwrap(), "2", "{what}");
    let seen = node.whoami(&cookie).await;
    assert_eq!(
        (
            seen["session"]["views"].clone(),
            seen["session"]["node_count"].clone()
        ),
        (2.into(), 1.into()),
        "{what}: both writes kept: {seen}"
    );

    // Lifetimes agree: Node's day-long cookie expires when Rust says it does.
    let node_session = seen["session"].to_string();
    let node_ms = sessionly::store::express::from_json(&node_session, 0)
        .unwrap()
        .cookie
        .expires_ms
        .unwrap();
    let id = seen["id"].as_str().unwrap().to_owned();
    let rust_ms = store
        .get(&id)
        .await
        .unwrap()
        .unwrap()
        .expires()
        .unwrap()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        rust_ms.abs_diff(node_ms) <= 1000,
        "{what}: {rust_ms} vs {node_ms}"
    );

    // Regenerated on Rust: the old id is gone for Node too.
    let new = rust.get("/regenerate").await;
    assert_eq!(new.text(), "new", "{what}");
    assert_eq!(
        node.whoami(&cookie).await["session"]["user_id"],
        serde_json::Value::Null,
        "{what}"
    );
    let rust_cookie = format!("connect.sid={}", rust.cookie("connect.sid").unwrap());
    assert_eq!(
        node.whoami(&rust_cookie).await["session"]["user_id"],
        "rust",
        "{what}"
    );

    // Destroyed on Node: Rust sees no session.
    let (_, _, bye) = node.get("/destroy", Some(&rust_cookie)).await;
    assert_eq!(bye, "bye", "{what}");
    assert_eq!(
        browser(&app, &rust_cookie).get("/whoami").await.text(),
        ":0",
        "{what}"
    );

    // Regenerated on Node, destroyed on Rust.
    let (_, cookie, _) = node.get("/login/grace", None).await;
    let cookie = cookie.unwrap();
    let (_, renewed, _) = node.get("/regenerate", Some(&cookie)).await;
    let renewed = renewed.unwrap();
    assert_eq!(
        browser(&app, &cookie).get("/whoami").await.text(),
        ":0",
        "{what}"
    );
    let rust = browser(&app, &renewed);
    assert_eq!(rust.get("/whoami").await.text(), "regenerated:0", "{what}");
    assert_eq!(rust.get("/destroy").await.status(), 200, "{what}");
    assert_eq!(
        node.whoami(&renewed).await["session"]["user_id"],
        serde_json::Value::Null,
        "{what}"
    );
}

/// Both sides expire a short session within a second of each other.
async fn expiry(node: Node, store: impl Store + Clone, what: &str) {
    let (app, _layer) = rust_app(store, Arc::new((Notify::new(), Notify::new())));
    let (_, cookie, _) = node.get("/login/ada", None).await;
    let cookie = cookie.unwrap();
    assert_eq!(
        browser(&app, &cookie).get("/whoami").await.text(),
        "ada:0",
        "{what}"
    );
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        browser(&app, &cookie).get("/whoami").await.text(),
        ":0",
        "{what}: expired for Rust"
    );
    assert_eq!(
        node.whoami(&cookie).await["session"]["user_id"],
        serde_json::Value::Null,
        "{what}: and Node"
    );
}

async fn pg_pair(test: &str, max_age_ms: u64) -> (Node, ConnectPgStore) {
    let table = format!("session_interop_{test}_{}", std::process::id());
    let store = ConnectPgStore::connect(&database_url())
        .await
        .unwrap()
        .with_table(&table)
        .unwrap();
    store.migrate().await.unwrap();
    store.clear().await.unwrap();
    let node = Node::start(&[
        ("STORE", "pg".into()),
        ("DATABASE_URL", database_url()),
        ("TABLE", table),
        ("MAX_AGE_MS", max_age_ms.to_string()),
    ])
    .await;
    (node, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_on_connect_redis_and_rust_share_sessions() {
    let (node, store) = redis_pair("both-ways", 86_400_000).await;
    both_ways(node, store, "connect-redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_on_connect_pg_simple_and_rust_share_sessions() {
    let (node, store) = pg_pair("both_ways", 86_400_000).await;
    both_ways(node, store, "connect-pg-simple").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_session_expires_for_both_on_connect_redis() {
    let (node, store) = redis_pair("expiry", 2000).await;
    expiry(node, store, "connect-redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_session_expires_for_both_on_connect_pg_simple() {
    let (node, store) = pg_pair("expiry", 2000).await;
    expiry(node, store, "connect-pg-simple").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_beside_express_example_reads_who_node_signed_in() {
    let (node, store) = redis_pair("example", 86_400_000).await;
    let layer = SessionLayer::builder()
        .secret(SECRET)
        .allow_short_secrets() // the Node app's secret is 28 bytes
        .store(store)
        .build()
        .unwrap();
    let (_, cookie, _) = node.get("/login/ada", None).await;
    let cookie = cookie.unwrap();
    let rust = browser(&beside_express::app(layer), &cookie);
    let page = rust.get("/").await.text();
    assert!(
        page.contains("Signed in on the Node app as <strong id=user>ada</strong>")
            && page.contains("<span id=visits>1</span>"),
        "{page}"
    );
    let seen = node.whoami(&cookie).await;
    assert_eq!(seen["session"]["rustVisits"], 1, "{seen}");
    assert_eq!(seen["session"]["passport"]["user"], "ada", "{seen}");
}
