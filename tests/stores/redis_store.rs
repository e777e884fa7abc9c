//! `RedisStore` against a real Redis: the conformance suite, concurrent field writes and the
//! session lifecycle over HTTP, the owner index against what Redis holds, the round trips each
//! operation costs, and an outage in the middle of a run. `.ci/run` starts the server; without
//! one these tests fail rather than skip.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ::redis::aio::ConnectionLike;
use common::conformance::{HOUR, conformance, conformance_without_listing, owned, record};
use common::*;
use sessionly::store::{Changed, Listing, OwnerIndex, Store};
use sessionly::{RedisStore, StoreError};

/// The key prefix of `test`'s store: its own, so tests (and concurrent runs) do not meet.
fn prefix(test: &str) -> String {
    format!("test:{test}:{}:", std::process::id())
}

/// A store on the shared test server, under a prefix of its own.
async fn store(test: &str) -> RedisStore {
    RedisStore::open(&redis_url())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis must be running at {} (see .ci/run): {e}",
                redis_url()
            )
        })
        .with_prefix(prefix(test))
}

async fn cluster_store(test: &str) -> RedisStore<::redis::cluster_async::ClusterConnection> {
    let nodes = cluster_nodes();
    let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    RedisStore::open_cluster(&nodes)
        .await
        .unwrap_or_else(|e| {
            panic!("a Redis Cluster must be running at {nodes:?} (see .ci/run): {e}")
        })
        .with_prefix(prefix(test))
}

async fn raw_cluster() -> ::redis::cluster_async::ClusterConnection {
    ::redis::cluster::ClusterClient::new(cluster_nodes())
        .unwrap()
        .get_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn redis_cluster_store_conforms() {
    conformance_without_listing(&cluster_store("conformance").await).await;
    let checking = cluster_store("conformance-checking").await;
    conformance_without_listing(&checking.with_size_check_in_redis(true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store_loses_no_update() {
    no_lost_updates(cluster_store("lost-update").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store_lets_no_slow_request_resurrect_a_session() {
    a_slow_request_cannot_resurrect(cluster_store("resurrect").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store_logs_devices_in_and_out() {
    log_out_other_devices(cluster_store("devices").await).await;
}

#[tokio::test]
async fn redis_cluster_owner_index_repairs_itself() {
    let test = "repair";
    owner_index_repairs_itself(
        cluster_store(test).await,
        raw_cluster().await,
        &prefix(test),
    )
    .await;
}

#[tokio::test]
async fn redis_cluster_stale_touch_extends_nothing() {
    let test = "stale-touch";
    a_stale_touch_extends_nothing(
        cluster_store(test).await,
        raw_cluster().await,
        &prefix(test),
    )
    .await;
}

#[tokio::test]
async fn redis_cluster_spreads_sessions_over_the_nodes() {
    let store = cluster_store("spread").await;
    let app = app(layer_with(store, |b| b.save_uninitialized(true)));
    for _ in 0..30 {
        assert_eq!(get_with(&app, "/views", None).await.status, 200);
    }
    let prefix = format!("test:spread:{}:", std::process::id());
    let mut nodes_with_sessions = 0;
    for node in cluster_nodes() {
        let client = ::redis::Client::open(node.as_str()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = ::redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut connection)
            .await
            .unwrap();
        nodes_with_sessions += usize::from(!keys.is_empty());
    }
    assert!(
        nodes_with_sessions >= 2,
        "30 random ids land on more than one of 3 nodes"
    );
}

#[tokio::test]
async fn redis_store_conforms() {
    conformance(&store("conformance").await).await;
    let checking = store("conformance-checking").await;
    conformance(&checking.with_size_check_in_redis(true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_loses_no_update() {
    no_lost_updates(store("lost-update").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_writes_from_two_processes_both_survive() {
    different_fields_survive_two_processes(store("two-processes").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_lets_no_slow_request_resurrect_a_session() {
    a_slow_request_cannot_resurrect(store("resurrect").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_logs_devices_in_and_out() {
    log_out_other_devices(store("devices").await).await;
}

#[tokio::test]
async fn redis_owner_index_repairs_itself() {
    let test = "repair";
    let store = store(test).await;
    owner_index_repairs_itself(store.clone(), raw().await, &prefix(test)).await;
    // Owner keys stay out of the session keyspace that `length` and `all` scan.
    let before = store.length().await.unwrap();
    store
        .set("counted", &owned("ivy", HOUR), Changed::All)
        .await
        .unwrap();
    assert_eq!(store.length().await.unwrap(), before + 1);
    assert_eq!(store.all().await.unwrap().len(), before + 1);
    store.destroy("counted").await.unwrap();
}

#[tokio::test]
async fn redis_stale_touch_extends_nothing() {
    let test = "stale-touch";
    a_stale_touch_extends_nothing(store(test).await, raw().await, &prefix(test)).await;
}

#[tokio::test]
async fn a_key_of_another_type_is_a_missing_session() {
    // Something else wrote a string (no TTL) where a session's hash was: its client gets a
    // new session, not a 503 on every request until someone deletes the key.
    let test = "wrongtype";
    let store = store(test).await;
    store.clear().await.unwrap();
    let mut raw = raw().await;
    let app = app(layer_with(store.clone(), |b| b));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let key = format!("{}{}", prefix(test), id_of(&cookie));
    ::redis::cmd("SET")
        .arg(&key)
        .arg("not a session")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();

    let reply = get_with(&app, "/views", Some(&cookie)).await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "1"));
    assert_ne!(reply.cookie_id(), Some(id_of(&cookie)), "under a new id");
    assert_eq!(store.get(&id_of(&cookie)).await.unwrap(), None);
    let checking = store.clone().with_size_check_in_redis(true);
    assert_eq!(
        checking.get_within(&id_of(&cookie), 1 << 16).await.unwrap(),
        None
    );
    assert_eq!(store.all().await.unwrap().len(), 1, "the new session only");
    let left: String = ::redis::cmd("GET")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(left, "not a session", "the foreign key is left alone");
    store.clear().await.unwrap();
}

#[tokio::test]
async fn redis_patch_of_an_ended_session_leaves_nothing() {
    let name = "ended-patch";
    a_patch_of_an_ended_session_leaves_nothing(store(name).await, raw().await, &prefix(name)).await;
}

#[tokio::test]
async fn redis_cluster_patch_of_an_ended_session_leaves_nothing() {
    let name = "cluster-ended-patch";
    a_patch_of_an_ended_session_leaves_nothing(
        cluster_store(name).await,
        raw_cluster().await,
        &prefix(name),
    )
    .await;
}

/// A patch finds out that its session ended only after its writes (it runs no script), so it
/// must clean up: nothing of it stays in Redis, and a hash a whole write did not make (no `v`
/// marker) is never taken for a session, by a read, a touch or a patch.
async fn a_patch_of_an_ended_session_leaves_nothing<C, R>(
    store: RedisStore<C>,
    mut raw: R,
    prefix: &str,
) where
    C: ConnectionLike + Clone + Send + Sync + 'static,
    R: ConnectionLike + Send,
{
    let loaded = record(&[("a", b"1")], HOUR);
    let mut changed = loaded.clone();
    changed.fields = record(&[("a", b"2")], HOUR).fields;
    let patch = Changed::Fields(&set_of(&["a"]));

    store.set("s", &loaded, Changed::All).await.unwrap();
    store.destroy("s").await.unwrap();
    patch_is_gone_and_leaves_nothing(&store, &mut raw, prefix, "s", &changed, patch).await;

    // A hash with a good cookie state and fields, but not made by a whole write.
    store.set("t", &loaded, Changed::All).await.unwrap();
    ::redis::cmd("HDEL")
        .arg(format!("{prefix}t"))
        .arg("v")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    assert_eq!(store.get("t").await.unwrap(), None);
    assert!(matches!(
        store.touch("t", &loaded).await,
        Err(StoreError::Gone)
    ));
    patch_is_gone_and_leaves_nothing(&store, &mut raw, prefix, "t", &changed, patch).await;

    // Written whole again, it is a session once more.
    store.set("t", &changed, Changed::All).await.unwrap();
    assert_eq!(store.get("t").await.unwrap(), Some(changed));

    // A format this version does not know is not read either.
    ::redis::cmd("HSET")
        .arg(format!("{prefix}t"))
        .arg("v")
        .arg("2")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    assert_eq!(store.get("t").await.unwrap(), None);
    store.destroy("t").await.unwrap();
}

/// Patches `id`, which has ended: the store answers `Gone` and no hash stays at its key.
async fn patch_is_gone_and_leaves_nothing<C, R>(
    store: &RedisStore<C>,
    raw: &mut R,
    prefix: &str,
    id: &str,
    record: &sessionly::store::Record,
    patch: Changed<'_>,
) where
    C: ConnectionLike + Clone + Send + Sync + 'static,
    R: ConnectionLike + Send,
{
    let outcome = store.set(id, record, patch).await;
    assert!(
        matches!(outcome, Err(StoreError::Gone)),
        "{id}: {outcome:?}"
    );
    assert!(
        !exists(raw, &format!("{prefix}{id}")).await,
        "{id}: the patch left a hash"
    );
}

/// The key of `owner`'s index for a store with prefix `prefix` (ending in `:`), as the store's
/// documentation gives it.
fn owner_key(prefix: &str, owner: &str) -> String {
    let head = prefix.strip_suffix(':').expect("test prefixes end in ':'");
    format!("{head}#:owner:{owner}")
}

/// The owner index against what Redis holds: destroys and owner changes update it at once;
/// members whose session was deleted or given another owner behind the store's back are not
/// listed and are dropped by the listing; the index expires with its latest session and goes
/// once it is empty.
async fn owner_index_repairs_itself<C, R>(store: RedisStore<C>, mut raw: R, prefix: &str)
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
    R: ConnectionLike + Send,
{
    let index = owner_key(prefix, "ivy");
    store.destroy_sessions_of("ivy", None).await.unwrap();
    store.destroy_sessions_of("zed", None).await.unwrap();
    let ids = ["kept", "deleted", "reowned", "destroyed", "moved"];
    for id in ids {
        store
            .set(id, &owned("ivy", HOUR), Changed::All)
            .await
            .unwrap();
    }
    assert_eq!(members(&mut raw, &index).await, set_of(&ids));
    let hour = 3_600_000;
    let first = pttl(&mut raw, &index).await;
    assert!(
        hour - 60_000 < first && first <= hour,
        "the index lives as long as its latest session: {first} ms"
    );
    store
        .set(
            "long",
            &owned("ivy", Some(Duration::from_secs(7200))),
            Changed::All,
        )
        .await
        .unwrap();
    assert!(
        pttl(&mut raw, &index).await > hour,
        "a later session extends the index"
    );
    store
        .set(
            "short",
            &owned("ivy", Some(Duration::from_secs(1))),
            Changed::All,
        )
        .await
        .unwrap();
    assert!(
        pttl(&mut raw, &index).await > hour,
        "an earlier one does not shorten it"
    );
    for id in ["long", "short"] {
        store.destroy(id).await.unwrap();
    }

    // The store's own destroy and owner changes update the index at once.
    store.destroy("destroyed").await.unwrap();
    let mut moved = owned("zed", HOUR);
    moved.fields = record(&[("user", b"zed")], HOUR).fields;
    store
        .set("moved", &moved, Changed::FieldsAndOwner(&set_of(&["user"])))
        .await
        .unwrap();
    assert_eq!(
        members(&mut raw, &index).await,
        set_of(&["kept", "deleted", "reowned"])
    );
    assert_eq!(
        members(&mut raw, &owner_key(prefix, "zed")).await,
        set_of(&["moved"])
    );

    // Behind the store's back: the index still names both sessions until a listing looks.
    behind_the_back(&mut raw, prefix, "deleted", "reowned").await;
    let listed: BTreeSet<String> = store
        .sessions_of("ivy")
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(listed, set_of(&["kept"]));
    assert_eq!(
        members(&mut raw, &index).await,
        set_of(&["kept"]),
        "stale members dropped"
    );

    // The same for a deletion of everyone else, which also must not delete a session that
    // is no longer ivy's.
    for id in ["deleted-too", "reowned-too"] {
        store
            .set(id, &owned("ivy", HOUR), Changed::All)
            .await
            .unwrap();
    }
    behind_the_back(&mut raw, prefix, "deleted-too", "reowned-too").await;
    assert_eq!(
        store
            .destroy_sessions_of("ivy", Some("kept"))
            .await
            .unwrap(),
        0
    );
    assert!(
        store.get("reowned-too").await.unwrap().is_some(),
        "not ivy's to destroy"
    );
    assert_eq!(
        members(&mut raw, &index).await,
        set_of(&["kept"]),
        "stale members dropped"
    );

    // The last session gone, its index goes too.
    store.destroy("kept").await.unwrap();
    let exists: bool = ::redis::cmd("EXISTS")
        .arg(&index)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(!exists, "an empty index is deleted");
    for id in ["reowned", "reowned-too", "moved"] {
        store.destroy(id).await.unwrap();
    }
}

/// A request loads ivy's session; another gives it to zed for 2 s; then the first request
/// touches it. The touch must not keep the session for the hour ivy's copy asks for, past the
/// expiry under which zed's index holds it: it leaves the session as the owner change left it.
async fn a_stale_touch_extends_nothing<C, R>(store: RedisStore<C>, mut raw: R, prefix: &str)
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
    R: ConnectionLike + Send,
{
    let loaded = owned("ivy", HOUR);
    store.set("s", &loaded, Changed::All).await.unwrap();
    let given = owned("zed", Some(Duration::from_secs(2)));
    store
        .set("s", &given, Changed::FieldsAndOwner(&set_of(&["user"])))
        .await
        .unwrap();
    let mut late = loaded.clone();
    late.cookie.touch(std::time::SystemTime::now());
    store.touch("s", &late).await.unwrap();
    let ttl = pttl(&mut raw, &format!("{prefix}s")).await;
    assert!(
        0 < ttl && ttl <= 2000,
        "the stale touch moved the expiry: {ttl} ms"
    );
    assert_eq!(store.get("s").await.unwrap().unwrap(), given);
    let zed = store.sessions_of("zed").await.unwrap();
    assert_eq!(zed.len(), 1, "{zed:?}");
    assert_eq!(store.sessions_of("ivy").await.unwrap(), []);
    assert_eq!(
        members(&mut raw, &owner_key(prefix, "ivy")).await,
        set_of(&[])
    );
    store.destroy("s").await.unwrap();
}

/// Deletes session `deleted` and gives session `reowned` to zed, without telling the store.
async fn behind_the_back(
    raw: &mut impl ConnectionLike,
    prefix: &str,
    deleted: &str,
    reowned: &str,
) {
    ::redis::cmd("DEL")
        .arg(format!("{prefix}{deleted}"))
        .query_async::<()>(raw)
        .await
        .unwrap();
    ::redis::cmd("HSET")
        .arg(format!("{prefix}{reowned}"))
        .arg("o")
        .arg("zed")
        .query_async::<()>(raw)
        .await
        .unwrap();
}

async fn members(raw: &mut impl ConnectionLike, index: &str) -> BTreeSet<String> {
    let members: Vec<String> = ::redis::cmd("ZRANGE")
        .arg(index)
        .arg(0)
        .arg(-1)
        .query_async(raw)
        .await
        .unwrap();
    members.into_iter().collect()
}

async fn exists(raw: &mut impl ConnectionLike, key: &str) -> bool {
    ::redis::cmd("EXISTS")
        .arg(key)
        .query_async(raw)
        .await
        .unwrap()
}

async fn pttl(raw: &mut impl ConnectionLike, key: &str) -> i64 {
    ::redis::cmd("PTTL")
        .arg(key)
        .query_async(raw)
        .await
        .unwrap()
}

fn set_of(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

#[tokio::test]
async fn an_empty_prefix_turns_the_owner_index_off() {
    // Every key could be a session's then, so no key is left for an index.
    let store = store("unused").await.with_prefix("");
    let id = format!("{}empty", prefix("empty-prefix"));
    store
        .set(&id, &owned("ivy", HOUR), Changed::All)
        .await
        .unwrap();
    let stored = store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.owner.as_deref(),
        Some("ivy"),
        "the owner is still kept"
    );
    assert!(matches!(
        store.sessions_of("ivy").await,
        Err(StoreError::Unsupported { .. })
    ));
    assert!(matches!(
        store.destroy_sessions_of("ivy", None).await,
        Err(StoreError::Unsupported { .. })
    ));
    store.destroy(&id).await.unwrap();
}

/// Calls per command since the last `CONFIG RESETSTAT`, from `INFO commandstats`.
async fn command_calls(raw: &mut ::redis::aio::MultiplexedConnection) -> BTreeMap<String, u64> {
    let info: String = ::redis::cmd("INFO")
        .arg("commandstats")
        .query_async(raw)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.strip_prefix("calls=")?.split(',').next()?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

/// The round trips of each operation, counted by a server of the test's own: a session
/// without an owner costs what it did before the index and never reaches an owner key; an
/// owned one pays the documented extra.
#[tokio::test]
async fn round_trips_per_operation() {
    let server = OwnServer::start();
    let url = format!("redis://127.0.0.1:{}", server.port);
    let store = RedisStore::open(&url).await.unwrap();
    let mut raw = ::redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let lifecycle = |created: sessionly::store::Record| {
        let store = store.clone();
        async move {
            let mut patched = created.clone();
            patched.fields = record(&[("a", b"2")], HOUR).fields;
            store.set("s", &created, Changed::All).await.unwrap();
            store
                .set("s", &patched, Changed::Fields(&set_of(&["a"])))
                .await
                .unwrap();
            store.touch("s", &patched).await.unwrap();
            store.get("s").await.unwrap().unwrap();
            store.destroy("s").await.unwrap();
        }
    };
    let unowned = record(&[("a", b"1")], HOUR);
    let mut ivy = owned("ivy", HOUR);
    ivy.fields = unowned.fields.clone();
    // Once first, so that the scripts are loaded and no NOSCRIPT retry is counted.
    lifecycle(ivy.clone()).await;
    let reset = || ::redis::cmd("CONFIG").arg("RESETSTAT").take();
    reset().query_async::<()>(&mut raw).await.unwrap();

    lifecycle(unowned).await;
    let calls = command_calls(&mut raw).await;
    let round_trips = |calls: &BTreeMap<String, u64>| {
        ["exec", "evalsha", "hgetall", "zrem", "config|resetstat"]
            .map(|name| calls.get(name).copied().unwrap_or(0))
    };
    // set and patch (MULTI … EXEC each: a patch runs no script), touch and destroy (EVALSHA
    // each), get.
    assert_eq!(round_trips(&calls), [2, 2, 1, 0, 1], "{calls:?}");
    assert!(
        !calls.keys().any(|name| name.starts_with('z')),
        "no owner-key command without an owner: {calls:?}"
    );

    reset().query_async::<()>(&mut raw).await.unwrap();
    lifecycle(ivy).await;
    let calls = command_calls(&mut raw).await;
    // A new owned session is indexed alongside the write and once more after it (a new
    // owner), the patch and the touch alongside theirs, and the destroy drops the member.
    assert_eq!(round_trips(&calls), [2, 2 + 4, 1, 1, 1], "{calls:?}");
}

/// A Redis server of the test's own, so stopping it disturbs no other test. Its data lives
/// in a directory of its own, so a restart can keep it (see `restart_keeping_data`).
struct OwnServer {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl OwnServer {
    fn start() -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("session-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            port,
            dir,
            child: None,
        };
        server.restart();
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (see .ci/run)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// Stops the server the way an operator's restart does: it saves its data, closes every
    /// connection and exits; then starts it again on the same port with that data.
    async fn restart_keeping_data(&mut self) {
        let mut raw = ::redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        // The server exits before answering.
        let _ = ::redis::cmd("SHUTDOWN")
            .arg("SAVE")
            .query_async::<()>(&mut raw)
            .await;
        if let Some(mut child) = self.child.take() {
            child.wait().unwrap();
        }
        self.restart();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn the_first_request_after_a_restart_is_served() {
    let mut server = OwnServer::start();
    let store = RedisStore::open(&server.url()).await.unwrap();
    let app = app(layer_with(store.clone(), |b| b.resave(false)));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();

    server.restart_keeping_data().await;
    let reply = get_with(&app, "/views", Some(&cookie)).await;
    assert_eq!(
        (reply.status.as_u16(), reply.body.as_str()),
        (200, "2"),
        "the load is tried again on the new connection"
    );

    // Each operation that is safe to repeat, first after a restart.
    let id = id_of(&cookie);
    let record = store.get(&id).await.unwrap().unwrap();
    server.restart_keeping_data().await;
    store.touch(&id, &record).await.unwrap();
    server.restart_keeping_data().await;
    store.set("fresh", &record, Changed::All).await.unwrap();
    assert_eq!(store.get("fresh").await.unwrap(), Some(record.clone()));
    server.restart_keeping_data().await;
    store.destroy("fresh").await.unwrap();
    assert_eq!(store.get("fresh").await.unwrap(), None);

    // A patch is not repeated: it answers the error, and the next one goes through.
    server.restart_keeping_data().await;
    let names: BTreeSet<String> = ["views".to_owned()].into();
    let patch = store.set(&id, &record, Changed::Fields(&names)).await;
    assert!(
        matches!(patch, Err(StoreError::Backend { .. })),
        "{patch:?}"
    );
    store
        .set(&id, &record, Changed::Fields(&names))
        .await
        .unwrap();
}

#[tokio::test]
async fn outage_is_an_error_and_recovery_needs_no_restart() {
    let mut server = OwnServer::start();
    let store = RedisStore::open(&server.url()).await.unwrap();
    let app = app(layer_with(store, |b| b.resave(false)));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();

    server.stop();
    let during = get_with(&app, "/views", Some(&cookie)).await;
    assert_eq!(during.status, 503);
    assert_eq!(get_with(&app, "/none", Some(&cookie)).await.status, 200);

    server.restart();
    // The data died with the server (no persistence): the session starts over, the app works.
    let mut recovered = None;
    for _ in 0..50 {
        let reply = get_with(&app, "/views", Some(&cookie)).await;
        if reply.status == 200 {
            recovered = Some(reply);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = recovered.expect("the app recovers once Redis is back");
    assert_eq!(reply.body, "1");
}

#[tokio::test]
async fn a_foreign_key_in_an_owners_index_fails_nothing() {
    let test = "foreign-member";
    foreign_member(store(test).await, raw().await, &prefix(test)).await;
}

#[tokio::test]
async fn cluster_a_foreign_key_in_an_owners_index_fails_nothing() {
    let test = "cluster-foreign-member";
    foreign_member(
        cluster_store(test).await,
        raw_cluster().await,
        &prefix(test),
    )
    .await;
}

/// Something else wrote a string where one of an owner's sessions was: listing and logging out
/// the owner's sessions skip it (and leave it alone) instead of failing for every session.
async fn foreign_member<C, R>(store: RedisStore<C>, mut raw: R, prefix: &str)
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
    R: ConnectionLike + Send,
{
    let owner = format!("alice-{}", std::process::id());
    let alice = owned(&owner, HOUR);
    for id in ["kept", "foreign", "other"] {
        store.set(id, &alice, Changed::All).await.unwrap();
    }
    let foreign = format!("{prefix}foreign");
    ::redis::cmd("SET")
        .arg(&foreign)
        .arg("not a session")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();

    let listed: BTreeSet<String> = store
        .sessions_of(&owner)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(listed, BTreeSet::from(["kept".into(), "other".into()]));
    assert_eq!(
        store
            .destroy_sessions_of(&owner, Some("kept"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.sessions_of(&owner).await.unwrap().len(), 1);
    let left: String = ::redis::cmd("GET")
        .arg(&foreign)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(left, "not a session");
    store.destroy("kept").await.unwrap();
    ::redis::cmd("DEL")
        .arg(&foreign)
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
}
