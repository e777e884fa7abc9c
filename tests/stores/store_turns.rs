//! `store_turns`: same-session requests take turns across processes through the store. Two
//! layers, each on its own connection to one Redis (single node and Cluster), PostgreSQL or
//! MariaDB, stand for two processes behind a load balancer. Every increment of one counter survives; a holder that
//! died blocks its session only until its lease ends; a holder whose lease ran out cannot
//! write; waiting is bounded; a request that changes nothing gives the turn back.

use crate::common;

use std::time::{Duration, Instant};

use axum::Router;
use common::conformance::{HOUR, record};
use common::*;
use sessionly::store::{Changed, Leases, Store};
use sessionly::{
    ConfigError, MemoryStore, MySqlStore, PostgresStore, RedisStore, SessionLayer, StoreError,
    StoreTurns,
};

/// A store of its own connection on the shared server, under the test's prefix.
async fn store(test: &str) -> RedisStore {
    RedisStore::open(&redis_url())
        .await
        .unwrap_or_else(|e| panic!("Redis must be running (see .ci/run): {e}"))
        .with_prefix(format!("test:turns:{test}:{}:", std::process::id()))
}

async fn cluster_store(test: &str) -> RedisStore<::redis::cluster_async::ClusterConnection> {
    let nodes = cluster_nodes();
    let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    RedisStore::open_cluster(&nodes)
        .await
        .unwrap_or_else(|e| panic!("the Redis Cluster must be running (see .ci/run): {e}"))
        .with_prefix(format!("test:turns:{test}:{}:", std::process::id()))
}

/// A test's own tables (the sessions' and their leases') on the shared PostgreSQL or MariaDB,
/// dropped with this guard.
enum Tables {
    Postgres(String),
    MySql(String),
}

impl Drop for Tables {
    fn drop(&mut self) {
        let (url, statement) = match self {
            Tables::Postgres(t) => (
                database_url(),
                format!("DROP TABLE IF EXISTS \"{t}\", \"{t}_turns\""),
            ),
            Tables::MySql(t) => (
                mysql_url(),
                format!("DROP TABLE IF EXISTS `{t}`, `{t}_turns`"),
            ),
        };
        let postgres = matches!(self, Tables::Postgres(_));
        // A runtime of its own: the guard may be dropped while the test's runtime shuts down.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let statement = sqlx::AssertSqlSafe(statement);
                if postgres {
                    let pool = sqlx::PgPool::connect(&url).await?;
                    sqlx::raw_sql(statement).execute(&pool).await.map(drop)
                } else {
                    let pool = sqlx::MySqlPool::connect(&url).await?;
                    sqlx::raw_sql(statement).execute(&pool).await.map(drop)
                }
            })
        })
        .join();
    }
}

/// Two stores on the shared PostgreSQL, each with a pool of its own, in a new table.
async fn postgres_stores(test: &str) -> (PostgresStore, PostgresStore, Tables) {
    let table = format!("turns_{test}_{}", std::process::id());
    let connect = || async {
        PostgresStore::connect(&database_url())
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL must be running (see .ci/run): {e}"))
            .with_table(&table)
            .unwrap()
    };
    let (one, two) = (connect().await, connect().await);
    one.migrate().await.unwrap();
    (one, two, Tables::Postgres(table))
}

/// Two stores on the shared MariaDB, each with a pool of its own, in a new table.
async fn mysql_stores(test: &str) -> (MySqlStore, MySqlStore, Tables) {
    let table = format!("turns_{test}_{}", std::process::id());
    let connect = || async {
        MySqlStore::connect(&mysql_url())
            .await
            .unwrap_or_else(|e| panic!("MariaDB must be running (see .ci/run): {e}"))
            .with_table(&table)
            .unwrap()
    };
    let (one, two) = (connect().await, connect().await);
    one.migrate().await.unwrap();
    (one, two, Tables::MySql(table))
}

/// The common app on `store`, taking turns through it with `turns`.
fn turning(store: impl Store, turns: Option<StoreTurns>) -> Router {
    app(layer_with(store, |b| match turns {
        Some(turns) => b.store_turns(turns),
        None => b,
    }))
}

/// Sends `n` concurrent `/views` requests with `cookie`, alternately to `one` and `two`, and
/// answers the count the session ends with.
async fn increments(one: &Router, two: &Router, cookie: &str, n: usize) -> u64 {
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..n {
        let app = if i % 2 == 0 { one.clone() } else { two.clone() };
        let cookie = cookie.to_owned();
        requests.spawn(async move { get_with(&app, "/views", Some(&cookie)).await });
    }
    while let Some(reply) = requests.join_next().await {
        let reply = reply.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    get_with(one, "/read", Some(cookie))
        .await
        .body
        .parse()
        .unwrap()
}

/// Two processes keep every one of 64 concurrent increments with the turn; the control
/// without it shows that the setup does race.
async fn keep_every_increment<S: Store + Clone>(one: S, two: S) {
    let (plain_one, plain_two) = (turning(one.clone(), None), turning(two.clone(), None));
    let cookie = get_with(&plain_one, "/views", None).await.cookie().unwrap();
    let lost = increments(&plain_one, &plain_two, &cookie, 64).await;
    assert!(
        lost < 65,
        "without the turn, some increments are lost ({lost} of 65)"
    );

    let (one, two) = (
        turning(one, Some(StoreTurns::new())),
        turning(two, Some(StoreTurns::new())),
    );
    let cookie = get_with(&one, "/views", None).await.cookie().unwrap();
    assert_eq!(increments(&one, &two, &cookie, 64).await, 65);
}

/// A process that took the turn and died blocks the session until its lease ends, no longer.
async fn a_dead_holder_blocks_only_until_its_lease_ends<S: Leases + Clone>(store: S) {
    let app = turning(store.clone(), Some(StoreTurns::new()));
    let reply = get_with(&app, "/views", None).await;
    let (cookie, id) = (reply.cookie().unwrap(), reply.cookie_id().unwrap());
    let lease = Duration::from_millis(600);
    let taken = Instant::now();
    assert!(store.lease(&id, lease).await.unwrap().is_some());
    assert!(store.lease(&id, lease).await.unwrap().is_none(), "held");
    let reply = get_with(&app, "/views", Some(&cookie)).await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "2"));
    assert!(
        taken.elapsed() >= lease,
        "it waited for the lease to end ({:?})",
        taken.elapsed()
    );
}

/// A request that outlived its lease cannot write; the holder of the turn can, and gives it
/// back with the write; a fenced patch of a session that is gone writes nothing.
async fn a_holder_whose_lease_ran_out_cannot_write<S: Leases + Clone>(store: S) {
    let app = turning(store.clone(), Some(StoreTurns::new()));
    let reply = get_with(&app, "/views", None).await;
    let (cookie, id) = (reply.cookie().unwrap(), reply.cookie_id().unwrap());
    let before = store.get(&id).await.unwrap().unwrap();

    let stale = store
        .lease(&id, Duration::from_millis(100))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(get_with(&app, "/views", Some(&cookie)).await.body, "2");
    let newer = store.get(&id).await.unwrap().unwrap();

    let names = ["views".to_owned()].into();
    let late = store
        .set_within_lease(&id, &before, Changed::Fields(&names), &stale, true)
        .await;
    assert!(matches!(late, Err(StoreError::LeaseLost)), "{late:?}");
    assert_eq!(store.get(&id).await.unwrap().unwrap().fields, newer.fields);
    assert_eq!(get_with(&app, "/read", Some(&cookie)).await.body, "2");

    let token = store.lease(&id, HOUR.unwrap()).await.unwrap().unwrap();
    let mut mine = newer.clone();
    mine.fields
        .insert("views".into(), before.fields["views"].clone());
    store
        .set_within_lease(&id, &mine, Changed::Fields(&names), &token, true)
        .await
        .unwrap();
    assert_eq!(store.get(&id).await.unwrap().unwrap().fields, mine.fields);
    let again = store.lease(&id, HOUR.unwrap()).await.unwrap();
    let again = again.expect("the write gave the turn back");
    store.release(&id, &again).await.unwrap();

    let gone = record(&[("views", b"1")], HOUR);
    let token = store.lease("gone", HOUR.unwrap()).await.unwrap().unwrap();
    let patched = store
        .set_within_lease("gone", &gone, Changed::Fields(&names), &token, true)
        .await;
    assert!(matches!(patched, Err(StoreError::Gone)), "{patched:?}");
    assert_eq!(store.get("gone").await.unwrap(), None);
    let back = store.lease("gone", HOUR.unwrap()).await.unwrap();
    assert!(
        back.is_some(),
        "a write that found the session gone gave the turn back too"
    );
}

/// A request that cannot get the turn within the wait answers 503; routes that do not use the
/// session are not held up.
async fn waiting_is_bounded<S: Leases + Clone>(store: S) {
    let wait = Duration::from_millis(300);
    let app = turning(store.clone(), Some(StoreTurns::new().wait(wait)));
    let reply = get_with(&app, "/views", None).await;
    let (cookie, id) = (reply.cookie().unwrap(), reply.cookie_id().unwrap());
    let held = store.lease(&id, HOUR.unwrap()).await.unwrap().unwrap();

    let started = Instant::now();
    let reply = get_with(&app, "/views", Some(&cookie)).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(started.elapsed() >= wait);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(get_with(&app, "/none", Some(&cookie)).await.status, 200);

    store.release(&id, &held).await.unwrap();
    let reply = get_with(&app, "/views", Some(&cookie)).await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "2"));
}

/// A read, a save, a failed handler, a destroy: after each, the turn is free. With lazy_load,
/// a request whose handler does not extract the session takes no turn.
async fn every_request_gives_the_turn_back<S: Leases + Clone>(store: S) {
    let app = turning(store.clone(), Some(StoreTurns::new()));
    let reply = get_with(&app, "/views", None).await;
    let (cookie, id) = (reply.cookie().unwrap(), reply.cookie_id().unwrap());
    for path in [
        "/read",
        "/views",
        "/fail",
        "/save",
        "/none",
        "/cycle-id",
        "/destroy",
    ] {
        let reply = get_with(&app, path, Some(&cookie)).await;
        let free = store.lease(&id, HOUR.unwrap()).await.unwrap();
        let token = free.unwrap_or_else(|| panic!("{path} ({}) kept the turn", reply.status));
        store.release(&id, &token).await.unwrap();
    }
    let lazy = app_with(store.clone(), |b| {
        b.store_turns(StoreTurns::new().wait(Duration::from_millis(200)))
            .lazy_load(true)
    });
    let cookie = get_with(&lazy, "/views", None).await.cookie().unwrap();
    let id = id_of(&cookie);
    let held = store.lease(&id, HOUR.unwrap()).await.unwrap().unwrap();
    assert_eq!(get_with(&lazy, "/none", Some(&cookie)).await.status, 200);
    assert_eq!(get_with(&lazy, "/views", Some(&cookie)).await.status, 503);
    store.release(&id, &held).await.unwrap();
}

/// `cycle_id` under the turn: the session moves to its new id with its data, the old id is
/// gone, and neither id is left leased.
async fn a_login_keeps_the_session_under_the_turn<S: Leases + Clone>(store: S) {
    let app = turning(store.clone(), Some(StoreTurns::new()));
    let reply = get_with(&app, "/views", None).await;
    let (cookie, old) = (reply.cookie().unwrap(), reply.cookie_id().unwrap());
    let cycled = get_with(&app, "/cycle-id", Some(&cookie)).await;
    assert_eq!(cycled.status, 200, "{}", cycled.body);
    let (new_cookie, new) = (cycled.cookie().unwrap(), cycled.cookie_id().unwrap());
    assert_eq!(cycled.body, format!("{old}>{new}:1"));
    assert_eq!(store.get(&old).await.unwrap(), None, "the old id deleted");
    assert_eq!(get_with(&app, "/read", Some(&new_cookie)).await.body, "1");
    assert_eq!(get_with(&app, "/read", Some(&cookie)).await.body, "0");
    for id in [old, new] {
        let token = store.lease(&id, HOUR.unwrap()).await.unwrap();
        let token = token.unwrap_or_else(|| panic!("{id} left leased"));
        store.release(&id, &token).await.unwrap();
    }
}

fn app_with(
    store: impl Store,
    configure: impl FnOnce(sessionly::SessionLayerBuilder) -> sessionly::SessionLayerBuilder,
) -> Router {
    app(layer_with(store, configure))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_keeps_the_session_under_the_turn_on_redis_and_postgres() {
    a_login_keeps_the_session_under_the_turn(store("cycle").await).await;
    let (store, _, _tables) = postgres_stores("cycle").await;
    a_login_keeps_the_session_under_the_turn(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_processes_keep_every_increment() {
    keep_every_increment(store("race").await, store("race").await).await;
}

/// With the client-side cache, a load under the turn still reads what the last holder wrote:
/// taking the turn empties the session's slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cached_two_processes_keep_every_increment() {
    let cached = || async {
        RedisStore::open_cached(&redis_url(), 100)
            .await
            .unwrap()
            .with_prefix(format!("test:turns:race-cached:{}:", std::process::id()))
    };
    keep_every_increment(cached().await, cached().await).await;

    // Every load under the turn reads Redis: a read-only request leaves its entry behind,
    // and the next request's turn empties it.
    let store = cached().await;
    let app = turning(store.clone(), Some(StoreTurns::new()));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    for _ in 0..3 {
        assert_eq!(get_with(&app, "/read", Some(&cookie)).await.body, "1");
    }
    let stats = store.cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses), (0, 3), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_two_processes_keep_every_increment() {
    let turns = Some(StoreTurns::new());
    let one = turning(cluster_store("cluster").await, turns);
    let two = turning(cluster_store("cluster").await, turns);
    // Several sessions, so their keys (and leases) land on different nodes.
    for _ in 0..3 {
        let cookie = get_with(&one, "/views", None).await.cookie().unwrap();
        assert_eq!(increments(&one, &two, &cookie, 64).await, 65);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_processes_keep_every_increment() {
    let (one, two, _tables) = postgres_stores("race").await;
    keep_every_increment(one, two).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_dead_holder_blocks_only_until_its_lease_ends() {
    a_dead_holder_blocks_only_until_its_lease_ends(store("dead").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_dead_holder_blocks_only_until_its_lease_ends() {
    let (store, _, _tables) = postgres_stores("dead").await;
    a_dead_holder_blocks_only_until_its_lease_ends(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_holder_whose_lease_ran_out_cannot_write() {
    a_holder_whose_lease_ran_out_cannot_write(store("stale").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_a_holder_whose_lease_ran_out_cannot_write() {
    a_holder_whose_lease_ran_out_cannot_write(cluster_store("stale").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_holder_whose_lease_ran_out_cannot_write() {
    let (store, _, _tables) = postgres_stores("stale").await;
    a_holder_whose_lease_ran_out_cannot_write(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_waiting_is_bounded() {
    waiting_is_bounded(store("bounded").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_waiting_is_bounded() {
    let (store, _, _tables) = postgres_stores("bounded").await;
    waiting_is_bounded(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_every_request_gives_the_turn_back() {
    every_request_gives_the_turn_back(store("back").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_every_request_gives_the_turn_back() {
    let (store, _, _tables) = postgres_stores("back").await;
    every_request_gives_the_turn_back(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_two_processes_keep_every_increment() {
    let (one, two, _tables) = mysql_stores("race").await;
    keep_every_increment(one, two).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_dead_holder_blocks_only_until_its_lease_ends() {
    let (store, _, _tables) = mysql_stores("dead").await;
    a_dead_holder_blocks_only_until_its_lease_ends(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_holder_whose_lease_ran_out_cannot_write() {
    let (store, _, _tables) = mysql_stores("stale").await;
    a_holder_whose_lease_ran_out_cannot_write(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_waiting_is_bounded() {
    let (store, _, _tables) = mysql_stores("bounded").await;
    waiting_is_bounded(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_every_request_gives_the_turn_back() {
    let (store, _, _tables) = mysql_stores("back").await;
    every_request_gives_the_turn_back(store).await;
}

#[test]
fn stores_without_the_turn_are_refused_when_the_layer_is_built() {
    let built = SessionLayer::builder()
        .secret(SECRET)
        .store(MemoryStore::new())
        .store_turns(StoreTurns::new())
        .build();
    assert_eq!(built.unwrap_err(), ConfigError::StoreTurnsUnsupported);
}
