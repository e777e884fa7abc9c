//! The contract every [`Store`] must keep, as the checks this crate's own stores pass: run them
//! on your store in a test.
//!
//! - [`conformance`] (or [`conformance_without_listing`] for a store that cannot list its
//!   sessions): the store calls themselves — round trips, expiry and touch, field patches that
//!   keep other writers' fields, binary values and odd ids, the size limit of `get_within`, no
//!   resurrection, the absolute expiry, and each capability the store declares
//!   ([`Store::capabilities`]): the per-owner index, `all` / `length` / `clear`, the store-side
//!   turn's leases.
//! - [`races`]: the store behind a [`SessionLayer`](crate::SessionLayer), over HTTP, with
//!   requests that race: no lost update between concurrent requests of one session, different
//!   fields written through two layers (two processes) at once, a slow request that cannot
//!   bring back a session another process ended, and "log out other devices".
//!
//! The checks panic at the first broken rule, with a message naming it.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::store::capability::LeaseCalls;
use crate::store::{Capabilities, Changed, CookieState, Record, Store, StoreError};

mod races;
pub use races::{
    a_login_keeps_the_session, a_slow_request_cannot_resurrect,
    different_fields_survive_two_processes, log_out_other_devices, no_lost_updates,
    no_lost_updates_with, races,
};

/// What a failed store call in the checks says.
const STORE: &str = "a store call failed";

/// The optional operations of `store`, through the capabilities it declares: an undeclared one
/// answers `Unsupported`, as the layer sees it.
pub(crate) fn optional<S: Store>(store: &S) -> Optional<'_, S> {
    Optional {
        store,
        capabilities: S::capabilities(),
    }
}

pub(crate) struct Optional<'a, S> {
    store: &'a S,
    capabilities: Capabilities<S>,
}

impl<S: Store> Optional<'_, S> {
    pub(crate) async fn all(&self) -> Result<Vec<(String, Record)>, StoreError> {
        match &self.capabilities.listing {
            Some(calls) => (calls.all)(self.store).await,
            None => Err(StoreError::unsupported("all")),
        }
    }

    pub(crate) async fn clear(&self) -> Result<(), StoreError> {
        match &self.capabilities.listing {
            Some(calls) => (calls.clear)(self.store).await,
            None => Err(StoreError::unsupported("clear")),
        }
    }

    pub(crate) async fn length(&self) -> Result<usize, StoreError> {
        match &self.capabilities.listing {
            Some(calls) => (calls.length)(self.store).await,
            None => Err(StoreError::unsupported("length")),
        }
    }

    pub(crate) async fn sessions_of(
        &self,
        owner: &str,
    ) -> Result<Vec<(String, Record)>, StoreError> {
        match &self.capabilities.owner_index {
            Some(calls) => (calls.sessions_of)(self.store, owner).await,
            None => Err(StoreError::unsupported("sessions_of")),
        }
    }

    pub(crate) async fn destroy_sessions_of(
        &self,
        owner: &str,
        keep: Option<&str>,
    ) -> Result<usize, StoreError> {
        match &self.capabilities.owner_index {
            Some(calls) => (calls.destroy_sessions_of)(self.store, owner, keep).await,
            None => Err(StoreError::unsupported("sessions_of")),
        }
    }
}

fn record(fields: &[(&str, &[u8])], max_age: Option<Duration>) -> Record {
    Record::new(
        CookieState::new(max_age, SystemTime::now()),
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Bytes::copy_from_slice(v)))
            .collect(),
    )
}

/// `record` with an owner.
fn owned(owner: &str, max_age: Option<Duration>) -> Record {
    let mut record = record(&[("user", owner.as_bytes())], max_age);
    record.owner = Some(owner.to_owned());
    record
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

const HOUR: Option<Duration> = Some(Duration::from_secs(3600));

/// The contract every store must keep, `all`, `length` and `clear` included. Panics, naming the
/// rule, at the first one `store` breaks.
///
/// It writes and deletes sessions with ids of its own (`round-trip`, `patch`, `o1`, ...) and
/// ends with `clear`: run it on a store of its own (a test database, a key prefix). Its
/// waits are on a scale of a second: a store must expire a session within 100 ms of its
/// expiry to pass. It takes about 6 s.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// sessionly::testing::conformance::conformance(&sessionly::MemoryStore::new()).await;
/// # });
/// ```
pub async fn conformance<S: Store>(store: &S) {
    checks(store, true).await;
}

/// The contract for a store that cannot list its sessions (a Redis Cluster): as
/// [`conformance`], but `all`, `length` and `clear` must answer `Unsupported`.
pub async fn conformance_without_listing<S: Store>(store: &S) {
    checks(store, false).await;
}

async fn checks<S: Store>(store: &S, lists: bool) {
    // Round trip, and a missing id.
    let r = record(&[("a", b"1"), ("b", b"2")], HOUR);
    store
        .set("round-trip", &r, Changed::All)
        .await
        .expect(STORE);
    assert_eq!(store.get("round-trip").await.expect(STORE), Some(r.clone()));
    assert_eq!(store.get("missing").await.expect(STORE), None);

    // The size limit: a record is loaded up to its encoded size and not beyond, and one over
    // the limit stays in the store. Values of each length modulo 3 (the SQL stores keep
    // base64), a name that is not ASCII, and an owner all count.
    let mut sized = record(&[("a", b"1"), ("bb", b"22"), ("caf\u{e9}", b"333")], HOUR);
    sized.owner = Some("owner-of-sized".into());
    let size = sized.encoded_size();
    assert_eq!(size, 1 + 1 + 2 + 2 + 5 + 3 + 14);
    store.set("sized", &sized, Changed::All).await.expect(STORE);
    assert_eq!(
        store.get_within("sized", size).await.expect(STORE),
        Some(sized.clone())
    );
    assert_eq!(
        store.get_within("sized", size - 1).await.expect(STORE),
        None
    );
    assert_eq!(store.get("sized").await.expect(STORE), Some(sized.clone()));
    assert_eq!(store.get_within("missing", size).await.expect(STORE), None);
    store.destroy("sized").await.expect(STORE);

    // Destroy, also of a missing id.
    store.destroy("round-trip").await.expect(STORE);
    assert_eq!(store.get("round-trip").await.expect(STORE), None);
    store.destroy("round-trip").await.expect(STORE);

    // Expiry honoured.
    let short = record(&[("a", b"1")], Some(Duration::from_millis(1000)));
    store.set("short", &short, Changed::All).await.expect(STORE);
    assert!(store.get("short").await.expect(STORE).is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        store.get("short").await.expect(STORE),
        None,
        "expired sessions are never returned"
    );

    // Touch extends life.
    // Lives 2 s; touched at 1.2 s, so there at 2.4 s only if the touch took. Each step has
    // 0.8 s of slack, for a loaded CI machine (a 0.2 s margin once failed under a full run).
    let mut touched = record(&[("a", b"1")], Some(Duration::from_millis(2000)));
    store
        .set("touched", &touched, Changed::All)
        .await
        .expect(STORE);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    touched.cookie.touch(SystemTime::now());
    store.touch("touched", &touched).await.expect(STORE);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let alive = store
        .get("touched")
        .await
        .expect(STORE)
        .expect("touch extended the expiry");
    assert_eq!(alive.fields, touched.fields);
    // Gone before `length` and `all` below, which it could otherwise expire between.
    store.destroy("touched").await.expect(STORE);

    // Field-level patch keeps fields other writers changed.
    let base = record(&[("a", b"a0"), ("b", b"b0")], HOUR);
    store.set("patch", &base, Changed::All).await.expect(STORE);
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
        .expect(STORE);
    store
        .set("patch", &second, Changed::Fields(&only(&["b", "c"])))
        .await
        .expect(STORE);
    let merged = store.get("patch").await.expect(STORE).expect(STORE);
    let expected = record(&[("a", b"a1"), ("b", b"b1"), ("c", b"c1")], HOUR).fields;
    assert_eq!(merged.fields, expected);
    // A patch that removes a field.
    let mut removal = merged.clone();
    removal.fields.remove("c");
    store
        .set("patch", &removal, Changed::Fields(&only(&["c"])))
        .await
        .expect(STORE);
    assert!(
        !store
            .get("patch")
            .await
            .expect(STORE)
            .expect(STORE)
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
    store.set("big", &big, Changed::All).await.expect(STORE);
    assert_eq!(store.get("big").await.expect(STORE), Some(big));

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
        store.set(id, &r, Changed::All).await.expect(STORE);
        assert_eq!(store.get(id).await.expect(STORE), Some(r), "{id:?}");
    }

    no_resurrection(store).await;
    absolute_expiry(store).await;
    owner_index(store).await;
    if let Some(calls) = &S::capabilities().leases {
        leases(store, calls).await;
    }

    // all / length / clear, where the store has them; a store without them must say so.
    match optional(store).length().await {
        Ok(count) if lists => {
            let all = optional(store).all().await.expect(STORE);
            assert_eq!(all.len(), count);
            assert!(all.iter().any(|(id, _)| id == "patch"));
            optional(store).clear().await.expect(STORE);
            assert_eq!(optional(store).length().await.expect(STORE), 0);
            assert_eq!(store.get("patch").await.expect(STORE), None);
        }
        Err(StoreError::Unsupported { .. }) if !lists => {
            assert!(matches!(
                optional(store).all().await,
                Err(StoreError::Unsupported { .. })
            ));
            assert!(matches!(
                optional(store).clear().await,
                Err(StoreError::Unsupported { .. })
            ));
        }
        other => panic!("length: {other:?} (expected it to be supported: {lists})"),
    }
}

/// The store-side turn, for a store that declares [`Leases`](crate::store::Leases): one holder
/// at a time, writes fenced by the holder's token, given back by a write or a release, and
/// free again once the lease's time is up.
async fn leases<S: Store>(store: &S, calls: &LeaseCalls<S>) {
    let second = Duration::from_secs(5);
    let id = "leased";
    store
        .set(id, &record(&[("a", b"1")], HOUR), Changed::All)
        .await
        .expect(STORE);
    let token = (calls.lease)(store, id, second)
        .await
        .expect(STORE)
        .expect("a free turn is taken");
    assert_eq!(
        (calls.lease)(store, id, second).await.expect(STORE),
        None,
        "a held turn is not taken again"
    );
    let changed = record(&[("a", b"2")], HOUR);
    let a = names(&["a"]);
    let field = |record: Option<Record>| record.and_then(|r| r.fields.get("a").cloned());
    let stranger = (calls.set_within_lease)(store, id, &changed, Changed::Fields(&a), "x", true);
    assert!(
        matches!(stranger.await, Err(StoreError::LeaseLost)),
        "a write under a token that does not hold the turn is refused"
    );
    assert_eq!(
        field(store.get(id).await.expect(STORE)).as_deref(),
        Some(&b"1"[..])
    );
    (calls.set_within_lease)(store, id, &changed, Changed::Fields(&a), &token, true)
        .await
        .expect("the holder writes under its turn");
    assert_eq!(
        field(store.get(id).await.expect(STORE)).as_deref(),
        Some(&b"2"[..])
    );
    let again = (calls.lease)(store, id, second)
        .await
        .expect(STORE)
        .expect("a write with `release` gave the turn back");
    (calls.release)(store, id, "x").await.expect(STORE);
    assert_eq!(
        (calls.lease)(store, id, second).await.expect(STORE),
        None,
        "a release under another token does nothing"
    );
    (calls.release)(store, id, &again).await.expect(STORE);
    let short = Duration::from_millis(300);
    (calls.lease)(store, id, short)
        .await
        .expect(STORE)
        .expect("a released turn is free");
    tokio::time::sleep(short + Duration::from_millis(200)).await;
    let next = (calls.lease)(store, id, second)
        .await
        .expect(STORE)
        .expect("a lease ends with its time");
    (calls.release)(store, id, &next).await.expect(STORE);
    store.destroy(id).await.expect(STORE);
}

/// Only `Changed::All` creates: a patch or a touch of a destroyed or expired record writes
/// nothing and answers `Gone`.
async fn no_resurrection<S: Store>(store: &S) {
    let r = record(&[("a", b"1")], HOUR);
    store.set("dead", &r, Changed::All).await.expect(STORE);
    store.destroy("dead").await.expect(STORE);
    let patch = store.set("dead", &r, Changed::Fields(&names(&["a"]))).await;
    assert!(matches!(patch, Err(StoreError::Gone)), "patch: {patch:?}");
    let empty = store.set("dead", &r, Changed::Fields(&names(&[]))).await;
    assert!(matches!(empty, Err(StoreError::Gone)), "resave: {empty:?}");
    let touch = store.touch("dead", &r).await;
    assert!(matches!(touch, Err(StoreError::Gone)), "touch: {touch:?}");
    assert_eq!(
        store.get("dead").await.expect(STORE),
        None,
        "not written back"
    );

    let short = record(&[("a", b"1")], Some(Duration::from_millis(100)));
    store
        .set("lapsed", &short, Changed::All)
        .await
        .expect(STORE);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let patch = store
        .set("lapsed", &r, Changed::Fields(&names(&["a"])))
        .await;
    assert!(matches!(patch, Err(StoreError::Gone)), "expired: {patch:?}");
    let touch = store.touch("lapsed", &r).await;
    assert!(matches!(touch, Err(StoreError::Gone)), "expired: {touch:?}");
    assert_eq!(store.get("lapsed").await.expect(STORE), None);

    // A full write does create, and replaces what was there.
    store.set("dead", &r, Changed::All).await.expect(STORE);
    assert_eq!(store.get("dead").await.expect(STORE), Some(r));
    store.destroy("dead").await.expect(STORE);
}

/// The absolute expiry ends a session whatever its idle expiry, and a touch cannot move past it.
async fn absolute_expiry<S: Store>(store: &S) {
    let now = SystemTime::now();
    let mut capped = record(&[("a", b"1")], HOUR);
    capped
        .cookie
        .set_absolute_lifetime(Some(Duration::from_millis(1000)), now);
    let mut browser = record(&[("a", b"1")], None);
    browser
        .cookie
        .set_absolute_lifetime(Some(Duration::from_millis(1000)), now);
    store
        .set("capped", &capped, Changed::All)
        .await
        .expect(STORE);
    store
        .set("capped-browser", &browser, Changed::All)
        .await
        .expect(STORE);
    tokio::time::sleep(Duration::from_millis(400)).await;
    capped.cookie.touch(SystemTime::now());
    store.touch("capped", &capped).await.expect(STORE);
    let fetched = store
        .get("capped")
        .await
        .expect(STORE)
        .expect("alive before the cap");
    assert_eq!(fetched.cookie, capped.cookie, "absolute expiry stored");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        store.get("capped").await.expect(STORE),
        None,
        "idle hour, cap passed"
    );
    assert_eq!(store.get("capped-browser").await.expect(STORE), None);
}

/// Whether `store` has the optional per-owner index; one without it must say so for both of
/// its calls.
pub(crate) async fn has_owner_index<S: Store>(store: &S) -> bool {
    let listed = optional(store).sessions_of("nobody").await;
    let destroyed = optional(store).destroy_sessions_of("nobody", None).await;
    match (listed, destroyed) {
        (Err(StoreError::Unsupported { .. }), Err(StoreError::Unsupported { .. })) => false,
        (Ok(listed), Ok(0)) if listed.is_empty() => true,
        other => panic!("owner index: nobody's sessions answered {other:?}"),
    }
}

/// The per-owner index follows writes, owner changes, destroys and expiry, if the store has
/// one.
async fn owner_index<S: Store>(store: &S) {
    let ids = |list: Vec<(String, Record)>| {
        list.into_iter()
            .map(|(id, record)| {
                assert!(!record.is_expired(SystemTime::now()), "{id} listed expired");
                id
            })
            .collect::<BTreeSet<_>>()
    };
    if !has_owner_index(store).await {
        return;
    }
    for owner in ["alice", "bob", "carol"] {
        optional(store)
            .destroy_sessions_of(owner, None)
            .await
            .expect(STORE);
    }
    let o1 = owned("alice", HOUR);
    store.set("o1", &o1, Changed::All).await.expect(STORE);
    store
        .set("o2", &owned("alice", None), Changed::All)
        .await
        .expect(STORE);
    store
        .set("o3", &owned("bob", HOUR), Changed::All)
        .await
        .expect(STORE);
    store
        .set("o4", &record(&[], HOUR), Changed::All)
        .await
        .expect(STORE);
    let short = owned("alice", Some(Duration::from_millis(1000)));
    store.set("o5", &short, Changed::All).await.expect(STORE);
    let alice = optional(store).sessions_of("alice").await.expect(STORE);
    assert!(
        alice.iter().any(|(id, r)| id == "o1" && *r == o1),
        "records come with their ids: {alice:?}"
    );
    assert_eq!(ids(alice), names(&["o1", "o2", "o5"]));
    assert_eq!(
        store
            .get("o1")
            .await
            .expect(STORE)
            .expect(STORE)
            .owner
            .as_deref(),
        Some("alice")
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        ids(optional(store).sessions_of("alice").await.expect(STORE)),
        names(&["o1", "o2"]),
        "expired o5"
    );

    // A patch moves o2 to bob (a new login on that session); a destroy drops o1.
    let mut moved = owned("bob", None);
    moved
        .fields
        .insert("user".into(), Bytes::from_static(b"bob"));
    store
        .set("o2", &moved, Changed::FieldsAndOwner(&names(&["user"])))
        .await
        .expect(STORE);
    store.destroy("o1").await.expect(STORE);
    assert_eq!(
        ids(optional(store).sessions_of("alice").await.expect(STORE)),
        names(&[])
    );
    assert_eq!(
        ids(optional(store).sessions_of("bob").await.expect(STORE)),
        names(&["o2", "o3"])
    );
    // Signing out without destroying: the owner goes, the session stays.
    let mut anonymous = moved.clone();
    anonymous.owner = None;
    store
        .set("o2", &anonymous, Changed::FieldsAndOwner(&names(&[])))
        .await
        .expect(STORE);
    assert_eq!(
        ids(optional(store).sessions_of("bob").await.expect(STORE)),
        names(&["o3"])
    );
    assert_eq!(
        store.get("o2").await.expect(STORE).expect(STORE).owner,
        None
    );
    store.set("o2", &moved, Changed::All).await.expect(STORE);

    // A patch that did not change the owner leaves the stored one, even when the writer's copy
    // of the record is older than another request's sign-in or sign-out.
    let mut stale = record(&[("cart", b"1")], HOUR);
    stale.owner = None;
    store
        .set("o2", &stale, Changed::Fields(&names(&["cart"])))
        .await
        .expect(STORE);
    assert_eq!(
        store
            .get("o2")
            .await
            .expect(STORE)
            .expect(STORE)
            .owner
            .as_deref(),
        Some("bob")
    );
    assert_eq!(
        ids(optional(store).sessions_of("bob").await.expect(STORE)),
        names(&["o2", "o3"])
    );
    store
        .set("o4", &owned("carol", HOUR), Changed::Fields(&names(&[])))
        .await
        .expect(STORE);
    assert_eq!(
        store.get("o4").await.expect(STORE).expect(STORE).owner,
        None,
        "nobody's stays nobody's"
    );
    assert_eq!(
        ids(optional(store).sessions_of("carol").await.expect(STORE)),
        names(&[])
    );

    // Everyone but one, then everyone; others' sessions stay.
    store
        .set("o6", &owned("bob", HOUR), Changed::All)
        .await
        .expect(STORE);
    store
        .set("o7", &owned("carol", HOUR), Changed::All)
        .await
        .expect(STORE);
    assert_eq!(
        optional(store)
            .destroy_sessions_of("bob", Some("o3"))
            .await
            .expect(STORE),
        2
    );
    assert_eq!(
        ids(optional(store).sessions_of("bob").await.expect(STORE)),
        names(&["o3"])
    );
    assert_eq!(store.get("o2").await.expect(STORE), None);
    assert_eq!(
        optional(store)
            .destroy_sessions_of("bob", None)
            .await
            .expect(STORE),
        1
    );
    assert_eq!(store.get("o3").await.expect(STORE), None);
    assert_eq!(
        optional(store)
            .destroy_sessions_of("nobody", None)
            .await
            .expect(STORE),
        0
    );
    assert_eq!(
        ids(optional(store).sessions_of("carol").await.expect(STORE)),
        names(&["o7"])
    );
    assert!(
        store.get("o4").await.expect(STORE).is_some(),
        "no owner, untouched"
    );
    for id in ["o4", "o7"] {
        store.destroy(id).await.expect(STORE);
    }
}
