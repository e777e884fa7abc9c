//! `RedisStore` against a real Redis: the conformance suite, concurrent field writes over HTTP,
//! and an outage in the middle of a run. `.ci/run` starts the server; without one these tests
//! fail rather than skip.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::conformance::{conformance, conformance_without_listing};
use common::*;
use session::RedisStore;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
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
        .with_prefix(format!("test:{test}:{}:", std::process::id()))
}

/// The nodes of the test Redis Cluster (`.ci/run` starts three).
fn cluster_nodes() -> Vec<String> {
    std::env::var("REDIS_CLUSTER_NODES")
        .unwrap_or_else(|_| {
            "redis://127.0.0.1:46371,redis://127.0.0.1:46372,redis://127.0.0.1:46373".to_owned()
        })
        .split(',')
        .map(str::to_owned)
        .collect()
}

async fn cluster_store(test: &str) -> RedisStore<::redis::cluster_async::ClusterConnection> {
    let nodes = cluster_nodes();
    let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    RedisStore::open_cluster(&nodes)
        .await
        .unwrap_or_else(|e| {
            panic!("a Redis Cluster must be running at {nodes:?} (see .ci/run): {e}")
        })
        .with_prefix(format!("test:{test}:{}:", std::process::id()))
}

#[tokio::test]
async fn redis_cluster_store_conforms() {
    conformance_without_listing(&cluster_store("conformance").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store_loses_no_update() {
    no_lost_updates(cluster_store("lost-update").await).await;
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_loses_no_update() {
    no_lost_updates(store("lost-update").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_writes_from_two_processes_both_survive() {
    different_fields_survive_two_processes(store("two-processes").await).await;
}

/// A Redis server of the test's own, so stopping it disturbs no other test.
struct OwnServer {
    port: u16,
    child: Option<Child>,
}

impl OwnServer {
    fn start() -> Self {
        let port = free_port();
        let mut server = Self { port, child: None };
        server.restart();
        server
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
            ])
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
    }
}

#[tokio::test]
async fn outage_is_an_error_and_recovery_needs_no_restart() {
    let mut server = OwnServer::start();
    let url = format!("redis://127.0.0.1:{}", server.port);
    let store = RedisStore::open(&url).await.unwrap();
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
