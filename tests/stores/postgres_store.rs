//! `PostgresStore` against a real PostgreSQL: the conformance suite, concurrent field writes
//! and the session lifecycle over HTTP, rows that cannot be read, expired rows deleted, the
//! upgrade of a table of the previous version, and an outage in the middle of a run. `.ci/run`
//! starts the server (`DATABASE_URL`); without one these tests fail rather than skip. Each test
//! works in a table of its own, dropped at its end.

use crate::common;
use crate::{TIMING, timed_views, views_once_served};

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::conformance::{HOUR, conformance, migrated_row_joins_the_owner_index, record};
use common::*;
use sessionly::store::{Changed, Listing, OwnerIndex, Store};
use sessionly::{PostgresStore, StoreError};

/// A PostgreSQL program: from `$PG_BIN` (set by `.ci/run`), else the newest
/// `/usr/lib/postgresql/<version>/bin`, else `PATH`.
fn pg_bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Path::new(&dir).join(name);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let path = entry.path().join("bin").join(name);
            path.exists().then_some((version, path))
        })
        .collect();
    found.sort();
    found.pop().map_or_else(|| name.into(), |(_, path)| path)
}

/// Runs `command` and fails the test, with its output, unless it succeeds.
fn run(command: &mut Command) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?} (see .ci/run): {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs SQL on the shared server with `psql`: the tests have no SQL client of their own.
fn psql(sql: &str) {
    run(Command::new(pg_bin("psql")).arg(database_url()).args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
    ]));
}

/// The single value a query answers, as `psql` prints it.
fn psql_value(sql: &str) -> String {
    let output = Command::new(pg_bin("psql"))
        .arg(database_url())
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run psql (see .ci/run): {e}"));
    assert!(
        output.status.success(),
        "{sql} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A test's own table on the shared server, dropped with this guard.
struct Table(String);

impl Drop for Table {
    fn drop(&mut self) {
        let _ = Command::new(pg_bin("psql"))
            .arg(database_url())
            .args([
                "-X",
                "-q",
                "-c",
                &format!("DROP TABLE IF EXISTS {}", self.0),
            ])
            .stdin(Stdio::null())
            .output();
    }
}

/// A test's table name on the shared server.
fn table_for(test: &str) -> String {
    format!("sessions_{test}_{}", std::process::id())
}

/// A store on the shared test server in `table`, which it does not create.
async fn connect(table: &str) -> PostgresStore {
    PostgresStore::connect(&database_url())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL must be running at {} (see .ci/run): {e}",
                database_url()
            )
        })
        .with_table(table)
        .unwrap()
}

/// A store on the shared test server, in an empty table of its own.
async fn store(test: &str) -> (PostgresStore, Table) {
    let table = table_for(test);
    let store = connect(&table).await;
    store.migrate().await.unwrap();
    store.clear().await.unwrap();
    (store, Table(table))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_loses_no_update() {
    let (store, _table) = store("lost_update").await;
    no_lost_updates(store).await;
}

#[tokio::test]
async fn postgres_store_conforms() {
    let _timing = TIMING.lock().await;
    let (store, _table) = store("conformance").await;
    conformance(&store).await;
}

#[tokio::test]
async fn migrate_runs_at_once_and_again_and_bad_table_names_are_refused() {
    let table = Table(table_for("migrate"));
    let (store, other) = (connect(&table.0).await, connect(&table.0).await);
    // Two processes starting at once on a new database, a few times over to meet the race.
    for _ in 0..5 {
        psql(&format!("DROP TABLE IF EXISTS {}", table.0));
        let (one, two) = tokio::join!(store.migrate(), other.migrate());
        one.unwrap();
        two.unwrap();
    }
    store.migrate().await.unwrap();
    for bad in [
        "",
        "1sessions",
        "sessions; DROP TABLE x",
        "s\"x",
        "public.sessions",
        &"s".repeat(49),
    ] {
        assert!(store.clone().with_table(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_writes_from_two_processes_both_survive() {
    let (store, _table) = store("concurrent").await;
    different_fields_survive_two_processes(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_cannot_resurrect_a_session() {
    let (store, _table) = store("resurrect").await;
    a_slow_request_cannot_resurrect(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_logs_devices_in_and_out() {
    let (store, _table) = store("devices").await;
    log_out_other_devices(store).await;
}

/// `bytes` as PostgreSQL's hex `bytea` literal.
fn bytea(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(r"'\x{hex}'::bytea")
}

#[tokio::test]
async fn a_table_of_the_previous_version_is_migrated() {
    let table = Table(table_for("upgrade"));
    let t = &table.0;
    // The table as the version before the owner index created it, with a session in it.
    let kept = record(&[("a", b"1")], HOUR);
    let cookie = kept.cookie.encode().unwrap();
    let expires = kept.cookie.expires_ms.unwrap();
    psql(&format!(
        "DROP TABLE IF EXISTS {t}; \
         CREATE TABLE {t} ( \
             id TEXT PRIMARY KEY, \
             cookie BYTEA NOT NULL, \
             fields JSONB NOT NULL, \
             expires_ms BIGINT NOT NULL \
         ); \
         CREATE INDEX {t}_expires_ms_idx ON {t} (expires_ms); \
         INSERT INTO {t} VALUES ('kept', {}, '{{\"a\": \"MQ==\"}}', {expires});",
        bytea(&cookie)
    ));

    // Two processes starting at once both migrate it.
    let (one, two) = (connect(t).await, connect(t).await);
    let (first, second) = tokio::join!(one.migrate(), two.migrate());
    first.unwrap();
    second.unwrap();
    one.migrate().await.unwrap();
    assert_eq!(
        psql_value(&format!(
            "SELECT count(*) FROM pg_indexes WHERE indexname = '{t}_owner_idx'"
        )),
        "1"
    );

    migrated_row_joins_the_owner_index(&one, &kept).await;
}

#[tokio::test]
async fn unreadable_rows_are_missing_and_get_replaced() {
    let (store, table) = store("corrupt").await;
    let good = record(&[("a", b"1"), ("b", b"2")], HOUR);
    // Only `b` readable: what a session with a damaged `a` reads as.
    let partly = record(&[("b", b"2")], None);
    let garbage = [
        ("cookie", r"cookie = '\xffffff'::bytea", false),
        ("not-object", "fields = '[1, 2]'", false),
        ("not-string", "fields = jsonb_set(fields, '{a}', '5')", true),
        ("null", "fields = jsonb_set(fields, '{a}', 'null')", true),
        (
            "bad-base64",
            r#"fields = jsonb_set(fields, '{a}', '"!!!"')"#,
            true,
        ),
    ];
    store.set("good", &good, Changed::All).await.unwrap();
    let mut readable = vec![("good".to_owned(), good.clone())];
    for (id, damage, field_only) in garbage {
        store.set(id, &good, Changed::All).await.unwrap();
        psql(&format!(
            "UPDATE {} SET {damage} WHERE id = '{id}'",
            table.0
        ));
        let read = store.get(id).await.unwrap();
        if field_only {
            // The damaged field gets its default (it is left out); the rest survives.
            let read = read.unwrap_or_else(|| panic!("{id}: the session survives"));
            assert_eq!(read.fields, partly.fields, "{id}");
            readable.push((id.to_owned(), read));
        } else {
            assert_eq!(read, None, "{id}");
        }
    }
    let mut all = store.all().await.unwrap();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    readable.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(all, readable, "unreadable sessions are left out");

    // A field-level write repairs what it overwrites, or writes the whole record when the
    // fields are not an object it can patch.
    let names = ["a".to_owned()].into();
    for (id, _, _) in garbage {
        store.set(id, &good, Changed::Fields(&names)).await.unwrap();
        assert_eq!(store.get(id).await.unwrap(), Some(good.clone()), "{id}");
    }
    // But only while the row is live: an expired one stays dead.
    store.set("lapsed", &good, Changed::All).await.unwrap();
    psql(&format!(
        "UPDATE {} SET fields = '[1, 2]', expires_ms = 0 WHERE id = 'lapsed'",
        table.0
    ));
    let lapsed = store.set("lapsed", &good, Changed::Fields(&names)).await;
    assert!(matches!(lapsed, Err(StoreError::Gone)), "{lapsed:?}");
    assert_eq!(store.get("lapsed").await.unwrap(), None);
}

#[tokio::test]
async fn expired_rows_are_deleted() {
    let _timing = TIMING.lock().await;
    let (store, table) = store("expired").await;
    let store = store.with_cleanup(None);
    let pool = sqlx::PgPool::connect(&database_url()).await.unwrap();
    let count = format!("SELECT count(*) FROM \"{}\"", table.0);
    conformance::expired_rows_are_deleted(
        &store,
        || store.delete_expired(),
        |every| store.clone().with_cleanup(Some(every)),
        connect(&table.0),
        || async {
            let (rows,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(count.clone()))
                .fetch_one(&pool)
                .await
                .unwrap();
            rows as u64
        },
    )
    .await;
}

/// A PostgreSQL server of the test's own, so stopping it disturbs no other test. Its data
/// directory outlives a stop, like a real server's.
struct OwnServer {
    port: u16,
    data: PathBuf,
}

impl OwnServer {
    fn start() -> Self {
        let port = free_port();
        let data = std::env::temp_dir().join(format!("session-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let server = Self { port, data };
        run(server.command("initdb").arg("-D").arg(&server.data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]));
        server.restart();
        server
    }

    /// A PostgreSQL program, run as the `postgres` user when the test runs as root (the server
    /// refuses to run as root).
    fn command(&self, program: &str) -> Command {
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        if root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(pg_bin(program));
            command
        } else {
            Command::new(pg_bin(program))
        }
    }

    fn restart(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k /tmp -c fsync=off",
            self.port
        );
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.data.join("log"))
            .args(["-w", "-t", "20", "-o", &options, "start"]));
    }

    /// Sends `SIG<signal>` to the server and every process it started (its backends), as an
    /// operator freezing or thawing it would.
    fn signal(&self, signal: &str) {
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid")).unwrap();
        let postmaster = pid_file.lines().next().unwrap().trim().to_owned();
        let mut pids = vec![postmaster.clone()];
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // `pid (name) state ppid ...`; the name may hold spaces, so read after its `)`.
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1));
            if parent == Some(postmaster.as_str()) {
                pids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        run(Command::new("sh")
            .arg("-c")
            .arg(format!("kill -{signal} {}", pids.join(" "))));
    }

    fn stop(&self) {
        run(self.command("pg_ctl").arg("-D").arg(&self.data).args([
            "-m",
            "immediate",
            "-w",
            "stop",
        ]));
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .output();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

#[tokio::test]
async fn outage_is_an_error_and_recovery_needs_no_restart() {
    let _timing = TIMING.lock().await;
    let server = OwnServer::start();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
    let store = PostgresStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let app = app(layer_with(store, |b| b.resave(false)));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();

    // The request answers while the server is still down: it does not wait for it to come
    // back. (How promptly is the deadline's business, checked with a frozen server and a
    // locked table below; 30 s only keeps a hang from stalling the run.)
    server.stop();
    let during = tokio::time::timeout(
        Duration::from_secs(30),
        get_with(&app, "/views", Some(&cookie)),
    )
    .await
    .expect("an outage is an error, not a wait for the server");
    assert_eq!(during.status, 503);
    assert_eq!(get_with(&app, "/none", Some(&cookie)).await.status, 200);

    server.restart();
    // The same app, not rebuilt: its pool replaces the broken connections.
    let reply = views_once_served(&app, &cookie, Duration::from_secs(20)).await;
    assert_eq!(
        reply.status, 200,
        "the app recovers once PostgreSQL is back"
    );
    // The session was committed before the stop and the data directory survives it, so the
    // count goes on.
    assert_eq!(reply.body, "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_postgres_cannot_hold_is_a_missing_session() {
    // A validly signed id with a NUL character (a custom `genid`, or another app with the same
    // secret): PostgreSQL's text cannot hold it, and no session can be stored under it.
    let (store, _table) = store("nul").await;
    let issuer = app(layer_with(sessionly::MemoryStore::new(), |b| {
        b.genid(|_| "nul\0id".to_owned())
    }));
    let cookie = get_with(&issuer, "/views", None).await.cookie().unwrap();
    let app = app(layer_with(store.clone(), |b| b));
    let reply = get_with(&app, "/views", Some(&cookie)).await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "1"));
    assert!(!reply.cookie_id().unwrap().contains('\0'), "a new id");

    let some = record(&[("a", b"1")], HOUR);
    let names = ["a".to_owned()].into();
    assert_eq!(store.get("a\0b").await.unwrap(), None);
    assert!(matches!(
        store.touch("a\0b", &some).await,
        Err(StoreError::Gone)
    ));
    assert!(matches!(
        store.set("a\0b", &some, Changed::Fields(&names)).await,
        Err(StoreError::Gone)
    ));
    store.destroy("a\0b").await.unwrap();
    assert!(store.sessions_of("x\0").await.unwrap().is_empty());
    assert_eq!(store.destroy_sessions_of("x\0", None).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_table_is_a_prompt_error() {
    let _timing = TIMING.lock().await;
    let (store, table) = store("locked").await;
    let app = app(layer_with(store, |b| b.resave(false)));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();

    // Another client holds the table for 8 s.
    let mut holder = Command::new(pg_bin("psql"))
        .arg(database_url())
        .args(["-X", "-q", "-c"])
        .arg(format!(
            "BEGIN; LOCK TABLE {} IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(8); COMMIT;",
            table.0
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let locked = format!(
        "SELECT count(*) FROM pg_locks WHERE relation = '{}'::regclass AND mode = 'AccessExclusiveLock' AND granted",
        table.0
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while psql_value(&locked) != "1" {
        assert!(Instant::now() < deadline, "the lock was never taken");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (during, took) = timed_views(&app, &cookie).await;
    assert_eq!(during.status, 503);
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let _ = holder.kill();
    let _ = holder.wait();
    // The statement was cancelled, not left to land later; the pool's connection still works.
    let reply = views_once_served(&app, &cookie, Duration::from_secs(10)).await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_is_a_prompt_error() {
    let _timing = TIMING.lock().await;
    let server = OwnServer::start();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
    let store = PostgresStore::connect_with_timeout(&url, Duration::from_secs(1))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let app = app(layer_with(store, |b| b.resave(false)));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();

    // A pool of the app's own that sends a query without testing its connection first, as
    // happens to every query already under way when the server freezes.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .test_before_acquire(false)
        .connect(&url)
        .await
        .unwrap();
    let own = PostgresStore::new(pool).with_query_timeout(Duration::from_secs(1));
    let own = common::app(layer_with(own, |b| b.resave(false)));
    assert_eq!(get_with(&own, "/views", Some(&cookie)).await.body, "2");

    server.signal("STOP");
    let (during, took) = timed_views(&app, &cookie).await;
    let in_flight = tokio::time::timeout(Duration::from_secs(10), timed_views(&own, &cookie)).await;
    server.signal("CONT");
    assert_eq!(during.status, 503);
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let (during, took) = in_flight.expect("a query under way fails by itself");
    assert_eq!(during.status, 503);
    assert!(took < Duration::from_secs(3), "took {took:?}");

    let reply = views_once_served(&app, &cookie, Duration::from_secs(20)).await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "3"));
}
