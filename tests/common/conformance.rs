//! The store contract as one suite: every store runs `sessionly::testing::conformance`; here
//! are the records the store tests build and the checks only the SQL stores need.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use sessionly::store::{Changed, CookieState, Listing, OwnerIndex, Record};
#[allow(unused_imports)] // Each test binary uses one of them or none.
pub use sessionly::testing::conformance::{conformance, conformance_without_listing};

pub fn record(fields: &[(&str, &[u8])], max_age: Option<Duration>) -> Record {
    Record::new(
        CookieState::new(max_age, SystemTime::now()),
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Bytes::copy_from_slice(v)))
            .collect(),
    )
}

/// `record` with an owner.
pub fn owned(owner: &str, max_age: Option<Duration>) -> Record {
    let mut record = record(&[("user", owner.as_bytes())], max_age);
    record.owner = Some(owner.to_owned());
    record
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

pub const HOUR: Option<Duration> = Some(Duration::from_secs(3600));

/// After `migrate` on a table of the previous schema: its row `kept` (under id `kept`) reads
/// back, signs in with a patch, and joins the owner index next to a new session.
pub async fn migrated_row_joins_the_owner_index<S: OwnerIndex>(store: &S, kept: &Record) {
    assert_eq!(
        store.get("kept").await.unwrap().as_ref(),
        Some(kept),
        "kept"
    );
    let mut signed_in = kept.clone();
    signed_in.owner = Some("ada".to_owned());
    store
        .set(
            "kept",
            &signed_in,
            Changed::FieldsAndOwner(&BTreeSet::new()),
        )
        .await
        .unwrap();
    store
        .set("new", &owned("ada", HOUR), Changed::All)
        .await
        .unwrap();
    let ids: BTreeSet<String> = store
        .sessions_of("ada")
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, names(&["kept", "new"]));
    assert_eq!(
        store.destroy_sessions_of("ada", Some("new")).await.unwrap(),
        1
    );
    assert_eq!(store.get("kept").await.unwrap(), None);
    assert!(store.get("new").await.unwrap().is_some());
}

/// Expired rows of an SQL store. `store` runs no cleanup of its own (`with_cleanup(None)`):
/// `delete_expired` removes exactly the expired rows; `with_cleanup(every)` gives a store (on
/// the same table) whose task deletes them by itself, and whose task stops when it is dropped;
/// and `open_default`, the store as its constructor makes it on the same table, deletes them
/// with no call at all. `rows` counts the rows in the table, expired or not.
pub async fn expired_rows_are_deleted<S, F, C, D, R>(
    store: &S,
    delete_expired: impl Fn() -> F,
    with_cleanup: impl FnOnce(Duration) -> C,
    open_default: impl std::future::Future<Output = D>,
    rows: impl Fn() -> R,
) where
    S: Listing,
    F: std::future::Future<Output = Result<u64, sessionly::StoreError>>,
    R: std::future::Future<Output = u64>,
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

    // Waits (up to 10 s, rather than a fixed time) until the table holds `n` rows.
    let rows_become = |n: u64, what: &'static str| {
        let rows = &rows;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while rows().await != n {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{what}, within 10 s"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let expired_row = |name: &'static str| {
        let short = short.clone();
        async move {
            store.set(name, &short, Changed::All).await.unwrap();
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    };

    // A store's cleanup task deletes an expired row by itself, and stops with the store.
    expired_row("later").await;
    assert_eq!(rows().await, 2, "the expired row is there until deleted");
    let cleaning = with_cleanup(Duration::from_millis(20));
    rows_become(1, "the cleanup task deleted the expired row").await;
    drop(cleaning);
    expired_row("after the task").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(rows().await, 2, "the task stopped with its store");

    // A store as its constructor makes it cleans up with no call.
    let default = open_default.await;
    rows_become(1, "a store with default settings deleted the expired row").await;
    drop(default);
    assert_eq!(store.length().await.unwrap(), 1);
}
