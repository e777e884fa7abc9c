//! `RedisStore::open_cached` against a real Redis: the store contract with the cache on, this
//! process's writes seen at once, another process's seen once its invalidation has arrived, a
//! lost connection or a command that timed out emptying the cache (and tracking back on after
//! it), the capacity bound, and two apps sharing sessions over HTTP. `.ci/run` starts the
//! server.
//!
//! The tests take turns (`serial`): one of them kills every RESP3 connection to the server,
//! another pauses the server's writes for up to 3 s.

// A test binary of its own, not a module of `tests/stores`: two of these tests disturb the
// whole shared Redis (one kills every RESP3 connection to it, one pauses its writes for 3 s,
// longer than a store waits for an answer), which would fail any other test using that Redis at the same
// time. Cargo runs test binaries one after another, so here they only meet each other, and
// those take turns.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::conformance::{HOUR, conformance, owned, record};
use common::*;
use sessionly::store::{Changed, Listing, Store};
use sessionly::{RedisCacheStats, RedisStore};
use tracing_subscriber::filter::LevelFilter;

fn prefix(test: &str) -> String {
    format!("test:cache:{test}:{}:", std::process::id())
}

/// A store with a cache of its own, on a connection of its own: what another process would be.
async fn cached(test: &str) -> RedisStore {
    cached_with(test, 1000).await
}

async fn cached_with(test: &str, capacity: usize) -> RedisStore {
    RedisStore::open_cached(&redis_url(), capacity)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis must be running at {} (see .ci/run): {e}",
                redis_url()
            )
        })
        .with_prefix(prefix(test))
}

/// A store without a cache: what Redis holds.
async fn plain(test: &str) -> RedisStore {
    RedisStore::open(&redis_url())
        .await
        .unwrap()
        .with_prefix(prefix(test))
}

async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

fn stats(store: &RedisStore) -> RedisCacheStats {
    store.cache_stats().expect("a cached store")
}

/// Waits (up to 5 s) for `what` to happen: for an invalidation or a disconnection to reach a
/// store, which happens on the connection's own time.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "no {what} within 5 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

fn field(record: &Option<sessionly::store::Record>, name: &str) -> Option<String> {
    let value = record.as_ref()?.fields.get(name)?;
    Some(String::from_utf8_lossy(value).into_owned())
}

#[tokio::test]
async fn cached_redis_store_conforms() {
    let _turn = serial().await;
    let store = cached("conformance").await;
    conformance(&store).await;
    assert!(
        stats(&store).hits > 0,
        "the suite was served from the cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_redis_store_loses_no_update() {
    let _turn = serial().await;
    no_lost_updates(cached("lost-update").await).await;
    different_fields_survive_two_processes(cached("two-processes").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_redis_store_ends_sessions_everywhere() {
    let _turn = serial().await;
    a_slow_request_cannot_resurrect(cached("resurrect").await).await;
    log_out_other_devices(cached("devices").await).await;
}

#[tokio::test]
async fn own_writes_are_seen_at_once() {
    let _turn = serial().await;
    let test = "own";
    let (store, redis) = (cached(test).await, plain(test).await);
    let hits = |store: &RedisStore| stats(store).hits;

    let mut session = record(&[("a", b"1"), ("b", b"1")], HOUR);
    store.set("s", &session, Changed::All).await.unwrap();
    assert_eq!(store.get("s").await.unwrap(), Some(session.clone()));
    let before = hits(&store);
    assert_eq!(store.get("s").await.unwrap(), Some(session.clone()));
    assert_eq!(
        hits(&store),
        before + 1,
        "the second load is served from memory"
    );

    // Patches (a changed field, a removed one, a new owner) keep the entry, equal to Redis's.
    type Change = fn(&mut sessionly::store::Record);
    let patches: [(&str, Change, Changed<'_>); 3] = [
        (
            "a changed field",
            |r| {
                r.fields.insert("a".into(), "2".into());
            },
            Changed::Fields(&names(&["a"])),
        ),
        (
            "a removed field",
            |r| {
                r.fields.remove("b");
            },
            Changed::Fields(&names(&["b"])),
        ),
        (
            "an owner",
            |r| r.owner = Some("ada".to_owned()),
            Changed::FieldsAndOwner(&names(&[])),
        ),
    ];
    for (what, change, changed) in patches {
        change(&mut session);
        session.cookie.touch(std::time::SystemTime::now());
        store.set("s", &session, changed).await.unwrap();
        let before = hits(&store);
        let seen = store.get("s").await.unwrap();
        assert_eq!(hits(&store), before + 1, "{what}: served from memory");
        assert_eq!(seen, Some(session.clone()), "{what}: what was written");
        assert_eq!(
            seen,
            redis.get("s").await.unwrap(),
            "{what}: what Redis holds"
        );
    }

    // Whole writes and destroys empty the slot; the next load reads Redis again.
    let whole = owned("bo", HOUR);
    store.set("s", &whole, Changed::All).await.unwrap();
    let before = hits(&store);
    assert_eq!(store.get("s").await.unwrap(), Some(whole.clone()));
    assert_eq!(
        hits(&store),
        before,
        "a whole write is read back from Redis"
    );
    // A touch keeps the entry, with the new cookie state.
    let mut touched = whole.clone();
    touched
        .cookie
        .touch(std::time::SystemTime::now() + Duration::from_secs(60));
    store.touch("s", &touched).await.unwrap();
    let before = hits(&store);
    let seen = store.get("s").await.unwrap();
    assert_eq!(hits(&store), before + 1, "a touch: served from memory");
    assert_eq!(seen, Some(touched), "touched");
    assert_eq!(
        seen,
        redis.get("s").await.unwrap(),
        "a touch: what Redis holds"
    );
    store.destroy("s").await.unwrap();
    assert_eq!(store.get("s").await.unwrap(), None, "destroyed");
    store.clear().await.unwrap();
}

#[tokio::test]
async fn another_process_write_is_seen_once_its_invalidation_arrives() {
    let _turn = serial().await;
    let test = "others";
    let (a, b, redis) = (cached(test).await, cached(test).await, plain(test).await);
    let invalidations = |store: &RedisStore| stats(store).invalidations;
    let session = record(&[("x", b"0"), ("y", b"0")], HOUR);
    a.set("s", &session, Changed::All).await.unwrap();
    a.get("s").await.unwrap();
    b.get("s").await.unwrap();

    // b patches; a sees it once told.
    b_writes_x_and_a_hears_of_it(&a, &b, &session, "b").await;

    // a touches the session it holds (a rolling request), and still hears of b's next write.
    let mut touched = a.get("s").await.unwrap().unwrap();
    touched
        .cookie
        .touch(std::time::SystemTime::now() + Duration::from_secs(60));
    a.touch("s", &touched).await.unwrap();
    let hits = stats(&a).hits;
    assert_eq!(a.get("s").await.unwrap(), Some(touched.clone()));
    assert_eq!(stats(&a).hits, hits + 1, "the touched entry is held");
    b_writes_x_and_a_hears_of_it(&a, &b, &touched, "b after a touch").await;

    // Another program (a Node app on the same sessions) writes the hash itself.
    let key = format!("{}s", prefix(test));
    let before = invalidations(&a);
    ::redis::cmd("HSET")
        .arg(&key)
        .arg("f:y")
        .arg("node")
        .query_async::<()>(&mut raw().await)
        .await
        .unwrap();
    until("invalidation", || invalidations(&a) > before).await;
    assert_eq!(
        field(&a.get("s").await.unwrap(), "y").as_deref(),
        Some("node")
    );

    // Both patch different fields of a session both hold, at once: once each has heard of the
    // other's write, both see both fields, as Redis does.
    let (mut from_a, mut from_b) = (
        a.get("s").await.unwrap().unwrap(),
        b.get("s").await.unwrap().unwrap(),
    );
    let (a_before, b_before) = (invalidations(&a), invalidations(&b));
    from_a.fields.insert("x".into(), "a2".into());
    from_b.fields.insert("y".into(), "b2".into());
    let (xa, xb) = (names(&["x"]), names(&["y"]));
    let (wrote_a, wrote_b) = tokio::join!(
        a.set("s", &from_a, Changed::Fields(&xa)),
        b.set("s", &from_b, Changed::Fields(&xb)),
    );
    wrote_a.unwrap();
    wrote_b.unwrap();
    until("invalidations", || {
        invalidations(&a) > a_before && invalidations(&b) > b_before
    })
    .await;
    let held = redis.get("s").await.unwrap();
    assert_eq!(
        (field(&held, "x").as_deref(), field(&held, "y").as_deref()),
        (Some("a2"), Some("b2"))
    );
    assert_eq!(a.get("s").await.unwrap(), held, "a");
    assert_eq!(b.get("s").await.unwrap(), held, "b");

    // b destroys; a's next request after the word finds nothing.
    let before = invalidations(&a);
    b.destroy("s").await.unwrap();
    until("invalidation", || invalidations(&a) > before).await;
    assert_eq!(a.get("s").await.unwrap(), None);
    redis.clear().await.unwrap();
}

/// `b` patches field `x` of session `s` (as `held`, with `x` = `value`); `a` is told, and its
/// next load sees the value.
async fn b_writes_x_and_a_hears_of_it(
    a: &RedisStore,
    b: &RedisStore,
    held: &sessionly::store::Record,
    value: &str,
) {
    let mut by_b = held.clone();
    by_b.fields.insert("x".into(), value.to_owned().into());
    let before = stats(a).invalidations;
    b.set("s", &by_b, Changed::Fields(&names(&["x"])))
        .await
        .unwrap();
    until(value, || stats(a).invalidations > before).await;
    assert_eq!(
        field(&a.get("s").await.unwrap(), "x").as_deref(),
        Some(value)
    );
}

#[tokio::test]
async fn a_lost_connection_empties_the_cache_and_tracking_comes_back() {
    let _turn = serial().await;
    let test = "lost";
    let store = cached(test).await;
    let key = format!("{}s", prefix(test));
    let mut raw = raw().await;
    store
        .set("s", &record(&[("a", b"1")], HOUR), Changed::All)
        .await
        .unwrap();
    store.get("s").await.unwrap();
    assert_eq!(stats(&store).entries, 1);

    // The server drops the connection (a restart, a failover, a proxy's idle timeout).
    let resets = stats(&store).resets;
    let clients: String = ::redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut raw)
        .await
        .unwrap();
    let tracked: Vec<&str> = clients
        .lines()
        .filter(|line| line.contains(" resp=3"))
        .filter_map(|line| line.strip_prefix("id=")?.split(' ').next())
        .collect();
    assert!(!tracked.is_empty(), "the store's connection is listed");
    for id in tracked {
        ::redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async::<()>(&mut raw)
            .await
            .unwrap();
    }
    until("disconnection", || stats(&store).resets > resets).await;
    assert_eq!(stats(&store).entries, 0, "the cache is empty");

    // Written while the store had no tracking: read from Redis.
    ::redis::cmd("HSET")
        .arg(&key)
        .arg("f:a")
        .arg("2")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        field(&store.get("s").await.unwrap(), "a").as_deref(),
        Some("2")
    );
    let hits = stats(&store).hits;
    assert_eq!(
        field(&store.get("s").await.unwrap(), "a").as_deref(),
        Some("2")
    );
    assert_eq!(stats(&store).hits, hits + 1, "cached again");

    // The new connection is tracked: a later write reaches it.
    let before = stats(&store).invalidations;
    ::redis::cmd("HSET")
        .arg(&key)
        .arg("f:a")
        .arg("3")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    until("invalidation", || stats(&store).invalidations > before).await;
    assert_eq!(
        field(&store.get("s").await.unwrap(), "a").as_deref(),
        Some("3")
    );
    store.clear().await.unwrap();
}

#[tokio::test]
async fn the_cache_holds_at_most_its_capacity() {
    let _turn = serial().await;
    let store = cached_with("capacity", 2).await;
    for n in 0..5u8 {
        let session = record(&[("n", &[n])], HOUR);
        store
            .set(&format!("s{n}"), &session, Changed::All)
            .await
            .unwrap();
    }
    for _ in 0..2 {
        for n in 0..5u8 {
            let loaded = store.get(&format!("s{n}")).await.unwrap().unwrap();
            assert_eq!(loaded.fields["n"].as_ref(), [n]);
            assert!(stats(&store).entries <= 2);
        }
    }
    assert_eq!(stats(&store).entries, 2);
    let hits = stats(&store).hits;
    store.get("s4").await.unwrap();
    store.get("s3").await.unwrap();
    assert_eq!(stats(&store).hits, hits + 2, "the latest two are kept");
    let none = cached_with("capacity", 0).await;
    none.get("s0").await.unwrap();
    none.get("s0").await.unwrap();
    assert_eq!(
        (stats(&none).entries, stats(&none).hits),
        (0, 0),
        "capacity 0 keeps nothing"
    );
    store.clear().await.unwrap();
}

#[tokio::test]
async fn a_key_of_another_type_is_a_missing_session_through_the_cache() {
    let _turn = serial().await;
    let test = "wrongtype";
    let store = cached(test).await;
    ::redis::cmd("SET")
        .arg(format!("{}s", prefix(test)))
        .arg("not a session")
        .query_async::<()>(&mut raw().await)
        .await
        .unwrap();
    assert_eq!(store.get("s").await.unwrap(), None);
    assert_eq!(stats(&store).entries, 0);
    plain(test).await.clear().await.unwrap();
}

#[tokio::test]
async fn two_apps_share_sessions_over_http() {
    let _turn = serial().await;
    let test = "http";
    let stores = [cached(test).await, cached(test).await];
    let apps = stores.clone().map(|store| app(layer_with(store, |b| b)));
    let redis = plain(test).await;

    // One app alone: after the first request, every load is served from memory.
    let first = get_with(&apps[0], "/views", None).await;
    assert_eq!(first.body, "1");
    let cookie = first.cookie().unwrap();
    for views in 2..=5 {
        let reply = get_with(&apps[0], "/views", Some(&cookie)).await;
        assert_eq!(reply.body, views.to_string());
    }
    assert!(stats(&stores[0]).hits >= 3, "{:?}", stats(&stores[0]));
    let id = id_of(&cookie);
    assert_eq!(
        stores[0].get(&id).await.unwrap(),
        redis.get(&id).await.unwrap()
    );

    // The client goes back and forth; each app serves it once the other's write has reached it.
    let mut heard = stores.each_ref().map(|store| stats(store).invalidations);
    for views in 6..=15 {
        let side = views % 2;
        if views > 7 {
            until("the other app's write", || {
                stats(&stores[side]).invalidations > heard[side]
            })
            .await;
        }
        heard[side] = stats(&stores[side]).invalidations;
        let reply = get_with(&apps[side], "/views", Some(&cookie)).await;
        assert_eq!(reply.body, views.to_string(), "on app {side}");
    }
    redis.clear().await.unwrap();
}

#[tokio::test]
async fn an_entry_is_read_again_after_its_max_age() {
    let _turn = serial().await;
    let store = cached("max-age")
        .await
        .with_cache_max_age(Duration::from_millis(300));
    let mut session = record(&[("a", b"1")], HOUR);
    store.set("s", &session, Changed::All).await.unwrap();
    store.get("s").await.unwrap();
    let before = stats(&store);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A patch keeps the entry, but not young: the age counts from the last read from Redis.
    session.fields.insert("a".into(), "2".into());
    store
        .set("s", &session, Changed::Fields(&names(&["a"])))
        .await
        .unwrap();
    assert_eq!(store.get("s").await.unwrap(), Some(session.clone()));
    assert_eq!(stats(&store).hits, before.hits + 1, "held while young");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.get("s").await.unwrap(), Some(session));
    let after = stats(&store);
    assert_eq!(
        (after.hits, after.misses),
        (before.hits + 1, before.misses + 1),
        "read from Redis once old"
    );
    store.clear().await.unwrap();
}

#[tokio::test]
async fn a_server_that_stops_allowing_tracking_still_serves_sessions() {
    let _turn = serial().await;
    let test = "no-tracking";
    let user = format!("cache-test-{}", std::process::id());
    let mut raw = raw().await;
    let acl = |rules: &[&str]| {
        let mut command = ::redis::cmd("ACL");
        command.arg("SETUSER").arg(&user).arg(rules);
        command
    };
    acl(&["reset", "on", ">secret", "~*", "&*", "+@all"])
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    let url = redis_url().replacen("redis://", &format!("redis://{user}:secret@"), 1);
    let store = RedisStore::open_cached(&url, 100)
        .await
        .unwrap()
        .with_prefix(prefix(test));
    store
        .set("s", &record(&[("a", b"1")], HOUR), Changed::All)
        .await
        .unwrap();
    // Say a failover lands on a server whose rules forbid CLIENT for this user.
    acl(&["-client"]).query_async::<()>(&mut raw).await.unwrap();
    let (logs, logging) = capture_logs(LevelFilter::DEBUG);
    for _ in 0..3 {
        assert_eq!(
            field(&store.get("s").await.unwrap(), "a").as_deref(),
            Some("1")
        );
    }
    let refused = stats(&store);
    assert_eq!((refused.hits, refused.entries), (0, 0), "served, not kept");
    // And back on a server that allows it: cached again.
    acl(&["+client"]).query_async::<()>(&mut raw).await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            field(&store.get("s").await.unwrap(), "a").as_deref(),
            Some("1")
        );
    }
    drop(logging);
    let allowed = stats(&store);
    assert_eq!(
        (allowed.hits - refused.hits, allowed.entries),
        (1, 1),
        "kept by the first load, served by the second"
    );
    let logs = logs.text();
    let lines = |level: &str, text: &str| {
        logs.lines()
            .filter(|line| line.contains(level) && line.contains(text))
            .count()
    };
    assert_eq!(lines("WARN", "refused CLIENT TRACKING"), 1, "{logs}");
    assert_eq!(lines("DEBUG", "still refused"), 2, "{logs}");
    assert_eq!(lines("INFO", "allows CLIENT TRACKING again"), 1, "{logs}");
    ::redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&user)
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    plain(test).await.clear().await.unwrap();
}

#[tokio::test]
async fn a_command_that_times_out_empties_the_cache() {
    let _turn = serial().await;
    let test = "timeout";
    let store = cached(test).await;
    let mut raw = raw().await;
    for id in ["a", "b"] {
        store
            .set(id, &record(&[("n", b"1")], HOUR), Changed::All)
            .await
            .unwrap();
        store.get(id).await.unwrap();
    }
    assert_eq!(stats(&store).entries, 2);
    let resets = stats(&store).resets;

    // Redis holds every write longer than the store waits for an answer (2 s): the patch
    // fails on the connection's side, not with a reply, and what became of it is unknown.
    ::redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(3000)
        .arg("WRITE")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    let patch = store
        .set(
            "a",
            &record(&[("n", b"2")], HOUR),
            Changed::Fields(&names(&["n"])),
        )
        .await;
    ::redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    assert!(patch.is_err(), "the patch timed out: {patch:?}");
    assert!(stats(&store).resets > resets, "the cache was reset");
    assert_eq!(stats(&store).entries, 0, "the cache is empty");

    // Both sessions are read from Redis again, where the patch may have landed after all.
    let misses = stats(&store).misses;
    let stored = plain(test).await.get("a").await.unwrap();
    assert_eq!(
        field(&store.get("a").await.unwrap(), "n"),
        field(&stored, "n")
    );
    assert_eq!(
        field(&store.get("b").await.unwrap(), "n").as_deref(),
        Some("1")
    );
    assert_eq!(
        stats(&store).misses,
        misses + 2,
        "neither was served from memory"
    );
    store.clear().await.unwrap();
}

/// A bounded tracking table (Redis's default: a million keys across all clients) is warned
/// about when the cache opens, naming the setting; with `tracking-table-max-keys 0` there is
/// no warning. The server's setting is put back afterwards.
#[tokio::test]
async fn a_bounded_tracking_table_is_warned_about() {
    let _turn = serial().await;
    let mut raw = ::redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let config = |value: &str| {
        let mut command = ::redis::cmd("CONFIG");
        command.arg("SET").arg("tracking-table-max-keys").arg(value);
        command
    };
    let before: Vec<String> = ::redis::cmd("CONFIG")
        .arg("GET")
        .arg("tracking-table-max-keys")
        .query_async(&mut raw)
        .await
        .unwrap();
    let opened_with = |limit: &'static str| {
        let mut raw = raw.clone();
        async move {
            config(limit).query_async::<()>(&mut raw).await.unwrap();
            let (logs, _logging) = capture_logs(LevelFilter::WARN);
            let _store = cached("tracking-table").await;
            logs.text()
        }
    };
    let bounded = opened_with("1000000").await;
    let unbounded = opened_with("0").await;
    config(&before[1])
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    assert!(bounded.contains("tracking-table-max-keys"), "{bounded}");
    assert!(
        !unbounded.contains("tracking-table-max-keys"),
        "{unbounded}"
    );
}

/// A cached store dropped lets its connection go: its heartbeat task holds the connection
/// (and the connection the cache) but stops with the store.
#[tokio::test]
async fn a_dropped_cached_store_closes_its_connection() {
    let _turn = serial().await;
    let mut raw = ::redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let clients = |mut raw: ::redis::aio::MultiplexedConnection| async move {
        let info: String = ::redis::cmd("INFO")
            .arg("clients")
            .query_async(&mut raw)
            .await
            .unwrap();
        info.lines()
            .find_map(|line| line.strip_prefix("connected_clients:"))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap()
    };
    let before = clients(raw.clone()).await;
    let stores = [
        cached("dropped-1").await,
        cached("dropped-2").await,
        cached("dropped-3").await,
    ];
    assert_eq!(
        clients(raw.clone()).await,
        before + 3,
        "one connection each"
    );
    drop(stores);
    until_async(|| async { clients(raw.clone()).await == before }).await;
    let _ = &mut raw;
}

/// Waits (up to 5 s) until `done` answers true.
async fn until_async<F: std::future::Future<Output = bool>>(done: impl Fn() -> F) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "the dropped stores' connections are still open after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
