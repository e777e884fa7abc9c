//! The store contract, as one suite every store runs, plus what is particular to the memory
//! store (sweeping, capacity).

use crate::common;

use std::time::Duration;

use common::conformance::{HOUR, conformance, record};
use sessionly::MemoryStore;
use sessionly::store::{Changed, Listing, Store};

#[tokio::test]
async fn memory_store_conforms() {
    conformance(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_store_lets_no_slow_request_resurrect_a_session() {
    common::a_slow_request_cannot_resurrect(MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_store_logs_devices_in_and_out() {
    common::log_out_other_devices(MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_store_returns_memory_after_expiry() {
    let store = MemoryStore::new();
    for i in 0..1000 {
        let r = record(&[("n", b"1")], Some(Duration::from_millis(50)));
        store.set(&format!("s{i}"), &r, Changed::All).await.unwrap();
    }
    let keep = record(&[("n", b"1")], HOUR);
    store.set("keep", &keep, Changed::All).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(store.sweep(), 1000);
    assert_eq!(store.length().await.unwrap(), 1);
    assert_eq!(store.sweep(), 0);
}

#[tokio::test]
async fn memory_store_sweeps_as_it_is_used() {
    let store = MemoryStore::new();
    let r = record(&[("n", b"1")], Some(Duration::from_millis(50)));
    store.set("old", &r, Changed::All).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    store
        .set("new", &record(&[], HOUR), Changed::All)
        .await
        .unwrap();
    assert_eq!(
        store.sweep(),
        0,
        "the write already swept the expired session"
    );
}

#[tokio::test]
async fn memory_store_capacity_evicts_the_soonest_to_expire() {
    let store = MemoryStore::new().with_capacity(2);
    let soon = record(&[], Some(Duration::from_secs(60)));
    let later = record(&[], Some(Duration::from_secs(3600)));
    store.set("later", &later, Changed::All).await.unwrap();
    store.set("soon", &soon, Changed::All).await.unwrap();
    store.set("third", &later, Changed::All).await.unwrap();
    assert_eq!(store.length().await.unwrap(), 2);
    assert_eq!(store.get("soon").await.unwrap(), None);
    assert!(store.get("later").await.unwrap().is_some());
    // Updating an existing session never evicts.
    store.set("later", &later, Changed::All).await.unwrap();
    assert_eq!(store.length().await.unwrap(), 2);
}

#[tokio::test]
async fn a_flood_of_first_visits_does_not_evict_a_returning_session() {
    // Signed in (created, then back for more) with the soonest expiry in the store, then
    // 200,000 first visits that each store a session and never return.
    let store = MemoryStore::new().with_capacity(10_000);
    let app = common::app(common::layer_with(store.clone(), |b| {
        b.cookie(sessionly::CookieOptions::new().max_age(Duration::from_secs(600)))
    }));
    let cookie = common::get_with(&app, "/views", None)
        .await
        .cookie()
        .unwrap();
    assert_eq!(
        common::get_with(&app, "/views", Some(&cookie)).await.body,
        "2"
    );
    let visit = record(&[("views", b"1")], HOUR);
    for i in 0..200_000 {
        store
            .set(&format!("visitor-{i}"), &visit, Changed::All)
            .await
            .unwrap();
    }
    assert_eq!(store.length().await.unwrap(), 10_000);
    assert_eq!(
        common::get_with(&app, "/views", Some(&cookie)).await.body,
        "3",
        "still signed in"
    );
    // With nothing but returning sessions, the bound still holds: closest to expiry first.
    let full = MemoryStore::new().with_capacity(3);
    for id in ["a", "b", "c"] {
        full.set(id, &visit, Changed::All).await.unwrap();
        full.get(id).await.unwrap();
    }
    full.set("d", &record(&[], HOUR), Changed::All)
        .await
        .unwrap();
    assert_eq!(full.length().await.unwrap(), 3);
}

#[test]
fn the_default_memory_store_is_bounded() {
    assert_eq!(MemoryStore::DEFAULT_CAPACITY, 1_000_000);
    assert!(format!("{:?}", MemoryStore::new()).contains("capacity: Some(1000000)"));
}

#[tokio::test]
async fn memory_store_keeps_browser_session_records_for_the_idle_ttl() {
    let store = MemoryStore::new().with_idle_ttl(Duration::from_millis(1000));
    let r = record(&[("n", b"1")], None);
    store.set("browser", &r, Changed::All).await.unwrap();
    assert!(store.get("browser").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.get("browser").await.unwrap(), None);
}

#[tokio::test]
async fn memory_store_debug_shows_counts_not_ids() {
    let store = MemoryStore::new();
    store
        .set("secret-session-id", &record(&[], HOUR), Changed::All)
        .await
        .unwrap();
    let shown = format!("{store:?}");
    assert!(shown.contains("sessions: 1"), "{shown}");
    assert!(!shown.contains("secret-session-id"), "{shown}");
}

/// One step against the memory store and the model.
#[derive(Debug, Clone)]
enum Op {
    /// A whole write: a new session, or a replacement; `dead` writes one already expired.
    Create {
        id: u8,
        value: u8,
        dead: bool,
    },
    /// A field patch of a session that may or may not be there.
    Patch {
        id: u8,
        field: u8,
        value: Option<u8>,
    },
    Touch {
        id: u8,
    },
    Destroy {
        id: u8,
    },
    Get {
        id: u8,
    },
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let id = 0u8..8;
    prop_oneof![
        (id.clone(), any::<u8>(), proptest::bool::weighted(0.2))
            .prop_map(|(id, value, dead)| Op::Create { id, value, dead }),
        (id.clone(), 0u8..3, any::<Option<u8>>()).prop_map(|(id, field, value)| Op::Patch {
            id,
            field,
            value
        }),
        id.clone().prop_map(|id| Op::Touch { id }),
        id.clone().prop_map(|id| Op::Destroy { id }),
        id.prop_map(|id| Op::Get { id }),
    ]
}

/// Runs `ops` on a memory store (bounded by `capacity` or not) and on a plain map of the live
/// sessions. Without a bound they agree exactly; with one, the store may have evicted a
/// session the model still has (then it answers "missing" and the model drops it too), but it
/// never returns a session the model does not have, nor a value the model does not hold, and
/// never holds more than its bound.
async fn against_the_model(ops: Vec<Op>, capacity: Option<usize>) -> Result<(), String> {
    use std::collections::BTreeMap;

    use sessionly::StoreError;
    use sessionly::store::Record;

    let store = match capacity {
        Some(capacity) => MemoryStore::new().with_capacity(capacity),
        None => MemoryStore::new(),
    };
    let mut model: BTreeMap<String, Record> = BTreeMap::new();
    let check = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
    for op in ops {
        match op {
            Op::Create { id, value, dead } => {
                let id = format!("s{id}");
                let life = if dead {
                    Duration::ZERO
                } else {
                    Duration::from_secs(3600)
                };
                let record = record(&[("a", &[value])], Some(life));
                store
                    .set(&id, &record, Changed::All)
                    .await
                    .map_err(|e| e.to_string())?;
                if dead {
                    model.remove(&id);
                } else {
                    model.insert(id, record);
                }
            }
            Op::Patch { id, field, value } => {
                let id = format!("s{id}");
                let name = format!("f{field}");
                let mut record = model.get(&id).cloned().unwrap_or_else(|| record(&[], HOUR));
                match value {
                    Some(v) => {
                        record.fields.insert(name.clone(), vec![v].into());
                    }
                    None => {
                        record.fields.remove(&name);
                    }
                }
                let names = [name].into();
                let result = store.set(&id, &record, Changed::Fields(&names)).await;
                match (result, model.contains_key(&id)) {
                    (Ok(()), true) => {
                        model.insert(id, record);
                    }
                    (Err(StoreError::Gone), false) => {}
                    (Err(StoreError::Gone), true) if capacity.is_some() => {
                        model.remove(&id);
                    }
                    (other, known) => {
                        return Err(format!("patch {id}: {other:?}, model has it: {known}"));
                    }
                }
            }
            Op::Touch { id } => {
                let id = format!("s{id}");
                let record = model.get(&id).cloned().unwrap_or_else(|| record(&[], HOUR));
                match (store.touch(&id, &record).await, model.contains_key(&id)) {
                    (Ok(()), true) | (Err(StoreError::Gone), false) => {}
                    (Err(StoreError::Gone), true) if capacity.is_some() => {
                        model.remove(&id);
                    }
                    (other, known) => {
                        return Err(format!("touch {id}: {other:?}, model has it: {known}"));
                    }
                }
            }
            Op::Destroy { id } => {
                let id = format!("s{id}");
                store.destroy(&id).await.map_err(|e| e.to_string())?;
                model.remove(&id);
            }
            Op::Get { id } => {
                let id = format!("s{id}");
                let got = store.get(&id).await.map_err(|e| e.to_string())?;
                match (&got, model.get(&id)) {
                    (Some(got), Some(expected)) => {
                        check(
                            got.fields == expected.fields,
                            format!("get {id}: {got:?} != {expected:?}"),
                        )?;
                    }
                    (None, None) => {}
                    (None, Some(_)) if capacity.is_some() => {
                        model.remove(&id);
                    }
                    (got, expected) => {
                        return Err(format!("get {id}: {got:?}, model: {expected:?}"));
                    }
                }
            }
        }
        let length = store.length().await.map_err(|e| e.to_string())?;
        match capacity {
            None => check(
                length == model.len(),
                format!("{length} sessions, model {}", model.len()),
            )?,
            Some(capacity) => check(length <= capacity, format!("{length} over {capacity}"))?,
        }
    }
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(512))]

    #[test]
    fn the_memory_store_behaves_like_a_map_of_live_sessions(
        ops in proptest::collection::vec(op(), 1..60),
        bounded in proptest::bool::ANY,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let capacity = bounded.then_some(3);
        let outcome = runtime.block_on(against_the_model(ops, capacity));
        proptest::prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}
