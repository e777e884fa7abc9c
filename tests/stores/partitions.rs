//! Silent network failures: the Redis server's host stops answering without a FIN or an RST
//! (a crash, a failover that moved the address, a NAT that forgot the flow). Tested in a
//! private network namespace, where an `ip rule … blackhole` drops every packet to one address
//! without touching the machine's own networking: the test re-runs itself under `unshare -n`
//! with a Redis server of its own inside, reached by the store under test at 127.0.0.2 (which
//! the fault drops) and by a second process's store at 127.0.0.1 (which stays up).
//!
//! What must hold: a cached store serves no entry, changed or destroyed meanwhile, for longer
//! than its heartbeat window after the write; no store keeps waiting out response timeouts on a
//! dead connection for more than a few seconds; and both recover within seconds once the
//! network heals.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sessionly::store::{Changed, CookieState, Record, Store, StoreError};
use sessionly::{MySqlStore, PostgresStore, RedisStore};
use sqlx::{Connection as _, Executor as _, MySqlConnection, PgConnection};

/// Set in the copy of this binary that runs inside the namespace.
const INSIDE: &str = "SESSIONLY_IN_NETNS";

/// The ports of the namespace's own Redis, Redis Cluster (one node), PostgreSQL and MariaDB.
const PORT: u16 = 56390;
const CLUSTER_PORT: u16 = 46391;
const PG_PORT: u16 = 55490;
const MARIADB_PORT: u16 = 53390;

/// The heartbeat the cached store runs with here, and the window it gives (four beats).
const HEARTBEAT: Duration = Duration::from_millis(250);
const WINDOW: Duration = Duration::from_secs(1);

#[test]
fn silent_network_failures_in_a_private_network_namespace() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    if !root {
        // CI runs as root and sets this, so the test cannot be skipped there.
        assert!(
            std::env::var_os("SESSIONLY_REQUIRE_NETNS").is_none(),
            "SESSIONLY_REQUIRE_NETNS is set, but a private network namespace needs root"
        );
        eprintln!("skipped: a private network namespace needs root (CI runs this as root)");
        return;
    }
    let status = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(std::env::current_exe().expect("the test binary"))
        .args([
            "partitions::inside",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INSIDE, "1")
        .status()
        .expect("unshare (util-linux) must be installed");
    assert!(status.success(), "the test inside the namespace failed");
}

/// The test proper; run only by [`silent_network_failures_in_a_private_network_namespace`],
/// inside the namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs inside a private network namespace, started by the test above"]
async fn inside() {
    assert!(
        std::env::var_os(INSIDE).is_some(),
        "run by silent_network_failures_in_a_private_network_namespace only"
    );
    namespace();
    let _redis = Redis::start();

    let prefix = "test:partition:";
    let healthy = RedisStore::open(&format!("redis://127.0.0.1:{PORT}"))
        .await
        .unwrap()
        .with_prefix(prefix);
    let cached = RedisStore::open_cached(&format!("redis://127.0.0.2:{PORT}"), 1000)
        .await
        .unwrap()
        .with_prefix(prefix)
        .with_cache_heartbeat(HEARTBEAT);
    let plain = RedisStore::open(&format!("redis://127.0.0.2:{PORT}"))
        .await
        .unwrap()
        .with_prefix(prefix);

    // Ten sessions, read through the cache (and held there).
    let ids: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    for id in &ids {
        healthy.set(id, &record("old"), Changed::All).await.unwrap();
        assert_eq!(value(&cached.get(id).await), Some("old".into()));
    }
    let held = cached.cache_stats().unwrap().hits;
    for id in &ids {
        cached.get(id).await.unwrap();
    }
    assert_eq!(cached.cache_stats().unwrap().hits, held + 10, "held");

    // The fault: packets to 127.0.0.2 are dropped, silently. Another process changes five
    // sessions and logs five out.
    silence(true);
    let fault = Instant::now();
    let changed = ["v".to_owned()].into_iter().collect();
    for id in &ids[..5] {
        healthy
            .set(id, &record("new"), Changed::Fields(&changed))
            .await
            .unwrap();
    }
    for id in &ids[5..] {
        healthy.destroy(id).await.unwrap();
    }
    let written = fault.elapsed();

    // The cached store: no old value or logged-out session served later than the window
    // after the writes (with 300 ms for a loaded machine); errors are fine.
    let loads = observe(&cached, &ids, fault, Duration::from_secs(8)).await;
    let last_stale = loads
        .iter()
        .filter(|load| load.value.as_deref() == Some("old"))
        .map(|load| load.at)
        .max();
    eprintln!("cached store: last stale read {last_stale:?} after the fault");
    if let Some(stale) = last_stale {
        assert!(
            stale <= written + WINDOW + Duration::from_millis(300),
            "an old or logged-out session was served {stale:?} after the fault \
             (writes done by {written:?}, window {WINDOW:?})"
        );
    }
    // Neither store keeps waiting on the dead connection.
    // (The fault drops what Redis sends from 127.0.0.2: the store's packets leave and are
    // never acknowledged, as when a host dies; a route that refused them at the sender would
    // not be a silent failure.)
    bounded("cached", &loads);
    let started = Instant::now();
    let loads = observe(&plain, &ids, started, Duration::from_secs(8)).await;
    bounded("plain", &loads);
    // Both stores' connections from before the fault are gone: a peer that vanished without a
    // FIN is noticed (TCP_USER_TIMEOUT for data in flight, keepalive for an idle connection),
    // so the connection manager connects anew instead of waiting on it.
    assert_eq!(
        connections_to_the_cut_address(),
        0,
        "a connection to the silent peer is still open {:?} after the fault",
        fault.elapsed()
    );

    // The network heals: both serve again, with the current values, within seconds.
    silence(false);
    let healed = Instant::now();
    for (name, store) in [("cached", &cached), ("plain", &plain)] {
        loop {
            if let Ok(Some(record)) = store.get(&ids[0]).await {
                assert_eq!(field(&record), "new", "{name}: the current value");
                break;
            }
            assert!(
                healed.elapsed() < Duration::from_secs(5),
                "{name}: not serving again within 5 s of the network healing"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!(
            "{name} store: serving again {:?} after the heal",
            healed.elapsed()
        );
        assert_eq!(
            store.get(&ids[9]).await.unwrap(),
            None,
            "{name}: logged out"
        );
    }

    // A forgotten flow: the connections the stores hold now go silent (a NAT or a load
    // balancer lost them), while a new connection to the same address works. Without the
    // network healing, each store must notice and connect anew sooner than the kernel would
    // give the connection up (TCP_USER_TIMEOUT, 4 s): the cached store at its first missed
    // heartbeat, the plain one and a cluster's at their first response timeout (2 s; the
    // cluster connection retries the command once on the same connection first).
    let _cluster_node = Redis::cluster_node();
    let cluster = RedisStore::open_cluster(&[&format!("redis://127.0.0.2:{CLUSTER_PORT}")])
        .await
        .unwrap()
        .with_prefix(prefix);
    // The node holds every slot: a plain connection from 127.0.0.1 writes to it.
    let cluster_writer = RedisStore::open(&format!("redis://127.0.0.1:{CLUSTER_PORT}"))
        .await
        .unwrap()
        .with_prefix(prefix);
    cluster_writer
        .set(&ids[0], &record("new"), Changed::All)
        .await
        .unwrap();
    assert_eq!(value(&cluster.get(&ids[0]).await), Some("new".into()));
    // The cached store holds the session when it happens.
    let held_by = Instant::now();
    loop {
        let hits = cached.cache_stats().unwrap().hits;
        assert_eq!(value(&cached.get(&ids[0]).await), Some("new".into()));
        if cached.cache_stats().unwrap().hits > hits {
            break;
        }
        assert!(held_by.elapsed() < Duration::from_secs(5), "not held");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Clones of the stores, as an app's router and tasks hold them, must not keep a replaced
    // connection open.
    let _clones = (cached.clone(), plain.clone(), cluster.clone());
    let ports = local_ports_to_the_cut_address();
    assert!(
        ports.len() >= 3,
        "a connection per store at least: {ports:?}"
    );
    for port in &ports {
        ip(&[
            "rule",
            "add",
            "pref",
            "20",
            "from",
            "127.0.0.2",
            "dport",
            port,
            "blackhole",
        ]);
    }
    let forgotten = Instant::now();
    for writer in [&healthy, &cluster_writer] {
        writer
            .set(&ids[0], &record("newer"), Changed::All)
            .await
            .unwrap();
    }
    let written = forgotten.elapsed();
    let (cached_back, plain_back, cluster_back) = tokio::join!(
        serving_again(&cached, &ids[0], forgotten),
        serving_again(&plain, &ids[0], forgotten),
        serving_again(&cluster, &ids[0], forgotten)
    );
    let stores = [
        ("cached", cached_back),
        ("plain", plain_back),
        ("cluster", cluster_back),
    ];
    for (name, again) in stores {
        eprintln!(
            "{name} store, forgotten flow: {} loads failed, the last stale read {:?}, serving \
             the current value again {:?} after the fault",
            again.failed, again.last_stale, again.back
        );
        assert!(
            again.back < Duration::from_millis(3800),
            "{name}: took {:?} to replace a connection that went silent",
            again.back
        );
        // The write's invalidation was lost with the flow: the heartbeat bounds the stale reads.
        if let Some(stale) = again.last_stale {
            assert!(
                stale <= written + WINDOW + Duration::from_millis(300),
                "{name}: the old value was served {stale:?} after the fault"
            );
        }
    }
    // The new connection of the cached store is told of other processes' writes: a session
    // it holds again, changed elsewhere, is seen changed well within the window.
    for _ in 0..3 {
        cached.get(&ids[1]).await.unwrap();
    }
    healthy
        .set(&ids[1], &record("changed"), Changed::All)
        .await
        .unwrap();
    let changed_at = Instant::now();
    loop {
        if value(&cached.get(&ids[1]).await).as_deref() == Some("changed") {
            break;
        }
        assert!(
            changed_at.elapsed() < WINDOW,
            "the cached store's new connection missed another process's write"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "cached store, new connection: another process's write seen {:?} after it",
        changed_at.elapsed()
    );
    let left = local_ports_to_the_cut_address();
    assert!(
        left.iter().all(|port| !ports.contains(port)),
        "the stores connected anew: {ports:?} before, {left:?} now; {}",
        String::from_utf8_lossy(&Command::new("ss").args(["-tnpH"]).output().unwrap().stdout)
    );
    for port in &ports {
        ip(&[
            "rule",
            "del",
            "pref",
            "20",
            "from",
            "127.0.0.2",
            "dport",
            port,
            "blackhole",
        ]);
    }

    // Not a fault but a configuration: a bounded tracking table that trims (the limit set low,
    // here on the namespace's own server). Redis then forgets tracked keys without telling this
    // cache; the bound is the cache's max age (`open_cached` warns about the limit).
    let max_age = Duration::from_secs(2);
    let mut admin = ::redis::Client::open(format!("redis://127.0.0.1:{PORT}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    ::redis::cmd("CONFIG")
        .arg("SET")
        .arg("tracking-table-max-keys")
        .arg(10)
        .query_async::<()>(&mut admin)
        .await
        .unwrap();
    let trimmed = RedisStore::open_cached(&format!("redis://127.0.0.1:{PORT}"), 1000)
        .await
        .unwrap()
        .with_prefix("test:trim:")
        .with_cache_max_age(max_age);
    let writer = RedisStore::open(&format!("redis://127.0.0.1:{PORT}"))
        .await
        .unwrap()
        .with_prefix("test:trim:");
    let ids: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
    for id in &ids {
        writer.set(id, &record("old"), Changed::All).await.unwrap();
        trimmed.get(id).await.unwrap();
    }
    for id in &ids {
        writer.destroy(id).await.unwrap();
    }
    let destroyed = Instant::now();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (mut first_count, mut last_live) = (None, None);
    loop {
        let mut live = 0;
        for id in &ids {
            if trimmed.get(id).await.unwrap().is_some() {
                live += 1;
            }
        }
        first_count.get_or_insert(live);
        if live == 0 {
            break;
        }
        last_live = Some(destroyed.elapsed());
        assert!(
            destroyed.elapsed() < max_age + Duration::from_millis(500),
            "{live} destroyed sessions still served {:?} after the logout (max age {max_age:?})",
            destroyed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "trimmed tracking table (limit 10): {} of 50 destroyed sessions still served 100 ms \
         after the logout, the last {last_live:?} after it (max age {max_age:?})",
        first_count.unwrap_or_default()
    );
}

/// Sets the namespace up once for the tests inside: loopback up, and the local routing table
/// consulted after the rules that drop packets (pref 10 and 20). The stores' warnings (a
/// replaced connection, a closed pool connection) go with the test's output.
fn namespace() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("sessionly=warn,sqlx_core::pool=warn")
            .with_test_writer()
            .try_init();
        ip(&["link", "set", "lo", "up"]);
        ip(&["rule", "add", "pref", "100", "lookup", "local"]);
        ip(&["rule", "del", "pref", "0", "lookup", "local"]);
    });
}

/// The SQL stores' pools under a silent fault: calls in flight when the server's packets stop
/// run out of time and leave their connections mid-statement; sqlx pings a connection going
/// back to its pool with no time limit, so without a bound those pings would hold the pool's
/// connections until the server's next retransmission, seconds to minutes after the network
/// healed, and every request would fail meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs inside a private network namespace, started by the test above"]
async fn inside_sql() {
    assert!(
        std::env::var_os(INSIDE).is_some(),
        "run by silent_network_failures_in_a_private_network_namespace only"
    );
    namespace();
    let (_postgres, _mariadb) = (Server::postgres(), Server::mariadb());
    let postgres_url = format!("postgres://postgres@127.0.0.2:{PG_PORT}/postgres");
    let postgres = connected(|| PostgresStore::connect(&postgres_url)).await;
    postgres.migrate().await.unwrap();
    let mysql_url = format!("mysql://sessions:sessions@127.0.0.2:{MARIADB_PORT}/sessions");
    let mysql = connected(|| MySqlStore::connect(&mysql_url)).await;
    mysql.migrate().await.unwrap();
    postgres
        .set("s", &record("old"), Changed::All)
        .await
        .unwrap();
    mysql.set("s", &record("old"), Changed::All).await.unwrap();

    // Every connection of both pools in a call when the fault comes: a connection from
    // 127.0.0.1 (which the fault spares) locks the table, and more callers than a pool has
    // connections (sqlx's default, 10) wait on the lock. The lock goes once the fault is in
    // place, so the servers answer every waiting call into the void.
    let mut pg_lock =
        PgConnection::connect(&format!("postgres://postgres@127.0.0.1:{PG_PORT}/postgres"))
            .await
            .unwrap();
    pg_lock
        .execute("BEGIN; LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let mut mysql_lock = MySqlConnection::connect(&format!(
        "mysql://sessions:sessions@127.0.0.1:{MARIADB_PORT}/sessions"
    ))
    .await
    .unwrap();
    mysql_lock
        .execute("LOCK TABLES sessions WRITE")
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for _ in 0..15 {
        callers.push(tokio::spawn(keep_loading(postgres.clone(), stop.clone())));
        callers.push(tokio::spawn(keep_loading(mysql.clone(), stop.clone())));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    silence(true);
    pg_lock.execute("COMMIT").await.unwrap();
    mysql_lock.execute("UNLOCK TABLES").await.unwrap();
    tokio::time::sleep(FAULT).await;
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.await.unwrap();
    }
    // The calls that ran out of time left no connection hanging: each was closed when it did
    // not answer a ping on its way back to the pool.
    assert_eq!(
        connections_to_the_cut_address(),
        0,
        "a pooled connection to the silent server is still open"
    );
    silence(false);
    let healed = Instant::now();

    // Both serve again at once, not when the server's retransmissions get through.
    let (postgres_back, mysql_back) = tokio::join!(
        serving_after(&postgres, healed),
        serving_after(&mysql, healed)
    );
    for (name, (back, failed)) in [("PostgreSQL", postgres_back), ("MariaDB", mysql_back)] {
        eprintln!(
            "{name} store: after a {FAULT:?} silent fault, serving again {back:?} after the \
             heal ({failed} loads failed)"
        );
        assert!(
            back < Duration::from_secs(1),
            "{name}: took {back:?} after the heal to serve again"
        );
    }
}

/// How long the SQL stores' servers stay silent.
const FAULT: Duration = Duration::from_secs(7);

/// Loads the session `s` on `store` until `stop`.
async fn keep_loading<S: Store>(store: S, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let _ = store.get("s").await;
    }
}

/// How long after `healed` `store` took to load the session `s`, and how many loads failed.
async fn serving_after<S: Store>(store: &S, healed: Instant) -> (Duration, usize) {
    let mut failed = 0;
    loop {
        if let Ok(Some(record)) = store.get("s").await {
            assert_eq!(field(&record), "old");
            return (healed.elapsed(), failed);
        }
        failed += 1;
        assert!(
            healed.elapsed() < Duration::from_secs(30),
            "not serving again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The store `connect` makes, once its server accepts connections (a fresh server may refuse
/// them while it starts).
async fn connected<S, F>(connect: impl Fn() -> F) -> S
where
    F: std::future::Future<Output = Result<S, StoreError>>,
{
    let started = Instant::now();
    loop {
        match connect().await {
            Ok(store) => return store,
            Err(error) if started.elapsed() > Duration::from_secs(20) => {
                panic!("could not connect: {error}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// What loading a session after a write showed: when the written value was first served,
/// how many loads failed before, and when the value from before the write was last served.
struct Again {
    back: Duration,
    failed: usize,
    last_stale: Option<Duration>,
}

/// Loads `id` on `store` until it has the value "newer", written at `since`.
async fn serving_again<S: Store>(store: &S, id: &str, since: Instant) -> Again {
    let (mut failed, mut last_stale) = (0, None);
    loop {
        let started = since.elapsed();
        match store.get(id).await {
            Ok(Some(record)) if field(&record) == "newer" => {
                return Again {
                    back: since.elapsed(),
                    failed,
                    last_stale,
                };
            }
            Ok(_) => last_stale = Some(started),
            Err(_) => failed += 1,
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "not serving again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One load during the fault: when it started (after the fault), how long it took, and the
/// value it gave (`None` for an error or no session).
struct Load {
    at: Duration,
    took: Duration,
    value: Option<String>,
    failed: bool,
}

/// Loads `ids` on `store` in turn for `span` from `since`.
async fn observe(store: &RedisStore, ids: &[String], since: Instant, span: Duration) -> Vec<Load> {
    let mut loads = Vec::new();
    for id in ids.iter().cycle() {
        let started = Instant::now();
        if started.duration_since(since) > span {
            break;
        }
        let got = store.get(id).await;
        loads.push(Load {
            at: started.duration_since(since),
            took: started.elapsed(),
            value: value(&got),
            failed: got.is_err(),
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    loads
}

/// Asserts that no load of `store` waited longer than one response timeout or one connection
/// attempt (2 s each, with 0.5 s for a loaded machine): a connection that timed out is replaced
/// at once, and a new one that meets the fault too gives up after one attempt. Before the fix a
/// load waited until the kernel gave the connection up, 15 minutes.
fn bounded(store: &str, loads: &[Load]) {
    let longest = loads.iter().map(|load| load.took).max().unwrap_or_default();
    let slow = loads
        .iter()
        .filter(|load| load.took >= Duration::from_secs(1))
        .count();
    eprintln!(
        "{store} store: {} of {} loads failed, {slow} waited a second or more, the longest \
         {longest:?}",
        loads.iter().filter(|load| load.failed).count(),
        loads.len()
    );
    assert!(
        longest <= Duration::from_millis(2500),
        "{store}: a load waited {longest:?}"
    );
}

/// The connections open to 127.0.0.2 (the address the fault cut off).
fn connections_to_the_cut_address() -> usize {
    let ss = Command::new("ss")
        .args(["-tnH", "state", "established", "dst", "127.0.0.2"])
        .output()
        .expect("ss (iproute2)");
    String::from_utf8_lossy(&ss.stdout).lines().count()
}

/// The local ports of the connections open to 127.0.0.2.
fn local_ports_to_the_cut_address() -> Vec<String> {
    let ss = Command::new("ss")
        .args(["-tnH", "state", "established", "dst", "127.0.0.2"])
        .output()
        .expect("ss (iproute2)");
    String::from_utf8_lossy(&ss.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2)?.rsplit_once(':'))
        .map(|(_, port)| port.to_owned())
        .collect()
}

fn record(value: &str) -> Record {
    let mut record = Record::new(
        CookieState::new(
            Some(Duration::from_secs(3600)),
            std::time::SystemTime::now(),
        ),
        Default::default(),
    );
    record
        .fields
        .insert("v".into(), Bytes::copy_from_slice(value.as_bytes()));
    record
}

fn field(record: &Record) -> String {
    String::from_utf8_lossy(&record.fields["v"]).into_owned()
}

fn value(got: &Result<Option<Record>, StoreError>) -> Option<String> {
    got.as_ref().ok().and_then(Option::as_ref).map(field)
}

fn ip(args: &[&str]) {
    let status = Command::new("ip")
        .args(args)
        .status()
        .expect("ip (iproute2)");
    assert!(status.success(), "ip {args:?}");
}

/// Drops (`true`) or lets through again (`false`) every packet from the namespace's servers
/// at 127.0.0.2, saying nothing to either side.
fn silence(on: bool) {
    let action = if on { "add" } else { "del" };
    ip(&[
        "rule",
        action,
        "pref",
        "10",
        "from",
        "127.0.0.2",
        "blackhole",
    ]);
}

/// The namespace's Redis server, stopped when dropped (else it would outlive the namespace's
/// last process and keep it).
struct Redis(Child);

impl Redis {
    fn start() -> Self {
        let server = Command::new("redis-server")
            .args(["--port", &PORT.to_string(), "--bind", "127.0.0.1 127.0.0.2"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (see .ci/run)");
        // Stopped when dropped, on every path out of here.
        let server = Self(server);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.2", PORT)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start in the namespace");
    }
}

impl Redis {
    /// A Redis Cluster of one node holding every slot, announcing itself at 127.0.0.2.
    fn cluster_node() -> Self {
        let dir =
            std::env::temp_dir().join(format!("sessionly-netns-cluster-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let server = Command::new("redis-server")
            .args([
                "--port",
                &CLUSTER_PORT.to_string(),
                "--bind",
                "127.0.0.1 127.0.0.2",
            ])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--cluster-enabled",
                "yes",
            ])
            .args(["--cluster-announce-ip", "127.0.0.2"])
            .arg("--cluster-config-file")
            .arg(dir.join("nodes.conf"))
            .current_dir(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (see .ci/run)");
        let server = Self(server);
        let cli = |args: &[&str]| {
            Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &CLUSTER_PORT.to_string()])
                .args(args)
                .output()
                .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
                .unwrap_or_default()
        };
        for _ in 0..100 {
            if cli(&["PING"]).contains("PONG") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        cli(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
        for _ in 0..100 {
            if cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok") {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the one-node cluster did not come up");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A database server of the namespace's own, in a directory of its own, stopped and removed
/// when dropped. Each runs as its system user (neither runs as root), through `setpriv`.
struct Server {
    process: Child,
    dir: PathBuf,
}

impl Server {
    /// PostgreSQL (the newest installed), listening on 127.0.0.2 only, trusting every login.
    fn postgres() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL must be installed (see .ci/run)")
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .max()
            .map(|version| PathBuf::from(format!("/usr/lib/postgresql/{version}/bin")))
            .expect("a PostgreSQL version in /usr/lib/postgresql");
        let dir = Self::dir("postgres", "postgres");
        let data = dir.join("data");
        let initdb = Command::new("setpriv")
            .args(Self::as_user("postgres"))
            .arg(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .stdout(Stdio::null())
            .status()
            .expect("setpriv (util-linux)");
        assert!(initdb.success(), "initdb");
        let process = Command::new("setpriv")
            .args(Self::as_user("postgres"))
            .arg(bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&dir)
            .args([
                "-p",
                &PG_PORT.to_string(),
                "-c",
                "listen_addresses=127.0.0.1,127.0.0.2",
            ])
            .args(["-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres");
        Self { process, dir }
    }

    /// MariaDB, listening on 127.0.0.2 only, with the user `sessions` and its database.
    fn mariadb() -> Self {
        let dir = Self::dir("mariadb", "mysql");
        let db = dir.join("db");
        let install = Command::new("mariadb-install-db")
            .arg("--user=mysql")
            .arg(format!("--datadir={}", db.display()))
            .args(["--skip-test-db", "--auth-root-authentication-method=normal"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("MariaDB must be installed (see .ci/run)");
        assert!(install.success(), "mariadb-install-db");
        let init = dir.join("init.sql");
        std::fs::write(
            &init,
            "CREATE DATABASE IF NOT EXISTS sessions;\n\
             CREATE USER IF NOT EXISTS 'sessions'@'%' IDENTIFIED BY 'sessions';\n\
             GRANT ALL ON *.* TO 'sessions'@'%';\n",
        )
        .unwrap();
        let process = Command::new("mariadbd")
            .args(["--no-defaults", "--user=mysql", "--skip-name-resolve"])
            .arg(format!("--datadir={}", db.display()))
            .arg(format!("--port={MARIADB_PORT}"))
            .arg("--bind-address=127.0.0.1,127.0.0.2")
            .arg(format!("--socket={}", dir.join("sock").display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .arg(format!("--init-file={}", init.display()))
            .arg(format!("--log-error={}", dir.join("err.log").display()))
            .arg("--innodb-flush-log-at-trx-commit=0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd");
        Self { process, dir }
    }

    /// A fresh directory for `name`, owned by `user`.
    fn dir(name: &str, user: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sessionly-netns-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let chown = Command::new("chown").arg(user).arg(&dir).status().unwrap();
        assert!(chown.success(), "chown {user}");
        dir
    }

    /// `setpriv`'s arguments to run as `user`.
    fn as_user(user: &str) -> [String; 4] {
        [
            format!("--reuid={user}"),
            format!("--regid={user}"),
            "--init-groups".to_owned(),
            "--".to_owned(),
        ]
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
