//! `ConnectPgStore` against a real PostgreSQL: the conformance suite and the race checks, and
//! the layout connect-pg-simple reads and writes (its table, `sess` JSON, `expire`).

use crate::common;

use std::time::Duration;

use common::conformance::record;
use common::database_url;
use sessionly::ConnectPgStore;
use sessionly::store::{Changed, Store};
use sessionly::testing::conformance;
use sqlx::Connection as _;

/// A store in a table of the test's own, created by `migrate`.
async fn store(test: &str) -> ConnectPgStore {
    let table = format!("session_{test}_{}", std::process::id());
    let store = ConnectPgStore::connect(&database_url())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL must be running at {} (see .ci/run): {e}",
                database_url()
            )
        })
        .with_table(&table)
        .unwrap()
        .with_query_timeout(Duration::from_secs(10));
    drop_table(&table).await;
    store.migrate().await.unwrap();
    store
}

async fn connection() -> sqlx::PgConnection {
    sqlx::PgConnection::connect(&database_url()).await.unwrap()
}

async fn drop_table(table: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS \"{table}\""
    )))
    .execute(&mut connection().await)
    .await
    .unwrap();
}

#[tokio::test]
async fn connect_pg_store_conforms() {
    conformance::conformance(&store("conformance").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_pg_store_passes_the_race_checks() {
    conformance::races(&store("races").await).await;
}

#[tokio::test]
async fn rows_are_connect_pg_simple_s() {
    let test = "layout";
    let store = store(test).await;
    let table = format!("session_{test}_{}", std::process::id());
    let mut db = connection().await;

    store
        .set(
            "abc",
            &record(&[("n", b"1")], Some(Duration::from_secs(86_400))),
            Changed::All,
        )
        .await
        .unwrap();
    let (sess, expire_in): (String, f64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT sess::text, extract(epoch from expire::timestamptz - now())::float8 \
         FROM \"{table}\" WHERE sid = 'abc'"
    )))
    .fetch_one(&mut db)
    .await
    .unwrap();
    let sess: serde_json::Value = serde_json::from_str(&sess).unwrap();
    assert_eq!(sess["n"], 1);
    assert_eq!(sess["cookie"]["originalMaxAge"], 86_400_000);
    assert!((86_399.0..=86_401.0).contains(&expire_in), "{expire_in}");

    // A row Node wrote, with keys the schema does not know; Node then touched it (expire only).
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{table}\" (sid, sess, expire) VALUES ('node', $1::json, now() + interval '1 hour')"
    )))
    .bind(r#"{"cookie":{"originalMaxAge":60000,"expires":"2020-01-01T00:00:00.000Z","httpOnly":true,"path":"/"},"passport":{"user":"ada"},"views":1}"#)
    .execute(&mut db)
    .await
    .unwrap();
    let mut loaded = store
        .get("node")
        .await
        .unwrap()
        .expect("live by its expire column");
    assert_eq!(&loaded.fields["passport"][..], br#"{"user":"ada"}"#);
    loaded
        .fields
        .insert("views".into(), bytes::Bytes::from_static(b"2"));
    let changed = ["views".to_owned()].into();
    store
        .set("node", &loaded, Changed::Fields(&changed))
        .await
        .unwrap();
    let (text,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT sess::text FROM \"{table}\" WHERE sid = 'node'"
    )))
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert!(text.contains(r#""passport":{"user":"ada"}"#), "{text}");
    assert!(text.contains(r#""views":2"#), "{text}");

    // Pruning deletes what has expired, as connect-pg-simple's.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE \"{table}\" SET expire = now() - interval '1 second' WHERE sid = 'node'"
    )))
    .execute(&mut db)
    .await
    .unwrap();
    assert_eq!(store.get("node").await.unwrap(), None);
    assert_eq!(store.delete_expired().await.unwrap(), 1);
    drop_table(&table).await;
}

/// Like connect-pg-simple, the store prunes expired rows by itself: a store made with the
/// defaults deletes a row that expired before it existed, with no call.
#[tokio::test]
async fn expired_rows_are_pruned_by_default() {
    let test = "prune";
    let table = format!("session_{test}_{}", std::process::id());
    let quiet = store(test).await.with_cleanup(None);
    quiet
        .set("old", &record(&[("a", b"1")], None), Changed::All)
        .await
        .unwrap();
    let mut db = connection().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE \"{table}\" SET expire = now() - interval '1 second'"
    )))
    .execute(&mut db)
    .await
    .unwrap();
    let count = || async {
        let query = format!("SELECT count(*) FROM \"{table}\"");
        let (rows,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(query))
            .fetch_one(&mut connection().await)
            .await
            .unwrap();
        rows
    };
    assert_eq!(count().await, 1, "not deleted by a store without cleanup");

    let _default = ConnectPgStore::connect(&database_url())
        .await
        .unwrap()
        .with_table(&table)
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while count().await != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the default store did not prune the expired row within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop_table(&table).await;
}
