//! `ConnectRedisStore` against a real Redis: the conformance suite and the race checks, and the
//! layout connect-redis reads and writes (a JSON string per session, its TTL rule).

use crate::common;

use std::time::Duration;

use common::conformance::{HOUR, record};
use common::{raw, redis_url};
use sessionly::ConnectRedisStore;
use sessionly::store::{Changed, Store};
use sessionly::testing::conformance;

fn prefix(test: &str) -> String {
    format!("test:connect:{test}:{}:", std::process::id())
}

async fn store(test: &str) -> ConnectRedisStore {
    ConnectRedisStore::open(&redis_url())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis must be running at {} (see .ci/run): {e}",
                redis_url()
            )
        })
        .with_prefix(prefix(test))
}

#[tokio::test]
async fn connect_redis_store_conforms() {
    conformance::conformance_without_listing(&store("conformance").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_redis_store_passes_the_race_checks() {
    conformance::races(&store("races").await).await;
}

#[tokio::test]
async fn sessions_are_json_strings_with_connect_redis_lifetimes() {
    let test = "layout";
    let store = store(test).await;
    let mut raw = raw().await;
    let key = format!("{}abc", prefix(test));

    // A day of lifetime: a JSON string expiring in 86,400 s (rounded up).
    store
        .set(
            "abc",
            &record(&[("n", b"1")], Some(Duration::from_secs(86_400))),
            Changed::All,
        )
        .await
        .unwrap();
    let json: String = ::redis::cmd("GET")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["n"], 1);
    assert_eq!(value["cookie"]["originalMaxAge"], 86_400_000);
    let ttl: i64 = ::redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((86_399..=86_400).contains(&ttl), "{ttl}");

    // A browser-session cookie: connect-redis's default of a day.
    store
        .set("abc", &record(&[("n", b"2")], None), Changed::All)
        .await
        .unwrap();
    let ttl: i64 = ::redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((86_399..=86_400).contains(&ttl), "{ttl}");

    // A touch moves the key's expiry and the cookie's.
    let mut short = record(&[("n", b"3")], Some(Duration::from_secs(10)));
    store.set("abc", &short, Changed::All).await.unwrap();
    short.cookie.set_max_age(
        Some(Duration::from_secs(3600)),
        std::time::SystemTime::now(),
    );
    store.touch("abc", &short).await.unwrap();
    let ttl: i64 = ::redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((3599..=3600).contains(&ttl), "{ttl}");
    assert_eq!(
        store.get("abc").await.unwrap().unwrap().cookie,
        short.cookie
    );

    // Node's touch moves the key's expiry only: a load takes it, since the cookie's is older.
    store
        .set(
            "abc",
            &record(&[("n", b"4")], Some(Duration::from_secs(10))),
            Changed::All,
        )
        .await
        .unwrap();
    ::redis::cmd("EXPIRE")
        .arg(&key)
        .arg(3600)
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    let loaded = store.get("abc").await.unwrap().expect("alive");
    let left = loaded
        .expires()
        .unwrap()
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(left > Duration::from_secs(3590), "{left:?}");

    // Already expired: deleted.
    let mut gone = record(&[], HOUR);
    gone.cookie
        .set_expires(Some(std::time::UNIX_EPOCH), std::time::SystemTime::now());
    store.set("abc", &gone, Changed::All).await.unwrap();
    let exists: bool = ::redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(!exists);
}

#[tokio::test]
async fn a_patch_keeps_what_node_wrote_and_a_concurrent_node_write() {
    let test = "node-keys";
    let store = store(test).await;
    let mut raw = raw().await;
    let key = format!("{}node", prefix(test));
    let node = r#"{"cookie":{"originalMaxAge":3600000,"expires":"2100-01-01T00:00:00.000Z","httpOnly":true,"path":"/"},"passport":{"user":"ada"},"views":1}"#;
    ::redis::cmd("SET")
        .arg(&key)
        .arg(node)
        .arg("EX")
        .arg(3600)
        .query_async::<()>(&mut raw)
        .await
        .unwrap();

    let mut loaded = store.get("node").await.unwrap().expect("Node's session");
    assert_eq!(&loaded.fields["passport"][..], br#"{"user":"ada"}"#);
    // Node writes another key after this load: the patch merges into what is there now.
    let later = node.replace(r#""views":1"#, r#""views":1,"flash":["hi"]"#);
    ::redis::cmd("SET")
        .arg(&key)
        .arg(&later)
        .arg("EX")
        .arg(3600)
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    loaded
        .fields
        .insert("views".into(), bytes::Bytes::from_static(b"2"));
    let changed = ["views".to_owned()].into();
    store
        .set("node", &loaded, Changed::Fields(&changed))
        .await
        .unwrap();

    let json: String = ::redis::cmd("GET")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(json.contains(r#""passport":{"user":"ada"}"#), "{json}");
    assert!(
        json.contains(r#""flash":["hi"]"#),
        "Node's later write kept: {json}"
    );
    assert!(json.contains(r#""views":2"#), "{json}");
    assert!(
        json.contains(r#""expires":"2100-01-01T00:00:00.000Z""#),
        "{json}"
    );
    store.destroy("node").await.unwrap();
}
