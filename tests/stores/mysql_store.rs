//! `MySqlStore` against a real MariaDB: the conformance suite, concurrent field writes and the
//! session lifecycle over HTTP, rows that cannot be read, expired rows deleted, and an outage, a
//! locked row and a frozen server in the middle of a run. `.ci/run` starts the server
//! (`MYSQL_URL`); without one these tests fail rather than skip. Each test works in a table of
//! its own, dropped at its end.

use crate::common;
use crate::{TIMING, timed_views, views_once_served};

use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::conformance::{HOUR, conformance, record};
use common::*;
use sessionly::store::{Changed, Listing, OwnerIndex, Store};
use sessionly::{MySqlStore, StoreError};
use sqlx::MySqlPool;

/// A client of the test's own on `url`, for what the store does not do (damaging rows, holding
/// locks, counting rows).
async fn client(url: &str) -> MySqlPool {
    MySqlPool::connect(url)
        .await
        .unwrap_or_else(|e| panic!("MariaDB or MySQL must be running at {url} (see .ci/run): {e}"))
}

/// Runs `statement` on the shared server.
async fn run_sql(statement: &str) {
    let pool = client(&mysql_url()).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// A test's own table on the shared server, dropped with this guard.
struct Table(String);

impl Drop for Table {
    fn drop(&mut self) {
        let statement = format!("DROP TABLE IF EXISTS `{}`", self.0);
        // A runtime of its own: the guard may be dropped while the test's runtime shuts down.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(run_sql(&statement));
        })
        .join();
    }
}

fn table_for(test: &str) -> String {
    format!("sessions_{test}_{}", std::process::id())
}

/// A store on the shared test server in `table`, which it does not create.
async fn connect(table: &str) -> MySqlStore {
    MySqlStore::connect(&mysql_url())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "MariaDB or MySQL must be running at {} (see .ci/run): {e}",
                mysql_url()
            )
        })
        .with_table(table)
        .unwrap()
}

/// A store on the shared test server, in an empty table of its own.
async fn store(test: &str) -> (MySqlStore, Table) {
    let table = table_for(test);
    let store = connect(&table).await;
    store.migrate().await.unwrap();
    store.clear().await.unwrap();
    (store, Table(table))
}

#[tokio::test]
async fn mysql_store_conforms() {
    let _timing = TIMING.lock().await;
    let (store, _table) = store("conformance").await;
    conformance(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_store_loses_no_update() {
    let (store, _table) = store("lost_update").await;
    no_lost_updates(store).await;
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

#[tokio::test]
async fn migrate_runs_at_once_and_again_and_bad_table_names_are_refused() {
    let table = Table(table_for("migrate"));
    let (store, other) = (connect(&table.0).await, connect(&table.0).await);
    // Two processes starting at once on a new database, a few times over to meet the race.
    for _ in 0..5 {
        run_sql(&format!("DROP TABLE IF EXISTS `{}`", table.0)).await;
        let (one, two) = tokio::join!(store.migrate(), other.migrate());
        one.unwrap();
        two.unwrap();
    }
    store.migrate().await.unwrap();
    let pool = client(&mysql_url()).await;
    let indexes: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT index_name) FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND table_name = ?",
    )
    .bind(&table.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(indexes, 3, "primary key, expiry and owner");
    for bad in [
        "",
        "1sessions",
        "sessions; DROP TABLE x",
        "s`x",
        "db.sessions",
        &"s".repeat(49),
    ] {
        assert!(store.clone().with_table(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn unreadable_rows_are_missing_and_get_replaced() {
    let (store, table) = store("corrupt").await;
    let good = record(&[("a", b"1"), ("b", b"2")], HOUR);
    // Only `b` readable: what a session with a damaged `a` reads as.
    let partly = record(&[("b", b"2")], None);
    let garbage = [
        ("cookie", "cookie = x'ffffff'", false),
        ("not-object", "fields = '[1, 2]'", false),
        ("owner", "owner = x'ff'", false),
        ("not-string", "fields = JSON_SET(fields, '$.a', 5)", true),
        ("null", "fields = JSON_SET(fields, '$.a', NULL)", true),
        (
            "bad-base64",
            "fields = JSON_SET(fields, '$.a', '!!!')",
            true,
        ),
    ];
    store.set("good", &good, Changed::All).await.unwrap();
    let mut readable = vec![("good".to_owned(), good.clone())];
    for (id, damage, field_only) in garbage {
        store.set(id, &good, Changed::All).await.unwrap();
        run_sql(&format!(
            "UPDATE `{}` SET {damage} WHERE id = '{id}'",
            table.0
        ))
        .await;
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
        if id == "owner" {
            continue; // A patch keeps the stored owner; a sign-in or a whole write replaces it.
        }
        store.set(id, &good, Changed::Fields(&names)).await.unwrap();
        assert_eq!(store.get(id).await.unwrap(), Some(good.clone()), "{id}");
    }
    store
        .set("owner", &good, Changed::FieldsAndOwner(&names))
        .await
        .unwrap();
    assert_eq!(store.get("owner").await.unwrap(), Some(good.clone()));
    // But only while the row is live: an expired one stays dead.
    store.set("lapsed", &good, Changed::All).await.unwrap();
    run_sql(&format!(
        "UPDATE `{}` SET fields = '[1, 2]', expires_ms = 0 WHERE id = 'lapsed'",
        table.0
    ))
    .await;
    let lapsed = store.set("lapsed", &good, Changed::Fields(&names)).await;
    assert!(matches!(lapsed, Err(StoreError::Gone)), "{lapsed:?}");
    assert_eq!(store.get("lapsed").await.unwrap(), None);
}

#[tokio::test]
async fn ids_are_compared_byte_for_byte() {
    // A collation would find `a` under `A` or `a ` (trailing spaces ignored); a byte string
    // does not.
    let (store, _table) = store("bytes").await;
    let session = record(&[("a", b"1")], HOUR);
    store.set("a", &session, Changed::All).await.unwrap();
    for other in ["A", "a ", "á"] {
        assert_eq!(store.get(other).await.unwrap(), None, "{other:?}");
    }
    // Names and owners with characters outside ASCII keep their bytes, and count them in the
    // size a load checks.
    let mut unicode = record(&[("naïve/ключ", "значение".as_bytes())], HOUR);
    unicode.owner = Some("zoë".to_owned());
    store.set("u", &unicode, Changed::All).await.unwrap();
    assert_eq!(store.get("u").await.unwrap(), Some(unicode.clone()));
    let size = unicode.encoded_size();
    assert_eq!(store.get_within("u", size).await.unwrap(), Some(unicode));
    assert_eq!(store.get_within("u", size - 1).await.unwrap(), None);
    assert_eq!(store.sessions_of("zoë").await.unwrap().len(), 1);
    assert_eq!(store.sessions_of("zoe").await.unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_longer_than_the_column_is_a_missing_session() {
    // A validly signed id of 1100 bytes (a custom `genid`): the `id` column holds 1024, so no
    // session can be stored under it; the request gets a new session, not an error.
    let (store, _table) = store("long_id").await;
    let issuer = app(layer_with(sessionly::MemoryStore::new(), |b| {
        b.genid(|_| "x".repeat(1100))
    }));
    let cookie = get_with(&issuer, "/views", None).await.cookie().unwrap();
    let app = app(layer_with(store.clone(), |b| b));
    let reply = get_with(&app, "/views", Some(&cookie)).await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "1"));
    assert_ne!(reply.cookie_id().unwrap(), "x".repeat(1100), "a new id");

    let long = "y".repeat(1025);
    let some = record(&[("a", b"1")], HOUR);
    let names = ["a".to_owned()].into();
    assert_eq!(store.get(&long).await.unwrap(), None);
    assert!(matches!(
        store.touch(&long, &some).await,
        Err(StoreError::Gone)
    ));
    assert!(matches!(
        store.set(&long, &some, Changed::Fields(&names)).await,
        Err(StoreError::Gone)
    ));
    let whole = store.set(&long, &some, Changed::All).await;
    assert!(
        matches!(&whole, Err(StoreError::Backend { source, .. }) if source.to_string().contains("at most 1024")),
        "{whole:?}"
    );
    let mut owned = some.clone();
    owned.owner = Some("o".repeat(1025));
    let whole = store.set("fine", &owned, Changed::All).await;
    assert!(
        matches!(&whole, Err(StoreError::Backend { source, .. }) if source.to_string().contains("at most 1024")),
        "{whole:?}"
    );
    store.destroy(&long).await.unwrap();
}

#[tokio::test]
async fn expired_rows_are_deleted() {
    let _timing = TIMING.lock().await;
    let (store, table) = store("expired").await;
    let store = store.with_cleanup(None);
    let pool = client(&mysql_url()).await;
    let count = format!("SELECT COUNT(*) FROM `{}`", table.0);
    conformance::expired_rows_are_deleted(
        &store,
        || store.delete_expired(),
        |every| store.clone().with_cleanup(Some(every)),
        connect(&table.0),
        || async {
            let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count.clone()))
                .fetch_one(&pool)
                .await
                .unwrap();
            rows as u64
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_row_is_a_prompt_error() {
    let _timing = TIMING.lock().await;
    let (store, table) = store("locked").await;
    let app = app(layer_with(store, |b| b.resave(false)));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();

    // Another client holds every row of the table in a transaction.
    let pool = client(&mysql_url()).await;
    let mut holder = pool.begin().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SELECT * FROM `{}` FOR UPDATE",
        table.0
    )))
    .execute(&mut *holder)
    .await
    .unwrap();

    let (during, took) = timed_views(&app, &cookie).await;
    assert_eq!(during.status, 503);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    holder.rollback().await.unwrap();
    // The statement gave up, and landed nothing later; the pool's connection still works.
    let reply = views_once_served(&app, &cookie, Duration::from_secs(10)).await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "2"));
}

/// A MariaDB server of the test's own, so stopping it disturbs no other test. Its data
/// directory outlives a stop, like a real server's.
struct OwnServer {
    port: u16,
    data: PathBuf,
    process: Option<Child>,
}

impl OwnServer {
    fn start() -> Self {
        let port = free_port();
        let data =
            std::env::temp_dir().join(format!("session-mysql-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).unwrap();
        // The server refuses to run as root; as root, it runs as `mysql`.
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        let mut install = Command::new("mariadb-install-db");
        install
            .arg(format!("--datadir={}", data.join("db").display()))
            .args(["--skip-test-db", "--auth-root-authentication-method=normal"]);
        if root {
            install.arg("--user=mysql");
            run(Command::new("chown").arg("mysql").arg(&data));
        }
        run(&mut install);
        std::fs::write(
            data.join("init.sql"),
            // One statement per line: how the server reads this file.
            "CREATE DATABASE IF NOT EXISTS sessions;\n\
             CREATE USER IF NOT EXISTS 'sessions'@'%' IDENTIFIED BY 'sessions';\n\
             GRANT ALL ON sessions.* TO 'sessions'@'%';\n",
        )
        .unwrap();
        let mut server = Self {
            port,
            data,
            process: None,
        };
        server.restart();
        server
    }

    fn url(&self) -> String {
        format!("mysql://sessions:sessions@127.0.0.1:{}/sessions", self.port)
    }

    fn restart(&mut self) {
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        let mut command = Command::new("mariadbd");
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.data.join("db").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", self.data.join("sock").display()))
            .arg(format!("--pid-file={}", self.data.join("pid").display()))
            .arg(format!(
                "--init-file={}",
                self.data.join("init.sql").display()
            ))
            .arg("--skip-name-resolve");
        if root {
            command.arg("--user=mysql");
        }
        let process = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run mariadbd (see .ci/run): {e}"));
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mariadbd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `SIG<signal>` to the server, as an operator freezing or thawing it would.
    fn signal(&self, signal: &str) {
        let pid = self.process.as_ref().unwrap().id();
        run(Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string()));
    }

    /// Kills the server at once, as a crash would.
    fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.data);
    }
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

/// A store on `server` in a new table, once the server takes connections.
async fn store_on(server: &OwnServer, timeout: Duration) -> MySqlStore {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match MySqlStore::connect_with_timeout(&server.url(), timeout).await {
            Ok(store) => {
                store.migrate().await.unwrap();
                return store;
            }
            Err(error) => {
                assert!(Instant::now() < deadline, "{error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_is_an_error_and_recovery_needs_no_restart() {
    let _timing = TIMING.lock().await;
    let mut server = OwnServer::start();
    let store = store_on(&server, Duration::from_secs(2)).await;
    let app = app(layer_with(store, |b| b.resave(false)));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();

    // The request answers while the server is down: it does not wait for it to come back.
    // (How promptly is the deadline's business, checked with a frozen server and a locked row;
    // 30 s only keeps a hang from stalling the run.)
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
    let reply = views_once_served(&app, &cookie, Duration::from_secs(30)).await;
    assert_eq!(
        reply.status, 200,
        "the app recovers once the server is back"
    );
    // The session was committed before the crash and InnoDB keeps commits, so the count goes
    // on.
    assert_eq!(reply.body, "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_is_a_prompt_error() {
    let _timing = TIMING.lock().await;
    let server = OwnServer::start();
    let store = store_on(&server, Duration::from_secs(1)).await;
    let app = app(layer_with(store, |b| b.resave(false)));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();

    // A pool of the app's own that sends a query without testing its connection first, as
    // happens to every query already under way when the server freezes.
    let pool = sqlx::mysql::MySqlPoolOptions::new()
        .test_before_acquire(false)
        .connect(&server.url())
        .await
        .unwrap();
    let own = MySqlStore::new(pool)
        .with_table("sessions")
        .unwrap()
        .with_query_timeout(Duration::from_secs(1));
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
