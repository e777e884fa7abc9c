//! A session's lifetimes over HTTP: the idle one (rolling) and the absolute cap together,
//! remember-me raising both, and the cookie never outliving the cap. Stores enforce the same
//! limits through the conformance suite; here the memory store stands for them all.

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use sessionly::store::Store;
use sessionly::{CookieOptions, MemoryStore};

const DAY_MS: u128 = 24 * 60 * 60 * 1000;

/// `created expires absolute` in ms since the epoch (`none` where there is none).
async fn lifetimes(app: &axum::Router, cookie: &str) -> (u128, Option<u128>, Option<u128>) {
    let body = get_with(app, "/lifetimes", Some(cookie)).await.body;
    let parts: Vec<Option<u128>> = body.split(' ').map(|p| p.parse().ok()).collect();
    match parts.as_slice() {
        [Some(created), expires, absolute] => (*created, *expires, *absolute),
        _ => panic!("unexpected /lifetimes body {body:?}"),
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

#[tokio::test]
async fn an_active_session_still_ends_at_its_absolute_expiry() {
    let store = MemoryStore::new();
    let app = app(layer_with(store.clone(), |b| {
        b.cookie(CookieOptions::new().max_age(Duration::from_secs(3600)))
            .rolling(true)
            .absolute_lifetime(Duration::from_millis(2000))
    }));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let id = id_of(&cookie);
    // Busy all along: a request every 300 ms, far inside the idle hour (and, at 900 ms, with
    // 1.1 s of slack before the cap on a loaded machine).
    let mut views = 1;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        views += 1;
        let reply = get_with(&app, "/views", Some(&cookie)).await;
        assert_eq!(reply.body, views.to_string(), "alive before the cap");
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let after = get_with(&app, "/views", Some(&cookie)).await;
    assert_eq!(after.body, "1", "a fresh session after the cap");
    assert_ne!(after.cookie_id(), Some(id.clone()));
    assert_eq!(store.get(&id).await.unwrap(), None, "the store dropped it");
}

#[tokio::test]
async fn the_idle_timeout_still_applies_under_the_cap() {
    let app = app(layer_with(MemoryStore::new(), |b| {
        b.cookie(CookieOptions::new().max_age(Duration::from_millis(1000)))
            .rolling(true)
            .absolute_lifetime(Duration::from_secs(3600))
    }));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get_with(&app, "/views", Some(&cookie)).await.body, "2");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(get_with(&app, "/views", Some(&cookie)).await.body, "1");
}

#[tokio::test]
async fn the_cookie_never_outlives_the_cap() {
    let app = app(layer_with(MemoryStore::new(), |b| {
        b.cookie(CookieOptions::new().max_age(Duration::from_secs(7 * 24 * 3600)))
            .rolling(true)
            .absolute_lifetime(Duration::from_secs(3600))
    }));
    let first = get_with(&app, "/views", None).await;
    let cookie = first.cookie().unwrap();
    let (created, expires, absolute) = lifetimes(&app, &cookie).await;
    assert_eq!(absolute, Some(created + 3_600_000));
    assert_eq!(expires, absolute, "a week of idle time, capped at an hour");
    let expires_attr = first.attr("Expires").expect("Expires sent");
    let at = httpdate::parse_http_date(&expires_attr).unwrap();
    let at_ms = at.duration_since(UNIX_EPOCH).unwrap().as_millis();
    // HTTP dates have whole seconds.
    assert!(
        at_ms.abs_diff(created + 3_600_000) < 1_000,
        "{expires_attr}"
    );
}

#[tokio::test]
async fn a_browser_session_cookie_keeps_no_expires_but_the_store_ends_it() {
    let store = MemoryStore::new();
    let app = app(layer_with(store.clone(), |b| {
        b.absolute_lifetime(Duration::from_millis(300))
    }));
    let first = get_with(&app, "/views", None).await;
    assert_eq!(
        first.attr("Expires"),
        None,
        "still a browser-session cookie"
    );
    let cookie = first.cookie().unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.get(&id_of(&cookie)).await.unwrap(), None);
    assert_eq!(get_with(&app, "/views", Some(&cookie)).await.body, "1");
}

#[tokio::test]
async fn remember_me_raises_both_lifetimes_for_one_session() {
    let app = app(layer_with(MemoryStore::new(), |b| {
        b.cookie(CookieOptions::new().max_age(Duration::from_secs(30 * 60)))
            .absolute_lifetime(Duration::from_secs(8 * 3600))
    }));
    let plain = get_with(&app, "/views", None).await.cookie().unwrap();
    let remembered = get_with(&app, "/views", None).await.cookie().unwrap();
    let reply = get_with(&app, "/remember-me", Some(&remembered)).await;
    assert!(reply.set_cookie().is_some(), "the new lifetime is sent");

    let (created, expires, absolute) = lifetimes(&app, &remembered).await;
    assert_eq!(absolute, Some(created + 90 * DAY_MS));
    let expires = expires.expect("remembered sessions have an expiry");
    assert!(
        expires.abs_diff(now_ms() + 30 * DAY_MS) < 5_000,
        "{expires}"
    );
    let at = httpdate::parse_http_date(&reply.attr("Expires").unwrap()).unwrap();
    let at_ms = at.duration_since(UNIX_EPOCH).unwrap().as_millis();
    assert!(at_ms.abs_diff(expires) < 1_000);

    let (created, expires, absolute) = lifetimes(&app, &plain).await;
    assert_eq!(
        absolute,
        Some(created + 8 * 3600 * 1000),
        "others keep the default"
    );
    assert!(expires.unwrap() <= created + 30 * 60 * 1000 + 5_000);
}

#[tokio::test]
async fn a_store_without_an_owner_index_answers_500_not_503() {
    // `Counting` implements the required operations only.
    let app = app(layer_with(Counting::default(), |b| b));
    let cookie = get_with(&app, "/signin/ada", None).await.cookie().unwrap();
    let reply = get_with(&app, "/sessions", Some(&cookie)).await;
    assert_eq!(reply.status, 500);
    assert!(reply.body.contains("does not support"), "{}", reply.body);
    // A session without owner needs no index: nothing to list.
    let anonymous = get_with(&app, "/views", None).await.cookie().unwrap();
    assert_eq!(
        get_with(&app, "/sessions", Some(&anonymous)).await.body,
        "0"
    );
}

#[tokio::test]
async fn reads_in_quick_succession_touch_the_store_once() {
    // A 60 s lifetime: a touch is worth a store call once it moves the expiry by 600 ms, so
    // the five quick reads have that much time on a loaded machine.
    let store = Counting::default();
    let app = app(layer_with(store.clone(), |b| {
        b.resave(false)
            .cookie(CookieOptions::new().max_age(Duration::from_secs(60)))
    }));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let touches = || store.counts()[2];
    for _ in 0..5 {
        assert_eq!(get_with(&app, "/read", Some(&cookie)).await.body, "1");
    }
    assert_eq!(touches(), 0, "the stored expiry is still fresh");
    tokio::time::sleep(Duration::from_millis(700)).await;
    get_with(&app, "/read", Some(&cookie)).await;
    assert_eq!(touches(), 1, "moved by 700 ms: touched");
    get_with(&app, "/read", Some(&cookie)).await;
    assert_eq!(touches(), 1);
}

#[tokio::test]
async fn browser_session_cookies_are_touched_by_the_store_idle_ttl() {
    // A 60 s idle TTL: a touch is worth a store call once it restarts it 600 ms later.
    let store = MemoryStore::new().with_idle_ttl(Duration::from_secs(60));
    let app = app(layer_with(store.clone(), |b| b.resave(false)));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    let id = id_of(&cookie);
    let stored_touch = || {
        let (store, id) = (store.clone(), id.clone());
        async move { store.get(&id).await.unwrap().unwrap().cookie.touched_ms }
    };
    let created = stored_touch().await;
    for _ in 0..5 {
        assert_eq!(get_with(&app, "/read", Some(&cookie)).await.body, "1");
    }
    assert_eq!(stored_touch().await, created, "no store touch yet");
    tokio::time::sleep(Duration::from_millis(700)).await;
    get_with(&app, "/read", Some(&cookie)).await;
    assert!(stored_touch().await >= created + 700, "touched");
}

#[tokio::test]
async fn an_explicit_save_after_a_logout_elsewhere_reports_the_session_gone() {
    let store = MemoryStore::new();
    let gate = Gate::default();
    let one = gated_app(layer_with(store.clone(), |b| b), gate.clone());
    let two = app(layer_with(store.clone(), |b| b));
    let cookie = get_with(&one, "/views", None).await.cookie().unwrap();
    let slow = tokio::spawn({
        let (one, cookie) = (one.clone(), cookie.clone());
        async move { get_with(&one, "/slow-save", Some(&cookie)).await }
    });
    gate.loaded.notified().await;
    assert_eq!(get_with(&two, "/destroy", Some(&cookie)).await.body, "bye");
    gate.release.notify_one();
    let late = slow.await.unwrap();
    assert_eq!(late.status, 500, "{}", late.body);
    assert_eq!(late.body, "session not found");
    assert_eq!(late.set_cookie(), None);
    assert_eq!(store.get(&id_of(&cookie)).await.unwrap(), None);
}

/// A memory store whose `touch` refuses, as a custom store written against the old contract
/// did: the layer must not leave the stored expiry behind in silence.
#[derive(Clone, Default)]
struct RefusesTouch(MemoryStore);

impl Store for RefusesTouch {
    async fn get(
        &self,
        id: &str,
    ) -> Result<Option<sessionly::store::Record>, sessionly::StoreError> {
        self.0.get(id).await
    }
    async fn set(
        &self,
        id: &str,
        record: &sessionly::store::Record,
        changed: sessionly::store::Changed<'_>,
    ) -> Result<(), sessionly::StoreError> {
        self.0.set(id, record, changed).await
    }
    async fn destroy(&self, id: &str) -> Result<(), sessionly::StoreError> {
        self.0.destroy(id).await
    }
    async fn touch(
        &self,
        _id: &str,
        _record: &sessionly::store::Record,
    ) -> Result<(), sessionly::StoreError> {
        Err(sessionly::StoreError::unsupported("touch"))
    }
}

#[tokio::test]
async fn a_store_that_refuses_touch_is_touched_by_a_patch_with_one_warning() {
    let (logs, _logging) = capture_logs(tracing_subscriber::filter::LevelFilter::WARN);
    let store = RefusesTouch::default();
    let app = app(layer_with(store.clone(), |b| b));
    let first = get_with(&app, "/views", None).await;
    let (cookie, id) = (first.cookie().unwrap(), first.cookie_id().unwrap());
    let touched_ms = |record: Option<sessionly::store::Record>| record.unwrap().cookie.touched_ms;
    let mut last = touched_ms(store.0.get(&id).await.unwrap());
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let read = get_with(&app, "/read", Some(&cookie)).await;
        assert_eq!((read.status.as_u16(), read.body.as_str()), (200, "1"));
        let now = touched_ms(store.0.get(&id).await.unwrap());
        assert!(
            now > last,
            "each read moved the stored expiry: {last} -> {now}"
        );
        last = now;
    }
    let warnings = logs.text();
    assert_eq!(
        warnings.matches("answers `Unsupported` to `touch`").count(),
        1,
        "one warning, however many touches: {warnings}"
    );
}
