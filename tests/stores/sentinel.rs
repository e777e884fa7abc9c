//! Redis Sentinel: a store opened through three sentinels follows a failover. The test starts a
//! primary, a replica and three sentinels of its own (ports 26501–26513: below Linux's
//! ephemeral range, so that a reconnection to the killed primary's port cannot meet a client
//! socket bound to it, or itself), writes sessions, kills the primary under a load of reads,
//! and checks that requests fail (503) only in the failover window, that none gets a wrong or
//! an empty session, and that writes work on the promoted replica. The figures go to the
//! test's output.

use crate::common::*;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sessionly::RedisStore;
use sessionly::store::RedisConnectionInfo;

const PRIMARY: u16 = 26501;
const REPLICA: u16 = 26502;
const SENTINELS: [u16; 3] = [26511, 26512, 26513];
const SERVICE: &str = "sessions";

/// The servers of the test, killed when dropped.
struct Servers {
    processes: Vec<(u16, Child)>,
    dir: PathBuf,
}

impl Servers {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("sessionly-sentinel-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut servers = Self {
            processes: Vec::new(),
            dir,
        };
        // The primary starts its replica's first sync at once (Redis waits 5 s by default
        // for more replicas to share it).
        servers.redis(PRIMARY, &["--repl-diskless-sync-delay", "0"]);
        servers.redis(REPLICA, &["--replicaof", "127.0.0.1", &PRIMARY.to_string()]);
        for port in SENTINELS {
            // A sentinel rewrites its configuration file: one each.
            let config = servers.dir.join(format!("sentinel-{port}.conf"));
            std::fs::write(
                &config,
                format!(
                    "port {port}\nbind 127.0.0.1\n\
                     sentinel monitor {SERVICE} 127.0.0.1 {PRIMARY} 2\n\
                     sentinel down-after-milliseconds {SERVICE} 1000\n\
                     sentinel failover-timeout {SERVICE} 5000\n"
                ),
            )
            .unwrap();
            let sentinel = Command::new("redis-server")
                .arg(&config)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server must be installed (see .ci/run)");
            servers.processes.push((port, sentinel));
        }
        for (port, _) in &servers.processes {
            until(
                &format!("port {port} answers"),
                Duration::from_secs(5),
                || cli(*port, &["PING"]).contains("PONG"),
            );
        }
        // The replica has its copy and follows the primary (a replica still syncing
        // acknowledges no write: `WAIT` below would count none).
        until("the replica is in sync", Duration::from_secs(15), || {
            cli(REPLICA, &["INFO", "replication"]).contains("master_link_status:up")
        });
        // The sentinels know the replica (they fail over to no one otherwise).
        for port in SENTINELS {
            until(
                "the sentinels see the replica",
                Duration::from_secs(15),
                || cli(port, &["SENTINEL", "REPLICAS", SERVICE]).contains(&REPLICA.to_string()),
            );
        }
        servers
    }

    fn redis(&mut self, port: u16, args: &[&str]) {
        let server = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(args)
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (see .ci/run)");
        self.processes.push((port, server));
    }

    /// Kills the server on `port` at once (no FIN to its clients from a clean shutdown).
    fn kill(&mut self, port: u16) {
        let (_, process) = self.processes.iter_mut().find(|(p, _)| *p == port).unwrap();
        process.kill().unwrap();
        process.wait().unwrap();
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for (_, process) in &mut self.processes {
            let _ = process.kill();
            let _ = process.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}

fn until(what: &str, patience: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + patience;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not after {patience:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn a_store_opened_through_sentinel_follows_a_failover() {
    let _timing = crate::TIMING.lock().await;
    let mut servers = Servers::start();
    let urls: Vec<String> = SENTINELS
        .iter()
        .map(|port| format!("redis://127.0.0.1:{port}"))
        .collect();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let store = RedisStore::open_sentinel(&urls, SERVICE, RedisConnectionInfo::default())
        .await
        .expect("the primary, through the sentinels");
    let app = app(layer_with(store, |b| b));

    // Twenty sessions, session i seen i + 1 times, replicated before the fault (Redis
    // replication is asynchronous: what the primary had not passed on is Redis's loss).
    let mut sessions = Vec::new();
    for i in 0..20u64 {
        let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
        for _ in 0..i {
            get_with(&app, "/views", Some(&cookie)).await;
        }
        sessions.push((cookie, (i + 1).to_string()));
    }
    let replicated = cli(PRIMARY, &["WAIT", "1", "2000"]);
    assert_eq!(replicated.trim(), "1", "the replica has every write");

    // Reads under load; the primary killed 300 ms in.
    let started = Instant::now();
    let mut killed_at = None;
    let (mut failed, mut wrong, mut served_after_kill) = (0, 0, 0);
    let (mut last_failure, mut first_recovered) = (None, None);
    let mut requests = 0;
    while started.elapsed() < Duration::from_secs(20) {
        if killed_at.is_none() && started.elapsed() > Duration::from_millis(300) {
            servers.kill(PRIMARY);
            killed_at = Some(Instant::now());
        }
        let (cookie, expected) = &sessions[requests % sessions.len()];
        requests += 1;
        let reply = get_with(&app, "/read", Some(cookie)).await;
        let now = Instant::now();
        match reply.status.as_u16() {
            200 if reply.body == *expected => {
                if let Some(killed) = killed_at {
                    served_after_kill += 1;
                    first_recovered.get_or_insert(now - killed);
                    if last_failure.is_some() && served_after_kill > 200 {
                        break;
                    }
                }
            }
            200 => wrong += 1,
            503 => {
                failed += 1;
                last_failure = killed_at.map(|killed| now - killed);
                first_recovered = None;
                served_after_kill = 0;
            }
            other => panic!("status {other}: {}", reply.body),
        }
        if reply.status != 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    println!(
        "sentinel failover: {requests} reads, {failed} failed (503), {wrong} wrong or empty; \
         the last failure {last_failure:?} after the kill, serving again {first_recovered:?} \
         after it"
    );
    assert_eq!(wrong, 0, "no read answered a wrong or an empty session");
    assert!(
        failed > 0,
        "the kill was noticed (else this test proves nothing)"
    );
    let recovered = first_recovered.expect("served again after the failover");
    assert!(
        recovered < Duration::from_secs(10),
        "served again {recovered:?} after the kill"
    );

    // The replica is the primary now, and takes writes.
    let primary = cli(
        SENTINELS[0],
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE],
    );
    assert!(primary.contains(&REPLICA.to_string()), "{primary}");
    for (cookie, expected) in &sessions {
        let reply = get_with(&app, "/views", Some(cookie)).await;
        let after: u64 = expected.parse::<u64>().unwrap() + 1;
        assert_eq!(reply.body, after.to_string(), "written on the new primary");
    }
}
