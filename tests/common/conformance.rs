//! The store contract as one suite: every store runs `conformance`.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use session::{Changed, CookieState, Record, Store, StoreError};

pub fn record(fields: &[(&str, &[u8])], max_age: Option<Duration>) -> Record {
    Record {
        cookie: CookieState::new(max_age, SystemTime::now()),
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Bytes::copy_from_slice(v)))
            .collect(),
    }
}

pub const HOUR: Option<Duration> = Some(Duration::from_secs(3600));

/// The contract every store must keep, `all`, `length` and `clear` included.
pub async fn conformance<S: Store>(store: &S) {
    checks(store, true).await;
}

/// The contract for a store that cannot list its sessions (a Redis Cluster): `all`, `length`
/// and `clear` must answer `Unsupported`.
pub async fn conformance_without_listing<S: Store>(store: &S) {
    checks(store, false).await;
}

async fn checks<S: Store>(store: &S, lists: bool) {
    // Round trip, and a missing id.
    let r = record(&[("a", b"1"), ("b", b"2")], HOUR);
    store.set("round-trip", &r, Changed::All).await.unwrap();
    assert_eq!(store.get("round-trip").await.unwrap(), Some(r.clone()));
    assert_eq!(store.get("missing").await.unwrap(), None);

    // Destroy, also of a missing id.
    store.destroy("round-trip").await.unwrap();
    assert_eq!(store.get("round-trip").await.unwrap(), None);
    store.destroy("round-trip").await.unwrap();

    // Expiry honoured.
    let short = record(&[("a", b"1")], Some(Duration::from_millis(200)));
    store.set("short", &short, Changed::All).await.unwrap();
    assert!(store.get("short").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        store.get("short").await.unwrap(),
        None,
        "expired sessions are never returned"
    );

    // Touch extends life.
    // Lives 600 ms; touched at 400 ms, so read at 800 ms only if the touch took.
    let mut touched = record(&[("a", b"1")], Some(Duration::from_millis(600)));
    store.set("touched", &touched, Changed::All).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    touched.cookie.touch(SystemTime::now());
    store.touch("touched", &touched).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let alive = store
        .get("touched")
        .await
        .unwrap()
        .expect("touch extended the expiry");
    assert_eq!(alive.fields, touched.fields);
    // Gone before `length` and `all` below, which it could otherwise expire between.
    store.destroy("touched").await.unwrap();

    // Field-level patch keeps fields other writers changed.
    let base = record(&[("a", b"a0"), ("b", b"b0")], HOUR);
    store.set("patch", &base, Changed::All).await.unwrap();
    let mut first = base.clone();
    first.fields.insert("a".into(), Bytes::from_static(b"a1"));
    let mut second = base.clone();
    second.fields.insert("b".into(), Bytes::from_static(b"b1"));
    second.fields.insert("c".into(), Bytes::from_static(b"c1"));
    let only = |names: &[&str]| {
        names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<BTreeSet<_>>()
    };
    store
        .set("patch", &first, Changed::Fields(&only(&["a"])))
        .await
        .unwrap();
    store
        .set("patch", &second, Changed::Fields(&only(&["b", "c"])))
        .await
        .unwrap();
    let merged = store.get("patch").await.unwrap().unwrap();
    let expected = record(&[("a", b"a1"), ("b", b"b1"), ("c", b"c1")], HOUR).fields;
    assert_eq!(merged.fields, expected);
    // A patch that removes a field.
    let mut removal = merged.clone();
    removal.fields.remove("c");
    store
        .set("patch", &removal, Changed::Fields(&only(&["c"])))
        .await
        .unwrap();
    assert!(
        !store
            .get("patch")
            .await
            .unwrap()
            .unwrap()
            .fields
            .contains_key("c")
    );

    // Large records and binary-safe values.
    let large = vec![0xA5u8; 1 << 20];
    let binary: Vec<u8> = (0..=255).collect();
    let big = record(
        &[("large", &large), ("binary", &binary), ("empty", b"")],
        HOUR,
    );
    store.set("big", &big, Changed::All).await.unwrap();
    assert_eq!(store.get("big").await.unwrap(), Some(big));

    // Ids with unusual characters.
    for id in [
        "with space",
        "ünïcödé",
        "a:b{c}*?[]",
        "../../etc/passwd",
        "",
        "x".repeat(300).as_str(),
    ] {
        let r = record(&[("id", id.as_bytes())], HOUR);
        store.set(id, &r, Changed::All).await.unwrap();
        assert_eq!(store.get(id).await.unwrap(), Some(r), "{id:?}");
    }

    // all / length / clear, where the store has them; a store without them must say so.
    match store.length().await {
        Ok(count) if lists => {
            let all = store.all().await.unwrap();
            assert_eq!(all.len(), count);
            assert!(all.iter().any(|(id, _)| id == "patch"));
            store.clear().await.unwrap();
            assert_eq!(store.length().await.unwrap(), 0);
            assert_eq!(store.get("patch").await.unwrap(), None);
        }
        Err(StoreError::Unsupported { .. }) if !lists => {
            assert!(matches!(
                store.all().await,
                Err(StoreError::Unsupported { .. })
            ));
            assert!(matches!(
                store.clear().await,
                Err(StoreError::Unsupported { .. })
            ));
        }
        other => panic!("length: {other:?} (expected it to be supported: {lists})"),
    }
}

/// Expired rows of an SQL store: `delete_expired` removes exactly them, and the task from
/// `spawn_cleanup` does it by itself.
pub async fn expired_rows_are_deleted<S, F>(
    store: &S,
    delete_expired: impl Fn() -> F,
    spawn_cleanup: impl FnOnce(Duration) -> tokio::task::JoinHandle<()>,
) where
    S: Store,
    F: std::future::Future<Output = Result<u64, session::StoreError>>,
{
    let short = record(&[("a", b"1")], Some(Duration::from_millis(50)));
    for i in 0..10 {
        store
            .set(&format!("short-{i}"), &short, Changed::All)
            .await
            .unwrap();
    }
    store
        .set("long", &record(&[("a", b"1")], HOUR), Changed::All)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(delete_expired().await.unwrap(), 10);
    assert_eq!(delete_expired().await.unwrap(), 0);
    assert_eq!(store.length().await.unwrap(), 1);

    store.set("later", &short, Changed::All).await.unwrap();
    let cleanup = spawn_cleanup(Duration::from_millis(20));
    tokio::time::sleep(Duration::from_millis(200)).await;
    cleanup.abort();
    assert_eq!(
        delete_expired().await.unwrap(),
        0,
        "the cleanup task deleted the row"
    );
    assert_eq!(store.length().await.unwrap(), 1);
}
